"""Tests of the solver in orpr_kedro.core.optimization with the real gurobipy (pip size-limited
licence) and the real highspy; no solver is mocked."""

from __future__ import annotations

import json
import logging
import math
import os
import sys

import gurobipy as gp
import numpy as np
import pytest

from orpr_kedro.core.optimization import (
    GUROBI_SIZE_LIMIT,
    GurobiLicence,
    GurobiSizeLimitError,
    GurobiUnavailableError,
    MultipleChoiceProblem,
    SolveResult,
    brute_force,
    min_loss_choice,
    reduce_problem,
    solve,
)

LOGGER = "orpr_kedro.core.optimization.solve"
SOLVERS = ("gurobi", "highs")


# --------------------------------------------------------------------------- builders


def tiny_instance(rng: np.random.Generator, with_capacity: bool) -> MultipleChoiceProblem:
    """n<=5, K<=4, integer data (many ties), bands, budgets and sometimes capacities."""
    n = int(rng.integers(1, 6))
    k = int(rng.integers(1, 5))
    cost = rng.integers(0, 15, (n, k)).astype(float)
    loss = rng.integers(0, 15, (n, k)).astype(float)
    lo = rng.integers(0, k, n)
    hi = np.minimum(k - 1, lo + rng.integers(0, k, n))
    cols = np.arange(k)
    allowed = (cols >= lo[:, None]) & (cols <= hi[:, None])
    n_groups = int(rng.integers(1, 3))
    group = rng.integers(0, n_groups, n)
    lo_loss = np.bincount(group, np.where(allowed, loss, np.inf).min(1), minlength=n_groups)
    hi_loss = np.bincount(group, np.where(allowed, loss, -np.inf).max(1), minlength=n_groups)
    budgets = np.floor(lo_loss + rng.uniform(0, 1, n_groups) * (hi_loss - lo_loss))
    budgets[rng.uniform(size=n_groups) < 0.2] = np.inf
    kwargs = {}
    if with_capacity:
        n_dc = int(rng.integers(1, 3))
        dc = rng.integers(0, n_dc, n)
        volume = rng.integers(0, 10, (n, k)).astype(float)
        lo_v = np.bincount(dc, np.where(allowed, volume, np.inf).min(1), minlength=n_dc)
        hi_v = np.bincount(dc, np.where(allowed, volume, -np.inf).max(1), minlength=n_dc)
        kwargs = {
            "volume": volume,
            "capacity_group": dc,
            "capacities": np.floor(lo_v + rng.uniform(0.3, 1, n_dc) * (hi_v - lo_v)),
        }
    return MultipleChoiceProblem(
        cost=cost,
        loss=loss,
        allowed=allowed,
        group=group,
        budgets=budgets,
        model_id="tiny",
        **kwargs,
    )


def curve_instance(
    *,
    seed: int,
    n: int,
    k: int = 41,
    n_groups: int = 3,
    fill_rate: float = 0.97,
    loss_floor: float = 0.0,
    bands: bool = False,
    capacity: bool = False,
    model_id: str = "curves",
) -> MultipleChoiceProblem:
    """Shaped like simulated curves: cost increasing convex in v, loss decreasing convex.

    With ``loss_floor > 0`` the loss is cut at zero for large v, so those candidates
    have equal loss and higher cost: dominated.
    """
    rng = np.random.default_rng(seed)
    v = np.arange(k, dtype=float)
    demand = rng.uniform(5, 60, (n, 1))
    holding = rng.uniform(0.01, 0.05, (n, 1))
    price = rng.uniform(1, 6, (n, 1))
    tau = rng.uniform(2, 8, (n, 1))
    cost = holding * demand * (v + 0.02 * v**2)
    sales = price * demand * 28
    loss = np.maximum(0.0, sales * np.exp(-v / tau) - loss_floor * sales)
    group = rng.integers(0, n_groups, n)
    budgets = (1 - fill_rate) * np.bincount(group, sales[:, 0], minlength=n_groups)
    allowed = None
    if bands:
        lo = rng.integers(0, k // 7 + 1, n)
        hi = rng.integers(int(0.6 * k), k, n)
        allowed = (v[None, :] >= lo[:, None]) & (v[None, :] <= hi[:, None])
    kwargs = {}
    if capacity:
        dc = rng.integers(0, 2, n)
        volume = demand * v / 10.0
        kwargs = {
            "volume": volume,
            "capacity_group": dc,
            "capacities": 0.6 * np.bincount(dc, volume[:, -1], minlength=2),
        }
    return MultipleChoiceProblem(
        cost=cost,
        loss=loss,
        group=group,
        budgets=budgets,
        allowed=allowed,
        model_id=model_id,
        **kwargs,
    )


def assert_feasible(problem: MultipleChoiceProblem, result: SolveResult) -> None:
    assert result.choice.shape == (problem.n_items,)
    assert problem.is_feasible(result.choice), (result.choice, result.to_record())
    objective, _, _ = problem.evaluate(result.choice)
    assert result.objective == pytest.approx(objective)


@pytest.fixture(scope="module")
def pip_licence() -> None:
    """Skip tests that rely on the 2000-variable limit when a full licence is present."""
    with gp.Env(params={"OutputFlag": 0}) as env, gp.Model(env=env) as model:
        model.addMVar(GUROBI_SIZE_LIMIT + 1, vtype=gp.GRB.BINARY)
        try:
            model.optimize()
        except gp.GurobiError as err:
            if err.errno == 10010:
                return
            raise
    pytest.skip("the Gurobi licence here is not size-limited")


# --------------------------------------------------------------------------- problem


def test_problem_validation_messages():
    cost = np.ones((3, 4))
    with pytest.raises(ValueError, match=r"loss must have shape .*\[3, 4\].*got \[3, 5\]"):
        MultipleChoiceProblem(cost=cost, loss=np.ones((3, 5)), group=[0, 0, 0], budgets=[1.0])
    with pytest.raises(ValueError, match=r"group must be a 1-D array of shape \[n_items\] = \[3\]"):
        MultipleChoiceProblem(cost=cost, loss=cost, group=[0, 0], budgets=[1.0])
    with pytest.raises(ValueError, match=r"group values must lie in \[0, 1\)"):
        MultipleChoiceProblem(cost=cost, loss=cost, group=[0, 1, 0], budgets=[1.0])
    with pytest.raises(ValueError, match="budgets must be finite or \\+inf"):
        MultipleChoiceProblem(cost=cost, loss=cost, group=[0, 0, 0], budgets=[np.nan])
    with pytest.raises(ValueError, match="cost must be finite"):
        MultipleChoiceProblem(cost=np.full((3, 4), np.inf), loss=cost, group=[0, 0, 0], budgets=[1.0])
    allowed = np.ones((3, 4), dtype=bool)
    allowed[1] = False
    with pytest.raises(ValueError, match=r"no candidate for 1 item\(s\), e.g. item\(s\) \[1\]"):
        MultipleChoiceProblem(cost=cost, loss=cost, group=[0, 0, 0], budgets=[1.0], allowed=allowed)
    with pytest.raises(ValueError, match="volume, capacity_group and capacities must be given together"):
        MultipleChoiceProblem(cost=cost, loss=cost, group=[0, 0, 0], budgets=[1.0], volume=cost)
    with pytest.raises(ValueError, match=r"volume must have shape"):
        MultipleChoiceProblem(
            cost=cost,
            loss=cost,
            group=[0, 0, 0],
            budgets=[1.0],
            volume=np.ones((3, 3)),
            capacity_group=[0, 0, 0],
            capacities=[1.0],
        )


def test_problem_size_counts_allowed_variables_and_finite_rows():
    allowed = np.ones((4, 5), dtype=bool)
    allowed[0, :2] = False
    problem = MultipleChoiceProblem(
        cost=np.ones((4, 5)),
        loss=np.ones((4, 5)),
        allowed=allowed,
        group=[0, 0, 1, 1],
        budgets=[3.0, np.inf, 7.0],  # group 2 has no item
        volume=np.ones((4, 5)),
        capacity_group=[0, 1, 1, 1],
        capacities=[2.0, 9.0],
    )
    assert problem.size == (18, 4 + 1 + 2)


# --------------------------------------------------------------------------- correctness


@pytest.mark.parametrize("with_capacity", [False, True])
def test_matches_brute_force_on_tiny_random_instances(with_capacity):
    rng = np.random.default_rng(7 + with_capacity)
    checked = infeasible = 0
    for _ in range(40):
        problem = tiny_instance(rng, with_capacity)
        best, _ = brute_force(problem)
        for solver in SOLVERS:
            for reduce in (True, False):
                result = solve(problem, solver=solver, mip_gap=0.0, reduce=reduce)
                if math.isinf(best):
                    assert result.status == "infeasible"
                    assert result.solver == "fallback_min_loss"
                    np.testing.assert_array_equal(result.choice, min_loss_choice(problem))
                    continue
                assert result.status == "optimal", result.to_record()
                assert result.solver == solver
                assert result.objective == pytest.approx(best, abs=1e-6)
                assert_feasible(problem, result)
        checked += not math.isinf(best)
        infeasible += math.isinf(best)
    assert checked >= 25


@pytest.mark.parametrize("kwargs", [{}, {"bands": True, "capacity": True}])
def test_gurobi_and_highs_agree_on_medium_instances(kwargs):
    problem = curve_instance(seed=11, n=40, **kwargs)
    results = {s: solve(problem, solver=s, mip_gap=0.0, reduce=False) for s in SOLVERS}
    if not kwargs:
        assert results["gurobi"].n_variables == 40 * 41
    for solver, result in results.items():
        assert result.solver == solver
        assert result.status == "optimal"
        assert result.fallback_reason is None
        assert_feasible(problem, result)
    assert results["gurobi"].objective == pytest.approx(results["highs"].objective, rel=1e-7, abs=1e-5)


# --------------------------------------------------------------------------- reduction


def test_dominance_keeps_one_of_identical_candidates_and_drops_dominated():
    cost = np.array([[1.0, 2.0, 2.0, 2.0, 3.0, 0.5]])
    loss = np.array([[5.0, 4.0, 6.0, 4.0, 4.0, 9.0]])
    problem = MultipleChoiceProblem(cost=cost, loss=loss, group=[0], budgets=[5.0])
    red = reduce_problem(problem)
    # 2: dominated by 1 (same cost, more loss); 3: identical to 1 (higher index);
    # 4: dominated by 1 (more cost, same loss); 0, 1, 5 are Pareto optimal.
    np.testing.assert_array_equal(red.keep[0], [True, True, False, False, False, True])
    assert red.n_dominated == 3


def test_dominance_uses_only_active_dimensions_and_drops_redundant_rows():
    cost = np.array([[1.0, 2.0, 3.0], [1.0, 2.0, 3.0]])
    loss = np.array([[3.0, 2.0, 1.0], [3.0, 2.0, 1.0]])
    problem = MultipleChoiceProblem(cost=cost, loss=loss, group=[0, 1], budgets=[np.inf, 3.0])
    red = reduce_problem(problem)
    # item 0: no budget -> only the cheapest candidate matters; item 1: budget 3 >=
    # its worst loss -> redundant row, so the cheapest candidate again.
    np.testing.assert_array_equal(red.keep, [[True, False, False], [True, False, False]])
    assert red.n_redundant_rows == 1
    assert (red.n_variables, red.n_constraints) == (2, 2)


def test_dominance_reduction_keeps_optimum_and_reduces_size():
    problem = curve_instance(seed=5, n=60, loss_floor=0.01, bands=True, capacity=True)
    n_vars, _ = problem.size
    red = reduce_problem(problem)
    assert red.n_variables < n_vars
    assert red.keep[problem.allowed].sum() == red.n_variables and not red.keep[~problem.allowed].any()
    full = solve(problem, solver="highs", mip_gap=0.0, reduce=False)
    reduced = {s: solve(problem, solver=s, mip_gap=0.0, reduce=True, size_limit=None) for s in SOLVERS}
    for result in reduced.values():
        assert result.n_variables == red.n_variables < result.n_variables_original == n_vars
        assert result.objective == pytest.approx(full.objective, rel=1e-7, abs=1e-5)
        assert_feasible(problem, result)  # choice is in the original candidate indexing


def test_dominance_lets_an_oversize_model_fit_the_gurobi_licence():
    problem = curve_instance(seed=3, n=60, loss_floor=0.02)
    assert problem.size[0] == 2460
    result = solve(problem, mip_gap=0.0)
    assert result.n_variables <= GUROBI_SIZE_LIMIT
    assert result.solver == "gurobi" and result.fallback_reason is None
    highs = solve(problem, solver="highs", mip_gap=0.0, reduce=False)
    assert result.objective == pytest.approx(highs.objective, rel=1e-7, abs=1e-5)


# --------------------------------------------------------------------------- licence


def test_real_gurobipy_rejects_an_oversize_model_with_10010(pip_licence):
    problem = curve_instance(seed=1, n=60)
    with gp.Env(params={"OutputFlag": 0}) as env, gp.Model(env=env) as model:
        x = model.addMVar(problem.cost.shape, vtype=gp.GRB.BINARY, obj=problem.cost)
        model.addConstr(x.sum(axis=1) == 1)
        with pytest.raises(gp.GurobiError) as info:
            model.optimize()
    assert info.value.errno == 10010


def test_auto_goes_to_highs_before_touching_gurobi_when_oversize(caplog, pip_licence):
    problem = curve_instance(seed=1, n=60, model_id="big")
    assert reduce_problem(problem).n_variables == 2460  # nothing dominated
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        result = solve(problem, solver="auto")
    assert result.solver == "highs"
    assert result.status == "optimal"
    assert result.fallback_reason == "model has 2460 variables > 2000 allowed by the size-limited Gurobi licence"
    # per-model lines are DEBUG: a stage summarises its solves (log_solve_summary)
    assert any(r.levelno == logging.DEBUG and "2460 variables > 2000" in r.getMessage() for r in caplog.records)
    assert any(r.levelno == logging.DEBUG and "model=big solver=highs" in r.getMessage() for r in caplog.records)
    assert not any(r.levelno >= logging.INFO for r in caplog.records)
    assert_feasible(problem, result)


def test_forced_gurobi_on_oversize_model_raises_a_clear_error(pip_licence):
    problem = curve_instance(seed=1, n=60)
    with pytest.raises(GurobiSizeLimitError, match=r"2460 variables > 2000.*solver='highs'.*'auto'"):
        solve(problem, solver="gurobi")


def test_real_10010_is_caught_when_the_size_precheck_is_disabled(pip_licence):
    problem = curve_instance(seed=1, n=60)
    result = solve(problem, solver="auto", size_limit=None)
    assert result.solver == "highs"
    assert result.fallback_reason.startswith("GurobiError 10010")
    assert_feasible(problem, result)
    with pytest.raises(GurobiSizeLimitError, match="10010"):
        solve(problem, solver="gurobi", size_limit=None)


def test_missing_licence_file_gives_real_10009_and_falls_back(tmp_path):
    problem = curve_instance(seed=2, n=10)
    before = os.environ.get("GRB_LICENSE_FILE")
    options = {"LicenseFile": str(tmp_path / "missing.lic")}
    result = solve(problem, licence=options)
    assert result.solver == "highs"
    assert result.fallback_reason.startswith("GurobiError 10009")
    with pytest.raises(GurobiUnavailableError, match="10009"):
        solve(problem, solver="gurobi", licence=options)
    assert os.environ.get("GRB_LICENSE_FILE") == before
    assert solve(problem).solver == "gurobi"  # the default licence still works


def test_gurobipy_import_failure_falls_back(monkeypatch):
    problem = curve_instance(seed=2, n=10)
    monkeypatch.setitem(sys.modules, "gurobipy", None)  # makes `import gurobipy` fail
    result = solve(problem)
    assert result.solver == "highs"
    assert "gurobipy cannot be imported" in result.fallback_reason
    with pytest.raises(GurobiUnavailableError):
        solve(problem, solver="gurobi")


WLS = {"WLSACCESSID": "access-id-0000", "WLSSECRET": "secret-value-1234", "LICENSEID": "2345678"}


def test_licence_from_credentials_is_canonical_and_masked():
    licence = GurobiLicence(WLS)
    assert licence.kind == "wls"
    assert licence.env_params() == {
        "WLSAccessID": "access-id-0000",
        "WLSSecret": "secret-value-1234",
        "LicenseID": 2345678,
    }
    for text in (repr(licence), str(licence), str(licence.describe())):
        assert "secret-value-1234" not in text and "access-id-0000" not in text
        assert "wls" in text
    assert licence.mask("token for access-id-0000 refused: secret-value-1234") == "token for *** refused: ***"
    assert GurobiLicence().kind == "pip" and GurobiLicence().env_params() == {}
    assert GurobiLicence({"licence_file": "/opt/gurobi/gurobi.lic"}).env_params() == {
        "LicenseFile": "/opt/gurobi/gurobi.lic"
    }


@pytest.mark.parametrize(
    ("credentials", "message"),
    [
        ({"WLSSECERT": "x"}, r"unknown Gurobi licence parameter 'WLSSECERT'.*WLSSecret"),
        (
            {"WLSACCESSID": "a", "WLSSECRET": "b"},
            "WLS licence needs WLSAccessID, WLSSecret and LicenseID together; .* lack LicenseID",
        ),
        ({**WLS, "LICENSEID": "12ab"}, "LicenseID must be a positive integer"),
        ({**WLS, "WLSSECRET": ""}, "WLSSecret is empty"),
        ({**WLS, "LicenseFile": "/x/gurobi.lic"}, "a licence file already holds its parameters"),
        ({"wlsaccessid": "a", "WLSAccessID": "b"}, "WLSAccessID is given twice"),
        ("WLSACCESSID=a", "must be a mapping"),
    ],
)
def test_bad_licence_credentials_name_the_problem(credentials, message):
    with pytest.raises(ValueError, match=message):
        GurobiLicence(credentials)


def test_unreachable_wls_falls_back_to_highs_without_leaking_the_secret(monkeypatch, caplog):
    # a proxy nobody listens on makes the WLS token request fail at once, offline or not
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    problem = curve_instance(seed=2, n=10)
    with caplog.at_level(logging.DEBUG):
        result = solve(problem, licence=WLS)
        with pytest.raises(GurobiUnavailableError, match="GurobiError 10022") as info:
            solve(problem, solver="gurobi", licence=WLS)
    assert result.solver == "highs"
    assert result.fallback_reason.startswith("GurobiError 10022")
    assert info.value.__cause__ is None
    written = json.dumps(result.to_record(), default=str) + caplog.text + str(info.value)
    assert "secret-value-1234" not in written and "access-id-0000" not in written


# --------------------------------------------------------------------------- fallbacks


@pytest.mark.parametrize("solver", SOLVERS)
def test_infeasible_budget_is_relaxed_to_min_loss_and_logged(solver, caplog):
    base = curve_instance(seed=4, n=30, k=21, bands=True)
    lo = np.bincount(base.group, np.where(base.allowed, base.loss, np.inf).min(1), minlength=3)
    hi = np.bincount(base.group, np.where(base.allowed, base.loss, -np.inf).max(1), minlength=3)
    budgets = lo + 0.05 * (hi - lo)  # binding but feasible
    budgets[1] = 1e-3  # below the minimum achievable loss of group 1
    problem = MultipleChoiceProblem(
        cost=base.cost,
        loss=base.loss,
        allowed=base.allowed,
        group=base.group,
        budgets=budgets,
        model_id="short",
        group_labels=("cat_A", "cat_B", "cat_C"),
    )
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        result = solve(problem, solver=solver, mip_gap=0.0)
    assert result.status == "infeasible_budget_relaxed"
    assert result.relaxed_groups == (1,)
    assert "cat_B" in result.fallback_reason
    assert any(r.levelno == logging.DEBUG and "cat_B" in r.getMessage() for r in caplog.records)
    in_group = problem.group == 1
    min_loss = np.where(problem.allowed, problem.loss, np.inf).min(axis=1)
    chosen_loss = problem.loss[np.arange(problem.n_items), result.choice]
    np.testing.assert_allclose(chosen_loss[in_group], min_loss[in_group], atol=1e-6)
    other = np.isfinite(budgets) & (np.arange(3) != 1)
    assert np.all(result.group_loss[other] <= budgets[other] + 1e-6)
    assert result.to_record()["relaxed_groups"] == "cat_B"


def test_jointly_infeasible_model_returns_min_loss_choice():
    # each item either loses 10 or uses 10 units of volume; both limits are 5
    problem = MultipleChoiceProblem(
        cost=np.zeros((2, 2)),
        loss=np.array([[0.0, 10.0], [0.0, 10.0]]),
        group=[0, 0],
        budgets=[5.0],
        volume=np.array([[10.0, 0.0], [10.0, 0.0]]),
        capacity_group=[0, 0],
        capacities=[5.0],
    )
    assert math.isinf(brute_force(problem)[0])
    for solver in SOLVERS:
        result = solve(problem, solver=solver)
        assert (result.solver, result.status) == ("fallback_min_loss", "infeasible")
        np.testing.assert_array_equal(result.choice, [0, 0])


@pytest.mark.parametrize("solver", SOLVERS)
def test_time_limit_without_incumbent_returns_greedy_choice(solver, caplog):
    problem = curve_instance(seed=6, n=40)
    with caplog.at_level(logging.DEBUG, logger=LOGGER):
        result = solve(problem, solver=solver, time_limit=0.0)
    assert (result.solver, result.status) == ("fallback_min_loss", "time_limit")
    assert "time limit" in result.fallback_reason
    np.testing.assert_array_equal(result.choice, min_loss_choice(problem))
    assert problem.is_feasible(result.choice)
    assert any("time limit" in r.getMessage() for r in caplog.records)


# --------------------------------------------------------------------------- determinism / records


@pytest.mark.parametrize("solver", SOLVERS)
def test_same_problem_gives_same_choice(solver):
    results = [solve(curve_instance(seed=8, n=40, bands=True), solver=solver) for _ in range(3)]
    for other in results[1:]:
        np.testing.assert_array_equal(other.choice, results[0].choice)
        assert other.objective == results[0].objective


def test_records_are_flat_and_serialisable():
    problem = curve_instance(seed=9, n=12)
    result = solve(problem)
    record = result.to_record()
    assert {
        "model_id",
        "solver",
        "status",
        "objective",
        "mip_gap",
        "solve_time_s",
        "n_variables",
        "n_constraints",
        "fallback_reason",
    } <= set(record)
    assert all(v is None or isinstance(v, (str, int, float, bool)) for v in record.values())
    json.dumps(record)
    groups = result.group_records()
    assert len(groups) == problem.n_groups
    np.testing.assert_allclose([g["loss"] for g in groups], result.group_loss)
    assert all(g["loss"] <= g["budget"] + 1e-6 for g in groups)


def test_invalid_arguments():
    problem = curve_instance(seed=9, n=3)
    with pytest.raises(ValueError, match="solver must be one of"):
        solve(problem, solver="cplex")
    with pytest.raises(ValueError, match="time_limit"):
        solve(problem, time_limit=-1)
