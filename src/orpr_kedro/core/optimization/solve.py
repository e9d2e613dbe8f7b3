"""Solving a multiple-choice model: relaxation of impossible rows, reduction, backend choice.

:func:`solve` reduces the model (dominated candidates, redundant rows), picks a
backend (Gurobi within its licence size limit, HiGHS otherwise) and always returns a
:class:`~orpr_kedro.core.optimization.result.SolveResult` unless a *forced* backend
cannot run. :func:`min_loss_choice` is the greedy choice used by every fallback.

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
  ``"time_limit"``), with a DEBUG line naming the group; ``relaxed_groups`` and
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

Logging
-------
One DEBUG line per model (size, status, time), and the relaxations and
fallbacks of that model at DEBUG too: a stage that solves hundreds of models
summarises them with :func:`orpr_kedro.core.optimization.summary.log_solve_summary`.

"""

from __future__ import annotations

import logging
import math
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from orpr_kedro.core.optimization.backend import _BackendOut, _compile, _Compiled, _decode, _Options
from orpr_kedro.core.optimization.errors import GurobiSizeLimitError, GurobiUnavailableError
from orpr_kedro.core.optimization.gurobi import _import_gurobipy, _solve_gurobi
from orpr_kedro.core.optimization.highs import _solve_highs
from orpr_kedro.core.optimization.licence import GurobiLicence
from orpr_kedro.core.optimization.problem import _FEAS_RTOL, MultipleChoiceProblem
from orpr_kedro.core.optimization.reduction import Reduction, reduce_problem
from orpr_kedro.core.optimization.result import SolveResult

logger = logging.getLogger(__name__)

#: Variables / linear constraints allowed by the size-limited pip licence of gurobipy.
GUROBI_SIZE_LIMIT = 2000

_SOLVERS = ("auto", "gurobi", "highs")


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
        log.debug("model %s: %s", problem.model_id, reasons[-1])
    capacities: np.ndarray | None = None
    cap_groups: tuple[int, ...] = ()
    cap = problem.capacity()
    if cap is not None:
        capacities, bad, minimum = _relax(cap.volume, problem.allowed, cap.group, cap.limits)
        cap_groups = tuple(int(d) for d in np.flatnonzero(bad))
        for d in cap_groups:
            reasons.append(
                f"capacity of {cap.labels[d]} is infeasible: minimum achievable "
                f"volume {minimum[d]:.6g} > capacity {cap.limits[d]:.6g}; relaxed to the minimum"
            )
            log.debug("model %s: %s", problem.model_id, reasons[-1])
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
        opt.log.debug("model %s: %s; solving with HiGHS", problem.model_id, too_big)
        return None
    try:
        gp = _import_gurobipy()
    except ImportError as err:
        if forced:
            raise GurobiUnavailableError(
                f"solver='gurobi' but gurobipy cannot be imported ({err}); use solver='highs' or 'auto'"
            ) from err
        reasons.append(f"gurobipy cannot be imported ({type(err).__name__}: {err})")
        opt.log.debug("model %s: %s; solving with HiGHS", problem.model_id, reasons[-1])
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
        opt.log.debug("model %s: %s; solving with HiGHS", problem.model_id, reason)
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
        log: logger to use (default ``orpr_kedro.core.optimization.solve``).

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
        opt.log.debug("model %s: %s", problem.model_id, reasons[-1])
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
    opt.log.debug(
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
