"""Nodes of the or_labeling pipeline: thin wrappers around ``orpr_kedro.core``."""

from __future__ import annotations

import logging
import time
from typing import Any

import pandas as pd

from orpr_kedro.core.data.blocks import as_frame
from orpr_kedro.core.data.sample import training_world
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization import GurobiLicence, labeling
from orpr_kedro.core.optimization.scenarios import ForecastErrors
from orpr_kedro.core.optimization.summary import log_solve_summary
from orpr_kedro.core.params import ExecutionParams, ORLabelingParams, as_params
from orpr_kedro.core.simulation.backtest import compare_on_period

logger = logging.getLogger(__name__)


def sample_training_lanes(
    lanes: pd.DataFrame,
    daily_sales: Any,
    forecasts: Any,
    features: Any,
    execution: ExecutionParams,
    seed: int,
) -> tuple[pd.DataFrame, Any, Any, Any]:
    """The lanes the training stages (labels, network, RL, evaluation) work on, and their tables.

    Every lane unless ``execution.training_lanes`` bounds them: then a sample stratified
    by category, renumbered 0..n-1 with ``universe_lane_id`` in the lanes table
    (:mod:`orpr_kedro.core.data.sample`).
    """
    settings = as_params(ExecutionParams, execution)
    chosen, tables = training_world(
        lanes,
        {"daily_sales": daily_sales, "forecasts": forecasts, "features": features},
        settings.training_lanes,
        seed,
        settings.lanes_per_block,
    )
    if len(chosen) < len(lanes):
        logger.info(
            "Training stages on %s of %s lanes (execution.training_lanes, stratified by category)",
            f"{len(chosen):,}",
            f"{len(lanes):,}",
        )
    return chosen, tables["daily_sales"], tables["forecasts"], tables["features"]


def _data(
    lanes: pd.DataFrame, daily_sales: pd.DataFrame, forecasts: pd.DataFrame, splits: TimeSplits
) -> labeling.LabelingData:
    return labeling.labeling_data(
        lanes, as_frame(daily_sales), as_frame(forecasts), splits.decision_dates(), splits.first_decision_date
    )


def calibrate_scenarios(
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: ORLabelingParams,
) -> pd.DataFrame:
    """Out-of-sample error of the forecast per lane group (the scenarios' calibration), over ``scenarios.window``."""
    settings = as_params(ORLabelingParams, params)
    splits = TimeSplits.from_dict(time_splits)
    errors = labeling.forecast_errors(
        _data(lanes, daily_sales, forecasts, splits),
        splits,
        settings.horizon_days,
        group=settings.scenarios.group,
        min_rows=settings.scenarios.min_rows,
        window=settings.scenarios.window,
    )
    pooled = errors.table[errors.table[settings.scenarios.group] == "__all__"].iloc[0]
    logger.info(
        "Forecast error over %s (%d lane-origins): bias %.3f, level sd %.3f; 80%% intervals cover "
        "%.0f%% of actual totals with daily noise alone, %.0f%% calibrated%s",
        "each lane's lead time plus review period"
        if settings.scenarios.window == "protection"
        else f"{errors.horizon_days}-day totals",
        pooled["n_origins"],
        pooled["bias"],
        pooled["level_sd"],
        100 * pooled["coverage80_nb"],
        100 * pooled["coverage80_calibrated"],
        "" if settings.scenarios.calibrate else " (not applied: or_labeling.scenarios.calibrate is false)",
    )
    return errors.table


def create_or_labels(
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    scenario_calibration: pd.DataFrame,
    gurobi_licence: GurobiLicence,
    params: ORLabelingParams,
    execution: ExecutionParams,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Label the decision dates of the configured periods; return labels, solver log, candidates, review-day labels.

    At ``or_labeling.cadence: review`` the OR policy steps on every day and the lanes
    reviewing after the week's decision date add label rows (``mi_or_review_labels``,
    empty at ``weekly``).

    ``scenario_calibration`` (:func:`calibrate_scenarios`) calibrates the demand
    scenarios unless ``or_labeling.scenarios.calibrate`` is false.
    ``gurobi_licence`` comes from the ``gurobi`` credentials (``GurobiLicenceDataset``);
    only its kind is logged and written (solver log column ``gurobi_licence``). The
    models of a date run on ``execution.executor``, the executor of every stage.
    """
    settings = as_params(ORLabelingParams, params)
    if not isinstance(gurobi_licence, GurobiLicence):
        raise TypeError(
            f"gurobi_licence must be a GurobiLicence (the gurobi_licence dataset), got {type(gurobi_licence).__name__}"
        )
    started = time.perf_counter()
    if gurobi_licence.kind != "pip" and settings.solver.size_limit is not None:
        logger.info(
            "A %s licence is configured but or_labeling.solver.size_limit is %d: larger models still go "
            "to HiGHS; set it to null for a licence without a size limit",
            gurobi_licence.kind,
            settings.solver.size_limit,
        )
    splits = TimeSplits.from_dict(time_splits)
    data = _data(lanes, daily_sales, forecasts, splits)
    if settings.scenarios.calibrate and settings.mode == "scenario":
        errors = ForecastErrors.from_table(scenario_calibration, settings.scenarios.group)
        data = data.with_forecast_errors(*errors.lane_arrays(data.lanes))
    indices = labeling.windows_to_label(data.decision_dates, splits, settings)
    with TaskExecutor(as_params(ExecutionParams, execution).executor) as executor:
        output = labeling.label_windows(
            data,
            indices,
            settings,
            seed,
            executor,
            labeling.initial_state(data.lanes),
            licence=gurobi_licence,
            cadence=settings.cadence,
        )
    output.labels["split"] = splits.period_of(output.labels["decision_date"])
    output.review_labels["split"] = splits.period_of(output.review_labels["decision_date"])
    log_solve_summary(
        "or_labeling",
        output.solver_log,
        logger,
        elapsed_s=time.perf_counter() - started,
        licence_kind=gurobi_licence.kind,
    )
    if settings.cadence == "review":
        logger.info(
            "OR labels at each lane's review: %s on decision dates and %s on the other review days",
            f"{len(output.labels):,}",
            f"{len(output.review_labels):,}",
        )
    return output.labels, output.solver_log, output.candidates, output.review_labels


def check_or_policy(
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: ORLabelingParams,
    seed: int,
) -> pd.DataFrame:
    """KPIs of the OR policy, the incumbent rule and base-stock on the validation period."""
    settings = as_params(ORLabelingParams, params)
    splits = TimeSplits.from_dict(time_splits)
    data = _data(lanes, daily_sales, forecasts, splits)
    result = compare_on_period(
        data,
        {"or_policy": labels},
        splits.validation_start,
        splits.test_start,
        seed,
        settings.max_lead_time,
        settings.action_grid(),
    )
    table = result.kpi_table(data.lanes)
    overall = table[table["scope"] == "all"].set_index("policy")["total_cost"]
    change = overall["or_policy"] / overall["incumbent"] - 1.0
    logger.info(
        "Validation total cost: OR policy %.0f, incumbent %.0f (%+.1f%%), base-stock %.0f",
        overall["or_policy"],
        overall["incumbent"],
        100 * change,
        overall["base_stock"],
    )
    return table
