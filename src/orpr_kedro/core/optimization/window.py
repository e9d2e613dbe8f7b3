"""One decision date of the OR policy: simulate every candidate, solve the models, pick a coverage.

:func:`decide_window` is the step that labeling (:mod:`~orpr_kedro.core.optimization.labeling`)
and the OR policy of the evaluation both take on every decision date:

1. simulate, from each lane's current state, every candidate of the action grid (a
   coverage in days, or the lane's base-stock level at a service level:
   :mod:`~orpr_kedro.core.simulation.actions`) over ``horizon_days`` -- against ``n_scenarios`` demand paths sampled from the
   forecast made on that date (``scenario`` mode, non-anticipative) or against the
   actual demand (``hindsight`` mode, an oracle) -- with the same lead-time draws for
   every candidate (:func:`simulate_candidates`);
2. turn the expected costs into multiple-choice models, one per category or one per
   window when DC capacities couple the categories (:func:`build_tasks`);
3. solve them on the executor (:func:`solve_task`) and read each lane's action index.

Randomness: the scenarios of window ``w`` come from the first of the two streams of
:func:`window_streams` ``(seed, w)``; the second is left to the caller (labeling
replays the actual demand with it). Money: ``lost_value`` and ``demand_value`` are
valued at the unit price; holding, lost-sale penalty and ordering costs come from the
lanes table.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import numpy as np

from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.forecasting.model import sample_demand
from orpr_kedro.core.optimization.licence import GurobiLicence
from orpr_kedro.core.optimization.problem import MultipleChoiceProblem
from orpr_kedro.core.optimization.result import SolveResult
from orpr_kedro.core.optimization.scenarios import sample_calibrated_demand
from orpr_kedro.core.optimization.solve import solve
from orpr_kedro.core.params import ORLabelingParams, SolverParams
from orpr_kedro.core.simulation.actions import ActionGrid, LaneRisk, as_action_grid
from orpr_kedro.core.simulation.conventions import DECISION_INTERVAL_DAYS
from orpr_kedro.core.simulation.kernel import draw_lead_times, extend_forecast, simulate_order_up_to

if TYPE_CHECKING:
    from orpr_kedro.core.optimization.labeling import LabelingData, LaneState


@dataclass
class CandidateCosts:
    """Expected outcome ``[N, C]`` of each candidate over the horizon (means over scenarios).

    ``cover_days`` ``[N, C]``: each candidate's coverage (days) on the decision date (the
    grid value, or a service level's equivalent coverage). ``interval_total_cost``
    ``[N, C]``: expected total cost of the first decision interval (the week the
    decision is held before the next one): what the OR model predicts it will cost,
    to hold against the cost the chosen plan then realises. ``stockout_share`` ``[N, C]``:
    expected share of the horizon's days that start without stock (the in-stock floor's rows).
    """

    holding_cost: np.ndarray
    lost_units: np.ndarray
    lost_value: np.ndarray
    lost_sales_cost: np.ndarray
    order_cost: np.ndarray
    average_volume: np.ndarray
    demand_value: np.ndarray  # [N]: expected revenue if nothing were lost
    cover_days: np.ndarray
    interval_total_cost: np.ndarray
    stockout_share: np.ndarray

    @property
    def total_cost(self) -> np.ndarray:
        """Holding + lost-sale penalty + ordering cost."""
        return self.holding_cost + self.lost_sales_cost + self.order_cost


def window_streams(
    seed: int, window_ordinal: int, day_offset: int = 0
) -> tuple[np.random.Generator, np.random.Generator]:
    """Independent random streams of one window: (candidate scenarios, actual replay).

    ``day_offset`` > 0: a decision that many days after the window's date (its own streams).
    """
    entropy = [seed, window_ordinal] if day_offset == 0 else [seed, window_ordinal, day_offset]
    scenarios, replay = np.random.SeedSequence(entropy).spawn(2)
    return np.random.default_rng(scenarios), np.random.default_rng(replay)


def scenario_demand(data: LabelingData, forecast: np.ndarray, n_scenarios: int, rng: np.random.Generator) -> np.ndarray:
    """Demand scenarios ``[S, N, H]`` around ``forecast`` ``[N, H]``: calibrated when the data carries forecast errors."""
    if data.level_sd is None or data.forecast_bias is None:
        return sample_demand(forecast, data.dispersion[:, None], n_scenarios, rng)
    return sample_calibrated_demand(forecast, data.dispersion, data.forecast_bias, data.level_sd, n_scenarios, rng)


def simulate_candidates(
    data: LabelingData,
    window: int,
    state: LaneState,
    grid: ActionGrid | np.ndarray,
    params: ORLabelingParams,
    rng: np.random.Generator,
    *,
    truncate_hindsight: bool = False,
) -> CandidateCosts:
    """Expected costs of every candidate action for every lane from ``state``.

    ``truncate_hindsight``: in hindsight mode near the end of the data, simulate only
    the days of actual demand left instead of failing (a week or more on a weekly
    decision date, fewer on a later review day of the last week): the oracle of a
    period that is scored up to the data's last day (evaluation).
    """
    grid = as_action_grid(grid)
    date = data.decision_dates[window]
    horizon = params.horizon_days
    forecast = data.forecast_cube[:, window, :]
    lanes = data.lanes
    if params.mode == "hindsight":
        start = data.day(date)
        left = data.demand.shape[1] - start
        if truncate_hindsight and 0 < left < horizon:
            horizon = left
        demand = data.demand[:, start : start + horizon][None]
        if demand.shape[2] < horizon:
            raise ValueError(f"hindsight labels for {date.date()} need {horizon} days of actual demand")
    else:
        # beyond the forecast's length the path repeats its last week (as the candidate levels do)
        demand = scenario_demand(data, extend_forecast(forecast, horizon), params.n_scenarios, rng)
    lead_times = draw_lead_times(
        lanes["lead_time_mean"].to_numpy(),
        lanes["lead_time_std"].to_numpy(),
        horizon,
        rng,
        n_scenarios=demand.shape[0],
        max_lead_time=params.max_lead_time,
    )
    levels = grid.candidate_levels(forecast, horizon, LaneRisk.of_period(data))
    result = simulate_order_up_to(demand, levels, lead_times, data.lane_params_at(date), state.on_hand, state.pipeline)
    price = lanes["unit_price"].to_numpy()
    interval = min(DECISION_INTERVAL_DAYS, horizon)
    first = simulate_order_up_to(
        np.ascontiguousarray(demand[:, :, :interval]),
        np.ascontiguousarray(levels[:, :, :interval]),
        np.ascontiguousarray(lead_times[:, :, :interval]),
        data.lane_params_at(date),
        state.on_hand,
        state.pipeline,
    )

    def expected(values: np.ndarray) -> np.ndarray:
        return values.mean(axis=1).T  # [C, S, N] -> [N, C]

    lost_units = expected(result.lost_units)
    return CandidateCosts(
        holding_cost=expected(result.holding_cost),
        lost_units=lost_units,
        lost_value=lost_units * price[:, None],
        lost_sales_cost=expected(result.lost_sales_cost),
        order_cost=expected(result.order_cost),
        average_volume=expected(result.sum_end_on_hand) / horizon * lanes["unit_volume"].to_numpy()[:, None],
        demand_value=result.demand_units[0].mean(axis=0) * price,
        cover_days=grid.candidate_cover_days(forecast, levels[:, :, 0]),
        interval_total_cost=expected(first.total_cost),
        stockout_share=1.0 - expected(result.in_stock_days) / horizon,
    )


@dataclass
class ModelTask:
    """One multiple-choice model with the lanes it decides (picklable, for executors).

    The licence travels with the task because Dask workers start their own Gurobi
    environments; its ``repr`` shows no secret.
    """

    problem: MultipleChoiceProblem
    lane_index: np.ndarray
    solver: SolverParams
    seed: int
    licence: GurobiLicence = field(default_factory=GurobiLicence)


def solve_task(task: ModelTask) -> SolveResult:
    """Solve one model (module level so process and Dask workers can run it)."""
    return solve(
        task.problem,
        solver=task.solver.name,
        time_limit=task.solver.time_limit_s,
        mip_gap=task.solver.mip_gap,
        threads=task.solver.threads,
        seed=task.seed,
        size_limit=task.solver.size_limit,
        licence=task.licence,
    )


def allowed_candidates(categories: np.ndarray, cover_days: np.ndarray, params: ORLabelingParams) -> np.ndarray:
    """Mask ``[N, C]`` of candidates whose coverage (days, ``cover_days`` ``[N, C]``) is inside the lane's band.

    Coverage-day grids: a band that leaves a category without any candidate is an error.
    Service-level candidates: a lane whose every candidate lies outside its band (its
    base-stock levels are all above the band, or all below) keeps the one closest to it.
    """
    cover = np.asarray(cover_days, dtype=np.float64)
    allowed = np.ones(cover.shape, dtype=bool)
    distance = np.zeros(cover.shape)
    for category in np.unique(categories):
        band = params.bands.get(str(category), params.bands.get("default"))
        if band is not None:
            rows = categories == category
            allowed[rows] = (cover[rows] >= band.min - 1e-9) & (cover[rows] <= band.max + 1e-9)
            distance[rows] = np.maximum(band.min - cover[rows], cover[rows] - band.max)
    empty = ~allowed.any(axis=1)
    if empty.any():
        if params.action_space.kind == "coverage_days":
            raise ValueError("or_labeling.bands leaves some category without any coverage candidate on the grid")
        allowed[np.flatnonzero(empty), distance[empty].argmin(axis=1)] = True
    return allowed


def build_tasks(
    data: LabelingData,
    window: int,
    costs: CandidateCosts,
    params: ORLabelingParams,
    seed: int,
    licence: GurobiLicence | None = None,
) -> list[ModelTask]:
    """Multiple-choice models of one window: per category, or one coupled model with DC capacities."""
    lanes = data.lanes
    categories = lanes["category"].to_numpy()
    alpha = lanes["alpha"].to_numpy()
    objective = costs.holding_cost if params.objective == "holding_with_budget" else costs.total_cost
    use_budget = params.objective == "holding_with_budget" or params.budget
    allowed = allowed_candidates(categories, costs.cover_days, params)
    licence = licence or GurobiLicence()
    date = data.decision_dates[window].date().isoformat()
    category_names = sorted(set(categories))
    budgets = {}
    for category in category_names:
        rows = categories == category
        budgets[category] = float((1.0 - alpha[rows][0]) * costs.demand_value[rows].sum()) if use_budget else np.inf

    if params.dc_capacity:
        dcs = sorted(set(lanes["dc_id"]))
        group = np.searchsorted(category_names, categories)
        dc_index = np.searchsorted(dcs, lanes["dc_id"].to_numpy())
        problem = MultipleChoiceProblem(
            cost=objective,
            loss=costs.lost_value,
            group=group,
            budgets=np.array([budgets[c] for c in category_names]),
            allowed=allowed,
            volume=costs.average_volume,
            capacity_group=dc_index,
            capacities=np.array([params.dc_capacity.get(dc, np.inf) for dc in dcs]),
            model_id=f"{date}/all",
            group_labels=tuple(category_names),
            capacity_labels=tuple(dcs),
        )
        return [ModelTask(problem, np.arange(len(lanes)), params.solver, seed, licence)]

    tasks = []
    for category in category_names:
        rows = np.flatnonzero(categories == category)
        floor = params.floor_of(category)
        # the in-stock floor: the category's lanes' expected shares of stock-out days over
        # the horizon sum to at most (1 - floor) x lanes (one capacity-style row)
        floored = floor is not None
        problem = MultipleChoiceProblem(
            cost=objective[rows],
            loss=costs.lost_value[rows],
            group=np.zeros(len(rows), dtype="int64"),
            budgets=np.array([budgets[category]]),
            allowed=allowed[rows],
            volume=costs.stockout_share[rows] if floored else None,
            capacity_group=np.zeros(len(rows), dtype="int64") if floored else None,
            capacities=np.array([(1.0 - (floor or 0.0)) * len(rows)]) if floored else None,
            model_id=f"{date}/{category}",
            group_labels=(category,),
            capacity_labels=(f"in-stock floor {floor:g} of {category}",) if floored else None,
        )
        tasks.append(ModelTask(problem, rows, params.solver, seed, licence))
    return tasks


@dataclass
class WindowDecision:
    """What one decision date's models chose, with everything labeling records.

    ``choice[n]``: action index of lane ``n``; ``model_of_lane[n]``: index in ``tasks`` and
    ``results`` of the model that decided lane ``n``.
    """

    costs: CandidateCosts
    tasks: list[ModelTask]
    results: list[SolveResult]
    choice: np.ndarray
    model_of_lane: np.ndarray


def decide_window(
    data: LabelingData,
    window: int,
    state: LaneState,
    grid: ActionGrid | np.ndarray,
    params: ORLabelingParams,
    seed: int,
    executor: TaskExecutor,
    licence: GurobiLicence | None = None,
    *,
    truncate_hindsight: bool = False,
    description: str | None = None,
    day_offset: int = 0,
) -> WindowDecision:
    """The OR step of decision date ``data.decision_dates[window]`` from ``state``.

    Candidates are simulated with the scenario stream of :func:`window_streams`
    ``(seed, window, day_offset)``; every model is solved on ``executor`` (progress bar
    ``description``, default ``models <date>``). ``truncate_hindsight`` as in
    :func:`simulate_candidates`. ``day_offset`` > 0: the step is taken that many days
    after the date, from the date's forecast shifted to the day
    (:meth:`~orpr_kedro.core.simulation.period.Period.shifted_origin`).
    """
    grid = as_action_grid(grid)
    scenario_rng, _ = window_streams(seed, window, day_offset)
    if day_offset:
        data, window = data.shifted_origin(window, day_offset), 0
    costs = simulate_candidates(data, window, state, grid, params, scenario_rng, truncate_hindsight=truncate_hindsight)
    tasks = build_tasks(data, window, costs, params, seed, licence)
    date = data.decision_dates[window].date()
    results = executor.map(solve_task, tasks, description=description or f"models {date}")
    n_lanes = len(data.lanes)
    choice = np.zeros(n_lanes, dtype=np.int64)
    model_of_lane = np.zeros(n_lanes, dtype=np.int64)
    for index, (task, result) in enumerate(zip(tasks, results, strict=True)):
        choice[task.lane_index] = result.choice
        model_of_lane[task.lane_index] = index
    return WindowDecision(costs=costs, tasks=tasks, results=results, choice=choice, model_of_lane=model_of_lane)
