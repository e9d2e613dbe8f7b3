"""Today's orders for every lane: features at the origin, the aligned policy (or the incumbent rule), the order.

The timing and decision conventions are those of :mod:`orpr_kedro.core.recommend`.
"""

from __future__ import annotations

import logging
import time

import numpy as np
import pandas as pd

from orpr_kedro.core import order_list
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
from orpr_kedro.core.recommend.arithmetic import (
    OrderArithmetic,
    next_review_date,
    next_review_days,
    order_arithmetic,
)
from orpr_kedro.core.recommend.columns import _DECIMALS, INCUMBENT_FALLBACK, ORPR, RECOMMENDATION_COLUMNS
from orpr_kedro.core.recommend.reasons import _reasons
from orpr_kedro.core.simulation.actions import LaneRisk
from orpr_kedro.core.simulation.kernel import extend_forecast
from orpr_kedro.core.simulation.policies import CoveragePolicy, IncumbentRule

# One logger for the whole recommend package, as before it was split.
logger = logging.getLogger("orpr_kedro.core.recommend")


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


def _without_state(
    lanes: pd.DataFrame, lane_id: np.ndarray, as_of: pd.Timestamp, review: pd.DatetimeIndex, currency: str
):
    """Rows of the lanes that have no snapshot row: no order, and the reason says what is missing."""
    columns: dict[str, object] = {
        "sku_id": lanes["sku_id"].to_numpy()[lane_id],
        "dc_id": lanes["dc_id"].to_numpy()[lane_id],
        "category": lanes["category"].to_numpy()[lane_id],
        "as_of_date": as_of,
        "review_date": review,
        "reason_code": order_list.NO_STATE,
        "order_units": np.zeros(len(lane_id), "int64"),
        "order_value": 0.0,
        "currency": currency,
        "policy_used": "",
        "cold_start": False,
        "history_days": pd.array([pd.NA] * len(lane_id), dtype="Int64"),
        "case_pack": lanes["case_pack"].to_numpy()[lane_id],
        "moq": lanes["moq"].to_numpy()[lane_id],
        "reason": "no state: the lane has no row in raw_inventory_state, so no order was computed; add its on hand "
        "and on order to the snapshot",
    }
    for name in ("unit_cost", "lead_time_mean", "lead_time_std", "review_period"):
        columns[name] = lanes[name].to_numpy()[lane_id]
    return pd.DataFrame(columns, index=lane_id)


def _after(day: pd.Timestamp, offsets: np.ndarray) -> pd.DatetimeIndex:
    """The dates ``offsets`` days after ``day``."""
    return day + pd.to_timedelta(offsets, unit="D")


def _outlook(
    lanes: pd.DataFrame,
    lane_id: np.ndarray,
    arithmetic: OrderArithmetic,
    path: np.ndarray,
    review: pd.Timestamp,
    dispersion: np.ndarray,
    params: RecommendParams,
) -> dict[str, object]:
    """Arrival dates, projected on hand and stock-out risk of the orders (``path``: forecast from the review date)."""
    arrival = order_list.arrival_days(
        lanes["lead_time_mean"].to_numpy(float)[lane_id],
        lanes["lead_time_std"].to_numpy(float)[lane_id],
        params.arrival_range_level,
    )
    review_period = lanes["review_period"].to_numpy("int64")[lane_id]
    ahead = extend_forecast(path, int(max(arrival.expected.max(), review_period.max())))
    position, order = arithmetic.inventory_position, arithmetic.order_units
    at_arrival, at_next_review = order_list.projected_on_hand(position, order, ahead, arrival.expected, review_period)
    risk = order_list.stockout_risk(position, order, ahead, dispersion[lane_id], arrival.expected, review_period)
    return {
        "expected_arrival_date": _after(review, arrival.expected),
        "earliest_arrival_date": _after(review, arrival.earliest),
        "latest_arrival_date": _after(review, arrival.latest),
        "projected_on_hand_at_arrival": at_arrival,
        "next_review_date": _after(review, review_period),
        "projected_on_hand_at_next_review": at_next_review,
        "stockout_risk": risk,
    }


def _check_inputs(state: pd.DataFrame, features: FeatureParams, forecaster: DemandForecaster) -> None:
    """One snapshot date, and feature windows the persisted forecaster can fill."""
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


def keyed_state(state: pd.DataFrame, lanes: pd.DataFrame) -> pd.DataFrame:
    """The snapshot rows with their ``lane_id``; a row naming a lane not in ``lanes`` is an error."""
    keyed = state.merge(
        lanes[["sku_id", "dc_id", "lane_id"]], on=["sku_id", "dc_id"], how="inner", validate="one_to_one"
    )
    if len(keyed) < len(state):
        raise ValueError(
            f"{len(state) - len(keyed)} snapshot rows name lanes that are not in prm_lanes; validate the snapshot first"
        )
    return keyed


def review_dates(
    as_of: pd.Timestamp, review_period: np.ndarray, decision_weekday: int, review_anchor: pd.Timestamp | None
) -> tuple[pd.Timestamp, np.ndarray]:
    """The review anchor and each lane's days from the origin to its next review (see ``recommend_orders``)."""
    anchor = next_review_date(as_of, decision_weekday) if review_anchor is None else pd.Timestamp(review_anchor)
    return anchor, next_review_days(as_of, review_period, anchor)


def _with_every_lane(result: pd.DataFrame, without_state: pd.DataFrame) -> pd.DataFrame:
    """The snapshot lanes' rows and the ``no_state`` rows in lane order, empty planner columns, rounded."""
    if len(without_state):
        result = pd.concat([result, without_state]).sort_index()
    for column in ("on_hand", "on_order", "history_days"):
        result[column] = result[column].astype("Int64")
    result["override_units"] = pd.array([pd.NA] * len(result), dtype="Int64")
    result["approved"] = pd.array([pd.NA] * len(result), dtype="boolean")
    return result.round(_DECIMALS).reset_index(drop=True)


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
    days_to_review: np.ndarray,
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


def recommend_orders(  # noqa: PLR0915 - the timed steps of one recommendation, in order
    state: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    forecaster: DemandForecaster,
    policy: FoundationPolicy,
    features: FeatureParams,
    decision_weekday: int,
    params: RecommendParams,
    *,
    or_labels: pd.DataFrame | None = None,
    currency: str = "EUR",
    review_anchor: pd.Timestamp | None = None,
    category_sums: np.ndarray | None = None,
    data_start: pd.Timestamp | None = None,
    log_level: int = logging.INFO,
) -> pd.DataFrame:
    """The order for the next review of every lane, with what a buyer needs to act on it.

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
        params: cold-start threshold, arrival range level.
        or_labels: the OR labels (``lane_id``, ``coverage_days``) the policy learned
            from; they explain a zero cover in the reason. None: not explained.
        currency: the code written in the ``currency`` column (the values are in the
            currency of ``unit_cost``).
        review_anchor: the first decision date of the training data (``time_splits``):
            every lane reviews each ``review_period`` days from it, so a daily lane
            orders for the next day and a weekly one for the next decision weekday.
            None: the next decision weekday after the snapshot.
        category_sums: every lane's recent sales per category (``[category code, 1]``,
            :func:`~orpr_kedro.core.learning.features.category_totals`) when ``lanes``
            is one block of a larger universe; None: the categories of ``lanes``.
        data_start: the first day of the panels (every block's the same, so day
            numbers agree); None: the first sales day of the look-back window. Given,
            an empty window is a block of lanes without recent sales, not an error.
        log_level: the level of the summary line (a block logs at DEBUG).

    Returns:
        One row per lane of ``lanes`` in lane order (lanes without a snapshot row get
        ``reason_code`` ``no_state`` and no order), columns
        :data:`RECOMMENDATION_COLUMNS` (quantities in units, coverage in days,
        ``order_value`` in ``currency``, ``stockout_risk`` a probability).

    Raises:
        ValueError: on an empty snapshot, several ``as_of_date`` values, no sales up to
            the snapshot, or a feature window longer than the forecaster's horizon.
    """
    clock = _Stopwatch()
    _check_inputs(state, features, forecaster)
    as_of = pd.Timestamp(state["as_of_date"].iloc[0]).normalize()
    origin = as_of + pd.Timedelta(days=1)

    lookback = max(LOOKBACK_DAYS, features.history_days, params.min_history_days)
    recent = _sales_window(daily_sales, origin - pd.Timedelta(days=lookback), as_of)
    if recent.empty and data_start is None:
        raise ValueError(f"prm_daily_sales has no sales in the {lookback} days up to the snapshot day {as_of.date()}")
    panels = build_demand_panels(recent, promotion_days, lanes, as_of, forecaster.horizon_days, data_start=data_start)
    splits = _single_origin_splits(panels.dates[0], origin)
    clock.lap("panels")
    # The policy reads forecast_days of forecast; the few lanes whose level reaches
    # further get the rest of the horizon below (same numbers, a third fewer trees walked).
    forecasts = forecast_table(forecaster, panels, splits, quantiles=False, horizon_days=features.forecast_days)
    clock.lap("forecast")
    feature_rows = build_decision_features(forecasts, panels, lanes, splits, features, category_sums)
    clock.lap("features")

    keyed = keyed_state(state, lanes).sort_values("lane_id").reset_index(drop=True)
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

    review_period = lanes["review_period"].to_numpy("int64")[lane_id]
    anchor, days_to_review = review_dates(as_of, review_period, decision_weekday, review_anchor)
    review = origin + pd.to_timedelta(days_to_review, unit="D")
    far = int(days_to_review.max())
    lane_row = np.arange(n)

    case_pack, moq = lanes["case_pack"].to_numpy()[lane_id], lanes["moq"].to_numpy()[lane_id]
    incumbent = IncumbentRule(lanes["target_turnover_days"].to_numpy(float)[lane_id]).coverage_days
    actions = policy.action_grid
    index = np.full(n, -1, dtype=np.int64)
    if (~cold_start).any():
        inputs = DecisionInputs.from_frame(rows, on_hand=on_hand, on_order=on_order)
        index[~cold_start] = policy.decide_index(inputs.subset(~cold_start))
    decided = index >= 0
    coverage = incumbent.copy()
    if actions.is_coverage:
        coverage[decided] = actions.values[index[decided]]
    clock.lap("policy")

    # a base-stock level reads the forecast over lead time plus review: as far as a coverage of that many days
    protection = lanes["lead_time_mean"].to_numpy(float)[lane_id] + lanes["review_period"].to_numpy(float)[lane_id]
    reach = np.where(decided & (not actions.is_coverage), protection, coverage)
    path = _forecast_paths(forecaster, panels, forecasts, splits, lane_id, reach, days_to_review)
    level = CoveragePolicy(coverage).levels(path, far + 1)[lane_row, days_to_review]
    # the forecast from each lane's review date on
    from_review = path[lane_row[:, None], days_to_review[:, None] + np.arange(path.shape[1] - far)[None, :]]
    if not actions.is_coverage and decided.any():
        risk = LaneRisk.of(
            lanes["lead_time_mean"].to_numpy(float)[lane_id],
            lanes["lead_time_std"].to_numpy(float)[lane_id],
            lanes["review_period"].to_numpy(float)[lane_id],
            np.asarray(forecaster.dispersion, dtype=np.float64)[lane_id],
        ).take(decided)
        service = actions.levels(path[decided], index[decided], far + 1, risk)
        service = service[np.arange(int(decided.sum())), days_to_review[decided]]
        level[decided] = service
        coverage[decided] = actions.cover_days(from_review[decided], service)
    to_review = (path[:, :far] * (np.arange(far)[None, :] < days_to_review[:, None])).sum(axis=1)
    arithmetic = order_arithmetic(level, on_hand, on_order, to_review, case_pack, moq)
    with np.errstate(invalid="ignore", divide="ignore"):
        daily_mean = np.where(coverage > 0, level / np.where(coverage > 0, coverage, 1.0), from_review[:, 0])

    outlook = _outlook(lanes, lane_id, arithmetic, from_review, review, forecaster.dispersion, params)
    result = pd.DataFrame(
        {
            "sku_id": keyed["sku_id"].to_numpy(),
            "dc_id": keyed["dc_id"].to_numpy(),
            "category": lanes["category"].to_numpy()[lane_id],
            "as_of_date": as_of,
            "review_date": review,
            "reason_code": order_list.reason_codes(np.ones(n, bool), cold_start, coverage, arithmetic.order_units),
            "order_units": arithmetic.order_units.astype("int64"),
            "order_value": arithmetic.order_units * lanes["unit_cost"].to_numpy(float)[lane_id],
            "currency": currency,
            **outlook,
            "policy_used": np.where(cold_start, INCUMBENT_FALLBACK, ORPR),
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
            "case_pack": case_pack,
            "moq": moq,
            "unit_cost": lanes["unit_cost"].to_numpy(float)[lane_id],
            "lead_time_mean": lanes["lead_time_mean"].to_numpy(float)[lane_id],
            "lead_time_std": lanes["lead_time_std"].to_numpy(float)[lane_id],
            "review_period": review_period,
            "promo_days_ahead": rows["promo_days_ahead"].to_numpy(),
            "expert_coverage_days_ahead": rows["expert_coverage_days_ahead"].to_numpy(),
        },
        index=lane_id,
    )
    labels = order_list.label_history(or_labels, lane_id)
    result["reason"] = _reasons(result, labels, params.min_history_days, days_to_review)
    missing = np.setdiff1d(lanes["lane_id"].to_numpy(), lane_id)
    missing_review = origin + pd.to_timedelta(
        next_review_days(as_of, lanes["review_period"].to_numpy("int64")[missing], anchor), unit="D"
    )
    result = _with_every_lane(result, _without_state(lanes, missing, as_of, missing_review, currency))
    clock.lap("orders")
    logger.log(
        log_level,
        "Recommendations for %s lanes as of %s (reviews %s to %s): %s aligned, %s cold start, %s without state, "
        "%s orders worth %s %s, in %s",
        f"{n:,}",
        as_of.date(),
        review.min().date(),
        review.max().date(),
        f"{int((~cold_start).sum()):,}",
        f"{int(cold_start.sum()):,}",
        f"{len(missing):,}",
        f"{int((arithmetic.order_units > 0).sum()):,}",
        f"{float(result['order_value'].sum()):,.2f}",
        currency,
        clock,
    )
    return result[list(RECOMMENDATION_COLUMNS)]
