"""The OR model's expected cost against the cost it realised, on a case summed by hand."""

import pandas as pd
import pytest

from orpr_kedro.core.evaluation.calibration import calibration_table


def test_expected_against_realised_per_category_and_overall():
    dates = pd.to_datetime(["2025-01-06", "2025-01-13", "2025-01-20"])
    expected = pd.DataFrame(
        {
            "decision_date": dates.repeat(2),
            "lane_id": [0, 1] * 3,
            "category": ["a", "b"] * 3,
            "expected_cost": [100.0, 7.0, 50.0, 10.0, 60.0, 11.0],  # the first week is burn-in
        }
    )
    kpis = pd.DataFrame(
        {
            "policy": ["or_policy", "or_policy", "base_stock"],
            "lane_id": [0, 1, 0],
            "category": ["a", "b", "a"],
            "total_cost": [100.0, 25.0, 1.0],
        }
    )
    table = calibration_table(expected, kpis, pd.Timestamp("2025-01-13")).set_index("category")
    assert table.loc["a", "expected_cost"] == 110.0 and table.loc["a", "realised_cost"] == 100.0
    assert table.loc["a", "error"] == pytest.approx(0.10) and not table.loc["a", "within_tolerance"]
    assert table.loc["b", "error"] == pytest.approx(21.0 / 25.0 - 1.0)
    assert table.loc["all", "expected_cost"] == 131.0 and table.loc["all", "realised_cost"] == 125.0
    assert table.loc["all", "error"] == pytest.approx(0.048) and table.loc["all", "within_tolerance"]
    assert table.loc["all", "n_weeks"] == 2 and table.loc["all", "n_lanes"] == 2
    with pytest.raises(ValueError, match="no scored expected costs"):
        calibration_table(expected, kpis, pd.Timestamp("2026-01-01"))
