"""Conventions shared by every layer: the decision interval, daily rate and days of cover.

* ``DECISION_INTERVAL_DAYS`` (alias ``WEEK``): days between two decision dates (7).
  Forecasts are refreshed and coverages chosen once per interval; a step of the RL
  environment and of the closed-loop harness simulates one interval.
* :func:`daily_rate` (units/day): the mean forecast over the first interval from the
  decision date, floored at ``MIN_DAILY_FORECAST`` so stock can always be expressed in
  days of cover.
* :func:`days_of_cover` (days): units divided by the daily rate, clipped to
  ``[0, MAX_COVER_DAYS]`` (cover beyond that carries no extra information).
"""

from __future__ import annotations

import numpy as np

__all__ = [
    "DECISION_INTERVAL_DAYS",
    "MAX_COVER_DAYS",
    "MIN_DAILY_FORECAST",
    "WEEK",
    "daily_rate",
    "days_of_cover",
]

DECISION_INTERVAL_DAYS = 7
WEEK = DECISION_INTERVAL_DAYS
MIN_DAILY_FORECAST = 0.01  # units/day: floor when expressing stock in days of cover
MAX_COVER_DAYS = 400.0  # days: cover beyond this carries no extra information


def daily_rate(forecast: np.ndarray, days: int = DECISION_INTERVAL_DAYS) -> np.ndarray:
    """Mean forecast ``[N]`` (units/day) over the first ``days`` of ``forecast`` ``[N, F]``, floored."""
    return np.maximum(np.asarray(forecast)[:, :days].mean(axis=1), MIN_DAILY_FORECAST)


def days_of_cover(units: np.ndarray, daily: np.ndarray) -> np.ndarray:
    """Days of cover of ``units`` at the daily rate ``daily`` (units/day), clipped to ``[0, MAX_COVER_DAYS]``."""
    return np.clip(units / daily, 0.0, MAX_COVER_DAYS)
