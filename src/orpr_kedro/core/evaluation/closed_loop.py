"""Closed-loop comparison of policies on a held-out period, decision date by decision date.

A thin use of the harness (:func:`orpr_kedro.core.simulation.harness.run_closed_loop`):
every policy decides at every decision date from the SIMULATED state of its own
trajectory, and the 7 days to the next decision date are simulated for all policies in
one simulator call, on the same actual demand and the same lead-time draws (common
random numbers; drawn exactly as :func:`~orpr_kedro.core.simulation.backtest.compare_on_period`
draws them), from the same initial state. Fixed rules (OR labels, the incumbent
days-of-cover rule, forecast base-stock) do not depend on the state, so for them the
closed loop equals the open-loop backtest.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np
import pandas as pd

from orpr_kedro.core.simulation.conventions import WEEK
from orpr_kedro.core.simulation.harness import ClosedLoopResult, run_closed_loop
from orpr_kedro.core.simulation.period import Period
from orpr_kedro.core.simulation.policies import Policy
from orpr_kedro.core.simulation.rows import DecisionRows

__all__ = ["ClosedLoopResult", "closed_loop_validation", "decision_dates_with_demand", "promotion_gaps"]


def decision_dates_with_demand(period: Period, start: pd.Timestamp, end: pd.Timestamp) -> list[pd.Timestamp]:
    """Decision dates ``start <= d < end`` followed by a week of actual demand.

    Raises:
        ValueError: when there is none.
    """
    in_period = (period.decision_dates >= pd.Timestamp(start)) & (period.decision_dates < pd.Timestamp(end))
    dates = [
        pd.Timestamp(date)
        for date in period.decision_dates[in_period]
        if period.day(date) + WEEK <= period.demand.shape[1]
    ]
    if not dates:
        raise ValueError(
            f"no decision date between {pd.Timestamp(start).date()} and {pd.Timestamp(end).date()} has a week of demand"
        )
    return dates


def closed_loop_validation(
    rows: DecisionRows,
    policies: Mapping[str, Policy],
    *,
    grid: np.ndarray,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    initial_state: str = "or_trajectory",
    score_from: pd.Timestamp | None = None,
    daily_lanes: np.ndarray | None = None,
    cadence: str = "weekly",
) -> ClosedLoopResult:
    """Simulate ``policies`` (in that order) in one closed loop on ``[start, end)``.

    Args:
        rows: the decision rows of the period (their period holds demand, forecasts and lanes).
        policies: policy name -> policy (rules, schedules, OR, learned policies).
        grid: coverage grid (days) on which coverages without a grid index are looked up.
        start, end: the period (decision dates ``start <= d < end``, each with 7 days of demand).
        seed: run seed; lead times are drawn from ``SeedSequence([seed, first day])``.
        initial_state: ``or_trajectory`` (the OR policy's state on the first date,
            from ``mi_or_labels``) or ``master`` (``initial_on_hand``, nothing on order).
        score_from: weeks before this date are a burn-in: simulated (every policy
            reaches its own state) but not counted in the KPIs; ``None`` scores all.
        daily_lanes: lane indices whose daily trajectories are kept (scored days).
        cadence: ``weekly`` (every lane decides each decision date) or ``review`` (each
            lane at each of its review days; see :func:`~orpr_kedro.core.simulation.harness.run_closed_loop`).

    Raises:
        ValueError: when the period has no decision date with a week of demand.
    """
    period = rows.period
    return run_closed_loop(
        period,
        policies,
        decision_dates_with_demand(period, start, end),
        seed=seed,
        max_lead_time=rows.max_lead_time,
        grid=grid,
        rows=rows,
        initial_state=initial_state,
        score_from=None if score_from is None else pd.Timestamp(score_from),
        daily_lanes=None if daily_lanes is None else np.asarray(daily_lanes, dtype=np.int64),
        cadence=cadence,
    )


def promotion_gaps(decisions: pd.DataFrame) -> pd.DataFrame:
    """Mean |coverage - expert coverage| (days) per policy on promotion decision dates."""
    promoted = decisions[decisions["promotion"] & decisions["coverage_days"].notna()]
    gap = (promoted["coverage_days"] - promoted["expert_coverage_days"]).abs()
    table = gap.groupby(promoted["policy"], sort=False).agg(["mean", "size"]).reset_index()
    return table.rename(columns={"mean": "mean_abs_gap_to_expert_days", "size": "n_promotion_decisions"})
