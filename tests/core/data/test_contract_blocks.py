"""The raw sales validated in lane blocks (contract.validate_history): the whole table's result, block by block.

The tiny data has 24 lanes of 300 days, its sales in lane order: lane ``i`` is rows
``300 i`` to ``300 i + 299``. With two lanes per block, block ``b`` holds rows
``600 b`` to ``600 b + 599``.
"""

from __future__ import annotations

import pandas as pd
import pytest

from orpr_kedro.core.data.blocks import LANE, spill_folder
from orpr_kedro.core.data.contract import MASTER_TABLES, DataContractError, validate_history, validate_raw_tables
from orpr_kedro.core.data.sources import ParquetSource
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.params import ExecutorParams

SOURCES = {"raw_sales": "data/01_raw/sales"}


@pytest.fixture()
def tables(tiny_data):
    return {name: table.copy() for name, table in tiny_data.as_catalog_entries().items()}


def _validate(tables, lanes_per_block=2, kind="serial", sales=None, tmp_path=None, **kwargs):
    with TaskExecutor(ExecutorParams(kind=kind, n_workers=2), progress=False) as executor:
        return validate_history(
            tables["raw_sales"] if sales is None else sales,
            {name: tables[name] for name in MASTER_TABLES},
            executor=executor,
            spill=spill_folder(str(tmp_path / "spill") if tmp_path else None),
            lanes_per_block=lanes_per_block,
            sources=SOURCES,
            max_examples=3,
            **kwargs,
        )


def _error(tables, **kwargs) -> DataContractError:
    with pytest.raises(DataContractError) as caught:
        _validate(tables, **kwargs)
    return caught.value


@pytest.mark.parametrize("kind", ["serial", "processes"])
def test_blocks_give_the_typed_rows_of_one_block(tables, kind):
    masters, sales = _validate(tables, lanes_per_block=2, kind=kind)
    _, whole = _validate(tables, lanes_per_block=None)
    assert (sales.blocks.n_blocks, whole.blocks.n_blocks) == (12, 1)
    assert (sales.n_rows, sales.first_date, sales.last_date) == (
        7200,
        pd.Timestamp("2025-01-01"),
        pd.Timestamp("2025-10-27"),
    )
    block = sales.blocks.load(2)
    assert block[LANE].unique().tolist() == [4, 5] and len(block) == 600
    # lane 4's days, then lane 5's: the table's order
    assert block["date"].iloc[[0, 299, 300]].dt.strftime("%Y-%m-%d").tolist() == [
        "2025-01-01",
        "2025-10-27",
        "2025-01-01",
    ]
    pd.testing.assert_frame_equal(sales.blocks.concat(), whole.blocks.concat())
    typed = validate_raw_tables(tables)
    pd.testing.assert_frame_equal(sales.blocks.concat().drop(columns=LANE), typed["raw_sales"])
    assert list(sales.blocks.concat().columns) == [
        "sku_id",
        "dc_id",
        "date",
        "sales_units",
        "price",
        "promo_flag",
        "lane_id",
    ]
    assert masters["raw_sku_dc_master"].equals(typed["raw_sku_dc_master"])


def test_a_bad_row_in_block_2_keeps_its_row_number(tables):
    tables["raw_sales"].loc[1510, "sales_units"] = -4  # lane 5, in block 2
    [problem] = _error(tables).problems
    assert (problem.column, problem.rule, problem.rows.tolist()) == ("sales_units", "must be >= 0", [1510])
    assert problem.examples.index.tolist() == [1510]
    assert "column 'sales_units': must be >= 0: 1 row(s) (rows 1510)" in str(_error(tables))


def test_the_same_rule_in_two_blocks_is_one_problem(tables):
    tables["raw_sales"].loc[[6100, 20, 6101, 3000], "sales_units"] = [-1, -2, -3, -4]  # blocks 10, 0, 10, 5
    error = _error(tables)
    [problem] = error.problems
    assert problem.rows.tolist() == [20, 3000, 6100, 6101]
    assert problem.examples.index.tolist() == [20, 3000, 6100]  # max_examples 3, by row
    assert problem.examples["sales_units"].tolist() == [-2, -4, -1]
    assert "must be >= 0: 4 row(s) (rows 20, 3000, 6100, ...)" in str(error)


def test_rows_of_no_lane_are_validated_and_reported(tables):
    sales = tables["raw_sales"]
    sales.loc[[700, 4100], "dc_id"] = "DC99"  # known SKU, unknown pair
    sales.loc[5, "sku_id"] = "SKU99999"
    sales.loc[4100, "price"] = -1.0  # a row of no lane is still checked column by column
    problems = {(p.column, p.rule): p.rows.tolist() for p in _error(tables).problems}
    assert problems[("price", "must be > 0")] == [4100]
    assert problems[("sku_id", "unknown SKU (not in raw_sku_master)")] == [5]
    assert problems[("sku_id, dc_id", "unknown SKU-DC pair (not in raw_sku_dc_master)")] == [700, 4100]
    # the three rows leave a one-day gap in their lanes (0, 2 and 13); gaps are not checked on unknown pairs
    gaps = next(p for p in _error(tables).problems if p.column == "date")
    assert gaps.rule.startswith("date gaps: 3 SKU-DC pair(s) miss 3 day(s) between their first date and the data end ")
    assert gaps.rows.tolist() == [0, 600, 3900]


def test_date_gaps_are_measured_to_the_end_of_the_whole_table(tables):
    sales = tables["raw_sales"]
    # both lanes of block 1 (lanes 2 and 3) stop two days early: the block's own last date is earlier
    early = sales.index[(sales.index >= 600) & (sales.index < 1200) & (sales["date"] >= "2025-10-26")]
    tables["raw_sales"] = sales.drop(index=early).reset_index(drop=True)
    [problem] = _error(tables).problems
    assert problem.rule == (
        "date gaps: 2 SKU-DC pair(s) miss 4 day(s) between their first date and the data end 2025-10-27 "
        "(report zero-sales days as rows with sales_units 0); missing days: (SKU00002, DC02): 2025-10-26, "
        "2025-10-27; (SKU00003, DC01): 2025-10-26, 2025-10-27; showing each pair's first row"
    )
    assert problem.rows.tolist() == [600, 898]


def test_an_empty_block_is_no_empty_table(tables, caplog):
    sales = tables["raw_sales"]
    tables["raw_sales"] = sales.drop(index=range(600, 1200)).reset_index(drop=True)  # block 1 has no rows
    with caplog.at_level("WARNING", logger="orpr_kedro.core.data.contract"):
        _, validated = _validate(tables)
    assert validated.blocks.load(1).empty and validated.n_rows == 6600
    assert (
        "raw_sku_dc_master: 2 SKU-DC pair(s) have master data but no row in raw_sales "
        "((SKU00002, DC02), (SKU00003, DC01))"
    ) in caplog.text
    tables["raw_sales"] = sales.head(0)
    [problem] = _error(tables).problems
    assert (problem.dataset, problem.column) == ("raw_sales", "*")


def _parts(frame: pd.DataFrame, folder) -> ParquetSource:
    """The frame as a folder of Parquet files of 2,500 rows, read in batches of 1,000."""
    folder.mkdir()
    for number, start in enumerate(range(0, len(frame), 2500)):
        frame.iloc[start : start + 2500].to_parquet(folder / f"part-{number:05d}.parquet", index=False)
    return ParquetSource(str(folder), batch_rows=1000)


def test_a_parquet_folder_is_streamed_as_the_table(tables, tmp_path):
    source = _parts(tables["raw_sales"], tmp_path / "good")
    _, streamed = _validate(tables, sales=source, tmp_path=tmp_path)
    _, in_memory = _validate(tables)
    pd.testing.assert_frame_equal(streamed.blocks.concat(), in_memory.blocks.concat())
    assert streamed.blocks.n_blocks == 12 and streamed.n_rows == 7200

    tables["raw_sales"].loc[[10, 6500], "sales_units"] = [-1, -2]
    with pytest.raises(DataContractError) as caught:
        _validate(tables, sales=_parts(tables["raw_sales"], tmp_path / "bad"), tmp_path=tmp_path)
    [problem] = caught.value.problems
    assert problem.rows.tolist() == [10, 6500]
    assert str(caught.value) == str(_error(tables, lanes_per_block=None))
