"""Nodes of the pretraining pipeline: thin wrappers around ``orpr_kedro.core``."""

from __future__ import annotations

import logging
from typing import Any

import pandas as pd
from matplotlib.figure import Figure
from matplotlib.ticker import MaxNLocator

from orpr_kedro.core.data.blocks import as_frame
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.figure_style import readable
from orpr_kedro.core.learning import pretraining, reports
from orpr_kedro.core.learning.baseline import BaselineLearner
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.samples import build_samples, decision_date_rows
from orpr_kedro.core.optimization import labeling
from orpr_kedro.core.params import ORLabelingParams, PretrainingParams, as_params
from orpr_kedro.core.simulation.actions import ActionGrid
from orpr_kedro.core.simulation.backtest import compare_on_period

logger = logging.getLogger(__name__)

POLICIES = ["pretrained", "baseline_learner"]


def _grid(or_labeling: ORLabelingParams) -> ActionGrid:
    return as_params(ORLabelingParams, or_labeling).action_grid()


def build_pretraining_samples(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    review_labels: pd.DataFrame,
    daily_sales: pd.DataFrame,
    params: PretrainingParams,
    or_labeling: ORLabelingParams,
) -> pd.DataFrame:
    """One sample per labelled lane and decision date (and other review day): features, OR state and label, demand."""
    settings = as_params(PretrainingParams, params)
    samples = build_samples(
        as_frame(features),
        labels,
        as_frame(daily_sales),
        _grid(or_labeling),
        settings.forecast_head.horizon_days,
        review_labels=review_labels,
    )
    counts = samples["split"].value_counts().to_dict()
    extra = int((samples["day_offset"] > 0).sum())
    logger.info("Pretraining samples: %s%s", counts, f" ({extra:,} on review days after the date)" if extra else "")
    return samples


def train_foundation_model(
    samples: pd.DataFrame, params: PretrainingParams, or_labeling: ORLabelingParams, seed: int
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Staged training; returns the model payload (weights, configuration, normalisation) and the curves."""
    settings = as_params(PretrainingParams, params)
    result = pretraining.train_foundation_model(samples, _grid(or_labeling), settings, seed)
    return result.payload(), result.history


def train_baseline_learner(
    samples: pd.DataFrame, params: PretrainingParams, or_labeling: ORLabelingParams, seed: int
) -> BaselineLearner:
    """Gradient-boosting classifier on flattened features and the same labels."""
    settings = as_params(PretrainingParams, params)
    return BaselineLearner.fit(samples, _grid(or_labeling), settings, seed)


def plot_training_curves(history: pd.DataFrame) -> Figure:
    """Loss and validation accuracy per epoch, one column per stage."""
    stages = [stage for stage in pretraining.STAGES if (history["stage"] == stage).any()]
    figure = Figure(figsize=(4.2 * max(len(stages), 1), 6.5), layout="constrained")
    axes = figure.subplots(2, max(len(stages), 1), squeeze=False)
    for column, stage in enumerate(stages):
        part = history[history["stage"] == stage]
        top, bottom = axes[0, column], axes[1, column]
        top.plot(part["epoch"], part["train_loss"], marker="o", label="train loss (stage objective)")
        validation = "val_pinball" if stage == "forecast" else "val_decision_loss"
        top.plot(part["epoch"], part[validation], marker="o", label=validation.replace("_", " "))
        top.set_title(f"stage {column + 1}: {stage}")
        top.set_xlabel("epoch")
        top.legend()
        for metric in ("val_top1_accuracy", "val_within_1_step", "val_within_2_steps"):
            bottom.plot(part["epoch"], part[metric], marker="o", label=metric.removeprefix("val_").replace("_", " "))
        bottom.set_ylim(0, 1)
        bottom.set_xlabel("epoch")
        bottom.set_ylabel("validation accuracy")
        bottom.legend()
        for axis in (top, bottom):
            axis.xaxis.set_major_locator(MaxNLocator(integer=True))
    figure.suptitle("Foundation model: training curves")
    return readable(figure)


def decide_sample_dates(
    model: dict[str, Any], baseline: BaselineLearner, samples: pd.DataFrame, params: PretrainingParams
) -> pd.DataFrame:
    """Label and decisions of both learners on every sample row of a decision date.

    Each row is decided from its features and the state the OR policy had reached on
    that date (from ``mi_or_labels``): what is known at decision time, on the OR
    trajectory. Review-day rows after the date train the networks but are left out
    here, so the table and the validation KPIs keep one row per lane and date.
    """
    settings = as_params(PretrainingParams, params)
    policy = FoundationPolicy.from_payload(model, batch_size=settings.inference_batch_size)
    rows = decision_date_rows(samples)
    return reports.decision_table(rows, {"pretrained": policy, "baseline_learner": baseline})


def report_decision_accuracy(decisions: pd.DataFrame) -> pd.DataFrame:
    """Top-1 and within +-1 / +-2 grid-step accuracy of both learners, train and validation."""
    table = reports.accuracy_table(decisions, POLICIES)
    for row in table[table["split"] == "validation"].itertuples():
        logger.info(
            "Validation %s: top-1 %.3f, within 1 step %.3f, within 2 steps %.3f",
            row.model,
            row.top1_accuracy,
            row.within_1_step,
            row.within_2_steps,
        )
    return table


def report_forecast_accuracy(model: dict[str, Any], samples: pd.DataFrame, params: PretrainingParams) -> pd.DataFrame:
    """WAPE of the forecast head against the data_processing forecast on the validation rows."""
    settings = as_params(PretrainingParams, params)
    policy = FoundationPolicy.from_payload(model, batch_size=settings.inference_batch_size)
    return reports.forecast_accuracy_table(policy, decision_date_rows(samples))


def simulate_validation_kpis(
    decisions: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    or_labeling: ORLabelingParams,
    seed: int,
) -> pd.DataFrame:
    """KPIs of the OR labels, both learners, the incumbent and base-stock on the validation period."""
    settings = as_params(ORLabelingParams, or_labeling)
    splits = TimeSplits.from_dict(time_splits)
    data = labeling.labeling_data(
        lanes, as_frame(daily_sales), as_frame(forecasts), splits.decision_dates(), splits.first_decision_date
    )
    actions = settings.action_grid()
    schedules = reports.schedules_from_decisions(decisions, POLICIES, actions.values if actions.is_coverage else None)
    result = compare_on_period(
        data, schedules, splits.validation_start, splits.test_start, seed, settings.max_lead_time, actions
    )
    table = result.kpi_table(data.lanes)
    cost = table[table["scope"] == "all"].set_index("policy")["total_cost"]
    logger.info(
        "Validation total cost: OR %.0f, pretrained %.0f (%+.1f%% vs OR), baseline learner %.0f (%+.1f%%), incumbent %.0f, base-stock %.0f",
        cost["or_policy"],
        cost["pretrained"],
        100 * (cost["pretrained"] / cost["or_policy"] - 1),
        cost["baseline_learner"],
        100 * (cost["baseline_learner"] / cost["or_policy"] - 1),
        cost["incumbent"],
        cost["base_stock"],
    )
    return table
