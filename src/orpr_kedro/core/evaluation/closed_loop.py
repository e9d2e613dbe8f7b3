"""Closed-loop comparison of policies on a held-out period, week by week.

Unlike :mod:`orpr_kedro.core.simulation.backtest` (levels fixed in advance), a learned policy
here decides at every decision date from the SIMULATED state of its own trajectory:
the observation is built from the features row of (lane, date) and the policy's own
current on-hand and on-order, the policy picks a coverage, and the 7 days to the next
decision date are simulated. All policies run side by side as candidates of one
simulator call per week, on the same actual demand and the same lead-time draws
(common random numbers; drawn exactly as :func:`~orpr_kedro.core.simulation.backtest.compare_on_period`
draws them), from the same initial state. Fixed rules (OR labels, the incumbent
days-of-cover rule, forecast base-stock) do not depend on the state, so for them the
closed loop equals the open-loop backtest.
"""

from __future__ import annotations

import time
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Protocol

import numpy as np
import pandas as pd

from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.rl.actor_critic import categorical_kl, torch_runtime
from orpr_kedro.core.rl.alignment import decision_logits
from orpr_kedro.core.rl.env import WEEK, LaneContext, serial_simulation
from orpr_kedro.core.simulation.backtest import BacktestResult, base_stock_rule, coverage_schedule
from orpr_kedro.core.simulation.kernel import (
    ACCUMULATOR_FIELDS,
    draw_lead_times,
    lane_coverage_levels,
    simulate_order_up_to,
)

__all__ = ["ClosedLoopResult", "Decider", "closed_loop_validation", "promotion_gaps"]


class Decider(Protocol):
    """A state-dependent policy: coverage for every lane on a decision date.

    Called once per decision date with the lanes' rows of the context (lane order),
    the policy's own simulated on-hand ``[N]`` and pipeline ``[N, P]`` (units due at
    the start of day ``k`` from the date); returns coverage days ``[N]`` and grid
    indices ``[N]`` (``-1`` where the coverage is not a grid value).
    """

    def __call__(
        self, date: pd.Timestamp, rows: np.ndarray, on_hand: np.ndarray, pipeline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]: ...


@dataclass
class ClosedLoopResult:
    """KPIs of every policy and the decisions taken (one row per policy, lane and date).

    ``decision_seconds`` / ``n_decisions``: wall time spent deciding and the number of
    lane decisions per policy. ``daily`` (when requested): trajectories ``[P, n, T]`` of the
    selected lanes over the scored days (``on_hand_start``, ``on_hand_end``, ``orders``,
    ``arrivals``, ``lost``, ``demand``), with ``daily_lanes`` their lane indices.
    """

    backtest: BacktestResult
    decisions: pd.DataFrame
    lanes: pd.DataFrame
    decision_seconds: dict[str, float] = field(default_factory=dict)
    n_decisions: dict[str, int] = field(default_factory=dict)
    scored_dates: list[pd.Timestamp] = field(default_factory=list)
    daily: dict[str, np.ndarray] | None = None
    daily_lanes: np.ndarray | None = None

    def kpi_table(self) -> pd.DataFrame:
        """KPIs per policy, overall (``scope = all``) and per category."""
        return self.backtest.kpi_table(self.lanes)


def closed_loop_validation(
    context: LaneContext,
    learned: Mapping[str, FoundationModel | Decider],
    schedules: Mapping[str, pd.DataFrame],
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    initial_state: str = "or_trajectory",
    kl_pairs: Mapping[str, str] | None = None,
    threads: int = 1,
    score_from: pd.Timestamp | None = None,
    daily_lanes: np.ndarray | None = None,
    builtin: tuple[str, ...] = ("incumbent", "base_stock"),
) -> ClosedLoopResult:
    """Simulate learned policies (closed loop), coverage schedules, the incumbent and base-stock on ``[start, end)``.

    Args:
        context: lane context covering the period's decision dates.
        learned: policy name -> network deciding from its own simulated state (argmax),
            or any :class:`Decider` (OR re-solved from the state, a baseline learner, ...).
        schedules: policy name -> table (``lane_id``, ``decision_date``, ``coverage_days``).
        start, end: the period (decision dates ``start <= d < end``, each with 7 days of demand).
        seed: run seed; lead times are drawn from ``SeedSequence([seed, first day])``.
        initial_state: ``or_trajectory`` (the OR policy's state on the first date,
            from ``mi_or_labels``) or ``master`` (``initial_on_hand``, nothing on order).
        kl_pairs: policy -> reference policy: ``KL(policy || reference)`` is recorded on
            the policy's own states (column ``kl_to_reference``); networks only.
        threads: torch threads for the networks.
        score_from: weeks before this date are a burn-in: simulated (every policy
            reaches its own state) but not counted in the KPIs; ``None`` scores all.
        daily_lanes: lane indices whose daily trajectories are kept (scored days).
        builtin: which of the fixed rules ``incumbent`` and ``base_stock`` to add.

    Raises:
        ValueError: when the period has no decision date with a week of demand.
    """
    options = _LoopOptions(
        initial_state=initial_state,
        kl_pairs=dict(kl_pairs or {}),
        score_from=None if score_from is None else pd.Timestamp(score_from),
        daily_lanes=None if daily_lanes is None else np.asarray(daily_lanes, dtype=np.int64),
        builtin=tuple(builtin),
    )
    unknown = set(options.builtin) - {"incumbent", "base_stock"}
    if unknown:
        raise ValueError(f"builtin policies are incumbent and base_stock, got {sorted(unknown)}")
    with torch_runtime(threads):
        return _closed_loop(context, learned, schedules, start, end, seed, options)


@dataclass(frozen=True)
class _LoopOptions:
    initial_state: str
    kl_pairs: dict[str, str]
    score_from: pd.Timestamp | None
    daily_lanes: np.ndarray | None
    builtin: tuple[str, ...]


_DAILY_FIELDS = ("on_hand_start", "on_hand_end", "orders", "arrivals", "lost")


def _closed_loop(  # noqa: PLR0915 - one week loop, kept in one place
    context: LaneContext,
    learned: Mapping[str, FoundationModel | Decider],
    schedules: Mapping[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    options: _LoopOptions,
) -> ClosedLoopResult:
    data = context.data
    lanes = data.lanes
    n_lanes = len(lanes)
    in_period = (data.decision_dates >= pd.Timestamp(start)) & (data.decision_dates < pd.Timestamp(end))
    dates = [date for date in data.decision_dates[in_period] if data.day(date) + WEEK <= data.demand.shape[1]]
    if not dates:
        raise ValueError(
            f"no decision date between {pd.Timestamp(start).date()} and {pd.Timestamp(end).date()} has a week of demand"
        )
    scored = [options.score_from is None or date >= options.score_from for date in dates]
    if not any(scored):
        raise ValueError(f"no decision date on or after score_from {options.score_from.date()} in the period")
    first_day = data.day(dates[0])
    n_days = WEEK * len(dates)
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), first_day]))
    lead_times = draw_lead_times(
        lanes["lead_time_mean"].to_numpy(),
        lanes["lead_time_std"].to_numpy(),
        n_days,
        rng,
        max_lead_time=context.max_lead_time,
    )
    coverage = {
        name: coverage_schedule(table, lanes, pd.DatetimeIndex(dates), name) for name, table in schedules.items()
    }
    names = [*learned, *coverage, *options.builtin]
    first_rows = context.rows_of(dates[0])
    base_stock = base_stock_rule(lanes, context.lane_params_for(first_rows), data.dispersion)

    n_policies = len(names)
    on_hand, pipeline = _initial_state(context, first_rows, options.initial_state, n_policies)
    totals = {name: np.zeros((n_policies, 1, n_lanes)) for name in ACCUMULATOR_FIELDS}
    selected = options.daily_lanes
    daily: dict[str, list[np.ndarray]] = {name: [] for name in (*_DAILY_FIELDS, "demand")}
    seconds = dict.fromkeys(names, 0.0)
    counts = dict.fromkeys(names, 0)
    columns: dict[str, list[np.ndarray]] = {}
    for week, date in enumerate(dates):
        rows = context.rows_of(date)
        forecast = context.forecast(rows)
        levels = np.empty((n_policies, n_lanes, WEEK))
        for index, name in enumerate(names):
            position = pipeline[index].sum(axis=1)
            chosen, kl = None, np.full(n_lanes, np.nan)
            started = time.perf_counter()
            if name in learned and isinstance(learned[name], FoundationModel):
                chosen, kl = _learned_decision(context, learned, options.kl_pairs, name, rows, on_hand[index], position)
                days = context.grid[chosen]
            elif name in learned:
                days, chosen = learned[name](pd.Timestamp(date), rows, on_hand[index], pipeline[index])
                days = np.asarray(days, dtype=np.float64)
            elif name in coverage:
                days = coverage[name][:, week]
            elif name == "incumbent":
                days = lanes["target_turnover_days"].to_numpy(dtype=np.float64)
            else:
                days = np.full(n_lanes, np.nan)
            levels[index] = (
                base_stock(week, forecast, WEEK) if name == "base_stock" else lane_coverage_levels(forecast, days, WEEK)
            )
            seconds[name] += time.perf_counter() - started
            counts[name] += n_lanes
            record = {
                "policy": np.full(n_lanes, name, dtype=object),
                "lane_id": lanes["lane_id"].to_numpy(),
                "decision_date": np.full(n_lanes, np.datetime64(pd.Timestamp(date), "ns")),
                "scored": np.full(n_lanes, scored[week]),
                "coverage_days": days,
                "coverage_index": chosen if chosen is not None else _grid_index(context.grid, days),
                "order_up_to": levels[index][:, 0],
                "on_hand": on_hand[index],
                "on_order": position,
                "promotion": context.promotion[rows],
                "expert_coverage_days": context.expert_coverage[rows],
                "kl_to_reference": kl,
            }
            for column, values in record.items():
                columns.setdefault(column, []).append(values)
        days_of_week = slice(week * WEEK, (week + 1) * WEEK)
        demand = context.demand(rows, WEEK)
        keep_daily = selected is not None and scored[week]
        with serial_simulation():
            result = simulate_order_up_to(
                demand[None],
                levels,
                np.ascontiguousarray(lead_times[:, days_of_week])[None],
                context.lane_params_for(rows),
                on_hand[:, None, :],
                pipeline[:, None, :, :],
                return_pipeline=True,
                record_trajectories=keep_daily,
            )
        if scored[week]:
            for name in ACCUMULATOR_FIELDS:
                totals[name] += getattr(result, name)
        if keep_daily:
            for name in _DAILY_FIELDS:
                daily[name].append(getattr(result.trajectories, name)[:, 0][:, selected, :])
            daily["demand"].append(np.broadcast_to(demand[selected], (n_policies, len(selected), WEEK)))
        on_hand = result.final_on_hand[:, 0, :].copy()
        pipeline = result.final_pipeline[:, 0, :, : context.pipeline_days].copy()
    # the accumulators [P, 1, N] stand in for a SimulationResult (BacktestResult reads them by name)
    backtest = BacktestResult(policies=names, result=totals)  # type: ignore[arg-type]
    decisions = pd.DataFrame({column: np.concatenate(values) for column, values in columns.items()})
    return ClosedLoopResult(
        backtest,
        decisions,
        lanes,
        decision_seconds=seconds,
        n_decisions=counts,
        scored_dates=[pd.Timestamp(d) for d, s in zip(dates, scored, strict=True) if s],
        daily={name: np.concatenate(values, axis=2) for name, values in daily.items()}
        if selected is not None
        else None,
        daily_lanes=selected,
    )


def _learned_decision(
    context: LaneContext,
    learned: Mapping[str, FoundationModel],
    kl_pairs: Mapping[str, str],
    name: str,
    rows: np.ndarray,
    on_hand: np.ndarray,
    on_order: np.ndarray,
) -> tuple[np.ndarray, np.ndarray]:
    """Argmax grid index ``[N]`` of a network on its own state, and its KL to its reference (NaN without one)."""
    obs = context.observe(rows, on_hand, on_order)
    logits = decision_logits(learned[name], context.layout, obs)
    kl = np.full(len(rows), np.nan)
    if name in kl_pairs:
        # float32 rounding leaves about -1e-8 where the two policies agree; KL itself is >= 0
        kl = (
            categorical_kl(logits, decision_logits(learned[kl_pairs[name]], context.layout, obs)).clamp_min(0.0).numpy()
        )
    return logits.argmax(dim=1).numpy(), kl


def _grid_index(grid: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Index of each coverage on the grid, ``-1`` where it is not a grid value (or NaN)."""
    index = np.clip(np.searchsorted(grid, np.nan_to_num(days, nan=-1.0)), 0, len(grid) - 1)
    return np.where(np.isclose(grid[index], days), index, -1)


def _initial_state(context: LaneContext, rows: np.ndarray, kind: str, n_policies: int) -> tuple[np.ndarray, np.ndarray]:
    """On-hand ``[P, N]`` and pipeline ``[P, N, P_days]`` on the first date, the same for every policy."""
    master = context.data.lanes["initial_on_hand"].to_numpy(dtype=np.float64)
    if kind == "master":
        on_hand, on_order = master, np.zeros(len(rows))
    elif kind == "or_trajectory":
        on_hand = context.or_on_hand[rows]
        on_order = context.or_on_order[rows]
        missing = ~np.isfinite(on_hand)
        on_hand = np.where(missing, master, on_hand)
        on_order = np.where(missing | ~np.isfinite(on_order), 0.0, on_order)
    else:
        raise ValueError(f"initial_state must be or_trajectory or master, got {kind!r}")
    pipeline = context.initial_pipeline(rows, on_order)
    return np.repeat(on_hand[None], n_policies, axis=0), np.repeat(pipeline[None], n_policies, axis=0)


def promotion_gaps(decisions: pd.DataFrame) -> pd.DataFrame:
    """Mean |coverage - expert coverage| (days) per policy on promotion decision dates."""
    promoted = decisions[decisions["promotion"] & decisions["coverage_days"].notna()]
    gap = (promoted["coverage_days"] - promoted["expert_coverage_days"]).abs()
    table = gap.groupby(promoted["policy"], sort=False).agg(["mean", "size"]).reset_index()
    return table.rename(columns={"mean": "mean_abs_gap_to_expert_days", "size": "n_promotion_decisions"})
