"""The multiple-choice model of ORPR: one coverage level per item under loss budgets.

For every item ``i`` (a lane = SKU-DC pair at one decision date) and every candidate
coverage level ``v`` (days of cover on a grid) a simulator has produced a holding cost
``cost[i, v]`` and a lost-sales value ``loss[i, v]``. The model picks exactly one
candidate per item::

    min  sum_iv cost_iv * X_iv
    s.t. sum_v X_iv = 1                                  every item i
         sum_{i in g, v} loss_iv * X_iv <= budget_g      every budget group g (finite budget)
         sum_{i in d, v} volume_iv * X_iv <= capacity_d  every capacity group d (optional)
         X_iv = 0 where candidate v is outside the item's band (``allowed`` mask)
         X_iv binary

:class:`MultipleChoiceProblem` holds the validated numpy data of one model.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

# Relative tolerance when comparing a realised loss / volume with its right-hand side.
_FEAS_RTOL = 1e-9


def _as_2d_float(name: str, value: Any, shape: tuple[int, int] | None) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim != 2:
        expected = f"[{shape[0]}, {shape[1]}]" if shape else "[n_items, n_candidates]"
        raise ValueError(f"{name} must be a 2-D array of shape {expected}, got shape {arr.shape}")
    if shape is not None and arr.shape != shape:
        raise ValueError(
            f"{name} must have shape [n_items, n_candidates] = {list(shape)} like cost, got {list(arr.shape)}"
        )
    if not np.all(np.isfinite(arr)):
        bad = np.argwhere(~np.isfinite(arr))[0]
        raise ValueError(f"{name} must be finite; found {arr[tuple(bad)]} at item {bad[0]}, candidate {bad[1]}")
    return np.ascontiguousarray(arr)


def _as_index(name: str, value: Any, n: int, n_levels: int, levels_name: str) -> np.ndarray:
    arr = np.asarray(value)
    if arr.ndim != 1 or arr.shape[0] != n:
        raise ValueError(f"{name} must be a 1-D array of shape [n_items] = [{n}], got {list(arr.shape)}")
    if arr.dtype.kind == "f":
        if not np.all(np.isfinite(arr)) or np.any(arr != np.round(arr)):
            raise ValueError(f"{name} must hold integer indices, got non-integer values")
    elif arr.dtype.kind not in "iub":
        raise ValueError(f"{name} must hold integer indices, got dtype {arr.dtype}")
    arr = arr.astype(np.int64)
    if n and (arr.min() < 0 or arr.max() >= n_levels):
        raise ValueError(
            f"{name} values must lie in [0, {n_levels}) (one entry of {levels_name} per index), "
            f"got range [{arr.min()}, {arr.max()}]"
        )
    return arr


def _as_rhs(name: str, value: Any) -> np.ndarray:
    arr = np.asarray(value, dtype=np.float64)
    if arr.ndim == 0:
        arr = arr.reshape(1)
    if arr.ndim != 1 or arr.shape[0] == 0:
        raise ValueError(f"{name} must be a non-empty 1-D array, got shape {list(arr.shape)}")
    if np.any(np.isnan(arr)) or np.any(arr == -np.inf):
        raise ValueError(f"{name} must be finite or +inf (= no constraint); got NaN or -inf")
    return arr


def _labels(name: str, value: Sequence[str] | None, count: int, prefix: str) -> tuple[str, ...]:
    if value is None:
        return tuple(f"{prefix} {k}" for k in range(count))
    labels = tuple(str(v) for v in value)
    if len(labels) != count:
        raise ValueError(f"{name} must have {count} entries, got {len(labels)}")
    return labels


class Capacity(NamedTuple):
    """Capacity rows of a model: ``volume[n, K]``, ``group[n]`` in ``[0, D)``, ``limits[D]``, ``labels[D]``."""

    volume: np.ndarray
    group: np.ndarray
    limits: np.ndarray
    labels: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class MultipleChoiceProblem:
    """Data of one multiple-choice model; arrays are validated and copied to numpy.

    Attributes:
        cost: ``[n, K]`` objective coefficient (holding cost) per item and candidate.
        loss: ``[n, K]`` lost-sales value per item and candidate.
        group: ``[n]`` budget group (category) index of each item, in ``[0, G)``.
        budgets: ``[G]`` loss budget per group; ``+inf`` means no budget constraint.
        allowed: ``[n, K]`` bool, candidates inside the item's managerial band
            ``[v_min, v_max]``; default all True. Every item needs one allowed candidate.
        volume: ``[n, K]`` capacity use per item and candidate (optional).
        capacity_group: ``[n]`` capacity group (DC) index of each item, in ``[0, D)``.
        capacities: ``[D]`` capacity per group; ``+inf`` means no constraint.
        model_id: free text identifying the model in logs and records.
        group_labels / capacity_labels: optional names used in warnings.
    """

    cost: np.ndarray
    loss: np.ndarray
    group: np.ndarray
    budgets: np.ndarray
    # None on input means every candidate / default names; __post_init__ always sets an
    # array / a tuple, so the attributes are typed as what the rest of the code reads.
    allowed: np.ndarray = None  # type: ignore[assignment]
    volume: np.ndarray | None = None
    capacity_group: np.ndarray | None = None
    capacities: np.ndarray | None = None
    model_id: str = "model"
    group_labels: tuple[str, ...] = None  # type: ignore[assignment]
    capacity_labels: tuple[str, ...] | None = None

    def __post_init__(self) -> None:
        setf = object.__setattr__
        cost = _as_2d_float("cost", self.cost, None)
        n, k = cost.shape
        if n == 0 or k == 0:
            raise ValueError(f"cost must have at least one item and one candidate, got shape {[n, k]}")
        setf(self, "cost", cost)
        setf(self, "loss", _as_2d_float("loss", self.loss, (n, k)))

        if self.allowed is None:
            allowed = np.ones((n, k), dtype=bool)
        else:
            allowed = np.asarray(self.allowed)
            if allowed.shape != (n, k):
                raise ValueError(
                    f"allowed must have shape [n_items, n_candidates] = {[n, k]} like cost, got {list(allowed.shape)}"
                )
            if allowed.dtype != bool:
                if not np.all(np.isin(allowed, (0, 1))):
                    raise ValueError("allowed must be a boolean mask (or 0/1 values)")
                allowed = allowed.astype(bool)
            allowed = np.ascontiguousarray(allowed)
        empty = np.flatnonzero(~allowed.any(axis=1))
        if empty.size:
            raise ValueError(
                f"allowed leaves no candidate for {empty.size} item(s), e.g. item(s) "
                f"{empty[:5].tolist()}: every item needs at least one allowed candidate"
            )
        setf(self, "allowed", allowed)

        budgets = _as_rhs("budgets", self.budgets)
        setf(self, "budgets", budgets)
        setf(
            self,
            "group",
            _as_index("group", self.group, n, budgets.shape[0], "budgets"),
        )
        setf(
            self,
            "group_labels",
            _labels("group_labels", self.group_labels, budgets.shape[0], "group"),
        )

        given = [x is not None for x in (self.volume, self.capacity_group, self.capacities)]
        if any(given) and not all(given):
            raise ValueError(
                "volume, capacity_group and capacities must be given together "
                f"(got volume={given[0]}, capacity_group={given[1]}, capacities={given[2]})"
            )
        if all(given):
            caps = _as_rhs("capacities", self.capacities)
            setf(self, "capacities", caps)
            setf(self, "volume", _as_2d_float("volume", self.volume, (n, k)))
            setf(
                self,
                "capacity_group",
                _as_index(
                    "capacity_group",
                    self.capacity_group,
                    n,
                    caps.shape[0],
                    "capacities",
                ),
            )
            setf(
                self,
                "capacity_labels",
                _labels(
                    "capacity_labels",
                    self.capacity_labels,
                    caps.shape[0],
                    "capacity group",
                ),
            )
        else:
            setf(self, "capacity_labels", None)
        setf(self, "model_id", str(self.model_id))

    # ---- shape helpers
    @property
    def n_items(self) -> int:
        return int(self.cost.shape[0])

    @property
    def n_candidates(self) -> int:
        return int(self.cost.shape[1])

    @property
    def n_groups(self) -> int:
        return int(self.budgets.shape[0])

    @property
    def has_capacity(self) -> bool:
        return self.capacities is not None

    def capacity(self) -> Capacity | None:
        """The capacity rows' data, or ``None`` for a model without capacities."""
        if self.volume is None or self.capacity_group is None or self.capacities is None:
            return None
        return Capacity(self.volume, self.capacity_group, self.capacities, self.capacity_labels or ())

    def _budget_rows(self, budgets: np.ndarray | None = None) -> np.ndarray:
        """Budget groups that become a solver row: finite budget and at least one item."""
        b = self.budgets if budgets is None else budgets
        present = np.bincount(self.group, minlength=self.n_groups) > 0
        return present & np.isfinite(b)

    def _capacity_rows(self, capacities: np.ndarray | None = None) -> np.ndarray:
        cap = self.capacity()
        if cap is None:
            return np.zeros(0, dtype=bool)
        c = cap.limits if capacities is None else capacities
        present = np.bincount(cap.group, minlength=c.shape[0]) > 0
        return present & np.isfinite(c)

    @property
    def size(self) -> tuple[int, int]:
        """``(n_variables, n_constraints)`` of the unreduced model as given to a solver.

        One binary per allowed (item, candidate); one assignment row per item, one row
        per budget group with a finite budget and one row per capacity group with a
        finite capacity (groups without items give no row).
        """
        n_vars = int(self.allowed.sum())
        n_rows = self.n_items + int(self._budget_rows().sum()) + int(self._capacity_rows().sum())
        return n_vars, n_rows

    def evaluate(self, choice: np.ndarray) -> tuple[float, np.ndarray, np.ndarray | None]:
        """Objective, per-group loss and per-capacity-group volume of a choice."""
        choice = np.asarray(choice, dtype=np.int64)
        rows = np.arange(self.n_items)
        objective = float(self.cost[rows, choice].sum())
        group_loss = np.bincount(self.group, weights=self.loss[rows, choice], minlength=self.n_groups)
        cap_used = None
        cap = self.capacity()
        if cap is not None:
            cap_used = np.bincount(cap.group, weights=cap.volume[rows, choice], minlength=cap.limits.shape[0])
        return objective, group_loss, cap_used

    def is_feasible(
        self,
        choice: np.ndarray,
        budgets: np.ndarray | None = None,
        capacities: np.ndarray | None = None,
        atol: float = 1e-6,
    ) -> bool:
        """True when ``choice`` is allowed and meets budgets / capacities within tolerance."""
        choice = np.asarray(choice, dtype=np.int64)
        if choice.shape != (self.n_items,) or choice.min() < 0 or choice.max() >= self.n_candidates:
            return False
        if not np.all(self.allowed[np.arange(self.n_items), choice]):
            return False
        _, group_loss, cap_used = self.evaluate(choice)
        b = self.budgets if budgets is None else budgets
        if np.any(group_loss > b + atol + _FEAS_RTOL * np.abs(np.where(np.isfinite(b), b, 0))):
            return False
        cap = self.capacity()
        if cap_used is not None and cap is not None:
            c = cap.limits if capacities is None else capacities
            if np.any(cap_used > c + atol + _FEAS_RTOL * np.abs(np.where(np.isfinite(c), c, 0))):
                return False
        return True
