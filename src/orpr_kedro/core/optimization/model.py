"""Simulation-augmented OR model of ORPR: one coverage level per item under loss budgets.

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

Entry points
------------
* :class:`MultipleChoiceProblem` -- validated numpy data of one model.
* :func:`solve` -- reduces the model (dominated candidates, redundant rows), picks a
  backend (Gurobi within its licence size limit, HiGHS otherwise) and always returns a
  :class:`SolveResult` unless a *forced* backend cannot run.
* :func:`reduce_problem` -- the dominance / redundancy reduction on its own.
* :func:`min_loss_choice` -- the greedy choice used by every fallback.
* :func:`brute_force` -- exhaustive enumeration for tiny instances (tests).

Backend selection (``solver="auto"``)
-------------------------------------
1. The (reduced) model size is checked *before* Gurobi is touched: more variables or
   more linear constraints than ``size_limit`` (default 2000, the pip size-limited
   licence; ``None`` = unlimited) goes straight to HiGHS, recorded in
   ``fallback_reason``.
2. ``import gurobipy`` failing, or any ``gurobipy.GurobiError`` while creating the
   environment or optimising (10009 no licence, 10010 size limit, 10022 network error
   of a WLS licence, ...), falls back to HiGHS; the reason names the error number.
   ``time_limit`` applies to each backend call, so a fallback gets the full limit
   again (licence errors come back at once).
3. ``solver="gurobi"`` never falls back: an over-size model raises
   :class:`GurobiSizeLimitError`, a missing package or licence raises
   :class:`GurobiUnavailableError`.

Infeasibility and limits
------------------------
* A budget group whose *minimum achievable* loss (min-loss candidate of every item)
  already exceeds its budget is relaxed to that minimum before solving (which forces
  the min-loss candidates in that group, cheapest among equal losses), status
  ``"infeasible_budget_relaxed"`` (in place of ``"optimal"``; a time limit keeps
  ``"time_limit"``), with a WARNING naming the group; ``relaxed_groups`` and
  ``fallback_reason`` record it in every case. Capacity groups are treated the same way
  (status ``"infeasible_capacity_relaxed"`` if no budget was relaxed).
* A model that is still infeasible (capacity and budgets jointly) returns the greedy
  min-loss choice, solver ``"fallback_min_loss"``, status ``"infeasible"``.
* Time limit with an incumbent: the incumbent, status ``"time_limit"`` and its gap.
  Time limit without one: the greedy min-loss choice (feasible for every budget),
  solver ``"fallback_min_loss"``, status ``"time_limit"``.

Determinism
-----------
Nothing random is added. Variables are ordered item-major then candidate index;
Gurobi runs with ``Seed`` and ``Threads`` fixed, HiGHS with ``random_seed`` and
``threads`` fixed, so the same problem and options give the same choice. Among
candidates with identical (cost, loss, volume) the reduction keeps the lowest index;
the greedy fallback picks the minimum loss, then the minimum cost, then the lowest
index. Among several optimal solutions the choice is whatever the (deterministic)
solver returns, so Gurobi and HiGHS can return different choices with equal objective.
"""

from __future__ import annotations

import itertools
import logging
import math
import os
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import scipy.sparse as sp

__all__ = [
    "GUROBI_SIZE_LIMIT",
    "GurobiLicence",
    "GurobiSizeLimitError",
    "GurobiUnavailableError",
    "MultipleChoiceProblem",
    "OptimizationError",
    "Reduction",
    "SolveResult",
    "brute_force",
    "min_loss_choice",
    "reduce_problem",
    "solve",
]

logger = logging.getLogger("orpr_kedro.core.optimization.model")

#: Variables / linear constraints allowed by the size-limited pip licence of gurobipy.
GUROBI_SIZE_LIMIT = 2000

_SOLVERS = ("auto", "gurobi", "highs")
_LICENCE_FILE_KEYS = ("licensefile", "license_file", "licencefile", "licence_file")
# Relative tolerance when comparing a realised loss / volume with its right-hand side.
_FEAS_RTOL = 1e-9
# Elements of the [items, K, K] comparison tensor processed at once by the reduction.
_DOMINANCE_CHUNK = 4_000_000


class OptimizationError(RuntimeError):
    """Base class of the errors raised by :func:`solve`."""


class GurobiSizeLimitError(OptimizationError):
    """A forced Gurobi solve of a model larger than the licence allows."""


class GurobiUnavailableError(OptimizationError):
    """A forced Gurobi solve without gurobipy or without a usable licence."""


# --------------------------------------------------------------------------- licence

# Licence parameters of ``gurobipy.Env`` accepted from credentials, by lower-case name
# (Gurobi parameter names are case-insensitive; licence files spell them WLSACCESSID).
_LICENCE_PARAMETERS = {
    name.lower(): name
    for name in (
        "WLSAccessID",
        "WLSSecret",
        "LicenseID",
        "WLSToken",
        "WLSTokenDuration",
        "WLSTokenRefresh",
        "ComputeServer",
        "ServerPassword",
        "ServerTimeout",
        "CSPriority",
        "CSRouter",
        "CSGroup",
        "CSTLSInsecure",
        "CSManager",
        "CSAPIAccessID",
        "CSAPISecret",
        "CSAppName",
        "CSAuthToken",
        "UserName",
        "TokenServer",
        "TSPort",
        "CloudAccessID",
        "CloudSecretKey",
        "CloudPool",
        "CloudHost",
    )
}
_LICENCE_FILE = "LicenseFile"
_WLS_TRIPLE = ("WLSAccessID", "WLSSecret", "LicenseID")


@dataclass(frozen=True, eq=False)
class GurobiLicence:
    """Licence parameters for ``gurobipy.Env(params=...)``; their values are never shown.

    Built from the ``gurobi`` credentials of a Kedro environment. Empty parameters mean
    gurobipy's own licence search: by default the size-limited licence of the pip
    package (``kind == "pip"``). ``repr`` and :meth:`describe` name the kind and the
    parameter names only, so a licence can be logged; :meth:`mask` removes the values
    from any text (solver messages) before it is logged or written.

    Kinds: ``"pip"`` (no parameters), ``"wls"`` (Web License Service: ``WLSAccessID``,
    ``WLSSecret`` and ``LicenseID`` together, or a ``WLSToken``), ``"file"``
    (``LicenseFile``: a ``gurobi.lic`` path, set as ``GRB_LICENSE_FILE`` while the
    environment starts), ``"compute_server"``, ``"token_server"``, ``"cloud"``, or
    ``"custom"`` (other licence parameters alone).

    Raises:
        ValueError: an unknown parameter name, an empty value, an incomplete WLS triple,
            a non-integer ``LicenseID``, or a licence file mixed with other parameters.
    """

    parameters: Mapping[str, Any] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if not isinstance(self.parameters, Mapping):
            raise ValueError(
                "the gurobi credentials must be a mapping of Gurobi licence parameters "
                f"(e.g. WLSACCESSID, WLSSECRET, LICENSEID), got {type(self.parameters).__name__}"
            )
        canonical: dict[str, Any] = {}
        for key, value in self.parameters.items():
            name = (
                _LICENCE_FILE if str(key).lower() in _LICENCE_FILE_KEYS else _LICENCE_PARAMETERS.get(str(key).lower())
            )
            if name is None:
                raise ValueError(
                    f"unknown Gurobi licence parameter {key!r} in the gurobi credentials; expected "
                    f"{_LICENCE_FILE} or one of {sorted(_LICENCE_PARAMETERS.values())}"
                )
            if name in canonical:
                raise ValueError(f"Gurobi licence parameter {name} is given twice in the gurobi credentials")
            if value is None or (isinstance(value, str) and not value.strip()):
                raise ValueError(
                    f"Gurobi licence parameter {name} is empty in the gurobi credentials: fill it in "
                    "or remove the gurobi entry to use the pip licence"
                )
            canonical[name] = os.fspath(value) if name == _LICENCE_FILE else value
        if "LicenseID" in canonical:
            licence_id = canonical["LicenseID"]
            if isinstance(licence_id, str) and licence_id.strip().isdigit():
                licence_id = int(licence_id)
            if isinstance(licence_id, bool) or not isinstance(licence_id, int) or licence_id <= 0:
                raise ValueError(
                    "Gurobi licence parameter LicenseID must be a positive integer (the WLS licence number)"
                )
            canonical["LicenseID"] = licence_id
        wls = [name for name in _WLS_TRIPLE if name in canonical]
        if wls and "WLSToken" not in canonical and len(wls) < len(_WLS_TRIPLE):
            missing = [name for name in _WLS_TRIPLE if name not in canonical]
            raise ValueError(
                f"a WLS licence needs WLSAccessID, WLSSecret and LicenseID together; the gurobi "
                f"credentials lack {', '.join(missing)}"
            )
        if _LICENCE_FILE in canonical and len(canonical) > 1:
            raise ValueError(
                f"the gurobi credentials give {_LICENCE_FILE} and {sorted(set(canonical) - {_LICENCE_FILE})}: "
                "a licence file already holds its parameters; keep one of the two"
            )
        object.__setattr__(self, "parameters", canonical)

    @property
    def kind(self) -> str:
        """``pip``, ``wls``, ``file``, ``compute_server``, ``token_server`` or ``cloud``."""
        names = set(self.parameters)
        if not names:
            return "pip"
        if names & {"WLSAccessID", "WLSToken"}:
            return "wls"
        if _LICENCE_FILE in names:
            return "file"
        if names & {"ComputeServer", "CSManager"}:
            return "compute_server"
        if "TokenServer" in names:
            return "token_server"
        if "CloudAccessID" in names:
            return "cloud"
        return "custom"

    def env_params(self) -> dict[str, Any]:
        """A copy of the parameters for ``gurobipy.Env(params=...)`` (secrets included)."""
        return dict(self.parameters)

    def describe(self) -> dict[str, Any]:
        """Kind and parameter names, without values: safe to log."""
        return {"kind": self.kind, "parameters": sorted(self.parameters)}

    def mask(self, text: str) -> str:
        """``text`` with every string value of the licence replaced by ``***``."""
        for value in sorted((str(v) for v in self.parameters.values() if isinstance(v, str)), key=len, reverse=True):
            if len(value) >= 4:
                text = text.replace(value, "***")
        return text

    def __repr__(self) -> str:
        return f"GurobiLicence(kind={self.kind!r}, parameters={sorted(self.parameters)})"

    def __eq__(self, other: object) -> bool:
        return isinstance(other, GurobiLicence) and self.parameters == other.parameters

    def __hash__(self) -> int:
        return hash(tuple(sorted(self.parameters)))


# --------------------------------------------------------------------------- problem


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
    allowed: np.ndarray | None = None
    volume: np.ndarray | None = None
    capacity_group: np.ndarray | None = None
    capacities: np.ndarray | None = None
    model_id: str = "model"
    group_labels: tuple[str, ...] | None = None
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

    def _budget_rows(self, budgets: np.ndarray | None = None) -> np.ndarray:
        """Budget groups that become a solver row: finite budget and at least one item."""
        b = self.budgets if budgets is None else budgets
        present = np.bincount(self.group, minlength=self.n_groups) > 0
        return present & np.isfinite(b)

    def _capacity_rows(self, capacities: np.ndarray | None = None) -> np.ndarray:
        if not self.has_capacity:
            return np.zeros(0, dtype=bool)
        c = self.capacities if capacities is None else capacities
        present = np.bincount(self.capacity_group, minlength=c.shape[0]) > 0
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
        if self.has_capacity:
            cap_used = np.bincount(
                self.capacity_group,
                weights=self.volume[rows, choice],
                minlength=self.capacities.shape[0],
            )
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
        if cap_used is not None:
            c = self.capacities if capacities is None else capacities
            if np.any(cap_used > c + atol + _FEAS_RTOL * np.abs(np.where(np.isfinite(c), c, 0))):
                return False
        return True


# --------------------------------------------------------------------------- reduction


@dataclass(frozen=True, eq=False)
class Reduction:
    """Result of :func:`reduce_problem`.

    Attributes:
        keep: ``[n, K]`` bool, candidates kept as variables (subset of ``allowed``).
        budget_rows: ``[G]`` bool, budget groups kept as solver rows.
        capacity_rows: ``[D]`` bool, capacity groups kept as solver rows.
        n_variables / n_constraints: size of the reduced model.
        n_dominated: candidates removed as dominated.
        n_redundant_rows: budget / capacity rows dropped because no choice can violate them.
    """

    keep: np.ndarray
    budget_rows: np.ndarray
    capacity_rows: np.ndarray
    n_variables: int
    n_constraints: int
    n_dominated: int
    n_redundant_rows: int


def _redundant(
    values: np.ndarray,
    allowed: np.ndarray,
    index: np.ndarray,
    rhs: np.ndarray,
    rows: np.ndarray,
) -> np.ndarray:
    """Rows whose largest achievable left-hand side already fits the right-hand side."""
    worst = np.where(allowed, values, -np.inf).max(axis=1)
    worst_sum = np.bincount(index, weights=worst, minlength=rhs.shape[0])
    return rows & (worst_sum <= rhs)


def reduce_problem(
    problem: MultipleChoiceProblem,
    budgets: np.ndarray | None = None,
    capacities: np.ndarray | None = None,
    dominance: bool = True,
) -> Reduction:
    """Drop redundant rows and dominated candidates; the optimum is unchanged.

    A budget (capacity) row is redundant when even the largest-loss (largest-volume)
    allowed candidate of every item fits it. Candidate ``j`` of an item is dominated by
    an allowed ``k`` of the same item when ``k`` is no worse on every *relevant*
    dimension -- cost always, loss when the item's budget row is kept, volume when its
    capacity row is kept -- and strictly better on one, or equal on all with ``k < j``
    (so exactly one representative of identical candidates survives: the lowest
    index). Swapping a dominated candidate for its dominator never breaks a constraint
    nor raises the cost, and the relation is a strict partial order, so every item keeps
    at least one candidate and the optimal objective is the same.

    ``budgets`` / ``capacities`` override the problem's right-hand sides (used after a
    relaxation).
    """
    b = problem.budgets if budgets is None else np.asarray(budgets, dtype=np.float64)
    budget_rows = problem._budget_rows(b)
    budget_rows = budget_rows & ~_redundant(problem.loss, problem.allowed, problem.group, b, budget_rows)
    if problem.has_capacity:
        c = problem.capacities if capacities is None else np.asarray(capacities, dtype=np.float64)
        capacity_rows = problem._capacity_rows(c)
        capacity_rows = capacity_rows & ~_redundant(
            problem.volume, problem.allowed, problem.capacity_group, c, capacity_rows
        )
    else:
        capacity_rows = np.zeros(0, dtype=bool)
    n_redundant = int(problem._budget_rows(b).sum() - budget_rows.sum())
    if problem.has_capacity:
        n_redundant += int(problem._capacity_rows(c).sum() - capacity_rows.sum())

    allowed = problem.allowed
    if dominance:
        dims = [problem.cost]
        loss_on = budget_rows[problem.group]
        if loss_on.any():
            dims.append(np.where(loss_on[:, None], problem.loss, 0.0))
        if problem.has_capacity:
            vol_on = capacity_rows[problem.capacity_group]
            if vol_on.any():
                dims.append(np.where(vol_on[:, None], problem.volume, 0.0))
        keep = allowed & ~_dominated(dims, allowed)
    else:
        keep = allowed.copy()

    n_vars = int(keep.sum())
    n_rows = problem.n_items + int(budget_rows.sum()) + int(capacity_rows.sum())
    return Reduction(
        keep=keep,
        budget_rows=budget_rows,
        capacity_rows=capacity_rows,
        n_variables=n_vars,
        n_constraints=n_rows,
        n_dominated=int(allowed.sum()) - n_vars,
        n_redundant_rows=n_redundant,
    )


def _dominated(dims: list[np.ndarray], allowed: np.ndarray) -> np.ndarray:
    """``[n, K]`` bool: candidate j is dominated by some allowed k of the same item."""
    n, k = allowed.shape
    out = np.zeros((n, k), dtype=bool)
    lower_index = np.arange(k)[:, None] < np.arange(k)[None, :]  # [k_dominator, j]
    step = max(1, _DOMINANCE_CHUNK // (k * k))
    for start in range(0, n, step):  # loop over item blocks, vectorised inside
        sl = slice(start, min(n, start + step))
        rows = sl.stop - sl.start
        le_all = np.repeat(allowed[sl][:, :, None], k, axis=2)  # dominator k must be allowed
        strict = np.zeros((rows, k, k), dtype=bool)
        for d in dims:
            dk = d[sl][:, :, None]
            dj = d[sl][:, None, :]
            le_all &= dk <= dj
            strict |= dk < dj
        dom = le_all & (strict | lower_index[None, :, :])
        out[sl] = dom.any(axis=1)
    return out


# --------------------------------------------------------------------------- result


@dataclass(eq=False)
class SolveResult:
    """Outcome of :func:`solve`.

    Attributes:
        model_id: the problem's model id.
        choice: ``[n]`` chosen candidate index per item (original candidate indexing).
        solver: ``"gurobi"``, ``"highs"`` or ``"fallback_min_loss"``.
        status: ``"optimal"``, ``"time_limit"``, ``"infeasible"``,
            ``"infeasible_budget_relaxed"``, ``"infeasible_capacity_relaxed"``,
            ``"suboptimal"``, ``"interrupted"``, ``"error"``, ...
        objective: total cost of ``choice`` (recomputed from the problem data).
        mip_gap: relative gap reported by the solver (0 when proven optimal, ``nan``
            when no solver bound exists).
        solve_time_s: wall time of the solver's optimise / run call.
        total_time_s: wall time of the whole :func:`solve` call (reduction, build, solve).
        n_variables / n_constraints: size passed to the solver (after reduction).
        n_variables_original / n_constraints_original: size before reduction.
        fallback_reason: ``None`` or a sentence saying why another path was taken.
        group_loss / group_budget: ``[G]`` realised loss and the original budget.
        relaxed_groups: budget groups whose budget was relaxed to the minimum loss.
        capacity_used / capacities / relaxed_capacity_groups: same for capacity (or None).
        requested_solver: the ``solver`` argument.
        group_labels: names of the budget groups.
    """

    model_id: str
    choice: np.ndarray
    solver: str
    status: str
    objective: float
    mip_gap: float
    solve_time_s: float
    total_time_s: float
    n_variables: int
    n_constraints: int
    n_variables_original: int
    n_constraints_original: int
    fallback_reason: str | None
    group_loss: np.ndarray
    group_budget: np.ndarray
    relaxed_groups: tuple[int, ...] = ()
    capacity_used: np.ndarray | None = None
    capacities: np.ndarray | None = None
    relaxed_capacity_groups: tuple[int, ...] = ()
    requested_solver: str = "auto"
    group_labels: tuple[str, ...] = field(default_factory=tuple)

    @property
    def n_items(self) -> int:
        return int(self.choice.shape[0])

    def to_record(self) -> dict[str, Any]:
        """One flat row of scalars (str / int / float / None) for a log table."""
        finite = np.isfinite(self.group_budget)
        util = self.group_loss[finite] / np.where(self.group_budget[finite] > 0, self.group_budget[finite], np.nan)
        return {
            "model_id": self.model_id,
            "requested_solver": self.requested_solver,
            "solver": self.solver,
            "status": self.status,
            "objective": float(self.objective),
            "mip_gap": float(self.mip_gap),
            "solve_time_s": float(self.solve_time_s),
            "total_time_s": float(self.total_time_s),
            "n_items": self.n_items,
            "n_variables": int(self.n_variables),
            "n_constraints": int(self.n_constraints),
            "n_variables_original": int(self.n_variables_original),
            "n_constraints_original": int(self.n_constraints_original),
            "n_groups": int(self.group_budget.shape[0]),
            "n_groups_relaxed": len(self.relaxed_groups),
            "relaxed_groups": ",".join(
                self.group_labels[g] if self.group_labels else str(g) for g in self.relaxed_groups
            )
            or None,
            "n_capacity_groups_relaxed": len(self.relaxed_capacity_groups),
            "total_loss": float(self.group_loss.sum()),
            "total_budget": float(self.group_budget[finite].sum()) if finite.any() else None,
            "max_budget_utilisation": float(np.nanmax(util)) if util.size and np.any(np.isfinite(util)) else None,
            "fallback_reason": self.fallback_reason,
        }

    def group_records(self) -> list[dict[str, Any]]:
        """One row per budget group: realised loss, budget and whether it was relaxed."""
        relaxed = set(self.relaxed_groups)
        return [
            {
                "model_id": self.model_id,
                "group": g,
                "group_label": self.group_labels[g] if self.group_labels else str(g),
                "loss": float(self.group_loss[g]),
                "budget": float(self.group_budget[g]),
                "relaxed": g in relaxed,
            }
            for g in range(self.group_budget.shape[0])
        ]


# --------------------------------------------------------------------------- helpers


def min_loss_choice(problem: MultipleChoiceProblem) -> np.ndarray:
    """Greedy choice: per item the allowed candidate of minimum loss, then minimum cost,
    then lowest index. It meets every budget that the model can meet at all."""
    loss = np.where(problem.allowed, problem.loss, np.inf)
    best = loss.min(axis=1, keepdims=True)
    tie_cost = np.where(problem.allowed & (loss == best), problem.cost, np.inf)
    return tie_cost.argmin(axis=1).astype(np.int64)


def _relax(
    values: np.ndarray, allowed: np.ndarray, index: np.ndarray, rhs: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Right-hand sides raised to the minimum achievable left-hand side where needed."""
    best = np.where(allowed, values, np.inf).min(axis=1)
    minimum = np.bincount(index, weights=best, minlength=rhs.shape[0])
    scale = np.abs(np.where(np.isfinite(rhs), rhs, 0.0))
    bad = minimum > rhs + _FEAS_RTOL * np.maximum(1.0, scale)
    out = rhs.copy()
    out[bad] = minimum[bad] + _FEAS_RTOL * np.maximum(1.0, np.abs(minimum[bad]))
    return out, bad, minimum


@dataclass
class _Compiled:
    """Solver input in matrix form: x[m] binaries, rows A x (=|<=) rhs."""

    item: np.ndarray  # [m] item of each variable
    cand: np.ndarray  # [m] original candidate index of each variable
    cost: np.ndarray  # [m]
    a_eq: sp.csr_matrix  # [n, m] assignment rows (== 1)
    a_le: sp.csr_matrix  # [r, m] budget + capacity rows (<= rhs_le)
    rhs_le: np.ndarray  # [r]

    @property
    def n_variables(self) -> int:
        return int(self.item.shape[0])

    @property
    def n_constraints(self) -> int:
        return int(self.a_eq.shape[0] + self.a_le.shape[0])


def _compile(
    problem: MultipleChoiceProblem,
    red: Reduction,
    budgets: np.ndarray,
    capacities: np.ndarray | None,
) -> _Compiled:
    item, cand = np.nonzero(red.keep)  # item-major, candidate ascending: deterministic
    m = item.shape[0]
    n = problem.n_items
    cols = np.arange(m)
    a_eq = sp.csr_matrix((np.ones(m), (item, cols)), shape=(n, m))

    rows, vals, col_idx, rhs = [], [], [], []
    offset = 0
    for values, index, keep_rows, b in (
        (problem.loss, problem.group, red.budget_rows, budgets),
        (problem.volume, problem.capacity_group, red.capacity_rows, capacities),
    ):
        if values is None or not keep_rows.any():
            continue
        row_of = np.full(keep_rows.shape[0], -1, dtype=np.int64)
        row_of[keep_rows] = offset + np.arange(int(keep_rows.sum()))
        r = row_of[index[item]]
        v = values[item, cand]
        sel = (r >= 0) & (v != 0.0)
        rows.append(r[sel])
        vals.append(v[sel])
        col_idx.append(cols[sel])
        rhs.append(b[keep_rows])
        offset += int(keep_rows.sum())
    if offset:
        a_le = sp.csr_matrix(
            (np.concatenate(vals), (np.concatenate(rows), np.concatenate(col_idx))),
            shape=(offset, m),
        )
        rhs_le = np.concatenate(rhs)
    else:
        a_le = sp.csr_matrix((0, m))
        rhs_le = np.zeros(0)
    return _Compiled(
        item=item,
        cand=cand,
        cost=problem.cost[item, cand],
        a_eq=a_eq,
        a_le=a_le,
        rhs_le=rhs_le,
    )


def _decode(comp: _Compiled, x: np.ndarray, n: int, k: int) -> np.ndarray:
    """Candidate with the largest x value per item (x is 0/1 up to tolerances)."""
    dense = np.full((n, k), -np.inf)
    dense[comp.item, comp.cand] = x
    return dense.argmax(axis=1).astype(np.int64)


@dataclass
class _BackendOut:
    status: str
    x: np.ndarray | None  # None when no incumbent
    mip_gap: float
    solve_time_s: float


@dataclass
class _Options:
    """Arguments of :func:`solve` shared by the backends."""

    solver: str
    time_limit: float | None
    mip_gap: float
    threads: int
    seed: int
    size_limit: int | None
    licence: GurobiLicence
    log: logging.Logger


# --------------------------------------------------------------------------- gurobi


_GUROBI_STATUS = {
    2: "optimal",  # OPTIMAL
    3: "infeasible",  # INFEASIBLE
    4: "infeasible",  # INF_OR_UNBD (cannot be unbounded: all variables are bounded)
    5: "unbounded",
    7: "iteration_limit",
    8: "node_limit",
    9: "time_limit",
    10: "solution_limit",
    11: "interrupted",
    12: "numeric",
    13: "suboptimal",
    16: "work_limit",
    17: "memory_limit",
}


def _gurobi_env(gp: Any, licence: GurobiLicence) -> Any:
    """A started ``gurobipy.Env``; a licence file is set as ``GRB_LICENSE_FILE`` meanwhile."""
    # OutputFlag first: Gurobi applies the parameters in order, so nothing (licence
    # banner, "Set parameter ..." lines) is printed while the licence ones are set.
    params: dict[str, Any] = {"OutputFlag": 0}
    licence_file = None
    for key, value in licence.env_params().items():
        if key == _LICENCE_FILE:
            licence_file = value
        else:
            params[key] = value
    if licence_file is None:
        return gp.Env(params=params)
    previous = os.environ.get("GRB_LICENSE_FILE")
    os.environ["GRB_LICENSE_FILE"] = licence_file
    try:
        return gp.Env(params=params)
    finally:
        if previous is None:
            os.environ.pop("GRB_LICENSE_FILE", None)
        else:
            os.environ["GRB_LICENSE_FILE"] = previous


def _import_gurobipy() -> Any:
    import gurobipy  # noqa: PLC0415 - optional backend, imported on use

    return gurobipy


def _solve_gurobi(gp: Any, comp: _Compiled, model_id: str, opt: _Options) -> _BackendOut:
    with (
        _gurobi_env(gp, opt.licence) as env,
        gp.Model(model_id[:200] or "orpr", env=env) as model,
    ):
        model.Params.Threads = opt.threads
        model.Params.Seed = opt.seed
        model.Params.MIPGap = opt.mip_gap
        if opt.time_limit is not None:
            model.Params.TimeLimit = opt.time_limit
        x = model.addMVar(
            comp.n_variables,
            lb=0.0,
            ub=1.0,
            obj=comp.cost,
            vtype=gp.GRB.BINARY,
            name="x",
        )
        model.ModelSense = gp.GRB.MINIMIZE
        model.addMConstr(comp.a_eq, x, "=", np.ones(comp.a_eq.shape[0]), name="assign")
        if comp.a_le.shape[0]:
            model.addMConstr(comp.a_le, x, "<", comp.rhs_le, name="budget")
        t0 = time.perf_counter()
        model.optimize()
        elapsed = time.perf_counter() - t0
        code = int(model.Status)
        status = _GUROBI_STATUS.get(code, f"gurobi_status_{code}")
        if model.SolCount > 0:
            values = np.asarray(x.X, dtype=np.float64)
            gap = float(model.MIPGap)
        else:
            values, gap = None, math.nan
    return _BackendOut(status=status, x=values, mip_gap=gap, solve_time_s=elapsed)


# --------------------------------------------------------------------------- highs


def _highs_status(highspy: Any, status: Any) -> str:
    ms = highspy.HighsModelStatus
    table = {
        ms.kOptimal: "optimal",
        ms.kInfeasible: "infeasible",
        ms.kUnboundedOrInfeasible: "infeasible",
        ms.kUnbounded: "unbounded",
        ms.kTimeLimit: "time_limit",
        ms.kIterationLimit: "iteration_limit",
        ms.kSolutionLimit: "solution_limit",
        ms.kInterrupt: "interrupted",
        ms.kMemoryLimit: "memory_limit",
        ms.kObjectiveBound: "objective_bound",
        ms.kObjectiveTarget: "objective_target",
        ms.kModelEmpty: "optimal",
    }
    return table.get(status, "error")


def _solve_highs(comp: _Compiled, opt: _Options) -> _BackendOut:
    import highspy  # noqa: PLC0415

    m = comp.n_variables
    n_eq, n_le = comp.a_eq.shape[0], comp.a_le.shape[0]
    a = sp.vstack([comp.a_eq, comp.a_le], format="csc")
    a.sort_indices()

    h = highspy.Highs()
    for name, value in (
        ("output_flag", False),
        ("threads", opt.threads),
        ("random_seed", opt.seed),
        ("mip_rel_gap", opt.mip_gap),
        ("time_limit", math.inf if opt.time_limit is None else float(opt.time_limit)),
    ):
        h.setOptionValue(name, value)

    lp = highspy.HighsLp()
    lp.num_col_ = m
    lp.num_row_ = n_eq + n_le
    lp.sense_ = highspy.ObjSense.kMinimize
    lp.col_cost_ = comp.cost
    lp.col_lower_ = np.zeros(m)
    lp.col_upper_ = np.ones(m)
    lp.row_lower_ = np.concatenate([np.ones(n_eq), np.full(n_le, -highspy.kHighsInf)])
    lp.row_upper_ = np.concatenate([np.ones(n_eq), comp.rhs_le])
    lp.a_matrix_.format_ = highspy.MatrixFormat.kColwise
    lp.a_matrix_.num_col_ = m
    lp.a_matrix_.num_row_ = n_eq + n_le
    lp.a_matrix_.start_ = a.indptr.astype(np.int32)
    lp.a_matrix_.index_ = a.indices.astype(np.int32)
    lp.a_matrix_.value_ = a.data.astype(np.float64)
    status = h.passModel(lp)
    if status == highspy.HighsStatus.kError:
        raise OptimizationError("HiGHS rejected the model (passModel returned kError)")
    h.changeColsIntegrality(m, np.arange(m, dtype=np.int32), np.ones(m, dtype=np.uint8))

    t0 = time.perf_counter()
    h.run()
    elapsed = time.perf_counter() - t0
    model_status = h.getModelStatus()
    info = h.getInfo()
    has_solution = int(info.primal_solution_status) == int(highspy.SolutionStatus.kSolutionStatusFeasible)
    if has_solution:
        values = np.asarray(h.getSolution().col_value, dtype=np.float64)
        gap = float(info.mip_gap)
    else:
        values, gap = None, math.nan
    return _BackendOut(
        status=_highs_status(highspy, model_status),
        x=values,
        mip_gap=gap,
        solve_time_s=elapsed,
    )


# --------------------------------------------------------------------------- solve


def _size_reason(n_vars: int, n_rows: int, limit: int) -> str | None:
    parts = []
    if n_vars > limit:
        parts.append(f"{n_vars} variables > {limit}")
    if n_rows > limit:
        parts.append(f"{n_rows} linear constraints > {limit}")
    if not parts:
        return None
    return f"model has {' and '.join(parts)} allowed by the size-limited Gurobi licence"


@dataclass
class _Relaxed:
    budgets: np.ndarray
    groups: tuple[int, ...]
    capacities: np.ndarray | None
    capacity_groups: tuple[int, ...]


def _relax_infeasible_rows(problem: MultipleChoiceProblem, log: logging.Logger, reasons: list[str]) -> _Relaxed:
    """Raise budgets / capacities that no choice can meet to their achievable minimum."""
    budgets, bad, minimum = _relax(problem.loss, problem.allowed, problem.group, problem.budgets)
    groups = tuple(int(g) for g in np.flatnonzero(bad))
    for g in groups:
        reasons.append(
            f"budget of {problem.group_labels[g]} is infeasible: minimum achievable loss "
            f"{minimum[g]:.6g} > budget {problem.budgets[g]:.6g}; relaxed to the minimum "
            "(min-loss candidates in that group)"
        )
        log.warning("model %s: %s", problem.model_id, reasons[-1])
    capacities, cap_groups = None, ()
    if problem.has_capacity:
        capacities, bad, minimum = _relax(problem.volume, problem.allowed, problem.capacity_group, problem.capacities)
        cap_groups = tuple(int(d) for d in np.flatnonzero(bad))
        for d in cap_groups:
            reasons.append(
                f"capacity of {problem.capacity_labels[d]} is infeasible: minimum achievable "
                f"volume {minimum[d]:.6g} > capacity {problem.capacities[d]:.6g}; relaxed to the minimum"
            )
            log.warning("model %s: %s", problem.model_id, reasons[-1])
    return _Relaxed(
        budgets=budgets,
        groups=groups,
        capacities=capacities,
        capacity_groups=cap_groups,
    )


def _full_model(problem: MultipleChoiceProblem, rel: _Relaxed) -> Reduction:
    """The model exactly as given: every allowed candidate, every finite row."""
    n_vars, n_rows = problem.size
    return Reduction(
        keep=problem.allowed.copy(),
        budget_rows=problem._budget_rows(rel.budgets),
        capacity_rows=problem._capacity_rows(rel.capacities),
        n_variables=n_vars,
        n_constraints=n_rows,
        n_dominated=0,
        n_redundant_rows=0,
    )


def _try_gurobi(
    problem: MultipleChoiceProblem, comp: _Compiled, opt: _Options, reasons: list[str]
) -> _BackendOut | None:
    """Gurobi result, or ``None`` (reason recorded) when ``auto`` must go to HiGHS."""
    forced = opt.solver == "gurobi"
    too_big = None if opt.size_limit is None else _size_reason(comp.n_variables, comp.n_constraints, opt.size_limit)
    if too_big is not None:
        if forced:
            raise GurobiSizeLimitError(
                f"model {problem.model_id!r}: {too_big} (limit {opt.size_limit} variables and "
                f"{opt.size_limit} linear constraints; after reduction {comp.n_variables} variables, "
                f"{comp.n_constraints} constraints). Use solver='highs' or solver='auto', "
                "or pass a full Gurobi licence (the gurobi credentials) with size_limit=None."
            )
        reasons.append(too_big)
        opt.log.warning("model %s: %s; solving with HiGHS", problem.model_id, too_big)
        return None
    try:
        gp = _import_gurobipy()
    except ImportError as err:
        if forced:
            raise GurobiUnavailableError(
                f"solver='gurobi' but gurobipy cannot be imported ({err}); use solver='highs' or 'auto'"
            ) from err
        reasons.append(f"gurobipy cannot be imported ({type(err).__name__}: {err})")
        opt.log.warning("model %s: %s; solving with HiGHS", problem.model_id, reasons[-1])
        return None
    try:
        return _solve_gurobi(gp, comp, problem.model_id, opt)
    except gp.GurobiError as err:
        # licence errors can quote what they were given: never log or record a secret
        reason = opt.licence.mask(f"GurobiError {err.errno}: {err.message}")
        if forced and err.errno == 10010:
            raise GurobiSizeLimitError(
                f"model {problem.model_id!r} with {comp.n_variables} variables and "
                f"{comp.n_constraints} constraints was rejected by the Gurobi licence "
                f"({reason}). Use solver='highs' or solver='auto', or a full licence."
            ) from None
        if forced and err.errno == 10009:
            raise GurobiUnavailableError(f"no usable Gurobi licence ({reason}); use solver='highs' or 'auto'") from None
        if forced:
            raise GurobiUnavailableError(
                f"model {problem.model_id!r}: Gurobi failed ({reason}); use solver='highs' or 'auto'"
            ) from None
        reasons.append(reason)
        opt.log.warning("model %s: %s; solving with HiGHS", problem.model_id, reason)
        return None


def _fallback_reason(used: str, status: str, time_limit: float | None) -> str:
    if status == "infeasible":
        return (
            f"{used} proved the model infeasible (budget and capacity constraints jointly); "
            "returned the min-loss choice per item"
        )
    if status == "time_limit":
        return (
            f"{used} hit the time limit of {time_limit} s without a feasible solution; "
            "returned the greedy min-loss choice per item"
        )
    return f"{used} ended with status {status!r} and no solution; returned the min-loss choice per item"


def solve(
    problem: MultipleChoiceProblem,
    solver: str = "auto",
    time_limit: float | None = 60.0,
    mip_gap: float = 1e-4,
    threads: int = 1,
    *,
    seed: int = 0,
    reduce: bool = True,
    size_limit: int | None = GUROBI_SIZE_LIMIT,
    licence: GurobiLicence | Mapping[str, Any] | None = None,
    log: logging.Logger | None = None,
) -> SolveResult:
    """Solve the multiple-choice model; see the module docstring for the fallbacks.

    Args:
        problem: the model data.
        solver: ``"auto"`` (Gurobi when it fits and works, else HiGHS), ``"gurobi"``
            (no fallback, errors raise) or ``"highs"``.
        time_limit: seconds per backend call (``None`` = no limit).
        mip_gap: relative MIP gap (Gurobi ``MIPGap``, HiGHS ``mip_rel_gap``).
        threads: solver threads (1 keeps runs deterministic and cheap).
        seed: solver random seed (Gurobi ``Seed``, HiGHS ``random_seed``).
        reduce: drop dominated candidates and redundant rows before solving.
        size_limit: most variables / linear constraints Gurobi may receive (2000 for the
            pip licence); ``None`` = unlimited (a full licence).
        licence: Gurobi licence parameters (:class:`GurobiLicence`, or a mapping it is
            built from, e.g. ``{"WLSAccessID": ..., "WLSSecret": ..., "LicenseID": ...}``
            or ``{"LicenseFile": "/opt/gurobi/gurobi.lic"}``); ``None`` = gurobipy's own
            licence search (the size-limited pip licence by default).
        log: logger to use (default ``orpr_kedro.core.optimization.model``).

    Raises:
        ValueError: unknown solver or bad option values.
        GurobiSizeLimitError: ``solver="gurobi"`` on a model over ``size_limit`` or
            rejected by the licence (GurobiError 10010).
        GurobiUnavailableError: ``solver="gurobi"`` without gurobipy or licence (10009),
            or any other Gurobi error (a WLS network error 10022, ...); the message is
            masked with :meth:`GurobiLicence.mask`.
    """
    t_start = time.perf_counter()
    if solver not in _SOLVERS:
        raise ValueError(f"solver must be one of {_SOLVERS}, got {solver!r}")
    if time_limit is not None and not time_limit >= 0:
        raise ValueError(f"time_limit must be >= 0 seconds or None, got {time_limit}")
    if not mip_gap >= 0:
        raise ValueError(f"mip_gap must be >= 0, got {mip_gap}")
    if size_limit is not None and size_limit < 0:
        raise ValueError(f"size_limit must be >= 0 or None, got {size_limit}")
    opt = _Options(
        solver=solver,
        time_limit=time_limit,
        mip_gap=float(mip_gap),
        threads=int(threads),
        seed=int(seed),
        size_limit=size_limit,
        licence=licence if isinstance(licence, GurobiLicence) else GurobiLicence(licence or {}),
        log=log or logger,
    )
    reasons: list[str] = []

    # 1. relaxation of impossible rows, reduction, vectorised matrix build.
    rel = _relax_infeasible_rows(problem, opt.log, reasons)
    red = reduce_problem(problem, rel.budgets, rel.capacities) if reduce else _full_model(problem, rel)
    comp = _compile(problem, red, rel.budgets, rel.capacities)

    # 2. backend.
    out = _try_gurobi(problem, comp, opt, reasons) if solver != "highs" else None
    used = "gurobi" if out is not None else "highs"
    if out is None:
        out = _solve_highs(comp, opt)

    # 3. decode, or the greedy fallback when there is no solution.
    status, gap = out.status, out.mip_gap
    if out.x is not None and status not in ("infeasible", "unbounded"):
        choice = _decode(comp, out.x, problem.n_items, problem.n_candidates)
        if not problem.is_feasible(choice, rel.budgets, rel.capacities):
            opt.log.warning(
                "model %s: %s returned a choice that violates a constraint beyond tolerance",
                problem.model_id,
                used,
            )
    else:
        choice = min_loss_choice(problem)
        reasons.append(_fallback_reason(used, status, time_limit))
        opt.log.warning("model %s: %s", problem.model_id, reasons[-1])
        used, gap = "fallback_min_loss", math.nan
    if status == "optimal" and rel.groups:
        status = "infeasible_budget_relaxed"
    elif status == "optimal" and rel.capacity_groups:
        status = "infeasible_capacity_relaxed"

    objective, group_loss, cap_used = problem.evaluate(choice)
    orig_vars, orig_rows = problem.size
    result = SolveResult(
        model_id=problem.model_id,
        choice=choice,
        solver=used,
        status=status,
        objective=objective,
        mip_gap=gap,
        solve_time_s=out.solve_time_s,
        total_time_s=time.perf_counter() - t_start,
        n_variables=comp.n_variables,
        n_constraints=comp.n_constraints,
        n_variables_original=orig_vars,
        n_constraints_original=orig_rows,
        fallback_reason="; ".join(reasons) if reasons else None,
        group_loss=group_loss,
        group_budget=problem.budgets.copy(),
        relaxed_groups=rel.groups,
        capacity_used=cap_used,
        capacities=None if problem.capacities is None else problem.capacities.copy(),
        relaxed_capacity_groups=rel.capacity_groups,
        requested_solver=solver,
        group_labels=problem.group_labels,
    )
    opt.log.info(
        "solve model=%s solver=%s size=%dx%d (original %dx%d) status=%s objective=%.6g gap=%.3g time=%.3fs total=%.3fs",
        problem.model_id,
        result.solver,
        result.n_variables,
        result.n_constraints,
        orig_vars,
        orig_rows,
        result.status,
        result.objective,
        result.mip_gap,
        result.solve_time_s,
        result.total_time_s,
    )
    return result


# --------------------------------------------------------------------------- brute force


def brute_force(
    problem: MultipleChoiceProblem,
    atol: float = 1e-9,
    max_combinations: int = 2_000_000,
) -> tuple[float, np.ndarray | None]:
    """Enumerate every combination of allowed candidates (tiny instances only).

    Returns ``(objective, choice)`` of the cheapest feasible combination, the first one
    in lexicographic order among ties, or ``(inf, None)`` when none is feasible.
    """
    options = [np.flatnonzero(row) for row in problem.allowed]
    total = math.prod(len(o) for o in options)
    if total > max_combinations:
        raise ValueError(f"brute_force would enumerate {total} combinations > {max_combinations}")
    combos = np.array(list(itertools.product(*options)), dtype=np.int64)  # [C, n]
    rows = np.arange(problem.n_items)
    cost = problem.cost[rows, combos].sum(axis=1)
    feasible = np.ones(combos.shape[0], dtype=bool)
    loss = problem.loss[rows, combos]
    for g in range(problem.n_groups):
        if np.isfinite(problem.budgets[g]):
            feasible &= loss[:, problem.group == g].sum(axis=1) <= problem.budgets[g] + atol
    if problem.has_capacity:
        vol = problem.volume[rows, combos]
        for d in range(problem.capacities.shape[0]):
            if np.isfinite(problem.capacities[d]):
                feasible &= vol[:, problem.capacity_group == d].sum(axis=1) <= problem.capacities[d] + atol
    if not feasible.any():
        return math.inf, None
    masked = np.where(feasible, cost, np.inf)
    best = int(np.argmin(masked))
    return float(cost[best]), combos[best].copy()
