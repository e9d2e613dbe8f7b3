"""Tests of orpr_kedro.core.simulation.policies: hand-computed levels and fast == generic path."""

from __future__ import annotations

import numpy as np
import pytest

from orpr_kedro.core.simulation.generic import PolicyState, simulate_policy
from orpr_kedro.core.simulation.kernel import (
    LaneParams,
    draw_lead_times,
    lane_coverage_levels,
    simulate_order_up_to,
)
from orpr_kedro.core.simulation.policies import (
    BaseStock,
    CoveragePolicy,
    IncumbentRule,
    LevelSchedule,
    stack_levels,
)

Z90 = 1.2815515655446004  # standard normal quantile of 0.9


def state_at(t, inventory_position, forecast, n):
    ip = np.asarray(inventory_position, dtype=float)
    return PolicyState(
        t=t, on_hand=ip, on_order=np.zeros(n), inventory_position=ip, is_review=np.ones(n, bool),
        lead_time=np.ones(n, int), pipeline=np.zeros((n, 1)), lanes=LaneParams.build(n), forecast=forecast,
    )  # fmt: skip


def test_coverage_policy_levels_and_orders():
    f = np.array([[1.0, 2.0, 3.0, 4.0, 5.0, 6.0, 7.0, 8.0], [10.0] * 8])
    pol = CoveragePolicy([2.5, 7.0])
    lv = pol.levels(f, 3)
    np.testing.assert_array_equal(lv, [[1 + 2 + 1.5, 2 + 3 + 2.0, 3 + 4 + 2.5], [70.0, 70.0, 70.0]])
    np.testing.assert_array_equal(lv, lane_coverage_levels(f, [2.5, 7.0], 3))
    q = pol(state_at(1, [3.0, 80.0], f, 2))
    np.testing.assert_array_equal(q, [7.0 - 3.0, 70.0 - 80.0])  # raw: rounding is the simulator's
    with pytest.raises(ValueError, match="forecast"):
        pol(state_at(0, [0.0, 0.0], None, 2))
    with pytest.raises(ValueError):
        CoveragePolicy([-1.0, 2.0])


def test_incumbent_rule_from_category_targets():
    pol = IncumbentRule.from_categories(["dairy", "snacks", "dairy"], {"dairy": 5.0, "snacks": 14.0})
    np.testing.assert_array_equal(pol.target_turnover_days, [5.0, 14.0, 5.0])
    f = np.ones((3, 28)) * np.array([[2.0], [1.0], [3.0]])
    np.testing.assert_array_equal(pol.levels(f, 2), [[10.0, 10.0], [14.0, 14.0], [15.0, 15.0]])
    with pytest.raises(KeyError, match="frozen"):
        IncumbentRule.from_categories(["dairy", "frozen"], {"dairy": 5.0})


def test_base_stock_levels_hand_computed():
    # forecast 10/day, L = 3, R = 1 -> protection 4 days, mean 40; p = 9, h = 1/day
    lanes = LaneParams.build(4, review_period=1, holding_cost=1.0, lost_sale_cost=9.0)
    f = np.full((4, 14), 10.0)
    poisson = BaseStock(lanes, lead_time_mean=3.0)
    assert poisson.critical_fractile[0] == pytest.approx(0.9)
    np.testing.assert_allclose(poisson.levels(f, 5), 40.0 + Z90 * np.sqrt(4 * 10.0), rtol=1e-12)
    std = BaseStock(lanes, lead_time_mean=3.0, demand_std=2.0)
    np.testing.assert_allclose(std.levels(f, 1), 40.0 + Z90 * 4.0, rtol=1e-12)
    nb = BaseStock(lanes, lead_time_mean=3.0, nb_dispersion=5.0)  # var/day = 10 + 100/5 = 30
    np.testing.assert_allclose(nb.levels(f, 1), 40.0 + Z90 * np.sqrt(4 * 30.0), rtol=1e-12)
    lt = BaseStock(lanes, lead_time_mean=3.0, demand_std=2.0, lead_time_std=1.0)  # + 10**2 * 1**2
    np.testing.assert_allclose(lt.levels(f, 1), 40.0 + Z90 * np.sqrt(16.0 + 100.0), rtol=1e-12)
    # h per review period: R = 3 -> fractile 9 / (9 + 3); protection 3 + 3 = 6 days
    lanes3 = LaneParams.build(1, review_period=3, holding_cost=1.0, lost_sale_cost=9.0)
    b3 = BaseStock(lanes3, lead_time_mean=3.0, demand_std=1.0)
    assert b3.critical_fractile[0] == pytest.approx(0.75)
    np.testing.assert_allclose(b3.levels(f[:1], 1), 60.0 + 0.6744897501960817 * np.sqrt(6.0), rtol=1e-12)
    # service-level override; fractional protection interval uses the fractional forecast day
    sl = BaseStock(lanes, lead_time_mean=2.5, demand_std=0.0, service_level=0.5)
    np.testing.assert_allclose(sl.levels(f, 1), 35.0, rtol=1e-12)
    # no holding cost: fractile clipped at 0.999
    free = BaseStock(LaneParams.build(1, lost_sale_cost=1.0), lead_time_mean=1.0)
    assert free.critical_fractile[0] == 0.999


def test_level_schedule_and_stack():
    sched = LevelSchedule(np.arange(12.0).reshape(2, 6))
    np.testing.assert_array_equal(sched.levels(None, 3), [[0, 1, 2], [6, 7, 8]])
    np.testing.assert_array_equal(sched(state_at(4, [1.0, 1.0], None, 2)), [3.0, 9.0])
    f = np.ones((2, 10))
    stacked = stack_levels([CoveragePolicy([1.0, 2.0]), sched], f, 6)
    assert stacked.shape == (2, 2, 6)
    np.testing.assert_array_equal(stacked[1], sched.levels(None, 6))
    with pytest.raises(ValueError):
        sched.levels(None, 7)


def test_policies_give_identical_results_on_both_paths():
    rng = np.random.default_rng(8)
    n, t, n_s = 25, 30, 2
    lanes = LaneParams.build(
        n, review_period=rng.integers(1, 4, n), review_offset=rng.integers(0, 3, n),
        case_pack=rng.integers(1, 6, n), moq=rng.integers(0, 20, n), holding_cost=rng.uniform(0.01, 0.3, n),
        lost_sale_cost=rng.uniform(1, 5, n), order_cost=2.0,
    )  # fmt: skip
    forecast = rng.uniform(0.5, 8.0, (n, 10))  # shorter than the run: weekly extension used
    lt_mean = rng.uniform(1, 5, n)
    policies = [
        IncumbentRule(rng.uniform(3, 21, n)),
        CoveragePolicy(rng.uniform(0, 14, n).round(2)),
        BaseStock(lanes, lt_mean, nb_dispersion=rng.uniform(1, 10, n), lead_time_std=1.0),
    ]
    demand = rng.poisson(forecast.mean(axis=1)[None, :, None], (n_s, n, t)).astype(float)
    lt = draw_lead_times(lt_mean, 1.0, t, rng, n_scenarios=n_s)
    on_hand = rng.integers(0, 30, n).astype(float)
    fast = simulate_order_up_to(demand, stack_levels(policies, forecast, t), lt, lanes, on_hand)
    for c, pol in enumerate(policies):
        for s in range(n_s):
            gen = simulate_policy(demand[s], lanes, lt[s], pol, on_hand, forecast=forecast)
            for k, v in gen.accumulators().items():
                np.testing.assert_array_equal(v, getattr(fast, k)[c, s], err_msg=f"{type(pol).__name__}: {k}")
