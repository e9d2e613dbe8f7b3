"""Nodes of the recommend pipeline: thin wrappers around ``orpr_kedro.core.recommend``."""

from __future__ import annotations

from typing import Any

import pandas as pd

from orpr_kedro.core import recommend
from orpr_kedro.core.data import contract
from orpr_kedro.core.data.sample import universe_lane_ids
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.forecasting.model import DemandForecaster
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import (
    DataProcessingParams,
    ExecutionParams,
    RecommendParams,
    as_params,
    parse_currency,
)
from orpr_kedro.core.processing import Table, sales_date_range
from orpr_kedro.core.recommend.blocks import recommend_in_blocks


def validate_inventory_state(
    raw_inventory_state: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: Table,
    data_processing: DataProcessingParams,
) -> pd.DataFrame:
    """Check the inventory snapshot against the data contract, the lanes and the sales; return it typed.

    A breach stops the run before any recommendation is written; the error names
    the file, column, rule and example rows.
    """
    settings = as_params(DataProcessingParams, data_processing)
    return contract.validate_inventory_state(
        raw_inventory_state,
        lanes,
        sales_date_range(daily_sales)[1],
        sources=settings.raw_files,
        max_examples=settings.validation.max_example_rows,
        date_format=settings.date_formats.get("raw_inventory_state"),
    )


def recommend_orders(
    inventory_state: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: Table,
    promotion_days: Table,
    forecaster: DemandForecaster,
    orpr_policy: dict[str, Any],
    or_labels: pd.DataFrame,
    time_splits: dict[str, Any],
    data_processing: DataProcessingParams,
    params: RecommendParams,
    execution: ExecutionParams,
    currency: str,
) -> pd.DataFrame:
    """Every lane's order for the next review (units, value), its arrival, projected stock, stock-out risk and reason.

    The aligned policy decides; a lane with too little sales history gets the
    incumbent rule and is flagged ``cold_start``; a lane without a snapshot row gets
    ``no_state``. The OR labels explain a zero cover. Each lane orders for its own next
    review (every ``review_period`` days from the training data's first decision date):
    a daily lane for the next day.
    """
    settings = as_params(RecommendParams, params)
    processing = as_params(DataProcessingParams, data_processing)
    return recommend_in_blocks(
        inventory_state,
        lanes,
        daily_sales,
        promotion_days,
        forecaster,
        FoundationPolicy.from_payload(orpr_policy, batch_size=settings.batch_size),
        processing.features,
        processing.splits.decision_weekday,
        settings,
        as_params(ExecutionParams, execution),
        or_labels=universe_lane_ids(or_labels[["sku_id", "dc_id", "coverage_days"]], lanes),
        currency=parse_currency(currency),
        review_anchor=TimeSplits.from_dict(time_splits).first_decision_date,
    )


def list_orders(recommendations: pd.DataFrame) -> pd.DataFrame:
    """The orders only, largest value first: what a buyer approves."""
    return recommend.orders_only(recommendations)


def summarise_recommendations(recommendations: pd.DataFrame, lanes: pd.DataFrame) -> pd.DataFrame:
    """Counts of the run: lanes, aligned and fallback decisions, reason codes, orders, units and value."""
    return recommend.summarise_recommendations(recommendations, len(lanes))


def summarise_by_dc_category(recommendations: pd.DataFrame) -> pd.DataFrame:
    """Orders, value, reason codes and stock-out risk per DC and category, with totals."""
    return recommend.summarise_by_dc_category(recommendations)
