"""Decision dates and the train / validation / test split in time.

Decision dates fall weekly on one weekday. The test period is the last
``test_weeks`` whole weeks of the data (starting on a decision date), validation
the ``validation_weeks`` before it, and training everything from the first
decision date (after a warm-up of history) up to validation. Whole categories can
also be held out of training for transfer tests.
"""

from __future__ import annotations

import logging
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from orpr_kedro.core.params import SplitParams

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class TimeSplits:
    """Boundaries (inclusive starts) of the periods, all as timestamps."""

    data_start: pd.Timestamp
    data_end: pd.Timestamp
    first_decision_date: pd.Timestamp
    validation_start: pd.Timestamp
    test_start: pd.Timestamp
    decision_weekday: int
    holdout_categories: tuple[str, ...] = field(default_factory=tuple)

    def decision_dates(self, start: pd.Timestamp | None = None, end: pd.Timestamp | None = None) -> pd.DatetimeIndex:
        """Weekly decision dates from ``start`` (default: the first) up to ``end`` (default: data end)."""
        start = self.first_decision_date if start is None else max(pd.Timestamp(start), self.first_decision_date)
        end = self.data_end if end is None else pd.Timestamp(end)
        offset = (self.decision_weekday - start.dayofweek) % 7
        return pd.date_range(start + pd.Timedelta(days=offset), end, freq="7D")

    def period_of(self, dates: pd.Series | pd.DatetimeIndex | np.ndarray) -> np.ndarray:
        """'warmup', 'train', 'validation' or 'test' for each date."""
        values = pd.DatetimeIndex(dates).to_numpy()
        bins = np.array([self.first_decision_date, self.validation_start, self.test_start], dtype="datetime64[ns]")
        labels = np.array(["warmup", "train", "validation", "test"])
        return labels[np.searchsorted(bins, values, side="right")]

    def to_dict(self) -> dict[str, Any]:
        """JSON-friendly form (ISO dates)."""
        values = asdict(self)
        for key, value in values.items():
            if isinstance(value, pd.Timestamp):
                values[key] = value.date().isoformat()
        values["holdout_categories"] = list(self.holdout_categories)
        return values

    @classmethod
    def from_dict(cls, values: dict[str, Any]) -> TimeSplits:
        """Inverse of :meth:`to_dict`."""
        dates = {
            key: pd.Timestamp(values[key])
            for key in ("data_start", "data_end", "first_decision_date", "validation_start", "test_start")
        }
        return cls(
            **dates,
            decision_weekday=int(values["decision_weekday"]),
            holdout_categories=tuple(values.get("holdout_categories", ())),
        )


def _on_or_before(date: pd.Timestamp, weekday: int) -> pd.Timestamp:
    return date - pd.Timedelta(days=(date.dayofweek - weekday) % 7)


def _on_or_after(date: pd.Timestamp, weekday: int) -> pd.Timestamp:
    return date + pd.Timedelta(days=(weekday - date.dayofweek) % 7)


def make_time_splits(
    data_start: pd.Timestamp, data_end: pd.Timestamp, params: SplitParams, categories: list[str] | None = None
) -> TimeSplits:
    """Derive the split boundaries from the data's date range.

    Held-out categories that are not in ``categories`` (the data's) are ignored
    with a warning, so the demo's default (``personal_care``) does not stop a run
    on other data.

    Raises:
        ValueError: when there are no dates, or the data is too short for
            warm-up, training, validation and test.
    """
    if pd.isna(data_start) or pd.isna(data_end):
        raise ValueError("The sales data has no dates: raw_sales needs at least one row per SKU-DC and day.")
    data_start, data_end = pd.Timestamp(data_start).normalize(), pd.Timestamp(data_end).normalize()
    weekday = params.decision_weekday
    test_start = _on_or_before(data_end - pd.Timedelta(days=7 * params.test_weeks - 1), weekday)
    validation_start = test_start - pd.Timedelta(days=7 * params.validation_weeks)
    first_decision = _on_or_after(data_start + pd.Timedelta(days=params.warmup_days), weekday)
    if first_decision + pd.Timedelta(days=28) > validation_start:
        raise ValueError(
            f"The sales data ({data_start.date()} to {data_end.date()}) is too short: after "
            f"{params.warmup_days} warm-up days the first decision date is {first_decision.date()}, "
            f"leaving less than 4 weeks of training before validation starts on {validation_start.date()}. "
            "Provide more history or reduce data_processing.splits.test_weeks / validation_weeks / warmup_days."
        )
    holdout = list(params.holdout_categories)
    if categories is not None:
        unknown = sorted(set(holdout) - set(categories))
        if unknown:
            logger.warning(
                "data_processing.splits.holdout_categories names categories that are not in the data, ignored: %s "
                "(categories in the data: %s)",
                unknown,
                sorted(categories),
            )
        holdout = [category for category in holdout if category in set(categories)]
    return TimeSplits(
        data_start=data_start,
        data_end=data_end,
        first_decision_date=first_decision,
        validation_start=validation_start,
        test_start=test_start,
        decision_weekday=weekday,
        holdout_categories=tuple(holdout),
    )
