"""The data-quality report of the daily sales and its treatment."""

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.forecasting.quality import QUALITY_COLUMNS, DataQualityError, assess_sales, summarise
from orpr_kedro.core.params import DataQualityParams

PARAMS = DataQualityParams(leading_zero_min_days=5, long_zero_run_days=4, outlier_ratio=10.0, outlier_min_units=3.0)


def _sales() -> tuple[pd.DataFrame, pd.DataFrame]:
    """Four lanes over 12 days: a late launch, an outlier with a long zero run, a silent lane, an infinite price."""
    units = {
        0: [0, 0, 0, 0, 0, 0, 2, 1, 3, 2, 2, 1],  # 6 leading zeros: launched on day 6
        1: [2, 3, 2, 0, 0, 0, 0, 2, 10**12, 3, 2, 2],  # 4 zero days after launch, one 1e12 day
        2: [0] * 12,  # never sold
        3: [1, 0, 0, 1, 2, 1, 1, 0, 1, 1, 2, 1],  # sells from day 0, two days without a finite price
    }
    dates = pd.date_range("2025-01-01", periods=12, freq="D")
    rows = [
        {
            "lane_id": lane,
            "sku_id": f"S{lane}",
            "dc_id": "D1",
            "date": day,
            "sales_units": value,
            "price": np.inf if (lane == 3 and 4 <= i <= 5) else 2.5,
            "promo_flag": False,
        }
        for lane, values in units.items()
        for i, (day, value) in enumerate(zip(dates, values, strict=True))
    ]
    sales = pd.DataFrame(rows).astype({"sales_units": "int64"})
    lanes = pd.DataFrame({"lane_id": [0, 1, 2, 3, 4], "sku_id": ["S0", "S1", "S2", "S3", "S4"], "dc_id": "D1"})
    return sales, lanes


def test_findings_and_treatment_are_exact():
    sales, lanes = _sales()
    treated, report = assess_sales(sales, lanes, PARAMS)
    assert list(report.columns) == list(QUALITY_COLUMNS)
    got = report[["check", "lane_id", "days", "value", "threshold", "action"]].to_dict("records")
    assert got == [
        {"check": "leading_zeros", "lane_id": 0, "days": 6, "value": 0.0, "threshold": 5.0, "action": "trimmed"},
        {"check": "long_zero_run", "lane_id": 1, "days": 4, "value": 0.0, "threshold": 4.0, "action": "kept"},
        {"check": "outlier", "lane_id": 1, "days": 1, "value": 1e12, "threshold": 20.0, "action": "capped"},
        {
            "check": "non_finite_price",
            "lane_id": 3,
            "days": 2,
            "value": pytest.approx(np.nan, nan_ok=True),
            "threshold": pytest.approx(np.nan, nan_ok=True),
            "action": "filled",
        },
        {
            "check": "no_sales",
            "lane_id": 2,
            "days": 12,
            "value": 0.0,
            "threshold": pytest.approx(np.nan, nan_ok=True),
            "action": "kept",
        },
        {
            "check": "no_sales",
            "lane_id": 4,
            "days": 0,
            "value": 0.0,
            "threshold": pytest.approx(np.nan, nan_ok=True),
            "action": "kept",
        },
    ]
    assert report.loc[0, "first_date"] == pd.Timestamp("2025-01-01")
    assert report.loc[0, "last_date"] == pd.Timestamp("2025-01-06")
    # lane 0 starts at its first sale; the outlier is cut to 10 x the median positive day (2) = 20
    assert treated.groupby("lane_id")["date"].min().to_dict()[0] == pd.Timestamp("2025-01-07")
    assert len(treated) == len(sales) - 6
    assert treated.loc[treated["lane_id"] == 1, "sales_units"].max() == 20
    assert treated["sales_units"].dtype == sales["sales_units"].dtype
    # infinite prices become missing, which the panels fill with the last known price
    assert treated.loc[treated["lane_id"] == 3, "price"].isna().sum() == 2
    assert np.isfinite(treated["price"].dropna()).all()
    assert summarise(report) == (
        "1 leading_zeros (trimmed, 6 lane-days), 1 long_zero_run (kept, 4 lane-days), "
        "1 outlier (capped, 1 lane-days), 1 non_finite_price (filled, 2 lane-days), 2 no_sales (kept, 12 lane-days)"
    )


def test_short_leading_zeros_are_demand_and_keep_leaves_outliers():
    sales, lanes = _sales()
    params = PARAMS.model_copy(update={"leading_zero_min_days": 7, "outlier_action": "keep"})
    treated, report = assess_sales(sales, lanes, params)
    assert "leading_zeros" not in set(report["check"])
    assert report.loc[report["check"] == "outlier", "action"].tolist() == ["kept"]
    assert len(treated) == len(sales)
    assert treated["sales_units"].max() == 10**12


def test_clean_data_has_an_empty_report_and_is_unchanged():
    sales, lanes = _sales()
    clean = sales[sales["lane_id"] == 3].assign(price=2.5)
    treated, report = assess_sales(clean, lanes[lanes["lane_id"] == 3], PARAMS)
    assert report.empty and list(report.columns) == list(QUALITY_COLUMNS)
    pd.testing.assert_frame_equal(treated, clean.reset_index(drop=True))


def test_fail_stops_with_the_summary():
    sales, lanes = _sales()
    with pytest.raises(DataQualityError, match=r"1 outlier \(capped, 1 lane-days\).*data_quality.fail is true"):
        assess_sales(sales, lanes, PARAMS.model_copy(update={"fail": True}))
