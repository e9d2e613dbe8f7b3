"""The action grid: coverage days or base-stock service levels, on cases worked by hand."""

import numpy as np
import pandas as pd
import pytest
from scipy.stats import norm

from orpr_kedro.core.simulation.actions import (
    ActionGrid,
    ActionSchedule,
    LaneRisk,
    as_action_grid,
    check_label_grid,
)
from orpr_kedro.core.simulation.lanes import LaneParams
from orpr_kedro.core.simulation.policies import BaseStock, DecisionState

# one lane selling 10 a day; protection 4 + 1 = 5 days; NB size 10: per-day variance
# 10 + 10**2 / 10 = 20, over 5 days 100: mu_P = 50, sigma_P = 10 (no lead-time spread)
FORECAST = np.full((1, 14), 10.0)
RISK = LaneRisk.of(lead_time_mean=[4.0], lead_time_std=[0.0], review_period=[1.0], dispersion=[0.1])
SERVICE = ActionGrid("service_level", np.array([0.5, norm.cdf(1.0), norm.cdf(2.0)]))


def test_service_levels_are_mu_plus_z_sigma_of_the_protection_interval():
    levels = SERVICE.candidate_levels(FORECAST, 3, RISK)
    np.testing.assert_allclose(levels[:, 0, :], [[50.0] * 3, [60.0] * 3, [70.0] * 3])
    np.testing.assert_allclose(SERVICE.levels(FORECAST, np.array([2]), 3, RISK), [[70.0] * 3])
    np.testing.assert_allclose(SERVICE.levels(FORECAST, np.array([[0], [1]]), 2, RISK)[:, 0, 0], [50.0, 60.0])
    # equivalent coverage: level / 10 units a day
    np.testing.assert_allclose(SERVICE.coverage_of(FORECAST, np.array([1]), RISK), [6.0])
    np.testing.assert_allclose(SERVICE.candidate_cover_days(FORECAST, levels[:, :, 0]), [[5.0, 6.0, 7.0]])


def test_service_levels_equal_the_base_stock_policy_at_that_service_level():
    rng = np.random.default_rng(3)
    forecast = rng.gamma(2.0, 3.0, size=(4, 21))
    lead_mean, lead_std, review = np.array([2.0, 5.0, 1.0, 9.0]), np.array([0.0, 1.5, 0.5, 2.0]), np.array([7, 1, 7, 7])
    dispersion = np.array([0.2, 0.05, 1.0, 0.4])
    lanes = LaneParams.build(4, review_period=review, holding_cost=1.0, lost_sale_cost=5.0)
    grid = ActionGrid("service_level", np.array([0.7, 0.95, 0.999]))
    risk = LaneRisk.of(lead_mean, lead_std, review, dispersion)
    for k, p in enumerate(grid.values):
        policy = BaseStock(lanes, lead_mean, nb_dispersion=1 / dispersion, lead_time_std=lead_std, service_level=p)
        np.testing.assert_allclose(grid.levels(forecast, np.full(4, k), 7, risk), policy.levels(forecast, 7))


def test_coverage_actions_are_days_of_forecast_and_arrays_are_coverage_grids():
    grid = as_action_grid([0.0, 2.5])
    assert grid.is_coverage and as_action_grid(grid) is grid
    np.testing.assert_allclose(grid.levels(FORECAST, np.array([1]), 2), [[25.0, 25.0]])
    decision = grid.decision(FORECAST, np.array([1]), 7)
    assert decision.levels is None and decision.coverage_days.tolist() == [2.5]
    assert SERVICE.coverage_grid.size == 0 and grid.coverage_grid.tolist() == [0.0, 2.5]


def test_a_service_level_decision_carries_its_levels_and_equivalent_cover():
    decision = SERVICE.decision(FORECAST, np.array([2]), 7, RISK)
    np.testing.assert_allclose(decision.levels, np.full((1, 7), 70.0))
    assert decision.coverage_days.tolist() == [7.0] and decision.grid_index.tolist() == [2]
    with pytest.raises(ValueError, match="need the lanes' LaneRisk"):
        SERVICE.levels(FORECAST, np.array([0]), 7)
    with pytest.raises(ValueError, match="out of range"):
        SERVICE.levels(FORECAST, np.array([3]), 7, RISK)


def test_grids_are_validated():
    with pytest.raises(ValueError, match="strictly between 0 and 1"):
        ActionGrid("service_level", np.array([0.5, 1.0]))
    with pytest.raises(ValueError, match="strictly increasing"):
        ActionGrid("coverage_days", np.array([2.0, 1.0]))
    with pytest.raises(ValueError, match="unknown action kind"):
        ActionGrid("units", np.array([1.0]))  # type: ignore[arg-type]


def test_an_action_schedule_decides_its_indices_and_names_missing_dates():
    dates = pd.to_datetime(["2025-01-06", "2025-01-13"])
    table = pd.DataFrame({"lane_id": [0, 0], "decision_date": dates, "coverage_index": [0, 2]})
    schedule = ActionSchedule(table, np.array([0]), SERVICE, RISK, "or_policy")
    state = DecisionState(dates[1], FORECAST, 7)
    np.testing.assert_allclose(schedule.decide(None, state).levels, np.full((1, 7), 70.0))
    with pytest.raises(ValueError, match=r"or_policy: actions are missing .*2025-01-20"):
        schedule.index(pd.to_datetime(["2025-01-20"]))


def test_labels_must_point_into_the_grid():
    labels = pd.DataFrame({"coverage_index": [0, 2], "action_value": [0.5, norm.cdf(2.0)]})
    check_label_grid(labels, SERVICE, "the grid", "rerun")
    with pytest.raises(
        ValueError, match=r"do not match the grid \(service_level, 3 values from 0.5 to 0.97725\); rerun"
    ):
        check_label_grid(labels.assign(coverage_index=[0, 1]), SERVICE, "the grid", "rerun")
    with pytest.raises(ValueError, match="do not match"):
        check_label_grid(labels.assign(coverage_index=[0, 3]), SERVICE, "the grid", "rerun")
