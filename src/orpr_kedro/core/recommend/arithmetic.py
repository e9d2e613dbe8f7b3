"""The review date of a snapshot and the order arithmetic of an order-up-to decision (units).

Position = on hand + on order - forecast to the review date, floored at 0; raw = level -
position; order = whole cases, then the MOQ, exactly as the simulator orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.simulation.kernel import round_order_quantity


def next_review_date(as_of_date: pd.Timestamp, decision_weekday: int) -> pd.Timestamp:
    """First decision weekday after the snapshot day (1 to 7 days later).

    ``decision_weekday``: 0 = Monday, as ``data_processing.splits.decision_weekday``.
    A Sunday snapshot with Monday decisions gives the next day; a Monday snapshot
    gives the Monday a week later (that Monday's own order was due that morning).
    """
    origin = pd.Timestamp(as_of_date).normalize() + pd.Timedelta(days=1)
    return origin + pd.Timedelta(days=(decision_weekday - origin.dayofweek) % 7)


def next_review_days(as_of_date: pd.Timestamp, review_period: np.ndarray, anchor: pd.Timestamp) -> np.ndarray:
    """Days ``[N]`` from the day after the snapshot to each lane's next review (0: that day).

    A lane reviews every ``review_period`` days counted from ``anchor`` (the first
    decision date, as the simulator counts them): a daily lane the next day, a weekly
    lane on the anchor's weekday. Before the anchor, the first review is the anchor.
    """
    origin = pd.Timestamp(as_of_date).normalize() + pd.Timedelta(days=1)
    elapsed = int((origin - pd.Timestamp(anchor).normalize()).days)
    period = np.maximum(np.asarray(review_period, dtype=np.int64), 1)
    if elapsed < 0:
        return np.full(period.shape, -elapsed, dtype=np.int64)
    return (-elapsed) % period


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
