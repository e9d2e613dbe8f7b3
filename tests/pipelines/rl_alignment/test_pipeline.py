"""The rl_alignment pipeline on an in-memory catalog (tiny data, conf/test parameters)."""

import logging

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner
from matplotlib.figure import Figure

from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.pipelines.rl_alignment import create_pipeline
from orpr_kedro.pipelines.rl_alignment.nodes import _rule_weights
from tests.core.rl.test_alignment import OR_PARAMS, SEED, one_torch_thread, rl_params, rl_tables, tiny_calibration  # noqa: F401 (autouse fixture)


class KeptDataset(MemoryDataset):
    """A memory dataset the runner does not release, so the test can read intermediate outputs."""

    def _release(self) -> None:
        pass


def test_rl_alignment_on_an_in_memory_catalog(tiny_processed, fast_params, tmp_path, caplog):
    tables = rl_tables(tiny_processed, fast_params)
    params = rl_params(tmp_path)
    calibration = tiny_calibration(tiny_processed)
    catalog = DataCatalog(
        datasets={
            "mi_scenario_calibration": MemoryDataset(calibration),
            "mdl_foundation_model": MemoryDataset(tables["policy"].to_payload()),
            "mi_training_features": MemoryDataset(tables["features"]),
            "mi_or_labels": MemoryDataset(tables["labels"]),
            "mi_training_lanes": MemoryDataset(tiny_processed["lanes"]),
            "mi_training_sales": MemoryDataset(tiny_processed["daily_sales"]),
            "mi_training_forecast": MemoryDataset(tiny_processed["forecasts"]),
            "time_splits": MemoryDataset(tiny_processed["splits"].to_dict()),
            "mdl_aligned_policy": KeptDataset(),
            "rpt_rl_training_curves": KeptDataset(),
            "mo_rl_validation_decisions": KeptDataset(),
            "rpt_rl_validation_kpis": KeptDataset(),
            "mdl_orpr_policy": KeptDataset(),
        }
    )
    catalog["params:rl_alignment"] = params.model_dump(mode="json")
    catalog["params:or_labeling"] = OR_PARAMS.model_dump(mode="json")
    catalog["params:evaluation"] = {}
    catalog["params:seed"] = SEED
    with caplog.at_level(logging.INFO, logger="orpr_kedro.pipelines.rl_alignment.nodes"):
        outputs = SequentialRunner().run(create_pipeline(), catalog)
    result = {name: value.load() if hasattr(value, "load") else value for name, value in outputs.items()}

    assert isinstance(result["plt_rl_training_curves"], Figure)
    aligned = FoundationPolicy.from_payload(catalog.load("mdl_aligned_policy"))
    assert aligned.coverage_grid.tolist() == OR_PARAMS.coverage_grid.values()

    curves = catalog.load("rpt_rl_training_curves")
    assert curves["epoch"].tolist() == list(range(1, params.epochs + 1))
    assert {"reward", "sim", "band", "turnover", "or_agreement", "promotion", "total_cost", "kl", "entropy"} <= set(
        curves.columns
    )
    # one checkpoint per epoch
    assert len(list((tmp_path / "checkpoints").rglob("epoch_*.pt"))) == min(params.epochs, params.keep_checkpoints)

    kpis = catalog.load("rpt_rl_validation_kpis")
    assert set(kpis["policy"]) == {"pretrained", "aligned", "or_policy", "incumbent", "base_stock"}
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    assert overall["demand_units"].nunique() == 1  # the same demand for every policy
    # ORPR deploys the aligned policy only if the paired interval of its validation cost
    # change vs the pretrained network lies below zero
    deployed = catalog.load("mdl_orpr_policy")
    gate = deployed["metadata"]["alignment_gate"]
    change = overall.loc["aligned", "total_cost"] / overall.loc["pretrained", "total_cost"] - 1
    assert gate["rule"] == "interval" and gate["change"] == pytest.approx(change, rel=1e-9)
    assert gate["low"] <= gate["change"] <= gate["high"]
    expected = "aligned" if gate["high"] < 0 else "pretrained"
    assert deployed["metadata"]["orpr_network"] == expected
    # coverage-day actions: no service levels to floor, and no tuned base-stock in the loop
    assert deployed["metadata"]["service_floor"] == []
    source = catalog.load("mdl_aligned_policy" if expected == "aligned" else "mdl_foundation_model")
    assert all(deployed["state_dict"][name].equal(tensor) for name, tensor in source["state_dict"].items())
    decisions = catalog.load("mo_rl_validation_decisions")
    assert decisions.loc[decisions["policy"] == "aligned", "kl_to_reference"].ge(0).all()

    summary = result["rpt_rl_alignment_summary"].set_index("metric")["value"]
    assert {"total_cost_change_pct", "kl_aligned_to_pretrained_mean", "training_env_steps"} <= set(summary.index)
    assert summary["kl_aligned_to_pretrained_mean"] >= 0
    assert isinstance(result["rpt_rl_alignment_summary"], pd.DataFrame)
    # the summary is one console line (every fact in the table, at DEBUG), not one line per metric
    lines = [
        r.getMessage() for r in caplog.records if r.name.endswith("rl_alignment.nodes") and r.levelno == logging.INFO
    ]
    assert [line for line in lines if "summary" in line] == []
    [line] = [line for line in lines if line.startswith("rl_alignment: ")]
    assert "pretrained ->" in line and "environment steps in" in line and "mean KL to pretrained" in line


def test_a_rule_term_that_outweighs_cost_is_named(caplog):
    curves = pd.DataFrame(
        {"sim": [-0.10, -0.10], "band": [0.0, 0.0], "turnover": [-0.30, -0.10], "or_agreement": [-0.01, -0.01]}
    )
    with caplog.at_level("WARNING"):
        rows = dict((name, value) for name, value, _ in _rule_weights(curves))
    assert rows == pytest.approx(
        {"reward_band_vs_cost": 0.0, "reward_turnover_vs_cost": 2.0, "reward_or_agreement_vs_cost": 0.1}
    )
    assert [r.getMessage().split(":")[1].split(" term")[0] for r in caplog.records] == [" the reward's turnover"]
