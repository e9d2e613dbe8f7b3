"""Every lane's recommendation, computed lane block by lane block on the stage's executor.

The recommendation of a lane reads only that lane's sales, promotions, forecast and
snapshot, except for one feature: ``category_sales_share`` divides a lane's recent
sales by its category's. A first pass over the blocks gathers each lane's recent sales
(one number per lane) and sums them per category; the second computes each block's
orders with those totals and the panels starting on the same day in every block. So a
worker holds one block's panels, forecasts and features; the main process the lanes,
the snapshot and the finished recommendation rows (a few hundred bytes per lane).

On one block the rows are exactly those of :func:`~orpr_kedro.core.recommend.orders.recommend_orders`
on the whole table; on several blocks the same rows.
"""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd

from orpr_kedro.core import order_list
from orpr_kedro.core.data.blocks import remove_parts
from orpr_kedro.core.forecasting.model import LOOKBACK_DAYS, DemandForecaster, build_demand_panels
from orpr_kedro.core.learning.features import category_totals, recent_sales
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import ExecutionParams, FeatureParams, RecommendParams
from orpr_kedro.core.processing import BlockedStage, Table, sales_date_range
from orpr_kedro.core.recommend.columns import RECOMMENDATION_COLUMNS
from orpr_kedro.core.recommend.orders import (
    _check_inputs,
    _sales_window,
    _single_origin_splits,
    _Stopwatch,
    _without_state,
    keyed_state,
    recommend_orders,
    review_dates,
)

logger = logging.getLogger("orpr_kedro.core.recommend")


def _recent_block(
    lanes: pd.DataFrame,
    sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    as_of: pd.Timestamp,
    data_start: pd.Timestamp,
    horizon_days: int,
    features: FeatureParams,
) -> dict[str, Any]:
    """One block's recent sales per lane (``[lane, 1]``) and its number of sales rows in the window."""
    window = _sales_window(sales, data_start, as_of)
    panels = build_demand_panels(window, promotion_days, lanes, as_of, horizon_days, data_start=data_start)
    splits = _single_origin_splits(panels.dates[0], as_of + pd.Timedelta(days=1))
    return {"recent": recent_sales(panels, splits, features), "rows": len(window)}


def _recommend_block(
    lanes: pd.DataFrame,
    sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    state: pd.DataFrame,
    or_labels: pd.DataFrame,
    forecaster: DemandForecaster,
    policy: FoundationPolicy,
    features: FeatureParams,
    decision_weekday: int,
    params: RecommendParams,
    as_of: pd.Timestamp,
    currency: str,
    review_anchor: pd.Timestamp | None,
    category_sums: np.ndarray,
    data_start: pd.Timestamp,
) -> dict[str, Any]:
    """One block's recommendation rows (its lanes numbered from 0), in lane order."""
    if state.empty:
        # no lane of the block is in the snapshot: every row says so, nothing is forecast
        origin = as_of + pd.Timedelta(days=1)
        _, days = review_dates(as_of, lanes["review_period"].to_numpy("int64"), decision_weekday, review_anchor)
        review = origin + pd.to_timedelta(days, unit="D")
        rows = _without_state(lanes, lanes["lane_id"].to_numpy(), as_of, review, currency)
        return {"recommendations": rows.reset_index(drop=True)}
    result = recommend_orders(
        state.drop(columns="lane_id"),
        lanes,
        sales,
        promotion_days,
        forecaster,
        policy,
        features,
        decision_weekday,
        params,
        or_labels=or_labels,
        currency=currency,
        review_anchor=review_anchor,
        category_sums=category_sums,
        data_start=data_start,
        log_level=logging.DEBUG,
    )
    return {"recommendations": result}


def _finished(frames: list[pd.DataFrame]) -> pd.DataFrame:
    """The blocks' rows in lane order with the columns and dtypes of one whole-table recommendation."""
    non_empty = [frame for frame in frames if len(frame)]
    result = pd.concat(non_empty or frames[:1], ignore_index=True)
    for column in ("on_hand", "on_order", "history_days", "override_units"):
        result[column] = (
            result[column].astype("Int64") if column in result else pd.array([pd.NA] * len(result), "Int64")
        )
    result["approved"] = (
        result["approved"].astype("boolean") if "approved" in result else pd.array([pd.NA] * len(result), "boolean")
    )
    return result.reindex(columns=list(RECOMMENDATION_COLUMNS))


def recommend_in_blocks(
    state: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: Table,
    promotion_days: Table,
    forecaster: DemandForecaster,
    policy: FoundationPolicy,
    features: FeatureParams,
    decision_weekday: int,
    params: RecommendParams,
    execution: ExecutionParams,
    *,
    or_labels: pd.DataFrame | None = None,
    currency: str = "EUR",
    review_anchor: pd.Timestamp | None = None,
) -> pd.DataFrame:
    """:func:`~orpr_kedro.core.recommend.orders.recommend_orders` for every lane, one lane block at a time.

    Args:
        state, lanes, forecaster, policy, features, decision_weekday, params, currency,
            review_anchor: as for ``recommend_orders``.
        daily_sales, promotion_days: whole or in lane blocks of ``execution.lanes_per_block``.
        execution: the block size and the executor the blocks run on.
        or_labels: ``lane_id`` (the numbers of ``lanes``) and ``coverage_days``, or None.

    Returns:
        One row per lane of ``lanes`` in lane order, the columns of ``recommend_orders``.

    Raises:
        ValueError: as ``recommend_orders`` does on the whole table.
    """
    clock = _Stopwatch()
    _check_inputs(state, features, forecaster)
    as_of = pd.Timestamp(state["as_of_date"].iloc[0]).normalize()
    origin = as_of + pd.Timedelta(days=1)
    lookback = max(LOOKBACK_DAYS, features.history_days, params.min_history_days)
    window_start = origin - pd.Timedelta(days=lookback)
    first_sale, _ = sales_date_range(daily_sales)
    # the whole table's panels start on the window's first sales day: the later of the two
    data_start = max(window_start, pd.Timestamp(first_sale)) if pd.notna(first_sale) else window_start
    keyed = keyed_state(state, lanes)
    labels = or_labels if or_labels is not None else pd.DataFrame({"lane_id": [], "coverage_days": []})
    labels = labels[["lane_id", "coverage_days"]].astype({"lane_id": "int64", "coverage_days": "float64"})

    with BlockedStage(lanes, execution) as stage:
        blocked = {"sales": daily_sales, "promotion_days": promotion_days}
        common = {"as_of": as_of, "data_start": data_start, "horizon_days": forecaster.horizon_days}
        recent = stage.map(
            _recent_block, blocked, shared={**common, "features": features}, description="category totals"
        )
        if sum(summary["rows"] for summary in recent.summaries) == 0:
            raise ValueError(
                f"prm_daily_sales has no sales in the {lookback} days up to the snapshot day {as_of.date()}"
            )
        every_lane = np.concatenate([summary["recent"] for summary in recent.summaries], axis=0)
        category_sums = category_totals(every_lane, lanes["category_code"].to_numpy())
        clock.lap("category totals")
        result = stage.map(
            _recommend_block,
            {**blocked, "state": keyed, "or_labels": labels},
            shared={
                "forecaster": forecaster,
                "policy": policy,
                "features": features,
                "decision_weekday": decision_weekday,
                "params": params,
                "as_of": as_of,
                "currency": currency,
                "review_anchor": review_anchor,
                "category_sums": category_sums,
                "data_start": data_start,
            },
            outputs=("recommendations",),
            description="recommendations",
        )
        frames = [table for _, table in result.tables["recommendations"]]
        remove_parts(result.tables["recommendations"])
    recommendations = _finished(frames)
    clock.lap("orders")
    order_units = recommendations["order_units"].to_numpy()
    no_state = recommendations["reason_code"].to_numpy() == order_list.NO_STATE
    cold = recommendations["cold_start"].to_numpy(bool)
    logger.info(
        "Recommendations for %s lanes as of %s in %d block(s): %s aligned, %s cold start, %s without state, "
        "%s orders worth %s %s, in %s",
        f"{int((~no_state).sum()):,}",
        as_of.date(),
        stage.lanes.n_blocks,
        f"{int((~no_state & ~cold).sum()):,}",
        f"{int((~no_state & cold).sum()):,}",
        f"{int(no_state.sum()):,}",
        f"{int((order_units > 0).sum()):,}",
        f"{float(recommendations['order_value'].sum()):,.2f}",
        currency,
        clock,
    )
    return recommendations
