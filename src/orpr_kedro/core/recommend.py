"""Today's orders: the aligned policy's decision for the next review of every lane.

Timing (the conventions ``docs/pipelines.md`` states for users):

* The inventory snapshot (``raw_inventory_state``) is the closing stock of
  ``as_of_date``: the sales up to and including that day are known.
* The forecast *origin* is the next day, ``as_of_date + 1``, the first day whose
  sales are unknown. The persisted demand forecaster forecasts from it and the
  model-input features are built for it by the builders the training data came
  from (:func:`~orpr_kedro.core.learning.features.build_decision_features`): history = the
  days before the origin, forecast from the origin, attributes, targets and the
  promotion calendar ahead. Prices after ``as_of_date`` are unknown and carried
  forward, as at the end of the data in ``data_processing``.
* The *review date* is the first decision weekday after ``as_of_date`` (1 to 7 days
  later, :func:`next_review_date`). A snapshot taken the day before a decision
  weekday makes the review date the origin, the situation the policy was trained
  on. Otherwise the inventory position is projected to the review date by taking
  off the forecast demand of the days in between (floored at 0), and the
  order-up-to level counts the coverage from the review date.

Decision per lane:

* **aligned**: the aligned policy's coverage (days of forecast demand) from the
  origin's features and the snapshot state (on hand, on order);
* **incumbent_fallback** (``cold_start``): a lane with fewer than
  ``min_history_days`` days of sales up to ``as_of_date`` gets the incumbent rule,
  its category's target turnover days; a lane with no sales at all has a zero
  forecast and so no order (its launch quantity is the planners' call).

Order (units): level = forecast summed over the coverage from the review date (the
simulator's :class:`~orpr_kedro.core.simulation.policies.CoveragePolicy`); raw = level -
projected position; order = :func:`~orpr_kedro.core.simulation.kernel.round_order_quantity`
(whole cases, then the MOQ), exactly as the simulator orders.
"""

from __future__ import annotations

import logging
import math
import time
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.forecasting.model import (
    LOOKBACK_DAYS,
    DemandForecaster,
    DemandPanels,
    build_demand_panels,
    forecast_table,
)
from orpr_kedro.core.learning.features import build_decision_features, forecast_cube
from orpr_kedro.core.learning.inputs import DecisionInputs
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import FeatureParams, RecommendParams
from orpr_kedro.core.simulation.kernel import extend_forecast, round_order_quantity
from orpr_kedro.core.simulation.policies import CoveragePolicy, IncumbentRule

__all__ = [
    "ALIGNED",
    "INCUMBENT_FALLBACK",
    "RECOMMENDATION_COLUMNS",
    "OrderArithmetic",
    "next_review_date",
    "order_arithmetic",
    "recommend_orders",
    "summarise_recommendations",
]

logger = logging.getLogger(__name__)

ALIGNED, INCUMBENT_FALLBACK = "aligned", "incumbent_fallback"
RECOMMENDATION_COLUMNS = (
    "sku_id",
    "dc_id",
    "category",
    "as_of_date",
    "review_date",
    "policy_used",
    "cold_start",
    "history_days",
    "coverage_days",
    "incumbent_coverage_days",
    "forecast_daily_mean",
    "forecast_to_review_units",
    "order_up_to_units",
    "on_hand",
    "on_order",
    "inventory_position",
    "raw_order_units",
    "order_units",
    "case_pack",
    "moq",
    "order_value",
    "promo_days_ahead",
    "expert_coverage_days_ahead",
    "reason",
)

# Decimals of the fractional columns in the CSV (the reason is worded from the unrounded values).
_DECIMALS = {
    "forecast_daily_mean": 3,
    "forecast_to_review_units": 2,
    "order_up_to_units": 2,
    "inventory_position": 2,
    "raw_order_units": 2,
    "order_value": 2,
}


def next_review_date(as_of_date: pd.Timestamp, decision_weekday: int) -> pd.Timestamp:
    """First decision weekday after the snapshot day (1 to 7 days later).

    ``decision_weekday``: 0 = Monday, as ``data_processing.splits.decision_weekday``.
    A Sunday snapshot with Monday decisions gives the next day; a Monday snapshot
    gives the Monday a week later (that Monday's own order was due that morning).
    """
    origin = pd.Timestamp(as_of_date).normalize() + pd.Timedelta(days=1)
    return origin + pd.Timedelta(days=(decision_weekday - origin.dayofweek) % 7)


@dataclass(frozen=True)
class OrderArithmetic:
    """From the level to the order, per lane (units)."""

    inventory_position: np.ndarray  # on hand + on order - forecast to the review date, floored at 0
    raw_order_units: np.ndarray  # level - position (may be negative: nothing to order)
    order_units: np.ndarray  # rounded to whole cases, then raised to the MOQ; 0 when raw <= 0


def order_arithmetic(level, on_hand, on_order, forecast_to_review, case_pack, moq) -> OrderArithmetic:
    """Order quantities of an order-up-to decision.

    Args:
        level: order-up-to level on the review date (units).
        on_hand, on_order: the snapshot state (units).
        forecast_to_review: forecast demand from the origin to the day before the
            review date (units; 0 when the review date is the origin).
        case_pack, moq: per lane (units).

    Returns:
        Position projected to the review date, raw and rounded order quantities.
    """
    position = np.maximum(
        np.asarray(on_hand, float) + np.asarray(on_order, float) - np.asarray(forecast_to_review, float), 0.0
    )
    raw = np.asarray(level, float) - position
    return OrderArithmetic(position, raw, round_order_quantity(raw, case_pack, moq))


def _single_origin_splits(data_start: pd.Timestamp, origin: pd.Timestamp) -> TimeSplits:
    """Splits whose only decision date is ``origin`` (what the feature builders iterate over)."""
    return TimeSplits(
        data_start=data_start,
        data_end=origin,
        first_decision_date=origin,
        validation_start=origin,
        test_start=origin,
        decision_weekday=origin.dayofweek,
    )


def _number(value: float) -> str:
    """Units and days in a reason: one decimal, none for whole numbers."""
    text = f"{value:.1f}"
    if text.endswith(".0"):
        text = text[:-2]
    return "0" if text == "-0" else text


def _reasons(frame: pd.DataFrame, min_history_days: int, days_to_review: int) -> list[str]:
    """One sentence per row: where the coverage came from and how the order was computed."""
    columns = [
        "cold_start", "history_days", "coverage_days", "incumbent_coverage_days", "order_up_to_units", "on_hand",
        "on_order", "forecast_to_review_units", "inventory_position", "raw_order_units", "order_units", "case_pack",
        "moq", "promo_days_ahead", "expert_coverage_days_ahead",
    ]  # fmt: skip
    texts = []
    for (
        cold,
        history,
        cover,
        incumbent,
        level,
        on_hand,
        on_order,
        to_review,
        position,
        raw,
        order,
        pack,
        moq,
        promo,
        expert,
    ) in zip(*(frame[column].to_numpy().tolist() for column in columns), strict=True):
        if not cold:
            source = f"aligned policy: {_number(cover)} d cover (incumbent {_number(incumbent)} d)"
        elif history == 0:
            source = f"cold start (no sales history, zero forecast: plan the launch quantity by hand): incumbent rule, {_number(cover)} d cover"
        else:
            source = (
                f"cold start ({history} of {min_history_days} history days): incumbent rule, {_number(cover)} d cover"
            )
        state = f"on hand {_number(on_hand)} + on order {_number(on_order)}"
        if days_to_review:
            state += f" - {_number(to_review)} forecast over {days_to_review} d to review"
        if order > 0:
            text = f"order {_number(order)} = level {_number(level)} - position {_number(position)} ({state}) = {_number(raw)}"
            cased = math.ceil(raw / pack) * pack
            if order > cased:
                text += f", rounded up to case pack {pack}, raised to MOQ {moq}"
            elif order > raw and pack > 1:
                text += f", rounded up to case pack {pack}"
        else:
            text = f"no order: position {_number(position)} ({state}) >= level {_number(level)}"
        if promo > 0:
            text += f"; promotion ahead ({_number(promo)} d, expert cover {_number(expert)} d)"
        texts.append(f"{source}; {text}")
    return texts


def _sales_window(daily_sales: pd.DataFrame, first: pd.Timestamp, last: pd.Timestamp) -> pd.DataFrame:
    """The sales rows (lane, date, units, price) from ``first`` to ``last`` inclusive."""
    dates = daily_sales["date"].to_numpy()
    keep = (dates >= first.to_datetime64()) & (dates <= last.to_datetime64())
    every = bool(keep.all())
    columns = ("lane_id", "date", "sales_units", "price")
    return pd.DataFrame(
        {
            column: daily_sales[column].to_numpy() if every else daily_sales[column].to_numpy()[keep]
            for column in columns
        },
        copy=False,
    )


def _forecast_paths(
    forecaster: DemandForecaster,
    panels: DemandPanels,
    forecasts: pd.DataFrame,
    splits: TimeSplits,
    lane_id: np.ndarray,
    coverage: np.ndarray,
    days_to_review: int,
) -> np.ndarray:
    """Daily forecast from the origin ``[lane, forecaster horizon]`` (units/day), as the simulator reads it.

    ``forecasts`` covers the first days; lanes whose level reads past them (review
    offset + coverage) get the forecaster's whole horizon. Values pass through float32
    as in ``ftr_demand_forecast``, the table the policy's training levels came from.
    """
    short = forecast_cube(forecasts, panels.n_lanes, splits.decision_dates())[lane_id, 0, :]
    path = extend_forecast(short, forecaster.horizon_days)
    longer = days_to_review + np.floor(coverage) + 1 > short.shape[1]
    if longer.any() and forecaster.horizon_days > short.shape[1]:
        origin = panels.day_index(splits.decision_dates())
        full = forecaster.predict_mean(panels, origin, lanes=lane_id[longer])[:, 0, :]
        path[longer] = full.astype("float32").astype("float64")
    return path


class _Stopwatch:
    """Wall time of the named steps, for the log line."""

    def __init__(self) -> None:
        self.started = self.last = time.perf_counter()
        self.steps: dict[str, float] = {}

    def lap(self, name: str) -> None:
        now = time.perf_counter()
        self.steps[name] = now - self.last
        self.last = now

    def __str__(self) -> str:
        laps = ", ".join(f"{name} {seconds:.1f}" for name, seconds in self.steps.items())
        return f"{self.last - self.started:.1f} s ({laps})"


def recommend_orders(
    state: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    forecaster: DemandForecaster,
    policy: FoundationPolicy,
    features: FeatureParams,
    decision_weekday: int,
    params: RecommendParams,
) -> pd.DataFrame:
    """The order for the next review of every lane in the snapshot.

    Args:
        state: the validated snapshot (``sku_id``, ``dc_id``, ``as_of_date``,
            ``on_hand``, ``on_order``; one ``as_of_date``).
        lanes: ``prm_lanes`` (lane attributes, costs, targets; ``lane_id`` 0..N-1).
        daily_sales: ``prm_daily_sales``; only the :data:`LOOKBACK_DAYS` days up to
            ``as_of_date`` are read.
        promotion_days: ``prm_promotion_days``.
        forecaster: the persisted demand forecaster (``ftr_demand_forecaster``).
        policy: the aligned policy.
        features: the model-input windows the policy was trained on.
        decision_weekday: weekday of the decision dates (0 = Monday).
        params: cold-start threshold.

    Returns:
        One row per snapshot lane in lane order, columns
        :data:`RECOMMENDATION_COLUMNS` (quantities in units, coverage in days,
        ``order_value`` in the currency of ``unit_cost``).

    Raises:
        ValueError: on an empty snapshot, several ``as_of_date`` values, no sales up to
            the snapshot, or a feature window longer than the forecaster's horizon.
    """
    clock = _Stopwatch()
    if state.empty:
        raise ValueError("the inventory snapshot has no rows: nothing to recommend")
    if state["as_of_date"].nunique() != 1:
        raise ValueError(
            f"the inventory snapshot must have one as_of_date, found {sorted(state['as_of_date'].unique())}"
        )
    if features.forecast_days > forecaster.horizon_days:
        raise ValueError(
            f"data_processing.features.forecast_days ({features.forecast_days}) exceeds the persisted forecaster's "
            f"horizon ({forecaster.horizon_days} days); rerun data_processing"
        )
    as_of = pd.Timestamp(state["as_of_date"].iloc[0]).normalize()
    origin = as_of + pd.Timedelta(days=1)
    review = next_review_date(as_of, decision_weekday)
    days_to_review = int((review - origin).days)

    lookback = max(LOOKBACK_DAYS, features.history_days, params.min_history_days)
    recent = _sales_window(daily_sales, origin - pd.Timedelta(days=lookback), as_of)
    if recent.empty:
        raise ValueError(f"prm_daily_sales has no sales in the {lookback} days up to the snapshot day {as_of.date()}")
    panels = build_demand_panels(recent, promotion_days, lanes, as_of, forecaster.horizon_days)
    splits = _single_origin_splits(panels.dates[0], origin)
    clock.lap("panels")
    # The policy reads forecast_days of forecast; the few lanes whose level reaches
    # further get the rest of the horizon below (same numbers, a third fewer trees walked).
    forecasts = forecast_table(forecaster, panels, splits, quantiles=False, horizon_days=features.forecast_days)
    clock.lap("forecast")
    feature_rows = build_decision_features(forecasts, panels, lanes, splits, features)
    clock.lap("features")

    keyed = state.merge(
        lanes[["sku_id", "dc_id", "lane_id"]], on=["sku_id", "dc_id"], how="inner", validate="one_to_one"
    )
    keyed = keyed.sort_values("lane_id").reset_index(drop=True)
    if len(keyed) < len(state):
        raise ValueError(
            f"{len(state) - len(keyed)} snapshot rows name lanes that are not in prm_lanes; validate the snapshot first"
        )
    lane_id = keyed["lane_id"].to_numpy()
    rows = feature_rows.iloc[lane_id].reset_index(drop=True)
    if not np.array_equal(rows["lane_id"].to_numpy(), lane_id):
        raise RuntimeError("the feature rows are not in lane order (build_decision_features changed)")
    on_hand, on_order = keyed["on_hand"].to_numpy(float), keyed["on_order"].to_numpy(float)
    origin_day = int(panels.day_index(pd.DatetimeIndex([origin]))[0])
    n = len(keyed)
    _, history_days = panels.window_mean(lane_id, np.full(n, origin_day - lookback), np.full(n, origin_day))
    history_days = history_days.astype("int64")
    cold_start = history_days < params.min_history_days

    case_pack, moq = lanes["case_pack"].to_numpy()[lane_id], lanes["moq"].to_numpy()[lane_id]
    incumbent = IncumbentRule(lanes["target_turnover_days"].to_numpy(float)[lane_id]).coverage_days
    coverage = incumbent.copy()
    if (~cold_start).any():
        inputs = DecisionInputs.from_frame(rows, on_hand=on_hand, on_order=on_order)
        coverage[~cold_start] = policy.decide(inputs.subset(~cold_start))
    clock.lap("policy")

    path = _forecast_paths(forecaster, panels, forecasts, splits, lane_id, coverage, days_to_review)
    level = CoveragePolicy(coverage).levels(path, days_to_review + 1)[:, days_to_review]
    to_review = path[:, :days_to_review].sum(axis=1)
    arithmetic = order_arithmetic(level, on_hand, on_order, to_review, case_pack, moq)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily_mean = np.where(coverage > 0, level / np.where(coverage > 0, coverage, 1.0), path[:, days_to_review])

    result = pd.DataFrame(
        {
            "sku_id": keyed["sku_id"].to_numpy(),
            "dc_id": keyed["dc_id"].to_numpy(),
            "category": lanes["category"].to_numpy()[lane_id],
            "as_of_date": as_of,
            "review_date": review,
            "policy_used": np.where(cold_start, INCUMBENT_FALLBACK, ALIGNED),
            "cold_start": cold_start,
            "history_days": history_days,
            "coverage_days": coverage,
            "incumbent_coverage_days": incumbent,
            "forecast_daily_mean": daily_mean,
            "forecast_to_review_units": to_review,
            "order_up_to_units": level,
            "on_hand": keyed["on_hand"].to_numpy(),
            "on_order": keyed["on_order"].to_numpy(),
            "inventory_position": arithmetic.inventory_position,
            "raw_order_units": arithmetic.raw_order_units,
            "order_units": arithmetic.order_units.astype("int64"),
            "case_pack": case_pack,
            "moq": moq,
            "order_value": arithmetic.order_units * lanes["unit_cost"].to_numpy(float)[lane_id],
            "promo_days_ahead": rows["promo_days_ahead"].to_numpy(),
            "expert_coverage_days_ahead": rows["expert_coverage_days_ahead"].to_numpy(),
        }
    )
    result["reason"] = _reasons(result, params.min_history_days, days_to_review)
    result = result.round(_DECIMALS)
    clock.lap("orders")
    logger.info(
        "Recommendations for %s lanes as of %s (review %s): %s aligned, %s cold start, %s orders, in %s",
        f"{n:,}",
        as_of.date(),
        review.date(),
        f"{int((~cold_start).sum()):,}",
        f"{int(cold_start.sum()):,}",
        f"{int((arithmetic.order_units > 0).sum()):,}",
        clock,
    )
    return result[list(RECOMMENDATION_COLUMNS)]


def summarise_recommendations(recommendations: pd.DataFrame, n_lanes: int) -> pd.DataFrame:
    """Counts and totals of one recommendation run, one ``metric``/``value`` row each.

    ``n_lanes``: lanes in ``prm_lanes``; those without a snapshot row got no
    recommendation and are counted as ``lanes_without_state``.
    """
    orders = recommendations["order_units"] > 0
    fallback = recommendations["policy_used"] == INCUMBENT_FALLBACK
    metrics = {
        "as_of_date": str(pd.Timestamp(recommendations["as_of_date"].iloc[0]).date()) if len(recommendations) else "",
        "review_date": str(pd.Timestamp(recommendations["review_date"].iloc[0]).date()) if len(recommendations) else "",
        "lanes": n_lanes,
        "lanes_recommended": len(recommendations),
        "lanes_without_state": n_lanes - len(recommendations),
        "aligned": int((~fallback).sum()),
        "incumbent_fallback": int(fallback.sum()),
        "orders": int(orders.sum()),
        "order_units": int(recommendations["order_units"].sum()),
        "order_value": round(float(recommendations["order_value"].sum()), 2),
        "mean_coverage_days_aligned": round(float(recommendations.loc[~fallback, "coverage_days"].mean()), 2)
        if (~fallback).any()
        else "",
        "mean_coverage_days_incumbent_fallback": round(float(recommendations.loc[fallback, "coverage_days"].mean()), 2)
        if fallback.any()
        else "",
        "lanes_with_promotion_ahead": int((recommendations["promo_days_ahead"] > 0).sum()),
    }
    return pd.DataFrame({"metric": list(metrics), "value": [str(value) for value in metrics.values()]})
