"""Nodes of the data_processing pipeline: thin wrappers around ``orpr_kedro.core``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from orpr_kedro.core import processing
from orpr_kedro.core.data import preparation
from orpr_kedro.core.data.blocks import LaneBlocks, spill_folder
from orpr_kedro.core.data.contract import validate_history
from orpr_kedro.core.data.preflight import check_run_span
from orpr_kedro.core.data.sources import ParquetSource
from orpr_kedro.core.data.splits import TimeSplits, make_time_splits
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.forecasting import model as forecasting
from orpr_kedro.core.forecasting.provided import provided_forecaster
from orpr_kedro.core.params import DataProcessingParams, ExecutionParams, as_params

logger = logging.getLogger(__name__)
Table = pd.DataFrame | LaneBlocks


def validate_raw_data(
    raw_sales: pd.DataFrame | ParquetSource,
    raw_sku_master: pd.DataFrame,
    raw_sku_dc_master: pd.DataFrame,
    raw_promotions: pd.DataFrame,
    raw_category_targets: pd.DataFrame,
    params: DataProcessingParams,
    execution: ExecutionParams,
) -> tuple[LaneBlocks, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Check all five raw tables against the data contract and return them typed, the sales in lane blocks.

    Every later node depends on this one, so a contract breach stops the run
    before any output is replaced; the error lists every problem with its file,
    column, rule and example rows. The parameters are cross-checked against the
    data here too (categories they name, a history long enough for the splits).
    The sales (a frame, or a Parquet source streamed in record batches) are never
    held whole: they are checked block by block of ``execution.lanes_per_block`` lanes
    on ``execution.executor``.
    """
    settings = as_params(DataProcessingParams, params)
    run = as_params(ExecutionParams, execution)
    with TaskExecutor(run.executor) as executor:
        masters, sales = validate_history(
            raw_sales,
            {
                "raw_sku_master": raw_sku_master,
                "raw_sku_dc_master": raw_sku_dc_master,
                "raw_promotions": raw_promotions,
                "raw_category_targets": raw_category_targets,
            },
            executor=executor,
            spill=spill_folder(run.spill_dir),
            lanes_per_block=run.lanes_per_block,
            sources=settings.raw_files,
            max_examples=settings.validation.max_example_rows,
            date_formats=settings.date_formats,
        )
    check_run_span(masters["raw_category_targets"]["category"], sales.first_date, sales.last_date, settings)
    logger.info(
        "Raw data valid: %s sales rows, %s SKU-DC pairs (%d lane block(s))",
        f"{sales.n_rows:,}",
        len(masters["raw_sku_dc_master"]),
        sales.blocks.n_blocks,
    )
    return (
        sales.blocks,
        masters["raw_sku_master"],
        masters["raw_sku_dc_master"],
        masters["raw_promotions"],
        masters["raw_category_targets"],
    )


def create_lanes(
    sku_master: pd.DataFrame,
    sku_dc_master: pd.DataFrame,
    category_targets: pd.DataFrame,
    params: DataProcessingParams,
) -> pd.DataFrame:
    """One row per SKU-DC lane with attributes, targets and unit costs."""
    settings = as_params(DataProcessingParams, params)
    return preparation.build_lanes(sku_master, sku_dc_master, category_targets, settings.costs)


def create_daily_sales(sales: Table, lanes: pd.DataFrame, execution: ExecutionParams) -> LaneBlocks:
    """Daily sales keyed by lane, in lane blocks."""
    with _stage(lanes, execution) as stage:
        return processing.daily_sales(stage, sales)


def create_promotion_days(promotions: pd.DataFrame, lanes: pd.DataFrame, execution: ExecutionParams) -> LaneBlocks:
    """Promotion calendar expanded to lane-days, in lane blocks."""
    with _stage(lanes, execution) as stage:
        return processing.promotion_days(stage, promotions)


def define_time_splits(daily_sales: Table, lanes: pd.DataFrame, params: DataProcessingParams) -> dict[str, Any]:
    """Decision dates and train / validation / test boundaries."""
    settings = as_params(DataProcessingParams, params)
    first, last = processing.sales_date_range(daily_sales)
    splits = make_time_splits(first, last, settings.splits, sorted(lanes["category"].unique()))
    logger.info(
        "Splits: train from %s, validation from %s, test %s to %s",
        splits.first_decision_date.date(),
        splits.validation_start.date(),
        splits.test_start.date(),
        splits.data_end.date(),
    )
    return splits.to_dict()


def assess_data_quality(
    daily_sales: Table,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    params: DataProcessingParams,
    execution: ExecutionParams,
) -> tuple[LaneBlocks, pd.DataFrame]:
    """Data-quality findings of the daily sales and the sales the forecaster reads.

    Leading zeros before a lane's first sale are trimmed (not yet launched), outliers
    capped, non-finite prices filled, long zero runs and lanes without sales kept;
    every finding is a row of ``rpt_data_quality`` (with the ``split`` its first day
    falls in) and the counts one WARNING line. ``data_quality.fail: true`` stops the
    run instead.
    """
    with _stage(lanes, execution) as stage:
        treated, report = processing.data_quality(
            stage, daily_sales, as_params(DataProcessingParams, params).data_quality
        )
    splits = TimeSplits.from_dict(time_splits)
    first = report["first_date"]
    report["split"] = np.select(
        [first.isna(), first < splits.validation_start, first < splits.test_start],
        ["", "train", "validation"],
        default="test",
    )
    return treated, report


def _stage(lanes: pd.DataFrame, execution: ExecutionParams) -> processing.BlockedStage:
    return processing.BlockedStage(lanes, as_params(ExecutionParams, execution))


def fit_demand_forecaster(
    provided_forecast: pd.DataFrame | None,
    daily_sales: Table,
    promotion_days: Table,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    params: DataProcessingParams,
    execution: ExecutionParams,
    seed: int,
) -> forecasting.Forecaster:
    """Fit the global demand forecaster on the training period, or wrap the planners' ``raw_forecast``.

    The model trains on at most ``forecast.max_training_rows`` rows, sampled block by
    block. A ``raw_forecast`` table (when the catalog points it at a file) replaces the
    model; it is read whole.
    """
    settings, splits = as_params(DataProcessingParams, params), TimeSplits.from_dict(time_splits)
    horizon = settings.forecast.horizon_days
    with _stage(lanes, execution) as stage:
        if provided_forecast is not None:
            return provided_forecaster(
                provided_forecast,
                processing.whole_panels(stage, daily_sales, promotion_days, splits, horizon),
                lanes,
                splits,
                horizon,
                settings.forecast.quantiles,
                settings.forecast.dispersion_prior_weight,
                source=settings.raw_files.get("raw_forecast"),
            )
        return forecasting.fit_forecaster_blocks(
            processing.panel_blocks(stage, daily_sales, promotion_days, splits, horizon),
            len(lanes),
            splits,
            settings.forecast,
            seed,
        )


def forecast_demand(
    forecaster: forecasting.Forecaster,
    daily_sales: Table,
    promotion_days: Table,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    params: DataProcessingParams,
    execution: ExecutionParams,
) -> LaneBlocks:
    """Daily demand forecasts with uncertainty from every decision date, in lane blocks.

    Raises:
        NonFiniteForecastError: when a forecast is NaN or infinite.
    """
    settings, splits = as_params(DataProcessingParams, params), TimeSplits.from_dict(time_splits)
    with _stage(lanes, execution) as stage:
        return processing.forecasts(
            stage, forecaster, daily_sales, promotion_days, splits, settings.forecast.horizon_days
        )


def evaluate_forecast(
    forecasts: Table,
    daily_sales: Table,
    promotion_days: Table,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    params: DataProcessingParams,
    execution: ExecutionParams,
) -> pd.DataFrame:
    """Forecast accuracy (WAPE, bias, pinball) on the test period versus seasonal naive."""
    settings, splits = as_params(DataProcessingParams, params), TimeSplits.from_dict(time_splits)
    with _stage(lanes, execution) as stage:
        accuracy = processing.forecast_accuracy(
            stage,
            forecasts,
            daily_sales,
            promotion_days,
            splits,
            settings.forecast.horizon_days,
            settings.forecast.quantiles,
        )
    overall = accuracy[accuracy["scope"] == "all"].set_index("model")["wape"]
    logger.info(
        "Test-period WAPE: forecast %.3f, seasonal naive %.3f",
        overall.get("forecast", float("nan")),
        overall.get("seasonal_naive", float("nan")),
    )
    return accuracy


def build_model_input(
    forecasts: Table,
    daily_sales: Table,
    promotion_days: Table,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    params: DataProcessingParams,
    execution: ExecutionParams,
) -> LaneBlocks:
    """Decision features per lane and decision date (history, forecast, attributes, targets), in lane blocks."""
    settings, splits = as_params(DataProcessingParams, params), TimeSplits.from_dict(time_splits)
    with _stage(lanes, execution) as stage:
        return processing.decision_features(
            stage, forecasts, daily_sales, promotion_days, splits, settings.forecast.horizon_days, settings.features
        )


def collect_forecast_errors(
    forecasts: Table,
    daily_sales: Table,
    promotion_days: Table,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    params: DataProcessingParams,
    execution: ExecutionParams,
) -> LaneBlocks:
    """Out-of-sample forecast errors on the validation period (lane, origin, horizon, mean, actual), in lane blocks."""
    settings, splits = as_params(DataProcessingParams, params), TimeSplits.from_dict(time_splits)
    with _stage(lanes, execution) as stage:
        return processing.forecast_errors(
            stage, forecasts, daily_sales, promotion_days, splits, settings.forecast.horizon_days
        )
