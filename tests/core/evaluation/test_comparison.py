"""Evaluation tables on tiny hand-computed panels, the policy protocol, and the field-test glue."""

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.evaluation import comparison, field_trial
from orpr_kedro.core.params import EvaluationTargets
from orpr_kedro.core.simulation.period import Lanes
from orpr_kedro.core.simulation.policies import (
    Decision,
    DecisionState,
    IncumbentRule,
    Policy,
    SwitchPolicy,
    grid_index,
)

LANE_COLUMNS = {"review_period": [7, 7], "case_pack": [1, 1], "moq": [0, 0]}

ACC = [
    "demand_units",
    "sales_units",
    "lost_units",
    "ordered_units",
    "n_orders",
    "sum_end_on_hand",
    "in_stock_days",
    "n_days",
    "holding_cost",
    "lost_sales_cost",
    "order_cost",
]


def lane_frame() -> pd.DataFrame:
    """Two policies x two lanes (categories a and b), accumulators chosen by hand."""
    rows = [
        # policy, lane, category, demand, sales, lost, ordered, orders, end-on-hand, in-stock days, days, holding, lost-sales, order
        ("incumbent", 0, "a", 10, 10, 0, 12, 2, 40, 7, 7, 4.0, 0.0, 10.0),
        ("incumbent", 1, "b", 20, 18, 2, 20, 2, 60, 6, 7, 6.0, 8.0, 10.0),
        ("orpr", 0, "a", 10, 9, 1, 9, 1, 20, 6, 7, 2.0, 3.0, 5.0),
        ("orpr", 1, "b", 20, 20, 0, 22, 2, 30, 7, 7, 3.0, 0.0, 10.0),
    ]
    frame = pd.DataFrame(rows, columns=["policy", "lane_id", "category", *ACC])
    frame["total_cost"] = frame["holding_cost"] + frame["lost_sales_cost"] + frame["order_cost"]
    return frame


def test_bootstrap_point_values_are_the_hand_computed_kpis():
    table = comparison.bootstrap_kpis(
        lane_frame(), comparison.BootstrapSettings(n_resamples=200, seed=1), reference="incumbent"
    )
    value = table.set_index(["policy", "scope", "metric"])["value"]
    # incumbent: cost 4+0+10 + 6+8+10 = 38; turnover 100 / 28; in-stock 13 / 14
    assert value["incumbent", "all", "total_cost"] == 38.0
    assert value["incumbent", "all", "turnover_days"] == pytest.approx(100 / 28)
    assert value["incumbent", "all", "in_stock_rate"] == pytest.approx(13 / 14)
    # orpr: cost 10 + 13 = 23 -> 23 / 38 - 1
    assert value["orpr", "all", "total_cost"] == 23.0
    assert value["orpr", "all", "total_cost_change_vs_reference"] == pytest.approx(23 / 38 - 1)
    assert value["orpr", "b", "turnover_days"] == pytest.approx(30 / 20)
    # a one-lane scope has no sampling spread: the interval collapses on the value
    one = table[(table["scope"] == "a") & (table["metric"] == "total_cost")].set_index("policy")
    assert (one["ci_low"] == one["value"]).all() and (one["ci_high"] == one["value"]).all()
    # two lanes: every resample is (0,0), (0,1) or (1,1) -> the interval spans 2 x lane costs
    overall = table[(table["scope"] == "all") & (table["metric"] == "total_cost")].set_index("policy")
    assert overall.loc["incumbent", "ci_low"] == 28.0 and overall.loc["incumbent", "ci_high"] == 48.0


def test_bootstrap_is_paired_and_deterministic():
    frame = lane_frame()
    settings = comparison.BootstrapSettings(n_resamples=300, seed=5)
    first = comparison.bootstrap_kpis(frame, settings)
    assert first.equals(comparison.bootstrap_kpis(frame, settings))
    change = first[(first["metric"] == "total_cost_change_vs_reference") & (first["scope"] == "all")].set_index(
        "policy"
    )
    # the reference against itself is exactly zero in every paired resample
    assert change.loc["incumbent", ["value", "ci_low", "ci_high"]].tolist() == [0.0, 0.0, 0.0]
    with pytest.raises(ValueError, match="level"):
        comparison.bootstrap_kpis(frame, comparison.BootstrapSettings(level=1.5))


def test_kpi_table_orders_policies_and_joins_intervals_and_timing():
    frame = lane_frame()
    intervals = comparison.bootstrap_kpis(frame, comparison.BootstrapSettings(n_resamples=100))
    timing = pd.DataFrame({"policy": ["incumbent", "orpr"], "ms_per_1000_decisions": [0.5, 20.0]})
    table = comparison.kpi_table(frame, intervals, timing)
    assert table[["policy", "scope"]].values.tolist()[:2] == [["incumbent", "all"], ["orpr", "all"]]
    assert set(table["scope"]) == {"all", "a", "b"}
    row = table[(table["policy"] == "orpr") & (table["scope"] == "all")].iloc[0]
    assert row["total_cost"] == 23.0 and row["ms_per_1000_decisions"] == 20.0
    assert row["total_cost_ci_low"] <= 23.0 <= row["total_cost_ci_high"]
    assert pd.isna(table[(table["scope"] == "a")]["ms_per_1000_decisions"]).all()


def test_transfer_gap_against_the_teacher():
    frame = lane_frame()
    teacher = frame[frame["policy"] == "incumbent"].assign(policy="or_policy")
    table = comparison.transfer_table(pd.concat([frame, teacher]), ["b"], ["orpr"])
    rows = table.set_index(["policy", "group"])
    # trained (a): orpr 10 vs OR 14; held out (b): orpr 13 vs OR 24
    assert rows.loc[("orpr", "trained"), "gap_to_teacher"] == pytest.approx(10 / 14 - 1)
    assert rows.loc[("orpr", "held_out"), "gap_to_teacher"] == pytest.approx(13 / 24 - 1)
    assert rows.loc[("orpr", "held_out"), "transfer_gap"] == pytest.approx((13 / 24 - 1) - (10 / 14 - 1))
    assert rows.loc[("orpr", "held_out"), "categories"] == "b"
    assert comparison.transfer_table(frame, [], ["orpr"]).empty


def test_targets_state_met_and_missed():
    kpis = pd.DataFrame(
        {
            "policy": ["incumbent", "or_policy", "orpr"],
            "scope": "all",
            "total_cost": [100.0, 80.0, 85.0],
            "in_stock_rate": [0.98, 0.97, 0.99],
            "turnover_days": [20.0, 6.0, 7.0],
        }
    )
    timing = pd.DataFrame({"policy": ["or_policy", "orpr"], "ms_per_1000_decisions": [500.0, 10.0]})
    checks = comparison.target_checks(kpis, timing, EvaluationTargets()).set_index("target")
    assert (
        checks.loc["total cost vs incumbent", "value"] == pytest.approx(0.85)
        and checks.loc["total cost vs incumbent", "met"]
    )
    assert checks.loc["in-stock rate vs incumbent", "met"] and checks.loc["turnover days vs incumbent", "met"]
    assert (
        checks.loc["total cost vs OR policy", "value"] == pytest.approx(85 / 80 - 1)
        and not checks.loc["total cost vs OR policy", "met"]
    )
    assert (
        checks.loc["decision speed vs OR policy", "value"] == pytest.approx(50.0)
        and not checks.loc["decision speed vs OR policy", "met"]
    )


def test_decision_time_per_thousand_decisions():
    class Result:
        decision_seconds = {"or_policy": 2.0, "orpr": 0.01}
        n_decisions = {"or_policy": 4000, "orpr": 4000}

    table = comparison.decision_time_table(Result()).set_index("policy")
    assert table.loc["or_policy", "ms_per_1000_decisions"] == pytest.approx(500.0)
    assert table.loc["orpr", "ms_per_1000_decisions"] == pytest.approx(2.5)
    assert table.loc["orpr", "times_faster_than_or"] == pytest.approx(200.0)


def test_switch_and_incumbent_policies_decide_by_the_protocol():
    lanes = Lanes.from_table(pd.DataFrame({"lane_id": [0, 1], "target_turnover_days": [14.0, 9.5], **LANE_COLUMNS}))
    grid = np.arange(0.0, 21.0)
    incumbent = IncumbentRule.from_lanes(lanes)
    state = DecisionState(pd.Timestamp("2025-01-06"), np.ones((2, 14)), 7, np.zeros(2), np.zeros((2, 3)))
    decision = incumbent.decide(lanes, state)
    assert decision.coverage_days.tolist() == [14.0, 9.5] and decision.grid_index is None
    assert grid_index(grid, decision.coverage_days).tolist() == [14, -1]  # 9.5 is not on the grid

    class Fixed:
        def decide(self, lanes, state):
            return Decision(np.full(2, 3.0), grid_index=np.full(2, 3))

    assert isinstance(Fixed(), Policy) and isinstance(incumbent, Policy)
    switch = SwitchPolicy(incumbent, Fixed(), pd.Timestamp("2025-01-13"))
    assert switch.decide(lanes, state).coverage_days.tolist() == [14.0, 9.5]
    later = DecisionState(pd.Timestamp("2025-01-13"), np.ones((2, 14)), 7, np.zeros(2), np.zeros((2, 3)))
    assert switch.decide(lanes, later).coverage_days.tolist() == [3.0, 3.0]


def daily_worlds() -> pd.DataFrame:
    """Four SKU-DCs x 4 days; the ORPR world holds 5 fewer units on days 3-4 for every SKU-DC."""
    dates = pd.date_range("2025-01-01", periods=4)
    rows = []
    for world in ("incumbent_world", "orpr_world"):
        for lane in range(4):
            for day, date in enumerate(dates):
                on_hand = 20.0 + lane - (5.0 if world == "orpr_world" and day >= 2 else 0.0)
                rows.append(
                    (world, lane, date, on_hand + 2, on_hand, 0.0, 0.0, 0.0, 2.0 + lane, 0.1 * on_hand, 1.0, 2.0 + lane)
                )
    columns = [
        "policy",
        "lane_id",
        "date",
        "on_hand_start",
        "on_hand_end",
        "orders",
        "arrivals",
        "lost",
        "demand",
        "holding_cost",
        "in_stock",
        "sales",
    ]
    return pd.DataFrame(rows, columns=columns)


def test_field_test_units_and_panel_take_each_side_from_its_world():
    daily = daily_worlds()
    lanes = pd.DataFrame(
        {
            "lane_id": range(4),
            "sku_id": list("abcd"),
            "dc_id": "D1",
            "category": "x",
            "lead_time_mean": 4.0,
            "lead_time_std": [0.0, 1.0, 2.0, 0.5],
        }
    )
    switch = pd.Timestamp("2025-01-03")
    units = field_trial.field_test_units(daily, lanes, switch)
    assert units["mean_sales"].tolist() == [2.0, 3.0, 4.0, 5.0]
    assert units["pre_turnover_days"].tolist() == pytest.approx([20 / 2, 21 / 3, 22 / 4, 23 / 5])
    assert units["lead_time_cv"].tolist() == pytest.approx([0.0, 0.25, 0.5, 0.125])
    panel = field_trial.field_test_panel(daily, units, [0, 1], [2, 3], switch)
    assert len(panel) == 16 and panel["post"].sum() == 8
    treated_post = panel[panel["treated"] & panel["post"]]
    # observed: the ORPR world (5 units fewer, in days of pre-period sales); counterfactual: the incumbent world
    assert (treated_post["days_of_stock_counterfactual"] - treated_post["days_of_stock"]).tolist() == pytest.approx(
        [2.5, 2.5, 5 / 3, 5 / 3]
    )
    control = panel[~panel["treated"]]
    assert (control["days_of_stock"] == control["days_of_stock_counterfactual"]).all()
    with pytest.raises(ValueError, match="both treated and control"):
        field_trial.field_test_panel(daily, units, [0, 1], [1, 2], switch)


def test_estimates_recover_a_planted_effect_and_report_the_truth():
    rng = np.random.default_rng(3)
    units, days = 120, 30
    unit = np.repeat(np.arange(units), days)
    day = np.tile(pd.date_range("2025-01-01", periods=days).to_numpy(), units)
    treated = unit < units // 2
    post = np.tile(np.arange(days) >= 15, units)
    base = rng.normal(10, 2, units)[unit] + np.tile(np.sin(np.arange(days) / 3), units) + rng.normal(0, 1, len(unit))
    effect = -1.5 * (treated & post)
    panel = pd.DataFrame({"unit_id": unit, "period": day, "treated": treated, "post": post})
    for name in field_trial.FIELD_TEST_OUTCOMES:
        panel[name] = base + effect
        panel[f"{name}_counterfactual"] = base
    table = field_trial.estimate_effects(panel).set_index("outcome")
    assert table.loc["holding_cost", "true_effect"] == pytest.approx(-1.5)
    assert table.loc["holding_cost", "ci_low"] <= -1.5 <= table.loc["holding_cost", "ci_high"]
    assert table["truth_inside_interval"].all() and table["parallel_trends_plausible"].all()
    placebo = panel.assign(**{name: base for name in field_trial.FIELD_TEST_OUTCOMES})
    quiet = field_trial.estimate_effects(placebo, outcomes=["days_of_stock"]).iloc[0]
    assert quiet["ci_low"] <= 0.0 <= quiet["ci_high"]
