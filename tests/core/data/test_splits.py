"""Time splits on a known calendar."""

import pandas as pd
import pytest

from orpr_kedro.core.data.splits import TimeSplits, make_time_splits
from orpr_kedro.core.params import SplitParams


def test_boundaries_on_the_demo_calendar():
    splits = make_time_splits(pd.Timestamp("2024-01-01"), pd.Timestamp("2025-12-31"), SplitParams())
    # 2025-12-31 is a Wednesday: 8 whole weeks back is Thursday 2025-11-06 -> Monday 2025-11-03
    assert splits.test_start == pd.Timestamp("2025-11-03")
    assert splits.validation_start == pd.Timestamp("2025-09-08")
    # 2024-01-01 + 91 days = 2024-04-01, a Monday
    assert splits.first_decision_date == pd.Timestamp("2024-04-01")
    dates = splits.decision_dates()
    assert dates[0] == pd.Timestamp("2024-04-01") and dates[-1] == pd.Timestamp("2025-12-29")
    assert (dates.dayofweek == 0).all() and len(dates) == 92


def test_period_of():
    splits = make_time_splits(pd.Timestamp("2024-01-01"), pd.Timestamp("2025-12-31"), SplitParams())
    periods = splits.period_of(pd.to_datetime(["2024-03-31", "2024-04-01", "2025-09-07", "2025-09-08", "2025-11-03"]))
    assert list(periods) == ["warmup", "train", "train", "validation", "test"]


def test_round_trip_through_json_dict():
    splits = make_time_splits(
        pd.Timestamp("2024-01-01"), pd.Timestamp("2025-12-31"), SplitParams(holdout_categories=["pet"]), ["pet", "baby"]
    )
    assert TimeSplits.from_dict(splits.to_dict()) == splits
    assert splits.to_dict()["test_start"] == "2025-11-03"


def test_too_short_history_is_explained():
    with pytest.raises(ValueError, match="too short"):
        make_time_splits(pd.Timestamp("2025-01-01"), pd.Timestamp("2025-06-30"), SplitParams())


def test_unknown_holdout_category_is_ignored_with_a_warning(caplog):
    params = SplitParams(holdout_categories=["garden", "pet"])
    with caplog.at_level("WARNING", logger="orpr_kedro.core.data.splits"):
        splits = make_time_splits(pd.Timestamp("2024-01-01"), pd.Timestamp("2025-12-31"), params, ["pet", "toys"])
    assert splits.holdout_categories == ("pet",)
    assert "not in the data, ignored: ['garden'] (categories in the data: ['pet', 'toys'])" in caplog.text


def test_no_dates_is_explained():
    with pytest.raises(ValueError, match="The sales data has no dates"):
        make_time_splits(pd.NaT, pd.NaT, SplitParams())
