"""The outcome of one solve, with flat records for the solver log."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


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
