"""Lane parameters of the simulator: review calendar, case pack / MOQ rounding, costs.

Units: quantities in units, time in days, costs in currency. Review days of a lane:
``t >= review_offset and (t - review_offset) % review_period == 0``. A raw order
quantity is rounded up to a case-pack multiple, then a positive order below the MOQ is
raised to the MOQ rounded up to a case-pack multiple (:func:`round_order_quantity`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numba import njit

__all__ = ["LaneParams", "review_mask", "round_order_quantity"]


# --------------------------------------------------------------------------- lanes
def _lane_array(name: str, values, integer: bool) -> np.ndarray:
    """A read-only, contiguous 1-D int64 or float64 copy of ``values`` (finite)."""
    raw = np.asarray(values)
    if raw.ndim != 1:
        raise ValueError(f"LaneParams.{name} must be 1-D, got shape {raw.shape}")
    if raw.size and not np.all(np.isfinite(raw.astype(np.float64))):
        raise ValueError(f"LaneParams.{name} must be finite")
    arr = np.array(raw, dtype=np.int64 if integer else np.float64)
    if integer and not np.array_equal(arr, raw):
        raise ValueError(f"LaneParams.{name} must hold integers")
    arr.flags.writeable = False
    return arr


@dataclass(frozen=True, eq=False)
class LaneParams:
    """Per-lane replenishment parameters, each a 1-D array of length ``n_lanes``.

    ``review_period`` (days, >= 1), ``review_offset`` (day of the first review, >= 0),
    ``case_pack`` (units, >= 1), ``moq`` (units, >= 0), ``holding_cost`` (currency per
    unit per day, >= 0), ``lost_sale_cost`` (currency per unit lost, >= 0),
    ``order_cost`` (currency per order placed, >= 0). The constructor validates and
    stores read-only copies; :meth:`build` also broadcasts scalars.
    """

    review_period: np.ndarray
    review_offset: np.ndarray
    case_pack: np.ndarray
    moq: np.ndarray
    holding_cost: np.ndarray
    lost_sale_cost: np.ndarray
    order_cost: np.ndarray

    def __post_init__(self) -> None:
        integer_fields = ("review_period", "review_offset", "case_pack", "moq")
        lengths = set()
        for name in self.__dataclass_fields__:
            arr = _lane_array(name, getattr(self, name), integer=name in integer_fields)
            object.__setattr__(self, name, arr)
            lengths.add(arr.shape[0])
        if len(lengths) != 1:
            raise ValueError(f"LaneParams fields have different lengths: {sorted(lengths)}")
        minimum = {"review_period": 1, "case_pack": 1}
        for name in self.__dataclass_fields__:
            low = minimum.get(name, 0)
            if np.any(getattr(self, name) < low):
                raise ValueError(f"LaneParams.{name} must be >= {low}")

    @classmethod
    def build(
        cls,
        n_lanes: int | None = None,
        *,
        review_period=1,
        review_offset=0,
        case_pack=1,
        moq=0,
        holding_cost=0.0,
        lost_sale_cost=0.0,
        order_cost=0.0,
    ) -> LaneParams:
        """Build from scalars and/or arrays, broadcasting scalars to ``n_lanes``.

        ``n_lanes`` may be omitted when at least one argument is an array.
        """
        values = {
            "review_period": review_period,
            "review_offset": review_offset,
            "case_pack": case_pack,
            "moq": moq,
            "holding_cost": holding_cost,
            "lost_sale_cost": lost_sale_cost,
            "order_cost": order_cost,
        }
        sizes = {np.asarray(v).shape[0] for v in values.values() if np.ndim(v) == 1}
        if n_lanes is not None:
            sizes.add(int(n_lanes))
        if len(sizes) != 1:
            raise ValueError(f"cannot infer a single number of lanes from {sorted(sizes)}")
        n = sizes.pop()
        return cls(**{k: np.broadcast_to(np.asarray(v), (n,)).copy() for k, v in values.items()})

    @property
    def n_lanes(self) -> int:
        return int(self.review_period.shape[0])

    def shift_review(self, days: int) -> LaneParams:
        """Lanes whose day 0 is day ``days`` of this calendar (for continuation runs).

        Review days ``t`` of the result are exactly the days ``t + days`` that are
        review days here.
        """
        off = self.review_offset - int(days)
        off = np.where(off >= 0, off, off % self.review_period)
        fields = {k: getattr(self, k) for k in self.__dataclass_fields__}
        return LaneParams(**{**fields, "review_offset": off})

    def subset(self, index) -> LaneParams:
        """Lanes selected by an integer index array or boolean mask."""
        return LaneParams(**{k: getattr(self, k)[index] for k in self.__dataclass_fields__})


def review_mask(lanes: LaneParams, n_days: int) -> np.ndarray:
    """Boolean ``[N, n_days]``: True where day ``t`` is a review day of the lane."""
    t = np.arange(n_days)[None, :]
    off = lanes.review_offset[:, None]
    return (t >= off) & ((t - off) % lanes.review_period[:, None] == 0)


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view (or copy) of ``a``.

    Inputs reach the kernel with one array type each (read-only, C order; lead times
    int32), so it is compiled once rather than once per flag combination.
    """
    out = np.ascontiguousarray(a).view()
    out.flags.writeable = False
    return out


# ------------------------------------------------------------------ order rounding
@njit(cache=True, fastmath=False)
def _round_order_scalar(raw: float, case_pack: int, moq: int) -> float:
    """Scalar order rounding; the one definition used by both simulation paths."""
    if not raw > 0.0:  # also maps NaN to no order
        return 0.0
    if case_pack == 1:  # same value as below (x / 1 == x), without the division
        q = np.ceil(raw)
    else:
        q = np.ceil(raw / case_pack) * case_pack
    if q < moq:
        q = np.ceil(moq / case_pack) * case_pack
    return q


@njit(cache=True, fastmath=False)
def _round_order_array(raw, case_pack, moq, out):
    for i in range(raw.shape[0]):
        out[i] = _round_order_scalar(raw[i], case_pack[i], moq[i])
    return out


def round_order_quantity(raw, case_pack, moq) -> np.ndarray:
    """Round raw order quantities to what the simulator orders (units).

    ``raw <= 0`` (or NaN) gives 0; otherwise ``q = ceil(raw / case_pack) * case_pack``
    and, when ``0 < q < moq``, ``q = ceil(moq / case_pack) * case_pack``. Arguments
    broadcast against each other; the result is a float64 array of their shape.
    """
    raw_b, cp_b, moq_b = np.broadcast_arrays(
        np.asarray(raw, dtype=np.float64),
        np.asarray(case_pack, dtype=np.int64),
        np.asarray(moq, dtype=np.int64),
    )
    shape = raw_b.shape
    if np.any(cp_b < 1):
        raise ValueError("case_pack must be >= 1")
    out = np.empty(raw_b.size, dtype=np.float64)
    _round_order_array(
        _readonly(raw_b.reshape(-1)),
        _readonly(cp_b.reshape(-1)),
        _readonly(moq_b.reshape(-1)),
        out,
    )
    return out.reshape(shape)
