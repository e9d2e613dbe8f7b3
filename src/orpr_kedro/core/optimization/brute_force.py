"""Exhaustive enumeration of tiny multiple-choice models: the reference the solvers are tested against."""

from __future__ import annotations

import itertools
import math

import numpy as np

from orpr_kedro.core.optimization.problem import MultipleChoiceProblem


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
    cap = problem.capacity()
    if cap is not None:
        vol = cap.volume[rows, combos]
        for d in range(cap.limits.shape[0]):
            if np.isfinite(cap.limits[d]):
                feasible &= vol[:, cap.group == d].sum(axis=1) <= cap.limits[d] + atol
    if not feasible.any():
        return math.inf, None
    masked = np.where(feasible, cost, np.inf)
    best = int(np.argmin(masked))
    return float(cost[best]), combos[best].copy()
