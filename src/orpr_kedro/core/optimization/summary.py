"""One console line for the many solves of a stage, from its solver log.

A stage (OR labeling, the evaluation's OR policy) solves one model per category and
decision date, hundreds on the demo. :func:`~orpr_kedro.core.optimization.solve.solve`
logs each model at DEBUG; :func:`log_solve_summary` reads the stage's solver log (the
rows of :meth:`~orpr_kedro.core.optimization.result.SolveResult.to_record`) and logs

* one INFO line: models, decision dates, models per solver, budgets relaxed, time;
* one WARNING line when budgets (or capacities) had to be relaxed, by group;
* one WARNING line when models fell back from Gurobi to HiGHS or to the greedy
  min-loss choice, by reason.

The per-model reasons stay in the log's ``fallback_reason`` column.
"""

from __future__ import annotations

import logging
import re
from collections import Counter
from dataclasses import dataclass

import pandas as pd

__all__ = ["SolveSummary", "log_solve_summary", "summarise_solves"]

_SOLVER_NAMES = {"gurobi": "Gurobi", "highs": "HiGHS", "fallback_min_loss": "min-loss fallback"}
_GUROBI_ERROR = re.compile(r"GurobiError (\d+)")


@dataclass(frozen=True)
class SolveSummary:
    """Counts over a solver log.

    Attributes:
        n_models: rows of the log (one per solved model).
        n_dates: distinct decision dates (0 when the log has no ``decision_date``).
        by_solver: models per solver that produced the choice, in log order.
        n_budgets_relaxed / n_capacities_relaxed: groups relaxed to their achievable minimum.
        relaxed_by_group: relaxed budgets per group label.
        n_to_highs: models that asked for Gurobi (``auto`` or ``gurobi``) and were solved by HiGHS.
        n_min_loss: models that got the greedy min-loss choice (no solver solution).
        fallback_causes: causes of the two fallbacks above, counted.
        solver_time_s: sum of the models' ``total_time_s``.
    """

    n_models: int
    n_dates: int
    by_solver: dict[str, int]
    n_budgets_relaxed: int
    n_capacities_relaxed: int
    relaxed_by_group: dict[str, int]
    n_to_highs: int
    n_min_loss: int
    fallback_causes: dict[str, int]
    solver_time_s: float


def _cause(reason: object) -> str:
    """Short cause of a Gurobi fallback from its recorded reason."""
    text = str(reason) if isinstance(reason, str) else ""
    if "size-limited Gurobi licence" in text:
        return "over the Gurobi size limit"
    if "gurobipy cannot be imported" in text:
        return "gurobipy not importable"
    error = _GUROBI_ERROR.search(text)
    if error:
        return f"GurobiError {error.group(1)}"
    if "time limit" in text:
        return "time limit without a solution"
    if "infeasible" in text:
        return "infeasible"
    return "other"


def summarise_solves(solver_log: pd.DataFrame) -> SolveSummary:
    """Counts of a solver log (columns of :meth:`SolveResult.to_record`)."""
    if len(solver_log) == 0:
        return SolveSummary(0, 0, {}, 0, 0, {}, 0, 0, {}, 0.0)
    solver = solver_log["solver"].astype(str)
    requested = solver_log["requested_solver"].astype(str)
    to_highs = (requested != "highs") & (solver == "highs")
    min_loss = solver == "fallback_min_loss"
    causes = Counter(_cause(reason) for reason in solver_log.loc[to_highs | min_loss, "fallback_reason"])
    relaxed: Counter[str] = Counter()
    for groups in solver_log["relaxed_groups"].dropna():
        relaxed.update(str(groups).split(","))
    n_dates = int(solver_log["decision_date"].nunique()) if "decision_date" in solver_log else 0
    return SolveSummary(
        n_models=len(solver_log),
        n_dates=n_dates,
        by_solver={str(name): int(count) for name, count in solver.value_counts(sort=False).items()},
        n_budgets_relaxed=int(solver_log["n_groups_relaxed"].sum()),
        n_capacities_relaxed=int(solver_log["n_capacity_groups_relaxed"].sum()),
        relaxed_by_group=dict(sorted(relaxed.items())),
        n_to_highs=int(to_highs.sum()),
        n_min_loss=int(min_loss.sum()),
        fallback_causes=dict(causes.most_common()),
        solver_time_s=float(solver_log["total_time_s"].sum()),
    )


def _counts(counts: dict[str, int]) -> str:
    return ", ".join(f"{count} {name}" for name, count in counts.items())


def log_solve_summary(
    stage: str,
    solver_log: pd.DataFrame,
    log: logging.Logger,
    *,
    elapsed_s: float | None = None,
    licence_kind: str | None = None,
) -> SolveSummary:
    """Log the summary lines of a stage's solves (see the module docstring); return the counts.

    ``elapsed_s``: the stage's wall time; without it the line gives the time spent in
    :func:`solve`. ``licence_kind``: named after the Gurobi count (``pip``, ``wls``, ...).
    """
    summary = summarise_solves(solver_log)
    solvers = {_SOLVER_NAMES.get(name, name): count for name, count in summary.by_solver.items()}
    licence = f", {licence_kind} licence" if licence_kind else ""
    dates = f" on {summary.n_dates} decision dates" if summary.n_dates else ""
    timing = f"{elapsed_s:.1f} s" if elapsed_s is not None else f"{summary.solver_time_s:.1f} s solving"
    log.info(
        "%s: %d models%s (%s%s), %d budgets relaxed, %s",
        stage,
        summary.n_models,
        dates,
        _counts(solvers) or "none solved",
        licence,
        summary.n_budgets_relaxed,
        timing,
    )
    if summary.n_budgets_relaxed or summary.n_capacities_relaxed:
        capacities = (
            f" and {summary.n_capacities_relaxed} DC capacities or in-stock floors"
            if summary.n_capacities_relaxed
            else ""
        )
        log.warning(
            "%s: %d lost-sales budgets%s could not be met by any choice and were relaxed to the "
            "least achievable loss (%s); the solver log's relaxed_groups names each model",
            stage,
            summary.n_budgets_relaxed,
            capacities,
            _counts(summary.relaxed_by_group) or "no budget group",
        )
    if summary.n_to_highs or summary.n_min_loss:
        log.warning(
            "%s: %d of %d models fell back from Gurobi to HiGHS and %d to the min-loss choice (%s); "
            "the solver log's fallback_reason has each reason",
            stage,
            summary.n_to_highs,
            summary.n_models,
            summary.n_min_loss,
            _counts(summary.fallback_causes),
        )
    return summary
