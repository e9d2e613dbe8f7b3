"""The data_processing pipeline on an in-memory catalog, and its failure mode."""

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import ParquetDataset

from orpr_kedro.core.data.blocks import LaneBlocks, as_frame
from orpr_kedro.core.data.contract import DataContractError
from orpr_kedro.datasets import LaneBlockDataset
from orpr_kedro.pipelines.data_processing import create_pipeline


def _params(fast_params) -> dict:
    return fast_params.model_dump(mode="json")


def _catalog(
    raw: dict[str, pd.DataFrame], fast_params, outputs: dict | None = None, execution: dict | None = None
) -> DataCatalog:
    datasets = {name: MemoryDataset(table) for name, table in raw.items()}
    datasets.setdefault("raw_forecast", MemoryDataset(None))
    datasets.update(outputs or {})
    catalog = DataCatalog(datasets=datasets)
    catalog["params:data_processing"] = _params(fast_params)
    catalog["params:execution"] = execution or {}
    catalog["params:seed"] = 5
    return catalog


def _load(value):
    value = value.load() if hasattr(value, "load") and not isinstance(value, LaneBlocks) else value
    return as_frame(value) if isinstance(value, LaneBlocks) else value


def test_pipeline_runs_on_an_in_memory_catalog(tiny_data, fast_params):
    catalog = _catalog(tiny_data.as_catalog_entries(), fast_params)
    # outputs not in the catalog come back from the runner; intermediates are released
    result = {name: _load(value) for name, value in SequentialRunner().run(create_pipeline(), catalog).items()}
    assert set(result) == {"rpt_forecast_accuracy", "mi_decision_features", "rpt_data_quality", "mi_forecast_errors"}
    features = result["mi_decision_features"]
    accuracy = result["rpt_forecast_accuracy"].set_index(["model", "scope"])

    assert features["lane_id"].nunique() == len(tiny_data.sku_dc_master)
    assert set(features["split"]) == {"train", "validation", "test"}
    assert features.groupby("lane_id").size().nunique() == 1
    assert {"hist_1", "hist_14", "fcst_0", "fcst_13", "category_sales_share", "target_turnover_days", "alpha"} <= set(
        features.columns
    )
    # shares add up to one within a category (zero where the category sold nothing lately)
    totals = features.groupby(["category", "decision_date"])["category_sales_share"].sum()
    near_one = totals.sub(1.0).abs().lt(1e-9)
    assert (near_one | totals.eq(0.0)).all() and near_one.mean() > 0.9
    assert accuracy.loc[("forecast", "all"), "wape"] < accuracy.loc[("seasonal_naive", "all"), "wape"]


def _persisted(folder: Path) -> dict:
    """File datasets for the validated sales (lane blocks), the lanes and the forecast."""
    return {
        "int_sales": LaneBlockDataset(filepath=str(folder / "int_sales")),
        "prm_lanes": ParquetDataset(filepath=str(folder / "prm_lanes.parquet")),
        "ftr_demand_forecast": LaneBlockDataset(filepath=str(folder / "ftr_demand_forecast")),
    }


def _files(folder: Path) -> dict[str, bytes]:
    return {path.relative_to(folder).as_posix(): path.read_bytes() for path in folder.rglob("*") if path.is_file()}


def test_bad_input_fails_and_overwrites_nothing(tiny_data, fast_params, tmp_path: Path):
    pipeline = create_pipeline()
    persisted = _persisted(tmp_path)
    others = {name: MemoryDataset() for name in pipeline.all_outputs() - set(persisted)}
    SequentialRunner().run(pipeline, _catalog(tiny_data.as_catalog_entries(), fast_params, {**persisted, **others}))
    before = _files(tmp_path)
    assert sorted(before) == [
        "ftr_demand_forecast/_blocks.json",
        "ftr_demand_forecast/block-00000.parquet",
        "int_sales/_blocks.json",
        "int_sales/block-00000.parquet",
        "prm_lanes.parquet",
    ]

    raw = tiny_data.as_catalog_entries()
    bad_sales = raw["raw_sales"].drop(columns="price")
    bad_sales.loc[7, "sales_units"] = -3
    bad_sales.loc[8, "sku_id"] = "SKU_UNKNOWN"
    raw["raw_sales"] = bad_sales
    persisted = _persisted(tmp_path)
    others = {name: MemoryDataset() for name in pipeline.all_outputs() - set(persisted)}
    with pytest.raises(DataContractError) as caught:
        SequentialRunner().run(pipeline, _catalog(raw, fast_params, {**persisted, **others}))
    message = str(caught.value)
    assert "column 'price': required column is missing" in message
    assert "column 'sales_units': must be >= 0: 1 row(s) (rows 7)" in message
    assert "column 'sku_id': unknown SKU (not in raw_sku_master): 1 row(s) (rows 8)" in message
    assert _files(tmp_path) == before


@pytest.mark.parametrize("kind", ["serial", "processes", "dask"])
def test_lane_blocks_give_the_whole_table_outputs(tiny_data, fast_params, kind):
    if kind == "dask":
        pytest.importorskip("dask.distributed")  # a local cluster of two worker processes
    # no row sampling (max_training_rows above the data), so the forecaster is the same model
    params = fast_params.model_copy(
        update={"forecast": fast_params.forecast.model_copy(update={"max_training_rows": 10_000_000})}
    )
    raw = tiny_data.as_catalog_entries()
    whole = SequentialRunner().run(create_pipeline(), _catalog(raw, params))
    blocked = SequentialRunner().run(
        create_pipeline(),
        _catalog(raw, params, execution={"lanes_per_block": 5, "executor": {"kind": kind, "n_workers": 2}}),
    )
    n_lanes = len(tiny_data.sku_dc_master)
    assert whole["mi_decision_features"].load().n_blocks == 1
    assert blocked["mi_decision_features"].load().n_blocks == -(-n_lanes // 5)
    for name in ("mi_decision_features", "mi_forecast_errors", "rpt_data_quality"):
        pd.testing.assert_frame_equal(_load(blocked[name]), _load(whole[name]), check_exact=True)
    # sums added block by block: equal up to the order of the additions
    pd.testing.assert_frame_equal(
        _load(blocked["rpt_forecast_accuracy"]), _load(whole["rpt_forecast_accuracy"]), rtol=1e-12
    )
