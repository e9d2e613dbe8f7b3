"""The or_labeling pipeline on an in-memory catalog."""

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from orpr_kedro.core.params import ORLabelingParams
from orpr_kedro.pipelines.or_labeling import create_pipeline


def test_or_labeling_on_an_in_memory_catalog(tiny_processed):
    params = ORLabelingParams.model_validate(
        {"coverage_grid": {"start": 0, "stop": 30, "step": 2}, "horizon_days": 21, "n_scenarios": 6}
    )
    catalog = DataCatalog(
        datasets={
            "prm_lanes": MemoryDataset(tiny_processed["lanes"]),
            "prm_daily_sales": MemoryDataset(tiny_processed["daily_sales"]),
            "ftr_demand_forecast": MemoryDataset(tiny_processed["forecasts"]),
            "time_splits": MemoryDataset(tiny_processed["splits"].to_dict()),
            "mi_or_labels": MemoryDataset(),
        }
    )
    catalog["params:or_labeling"] = params.model_dump(mode="json")
    catalog["params:seed"] = 5
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    result = {name: value.load() if hasattr(value, "load") else value for name, value in outputs.items()}

    solver_log, kpis = result["rpt_or_solver_log"], result["rpt_or_validation_kpis"]
    candidates = result["mi_or_candidates"]
    splits = tiny_processed["splits"]
    n_lanes = len(tiny_processed["lanes"])
    n_dates = len(splits.decision_dates(end=splits.test_start - pd.Timedelta(days=1)))
    assert len(candidates) == n_lanes * n_dates * 16
    assert len(solver_log) == n_dates * tiny_processed["lanes"]["category"].nunique()
    assert {"model_id", "solver", "status", "objective", "mip_gap", "solve_time_s", "fallback_reason"} <= set(solver_log.columns)
    assert set(kpis["policy"]) == {"or_policy", "incumbent", "base_stock"}
    assert {"total_cost", "holding_cost", "lost_sales_cost", "order_cost", "turnover_days", "in_stock_rate"} <= set(kpis.columns)
