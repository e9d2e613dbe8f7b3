"""The demo data generator: determinism, shape, and the patterns it promises."""

import numpy as np
import pandas as pd

from orpr_kedro.core.data.contract import RAW_CONTRACTS, validate_raw_tables
from orpr_kedro.core.data.demo_data import generate_demo_data
from orpr_kedro.core.params import DemoDataConfig


def test_same_seed_same_tables(tiny_config):
    first, second = generate_demo_data(tiny_config, seed=3), generate_demo_data(tiny_config, seed=3)
    for name, table in first.as_catalog_entries().items():
        pd.testing.assert_frame_equal(table, second.as_catalog_entries()[name])


def test_other_seed_other_sales(tiny_config):
    first, second = generate_demo_data(tiny_config, seed=3), generate_demo_data(tiny_config, seed=4)
    assert not first.sales["sales_units"].equals(second.sales["sales_units"])


def test_tables_follow_the_contract_exactly(tiny_data):
    for name, table in tiny_data.as_catalog_entries().items():
        assert list(table.columns) == RAW_CONTRACTS[name].column_names, name
    validate_raw_tables(tiny_data.as_catalog_entries())


def test_demo_scale_shape():
    data = generate_demo_data(DemoDataConfig(), seed=11)
    lanes = data.sku_dc_master
    assert data.sku_master["category"].nunique() == 8
    assert lanes["dc_id"].nunique() == 3
    assert 200 <= len(lanes) <= 400
    days = data.sales.groupby(["sku_id", "dc_id"])["date"].nunique()
    assert days.max() == 731
    # a long tail: a good share of lanes sell less than one unit a day, a few sell a lot
    mean_sales = data.sales.groupby(["sku_id", "dc_id"])["sales_units"].mean()
    assert (mean_sales < 1).mean() > 0.2
    assert mean_sales.max() > 20 * mean_sales.median()
    # both kinds of promotion events
    assert data.promotions["sku_id"].notna().any() and data.promotions["category"].notna().any()
    assert data.sku_master["case_pack"].min() >= 1 and (data.sku_master["moq"] >= data.sku_master["case_pack"]).all()


def test_promotion_uplift_and_post_promotion_dip_are_visible():
    data = generate_demo_data(DemoDataConfig(), seed=5)
    sales = data.sales.copy()
    events = data.promotions[data.promotions["sku_id"].notna() & data.promotions["dc_id"].isna()]
    lane_mean = sales.groupby(["sku_id", "dc_id"])["sales_units"].transform("mean")
    sales["relative"] = sales["sales_units"] / lane_mean.where(lane_mean > 0)
    during, after = [], []
    for event in events.itertuples():
        of_sku = sales[sales["sku_id"] == event.sku_id]
        during.append(of_sku[(of_sku["date"] >= event.start_date) & (of_sku["date"] <= event.end_date)]["relative"])
        after_window = (of_sku["date"] > event.end_date) & (of_sku["date"] <= event.end_date + pd.Timedelta(days=3))
        after.append(of_sku[after_window & ~of_sku["promo_flag"]]["relative"])
    assert pd.concat(during).mean() > 1.5
    assert pd.concat(after).mean() < pd.concat(during).mean()


def test_weekly_seasonality_is_visible():
    data = generate_demo_data(DemoDataConfig(), seed=5)
    by_weekday = data.sales.groupby(data.sales["date"].dt.dayofweek)["sales_units"].sum()
    assert by_weekday.max() / by_weekday.min() > 1.05


def test_launched_lanes_start_later():
    data = generate_demo_data(DemoDataConfig(launch_share=0.2), seed=5)
    first = data.sales.groupby(["sku_id", "dc_id"])["date"].min()
    assert (first > first.min()).any()
    assert np.all(data.sales.groupby(["sku_id", "dc_id"])["date"].max() == data.sales["date"].max())
