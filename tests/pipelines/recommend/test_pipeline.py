"""The recommend pipeline on an in-memory catalog (tiny data, a cold-start lane), and its failure mode."""

from pathlib import Path

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from kedro_datasets.pickle import PickleDataset

from orpr_kedro.core.data.contract import DataContractError
from orpr_kedro.pipelines.recommend import create_pipeline
from tests.core.test_recommend import random_policy


def _catalog(
    tiny_processed,
    fast_params,
    policy,
    state: pd.DataFrame,
    sales: pd.DataFrame,
    outputs: dict | None = None,
    execution: dict | None = None,
) -> DataCatalog:
    catalog = DataCatalog(
        datasets={
            "raw_inventory_state": MemoryDataset(state),
            "prm_lanes": MemoryDataset(tiny_processed["lanes"]),
            "prm_daily_sales": MemoryDataset(sales),
            "prm_promotion_days": MemoryDataset(tiny_processed["promotion_days"]),
            "ftr_demand_forecaster": MemoryDataset(tiny_processed["forecaster"], copy_mode="assign"),
            "mdl_orpr_policy": MemoryDataset(policy.to_payload(), copy_mode="assign"),
            # numbered as a training sample of its own: lane 0 here is lane 1 of prm_lanes
            "mi_or_labels": MemoryDataset(_labels_of_lane(tiny_processed["lanes"], 1, [0.0, 6.0])),
            "time_splits": MemoryDataset(tiny_processed["splits"].to_dict()),
            **(outputs or {}),
        }
    )
    values = fast_params.model_dump(mode="json")
    values["raw_files"] = {"raw_inventory_state": "data/test/01_raw/inventory_state.csv"}
    catalog["params:data_processing"] = values
    catalog["params:recommend"] = {"min_history_days": 14, "batch_size": 5}
    catalog["params:execution"] = execution or {"lanes_per_block": 4096}
    catalog["params:currency"] = "EUR"
    return catalog


def _labels_of_lane(lanes: pd.DataFrame, lane: int, coverage: list[float]) -> pd.DataFrame:
    """OR labels of one lane of ``lanes``, numbered 0 as in a training-lane sample."""
    return pd.DataFrame(
        {
            "lane_id": 0,
            "sku_id": lanes.loc[lane, "sku_id"],
            "dc_id": lanes.loc[lane, "dc_id"],
            "coverage_days": coverage,
            "split": "train",
        }
    )


@pytest.fixture(scope="module")
def policy(tiny_processed, fast_params):
    from orpr_kedro.core.forecasting.model import build_demand_panels
    from orpr_kedro.core.learning.features import build_decision_features

    splits = tiny_processed["splits"]
    panels = build_demand_panels(
        tiny_processed["daily_sales"],
        tiny_processed["promotion_days"],
        tiny_processed["lanes"],
        splits.data_end,
        fast_params.forecast.horizon_days,
    )
    return random_policy(
        build_decision_features(
            tiny_processed["forecasts"], panels, tiny_processed["lanes"], splits, fast_params.features
        )
    )


def _with_cold_start_lane(sales: pd.DataFrame, lane_id: int, days: int) -> pd.DataFrame:
    """The lane sells only on the last ``days`` days: a new launch."""
    start = sales["date"].max() - pd.Timedelta(days=days - 1)
    return sales[(sales["lane_id"] != lane_id) | (sales["date"] >= start)].reset_index(drop=True)


def test_recommend_on_an_in_memory_catalog(tiny_processed, tiny_data, fast_params, policy, tmp_path: Path):
    sales = _with_cold_start_lane(tiny_processed["daily_sales"], lane_id=2, days=6)
    state = tiny_data.inventory_state.astype({"as_of_date": str}).iloc[1:]  # as read from CSV; lane 0 has no row
    recommendations = CSVDataset(filepath=str(tmp_path / "recommendations.csv"), save_args={"index": False})
    outputs = SequentialRunner().run(
        create_pipeline(),
        _catalog(tiny_processed, fast_params, policy, state, sales, {"mo_recommendations": recommendations}),
    )
    summary = outputs["rpt_recommend_summary"].load().set_index("metric")["value"]

    table = recommendations.load()
    assert len(table) == len(tiny_processed["lanes"])  # lane 0 too, as no_state
    assert table.loc[0, "reason_code"] == "no_state" and table.loc[0, "order_units"] == 0
    cold = table[table["cold_start"]]
    lane = tiny_processed["lanes"].loc[2]
    assert cold[["sku_id", "dc_id", "policy_used", "history_days"]].values.tolist() == [
        [lane["sku_id"], lane["dc_id"], "incumbent_fallback", 6]
    ]
    assert cold["coverage_days"].iloc[0] == lane["target_turnover_days"]
    stated = table[table["reason_code"] != "no_state"]
    assert (stated.loc[~stated["cold_start"], "policy_used"] == "orpr").all()
    # closing stock of Monday 27 October: a daily lane orders for Tuesday, a weekly lane for next Monday;
    # 2- and 3-day lanes review every 2 or 3 days from the first decision date
    splits = tiny_processed["splits"]
    elapsed = (pd.Timestamp("2025-10-28") - splits.first_decision_date).days
    period = tiny_processed["lanes"].set_index(["sku_id", "dc_id"])["review_period"]
    for row in table.itertuples():
        p = int(period.loc[(row.sku_id, row.dc_id)])
        expected = pd.Timestamp("2025-10-28") + pd.Timedelta(days=(-elapsed) % p)
        assert pd.Timestamp(row.review_date) == expected, (row.sku_id, row.dc_id, p)
    by_period = table.assign(period=[int(period.loc[(s, d)]) for s, d in zip(table.sku_id, table.dc_id, strict=True)])
    assert (by_period["period"] == 1).any() and (by_period["period"] == 7).any()
    assert set(by_period.loc[by_period["period"] == 1, "review_date"]) == {"2025-10-28"}
    assert set(by_period.loc[by_period["period"] == 7, "review_date"]) == {"2025-11-03"}
    assert summary["lanes_without_state"] == "1" and summary["incumbent_fallback"] == "1"
    assert summary["reason_no_state"] == "1" and summary["currency"] == "EUR"
    assert summary["orders"] == str(int((table["order_units"] > 0).sum()))
    orders = outputs["mo_orders"].load()
    assert len(orders) == int((table["order_units"] > 0).sum())
    assert orders["order_value"].is_monotonic_decreasing and (orders["order_units"] > 0).all()
    by_dc = outputs["rpt_recommend_by_dc_category"].load().set_index(["dc_id", "category"])
    assert by_dc.loc[("all", "all"), "lanes"] == len(table)
    assert by_dc.loc[("all", "all"), "order_value"] == pytest.approx(table["order_value"].sum())


def test_a_bad_snapshot_fails_and_writes_nothing(tiny_processed, tiny_data, fast_params, policy, tmp_path: Path):
    state = tiny_data.inventory_state.copy()
    state.loc[3, "sku_id"] = "SKU_NEW"
    recommendations = CSVDataset(filepath=str(tmp_path / "recommendations.csv"))
    catalog = _catalog(
        tiny_processed,
        fast_params,
        policy,
        state,
        tiny_processed["daily_sales"],
        {"mo_recommendations": recommendations},
    )
    with pytest.raises(DataContractError) as caught:
        SequentialRunner().run(create_pipeline(), catalog)
    message = str(caught.value)
    assert (
        "raw_inventory_state (data/test/01_raw/inventory_state.csv): column 'sku_id, dc_id': unknown SKU-DC pair"
        in message
    )
    assert "1 row(s) (rows 3)" in message and "SKU_NEW" in message
    assert not recommendations.exists()


def _zero_cover(policy):
    """The same network deciding 0 days of cover for every lane."""
    import copy

    import torch

    zero = copy.deepcopy(policy)
    head = zero.model.decision_head[-1]
    with torch.no_grad():
        head.weight.zero_()
        head.bias.fill_(-10.0)
        head.bias[0] = 10.0
    return zero


def test_or_labels_of_a_lane_sample_explain_a_zero_cover_by_sku_dc(
    tiny_processed, tiny_data, fast_params, policy, tmp_path: Path
):
    """The labels number their own lane sample; the reason names the lane they belong to, by SKU-DC."""
    zero = _zero_cover(policy)
    assert zero.action_grid.values[0] == 0
    recommendations = CSVDataset(filepath=str(tmp_path / "recommendations.csv"), save_args={"index": False})
    catalog = _catalog(
        tiny_processed,
        fast_params,
        zero,
        tiny_data.inventory_state,
        tiny_processed["daily_sales"],
        {"mo_recommendations": recommendations},
    )
    SequentialRunner().run(create_pipeline(), catalog)
    table = recommendations.load()
    assert (table["coverage_days"] == 0).all()
    assert "the OR labels gave this lane 0 d on 1 of 2 dates" in table.loc[1, "reason"]
    assert "the OR labels" not in table.loc[0, "reason"]


def test_recommendations_in_lane_blocks_are_those_of_one_block(
    tiny_processed, tiny_data, fast_params, policy, tmp_path: Path
):
    """The node on blocks of 5 lanes in two processes (one block without a snapshot row) gives one block's rows."""
    state = tiny_data.inventory_state.iloc[[1, 2, 3, 4, 12, 13, 14]]  # lanes 5-9 (block 1) not in the snapshot
    sales = _with_cold_start_lane(tiny_processed["daily_sales"], lane_id=2, days=6)
    tables = {}
    for name, execution in {
        "one": {"lanes_per_block": 4096},
        "five": {"lanes_per_block": 5, "executor": {"kind": "processes", "n_workers": 2}, "spill_dir": str(tmp_path)},
    }.items():
        kept = PickleDataset(filepath=str(tmp_path / f"{name}.pkl"))
        SequentialRunner().run(
            create_pipeline(),
            _catalog(tiny_processed, fast_params, policy, state, sales, {"mo_recommendations": kept}, execution),
        )
        tables[name] = kept.load()
    assert (tables["one"]["reason_code"] == "no_state").sum() == len(tiny_processed["lanes"]) - len(state)
    assert tables["one"]["cold_start"].sum() == 1
    pd.testing.assert_frame_equal(tables["five"], tables["one"])
