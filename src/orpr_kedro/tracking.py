"""What a tracked run records besides kedro-mlflow's parameters (docs/tracking.md).

Experiment tracking is optional (``make tracking`` installs kedro-mlflow, which
starts an MLflow run around every ``kedro run`` and logs the parameters). The
project hook :class:`~orpr_kedro.hooks.ExperimentTrackingHooks` adds, while such a
run is active:

* **parameters** of the typed blocks, one per key path (``or_labeling.solver.mip_gap``):
  Kedro hands the nodes pydantic models, which kedro-mlflow's dictionary flattening
  does not open (it logs each block as one string); see :func:`model_params`;
* **metrics** from the reporting tables (``rpt_*``): see :func:`report_metrics`;
* **artifacts**: every ``rpt_*`` table as CSV under ``reports/``, every ``plt_*``
  figure under ``figures/``, every ``mdl_*`` model under ``models/``.

Nothing here imports mlflow; the hook does, only when it is installed.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from typing import Any

import pandas as pd
from pydantic import BaseModel

__all__ = ["MAX_PARAM_LENGTH", "MAX_SMALL_TABLE_ROWS", "model_params", "report_metrics"]

#: MLflow's limit on the length of a parameter's value; longer values are cut.
MAX_PARAM_LENGTH = 6000

#: A reporting table without a ``scope`` column or ``metric``/``value`` layout gives
#: metrics only when it has at most this many rows (per-model logs and training
#: curves are artifacts, not headline metrics).
MAX_SMALL_TABLE_ROWS = 12

_LABEL_SKIP = {"scope", "note", "unit", "units"}
_UNSAFE = re.compile(r"[^A-Za-z0-9_\-./ ]+")


def model_params(inputs: Mapping[str, Any]) -> dict[str, str]:
    """The node's ``params:`` inputs that are parameter models, flattened for ``mlflow.log_params``.

    >>> from orpr_kedro.core.params import RecommendParams
    >>> model_params({"params:recommend": RecommendParams(batch_size=8), "prm_lanes": None})["recommend.batch_size"]
    '8'
    """
    flat: dict[str, str] = {}

    def add(prefix: str, value: Any) -> None:
        if isinstance(value, dict):
            for key, item in value.items():
                add(f"{prefix}.{key}", item)
        else:
            flat[prefix] = str(value)[:MAX_PARAM_LENGTH]

    for name, value in inputs.items():
        if name.startswith("params:") and isinstance(value, BaseModel):
            add(name.removeprefix("params:"), value.model_dump(mode="json"))
    return flat


def _metric_name(*parts: object) -> str:
    """An MLflow-legal metric name (letters, digits, ``_ - . / space``)."""
    return ".".join(_UNSAFE.sub("_", str(part)).strip("_") or "_" for part in parts)


def report_metrics(dataset_name: str, table: pd.DataFrame) -> dict[str, float]:
    """Headline metrics of one reporting table, as ``{name: value}`` for ``mlflow.log_metrics``.

    * ``metric``/``value`` tables (``rpt_rl_alignment_summary``): one metric per row
      with a numeric value, ``<table>.<metric>``.
    * tables with a ``scope`` column (KPI tables): the ``scope == "all"`` rows only,
      ``<table>.<labels>.<column>`` for every numeric column, where the labels are the
      row's text columns (``policy``, ``model``, ...).
    * other tables with at most :data:`MAX_SMALL_TABLE_ROWS` rows the same way;
      larger ones give nothing.

    Non-finite values are left out. Units are those of the table (currency, units,
    days, shares).
    """
    if not isinstance(table, pd.DataFrame) or table.empty:
        return {}
    if {"metric", "value"} <= set(table.columns):
        values = pd.to_numeric(table["value"], errors="coerce")
        return {
            _metric_name(dataset_name, metric): float(value)
            for metric, value in zip(table["metric"], values, strict=True)
            if pd.notna(value) and abs(value) != float("inf")
        }
    if "scope" in table.columns:
        table = table[table["scope"].astype(str) == "all"]
    elif len(table) > MAX_SMALL_TABLE_ROWS:
        return {}
    numeric = [
        column
        for column in table.columns
        if pd.api.types.is_numeric_dtype(table[column]) and not pd.api.types.is_bool_dtype(table[column])
    ]
    labels = [column for column in table.columns if column not in numeric and column not in _LABEL_SKIP]
    metrics: dict[str, float] = {}
    for _, row in table.iterrows():
        prefix = [row[column] for column in labels]
        for column in numeric:
            value = row[column]
            if pd.notna(value) and abs(float(value)) != float("inf"):
                metrics[_metric_name(dataset_name, *prefix, column)] = float(value)
    return metrics
