"""Tests of orpr_kedro.core.simulation.kpi with hand-computed values."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.simulation.generic import simulate_policy
from orpr_kedro.core.simulation.kernel import LaneParams, simulate_order_up_to
from orpr_kedro.core.simulation.kpi import (
    ADDITIVE_COLUMNS,
    RATIO_COLUMNS,
    aggregate_kpis,
    fill_rate,
    in_stock_rate,
    kpis_from_accumulators,
    lane_kpi_frame,
    total_cost,
    turnover_days,
)


def acc(**over):
    base = {
        "holding_cost": 0.0, "lost_units": 0.0, "lost_sales_cost": 0.0, "order_cost": 0.0, "n_orders": 0,
        "ordered_units": 0.0, "demand_units": 0.0, "sales_units": 0.0, "sum_end_on_hand": 0.0,
        "in_stock_days": 0, "n_days": 0,
    }  # fmt: skip
    base.update(over)
    return {k: np.asarray(v) for k, v in base.items()}


def test_ratio_definitions_and_zero_handling():
    assert turnover_days(30.0, 10.0) == 3.0
    assert turnover_days(5.0, 0.0) == np.inf  # stock but no sales
    assert np.isnan(turnover_days(0.0, 0.0))  # neither
    np.testing.assert_array_equal(turnover_days([30.0, 0.0, 4.0], [10.0, 0.0, 0.0]), [3.0, np.nan, np.inf])
    assert in_stock_rate(21, 28) == 0.75
    assert np.isnan(in_stock_rate(0, 0))
    assert fill_rate(9.0, 12.0) == 0.75
    assert np.isnan(fill_rate(0.0, 0.0))
    assert total_cost(1.5, 2.25, 4.0) == 7.75
    np.testing.assert_array_equal(total_cost([1.0, 2.0], [0.5, 0.5], [0.0, 1.0]), [1.5, 3.5])


def test_kpis_sum_first_then_ratio_over_chosen_axes():
    # shape [2, 3]: lane 0 sells 10 with 10 unit-days held, lane 1 sells 30 with 90
    a = acc(
        sum_end_on_hand=[[10.0, 90.0, 0.0], [20.0, 20.0, 20.0]],
        sales_units=[[10.0, 30.0, 0.0], [5.0, 5.0, 10.0]],
        demand_units=[[10.0, 40.0, 0.0], [10.0, 5.0, 10.0]],
        in_stock_days=[[7, 5, 0], [7, 7, 7]],
        n_days=[[7, 7, 7], [7, 7, 7]],
        holding_cost=[[1.0, 9.0, 0.0], [2.0, 2.0, 2.0]],
        lost_sales_cost=[[0.0, 20.0, 0.0], [10.0, 0.0, 0.0]],
        order_cost=[[3.0, 3.0, 0.0], [0.0, 3.0, 3.0]],
    )
    per = kpis_from_accumulators(a)  # no reduction
    np.testing.assert_array_equal(per["turnover_days"], [[1.0, 3.0, np.nan], [4.0, 4.0, 2.0]])
    np.testing.assert_array_equal(per["total_cost"], [[4.0, 32.0, 0.0], [12.0, 5.0, 5.0]])
    row = kpis_from_accumulators(a, axis=1)
    np.testing.assert_array_equal(row["turnover_days"], [100.0 / 40.0, 60.0 / 20.0])  # not mean of ratios
    np.testing.assert_array_equal(row["fill_rate"], [40.0 / 50.0, 20.0 / 25.0])
    np.testing.assert_array_equal(row["in_stock_rate"], [12 / 21, 1.0])
    np.testing.assert_array_equal(row["total_cost"], [36.0, 22.0])
    tot = kpis_from_accumulators(a, axis=None)
    assert tot["turnover_days"] == 160.0 / 60.0
    assert tot["holding_cost"] == 16.0
    assert tot["in_stock_rate"] == 33 / 42
    col = kpis_from_accumulators(a, axis=(0,))
    np.testing.assert_array_equal(col["sales_units"], [15.0, 35.0, 10.0])
    with pytest.raises(KeyError):
        kpis_from_accumulators({"holding_cost": np.zeros(2)})


def test_lane_frame_from_generic_and_fast_results():
    lanes = LaneParams.build(1, review_period=100, holding_cost=0.5, lost_sale_cost=2.0, order_cost=7.0)
    demand = np.array([[2.0, 1.0, 3.0, 4.0]])
    lt = np.full((1, 4), 2)

    def policy(state):
        return 10.0 - state.inventory_position

    gen = simulate_policy(demand, lanes, lt, policy, [0.0])
    f = lane_kpi_frame(gen, lane_ids=["sku1@dc1"])
    assert list(f.columns) == ["lane", *ADDITIVE_COLUMNS, *RATIO_COLUMNS]
    row = f.iloc[0]
    expected = {
        "lane": "sku1@dc1", "demand_units": 10.0, "sales_units": 7.0, "lost_units": 3.0, "ordered_units": 10.0,
        "n_orders": 1, "sum_end_on_hand": 10.0, "in_stock_days": 2, "n_days": 4, "holding_cost": 5.0,
        "lost_sales_cost": 6.0, "order_cost": 7.0, "total_cost": 18.0, "turnover_days": 10.0 / 7.0,
        "in_stock_rate": 0.5, "fill_rate": 0.7,
    }  # fmt: skip
    for k, v in expected.items():
        assert row[k] == v, k

    # fast path: two candidates (levels 10 and 0) x two scenarios
    d2 = np.stack([demand, demand * 2])  # [S=2, N=1, T=4]
    levels = np.stack([np.full((1, 4), 10.0), np.zeros((1, 4))])
    fast = simulate_order_up_to(d2, levels, np.full((2, 1, 4), 2), lanes, [0.0])
    g = lane_kpi_frame(fast, candidate_labels=["v10", "v0"])
    assert list(g["candidate"]) == ["v10", "v0"] and list(g["lane"]) == [0, 0]
    # scenario 2 (demand 4, 2, 6, 8): days 0-1 lose 6; day 2 receives 10 and sells 6 (4 left);
    # day 3 sells 4 and loses 4 -> sales 10, lost 10, end-of-day stock 4 + 0.
    v10 = g.iloc[0]
    assert v10["sales_units"] == (7.0 + 10.0) / 2  # means over scenarios
    assert v10["lost_units"] == (3.0 + 10.0) / 2
    assert v10["sum_end_on_hand"] == (10.0 + 4.0) / 2
    assert v10["turnover_days"] == 14.0 / 17.0  # ratio of the means == ratio of the sums
    v0 = g.iloc[1]
    assert v0["sales_units"] == 0.0 and v0["lost_units"] == 15.0 and np.isnan(v0["turnover_days"])
    assert v0["in_stock_rate"] == 0.0 and v0["fill_rate"] == 0.0
    per = lane_kpi_frame(fast, per_scenario=True)
    assert len(per) == 4 and list(per.columns[:3]) == ["candidate", "scenario", "lane"]
    assert per.loc[(per.candidate == 0) & (per.scenario == 1), "lost_units"].item() == 10.0


def test_aggregate_sums_first_then_ratios():
    frame = pd.DataFrame(
        {
            "lane": ["a", "b", "c"],
            "category": ["x", "x", "y"],
            **{c: [0.0, 0.0, 0.0] for c in ADDITIVE_COLUMNS},
        }
    )
    frame["sum_end_on_hand"] = [10.0, 90.0, 5.0]
    frame["sales_units"] = [10.0, 30.0, 0.0]
    frame["demand_units"] = [10.0, 40.0, 0.0]
    frame["in_stock_days"] = [28, 14, 28]
    frame["n_days"] = [28, 28, 28]
    frame["holding_cost"] = [1.0, 9.0, 0.5]
    frame["lost_sales_cost"] = [0.0, 20.0, 0.0]
    frame["order_cost"] = [2.0, 2.0, 2.0]
    frame["turnover_days"] = [-1.0, -1.0, -1.0]  # stale ratios are ignored
    agg = aggregate_kpis(frame, by="category").set_index("category")
    assert agg.loc["x", "turnover_days"] == 100.0 / 40.0  # mean of ratios would be 2.0
    assert agg.loc["x", "fill_rate"] == 40.0 / 50.0
    assert agg.loc["x", "in_stock_rate"] == 42 / 56
    assert agg.loc["x", "total_cost"] == 34.0
    assert agg.loc["y", "turnover_days"] == np.inf and np.isnan(agg.loc["y", "fill_rate"])
    overall = aggregate_kpis(frame)
    assert len(overall) == 1
    assert overall["turnover_days"].item() == 105.0 / 40.0
    assert overall["total_cost"].item() == 36.5
    multi = aggregate_kpis(frame.assign(candidate=[0, 1, 0]), by=["candidate", "category"])
    assert list(multi.columns[:2]) == ["candidate", "category"] and len(multi) == 3
