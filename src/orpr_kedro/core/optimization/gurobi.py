"""The Gurobi backend: an environment per solve, started with the configured licence.

Gurobi runs with ``Seed`` and ``Threads`` fixed and prints nothing (``OutputFlag`` 0).
"""

from __future__ import annotations

import math
import os
import time
from typing import Any

import numpy as np

from orpr_kedro.core.optimization.backend import _BackendOut, _Compiled, _Options
from orpr_kedro.core.optimization.licence import _LICENCE_FILE, GurobiLicence

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
