"""Simulation-augmented OR labels on the tiny data set."""

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization import labeling, window
from orpr_kedro.core.params import ExecutorParams, ORLabelingParams
from orpr_kedro.core.simulation.backtest import compare_on_period

PARAMS = ORLabelingParams.model_validate(
    {"coverage_grid": {"start": 0, "stop": 30, "step": 2}, "horizon_days": 21, "n_scenarios": 6}
)


@pytest.fixture(scope="module")
def data(tiny_processed) -> labeling.LabelingData:
    splits = tiny_processed["splits"]
    return labeling.labeling_data(
        tiny_processed["lanes"],
        tiny_processed["daily_sales"],
        tiny_processed["forecasts"],
        splits.decision_dates(),
        splits.first_decision_date,
    )


def _label(data, windows, params=PARAMS, seed=11, executor=None):
    with TaskExecutor(executor or ExecutorParams(), progress=False) as pool:
        return labeling.label_windows(data, windows, params, seed, pool, labeling.initial_state(data.lanes))


def test_bands_mask_the_grid():
    params = ORLabelingParams.model_validate(
        {"bands": {"default": {"min": 2, "max": 4}, "dairy": {"min": 0, "max": 1}}}
    )
    grid = np.array([0.0, 1.0, 2.0, 3.0, 4.0, 5.0])
    mask = window.allowed_candidates(np.array(["dairy", "pet"]), np.tile(grid, (2, 1)), params)
    np.testing.assert_array_equal(mask, [[1, 1, 0, 0, 0, 0], [0, 0, 1, 1, 1, 0]])


def test_bands_mask_service_level_candidates_by_their_cover_and_keep_the_closest():
    params = ORLabelingParams.model_validate(
        {"action_space": {"kind": "service_level"}, "bands": {"default": {"min": 2, "max": 4}}}
    )
    # lane 0: equivalent covers 1, 3, 5 days; lane 1: all above the band (closest: 6)
    cover = np.array([[1.0, 3.0, 5.0], [6.0, 8.0, 9.0]])
    mask = window.allowed_candidates(np.array(["a", "b"]), cover, params)
    np.testing.assert_array_equal(mask, [[0, 1, 0], [1, 0, 0]])
    coverage = ORLabelingParams.model_validate({"bands": {"default": {"min": 2, "max": 4}}})
    with pytest.raises(ValueError, match="without any coverage candidate"):
        window.allowed_candidates(np.array(["a", "b"]), cover, coverage)


def test_windows_to_label_follow_the_periods(data, tiny_processed):
    splits = tiny_processed["splits"]
    windows = labeling.windows_to_label(data.decision_dates, splits, PARAMS)
    dates = data.decision_dates[windows]
    assert dates.min() == splits.first_decision_date
    assert dates.max() == splits.test_start - pd.Timedelta(days=7)
    hindsight = PARAMS.model_copy(update={"mode": "hindsight", "periods": ["test"]})
    late = data.decision_dates[labeling.windows_to_label(data.decision_dates, splits, hindsight)]
    assert late.max() + pd.Timedelta(days=20) <= splits.data_end


def test_candidate_costs_move_the_right_way(data):
    grid = np.asarray(PARAMS.coverage_grid.values())
    costs = window.simulate_candidates(
        data, 5, labeling.initial_state(data.lanes), grid, PARAMS, np.random.default_rng(0)
    )
    # more cover: more holding cost and fewer lost sales, summed over lanes (up to the
    # noise of case packs and crossing orders once almost nothing is lost)
    holding, lost = costs.holding_cost.sum(axis=0), costs.lost_units.sum(axis=0)
    assert np.all(np.diff(holding) >= -0.01 * holding.max())
    assert np.all(np.diff(lost) <= 0.01 * lost.max())
    assert costs.lost_units[:, 0].sum() > costs.lost_units[:, -1].sum()


def test_labels_respect_the_budget_and_are_deterministic(data):
    windows = list(range(4, 10))
    first = _label(data, windows)
    labels, log = first.labels, first.solver_log
    assert len(labels) == len(windows) * len(data.lanes)
    assert set(labels["coverage_days"]) <= set(PARAMS.coverage_grid.values())
    optimal = log[log["status"] == "optimal"]
    assert (optimal["total_loss"] <= optimal["total_budget"] * (1 + 1e-6) + 1e-9).all()
    # every model of the tiny set fits the Gurobi licence; a fallback only when a budget is relaxed
    assert log["solver"].eq("gurobi").all()
    assert (log["fallback_reason"].isna() | log["status"].eq("infeasible_budget_relaxed")).all()
    assert len(first.candidates) == len(labels) * len(PARAMS.coverage_grid.values())
    again = _label(data, windows)
    pd.testing.assert_frame_equal(labels.drop(columns="solve_time_s"), again.labels.drop(columns="solve_time_s"))


def test_state_follows_the_or_decisions(data):
    output = _label(data, [4, 5])
    first, second = (frame for _, frame in output.labels.groupby("decision_date"))
    state0 = labeling.initial_state(data.lanes)
    np.testing.assert_array_equal(first["on_hand"], state0.on_hand)
    replayed = labeling.replay_actual(
        data, 4, first["coverage_index"].to_numpy(), state0, 7, PARAMS, window.window_streams(11, 4)[1]
    )
    np.testing.assert_array_equal(second["on_hand"].to_numpy(), replayed.on_hand)
    np.testing.assert_array_equal(second["on_order"].to_numpy(), replayed.on_order)


def test_dask_cluster_gives_the_serial_labels(data):
    windows = [6, 7]
    serial = _label(data, windows)
    distributed = _label(data, windows, executor=ExecutorParams(kind="dask", n_workers=2))
    pd.testing.assert_frame_equal(
        serial.labels.drop(columns="solve_time_s"), distributed.labels.drop(columns="solve_time_s")
    )


def test_processes_give_the_serial_labels(data):
    windows = [8]
    serial = _label(data, windows)
    processes = _label(data, windows, executor=ExecutorParams(kind="processes", n_workers=2))
    pd.testing.assert_frame_equal(
        serial.labels.drop(columns="solve_time_s"), processes.labels.drop(columns="solve_time_s")
    )


def test_total_cost_objective_without_budget_minimises_expected_cost(data):
    params = PARAMS.model_copy(update={"objective": "total_cost", "budget": False})
    grid = np.asarray(params.coverage_grid.values())
    state = labeling.initial_state(data.lanes)
    costs = window.simulate_candidates(data, 6, state, grid, params, window.window_streams(11, 6)[0])
    labels = _label(data, [6], params=params).labels
    # without a budget the model decomposes: each lane takes its cheapest candidate
    expected = grid[np.argmin(costs.total_cost, axis=1)]
    chosen_cost = costs.total_cost[np.arange(len(labels)), labels["coverage_index"].to_numpy()]
    np.testing.assert_allclose(chosen_cost, costs.total_cost.min(axis=1))
    # ties aside, the chosen coverage is the argmin
    assert (labels["coverage_days"].to_numpy() == expected).mean() > 0.9


def test_or_policy_comparison_on_the_validation_period(data, tiny_processed):
    splits = tiny_processed["splits"]
    windows = labeling.windows_to_label(
        data.decision_dates, splits, PARAMS.model_copy(update={"periods": ["validation"]})
    )
    labels = _label(data, windows).labels
    table = compare_on_period(
        data, {"or_policy": labels}, splits.validation_start, splits.test_start, seed=1, max_lead_time=60
    ).kpi_table(data.lanes)
    overall = table[table["scope"] == "all"].set_index("policy")
    assert list(overall.index) == ["or_policy", "incumbent", "base_stock"]
    assert (overall["demand_units"] == overall["demand_units"].iloc[0]).all()  # same demand for every policy
    assert overall.loc["or_policy", "turnover_days"] < overall.loc["incumbent", "turnover_days"]


def test_review_cadence_steps_every_day_and_labels_the_lanes_that_review(data):
    """Review cadence: the OR step of each day from that morning's state, replayed one day at a time."""
    windows = [4, 5]
    with TaskExecutor(ExecutorParams(), progress=False) as pool:
        output = labeling.label_windows(
            data, windows, PARAMS, 11, pool, labeling.initial_state(data.lanes), cadence="review"
        )
        grid = PARAMS.action_grid()
        state = labeling.initial_state(data.lanes)
        for window_index in windows:
            date = data.decision_dates[window_index]
            week = output.labels[output.labels["decision_date"] == date]
            np.testing.assert_array_equal(week["on_hand"].to_numpy(), state.on_hand)
            for offset in range(7):
                decision = window.decide_window(data, window_index, state, grid, PARAMS, 11, pool, day_offset=offset)
                day = date + pd.Timedelta(days=offset)
                reviewing = np.flatnonzero(data.lane_params_at(day).review_offset == 0)
                if offset == 0:
                    np.testing.assert_array_equal(week["coverage_index"].to_numpy(), decision.choice)
                else:
                    rows = output.review_labels[
                        (output.review_labels["decision_date"] == date) & (output.review_labels["day_offset"] == offset)
                    ]
                    np.testing.assert_array_equal(
                        rows["lane_id"].to_numpy(), data.lanes["lane_id"].to_numpy()[reviewing]
                    )
                    assert (rows["review_date"] == day).all()
                    np.testing.assert_array_equal(rows["coverage_index"].to_numpy(), decision.choice[reviewing])
                    np.testing.assert_array_equal(rows["on_hand"].to_numpy(), state.on_hand[reviewing])
                    np.testing.assert_array_equal(rows["on_order"].to_numpy(), state.on_order[reviewing])
                rng = window.window_streams(11, window_index, offset)[1]
                state = labeling.replay_actual(
                    data, window_index, decision.choice, state, 1, PARAMS, rng, day_offset=offset
                )
    # a lane reviewing every day has a row on each of the six other days; a weekly lane on none or one
    periods = data.lanes.set_index("lane_id")["review_period"]
    per_week = output.review_labels.groupby(["lane_id", "decision_date"]).size()
    per_lane = per_week.groupby(level="lane_id").max().reindex(periods.index, fill_value=0)
    assert (per_lane[periods == 1] == 6).all() and (per_lane[periods == 7] <= 1).all()
    assert output.solver_log["decision_date"].nunique() == 7 * len(windows)
    assert len(output.candidates) == len(output.labels) * PARAMS.action_grid().n_actions


def test_weekly_cadence_has_no_review_labels_and_refuses_an_unknown_cadence(data):
    output = _label(data, [4])
    assert output.review_labels.empty and list(output.review_labels.columns) == list(labeling.REVIEW_LABEL_COLUMNS)
    with (
        TaskExecutor(ExecutorParams(), progress=False) as pool,
        pytest.raises(ValueError, match="cadence must be one of"),
    ):
        labeling.label_windows(data, [4], PARAMS, 11, pool, labeling.initial_state(data.lanes), cadence="daily")
