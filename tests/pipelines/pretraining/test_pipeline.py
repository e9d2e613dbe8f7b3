"""The pretraining pipeline on an in-memory catalog."""

import pandas as pd
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from kedro_datasets.pandas import CSVDataset
from matplotlib.figure import Figure

from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.datasets import TorchModelDataset
from orpr_kedro.pipelines.pretraining import create_pipeline
from tests.core.learning.test_pretraining import OR_PARAMS, TINY, tiny_tables


def test_pretraining_on_an_in_memory_catalog(tiny_processed, fast_params, tmp_path):
    tables = tiny_tables(tiny_processed, fast_params)
    catalog = DataCatalog(
        datasets={
            "mi_training_features": MemoryDataset(tables["features"]),
            "mi_or_labels": MemoryDataset(tables["labels"]),
            "mi_or_review_labels": MemoryDataset(tables["review_labels"]),
            "mi_training_lanes": MemoryDataset(tiny_processed["lanes"]),
            "mi_training_sales": MemoryDataset(tiny_processed["daily_sales"]),
            "mi_training_forecast": MemoryDataset(tiny_processed["forecasts"]),
            "time_splits": MemoryDataset(tiny_processed["splits"].to_dict()),
            # a real file, so the model survives the runner releasing in-memory data
            "mdl_foundation_model": TorchModelDataset(filepath=str(tmp_path / "foundation_model.pt")),
            "rpt_pretraining_history": CSVDataset(filepath=str(tmp_path / "history.csv")),
        }
    )
    catalog["params:pretraining"] = TINY.model_dump(mode="json")
    catalog["params:or_labeling"] = OR_PARAMS.model_dump(mode="json")
    catalog["params:seed"] = 5
    outputs = SequentialRunner().run(create_pipeline(), catalog)
    result = {name: value.load() if hasattr(value, "load") else value for name, value in outputs.items()}

    assert {
        "rpt_pretraining_accuracy",
        "rpt_pretraining_forecast_accuracy",
        "rpt_pretraining_validation_kpis",
        "plt_pretraining_curves",
    } <= set(result)
    assert isinstance(result["plt_pretraining_curves"], Figure)
    policy = FoundationPolicy.from_payload(catalog.load("mdl_foundation_model"))
    assert policy.coverage_grid.tolist() == OR_PARAMS.coverage_grid.values()

    accuracy = result["rpt_pretraining_accuracy"]
    assert set(accuracy["model"]) == {"pretrained", "baseline_learner"} and set(accuracy["split"]) == {
        "train",
        "validation",
    }
    forecast = result["rpt_pretraining_forecast_accuracy"]
    assert set(forecast["model"]) == {"forecast_head", "data_processing_forecast"}
    kpis = result["rpt_pretraining_validation_kpis"]
    assert set(kpis["policy"]) == {"or_policy", "pretrained", "baseline_learner", "incumbent", "base_stock"}
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    # the same actual demand for every policy
    assert overall["demand_units"].nunique() == 1
    assert (overall["total_cost"] > 0).all()
    history = catalog.load("rpt_pretraining_history")
    assert isinstance(history, pd.DataFrame) and set(history["stage"]) == {"forecast", "decision_head", "finetune"}
