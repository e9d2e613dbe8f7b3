"""The closed-loop harness on a hand-computed lane, the open loop, and the torch-free rule/OR path."""

import subprocess
import sys
import textwrap
from dataclasses import replace

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.simulation.harness import run_closed_loop, run_open_loop, shift_forecast
from orpr_kedro.core.simulation.levels import extend_forecast
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


def mixed_review_period(n_weeks: int = 3, seed: int = 3) -> Period:
    """Four lanes reviewed every 1, 2, 3 and 7 days, noisy demand and forecasts, uncertain lead times."""
    rng = np.random.default_rng(seed)
    n_lanes, n_days = 4, 7 * n_weeks
    lanes = pd.DataFrame(
        {
            "lane_id": np.arange(n_lanes),
            "sku_id": [f"s{i}" for i in range(n_lanes)],
            "dc_id": ["d"] * n_lanes,
            "category": ["a", "a", "b", "b"],
            "review_period": [1, 2, 3, 7],
            "case_pack": [1, 2, 1, 5],
            "moq": [0, 0, 4, 0],
            "holding_cost": [0.1, 0.2, 0.1, 0.05],
            "lost_sale_cost": [2.0, 3.0, 1.5, 2.5],
            "order_cost": [1.0, 2.0, 1.0, 5.0],
            "unit_cost": [1.0] * n_lanes,
            "lead_time_mean": [2.0, 3.0, 1.0, 4.0],
            "lead_time_std": [1.0, 0.5, 0.0, 1.5],
            "target_turnover_days": [7.0] * n_lanes,
            "initial_on_hand": [5.0, 0.0, 12.0, 30.0],
        }
    )
    return Period(
        lanes=lanes,
        dates=pd.date_range(START, periods=n_days, freq="D"),
        demand=rng.poisson(4.0, (n_lanes, n_days)).astype(float),
        decision_dates=pd.date_range(START, periods=n_weeks, freq="7D"),
        forecast_cube=rng.uniform(2.0, 6.0, (n_lanes, n_weeks, 28)),
        dispersion=np.full(n_lanes, 5.0),
        first_review_day=0,
    )


def test_shift_forecast_continues_the_weekly_pattern():
    forecast = np.arange(10.0)[None]  # days 0..9; beyond them days 3..9 repeat
    assert shift_forecast(forecast, 0).tolist() == forecast.tolist()
    assert shift_forecast(forecast, 3).tolist() == [[3, 4, 5, 6, 7, 8, 9, 3, 4, 5]]
    long = extend_forecast(forecast, 30)
    for offset in range(7):
        assert shift_forecast(forecast, offset)[0].tolist() == long[0, offset : offset + 10].tolist()
        assert np.allclose(extend_forecast(shift_forecast(forecast, offset), 20), long[:, offset : offset + 20])


def test_review_cadence_leaves_state_independent_policies_unchanged():
    """Rules ignore the state: deciding at each review gives the weekly run's KPIs exactly."""
    period = mixed_review_period()
    policies = {
        "incumbent": IncumbentRule.from_lanes(period.lane_arrays),
        "base_stock": base_stock_for(period.lane_arrays, period.dispersion),
    }
    dates = list(period.decision_dates)
    kwargs = {"seed": 5, "max_lead_time": 8, "grid": np.arange(0.0, 41.0), "score_from": dates[1]}
    weekly = run_closed_loop(period, policies, dates, **kwargs)
    review = run_closed_loop(period, policies, dates, cadence="review", **kwargs)
    pd.testing.assert_frame_equal(weekly.kpi_table(), review.kpi_table())
    # one decision row per lane and review day: 7, 4, 3 and 1 in the first week (anchored on its first day)
    first_week = review.decisions[
        (review.decisions["policy"] == "incumbent") & (review.decisions["decision_date"] < dates[1])
    ]
    assert first_week.groupby("lane_id").size().tolist() == [7, 4, 3, 1]
    lane_2 = first_week[first_week["lane_id"] == 2]["decision_date"]
    assert list(lane_2) == [START, START + pd.Timedelta(days=3), START + pd.Timedelta(days=6)]
    # the rows of the weekly decision date equal the weekly run's on that date
    same = review.decisions[review.decisions["decision_date"] == dates[0]].reset_index(drop=True)
    pd.testing.assert_frame_equal(
        same, weekly.decisions[weekly.decisions["decision_date"] == dates[0]].reset_index(drop=True)
    )
    with pytest.raises(ValueError, match="cadence"):
        run_closed_loop(period, policies, dates, cadence="daily", **kwargs)


def test_review_cadence_decides_a_daily_lane_every_day_from_that_days_state():
    """A daily lane (lead time 1 day, 2 units/day): empty on day 0 -> cover 7 days (14), then cover 3 (6).

    The policy sees each morning's position: 0, then 14 (day 0's order due), 12, 10, 8, 6, 4,
    and 4 from then on; it orders 14 on day 0 and 2 a day from day 6 on (up to 6).
    """
    weekly_lane = one_lane_period()
    period = replace(weekly_lane, lanes=weekly_lane.lanes.assign(review_period=[1]))
    seen, offsets = [], []

    class TopUp:
        def decide(self, lanes, state):
            position = state.on_order + state.on_hand
            seen.append(float(position[0]))
            offsets.append(state.day_offset)
            return Decision(np.where(position > 0, 3.0, 7.0))

    result = run_closed_loop(
        period,
        {"top_up": TopUp()},
        list(period.decision_dates),
        seed=1,
        max_lead_time=5,
        grid=np.arange(8.0),
        cadence="review",
    )
    assert seen[:8] == [0.0, 14.0, 12.0, 10.0, 8.0, 6.0, 4.0, 4.0] and offsets[:8] == [0, 1, 2, 3, 4, 5, 6, 0]
    decisions = result.decisions
    assert len(decisions) == 14 and decisions["decision_date"].tolist() == list(period.dates)
    assert decisions["order_up_to"].tolist()[:7] == [14.0, 6.0, 6.0, 6.0, 6.0, 6.0, 6.0]
    kpis = result.backtest.lane_kpis(period.lanes).iloc[0]
    assert kpis["ordered_units"] == 14.0 + 2.0 * 8 and kpis["n_orders"] == 9 and kpis["lost_units"] == 2.0
