"""Primary tables: unit costs and the promotion calendar expanded to lane-days."""

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.data.preparation import build_lanes, build_promotion_days, to_panel
from orpr_kedro.core.params import CostParams

SKUS = pd.DataFrame(
    {
        "sku_id": ["A", "B"],
        "category": ["dairy", "snacks"],
        "unit_cost": [10.0, 4.0],
        "unit_price": [14.0, 3.0],
        "case_pack": [6, 12],
        "moq": [6, 24],
        "unit_volume": [1.0, 0.2],
    }
)
LANES = pd.DataFrame(
    {
        "sku_id": ["B", "A", "A"],
        "dc_id": ["DC01", "DC02", "DC01"],
        "lead_time_mean": [3.0, 5.0, 5.0],
        "lead_time_std": [1.0, 1.0, 1.0],
        "review_period": [7, 1, 1],
        "initial_on_hand": [10, 20, 30],
    }
)
TARGETS = pd.DataFrame({"category": ["dairy", "snacks"], "target_turnover_days": [12.0, 25.0], "alpha": [0.97, 0.95]})


def test_lanes_are_sorted_and_costed_by_margin():
    lanes = build_lanes(SKUS, LANES, TARGETS, CostParams(holding_rate_per_day=0.001, order_cost=7.5))
    assert list(zip(lanes["sku_id"], lanes["dc_id"], strict=True)) == [("A", "DC01"), ("A", "DC02"), ("B", "DC01")]
    assert list(lanes["lane_id"]) == [0, 1, 2]
    assert lanes["holding_cost"].tolist() == pytest.approx([0.01, 0.01, 0.004])
    # margin 14 - 10 = 4; a price below cost gives no penalty rather than a negative one
    assert lanes["lost_sale_cost"].tolist() == pytest.approx([4.0, 4.0, 0.0])
    assert lanes["order_cost"].tolist() == [7.5, 7.5, 7.5]
    assert lanes["target_turnover_days"].tolist() == [12.0, 12.0, 25.0]


def test_cost_multiple_and_category_override():
    costs = CostParams(
        holding_rate_per_day=0.001,
        holding_rate_by_category={"dairy": 0.002},
        lost_sale_penalty="cost_multiple",
        lost_sale_cost_multiple=2.0,
    )
    lanes = build_lanes(SKUS, LANES, TARGETS, costs)
    assert lanes["holding_cost"].tolist() == pytest.approx([0.02, 0.02, 0.004])
    assert lanes["lost_sale_cost"].tolist() == pytest.approx([20.0, 20.0, 8.0])


def test_unknown_override_category_is_rejected():
    with pytest.raises(ValueError, match="unknown categories"):
        build_lanes(SKUS, LANES, TARGETS, CostParams(holding_rate_by_category={"garden": 0.1}))


def test_promotion_days_expand_sku_and_category_events():
    lanes = build_lanes(SKUS, LANES, TARGETS, CostParams())
    promotions = pd.DataFrame(
        {
            "promo_id": ["P1", "P2"],
            "sku_id": pd.array(["A", None], dtype="string"),
            "category": pd.array([None, "dairy"], dtype="string"),
            "dc_id": pd.array(["DC02", None], dtype="string"),
            "start_date": pd.to_datetime(["2025-01-01", "2025-01-02"]),
            "end_date": pd.to_datetime(["2025-01-03", "2025-01-02"]),
            "expected_uplift": [0.5, 0.9],
            "expert_coverage_days": [14.0, 20.0],
        }
    )
    days = build_promotion_days(promotions, lanes)
    got = {(row.lane_id, str(row.date.date())): (row.promo_id, row.expected_uplift) for row in days.itertuples()}
    assert got == {
        (1, "2025-01-01"): ("P1", 0.5),
        (1, "2025-01-02"): ("P2", 0.9),  # overlap: the larger uplift wins
        (1, "2025-01-03"): ("P1", 0.5),
        (0, "2025-01-02"): ("P2", 0.9),  # category event, every DC of the category
    }


def test_to_panel():
    table = pd.DataFrame(
        {
            "lane_id": [0, 1, 1],
            "date": pd.to_datetime(["2025-01-01", "2025-01-02", "2025-01-09"]),
            "value": [1.0, 2.0, 3.0],
        }
    )
    panel = to_panel(table, "value", 2, pd.date_range("2025-01-01", periods=3), fill=0.0)
    np.testing.assert_array_equal(panel, [[1.0, 0.0, 0.0], [0.0, 2.0, 0.0]])
