"""Reduction of a multiple-choice model before solving: dominated candidates and redundant rows.

Among candidates with identical (cost, loss, volume) the reduction keeps the lowest
index, so the reduced model is deterministic.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from orpr_kedro.core.optimization.problem import MultipleChoiceProblem

# Elements of the [items, K, K] comparison tensor processed at once by the reduction.
_DOMINANCE_CHUNK = 4_000_000


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
    cap = problem.capacity()
    n_redundant = int(problem._budget_rows(b).sum() - budget_rows.sum())
    if cap is not None:
        c = cap.limits if capacities is None else np.asarray(capacities, dtype=np.float64)
        capacity_rows = problem._capacity_rows(c)
        capacity_rows = capacity_rows & ~_redundant(cap.volume, problem.allowed, cap.group, c, capacity_rows)
        n_redundant += int(problem._capacity_rows(c).sum() - capacity_rows.sum())
    else:
        capacity_rows = np.zeros(0, dtype=bool)

    allowed = problem.allowed
    if dominance:
        dims = [problem.cost]
        loss_on = budget_rows[problem.group]
        if loss_on.any():
            dims.append(np.where(loss_on[:, None], problem.loss, 0.0))
        if cap is not None:
            vol_on = capacity_rows[cap.group]
            if vol_on.any():
                dims.append(np.where(vol_on[:, None], cap.volume, 0.0))
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
