"""Tables of the pretraining stage: decisions and accuracy per policy, forecast accuracy, schedules."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Protocol

import numpy as np
import pandas as pd

from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.pretraining import decision_metrics, wape
from orpr_kedro.core.learning.samples import (
    demand_columns,
)


class IndexPolicy(Protocol):
    """A policy that picks an action index per feature row (the foundation policy, the baseline learner)."""

    def decide_index(self, features: pd.DataFrame) -> np.ndarray: ...


def decision_table(samples: pd.DataFrame, policies: Mapping[str, IndexPolicy]) -> pd.DataFrame:
    """Label and each policy's decision for every sample row (state from the samples).

    Each policy has ``decide_index(features_frame)``; the state is the OR-trajectory
    state of the row (``on_hand``, ``on_order``), so a decision uses only what was
    known on the decision date plus that state.
    """
    table = samples[["lane_id", "decision_date", "category", "split", "coverage_index", "coverage_days"]].copy()
    for name, policy in policies.items():
        table[f"{name}_index"] = policy.decide_index(samples)
    return table


def accuracy_table(decisions: pd.DataFrame, policy_names: list[str]) -> pd.DataFrame:
    """Top-1, within +-1 / +-2 steps and mean step error per policy and split."""
    rows = []
    for name in policy_names:
        for split in ("train", "validation"):
            part = decisions[decisions["split"] == split]
            rows.append(
                {
                    "model": name,
                    "split": split,
                    "n_rows": len(part),
                    **decision_metrics(part[f"{name}_index"].to_numpy(), part["coverage_index"].to_numpy()),
                    "mean_index": float(part[f"{name}_index"].mean()),
                    "mean_label_index": float(part["coverage_index"].mean()),
                }
            )
    return pd.DataFrame(rows)


def forecast_accuracy_table(policy: FoundationPolicy, samples: pd.DataFrame, split: str = "validation") -> pd.DataFrame:
    """Forecast head (median and quantiles) vs the data_processing forecast on the same rows and days.

    WAPE and bias are over the days both forecasts cover (the head's horizon, capped
    by the feature window) and the known actuals; pinball loss and interval coverage
    only for the head, which has quantiles.
    """
    rows = samples[samples["split"] == split].reset_index(drop=True)
    config = policy.config
    horizon = min(config.forecast_horizon, config.forecast_days)
    actual = rows[demand_columns(config.forecast_horizon)].to_numpy(dtype="float64")[:, :horizon]
    quantiles = policy.forecast(rows)[:, :horizon, :].astype("float64")
    median = quantiles[:, :, int(np.argmin(np.abs(np.asarray(config.quantiles) - 0.5)))]
    baseline = rows[[f"fcst_{h}" for h in range(horizon)]].to_numpy(dtype="float64")
    known = np.isfinite(actual)
    total = float(actual[known].sum())
    levels = np.asarray(config.quantiles)
    error = actual[..., None] - quantiles
    pinball = np.maximum(levels * error, (levels - 1.0) * error).mean(axis=2)
    inside = (actual >= quantiles[..., 0]) & (actual <= quantiles[..., -1])

    def row(name: str, predicted: np.ndarray, **extra) -> dict:
        return {
            "model": name,
            "split": split,
            "horizon_days": horizon,
            "n_rows": len(rows),
            "wape": wape(actual, predicted),
            "bias": float((predicted[known] - actual[known]).sum() / total) if total > 0 else np.nan,
            **extra,
        }

    return pd.DataFrame(
        [
            row(
                "forecast_head",
                median,
                mean_pinball=float(pinball[known].mean()) if known.any() else np.nan,
                interval_coverage=float(inside[known].mean()) if known.any() else np.nan,
            ),
            row("data_processing_forecast", baseline, mean_pinball=np.nan, interval_coverage=np.nan),
        ]
    )


def schedules_from_decisions(
    decisions: pd.DataFrame, policy_names: list[str], grid: np.ndarray | None, split: str = "validation"
) -> dict[str, pd.DataFrame]:
    """Action schedules (lane_id, decision_date, coverage_index and coverage_days) of the OR labels and each policy.

    ``grid``: the action grid's values (coverage days of a coverage grid: a policy's
    coverage is its grid value; NaN for service levels, whose schedules are decided by
    index).
    """
    part = decisions[decisions["split"] == split]
    schedules = {"or_policy": part[["lane_id", "decision_date", "coverage_index", "coverage_days"]]}
    for name in policy_names:
        index = part[f"{name}_index"].to_numpy()
        schedules[name] = pd.DataFrame(
            {
                "lane_id": part["lane_id"].to_numpy(),
                "decision_date": part["decision_date"].to_numpy(),
                "coverage_index": index,
                "coverage_days": grid[index] if grid is not None else np.full(len(index), np.nan),
            }
        )
    return schedules
