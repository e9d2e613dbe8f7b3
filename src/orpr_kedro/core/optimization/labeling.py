"""Simulation-augmented OR labels: the best action (coverage or service level) per lane and decision date.

For every decision window (a weekly decision date) the labeler takes the OR step of
:func:`~orpr_kedro.core.optimization.window.decide_window`, which

1. simulates, from each lane's current state, every candidate of the action grid (a
   coverage ``v`` in days, or the lane's base-stock level at a service level) over ``horizon_days`` — against ``n_scenarios`` demand paths sampled from
   the forecast made on that date (``scenario`` mode, non-anticipative) or against
   the actual demand (``hindsight`` mode, an oracle) — with the same lead-time
   draws for every candidate;
2. turns the expected costs into multiple-choice models, one per category (or one
   per window when DC capacities couple the categories): minimise expected
   holding cost subject to the category's lost-sales budget
   ``sum loss_iv <= (1 - alpha_c) * SALES_c`` (``holding_with_budget``), or minimise
   expected total cost with the budget optional (``total_cost``);
3. solves them (Gurobi where the model fits its licence, HiGHS otherwise) on the
   configured executor;

and then

4. applies the chosen action to the actual demand until the next decision date,
   so the next window starts from the state the OR policy really reaches.

At ``cadence="review"`` the step is taken on every day of the week, as the OR policy
of the evaluation takes it (:class:`~orpr_kedro.core.evaluation.or_policy.ORPolicy`):
from the state that morning and the week's forecast shifted to the day; the lanes
whose review day it is take its decision, and the day is replayed on actual demand.
The week's decision date still gives one label per lane (``labels``); the other
review days give the extra rows of ``review_labels`` (lanes reviewing that day only),
the states the network also meets at that cadence.

Money: ``loss_iv`` and ``SALES_c`` are valued at the unit price (lost revenue
against expected revenue); holding, lost-sale penalty and ordering costs come from
the lanes table.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization.licence import GurobiLicence
from orpr_kedro.core.optimization.scenarios import ForecastErrors, fit_forecast_errors
from orpr_kedro.core.optimization.window import CandidateCosts, decide_window, window_streams
from orpr_kedro.core.params import ORLabelingParams
from orpr_kedro.core.progress import progress_bar
from orpr_kedro.core.simulation.actions import ActionGrid, LaneRisk
from orpr_kedro.core.simulation.kernel import draw_lead_times, simulate_order_up_to
from orpr_kedro.core.simulation.period import Period as LabelingData
from orpr_kedro.core.simulation.period import build_period as labeling_data  # noqa: F401 - re-export

logger = logging.getLogger(__name__)


@dataclass
class LaneState:
    """Inventory of every lane at the start of a day: on hand ``[N]`` and due ``[N, P]``."""

    on_hand: np.ndarray
    pipeline: np.ndarray

    @property
    def on_order(self) -> np.ndarray:
        """Units ordered and not yet received."""
        return self.pipeline.sum(axis=1)


def replay_actual(
    data: LabelingData,
    window: int,
    choice: np.ndarray,
    state: LaneState,
    n_days: int,
    params: ORLabelingParams,
    rng: np.random.Generator,
    *,
    day_offset: int = 0,
) -> LaneState:
    """Apply one action per lane (index ``choice`` on ``params.action_grid()``) to the actual demand of ``n_days`` days.

    ``day_offset`` > 0: from that many days after the window's date, with its forecast
    shifted to the day (the review calendar anchored on the day).
    """
    if day_offset:
        data, window = data.shifted_origin(window, day_offset), 0
    date = data.decision_dates[window]
    start = data.day(date)
    demand = data.demand[:, start : start + n_days]
    n_days = demand.shape[1]
    if n_days == 0:
        return state
    lanes = data.lanes
    lead_times = draw_lead_times(
        lanes["lead_time_mean"].to_numpy(),
        lanes["lead_time_std"].to_numpy(),
        n_days,
        rng,
        max_lead_time=params.max_lead_time,
    )
    levels = params.action_grid().levels(
        data.forecast_cube[:, window, :], choice[None, :], n_days, LaneRisk.of_period(data)
    )
    result = simulate_order_up_to(
        demand[None],
        levels,
        lead_times[None],
        data.lane_params_at(date),
        state.on_hand,
        state.pipeline,
        return_pipeline=True,
    )
    assert result.final_pipeline is not None  # return_pipeline=True always returns it
    return LaneState(on_hand=result.final_on_hand[0, 0].copy(), pipeline=result.final_pipeline[0, 0].copy())


CADENCES = ("weekly", "review")

REVIEW_LABEL_COLUMNS = (
    "lane_id",
    "sku_id",
    "dc_id",
    "category",
    "decision_date",
    "day_offset",
    "review_date",
    "coverage_days",
    "coverage_index",
    "action_value",
    "on_hand",
    "on_order",
)


@dataclass
class LabelingOutput:
    """Labels, one solver record per model, (optionally) every candidate's costs, the other review days' labels.

    ``review_labels``: at ``cadence="review"``, one row per lane and review day after
    the week's decision date (``day_offset`` 1-6, ``review_date``), keyed by the week's
    ``decision_date``; empty at ``weekly``.
    """

    labels: pd.DataFrame
    solver_log: pd.DataFrame
    candidates: pd.DataFrame
    review_labels: pd.DataFrame = field(default_factory=lambda: pd.DataFrame(columns=list(REVIEW_LABEL_COLUMNS)))


def label_windows(
    data: LabelingData,
    windows: list[int],
    params: ORLabelingParams,
    seed: int,
    executor: TaskExecutor,
    initial_state: LaneState,
    licence: GurobiLicence | None = None,
    *,
    cadence: str = "weekly",
) -> LabelingOutput:
    """Label every window in ``windows`` (indices into ``data.decision_dates``), in date order.

    ``licence`` (default: the pip licence) goes to every Gurobi environment; the solver
    log records its kind only (``gurobi_licence``: ``pip``, ``wls``, ...). ``cadence``:
    ``weekly`` (one step per window, held for the week) or ``review`` (a step on every
    day of the week, taken by the lanes reviewing that day; see the module docstring).
    Candidates are saved for the windows' dates only.
    """
    if cadence not in CADENCES:
        raise ValueError(f"cadence must be one of {CADENCES}, got {cadence!r}")
    grid = params.action_grid()
    licence = licence or GurobiLicence()
    lanes = data.lanes
    state = initial_state
    label_frames, log_rows, candidate_frames, review_frames = [], [], [], []
    for position, window in enumerate(progress_bar(windows, desc="OR labels (windows)", leave=False)):
        date = data.decision_dates[window]
        next_date = (
            data.decision_dates[window + 1] if window + 1 < len(data.decision_dates) else date + pd.Timedelta(days=7)
        )
        week_days = int((next_date - date).days)
        steps = [(0, week_days)] if cadence == "weekly" else [(offset, 1) for offset in range(week_days)]
        n_models = 0
        for offset, n_days in steps:
            day = date + pd.Timedelta(days=offset)
            decision = decide_window(
                data,
                window,
                state,
                grid,
                params,
                seed,
                executor,
                licence,
                description=f"models {day.date()}",
                day_offset=offset,
            )
            costs, results, choice = decision.costs, decision.results, decision.choice
            records = pd.DataFrame(
                [{"decision_date": day, **result.to_record(), "gurobi_licence": licence.kind} for result in results]
            )
            log_rows.append(records)
            n_models += len(results)
            if offset == 0:
                label_frames.append(
                    _label_frame(data, window, state, costs, choice, grid, records.iloc[decision.model_of_lane])
                )
                if params.save_candidates:
                    candidate_frames.append(_candidate_frame(lanes, date, grid, costs))
            else:
                reviewing = np.flatnonzero(data.lane_params_at(day).review_offset == 0)
                review_frames.append(_review_frame(data, window, offset, state, costs, choice, grid, reviewing))
            _, replay_rng = window_streams(seed, window, offset)
            state = replay_actual(data, window, choice, state, n_days, params, replay_rng, day_offset=offset)
        logger.debug(
            "Labelled %s (%d/%d): %d models, mean coverage %.1f days",
            date.date(),
            position + 1,
            len(windows),
            n_models,
            label_frames[-1]["coverage_days"].mean(),
        )
    solver_log = pd.concat(log_rows, ignore_index=True)
    candidates = (
        pd.concat(candidate_frames, ignore_index=True)
        if candidate_frames
        else _candidate_frame(lanes.iloc[:0], pd.Timestamp(0), grid, None)
    )
    output = LabelingOutput(pd.concat(label_frames, ignore_index=True), solver_log, candidates)
    if review_frames:
        output.review_labels = pd.concat(review_frames, ignore_index=True)
    return output


def _review_frame(
    data: LabelingData,
    window: int,
    offset: int,
    state: LaneState,
    costs: CandidateCosts,
    choice: np.ndarray,
    grid: ActionGrid,
    reviewing: np.ndarray,
) -> pd.DataFrame:
    """Review-day label rows of the lanes ``reviewing`` on day ``offset`` of window ``window``."""
    lanes = data.lanes.iloc[reviewing]
    date = data.decision_dates[window]
    picked = choice[reviewing]
    return pd.DataFrame(
        {
            "lane_id": lanes["lane_id"].to_numpy(),
            "sku_id": lanes["sku_id"].to_numpy(),
            "dc_id": lanes["dc_id"].to_numpy(),
            "category": lanes["category"].to_numpy(),
            "decision_date": date,
            "day_offset": np.full(len(reviewing), offset, dtype="int64"),
            "review_date": date + pd.Timedelta(days=offset),
            "coverage_days": costs.cover_days[reviewing, picked],
            "coverage_index": picked,
            "action_value": grid.values[picked],
            "on_hand": state.on_hand[reviewing],
            "on_order": state.on_order[reviewing],
        }
    )


def _label_frame(
    data: LabelingData,
    window: int,
    state: LaneState,
    costs: CandidateCosts,
    choice: np.ndarray,
    grid: ActionGrid,
    model_records: pd.DataFrame,
) -> pd.DataFrame:
    """Label rows of one window; ``model_records`` holds each lane's solver record.

    ``coverage_days`` is the chosen action's coverage on the decision date (the grid
    value, or a service level's equivalent coverage); ``action_value`` the grid value
    itself (days or service level).
    """
    lanes = data.lanes
    lane = np.arange(len(lanes))
    daily_forecast = data.forecast_cube[:, window, :7].mean(axis=1)
    position = state.on_hand + state.on_order
    frame = pd.DataFrame(
        {
            "lane_id": lanes["lane_id"].to_numpy(),
            "sku_id": lanes["sku_id"].to_numpy(),
            "dc_id": lanes["dc_id"].to_numpy(),
            "category": lanes["category"].to_numpy(),
            "decision_date": data.decision_dates[window],
            "coverage_days": costs.cover_days[lane, choice],
            "coverage_index": choice,
            "action_value": grid.values[choice],
            "expected_holding_cost": costs.holding_cost[lane, choice],
            "expected_lost_units": costs.lost_units[lane, choice],
            "expected_lost_value": costs.lost_value[lane, choice],
            "expected_lost_sales_cost": costs.lost_sales_cost[lane, choice],
            "expected_order_cost": costs.order_cost[lane, choice],
            "expected_demand_value": costs.demand_value,
            "on_hand": state.on_hand,
            "on_order": state.on_order,
            "inventory_position": position,
            "forecast_daily_mean": daily_forecast,
            "cover_days": np.divide(
                position, daily_forecast, out=np.full(len(lanes), np.nan), where=daily_forecast > 0
            ),
        }
    )
    solver_columns = ["model_id", "solver", "status", "objective", "mip_gap", "solve_time_s", "fallback_reason"]
    picked = model_records[solver_columns].reset_index(drop=True)
    return pd.concat([frame, picked], axis=1)


def _candidate_frame(
    lanes: pd.DataFrame, date: pd.Timestamp, grid: ActionGrid, costs: CandidateCosts | None
) -> pd.DataFrame:
    n_lanes = len(lanes)
    n_candidates = grid.n_actions if costs is not None else 0
    frame = pd.DataFrame(
        {
            "lane_id": np.repeat(lanes["lane_id"].to_numpy(), n_candidates).astype("int32"),
            "decision_date": pd.Series(np.full(n_lanes * n_candidates, np.datetime64(date, "ns"))),
            "coverage_days": (costs.cover_days.ravel() if costs is not None else np.zeros(0)).astype("float32"),
            "action_value": np.tile(grid.values, n_lanes if costs is not None else 0).astype("float32"),
        }
    )
    for name in ("holding_cost", "lost_units", "lost_value", "lost_sales_cost", "order_cost"):
        values = getattr(costs, name).ravel() if costs is not None else np.zeros(0)
        frame[f"expected_{name}"] = values.astype("float32")
    return frame


def windows_to_label(decision_dates: pd.DatetimeIndex, splits: TimeSplits, params: ORLabelingParams) -> list[int]:
    """Indices of the decision dates to label: those in ``params.periods`` with enough actual data after them.

    Scenario mode needs a week of actual demand (to move the state to the next
    date); hindsight mode needs the whole horizon.
    """
    in_period = np.isin(splits.period_of(decision_dates), params.periods)
    days_needed = params.horizon_days if params.mode == "hindsight" else 7
    room = decision_dates + pd.Timedelta(days=days_needed - 1) <= splits.data_end
    chosen = np.flatnonzero(in_period & room)
    if len(chosen) == 0:
        raise ValueError(f"no decision dates to label in periods {params.periods}")
    logger.debug(
        "%d decision dates to label (%s to %s)",
        len(chosen),
        decision_dates[chosen[0]].date(),
        decision_dates[chosen[-1]].date(),
    )
    return chosen.tolist()


def initial_state(lanes: pd.DataFrame) -> LaneState:
    """State from the SKU-DC master: ``initial_on_hand`` and nothing on order."""
    return LaneState(on_hand=lanes["initial_on_hand"].to_numpy(dtype="float64"), pipeline=np.zeros((len(lanes), 0)))


def forecast_errors(
    data: LabelingData,
    splits: TimeSplits,
    horizon_days: int,
    *,
    group: str = "category",
    min_rows: int = 30,
    window: str = "horizon",
) -> ForecastErrors:
    """Forecast error on validation origins, from demand before the test period only.

    Those origins are out of sample for the forecaster (fitted on earlier targets) and
    never read test demand; the horizon is capped at the forecast's length.
    ``window``: ``horizon`` sums the whole horizon from each origin whose horizon ends
    before the test period; ``protection`` sums each lane's mean lead time plus review
    period (rounded up) from every validation origin whose window ends before it.
    """
    if window not in ("horizon", "protection"):
        raise ValueError(f"window must be 'horizon' or 'protection', got {window!r}")
    horizon = min(int(horizon_days), data.forecast_cube.shape[2])
    test_day = data.day(splits.test_start)
    lane_window = None
    if window == "protection":
        protection = LaneRisk.of_period(data).protection_days
        lane_window = np.clip(np.ceil(protection).astype(np.int64), 1, horizon)
    shortest = horizon if lane_window is None else int(lane_window.min())
    windows = np.array(
        [
            w
            for w, date in enumerate(data.decision_dates)
            if date >= splits.validation_start and data.day(date) + shortest <= test_day
        ],
        dtype=np.int64,
    )
    if len(windows) == 0:
        raise ValueError(
            f"no validation decision date leaves {shortest} days of demand before the test period "
            f"({splits.validation_start.date()} to {splits.test_start.date()}): lengthen the validation period "
            "or shorten or_labeling.horizon_days"
        )
    days = np.array([data.day(data.decision_dates[w]) for w in windows], dtype=np.int64)
    return fit_forecast_errors(
        data.forecast_cube,
        data.demand[:, :test_day],
        days,
        windows,
        data.dispersion,
        data.lanes[group].to_numpy(),
        horizon_days=horizon,
        window_days=lane_window,
        group=group,
        min_rows=min_rows,
    )
