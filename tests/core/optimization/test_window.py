"""The OR window step on a case small enough to simulate by hand."""

from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization import labeling, window
from orpr_kedro.core.params import ExecutorParams, ORLabelingParams

# Hindsight mode: the actual demand, no sampling; lead time exactly 1 day; one review
# on day 0 (weekly lanes); grid 0, 2, 4, 6 days of cover.
PARAMS = ORLabelingParams.model_validate(
    {
        "coverage_grid": {"start": 0, "stop": 6, "step": 2},
        "horizon_days": 7,
        "mode": "hindsight",
        "objective": "total_cost",
        "budget": False,
    }
)
GRID = np.asarray(PARAMS.coverage_grid.values())


@pytest.fixture
def data() -> labeling.LabelingData:
    """Two weekly lanes selling 10 units a day, forecast exact; lane 1 starts with 60 on hand."""
    lanes = pd.DataFrame(
        {
            "lane_id": [0, 1],
            "sku_id": ["s0", "s1"],
            "dc_id": ["dc", "dc"],
            "category": ["a", "b"],
            "alpha": [0.8, 0.8],
            "review_period": [7, 7],
            "case_pack": [1, 1],
            "moq": [0, 0],
            "holding_cost": [1.0, 1.0],
            "lost_sale_cost": [2.0, 2.0],
            "order_cost": [5.0, 5.0],
            "lead_time_mean": [1.0, 1.0],
            "lead_time_std": [0.0, 0.0],
            "unit_price": [1.0, 1.0],
            "unit_volume": [1.0, 1.0],
            "initial_on_hand": [20.0, 60.0],
        }
    )
    dates = pd.date_range("2025-01-06", periods=14, freq="D")
    return labeling.LabelingData(
        lanes=lanes,
        dates=dates,
        demand=np.full((2, 14), 10.0),
        decision_dates=dates[[0, 7]],
        forecast_cube=np.full((2, 2, 14), 10.0),
        dispersion=np.ones(2),
        first_review_day=0,
    )


def _decide(data, params=PARAMS):
    with TaskExecutor(ExecutorParams(), progress=False) as executor:
        state = labeling.initial_state(data.lanes)
        return window.decide_window(data, 0, state, GRID, params, 3, executor)


def test_candidate_costs_are_the_hand_simulation(data):
    decision = _decide(data)
    # lane 0, 20 on hand: cover v orders 10 v - 20 units on day 0, received on day 1.
    # v=0, 2: no order, stock out after day 1 (end-of-day on hand 10, 0; 50 units lost);
    # v=4: 20 units, on hand 10, 20, 10, 0 then 30 lost; v=6: 40 units, 10 lost.
    np.testing.assert_array_equal(decision.costs.holding_cost[0], [10.0, 10.0, 40.0, 110.0])
    np.testing.assert_array_equal(decision.costs.lost_units[0], [50.0, 50.0, 30.0, 10.0])
    np.testing.assert_array_equal(decision.costs.order_cost[0], [0.0, 0.0, 5.0, 5.0])
    # lane 1, 60 on hand: no candidate orders; six days of stock, then 10 lost
    np.testing.assert_array_equal(decision.costs.holding_cost[1], [150.0] * 4)
    np.testing.assert_array_equal(decision.costs.lost_units[1], [10.0] * 4)
    np.testing.assert_array_equal(decision.costs.demand_value, [70.0, 70.0])


def test_total_cost_picks_the_cheapest_cover_per_lane(data):
    decision = _decide(data)
    # lane 0 total cost 110, 110, 105, 135: 4 days; lane 1 all equal: the lowest index
    np.testing.assert_array_equal(decision.choice, [2, 0])
    assert [task.problem.model_id for task in decision.tasks] == ["2025-01-06/a", "2025-01-06/b"]
    np.testing.assert_array_equal(decision.model_of_lane, [0, 1])
    assert [result.objective for result in decision.results] == [105.0, 170.0]


def test_the_budget_forces_the_cover_that_loses_least(data):
    # budget (1 - 0.8) * 70 = 14 of lost value: only 6 days (10 lost) meets it for lane 0;
    # lane 1 loses 10 whatever it covers
    decision = _decide(data, PARAMS.model_copy(update={"objective": "holding_with_budget", "budget": True}))
    np.testing.assert_array_equal(decision.choice, [3, 0])
    assert [result.status for result in decision.results] == ["optimal", "optimal"]
    np.testing.assert_allclose([result.group_budget[0] for result in decision.results], [14.0, 14.0], rtol=1e-12)


def test_labeling_records_the_window_step(data):
    with TaskExecutor(ExecutorParams(), progress=False) as executor:
        output = labeling.label_windows(data, [0], PARAMS, 3, executor, labeling.initial_state(data.lanes))
    labels = output.labels
    np.testing.assert_array_equal(labels["coverage_index"], [2, 0])
    np.testing.assert_array_equal(labels["coverage_days"], [4.0, 0.0])
    np.testing.assert_array_equal(labels["expected_holding_cost"], [40.0, 150.0])
    assert labels["model_id"].tolist() == ["2025-01-06/a", "2025-01-06/b"]


def test_the_in_stock_floor_buys_the_cover_that_keeps_stock(data):
    # lane 0 starts the horizon's days with stock on 2, 2, 4 and 6 of 7 days (covers 0,
    # 2, 4, 6); a floor of 0.8 for its category allows a stock-out share of 0.2, so only
    # 6 days (1/7) meets it. Lane 1 runs out on day 6 whatever it covers: the default
    # floor of 0.9 (share 0.1) cannot be met and is relaxed to the 1/7 it can reach.
    params = PARAMS.model_copy(update={"in_stock_floor": {"a": 0.8, "default": 0.9}})
    decision = _decide(data, params)
    np.testing.assert_allclose(decision.costs.stockout_share[0], [5 / 7, 5 / 7, 3 / 7, 1 / 7])
    np.testing.assert_allclose(decision.costs.stockout_share[1], [1 / 7] * 4)
    np.testing.assert_array_equal(decision.choice, [3, 0])
    assert [result.status for result in decision.results] == ["optimal", "infeasible_capacity_relaxed"]
    assert decision.tasks[0].problem.capacity_labels == ("in-stock floor 0.8 of a",)
    np.testing.assert_allclose(decision.tasks[0].problem.capacities, [0.2])


def test_in_stock_floors_are_shares_and_not_with_dc_capacity():
    with pytest.raises(ValueError, match=r"in_stock_floor values must lie in \[0, 1\)"):
        ORLabelingParams.model_validate({"in_stock_floor": {"default": 1.0}})
    with pytest.raises(ValueError, match="cannot be combined"):
        ORLabelingParams.model_validate({"in_stock_floor": {"a": 0.9}, "dc_capacity": {"DC01": 100.0}})
    assert ORLabelingParams.model_validate({"in_stock_floor": {"a": 0.9, "default": 0.5}}).floor_of("b") == 0.5


def test_a_step_between_forecast_origins_reads_the_day_and_the_shifted_forecast(data):
    """Daily lanes, constant demand: the same candidate costs two days after the origin; the view is shifted."""
    daily = replace(data, lanes=data.lanes.assign(review_period=[1, 1]))
    state = labeling.initial_state(daily.lanes)
    with TaskExecutor(ExecutorParams(), progress=False) as executor:
        at_origin = window.decide_window(daily, 0, state, GRID, PARAMS, 3, executor)
        later = window.decide_window(daily, 0, state, GRID, PARAMS, 3, executor, day_offset=2)
    np.testing.assert_array_equal(later.costs.total_cost, at_origin.costs.total_cost)
    np.testing.assert_array_equal(later.choice, at_origin.choice)
    ramp = replace(daily, forecast_cube=np.broadcast_to(np.arange(14.0), (2, 2, 14)).copy())
    view = ramp.shifted_origin(1, 3)
    assert list(view.decision_dates) == [pd.Timestamp("2025-01-16")] and view.forecast_cube.shape == (2, 1, 14)
    assert view.forecast_cube[0, 0].tolist() == [*range(3, 14), 7.0, 8.0, 9.0]  # the last week repeats
