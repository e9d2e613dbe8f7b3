"""Experiment tracking: headline metrics from reporting tables, and a hook that stays idle without MLflow."""

import importlib.machinery
import sys
import types

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402

from orpr_kedro.core.params import ORLabelingParams  # noqa: E402
from orpr_kedro.hooks import ExperimentTrackingHooks  # noqa: E402
from orpr_kedro.tracking import MAX_SMALL_TABLE_ROWS, model_params, report_metrics  # noqa: E402

KPIS = pd.DataFrame(
    {
        "policy": ["or_policy", "incumbent", "or_policy"],
        "scope": ["all", "all", "dairy"],
        "total_cost": [100.0, 120.0, 30.0],
        "turnover_days": [9.1, 26.5, float("nan")],
    }
)


def test_kpi_tables_give_their_overall_rows():
    assert report_metrics("rpt_or_validation_kpis", KPIS) == {
        "rpt_or_validation_kpis.or_policy.total_cost": 100.0,
        "rpt_or_validation_kpis.or_policy.turnover_days": 9.1,
        "rpt_or_validation_kpis.incumbent.total_cost": 120.0,
        "rpt_or_validation_kpis.incumbent.turnover_days": 26.5,
    }


def test_metric_value_tables_keep_their_numeric_rows():
    summary = pd.DataFrame(
        {"metric": ["total_cost_change_pct", "as_of_date", "kl (nats)"], "value": ["-6.7", "2025-12-31", "0.02"]}
    )
    assert report_metrics("rpt_rl_alignment_summary", summary) == {
        "rpt_rl_alignment_summary.total_cost_change_pct": -6.7,
        "rpt_rl_alignment_summary.kl _nats": 0.02,
    }


def test_long_tables_without_a_scope_give_no_metrics():
    small = pd.DataFrame({"model": ["pretrained"], "split": ["validation"], "top1_accuracy": [0.37]})
    assert report_metrics("rpt_pretraining_accuracy", small) == {
        "rpt_pretraining_accuracy.pretrained.validation.top1_accuracy": 0.37
    }
    log = pd.DataFrame({"model_id": [f"m{i}" for i in range(MAX_SMALL_TABLE_ROWS + 1)], "objective": 1.0})
    assert report_metrics("rpt_or_solver_log", log) == {}
    assert report_metrics("rpt_empty", pd.DataFrame()) == {}


class _FakeMlflow(types.ModuleType):
    """Records the calls the hook makes."""

    def __init__(self, active: bool):
        super().__init__("mlflow")
        self.__spec__ = importlib.machinery.ModuleSpec("mlflow", None)
        self.active, self.calls = active, []

    def active_run(self):
        return object() if self.active else None

    def __getattr__(self, name):
        if name.startswith("log_"):
            return lambda *args, **kwargs: self.calls.append((name, args, kwargs))
        raise AttributeError(name)


@pytest.fixture()
def fake_mlflow(monkeypatch):
    def install(active: bool) -> _FakeMlflow:
        module = _FakeMlflow(active)
        monkeypatch.setitem(sys.modules, "mlflow", module)
        return module

    return install


def test_the_hook_logs_metrics_and_artifacts_in_an_active_run(fake_mlflow):
    mlflow = fake_mlflow(active=True)
    hook = ExperimentTrackingHooks()
    assert hook._available  # the (fake) mlflow module is importable
    figure = plt.figure()
    hook.after_dataset_saved("rpt_or_validation_kpis", KPIS)
    hook.after_dataset_saved("plt_rl_training_curves", figure)
    hook.after_dataset_saved("mdl_baseline_learner", {"weights": [1.0, 2.0]})
    hook.after_dataset_saved("prm_lanes", KPIS)  # not a report, figure or model
    plt.close(figure)
    logged = [(name, args[-1] if name != "log_metrics" else len(args[0])) for name, args, kwargs in mlflow.calls]
    assert logged[:3] == [
        ("log_metrics", 4),
        ("log_text", "reports/rpt_or_validation_kpis.csv"),
        ("log_figure", "figures/plt_rl_training_curves.png"),
    ]
    assert mlflow.calls[3][0] == "log_artifact" and mlflow.calls[3][1][0].endswith("mdl_baseline_learner.pt")
    assert len(mlflow.calls) == 4


def test_the_hook_is_idle_without_a_run_or_without_mlflow(fake_mlflow, monkeypatch):
    mlflow = fake_mlflow(active=False)
    hook = ExperimentTrackingHooks()
    hook.after_dataset_saved("rpt_or_validation_kpis", KPIS)
    assert mlflow.calls == []
    monkeypatch.setattr("importlib.util.find_spec", lambda name: None)
    assert ExperimentTrackingHooks()._available is False


def test_the_hook_logs_parameter_models_one_key_path_each(fake_mlflow):
    """Kedro hands the nodes models; kedro-mlflow would log each as one string."""
    mlflow = fake_mlflow(active=True)
    inputs = {"params:or_labeling": ORLabelingParams(), "params:seed": 3, "prm_lanes": KPIS}
    ExperimentTrackingHooks().before_node_run(inputs)
    [(name, (params,), _)] = mlflow.calls
    assert name == "log_params" and params["or_labeling.solver.mip_gap"] == str(ORLabelingParams().solver.mip_gap)
    assert "seed" not in params and all(key.startswith("or_labeling.") for key in params)
    assert model_params({"params:seed": 3}) == {}
