"""What every solver backend shares: the model in matrix form, its decoding, the options.

Variables are ordered item-major then candidate index, so the same problem always
gives the same matrix.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp

from orpr_kedro.core.optimization.licence import GurobiLicence
from orpr_kedro.core.optimization.problem import MultipleChoiceProblem
from orpr_kedro.core.optimization.reduction import Reduction


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
    blocks = [(problem.loss, problem.group, red.budget_rows, budgets)]
    cap = problem.capacity()
    if cap is not None and capacities is not None:
        blocks.append((cap.volume, cap.group, red.capacity_rows, capacities))
    for values, index, keep_rows, b in blocks:
        if not keep_rows.any():
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
