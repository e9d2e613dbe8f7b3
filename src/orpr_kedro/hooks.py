"""Project hooks."""

from __future__ import annotations

import importlib.util
import logging
import pickle
import tempfile
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import click
import pandas as pd
from kedro.framework.hooks import hook_impl

from orpr_kedro.core.params import validate_parameters
from orpr_kedro.tracking import report_metrics

logger = logging.getLogger(__name__)


class ParameterValidationHooks:
    """Validate every pipeline's parameters at start-up.

    A typo or a wrong value in ``conf/<env>/parameters_*.yml`` fails the run
    before the first node, with a message that names the key, rather than
    hours later in the node that reads it.
    """

    @hook_impl
    def after_context_created(self, context: Any) -> None:
        """Validate the merged parameters of the active environment."""
        validated = validate_parameters(context.params)
        logger.info(
            "Parameters validated for environment '%s': %s",
            context.env or "local",
            ", ".join(sorted(validated)),
        )


class ExperimentTrackingHooks:
    """Metrics and artifacts of a tracked run; does nothing unless MLflow tracks it.

    kedro-mlflow (``make tracking``, docs/tracking.md) starts an MLflow run around
    ``kedro run`` and logs the parameters. While such a run is active this hook adds
    the headline metrics of every reporting table (:func:`orpr_kedro.tracking.report_metrics`)
    and logs ``rpt_*`` tables, ``plt_*`` figures and ``mdl_*`` models as artifacts.
    Without mlflow installed, or without an active run, it returns at once, so the
    default environment (``make run``, ``make test``) never touches MLflow.
    """

    def __init__(self) -> None:
        self._available = importlib.util.find_spec("mlflow") is not None

    @hook_impl
    def after_dataset_saved(self, dataset_name: str, data: Any) -> None:
        """Log what ``dataset_name`` contributes to the active MLflow run."""
        if not self._available or not dataset_name.startswith(("rpt_", "plt_", "mdl_")):
            return
        import mlflow  # noqa: PLC0415 - optional: only with the tracking extra

        if mlflow.active_run() is None:
            return
        if dataset_name.startswith("rpt_") and isinstance(data, pd.DataFrame):
            metrics = report_metrics(dataset_name, data)
            if metrics:
                mlflow.log_metrics(metrics)
            mlflow.log_text(data.to_csv(index=False), f"reports/{dataset_name}.csv")
        elif isinstance(data, str):  # text reports (markdown, html)
            suffix = {"markdown": "md", "html": "html"}.get(dataset_name.rsplit("_", 1)[-1], "txt")
            mlflow.log_text(data, f"reports/{dataset_name}.{suffix}")
        elif dataset_name.startswith("mdl_"):
            self._log_model(mlflow, dataset_name, data)
        else:
            for name, figure in _figures(dataset_name, data).items():
                mlflow.log_figure(figure, f"figures/{name}.png")

    @staticmethod
    def _log_model(mlflow: Any, dataset_name: str, data: Any) -> None:
        """A model as saved by its dataset: torch payloads as ``.pt``, others pickled."""
        with tempfile.TemporaryDirectory() as folder:
            if isinstance(data, Mapping):  # TorchModelDataset payload (weights, config, normalisation)
                import torch  # noqa: PLC0415

                path = Path(folder) / f"{dataset_name}.pt"
                torch.save(dict(data), path)
            else:
                path = Path(folder) / f"{dataset_name}.pkl"
                path.write_bytes(pickle.dumps(data))
            mlflow.log_artifact(str(path), artifact_path="models")


def _figures(dataset_name: str, data: Any) -> dict[str, Any]:
    """The matplotlib figures in what a MatplotlibDataset saves (one, a list or a dict)."""
    if hasattr(data, "savefig"):
        return {dataset_name: data}
    if isinstance(data, Mapping):
        items = data.items()
    elif isinstance(data, list | tuple):
        items = enumerate(data)
    else:
        return {}
    return {f"{dataset_name}/{key}": figure for key, figure in items if hasattr(figure, "savefig")}


class PlannerOutputsHooks:
    """At the end of a run, name the files a planner opens: the report and the orders.

    Only the files this run wrote are named (``kedro run --pipelines or_labeling``
    names none). They are printed on stdout after the run's log, so they are the last
    lines of ``make run``.
    """

    # dataset -> what it is, in the order printed
    OUTPUTS = {
        "rpt_report_html": "Report",
        "rpt_report_markdown": "Report (markdown)",
        "mo_orders": "Orders to approve",
        "mo_recommendations": "Every lane's decision",
    }

    def __init__(self) -> None:
        self._saved: set[str] = set()

    @hook_impl
    def before_pipeline_run(self) -> None:
        """Start a new list for this run."""
        self._saved = set()

    @hook_impl
    def after_dataset_saved(self, dataset_name: str) -> None:
        """Remember a planner's file when the run writes it."""
        if dataset_name in self.OUTPUTS:
            self._saved.add(dataset_name)

    @hook_impl
    def after_pipeline_run(self, catalog: Any) -> None:
        """Print one line per planner's file this run wrote."""
        lines = [
            f"{label}: {_shown_path(catalog.get(name))}" for name, label in self.OUTPUTS.items() if name in self._saved
        ]
        if lines:
            click.echo("\n".join(lines))


def _shown_path(dataset: Any) -> str:
    """The dataset's file, relative to the working directory when it lies under it."""
    path = Path(str(getattr(dataset, "_filepath", "")))
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)
