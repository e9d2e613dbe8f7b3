"""The closed-loop harness: every policy on one period, side by side, decision date by decision date.

On each decision date every policy decides (:class:`~orpr_kedro.core.simulation.policies.Policy`)
from its OWN simulated state; the days to the next decision date
(:data:`~orpr_kedro.core.simulation.conventions.DECISION_INTERVAL_DAYS`) are then simulated
for all policies in one simulator call (the policies are the candidate axis), on the
same actual demand and the same lead-time draws (common random numbers: drawn from
``SeedSequence([seed, first day])``), from the same initial state. A coverage decision
orders up to the forecast of the date summed over the coverage
(:func:`~orpr_kedro.core.simulation.levels.lane_coverage_levels`); a policy can also give
its levels itself (base-stock).

:func:`run_open_loop` is the same harness for policies that do not read the state
(rules and schedules): every decision is taken first, and the whole period is
simulated in one call. For such policies both give the same KPIs.

Weeks before ``score_from`` are a burn-in: simulated (every policy reaches its own
state) but not counted in the KPIs.

``cadence="review"`` decides at each lane's review instead: each day of the week the
lanes whose review day it is decide from that morning's state, with the week's forecast
shifted to the day (the forecaster runs once a week; replenishment follows each lane's
calendar), and one day is simulated per call. A lane reviewed daily decides daily, one
reviewed weekly once a week on its own weekday.
"""

from __future__ import annotations

import contextlib
import sys
import time
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass, field

import numba
import numpy as np
import pandas as pd

from orpr_kedro.core.simulation.conventions import WEEK
from orpr_kedro.core.simulation.kernel import ACCUMULATOR_FIELDS, SimulationResult, simulate_order_up_to
from orpr_kedro.core.simulation.kpi import aggregate_kpis, lane_kpi_frame
from orpr_kedro.core.simulation.levels import draw_lead_times, lane_coverage_levels, shift_forecast
from orpr_kedro.core.simulation.period import Period
from orpr_kedro.core.simulation.policies import Decision, DecisionState, Policy, grid_index
from orpr_kedro.core.simulation.rows import DecisionRows, initial_pipeline

__all__ = [
    "CADENCES",
    "BacktestResult",
    "ClosedLoopResult",
    "run_closed_loop",
    "run_open_loop",
    "serial_simulation",
    "shift_forecast",
]


@contextlib.contextmanager
def serial_simulation() -> Iterator[None]:
    """Run the simulator kernel on one thread for the block.

    A decision interval simulates only ``n x 7`` lane-days per policy; starting the
    kernel's thread pool costs more than it saves. Torch's thread count is restored too
    where torch is loaded, as setting numba's can change it (one OpenMP runtime).
    """
    previous = numba.get_num_threads()
    if previous == 1:  # already serial: nothing to switch
        yield
        return
    torch = sys.modules.get("torch")
    torch_threads = torch.get_num_threads() if torch is not None else None
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
        if torch is not None and torch_threads is not None:
            torch.set_num_threads(torch_threads)


@dataclass
class BacktestResult:
    """Simulation of several policies on the same demand (``result``: accumulators ``[P, 1, N]`` by name)."""

    policies: list[str]
    result: SimulationResult | Mapping[str, np.ndarray]

    def lane_kpis(self, lanes: pd.DataFrame) -> pd.DataFrame:
        """KPIs per (policy, lane) with the lane's identifiers and category."""
        frame = lane_kpi_frame(self.result, lane_ids=lanes["lane_id"].to_numpy(), candidate_labels=self.policies)
        frame = frame.rename(columns={"candidate": "policy", "lane": "lane_id"})
        return frame.merge(lanes[["lane_id", "sku_id", "dc_id", "category"]], on="lane_id", how="left")

    def kpi_table(self, lanes: pd.DataFrame) -> pd.DataFrame:
        """KPIs per policy, overall (``scope = all``) and per category."""
        per_lane = self.lane_kpis(lanes)
        overall = aggregate_kpis(per_lane, by="policy").assign(scope="all")
        by_category = aggregate_kpis(per_lane, by=["policy", "category"]).rename(columns={"category": "scope"})
        table = pd.concat([overall, by_category], ignore_index=True)
        table["policy"] = pd.Categorical(table["policy"], categories=self.policies, ordered=True)
        table["scope_order"] = table["scope"].ne("all")
        table = table.sort_values(["scope_order", "scope", "policy"]).drop(columns="scope_order")
        table["policy"] = table["policy"].astype(str)
        return table[["policy", "scope", *[c for c in table.columns if c not in ("policy", "scope")]]].reset_index(
            drop=True
        )


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


_DAILY_FIELDS = ("on_hand_start", "on_hand_end", "orders", "arrivals", "lost")


def _lead_times(period: Period, first_day: int, n_days: int, seed: int, max_lead_time: int) -> np.ndarray:
    """Lead-time draws ``[N, n_days]`` shared by every policy of a run."""
    lanes = period.lane_arrays
    rng = np.random.default_rng(np.random.SeedSequence([int(seed), first_day]))
    return draw_lead_times(lanes.lead_time_mean, lanes.lead_time_std, n_days, rng, max_lead_time=max_lead_time)


CADENCES = ("weekly", "review")


def _cadence_steps(cadence: str) -> list[tuple[int, int]]:
    """(days after the decision date, days simulated) of each step of a week."""
    if cadence == "weekly":
        return [(0, WEEK)]
    if cadence == "review":
        return [(offset, 1) for offset in range(WEEK)]
    raise ValueError(f"cadence must be one of {CADENCES}, got {cadence!r}")


def _levels(decision: Decision, forecast: np.ndarray, n_days: int) -> np.ndarray:
    if decision.levels is not None:
        return np.asarray(decision.levels, dtype=np.float64)
    return lane_coverage_levels(forecast, np.asarray(decision.coverage_days, dtype=np.float64), n_days)


def run_open_loop(
    period: Period,
    policies: Mapping[str, Policy],
    dates: Sequence[pd.Timestamp],
    *,
    seed: int,
    max_lead_time: int,
) -> BacktestResult:
    """Policies that ignore the state over consecutive decision ``dates``, simulated in one call.

    All policies start from the lanes' ``initial_on_hand`` with nothing on order; the
    review calendar is anchored on the first date.

    Raises:
        ValueError: when the data lacks actual demand for the period.
    """
    dates = [pd.Timestamp(d) for d in dates]
    first = period.day(dates[0])
    n_days = len(dates) * WEEK
    demand = period.demand[:, first : first + n_days]
    if demand.shape[1] < n_days:
        raise ValueError(
            f"the period from {dates[0].date()} needs {n_days} days of actual demand, the data has {demand.shape[1]}"
        )
    lanes = period.lane_arrays
    levels = np.empty((len(policies), period.n_lanes, n_days))
    for week, date in enumerate(dates):  # loop over dates and policies, vectorised over lanes
        state = DecisionState(date, period.forecast_cube[:, period.window(date), :], WEEK)
        for index, policy in enumerate(policies.values()):
            levels[index, :, week * WEEK : (week + 1) * WEEK] = _levels(
                policy.decide(lanes, state), state.forecast, WEEK
            )
    lead_times = _lead_times(period, first, n_days, seed, max_lead_time)
    result = simulate_order_up_to(
        demand[None], levels, lead_times[None], period.lane_params_at(dates[0]), lanes.initial_on_hand
    )
    return BacktestResult(policies=list(policies), result=result)


def _initial_state(
    period: Period, rows: DecisionRows | None, first: pd.Timestamp, kind: str, pipeline_days: int
) -> tuple[np.ndarray, np.ndarray]:
    """On-hand ``[N]`` and pipeline ``[N, P]`` on the first date, the same for every policy."""
    lanes = period.lane_arrays
    master = lanes.initial_on_hand
    if kind == "master":
        on_hand, on_order = master, np.zeros(period.n_lanes)
    elif kind == "or_trajectory":
        if rows is None:
            raise ValueError("initial_state or_trajectory needs the decision rows (the OR labels' states)")
        first_rows = rows.rows_of(first)
        on_hand = rows.or_on_hand[first_rows]
        on_order = rows.or_on_order[first_rows]
        missing = ~np.isfinite(on_hand)
        on_hand = np.where(missing, master, on_hand)
        on_order = np.where(missing | ~np.isfinite(on_order), 0.0, on_order)
    else:
        raise ValueError(f"initial_state must be or_trajectory or master, got {kind!r}")
    return on_hand, initial_pipeline(lanes.lead_time_mean, on_order, pipeline_days)


def run_closed_loop(  # noqa: PLR0915 - one loop over decision dates, kept in one place
    period: Period,
    policies: Mapping[str, Policy],
    dates: Sequence[pd.Timestamp],
    *,
    seed: int,
    max_lead_time: int,
    grid: np.ndarray,
    rows: DecisionRows | None = None,
    initial_state: str = "master",
    score_from: pd.Timestamp | None = None,
    daily_lanes: np.ndarray | None = None,
    cadence: str = "weekly",
) -> ClosedLoopResult:
    """Every policy deciding from its own state on consecutive decision ``dates`` (each with a week of demand).

    Args:
        period: demand, forecasts and lanes.
        policies: policy name -> policy, in the order of the result.
        dates: the decision dates, consecutive, each followed by a week of actual demand.
        seed: run seed; lead times are drawn from ``SeedSequence([seed, first day])``.
        max_lead_time: longest lead time drawn (days).
        grid: coverage grid (days) on which coverages without a grid index are looked up.
        rows: the decision rows of the period (handed to the policies; their promotion
            flag and expert coverage are recorded with the decisions; the OR
            trajectory's state for ``initial_state="or_trajectory"``).
        initial_state: ``master`` (``initial_on_hand``, nothing on order) or
            ``or_trajectory`` (the OR policy's state on the first date).
        score_from: dates before it are a burn-in; ``None`` scores all.
        daily_lanes: lane indices whose daily trajectories are kept (scored days).
        cadence: ``weekly`` (every lane decides on each date and holds the decision for
            the week) or ``review`` (each lane decides on each of its review days, from
            its state that morning and the week's forecast shifted to the day,
            :func:`shift_forecast`; the date's decision rows; ``DecisionState.day_offset``
            the days since the date). Policies that ignore the state give the same KPIs
            either way; ``decisions`` then holds one row per lane and review day.

    Raises:
        ValueError: when no date is scored, or on an unknown cadence.
    """
    steps = _cadence_steps(cadence)
    dates = [pd.Timestamp(d) for d in dates]
    scored = [score_from is None or date >= pd.Timestamp(score_from) for date in dates]
    if not any(scored):
        raise ValueError(f"no decision date on or after score_from {pd.Timestamp(score_from).date()} in the period")
    lanes, table = period.lane_arrays, period.lanes
    grid = np.asarray(grid, dtype=np.float64)
    n_lanes, names = period.n_lanes, list(policies)
    n_policies = len(names)
    pipeline_days = max_lead_time + 1
    first_day = period.day(dates[0])
    lead_times = _lead_times(period, first_day, WEEK * len(dates), seed, max_lead_time)
    on_hand0, pipeline0 = _initial_state(period, rows, dates[0], initial_state, pipeline_days)
    on_hand = np.repeat(on_hand0[None], n_policies, axis=0)
    pipeline = np.repeat(pipeline0[None], n_policies, axis=0)
    totals = {name: np.zeros((n_policies, 1, n_lanes)) for name in ACCUMULATOR_FIELDS}
    daily: dict[str, list[np.ndarray]] = {name: [] for name in (*_DAILY_FIELDS, "demand")}
    seconds = dict.fromkeys(names, 0.0)
    counts = dict.fromkeys(names, 0)
    columns: dict[str, list[np.ndarray]] = {}
    no_rows, no_promotion = np.full(n_lanes, np.nan), np.zeros(n_lanes, dtype=bool)
    with serial_simulation():
        for week, date in enumerate(dates):
            day_rows = rows.rows_of(date) if rows is not None else None
            promotion = rows.promotion[day_rows] if rows is not None and day_rows is not None else no_promotion
            expert = rows.expert_coverage[day_rows] if rows is not None and day_rows is not None else no_rows
            week_forecast = period.forecast_cube[:, period.window(date), :]
            for offset, n_days in steps:
                step_date = date + pd.Timedelta(days=offset)
                params = period.lane_params_at(step_date)
                # weekly: every lane decides on the date; review: the lanes whose review day it is
                deciding = np.ones(n_lanes, dtype=bool) if cadence == "weekly" else params.review_offset == 0
                forecast = week_forecast if offset == 0 else shift_forecast(week_forecast, offset)
                levels = np.zeros((n_policies, n_lanes, n_days))
                for index, name in enumerate(names if deciding.any() else []):
                    state = DecisionState(
                        date, forecast, n_days, on_hand[index], pipeline[index], day_rows, day_offset=offset
                    )
                    started = time.perf_counter()
                    decision = policies[name].decide(lanes, state)
                    days = np.asarray(decision.coverage_days, dtype=np.float64)
                    levels[index] = _levels(decision, forecast, n_days)
                    seconds[name] += time.perf_counter() - started
                    counts[name] += n_lanes
                    record = {
                        "policy": np.full(n_lanes, name, dtype=object),
                        "lane_id": table["lane_id"].to_numpy(),
                        "decision_date": np.full(n_lanes, np.datetime64(step_date, "ns")),
                        "scored": np.full(n_lanes, scored[week]),
                        "coverage_days": days,
                        "coverage_index": grid_index(grid, days)
                        if decision.grid_index is None
                        else decision.grid_index,
                        "order_up_to": levels[index][:, 0],
                        "on_hand": on_hand[index],
                        "on_order": pipeline[index].sum(axis=1),
                        "promotion": promotion,
                        "expert_coverage_days": expert,
                        "kl_to_reference": no_rows if decision.kl_to_reference is None else decision.kl_to_reference,
                    }
                    for column, values in record.items():
                        columns.setdefault(column, []).append(np.asarray(values)[deciding])
                day = period.day(step_date)
                demand = period.demand[:, day : day + n_days]
                keep_daily = daily_lanes is not None and scored[week]
                first = week * WEEK + offset
                result = simulate_order_up_to(
                    demand[None],
                    levels,
                    np.ascontiguousarray(lead_times[:, first : first + n_days])[None],
                    params,
                    on_hand[:, None, :],
                    pipeline[:, None, :, :],
                    return_pipeline=True,
                    record_trajectories=keep_daily,
                )
                if scored[week]:
                    for name in ACCUMULATOR_FIELDS:
                        totals[name] += getattr(result, name)
                if keep_daily and daily_lanes is not None and result.trajectories is not None:
                    for name in _DAILY_FIELDS:
                        daily[name].append(getattr(result.trajectories, name)[:, 0][:, daily_lanes, :])
                    daily["demand"].append(np.broadcast_to(demand[daily_lanes], (n_policies, len(daily_lanes), n_days)))
                assert result.final_on_hand is not None and result.final_pipeline is not None
                on_hand = result.final_on_hand[:, 0, :].copy()
                pipeline = result.final_pipeline[:, 0, :, :pipeline_days].copy()
    decisions = pd.DataFrame({column: np.concatenate(values) for column, values in columns.items()})
    return ClosedLoopResult(
        BacktestResult(policies=names, result=totals),
        decisions,
        table,
        decision_seconds=seconds,
        n_decisions=counts,
        scored_dates=[d for d, s in zip(dates, scored, strict=True) if s],
        daily={name: np.concatenate(values, axis=2) for name, values in daily.items()}
        if daily_lanes is not None
        else None,
        daily_lanes=daily_lanes,
    )
