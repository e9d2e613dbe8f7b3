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


def test_missing_column_message_has_no_empty_rows_or_frame(tables):
    tables["raw_sales"] = tables["raw_sales"].rename(columns={"promo_flag": "promo_flg"})
    message = str(_error(tables))
    assert message.splitlines()[1:] == [
        "  - raw_sales (data/01_raw/sales.parquet): column 'promo_flag': required column is missing "
        "(columns found: sku_id, dc_id, date, sales_units, price, promo_flg); "
        "did you mean 'promo_flg'? Rename it to 'promo_flag'"
    ]


def test_header_only_table_is_an_error(tables):
    tables["raw_sales"] = tables["raw_sales"].head(0)
    [problem] = _error(tables).problems
    assert (problem.dataset, problem.column) == ("raw_sales", "*")
    assert problem.rule.startswith("the table has no rows (a file with only its header line?)")


def test_an_empty_promotion_calendar_is_valid(tables):
    tables["raw_promotions"] = tables["raw_promotions"].head(0)
    assert validate_raw_tables(tables)["raw_promotions"].empty


def test_infinite_price_is_an_error(tables):
    tables["raw_sales"].loc[[4, 9], "price"] = [float("inf"), -float("inf")]
    [problem] = _error(tables).problems
    assert (problem.column, problem.rule, list(problem.rows)) == ("price", "value must be finite (got inf)", [4, 9])


def _day_first(promotions: pd.DataFrame) -> pd.DataFrame:
    written = promotions.copy()
    for column in ("start_date", "end_date"):
        written[column] = written[column].dt.strftime("%d/%m/%Y")
    return written


def test_day_first_dates_without_a_format_are_an_error(tables):
    tables["raw_promotions"] = _day_first(tables["raw_promotions"])
    problems = _error(tables).problems
    assert [(p.dataset, p.column) for p in problems] == [
        ("raw_promotions", "start_date"),
        ("raw_promotions", "end_date"),
    ]
    assert problems[0].rule == (
        "value is not an ISO 8601 date YYYY-MM-DD (e.g. '17/01/2025'); dates in another format are never guessed "
        "(05/01/2025 can be 5 January or 1 May): name the format in data_processing.date_formats.raw_promotions, "
        "e.g. '%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)"
    )
    assert len(problems[0].rows) == len(tables["raw_promotions"])


def test_day_first_dates_with_their_format_are_read_correctly(tables):
    original = validate_raw_tables(tables)["raw_promotions"]
    tables["raw_promotions"] = _day_first(tables["raw_promotions"])
    typed = validate_raw_tables(tables, date_formats={"raw_promotions": "%d/%m/%Y"})["raw_promotions"]
    pd.testing.assert_frame_equal(typed, original)
    assert typed.loc[0, "start_date"] == pd.Timestamp("2025-01-17")  # written 17/01/2025


def test_a_configured_format_rejects_other_values(tables):
    tables["raw_promotions"] = _day_first(tables["raw_promotions"])
    tables["raw_promotions"].loc[2, "end_date"] = "2025-03-01"
    with pytest.raises(DataContractError) as caught:
        validate_raw_tables(tables, date_formats={"raw_promotions": "%d/%m/%Y"})
    [problem] = caught.value.problems
    assert problem.rule == "value is not a date in the configured format '%d/%m/%Y' (e.g. '2025-03-01')"
    assert list(problem.rows) == [2]


def test_ids_that_differ_by_leading_zeros_get_a_hint(tables):
    numbers = {sku: str(int(sku[3:])) for sku in tables["raw_sku_master"]["sku_id"]}
    padded = {sku: sku[3:] for sku in numbers}  # '00001' in the masters, '1' in the sales
    tables["raw_sales"]["sku_id"] = tables["raw_sales"]["sku_id"].map(numbers)
    for name in ("raw_sku_master", "raw_sku_dc_master"):
        tables[name]["sku_id"] = tables[name]["sku_id"].map(padded)
    tables["raw_promotions"]["sku_id"] = tables["raw_promotions"]["sku_id"].map(padded)
    [problem] = _error(tables).problems
    assert problem.rule == (
        "unknown SKU (not in raw_sku_master); IDs differ only by leading zeros ('1' here, '00001' in "
        "raw_sku_master): a file read them as numbers; read sku_id as text in both (catalog load_args: "
        "dtype: {sku_id: str}, or store it as a string column in Parquet)"
    )


def test_date_gap_names_the_missing_days(tables):
    sales = tables["raw_sales"]
    tables["raw_sales"] = sales.drop(index=[20, 21, 40]).reset_index(drop=True)
    [problem] = _error(tables).problems
    assert "missing days: (SKU00001, DC01): 2025-01-21, 2025-01-22, 2025-02-10; showing" in problem.rule


def test_a_lane_without_sales_rows_is_a_warning(tables, caplog):
    sales = tables["raw_sales"]
    tables["raw_sales"] = sales[(sales["sku_id"] != "SKU00002") | (sales["dc_id"] != "DC01")]
    with caplog.at_level("WARNING", logger="orpr_kedro.core.data.contract"):
        validate_raw_tables(tables)
    assert (
        "raw_sku_dc_master: 1 SKU-DC pair(s) have master data but no row in raw_sales ((SKU00002, DC01)); "
        "they stay in the lanes without history"
    ) in caplog.text
