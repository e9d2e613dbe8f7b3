"""Each rule of the raw data contract, with the message it gives."""

import re

import pandas as pd
import pytest

from orpr_kedro.core.data.contract import DataContractError, validate_raw_tables

SOURCES = {
    "raw_sales": "data/01_raw/sales.parquet",
    "raw_sku_master": "data/01_raw/sku_master.csv",
    "raw_sku_dc_master": "data/01_raw/sku_dc_master.csv",
    "raw_promotions": "data/01_raw/promotions.csv",
    "raw_category_targets": "data/01_raw/category_targets.csv",
}


@pytest.fixture()
def tables(tiny_data):
    return {name: table.copy() for name, table in tiny_data.as_catalog_entries().items()}


def _error(tables) -> DataContractError:
    with pytest.raises(DataContractError) as caught:
        validate_raw_tables(tables, sources=SOURCES, max_examples=3)
    return caught.value


def test_valid_tables_come_back_typed(tables):
    typed = validate_raw_tables(tables)
    assert typed["raw_sales"]["sales_units"].dtype == "int64"
    assert typed["raw_sales"]["date"].dtype == "datetime64[ns]"
    assert typed["raw_sales"]["promo_flag"].dtype == bool
    assert typed["raw_sku_master"]["case_pack"].dtype == "int64"


def test_csv_style_strings_are_coerced(tables):
    sku_master = tables["raw_sku_master"].astype(str)
    promotions = tables["raw_promotions"].copy()
    promotions["start_date"] = promotions["start_date"].dt.strftime("%Y-%m-%d")
    tables.update(raw_sku_master=sku_master, raw_promotions=promotions)
    typed = validate_raw_tables(tables)
    assert typed["raw_sku_master"]["unit_cost"].dtype == "float64"
    assert typed["raw_promotions"]["start_date"].dtype == "datetime64[ns]"


def test_missing_column_is_named_with_its_file(tables):
    tables["raw_sales"] = tables["raw_sales"].drop(columns="price")
    message = str(_error(tables))
    assert "raw_sales (data/01_raw/sales.parquet): column 'price': required column is missing" in message


def test_negative_quantity_names_rows(tables):
    tables["raw_sales"].loc[[10, 11], "sales_units"] = [-1, -5]
    error = _error(tables)
    [problem] = error.problems
    assert (problem.dataset, problem.column, problem.rule) == ("raw_sales", "sales_units", "must be >= 0")
    assert list(problem.rows) == [10, 11]
    assert "2 row(s) (rows 10, 11)" in str(error)
    assert re.search(r"10\s+SKU\d+\s+DC\d+\s+\S+\s+-1", str(error))


def test_unknown_sku_in_sales(tables):
    tables["raw_sales"].loc[5, "sku_id"] = "SKU99999"
    message = str(_error(tables))
    assert "column 'sku_id': unknown SKU (not in raw_sku_master): 1 row(s) (rows 5)" in message


def test_unknown_sku_dc_pair_in_sales(tables):
    sales = tables["raw_sales"]
    first_lane = sales.iloc[0]
    other = sales[(sales["sku_id"] == first_lane["sku_id"]) & (sales["dc_id"] != first_lane["dc_id"])]
    lanes = tables["raw_sku_dc_master"]
    tables["raw_sku_dc_master"] = lanes[
        ~((lanes["sku_id"] == first_lane["sku_id"]) & (lanes["dc_id"] == first_lane["dc_id"]))
    ]
    error = _error(tables)
    rule = [p for p in error.problems if p.column == "sku_id, dc_id"]
    assert rule and rule[0].rule == "unknown SKU-DC pair (not in raw_sku_dc_master)"
    assert len(rule[0].rows) == (sales["sku_id"] == first_lane["sku_id"]).sum() - len(other)


def test_several_problems_reported_together(tables):
    tables["raw_sales"] = tables["raw_sales"].drop(columns="promo_flag")
    tables["raw_sales"].loc[3, "sales_units"] = -2
    tables["raw_sales"].loc[4, "sku_id"] = "NOPE"
    error = _error(tables)
    rules = {(p.column, p.rule) for p in error.problems}
    assert (
        "promo_flag",
        "required column is missing (columns found: sku_id, dc_id, date, sales_units, price)",
    ) in rules
    assert ("sales_units", "must be >= 0") in rules
    assert ("sku_id", "unknown SKU (not in raw_sku_master)") in rules
    # the row moved to an unknown SKU leaves a one-day gap in its original lane
    assert any(
        column == "date" and rule.startswith("date gaps: 1 SKU-DC pair(s) miss 1 day(s)") for column, rule in rules
    )
    assert str(error).startswith("Raw data failed validation with 4 problem(s); no output was written.")


def test_unparseable_and_missing_values(tables):
    sku_master = tables["raw_sku_master"].astype(object)
    sku_master.loc[2, "unit_cost"] = "twelve"
    sku_master.loc[3, "case_pack"] = 2.5
    sku_master.loc[4, "category"] = None
    tables["raw_sku_master"] = sku_master
    rules = {(p.column, p.rule, tuple(p.rows)) for p in _error(tables).problems}
    assert ("unit_cost", "value is not a valid float", (2,)) in rules
    assert ("case_pack", "value is not a valid int", (3,)) in rules
    assert ("category", "value is missing", (4,)) in rules


def test_duplicate_keys(tables):
    tables["raw_sales"] = pd.concat([tables["raw_sales"], tables["raw_sales"].iloc[[0]]], ignore_index=True)
    [problem] = _error(tables).problems
    assert problem.column == "sku_id, dc_id, date" and problem.rule == "key must be unique (duplicate rows)"
    assert list(problem.rows) == [0, len(tables["raw_sales"]) - 1]


def test_date_gap(tables):
    sales = tables["raw_sales"]
    tables["raw_sales"] = sales.drop(index=[20, 21, 22]).reset_index(drop=True)
    [problem] = _error(tables).problems
    assert problem.column == "date"
    assert problem.rule.startswith("date gaps: 1 SKU-DC pair(s) miss 3 day(s)")
    assert list(problem.rows) == [0]


def test_missing_master_for_a_lane(tables):
    skus = tables["raw_sku_master"]
    tables["raw_sku_master"] = skus[skus["sku_id"] != "SKU00002"]
    rules = {(p.dataset, p.rule) for p in _error(tables).problems}
    assert ("raw_sku_dc_master", "unknown SKU (not in raw_sku_master)") in rules
    assert ("raw_sales", "unknown SKU (not in raw_sku_master)") in rules


def test_unknown_category(tables):
    tables["raw_sku_master"].loc[0, "category"] = "garden"
    [problem] = _error(tables).problems
    assert (problem.dataset, problem.column, problem.rule) == (
        "raw_sku_master",
        "category",
        "unknown category (not in raw_category_targets)",
    )


def test_promotion_ending_before_it_starts(tables):
    promotions = tables["raw_promotions"]
    promotions.loc[1, "end_date"] = promotions.loc[1, "start_date"] - pd.Timedelta(days=2)
    [problem] = _error(tables).problems
    assert (problem.dataset, problem.column, problem.rule, list(problem.rows)) == (
        "raw_promotions",
        "end_date",
        "promotion ends before it starts",
        [1],
    )
    assert "raw_promotions (data/01_raw/promotions.csv)" in str(_error(tables))


def test_promotion_needs_exactly_one_target(tables):
    promotions = tables["raw_promotions"]
    row = promotions.index[promotions["sku_id"].notna()][0]
    promotions.loc[row, "category"] = (
        promotions.loc[row, "category"] if pd.notna(promotions.loc[row, "category"]) else "snacks"
    )
    rules = {p.rule for p in _error(tables).problems}
    assert "exactly one of sku_id and category must be given" in rules


def test_alpha_bounds(tables):
    tables["raw_category_targets"].loc[0, "alpha"] = 1.5
    [problem] = _error(tables).problems
    assert (problem.column, problem.rule) == ("alpha", "must be <= 1")
