"""The closed-loop harness on a hand-computed lane, the open loop, and the torch-free rule/OR path."""

import subprocess
import sys
import textwrap

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.simulation.harness import run_closed_loop, run_open_loop
from orpr_kedro.core.simulation.period import Lanes, Period
from orpr_kedro.core.simulation.policies import Decision, IncumbentRule, base_stock_for

START = pd.Timestamp("2025-01-06")


def one_lane_period(n_weeks: int = 2) -> Period:
    """One weekly lane: demand and forecast 2 units/day, lead time exactly 1 day, nothing in stock."""
    lanes = pd.DataFrame(
        {
            "lane_id": [0],
            "sku_id": ["s"],
            "dc_id": ["d"],
            "category": ["c"],
            "review_period": [7],
            "case_pack": [1],
            "moq": [0],
            "holding_cost": [1.0],
            "lost_sale_cost": [3.0],
            "order_cost": [5.0],
            "unit_cost": [1.0],
            "lead_time_mean": [1.0],
            "lead_time_std": [0.0],
            "target_turnover_days": [7.0],
            "initial_on_hand": [0.0],
        }
    )
    n_days = 7 * n_weeks
    return Period(
        lanes=lanes,
        dates=pd.date_range(START, periods=n_days, freq="D"),
        demand=np.full((1, n_days), 2.0),
        decision_dates=pd.date_range(START, periods=n_weeks, freq="7D"),
        forecast_cube=np.full((1, n_weeks, 28), 2.0),
        dispersion=np.ones(1),
        first_review_day=0,
    )


def test_lanes_review_calendar_matches_shift_review():
    period = one_lane_period()
    lanes = Lanes.from_table(period.lanes.assign(review_period=[3]))
    base = lanes.lane_params_at(0)
    for day in (-4, -1, 0, 1, 2, 5, 9):
        assert lanes.lane_params_at(day).review_offset.tolist() == base.shift_review(day).review_offset.tolist()


def test_incumbent_on_a_hand_computed_lane_in_both_loops():
    """Order up to 14 (7 days x 2/day) on days 0 and 7: 14 then 12 units, 2 lost on day 0."""
    period = one_lane_period()
    dates = list(period.decision_dates)
    rule = {"incumbent": IncumbentRule.from_lanes(period.lane_arrays)}
    closed = run_closed_loop(period, rule, dates, seed=1, max_lead_time=5, grid=np.arange(0.0, 15.0))
    opened = run_open_loop(period, rule, dates, seed=1, max_lead_time=5)
    for result in (closed.backtest, opened):
        kpis = result.lane_kpis(period.lanes).iloc[0]
        assert kpis["ordered_units"] == 26.0 and kpis["n_orders"] == 2
        assert kpis["lost_units"] == 2.0 and kpis["sales_units"] == 26.0
        assert kpis["sum_end_on_hand"] == 72.0  # 12+10+8+6+4+2 then 0, 10+8+6+4+2+0
        assert kpis["in_stock_days"] == 13  # only day 0 starts empty
        assert kpis["total_cost"] == 72.0 + 6.0 + 10.0
        assert kpis["turnover_days"] == pytest.approx(72 / 26)
    decisions = closed.decisions
    assert decisions["coverage_days"].tolist() == [7.0, 7.0] and decisions["coverage_index"].tolist() == [7, 7]
    assert decisions["order_up_to"].tolist() == [14.0, 14.0] and decisions["on_hand"].tolist() == [0.0, 2.0]


def test_a_state_dependent_policy_sees_its_own_state():
    period = one_lane_period()
    seen = []

    class TopUp:
        """Cover 7 days when the lane starts the week empty, 3 otherwise."""

        def decide(self, lanes, state):
            position = state.on_order + state.on_hand  # on_order raises outside the closed loop
            seen.append(float(position[0]))
            return Decision(np.where(position > 0, 3.0, 7.0))

    policies = {"top_up": TopUp(), "base_stock": base_stock_for(period.lane_arrays, period.dispersion)}
    result = run_closed_loop(
        period, policies, list(period.decision_dates), seed=1, max_lead_time=5, grid=np.arange(8.0)
    )
    assert seen == [0.0, 2.0]
    top_up = result.decisions[result.decisions["policy"] == "top_up"]
    assert top_up["coverage_days"].tolist() == [7.0, 3.0] and top_up["order_up_to"].tolist() == [14.0, 6.0]
    base_stock = result.decisions[result.decisions["policy"] == "base_stock"]
    assert base_stock["coverage_days"].isna().all() and (base_stock["coverage_index"] == -1).all()
    with pytest.raises(ValueError, match="closed loop"):
        run_open_loop(period, {"top_up": TopUp()}, list(period.decision_dates), seed=1, max_lead_time=5)


def test_rule_and_or_evaluation_import_neither_torch_nor_tianshou():
    script = textwrap.dedent(
        """
        import sys
        import numpy as np
        from orpr_kedro.core.evaluation import closed_loop, comparison, or_policy  # noqa: F401
        from orpr_kedro.core.simulation import backtest, harness
        sys.path.insert(0, "tests/core/simulation")
        from test_harness import one_lane_period
        period = one_lane_period()
        result = harness.run_closed_loop(
            period, backtest.rule_policies(period), list(period.decision_dates), seed=1, max_lead_time=5,
            grid=np.arange(15.0),
        )
        assert list(result.decisions["policy"].unique()) == ["incumbent", "base_stock"]
        loaded = sorted(name for name in ("torch", "tianshou", "gymnasium") if name in sys.modules)
        print("loaded:", loaded)
        sys.exit(1 if loaded else 0)
        """
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, check=False)
    assert done.returncode == 0, done.stdout + done.stderr
    assert "loaded: []" in done.stdout
