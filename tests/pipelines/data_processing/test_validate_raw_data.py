"""The validate_raw_data node on streamed sales in lane blocks, and the blocks it writes as int_sales."""

import pandas as pd

from orpr_kedro.core.data.blocks import LANE
from orpr_kedro.core.data.contract import validate_raw_tables
from orpr_kedro.core.data.preparation import build_daily_sales, build_lanes
from orpr_kedro.datasets import LaneBlockDataset, ParquetSourceDataset
from orpr_kedro.pipelines.data_processing.nodes import validate_raw_data


def test_streamed_sales_in_blocks_give_the_daily_sales_of_the_whole_table(tiny_data, fast_params, tmp_path):
    raw = tiny_data.as_catalog_entries()
    folder = tmp_path / "01_raw" / "sales"
    folder.mkdir(parents=True)
    for number, start in enumerate(range(0, len(raw["raw_sales"]), 3000)):
        raw["raw_sales"].iloc[start : start + 3000].to_parquet(folder / f"part-{number:05d}.parquet", index=False)
    source = ParquetSourceDataset(filepath=str(folder), batch_rows=1000).load()
    execution = {"lanes_per_block": 5, "executor": {"kind": "processes", "n_workers": 2}, "spill_dir": str(tmp_path)}

    sales, skus, lanes_master, promotions, targets = validate_raw_data(
        source,
        raw["raw_sku_master"],
        raw["raw_sku_dc_master"],
        raw["raw_promotions"],
        raw["raw_category_targets"],
        fast_params.model_dump(mode="json"),
        execution,
    )
    assert sales.n_blocks == 5 and sales.lanes_per_block == 5  # 24 lanes
    assert sales.load(4)[LANE].unique().tolist() == [20, 21, 22, 23]
    int_sales = LaneBlockDataset(filepath=str(tmp_path / "02_intermediate" / "sales"))
    int_sales.save(sales)
    stored = int_sales.load()
    assert stored.n_blocks == 5 and len(stored.concat()) == 7200

    typed = validate_raw_tables(raw)
    lanes = build_lanes(skus, lanes_master, targets, fast_params.costs)
    pd.testing.assert_frame_equal(
        build_daily_sales(stored, lanes),
        build_daily_sales(typed["raw_sales"], build_lanes(*(typed[name] for name in _MASTERS), fast_params.costs)),
    )
    pd.testing.assert_frame_equal(promotions, typed["raw_promotions"])


_MASTERS = ("raw_sku_master", "raw_sku_dc_master", "raw_category_targets")
