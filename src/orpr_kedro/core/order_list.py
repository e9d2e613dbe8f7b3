"""What a buyer needs next to each order: arrival, projected stock, stock-out risk, a reason code.

All quantities are in units, time in days, values in the currency of ``unit_cost``.
Day 0 is the review date (the day the order is placed); the conventions are the
simulator's (:mod:`orpr_kedro.core.simulation.kernel`): an order placed on day 0
with lead time ``L`` arrives at the start of day ``L`` and serves that day's demand;
unmet demand is lost.

* **Arrival**: expected on day ``rint(lead_time_mean)`` (at least 1, as the
  simulator's draws); the range is ``rint(mean -/+ z * lead_time_std)`` with ``z``
  the two-sided normal quantile of the range level (1.645 for 90%).
* **Projected on hand** (mean forecast): from the projected inventory position on
  the review date ``s`` (the snapshot's on order counted as received by then, as in
  the order arithmetic): at arrival, before the order is received,
  ``max(s - F[0, a), 0)``; at the next review (day ``r`` = the lane's
  ``review_period``, after that day's receipts) the order is added when ``a <= r``
  and the demand of ``[a, r)`` taken off, floored at 0.
* **Stock-out risk until the next review**: the probability that some demand of the
  days ``[0, r)`` is lost, from the forecast distribution (daily negative binomial
  with the lane's dispersion, days independent, as the simulator's scenarios). With
  ``D[0, k)`` the demand of the first ``k`` days, no demand is lost iff
  ``D[0, a) <= s`` and ``D[0, r) <= s + Q`` (when the order arrives before the next
  review, ``a < r``), or ``D[0, r) <= s`` (when it does not). The sums are negative
  binomials matched on mean and variance; for ``a < r`` the two events are both
  decreasing in the demand and so positively correlated, and ``1 - P(A) P(B)`` is an
  upper bound of the risk (exact for ``a >= r``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from scipy import stats

__all__ = [
    "COLD_START",
    "NO_ORDER_ENOUGH_STOCK",
    "NO_ORDER_ZERO_COVER",
    "NO_STATE",
    "ORDER",
    "REASON_CODES",
    "ArrivalDays",
    "LabelHistory",
    "arrival_days",
    "label_history",
    "projected_on_hand",
    "reason_codes",
    "stockout_risk",
]

ORDER, NO_ORDER_ENOUGH_STOCK, NO_ORDER_ZERO_COVER, COLD_START, NO_STATE = (
    "order",
    "no_order_enough_stock",
    "no_order_zero_cover",
    "cold_start",
    "no_state",
)
REASON_CODES = (ORDER, NO_ORDER_ENOUGH_STOCK, NO_ORDER_ZERO_COVER, COLD_START, NO_STATE)


class ArrivalDays:
    """Days from the review date to the order's arrival: expected, earliest and latest of the range."""

    def __init__(self, expected: np.ndarray, earliest: np.ndarray, latest: np.ndarray) -> None:
        self.expected, self.earliest, self.latest = expected, earliest, latest


def arrival_days(lead_time_mean, lead_time_std, level: float = 0.9) -> ArrivalDays:
    """Expected arrival ``rint(mean)`` and the two-sided ``level`` range ``rint(mean -/+ z std)``, all >= 1 day.

    Example: mean 4.4, std 1.0, level 0.9 (z = 1.645): expected 4, range 3 to 6.
    """
    mean = np.asarray(lead_time_mean, dtype="float64")
    spread = stats.norm.ppf(0.5 + level / 2.0) * np.asarray(lead_time_std, dtype="float64")
    days = [np.maximum(np.rint(value), 1.0).astype("int64") for value in (mean, mean - spread, mean + spread)]
    return ArrivalDays(*days)


def _cumulative(path: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Sum of ``path[n, :days[n]]`` per lane (days beyond the path are not counted)."""
    cumsum = np.concatenate([np.zeros((path.shape[0], 1)), np.cumsum(path, axis=1)], axis=1)
    return cumsum[np.arange(path.shape[0]), np.minimum(days, path.shape[1])]


def projected_on_hand(position, order_units, path, arrival, review_period) -> tuple[np.ndarray, np.ndarray]:
    """On hand at the order's arrival (before it is received) and at the next review (after its receipts).

    Args:
        position: inventory position on the review date (units).
        order_units: the order placed on the review date (units).
        path: mean daily forecast from the review date ``[lane, day]`` (units/day), at
            least ``max(arrival, review_period)`` days long.
        arrival: days from the review date to the arrival (>= 1).
        review_period: days to the next review.

    Example: position 10, order 24, 3 units a day, arrival day 4, next review day 7:
    at arrival max(10 - 12, 0) = 0; at the next review 0 + 24 - 9 = 15.
    """
    position = np.asarray(position, dtype="float64")
    order = np.asarray(order_units, dtype="float64")
    arrival, review = np.asarray(arrival, dtype="int64"), np.asarray(review_period, dtype="int64")
    to_arrival, to_review = _cumulative(path, arrival), _cumulative(path, review)
    at_arrival = np.maximum(position - to_arrival, 0.0)
    received = np.maximum(at_arrival + order - (to_review - to_arrival), 0.0)
    return at_arrival, np.where(arrival <= review, received, np.maximum(position - to_review, 0.0))


def _probability_at_most(stock: np.ndarray, mean: np.ndarray, variance: np.ndarray) -> np.ndarray:
    """P(D <= stock) for D negative binomial with this mean and variance (1 where the mean is 0)."""
    positive = mean > 0
    safe_mean = np.where(positive, mean, 1.0)
    phi = np.maximum((variance - mean) / safe_mean**2, 1e-9)
    size = 1.0 / phi
    cdf = stats.nbinom.cdf(np.floor(np.maximum(stock, 0.0)), size, size / (size + safe_mean))
    return np.where(positive, cdf, 1.0)


def stockout_risk(position, order_units, path, dispersion, arrival, review_period) -> np.ndarray:
    """Probability that some demand is lost before the next review (0 to 1; see the module docstring).

    Args:
        position, order_units, path, arrival, review_period: as :func:`projected_on_hand`.
        dispersion: the forecaster's negative-binomial ``phi`` per lane (variance of a
            day's demand = mean + phi mean**2).
    """
    position = np.asarray(position, dtype="float64")
    order = np.asarray(order_units, dtype="float64")
    arrival, review = np.asarray(arrival, dtype="int64"), np.asarray(review_period, dtype="int64")
    phi = np.maximum(np.asarray(dispersion, dtype="float64"), 1e-6)

    def moments(days: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = _cumulative(path, days)
        return mean, mean + phi * _cumulative(path**2, days)

    before = np.minimum(arrival, review)
    covered = _probability_at_most(position, *moments(before))
    in_window = arrival < review
    after = _probability_at_most(position + np.where(in_window, order, 0.0), *moments(review))
    return 1.0 - covered * np.where(in_window, after, 1.0)


class LabelHistory:
    """Per lane: the OR labels it had in training (dates, how many chose 0 d, the median coverage)."""

    def __init__(self, dates: np.ndarray, zero_dates: np.ndarray, median_days: np.ndarray) -> None:
        self.dates, self.zero_dates, self.median_days = dates, zero_dates, median_days


def label_history(or_labels: pd.DataFrame | None, lane_id: np.ndarray) -> LabelHistory:
    """Counts of the OR labels (``lane_id``, ``coverage_days``) of the lanes ``lane_id``; 0 dates without labels."""
    n = len(lane_id)
    if or_labels is None or or_labels.empty:
        return LabelHistory(np.zeros(n, "int64"), np.zeros(n, "int64"), np.full(n, np.nan))
    days = or_labels["coverage_days"]
    grouped = days.groupby(or_labels["lane_id"])
    stats_by_lane = pd.DataFrame(
        {"dates": grouped.size(), "zero": (days == 0).groupby(or_labels["lane_id"]).sum(), "median": grouped.median()}
    ).reindex(lane_id)
    return LabelHistory(
        stats_by_lane["dates"].fillna(0).to_numpy("int64"),
        stats_by_lane["zero"].fillna(0).to_numpy("int64"),
        stats_by_lane["median"].to_numpy("float64"),
    )


def reason_codes(has_state, cold_start, coverage_days, order_units) -> np.ndarray:
    """One code per lane, the first that applies: ``no_state``, ``cold_start``, ``order``,
    ``no_order_zero_cover`` (the policy chose 0 days of cover), else ``no_order_enough_stock``.
    """
    has_state, cold_start = np.asarray(has_state, bool), np.asarray(cold_start, bool)
    ordered = np.asarray(order_units) > 0
    zero_cover = np.asarray(coverage_days, dtype="float64") == 0
    return np.select(
        [~has_state, cold_start, ordered, zero_cover],
        [NO_STATE, COLD_START, ORDER, NO_ORDER_ZERO_COVER],
        default=NO_ORDER_ENOUGH_STOCK,
    ).astype(object)
