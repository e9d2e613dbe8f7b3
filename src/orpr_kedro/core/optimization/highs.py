"""The HiGHS backend (highspy): the model passed column-wise, ``random_seed`` and ``threads`` fixed."""

from __future__ import annotations

import math
import time
from typing import Any

import numpy as np
import scipy.sparse as sp

from orpr_kedro.core.optimization.backend import _BackendOut, _Compiled, _Options
from orpr_kedro.core.optimization.errors import OptimizationError


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
