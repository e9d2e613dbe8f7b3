"""Coverage schedules, the incumbent rule and forecast base-stock on a period's actual demand.

:func:`compare_on_period` is the open-loop use of the harness
(:func:`orpr_kedro.core.simulation.harness.run_open_loop`): forecasts are refreshed once
per decision interval (weekly), on the days of interval ``k`` a policy orders up to a
level computed from the forecast made on that interval's decision date. Every policy
sees the same demand and the same lead-time draws (common random numbers), so
differences in KPIs come from the policies alone.
"""

from __future__ import annotations

from collections.abc import Mapping

import pandas as pd

from orpr_kedro.core.simulation.actions import ActionGrid, ActionSchedule, LaneRisk
from orpr_kedro.core.simulation.harness import BacktestResult, run_open_loop
from orpr_kedro.core.simulation.period import Period
from orpr_kedro.core.simulation.policies import CoverageSchedule, IncumbentRule, Policy, base_stock_for

__all__ = ["BacktestResult", "compare_on_period", "rule_policies"]


def rule_policies(period: Period) -> dict[str, Policy]:
    """The two classic rules every comparison includes: ``incumbent`` and ``base_stock``."""
    lanes = period.lane_arrays
    return {"incumbent": IncumbentRule.from_lanes(lanes), "base_stock": base_stock_for(lanes, period.dispersion)}


def compare_on_period(
    data: Period,
    schedules: Mapping[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    max_lead_time: int,
    actions: ActionGrid | None = None,
) -> BacktestResult:
    """Coverage schedules, the incumbent rule and forecast base-stock on the actual demand of [start, end).

    Args:
        schedules: policy name -> table with ``lane_id``, ``decision_date`` and
            ``coverage_days`` for every lane and decision date of the period (OR
            labels, a learned policy's decisions, ...).
        actions: the action grid the schedules' ``coverage_index`` points into; with
            service-level actions the schedules are decided by index
            (:class:`~orpr_kedro.core.simulation.actions.ActionSchedule`), with a
            coverage grid (or none) by their coverage days.

    All policies start from the SKU-DC master's ``initial_on_hand`` with nothing on
    order and share one set of lead-time draws.

    Raises:
        ValueError: when the period has no decision date, a schedule lacks a lane or
            date, or the data lacks actual demand for the period.
    """
    dates = data.decision_dates[(data.decision_dates >= start) & (data.decision_dates < end)]
    if len(dates) == 0:
        raise ValueError(f"no decision dates between {start.date()} and {end.date()}")
    lane_ids = data.lanes["lane_id"].to_numpy()
    policies: dict[str, Policy] = {}
    for name, table in schedules.items():
        if actions is not None and not actions.is_coverage:
            by_index = ActionSchedule(table, lane_ids, actions, LaneRisk.of_period(data), name)
            by_index.index(dates)  # every lane and date present, before anything is simulated
            policies[name] = by_index
        else:
            schedule = CoverageSchedule(table, lane_ids, name)
            schedule.coverage(dates)
            policies[name] = schedule
    policies.update(rule_policies(data))
    return run_open_loop(data, policies, list(dates), seed=seed, max_lead_time=max_lead_time)
