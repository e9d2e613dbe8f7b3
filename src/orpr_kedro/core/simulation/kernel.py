"""Daily lost-sales inventory simulation of replenishment lanes (one SKU-DC pair each).

Two entry points share one set of conventions:

* :func:`simulate_order_up_to` is the fast path: a fused numba kernel that simulates
  ``C`` candidate order-up-to schedules against ``S`` demand/lead-time scenarios for
  ``N`` lanes over ``T`` days, accumulating KPIs on the fly (memory does not grow with
  ``T`` unless trajectories are requested).
* :func:`simulate_policy` is the generic path: a day loop vectorised over lanes with
  numpy, in which any callable ``policy(state) -> raw order quantities`` decides. For
  order-up-to policies it gives results identical to the fast path.

Conventions (units: quantities in units, time in days, costs in currency)
------------------------------------------------------------------------
Days ``t = 0 .. T-1``. At the start of day ``t``:

1. Orders whose arrival day is ``t`` are added to on-hand.
2. If ``t`` is a review day of the lane, an order is placed. Its raw quantity is
   ``max(0, level - inventory_position)`` with ``inventory_position = on_hand +
   on_order`` (on-order = everything placed and not yet arrived, including orders due
   at or after ``T``). The raw quantity is rounded by :func:`round_order_quantity`
   (up to a case-pack multiple, then raised to the MOQ rounded up to a case-pack
   multiple). The order gets the lead time ``L = lead_times[..., t]`` and arrives at
   the start of day ``t + L``; ``L = 0`` means it is received at once and serves day
   ``t``. An order due at or after ``T`` stays on order and never arrives in the run.
3. Demand of day ``t`` is served from on-hand; unmet demand is lost (no backorders).
4. Holding cost ``holding_cost * on_hand_end`` is charged on END-of-day on-hand.

Review days: ``t >= review_offset and (t - review_offset) % review_period == 0``.
On non-review days no order is placed, whatever the level or policy says.
In-stock day: a lane-day whose on-hand at the start of the day after all receipts of
that day (step 1, plus step 2 receipts when ``L = 0``) is ``> 0``.
Costs: ``order_cost`` per order placed (quantity ``> 0``), ``lost_sale_cost`` per unit
of lost demand, ``holding_cost`` per unit per day of end-of-day on-hand.

Lead times are drawn by :func:`draw_lead_times` (rounded normal clipped to
``[1, max_lead_time]``) from a ``numpy.random.Generator``; the same draws are passed
to every candidate and policy (common random numbers).

Order-up-to levels expressed as coverage (days of forecast demand) are built by
:func:`coverage_levels`; beyond the end of the forecast the path is extended by
repeating its last 7 days cyclically (weekly pattern).

A run can be continued: pass ``final_on_hand`` and ``final_pipeline`` (requested with
``return_pipeline=True``) as the next run's initial state, with the lanes' review
calendar moved by :meth:`LaneParams.shift_review`. See ``docs/simulation.md``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

__all__ = [
    "ACCUMULATOR_FIELDS",
    "DEFAULT_MAX_LEAD_TIME",
    "LaneParams",
    "PolicyState",
    "SimulationResult",
    "Trajectories",
    "coverage_levels",
    "draw_lead_times",
    "extend_forecast",
    "lane_coverage_levels",
    "review_mask",
    "round_order_quantity",
    "simulate_order_up_to",
    "simulate_policy",
]

DEFAULT_MAX_LEAD_TIME = 60
WEEK = 7

# Names of the KPI accumulators of a SimulationResult, in a fixed order.
ACCUMULATOR_FIELDS = (
    "holding_cost",
    "lost_units",
    "lost_sales_cost",
    "order_cost",
    "n_orders",
    "ordered_units",
    "demand_units",
    "sales_units",
    "sum_end_on_hand",
    "in_stock_days",
    "n_days",
)


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


# --------------------------------------------------------------------- lead times
def draw_lead_times(
    lead_time_mean,
    lead_time_std,
    n_days: int,
    rng: np.random.Generator | int | None,
    n_scenarios: int | None = None,
    *,
    max_lead_time: int = DEFAULT_MAX_LEAD_TIME,
) -> np.ndarray:
    """Draw the lead time (days) an order placed on each day would get.

    ``lead_time_mean`` and ``lead_time_std`` are scalars or ``[N]`` arrays (days).
    Each draw is ``rint(mean + std * Z)`` with ``Z`` standard normal, clipped to
    ``[1, max_lead_time]``. Returns int32 ``[N, n_days]`` when ``n_scenarios`` is None,
    else ``[n_scenarios, N, n_days]`` (a scalar mean and std give ``N = 1``). ``rng``
    is a ``numpy.random.Generator`` (or a seed for one); the same generator state
    gives the same draws, which are then shared by all candidates (CRN).
    """
    if max_lead_time < 1:
        raise ValueError("max_lead_time must be >= 1")
    mean = np.atleast_1d(np.asarray(lead_time_mean, dtype=np.float64))
    std = np.atleast_1d(np.asarray(lead_time_std, dtype=np.float64))
    if mean.ndim != 1 or std.ndim != 1:
        raise ValueError("lead_time_mean and lead_time_std must be scalars or 1-D")
    mean, std = np.broadcast_arrays(mean, std)
    if np.any(std < 0) or not np.all(np.isfinite(mean)) or not np.all(np.isfinite(std)):
        raise ValueError("lead-time mean must be finite and std finite and >= 0")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    n = mean.shape[0]
    shape = (n, int(n_days)) if n_scenarios is None else (int(n_scenarios), n, int(n_days))
    z = rng.standard_normal(shape)
    draws = np.rint(mean[:, None] + std[:, None] * z)
    return np.clip(draws, 1, max_lead_time).astype(np.int32)


# ---------------------------------------------------------------- coverage levels
def extend_forecast(forecast_path, length: int) -> np.ndarray:
    """Extend (or truncate) ``[N, F]`` daily forecasts to ``[N, length]``.

    Days ``j >= F`` repeat the last ``min(7, F)`` forecast days cyclically, so a weekly
    pattern continues: ``f[j] = f[F - w + (j - F) % w]`` with ``w = min(7, F)``.
    """
    f = np.asarray(forecast_path, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] == 0:
        raise ValueError(f"forecast_path must be [N, F] with F >= 1, got {f.shape}")
    n_f = f.shape[1]
    if length <= n_f:
        return f[:, :length]
    w = min(WEEK, n_f)
    idx = np.concatenate([np.arange(n_f), n_f - w + (np.arange(length - n_f) % w)])
    return f[:, idx]


def _window_sums(forecast_path, coverage: np.ndarray, n_days: int) -> np.ndarray:
    """``level[..., n, t] = sum of forecast over [t, t + v)`` for coverage ``[..., N]``."""
    v = np.asarray(coverage, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("coverage days must be finite and >= 0")
    m = np.floor(v).astype(np.int64)  # full days
    frac = v - m  # share of the next day's forecast
    f = np.asarray(forecast_path, dtype=np.float64)
    n_lanes = f.shape[0]
    max_full = int(m.max()) if m.size else 0
    ext = extend_forecast(f, n_days + max_full + 1)
    cum = np.zeros((n_lanes, ext.shape[1] + 1))
    np.cumsum(ext, axis=1, out=cum[:, 1:])
    t = np.arange(n_days)
    end = t + m[..., None]  # [..., N, T]
    lane = np.arange(n_lanes)[:, None]
    return cum[lane, end] - cum[:, :n_days] + frac[..., None] * ext[lane, end]


def coverage_levels(forecast_path, coverage_days, n_days: int) -> np.ndarray:
    """Order-up-to levels (units) of coverage candidates, ``[C, N, n_days]``.

    ``forecast_path`` is ``[N, F]`` forecast demand per day from the decision date
    (day 0). ``coverage_days`` (days, fractional allowed) is either ``[C]`` — one grid
    shared by all lanes — or ``[C, N]`` — a coverage per candidate and lane. The level
    of day ``t`` is the forecast summed over ``[t, t + v)``: ``floor(v)`` full days plus
    ``v - floor(v)`` of the next day, computed from cumulative sums. Beyond day ``F-1``
    the forecast repeats its last 7 days (see :func:`extend_forecast`).
    """
    f = np.asarray(forecast_path, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"forecast_path must be [N, F], got {f.shape}")
    v = np.asarray(coverage_days, dtype=np.float64)
    if v.ndim == 1:
        v = np.broadcast_to(v[:, None], (v.shape[0], f.shape[0]))
    elif v.ndim != 2 or v.shape[1] != f.shape[0]:
        raise ValueError(f"coverage_days must be [C] or [C, N={f.shape[0]}], got {v.shape}")
    return _window_sums(f, v, int(n_days))


def lane_coverage_levels(forecast_path, coverage_per_lane, n_days: int) -> np.ndarray:
    """Order-up-to levels (units) for one coverage decision per lane, ``[N, n_days]``.

    Same definition as :func:`coverage_levels` with ``coverage_per_lane`` of shape
    ``[N]`` (days); equal to ``coverage_levels(f, v[None, :], n_days)[0]``.
    """
    f = np.asarray(forecast_path, dtype=np.float64)
    v = np.asarray(coverage_per_lane, dtype=np.float64)
    if f.ndim != 2 or v.shape != (f.shape[0],):
        raise ValueError(f"coverage_per_lane must be [N={f.shape[0]}], got {v.shape}")
    return _window_sums(f, v, int(n_days))


# -------------------------------------------------------------------- results
@dataclass
class Trajectories:
    """Daily trajectories, each ``[..., T]`` (units): on-hand at the start of the day
    after receipts, on-hand at the end of the day, quantity ordered, quantity received
    and demand lost."""

    on_hand_start: np.ndarray
    on_hand_end: np.ndarray
    orders: np.ndarray
    arrivals: np.ndarray
    lost: np.ndarray


@dataclass
class SimulationResult:
    """KPI accumulators over the run plus the final state.

    Every accumulator has the batch shape: ``[C, S, N]`` from the fast path, ``[N]``
    from the generic path. Units: costs in currency, ``*_units`` in units,
    ``sum_end_on_hand`` in unit-days, ``in_stock_days``/``n_days`` in days,
    ``n_orders`` a count. ``n_days`` is a read-only broadcast of ``T``.
    ``final_on_order`` is everything still on order after day ``T-1`` (including
    orders due at or after ``T``); ``final_pipeline[..., k]`` (only when requested) is
    the quantity due at the start of day ``T + k``, a valid ``initial_pipeline`` for a
    continuation run.
    """

    holding_cost: np.ndarray
    lost_units: np.ndarray
    lost_sales_cost: np.ndarray
    order_cost: np.ndarray
    n_orders: np.ndarray
    ordered_units: np.ndarray
    demand_units: np.ndarray
    sales_units: np.ndarray
    sum_end_on_hand: np.ndarray
    in_stock_days: np.ndarray
    n_days: np.ndarray
    final_on_hand: np.ndarray
    final_on_order: np.ndarray
    final_pipeline: np.ndarray | None = None
    trajectories: Trajectories | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.holding_cost.shape

    @property
    def total_cost(self) -> np.ndarray:
        """Holding + lost-sales + ordering cost (currency)."""
        return self.holding_cost + self.lost_sales_cost + self.order_cost

    def accumulators(self) -> dict[str, np.ndarray]:
        """The KPI accumulators by name (see ``ACCUMULATOR_FIELDS``)."""
        return {name: getattr(self, name) for name in ACCUMULATOR_FIELDS}


# ------------------------------------------------------------------ fast kernel
@njit(parallel=True, cache=True, fastmath=False)
def _order_up_to_kernel(  # noqa: PLR0912, PLR0915, PLR0917 (one fused kernel)
    demand,  # float64 [S*N, T]
    levels,  # float64 [C*N, T]
    lead_times,  # int [S*N, T]
    review_period,  # int64 [N]
    review_offset,  # int64 [N]
    case_pack,  # int64 [N]
    moq,  # int64 [N]
    holding_cost,  # float64 [N]
    lost_sale_cost,  # float64 [N]
    order_cost,  # float64 [N]
    init_on_hand,  # float64 [C0, S0, N], C0 in {1, C}, S0 in {1, S}
    init_on_order,  # float64 [C0, S0, N]
    init_pipeline,  # float64 [C0, S0, N, P]
    n_candidates,
    ring_size,
    chunk,
    record,
    keep_pipeline,
    acc_f,  # float64 [10, C*S*N]: 8 accumulators, final on-hand, final on-order
    acc_i,  # int64 [2, C*S*N]
    final_pipe,  # float64 [C*S*N, ring_size] or [0, ring_size]
    tr_start,  # float64 [C*S*N, T] or [0, 0] (5 trajectory arrays)
    tr_end,
    tr_orders,
    tr_arrivals,
    tr_lost,
):
    n_sn, n_days = demand.shape
    n_lanes = review_period.shape[0]
    n_scen = n_sn // n_lanes
    total = n_candidates * n_sn
    n_pipe0 = init_pipeline.shape[3]
    multi_c0 = init_on_hand.shape[0] > 1
    multi_s0 = init_on_hand.shape[1] > 1
    n_chunks = (total + chunk - 1) // chunk
    # one pipeline ring per chunk, allocated here so that it is private to the chunk
    rings = np.zeros((n_chunks, ring_size))
    for k in prange(n_chunks):
        ring = rings[k]
        stop = min(total, (k + 1) * chunk)
        for i in range(k * chunk, stop):
            n = i % n_lanes
            cs = i // n_lanes
            s = cs % n_scen
            c = cs // n_scen
            sn = s * n_lanes + n
            cn = c * n_lanes + n
            c0 = c if multi_c0 else 0
            s0 = s if multi_s0 else 0
            # lane constants
            period = review_period[n]
            next_review = review_offset[n]
            cp = case_pack[n]
            mq = moq[n]
            h = holding_cost[n]
            p = lost_sale_cost[n]
            kc = order_cost[n]
            # state
            for j in range(ring_size):
                ring[j] = 0.0
            for j in range(n_pipe0):
                ring[j] = init_pipeline[c0, s0, n, j]
            on_hand = init_on_hand[c0, s0, n]
            on_order = init_on_order[c0, s0, n]
            # accumulators
            a_hold = 0.0
            a_lost = 0.0
            a_lost_cost = 0.0
            a_order_cost = 0.0
            a_ordered = 0.0
            a_demand = 0.0
            a_sales = 0.0
            a_end = 0.0
            a_orders = 0
            a_instock = 0
            slot = 0  # t % ring_size
            for t in range(n_days):
                # (1) receipts due today
                arrived = ring[slot]
                ring[slot] = 0.0
                on_hand = on_hand + arrived
                on_order = on_order - arrived
                # (2) review and order
                q = 0.0
                if t == next_review:
                    next_review += period
                    raw = levels[cn, t] - (on_hand + on_order)
                    q = _round_order_scalar(raw, cp, mq)
                    if q > 0.0:
                        a_orders += 1
                        a_order_cost += kc
                        a_ordered += q
                        lt = lead_times[sn, t]
                        if lt == 0:
                            on_hand = on_hand + q
                            arrived = arrived + q
                        else:
                            dest = slot + lt
                            if dest >= ring_size:
                                dest -= ring_size
                            ring[dest] = ring[dest] + q
                            on_order = on_order + q
                if on_hand > 0.0:
                    a_instock += 1
                # (3) demand, lost sales
                d = demand[sn, t]
                sold = min(on_hand, d)
                lost = d - sold
                start = on_hand
                on_hand = on_hand - sold
                # (4) costs on end-of-day on-hand
                a_hold += h * on_hand
                a_end += on_hand
                a_lost += lost
                a_lost_cost += p * lost
                a_demand += d
                a_sales += sold
                if record:
                    tr_start[i, t] = start
                    tr_end[i, t] = on_hand
                    tr_orders[i, t] = q
                    tr_arrivals[i, t] = arrived
                    tr_lost[i, t] = lost
                slot += 1
                if slot == ring_size:
                    slot = 0
            acc_f[0, i] = a_hold
            acc_f[1, i] = a_lost
            acc_f[2, i] = a_lost_cost
            acc_f[3, i] = a_order_cost
            acc_f[4, i] = a_ordered
            acc_f[5, i] = a_demand
            acc_f[6, i] = a_sales
            acc_f[7, i] = a_end
            acc_i[0, i] = a_orders
            acc_i[1, i] = a_instock
            if keep_pipeline:
                # slot now points at day T: final_pipe[i, j] = due at start of T + j
                for j in range(ring_size):
                    src = slot + j
                    if src >= ring_size:
                        src -= ring_size
                    final_pipe[i, j] = ring[src]
            acc_f[8, i] = on_hand
            acc_f[9, i] = on_order


def _readonly(a: np.ndarray) -> np.ndarray:
    """A read-only C-contiguous view (or copy) of ``a``.

    Inputs reach the kernel with one array type each (read-only, C order; lead times
    int32), so it is compiled once rather than once per flag combination.
    """
    out = np.ascontiguousarray(a).view()
    out.flags.writeable = False
    return out


def _checked_demand(demand, lanes: LaneParams, batched: bool) -> np.ndarray:
    """Demand as float64 ``[S, N, T]`` (batched; ``[N, T]`` gets ``S = 1``) or ``[N, T]``."""
    d = np.asarray(demand, dtype=np.float64)
    if batched and d.ndim == 2:
        d = d[None]
    want = 3 if batched else 2
    if d.ndim != want:
        raise ValueError(f"demand must be {'[S, N, T]' if batched else '[N, T]'}, got {d.shape}")
    if lanes.n_lanes != d.shape[-2]:
        raise ValueError(f"lanes has {lanes.n_lanes} lanes, demand has {d.shape[-2]}")
    if d.size and not d.min() >= 0:  # min is NaN if any NaN; no [S, N, T] temporary
        raise ValueError("demand must be non-negative and not NaN")
    return d


def _checked_lead_times(lead_times, shape: tuple[int, ...]) -> np.ndarray:
    """Integer lead times as int32 of ``shape``; ``[N, T]`` broadcasts over S."""
    lt = np.asarray(lead_times)
    if not np.issubdtype(lt.dtype, np.integer):
        if not np.array_equal(lt, np.round(lt)):
            raise ValueError("lead_times must be integers")
        lt = lt.astype(np.int64)
    if lt.size and (lt.min() < 0 or lt.max() > np.iinfo(np.int32).max):
        raise ValueError("lead_times must be >= 0 (and fit int32)")
    if lt.dtype != np.int32:
        lt = lt.astype(np.int32)  # draw_lead_times already returns int32: no copy then
    if lt.shape != shape:
        if lt.shape not in (shape[-2:], (1, *shape[-2:])):
            raise ValueError(f"lead_times must have the shape of demand {shape}, got {lt.shape}")
        lt = np.broadcast_to(lt, shape)
    return lt


def _initial_state(initial_on_hand, initial_pipeline, n_cand: int, n_scen: int, n_lanes: int):
    """Initial on-hand ``[C0, S0, N]``, on-order ``[C0, S0, N]`` and pipeline
    ``[C0, S0, N, P]`` with one common ``C0`` in {1, C} and ``S0`` in {1, S}."""
    oh = np.asarray(initial_on_hand, dtype=np.float64)
    if oh.ndim == 0:
        oh = np.broadcast_to(oh, (n_lanes,))
    if oh.ndim > 3 or oh.shape[-1] != n_lanes:
        raise ValueError(f"initial_on_hand has shape {oh.shape}; expected [N], [S, N] or [C, S, N]")
    oh = oh.reshape((1,) * (3 - oh.ndim) + oh.shape)
    if initial_pipeline is None:
        pipe = np.zeros((1, 1, n_lanes, 0))
    else:
        pipe = np.asarray(initial_pipeline, dtype=np.float64)
        if not 2 <= pipe.ndim <= 4 or pipe.shape[-2] != n_lanes:
            raise ValueError(f"initial_pipeline has shape {pipe.shape}; expected [N, P] (or [S, N, P], [C, S, N, P])")
        pipe = pipe.reshape((1,) * (4 - pipe.ndim) + pipe.shape)
    c0 = n_cand if n_cand in (oh.shape[0], pipe.shape[0]) and max(oh.shape[0], pipe.shape[0]) > 1 else 1
    s0 = n_scen if n_scen in (oh.shape[1], pipe.shape[1]) and max(oh.shape[1], pipe.shape[1]) > 1 else 1
    try:
        oh = np.ascontiguousarray(np.broadcast_to(oh, (c0, s0, n_lanes)))
        pipe = np.ascontiguousarray(np.broadcast_to(pipe, (c0, s0, n_lanes, pipe.shape[3])))
    except ValueError:
        raise ValueError(
            f"initial state shapes {np.shape(initial_on_hand)} / {np.shape(initial_pipeline)} "
            f"do not broadcast to [C={n_cand}, S={n_scen}, N={n_lanes}]"
        ) from None
    if oh.size and not oh.min() >= 0 or pipe.size and not pipe.min() >= 0:
        raise ValueError("initial on-hand and pipeline must be >= 0")
    return oh, pipe.sum(axis=3), pipe


def _ring_size(lead_times: np.ndarray, n_pipe0: int) -> int:
    max_lt = int(lead_times.max()) if lead_times.size else 0
    return max(max_lt + 1, n_pipe0, 1)


def _chunk_size(total: int) -> int:
    threads = max(1, numba.get_num_threads())
    return int(max(1, min(1024, -(-total // (8 * threads)))))


def simulate_order_up_to(  # noqa: PLR0917 (the documented positional signature)
    demand,
    levels,
    lead_times,
    lanes: LaneParams,
    initial_on_hand,
    initial_pipeline=None,
    *,
    record_trajectories: bool = False,
    return_pipeline: bool = False,
) -> SimulationResult:
    """Simulate order-up-to schedules for candidates x scenarios x lanes (fast path).

    Parameters
    ----------
    demand : float ``[S, N, T]`` daily demand (units) per scenario, lane and day.
    levels : float ``[C, N, T]`` order-up-to level (units) of each candidate; only
        read on review days. ``[N, T]`` is taken as ``C = 1``.
    lead_times : int ``[S, N, T]`` lead time (days, >= 0) an order placed that day
        gets; shared by all candidates (common random numbers). ``[N, T]`` is
        broadcast to all scenarios.
    lanes : :class:`LaneParams` of ``N`` lanes.
    initial_on_hand : ``[N]`` units on hand before day 0 (``[S, N]`` or ``[C, S, N]``
        also accepted, e.g. the final state of a previous run).
    initial_pipeline : optional ``[N, P]`` units due at the start of day ``p``
        (``[S, N, P]`` / ``[C, S, N, P]`` also accepted).
    record_trajectories : also return :class:`Trajectories` ``[C, S, N, T]``.
    return_pipeline : also return ``final_pipeline`` ``[C, S, N, R]``.

    Returns a :class:`SimulationResult` with accumulators ``[C, S, N]``. Without
    trajectories, memory is independent of ``T`` beyond the inputs.
    """
    d = _checked_demand(demand, lanes, batched=True)
    n_scen, n_lanes, n_days = d.shape
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim == 2:
        lv = lv[None]
    if lv.ndim != 3 or lv.shape[1:] != (n_lanes, n_days):
        raise ValueError(f"levels must be [C, {n_lanes}, {n_days}], got {lv.shape}")
    if lv.size and not (np.isfinite(lv.max()) and np.isfinite(lv.min())):
        raise ValueError("levels must be finite")
    n_cand = lv.shape[0]
    lt = _checked_lead_times(lead_times, d.shape)

    on_hand0, on_order0, pipe = _initial_state(initial_on_hand, initial_pipeline, n_cand, n_scen, n_lanes)
    ring = _ring_size(lt, pipe.shape[3])

    total = n_cand * n_scen * n_lanes
    acc_f = np.empty((10, total))
    acc_i = np.empty((2, total), dtype=np.int64)
    final_pipe = np.empty((total if return_pipeline else 0, ring))
    tr_shape = (total, n_days) if record_trajectories else (0, 0)
    tr = [np.empty(tr_shape) for _ in range(5)]
    _order_up_to_kernel(
        _readonly(d.reshape(n_scen * n_lanes, n_days)),
        _readonly(lv.reshape(n_cand * n_lanes, n_days)),
        _readonly(lt.reshape(n_scen * n_lanes, n_days)),
        lanes.review_period,
        lanes.review_offset,
        lanes.case_pack,
        lanes.moq,
        lanes.holding_cost,
        lanes.lost_sale_cost,
        lanes.order_cost,
        _readonly(on_hand0),
        _readonly(on_order0),
        _readonly(pipe),
        n_cand,
        ring,
        _chunk_size(total),
        bool(record_trajectories),
        bool(return_pipeline),
        acc_f,
        acc_i,
        final_pipe,
        *tr,
    )
    shape = (n_cand, n_scen, n_lanes)
    trajectories = None
    if record_trajectories:
        trajectories = Trajectories(*(a.reshape(shape + (n_days,)) for a in tr))
    return SimulationResult(
        holding_cost=acc_f[0].reshape(shape),
        lost_units=acc_f[1].reshape(shape),
        lost_sales_cost=acc_f[2].reshape(shape),
        order_cost=acc_f[3].reshape(shape),
        n_orders=acc_i[0].reshape(shape),
        ordered_units=acc_f[4].reshape(shape),
        demand_units=acc_f[5].reshape(shape),
        sales_units=acc_f[6].reshape(shape),
        sum_end_on_hand=acc_f[7].reshape(shape),
        in_stock_days=acc_i[1].reshape(shape),
        n_days=np.broadcast_to(np.int64(n_days), shape),
        final_on_hand=acc_f[8].reshape(shape),
        final_on_order=acc_f[9].reshape(shape),
        final_pipeline=final_pipe.reshape(shape + (ring,)) if return_pipeline else None,
        trajectories=trajectories,
    )


# ------------------------------------------------------------------ generic path
@dataclass
class PolicyState:
    """What a policy sees at step (2) of day ``t`` (after receipts, before ordering).

    Arrays are ``[N]`` (units unless stated): ``on_hand``, ``on_order`` (all
    outstanding orders), ``inventory_position = on_hand + on_order``, ``is_review``
    (bool), ``lead_time`` (days the order placed today would take), ``pipeline``
    ``[N, R-1]`` (column ``k``: units due at the start of day ``t + 1 + k``).
    ``forecast`` is whatever was passed to :func:`simulate_policy` (by convention the
    ``[N, F]`` forecast path from day 0), ``lanes`` the lane parameters. Policies
    needing more inputs can hold them themselves (e.g. a callable object).
    """

    t: int
    on_hand: np.ndarray
    on_order: np.ndarray
    inventory_position: np.ndarray
    is_review: np.ndarray
    lead_time: np.ndarray
    pipeline: np.ndarray
    lanes: LaneParams
    forecast: np.ndarray | None = None


def simulate_policy(  # noqa: PLR0917, PLR0915 (documented signature; one day loop)
    demand,
    lanes: LaneParams,
    lead_times,
    policy: Callable[[PolicyState], np.ndarray],
    initial_on_hand,
    initial_pipeline=None,
    forecast=None,
    *,
    record_trajectories: bool = False,
) -> SimulationResult:
    """Simulate any policy over ``[N, T]`` demand with a day loop (generic path).

    ``policy(state)`` returns raw order quantities ``[N]`` (units); the simulator
    orders only on review days and rounds with :func:`round_order_quantity`.
    ``lead_times`` is int ``[N, T]``, ``initial_on_hand`` ``[N]``,
    ``initial_pipeline`` optional ``[N, P]``. Accumulators of the result are ``[N]``;
    trajectories ``[N, T]`` when requested; ``final_pipeline`` ``[N, R]`` always.
    Same conventions and arithmetic as :func:`simulate_order_up_to`.
    """
    d = _checked_demand(demand, lanes, batched=False)
    n_lanes, n_days = d.shape
    lt = _checked_lead_times(lead_times, d.shape).astype(np.int64)
    oh0, oo0, pipe0 = _initial_state(initial_on_hand, initial_pipeline, 1, 1, n_lanes)
    on_hand, on_order, pipe0 = oh0[0, 0].copy(), oo0[0, 0].copy(), pipe0[0, 0]
    ring_size = _ring_size(lt, pipe0.shape[1])
    ring = np.zeros((n_lanes, ring_size))
    ring[:, : pipe0.shape[1]] = pipe0
    lane_idx = np.arange(n_lanes)
    reviews = review_mask(lanes, n_days)

    zeros_f = np.zeros(n_lanes)
    zeros_i = np.zeros(n_lanes, dtype=np.int64)
    acc = {name: zeros_f.copy() for name in ACCUMULATOR_FIELDS}
    acc["n_orders"] = zeros_i.copy()
    acc["in_stock_days"] = zeros_i.copy()
    traj_shape = (n_lanes, n_days) if record_trajectories else (0, 0)
    traj = {k: np.zeros(traj_shape) for k in Trajectories.__dataclass_fields__}

    for t in range(n_days):
        slot = t % ring_size
        # (1) receipts due today
        arrived = ring[:, slot].copy()
        ring[:, slot] = 0.0
        on_hand = on_hand + arrived
        on_order = on_order - arrived
        # (2) review and order
        is_review = reviews[:, t]
        order_slots = (slot + 1 + np.arange(ring_size - 1)) % ring_size
        state = PolicyState(
            t=t,
            on_hand=on_hand.copy(),
            on_order=on_order.copy(),
            inventory_position=on_hand + on_order,
            is_review=is_review.copy(),
            lead_time=lt[:, t].copy(),
            pipeline=ring[:, order_slots],
            lanes=lanes,
            forecast=forecast,
        )
        raw = np.asarray(policy(state), dtype=np.float64)
        if raw.shape != (n_lanes,):
            raise ValueError(f"policy returned shape {raw.shape}, expected ({n_lanes},)")
        if np.any(np.isinf(raw) & is_review):
            raise ValueError(f"policy returned an infinite order quantity on day {t}")
        q = np.where(is_review, round_order_quantity(raw, lanes.case_pack, lanes.moq), 0.0)
        placed = q > 0.0
        acc["n_orders"] += placed
        acc["order_cost"] += np.where(placed, lanes.order_cost, 0.0)
        acc["ordered_units"] += q
        now = placed & (lt[:, t] == 0)
        later = placed & ~now
        on_hand = np.where(now, on_hand + q, on_hand)
        arrived = np.where(now, arrived + q, arrived)
        dest = (slot + lt[:, t]) % ring_size
        ring[lane_idx[later], dest[later]] += q[later]
        on_order = np.where(later, on_order + q, on_order)
        acc["in_stock_days"] += on_hand > 0.0
        # (3) demand, lost sales
        dem = d[:, t]
        sold = np.minimum(on_hand, dem)
        lost = dem - sold
        start = on_hand
        on_hand = on_hand - sold
        # (4) costs on end-of-day on-hand
        acc["holding_cost"] += lanes.holding_cost * on_hand
        acc["sum_end_on_hand"] += on_hand
        acc["lost_units"] += lost
        acc["lost_sales_cost"] += lanes.lost_sale_cost * lost
        acc["demand_units"] += dem
        acc["sales_units"] += sold
        if record_trajectories:
            traj["on_hand_start"][:, t] = start
            traj["on_hand_end"][:, t] = on_hand
            traj["orders"][:, t] = q
            traj["arrivals"][:, t] = arrived
            traj["lost"][:, t] = lost

    acc["n_days"] = np.broadcast_to(np.int64(n_days), (n_lanes,))
    final_slots = (n_days + np.arange(ring_size)) % ring_size
    return SimulationResult(
        **acc,
        final_on_hand=on_hand,
        final_on_order=on_order,
        final_pipeline=ring[:, final_slots],
        trajectories=Trajectories(**traj) if record_trajectories else None,
    )
