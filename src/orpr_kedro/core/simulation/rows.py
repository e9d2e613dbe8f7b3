"""The (lane, decision date) rows of a period: the state-independent part of every decision.

Rows come from ``mi_decision_features`` (one row per lane and decision date) joined with
``mi_or_labels`` (the OR label and the OR trajectory's state), sorted by lane then date;
every ``row_*`` array is ``[R]``. ``next_row`` is the same lane's next decision date
(``-1`` at the end); ``steps_left`` the number of consecutive decision intervals that can
be simulated from the row (each needs ``horizon_days`` of actual demand inside the period
and a next row). Policies that read features (learned policies) are handed the rows of
the lanes on each decision date; rule and OR policies ignore them.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.simulation.conventions import WEEK
from orpr_kedro.core.simulation.lanes import LaneParams
from orpr_kedro.core.simulation.levels import draw_lead_times, shift_forecast
from orpr_kedro.core.simulation.period import Period

__all__ = ["DecisionRows", "build_decision_rows"]


@dataclass
class DecisionRows:
    """Rows of a period's decisions (see the module docstring).

    ``period`` holds their arrays, ``features`` the rows of ``mi_decision_features`` in
    row order.
    """

    period: Period
    features: pd.DataFrame
    row_lane: np.ndarray
    row_window: np.ndarray
    row_day: np.ndarray
    row_date: np.ndarray
    next_row: np.ndarray
    steps_left: np.ndarray
    or_index: np.ndarray
    or_on_hand: np.ndarray
    or_on_order: np.ndarray
    row_category: np.ndarray
    promo_days: np.ndarray
    promotion: np.ndarray
    expert_coverage: np.ndarray
    target_turnover: np.ndarray
    max_lead_time: int
    horizon_days: int

    @property
    def n_rows(self) -> int:
        return len(self.row_lane)

    @property
    def pipeline_days(self) -> int:
        """Width of the stored pipeline: every open order is due within ``max_lead_time`` days."""
        return self.max_lead_time + 1

    def rows_of(self, date: pd.Timestamp) -> np.ndarray:
        """Row of every lane (in lane order) on one decision date; raises if a lane is missing."""
        rows = np.flatnonzero(self.row_date == np.datetime64(pd.Timestamp(date), "ns"))
        n_lanes = self.period.n_lanes
        if len(rows) != n_lanes:
            raise ValueError(f"{pd.Timestamp(date).date()}: {len(rows)} of {n_lanes} lanes have a feature row")
        return rows[np.argsort(self.row_lane[rows], kind="stable")]

    def lane_params_for(self, rows: np.ndarray, offset=0) -> LaneParams:
        """Simulator parameters of the rows' lanes with day 0 = each row's decision date plus ``offset`` days.

        ``offset``: a scalar or one number of days per row (a review day within the week).
        """
        anchor = self.row_day[rows] + np.asarray(offset, dtype=np.int64) - self.period.first_review_day
        return self.period.lane_arrays.lane_params_at(anchor, self.row_lane[rows])

    def days_to_review(self, rows: np.ndarray, offset=0) -> np.ndarray:
        """Days ``[n]`` from ``offset`` days after each row's decision date to its lane's next review day (0: that day)."""
        return self.lane_params_for(rows, offset).review_offset

    def demand(self, rows: np.ndarray, n_days: int, offset=0) -> np.ndarray:
        """Actual demand ``[n, n_days]`` (units/day) from ``offset`` days (scalar or ``[n]``) after each row's date."""
        first = self.row_day[rows] + np.asarray(offset, dtype=np.int64)
        days = np.broadcast_to(first, (len(rows),))[:, None] + np.arange(n_days)[None, :]
        return self.period.demand[self.row_lane[rows][:, None], days]

    def forecast(self, rows: np.ndarray, offset=None) -> np.ndarray:
        """Forecast path ``[n, F]`` (units/day) made on each row's decision date.

        ``offset`` (scalar or ``[n]`` days): the same path as seen that many days later,
        as the harness shifts it to a review day within the week
        (:func:`~orpr_kedro.core.simulation.levels.shift_forecast`: the days beyond the
        horizon continue the last week).
        """
        path = self.period.forecast_cube[self.row_lane[rows], self.row_window[rows], :]
        if offset is None or not np.any(offset):
            return path
        return shift_forecast(path, np.broadcast_to(np.asarray(offset, dtype=np.int64), (len(rows),)))

    def lead_times(
        self, rows: np.ndarray, n_days: int, rng: np.random.Generator, n_scenarios: int | None = None
    ) -> np.ndarray:
        """Lead-time draws ``[n, n_days]`` (days) of the rows' lanes."""
        lanes = self.period.lane_arrays
        lane = self.row_lane[rows]
        return draw_lead_times(
            lanes.lead_time_mean[lane],
            lanes.lead_time_std[lane],
            n_days,
            rng,
            n_scenarios=n_scenarios,
            max_lead_time=self.max_lead_time,
        )

    def initial_pipeline(self, rows: np.ndarray, on_order: np.ndarray) -> np.ndarray:
        """Pipeline ``[n, P]`` holding ``on_order`` due after the lane's mean lead time (days)."""
        return initial_pipeline(
            self.period.lane_arrays.lead_time_mean[self.row_lane[rows]], on_order, self.pipeline_days
        )


def initial_pipeline(lead_time_mean: np.ndarray, on_order: np.ndarray, pipeline_days: int) -> np.ndarray:
    """Pipeline ``[n, pipeline_days]`` holding ``on_order`` (units) due after the mean lead time (days, rounded)."""
    pipeline = np.zeros((len(on_order), pipeline_days))
    due = np.clip(np.rint(lead_time_mean), 1, pipeline_days - 1).astype(np.int64)
    pipeline[np.arange(len(on_order)), due] = np.maximum(on_order, 0.0)
    return pipeline


def build_decision_rows(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    period: Period,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    min_promo_days: float,
    max_lead_time: int,
    horizon_days: int = WEEK,
) -> DecisionRows:
    """The rows of every (lane, decision date) from ``start`` to ``end`` inclusive.

    Args:
        features: ``mi_decision_features``.
        labels: ``mi_or_labels`` (OR label and the OR trajectory's state per lane and date).
        period: demand, forecasts and lanes.
        start, end: decision dates from ``start`` to ``end`` inclusive are rows; a row can
            be stepped from when its ``horizon_days`` of demand end by ``end`` (so ``end``
            itself is only ever a next observation).
        min_promo_days: promoted days ahead from which a decision date is a promotion
            (with an expert coverage).
        max_lead_time: longest lead time drawn (days).
        horizon_days: days of actual demand a step needs.

    Raises:
        ValueError: when no decision date of the features falls in the period, or one
            is not a decision date of the period.
    """
    dates = pd.DatetimeIndex(features["decision_date"])
    chosen = features[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
    if chosen.empty:
        raise ValueError(
            f"mi_decision_features has no decision date between {pd.Timestamp(start).date()} and {pd.Timestamp(end).date()}"
        )
    chosen = chosen.sort_values(["lane_id", "decision_date"]).reset_index(drop=True)
    row_date = chosen["decision_date"].to_numpy(dtype="datetime64[ns]")
    row_lane = chosen["lane_id"].to_numpy(dtype=np.int64)
    row_window = period.decision_dates.get_indexer(pd.DatetimeIndex(row_date)).astype(np.int64)
    if (row_window < 0).any():
        raise ValueError(
            "mi_decision_features has decision dates that time_splits does not list; rerun data_processing"
        )
    row_day = ((row_date - period.dates[0].to_datetime64()) // np.timedelta64(1, "D")).astype(np.int64)

    # next row of the same lane, and how many steps can be taken from each row
    same_lane = np.r_[row_lane[1:] == row_lane[:-1], False]
    consecutive = np.r_[row_window[1:] == row_window[:-1] + 1, False]
    next_row = np.where(same_lane & consecutive, np.arange(len(chosen)) + 1, -1)
    end_day = int((pd.Timestamp(end) - period.dates[0]).days)
    steppable = (
        (row_day + horizon_days <= end_day) & (row_day + horizon_days <= period.demand.shape[1]) & (next_row >= 0)
    )
    steps_left = np.zeros(len(chosen), dtype=np.int64)
    for row in range(len(chosen) - 1, -1, -1):  # one pass backwards over the rows
        if steppable[row]:
            steps_left[row] = 1 + steps_left[next_row[row]]

    keyed = labels.set_index(["lane_id", "decision_date"])
    matched = keyed.reindex(pd.MultiIndex.from_arrays([row_lane, pd.DatetimeIndex(row_date)]))
    promo_days = chosen["promo_days_ahead"].to_numpy(dtype=np.float64)
    expert = chosen["expert_coverage_days_ahead"].to_numpy(dtype=np.float64)
    return DecisionRows(
        period=period,
        features=chosen,
        row_lane=row_lane,
        row_window=row_window,
        row_day=row_day,
        row_date=row_date,
        next_row=next_row,
        steps_left=steps_left,
        or_index=matched["coverage_index"].fillna(-1).to_numpy(dtype=np.int64),
        or_on_hand=matched["on_hand"].to_numpy(dtype=np.float64),
        or_on_order=matched["on_order"].to_numpy(dtype=np.float64),
        row_category=chosen["category"].astype(str).to_numpy(),
        promo_days=promo_days,
        promotion=(chosen["promo_days_ahead"].to_numpy() >= min_promo_days)
        & (chosen["expert_coverage_days_ahead"].to_numpy() > 0),
        expert_coverage=expert,
        target_turnover=chosen["target_turnover_days"].to_numpy(dtype=np.float64),
        max_lead_time=int(max_lead_time),
        horizon_days=int(horizon_days),
    )
