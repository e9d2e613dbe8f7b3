"""The simulator as a reinforcement-learning environment: many lanes stepped in one call.

One **step** is one review period of one lane: at a weekly decision date the agent
picks a coverage (an index into the coverage grid, days of forecast demand); the
project simulator (:func:`~orpr_kedro.core.simulation.kernel.simulate_order_up_to`) then
replays the 7 days to the next decision date on the ACTUAL demand, with lead times
drawn from a seeded generator, carrying on-hand and the pipeline of open orders into
the next step. An **episode** is ``episode_weeks`` consecutive decision dates of one
lane, starting at a (lane, date) sampled from the period's decision dates, from the
state the OR policy had reached there (``mi_or_labels``: ``on_hand``; ``on_order``
is put in the pipeline to arrive after the lane's mean lead time).

:class:`LaneEpisodes` holds ``n_envs`` such episodes as arrays and advances any subset
of them with one simulator call; :class:`LaneVectorEnv` exposes it to Tianshou as a
vector environment (sub-environment ``i`` = episode slot ``i``) without one Python
environment per lane; :class:`LaneEnv` is the single-lane ``gymnasium.Env`` (it
passes ``gymnasium.utils.env_checker.check_env``).

**Observation** = the foundation model's input for (lane, decision date, state),
flattened into one float32 vector (:class:`ObservationLayout`): the scaled
history+forecast sequence and its real-day flags, the standardised attribute/state
features, the standardised business targets, the category code, and a last entry, the
row key of the (lane, date) in the :class:`LaneContext` (the network does not read
it; a frozen encoder's output is cached under it). Everything that does not depend on
the inventory state is computed once per (lane, date) when the context is built; a step
recomputes only the state features (on hand, on order and position in units and days
of cover). The context checks at build time that this shortcut reproduces
:func:`orpr_kedro.core.learning.network.model_tensors` exactly.

**Reward** (per lane and step, see :func:`reward_terms`) = ``w_sim`` x simulation
reward + ``w_rule`` x rule reward. Simulation reward = -(holding + lost-sale +
ordering cost of the 7 days) / scale, with scale = the lane's mean weekly demand x
unit cost on the training period (currency per week, floored at ``min_scale``), so a
reward of -0.1 means "costs of 10% of the value of a week's demand" on every lane. Rule
terms: ``band`` -(days outside the category's band) / (grid range), ``turnover``
-|v - target turnover days| / target, ``or_agreement`` -|index - OR label index| /
(grid size - 1) where an OR label exists, ``promotion`` (on decision dates with
``min_promo_days`` promoted days ahead, replacing the turnover term) -|v - expert
coverage| / expert coverage. Each term is logged weighted, so the terms sum to the
reward.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Any

import gymnasium as gym
import numba
import numpy as np
import pandas as pd
import torch
from tianshou.env import BaseVectorEnv

from orpr_kedro.core.learning.inputs import (
    MAX_COVER_DAYS,
    MIN_DAILY_FORECAST,
    DecisionInputs,
    Normalisation,
    model_tensors,
)
from orpr_kedro.core.optimization.labeling import LabelingData
from orpr_kedro.core.params import Band, RewardParams
from orpr_kedro.core.simulation.kernel import (
    LaneParams,
    coverage_levels,
    draw_lead_times,
    simulate_order_up_to,
)

__all__ = [
    "REWARD_TERMS",
    "LaneContext",
    "LaneEnv",
    "LaneEpisodes",
    "LaneVectorEnv",
    "ObservationLayout",
    "RuleTargets",
    "build_lane_context",
    "reward_terms",
]

WEEK = 7
REWARD_TERMS = ("sim", "band", "turnover", "or_agreement", "promotion")
COST_FIELDS = ("holding_cost", "lost_sales_cost", "order_cost")


@contextlib.contextmanager
def serial_simulation() -> Iterator[None]:
    """Run the simulator kernel on one thread for the block.

    A step simulates only ``n x 7`` lane-days; starting the kernel's thread pool costs
    more than it saves (and much more when another process holds the other core).
    Torch's thread count is restored too, as setting numba's can change it.
    """
    previous = numba.get_num_threads()
    if previous == 1:  # already serial (inside rl training): nothing to switch
        yield
        return
    torch_threads = torch.get_num_threads()
    numba.set_num_threads(1)
    try:
        yield
    finally:
        numba.set_num_threads(previous)
        # numba and torch may share one OpenMP runtime: give torch its own setting back
        torch.set_num_threads(torch_threads)


# --------------------------------------------------------------------------- observation layout
@dataclass(frozen=True)
class ObservationLayout:
    """Where each network input sits in the flat float32 observation.

    ``[sequence (L x 2, day-major: value, real flag) | state (S) | targets (B) | category | row key]``.
    """

    sequence_days: int
    n_state: int
    n_targets: int

    @property
    def sequence(self) -> slice:
        return slice(0, 2 * self.sequence_days)

    @property
    def state(self) -> slice:
        start = 2 * self.sequence_days
        return slice(start, start + self.n_state)

    @property
    def targets(self) -> slice:
        start = 2 * self.sequence_days + self.n_state
        return slice(start, start + self.n_targets)

    @property
    def category(self) -> int:
        return 2 * self.sequence_days + self.n_state + self.n_targets

    @property
    def key(self) -> int:
        return self.category + 1

    @property
    def size(self) -> int:
        return self.key + 1

    @property
    def network_size(self) -> int:
        """Entries that are network input (all but the row key)."""
        return self.key

    def flatten(
        self, sequence: np.ndarray, state: np.ndarray, targets: np.ndarray, category: np.ndarray, key: np.ndarray
    ) -> np.ndarray:
        """Flat observations ``[N, size]`` (float32) from the network inputs and the row keys."""
        n = len(state)
        out = np.empty((n, self.size), dtype=np.float32)
        out[:, self.sequence] = np.asarray(sequence, dtype=np.float32).reshape(n, -1)
        out[:, self.state] = state
        out[:, self.targets] = targets
        out[:, self.category] = category
        out[:, self.key] = key
        return out

    def split(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(sequence [B, L, 2], state [B, S], category [B] long, targets [B, T], row key [B] long)``."""
        batch = obs.shape[0]
        return (
            obs[:, self.sequence].reshape(batch, self.sequence_days, 2),
            obs[:, self.state],
            obs[:, self.category].round().long(),
            obs[:, self.targets],
            obs[:, self.key].round().long(),
        )


# --------------------------------------------------------------------------- context
def _state_dependent_columns(on_hand: np.ndarray, on_order: np.ndarray, daily: np.ndarray) -> dict[str, np.ndarray]:
    """The encoder-2 features that depend on the inventory state (same definitions as ``models``)."""
    on_hand, on_order = np.maximum(on_hand, 0.0), np.maximum(on_order, 0.0)

    def cover(units: np.ndarray) -> np.ndarray:
        return np.clip(units / daily, 0.0, MAX_COVER_DAYS)

    return {
        "on_hand_cover_days": cover(on_hand),
        "on_order_cover_days": cover(on_order),
        "position_cover_days": cover(on_hand + on_order),
        "on_hand_units": on_hand,
        "on_order_units": on_order,
    }


@dataclass
class LaneContext:
    """Everything about the (lane, decision date) rows of a period that does not depend on the state.

    Rows are sorted by lane then date; ``row_*`` arrays are ``[R]``. ``next_row`` is the
    same lane's next decision date (``-1`` at the end); ``steps_left`` the number of
    steps an episode can take from the row (each needs ``horizon_days`` of actual
    demand inside the period and a next row). Lane arrays (``scale``, ``lead_time_*``)
    are ``[N]`` and indexed by ``lane_id``.
    """

    data: LabelingData
    grid: np.ndarray
    layout: ObservationLayout
    normalisation: Normalisation
    row_lane: np.ndarray
    row_window: np.ndarray
    row_day: np.ndarray
    row_date: np.ndarray
    static_obs: np.ndarray
    raw_state: np.ndarray
    daily_forecast: np.ndarray
    state_index: dict[str, int]
    next_row: np.ndarray
    steps_left: np.ndarray
    or_index: np.ndarray
    or_on_hand: np.ndarray
    or_on_order: np.ndarray
    row_category: np.ndarray
    promo_days: np.ndarray
    promotion: np.ndarray
    expert_coverage: np.ndarray
    target_turnover: np.ndarray
    default_bands: dict[str, Band]
    scale: np.ndarray
    max_lead_time: int
    horizon_days: int
    lane_params: dict[str, np.ndarray] = field(default_factory=dict)

    @property
    def n_rows(self) -> int:
        return len(self.row_lane)

    @property
    def n_actions(self) -> int:
        return len(self.grid)

    @property
    def pipeline_days(self) -> int:
        """Width of the stored pipeline: every open order is due within ``max_lead_time`` days."""
        return self.max_lead_time + 1

    def rows_of(self, date: pd.Timestamp) -> np.ndarray:
        """Row of every lane (in lane order) on one decision date; raises if a lane is missing."""
        rows = np.flatnonzero(self.row_date == np.datetime64(pd.Timestamp(date), "ns"))
        if len(rows) != len(self.data.lanes):
            raise ValueError(
                f"{pd.Timestamp(date).date()}: {len(rows)} of {len(self.data.lanes)} lanes have a feature row"
            )
        return rows[np.argsort(self.row_lane[rows], kind="stable")]

    def observe(self, rows: np.ndarray, on_hand: np.ndarray, on_order: np.ndarray) -> np.ndarray:
        """Flat observations ``[n, size]`` of ``rows`` in the given states (units)."""
        obs = self.static_obs[rows]
        raw = self.raw_state[rows]
        for name, values in _state_dependent_columns(on_hand, on_order, self.daily_forecast[rows]).items():
            if name in self.state_index:
                raw[:, self.state_index[name]] = values
        obs[:, self.layout.state] = self.normalisation.state(raw)
        return obs

    def lane_params_for(self, rows: np.ndarray) -> LaneParams:
        """Simulator parameters of the rows' lanes with day 0 = each row's decision date."""
        lane = self.row_lane[rows]
        period = self.lane_params["review_period"][lane]
        anchor = self.row_day[rows] - self.data.first_review_day
        return LaneParams(
            review_period=period,
            review_offset=np.where(anchor > 0, (-anchor) % period, -anchor),
            case_pack=self.lane_params["case_pack"][lane],
            moq=self.lane_params["moq"][lane],
            holding_cost=self.lane_params["holding_cost"][lane],
            lost_sale_cost=self.lane_params["lost_sale_cost"][lane],
            order_cost=self.lane_params["order_cost"][lane],
        )

    def demand(self, rows: np.ndarray, n_days: int) -> np.ndarray:
        """Actual demand ``[n, n_days]`` (units/day) from each row's decision date."""
        days = self.row_day[rows][:, None] + np.arange(n_days)[None, :]
        return self.data.demand[self.row_lane[rows][:, None], days]

    def forecast(self, rows: np.ndarray) -> np.ndarray:
        """Forecast path ``[n, F]`` (units/day) made on each row's decision date."""
        return self.data.forecast_cube[self.row_lane[rows], self.row_window[rows], :]

    def lead_times(
        self, rows: np.ndarray, n_days: int, rng: np.random.Generator, n_scenarios: int | None = None
    ) -> np.ndarray:
        lane = self.row_lane[rows]
        return draw_lead_times(
            self.lane_params["lead_time_mean"][lane],
            self.lane_params["lead_time_std"][lane],
            n_days,
            rng,
            n_scenarios=n_scenarios,
            max_lead_time=self.max_lead_time,
        )

    def initial_pipeline(self, rows: np.ndarray, on_order: np.ndarray) -> np.ndarray:
        """Pipeline ``[n, P]`` holding ``on_order`` due after the lane's mean lead time (days)."""
        pipeline = np.zeros((len(rows), self.pipeline_days))
        due = np.clip(
            np.rint(self.lane_params["lead_time_mean"][self.row_lane[rows]]), 1, self.pipeline_days - 1
        ).astype(np.int64)
        pipeline[np.arange(len(rows)), due] = np.maximum(on_order, 0.0)
        return pipeline


def _bands(categories: np.ndarray, bands: Mapping[str, Band], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low = np.full(len(categories), float(grid.min()))
    high = np.full(len(categories), float(grid.max()))
    for category in np.unique(categories):
        band = bands.get(str(category), bands.get("default"))
        if band is not None:
            rows = categories == category
            low[rows], high[rows] = band.min, band.max
    return low, high


def build_lane_context(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    data: LabelingData,
    normalisation: Normalisation,
    grid: np.ndarray,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    scale_start: pd.Timestamp,
    scale_end: pd.Timestamp,
    reward: RewardParams,
    bands: Mapping[str, Band],
    max_lead_time: int,
    horizon_days: int = WEEK,
) -> LaneContext:
    """Precompute the state-independent part of every (lane, decision date) in ``[start, end]``.

    Args:
        features: ``mi_decision_features``.
        labels: ``mi_or_labels`` (OR label and the OR trajectory's state per lane and date).
        data: demand, forecasts and lanes (:func:`orpr_kedro.core.optimization.labeling.labeling_data`).
        normalisation: the pretrained model's scaling.
        grid: coverage grid (days) of the decision head.
        start, end: decision dates from ``start`` to ``end`` inclusive are rows; a row
            can be stepped from when its ``horizon_days`` of demand end by ``end``
            (so ``end`` itself is only ever a next observation).
        scale_start, scale_end: period whose mean weekly demand value scales the
            simulation reward (the training period).
        reward: reward parameters (scale floor; the promotion threshold of ``promotion``,
            the flag reports use).
        bands: per-category coverage bands of the band term when ``reward.bands`` is empty.
        max_lead_time: longest lead time drawn (days).
        horizon_days: days of actual demand a step needs.

    Raises:
        ValueError: when no decision date of the features falls in the period.
        RuntimeError: when the fast observation path no longer matches ``model_tensors``
            (``orpr_kedro.core.learning.network`` changed its state features).
    """
    lanes = data.lanes
    dates = pd.DatetimeIndex(features["decision_date"])
    chosen = features[(dates >= pd.Timestamp(start)) & (dates <= pd.Timestamp(end))]
    if chosen.empty:
        raise ValueError(
            f"mi_decision_features has no decision date between {pd.Timestamp(start).date()} and {pd.Timestamp(end).date()}"
        )
    chosen = chosen.sort_values(["lane_id", "decision_date"]).reset_index(drop=True)
    row_date = chosen["decision_date"].to_numpy(dtype="datetime64[ns]")
    row_lane = chosen["lane_id"].to_numpy(dtype=np.int64)
    row_window = data.decision_dates.get_indexer(pd.DatetimeIndex(row_date)).astype(np.int64)
    if (row_window < 0).any():
        raise ValueError(
            "mi_decision_features has decision dates that time_splits does not list; rerun data_processing"
        )
    row_day = ((row_date - data.dates[0].to_datetime64()) // np.timedelta64(1, "D")).astype(np.int64)

    inputs = DecisionInputs.from_frame(chosen, on_hand=np.zeros(len(chosen)), on_order=np.zeros(len(chosen)))
    tensors = model_tensors(inputs, normalisation)
    layout = ObservationLayout(tensors.sequence.shape[1], tensors.state.shape[1], tensors.targets.shape[1])
    keys = np.arange(len(chosen), dtype=np.float32)
    static_obs = layout.flatten(
        tensors.sequence.numpy(), tensors.state.numpy(), tensors.targets.numpy(), tensors.category.numpy(), keys
    )
    raw_state = inputs.raw_state_features()
    daily = np.maximum(inputs.forecast[:, :WEEK].mean(axis=1), MIN_DAILY_FORECAST)

    # next row of the same lane, and how many steps an episode can take from each row
    same_lane = np.r_[row_lane[1:] == row_lane[:-1], False]
    consecutive = np.r_[row_window[1:] == row_window[:-1] + 1, False]
    next_row = np.where(same_lane & consecutive, np.arange(len(chosen)) + 1, -1)
    end_day = int((pd.Timestamp(end) - data.dates[0]).days)
    steppable = (row_day + horizon_days <= end_day) & (row_day + horizon_days <= data.demand.shape[1]) & (next_row >= 0)
    steps_left = np.zeros(len(chosen), dtype=np.int64)
    for row in range(len(chosen) - 1, -1, -1):  # one pass backwards over the rows
        if steppable[row]:
            steps_left[row] = 1 + steps_left[next_row[row]]

    keyed = labels.set_index(["lane_id", "decision_date"])
    index = pd.MultiIndex.from_arrays([row_lane, pd.DatetimeIndex(row_date)])
    matched = keyed.reindex(index)
    or_index = matched["coverage_index"].fillna(-1).to_numpy(dtype=np.int64)
    if (or_index >= len(grid)).any():
        raise ValueError(
            "mi_or_labels coverage_index points outside the coverage grid; rerun or_labeling with the current grid"
        )

    lane_frame = lanes.set_index("lane_id")
    lane_params = {
        name: lane_frame[name].reindex(np.arange(len(lanes))).to_numpy()
        for name in (
            "review_period",
            "case_pack",
            "moq",
            "holding_cost",
            "lost_sale_cost",
            "order_cost",
            "lead_time_mean",
            "lead_time_std",
        )
    }
    first, last = data.day(scale_start), data.day(scale_end)
    weekly_demand = data.demand[:, first:last].mean(axis=1) * WEEK if last > first else np.zeros(len(lanes))
    scale = np.maximum(
        weekly_demand * lane_frame["unit_cost"].reindex(np.arange(len(lanes))).to_numpy(), reward.min_scale
    )

    state_index = {name: i for i, name in enumerate(normalisation.state_names)}
    context = LaneContext(
        data=data,
        grid=np.asarray(grid, dtype=np.float64),
        layout=layout,
        normalisation=normalisation,
        row_lane=row_lane,
        row_window=row_window,
        row_day=row_day,
        row_date=row_date,
        static_obs=static_obs,
        raw_state=raw_state,
        daily_forecast=daily,
        state_index=state_index,
        next_row=next_row,
        steps_left=steps_left,
        or_index=or_index,
        or_on_hand=matched["on_hand"].to_numpy(dtype=np.float64),
        or_on_order=matched["on_order"].to_numpy(dtype=np.float64),
        row_category=chosen["category"].astype(str).to_numpy(),
        promo_days=chosen["promo_days_ahead"].to_numpy(dtype=np.float64),
        promotion=(chosen["promo_days_ahead"].to_numpy() >= reward.min_promo_days)
        & (chosen["expert_coverage_days_ahead"].to_numpy() > 0),
        expert_coverage=chosen["expert_coverage_days_ahead"].to_numpy(dtype=np.float64),
        target_turnover=chosen["target_turnover_days"].to_numpy(dtype=np.float64),
        default_bands=dict(bands),
        scale=scale,
        max_lead_time=int(max_lead_time),
        horizon_days=int(horizon_days),
        lane_params=lane_params,
    )
    _check_fast_observations(context, inputs)
    return context


def _check_fast_observations(context: LaneContext, inputs: DecisionInputs, n_check: int = 64) -> None:
    """The per-step shortcut must equal the model's own scaling (guards against drift in ``models``)."""
    rng = np.random.default_rng(0)
    rows = rng.choice(context.n_rows, size=min(n_check, context.n_rows), replace=False)
    on_hand = rng.gamma(1.0, 20.0, size=len(rows))
    on_order = np.where(rng.random(len(rows)) < 0.5, 0.0, rng.gamma(1.0, 10.0, size=len(rows)))
    probe = inputs.subset(rows)
    probe.on_hand, probe.on_order = on_hand, on_order
    expected = model_tensors(probe, context.normalisation)
    fast = torch.from_numpy(context.observe(rows, on_hand, on_order))
    sequence, state, category, targets, _ = context.layout.split(fast)
    mismatch = {
        "sequence": (sequence - expected.sequence).abs().max().item(),
        "state": (state - expected.state).abs().max().item(),
        "targets": (targets - expected.targets).abs().max().item(),
        "category": (category - expected.category).abs().max().item(),
    }
    if max(mismatch.values()) > 1e-4:
        raise RuntimeError(
            f"the RL observation shortcut no longer matches orpr_kedro.core.learning.network.model_tensors (max abs differences {mismatch}); "
            "update _state_dependent_columns in orpr_kedro.core.rl.env"
        )


# --------------------------------------------------------------------------- rewards
@dataclass(frozen=True)
class RuleTargets:
    """What the rule reward compares each row's coverage with: band ``[low, high]`` and promotion flag ``[R]``."""

    band_low: np.ndarray
    band_high: np.ndarray
    promotion: np.ndarray

    @classmethod
    def build(cls, context: LaneContext, params: RewardParams) -> RuleTargets:
        """Bands from ``params.bands`` (or the context's default bands), promotions from ``min_promo_days``."""
        low, high = _bands(context.row_category, params.bands or context.default_bands, context.grid)
        promotion = (context.promo_days >= params.min_promo_days) & (context.expert_coverage > 0)
        return cls(low, high, promotion)


def reward_terms(
    context: LaneContext,
    rules: RuleTargets,
    rows: np.ndarray,
    action: np.ndarray,
    costs: Mapping[str, np.ndarray],
    params: RewardParams,
    weeks: float = 1.0,
) -> dict[str, np.ndarray]:
    """Weighted reward terms (they sum to the reward) for actions taken on ``rows``.

    ``action`` (grid indices) and the cost arrays (currency over ``weeks`` weeks) have
    any common shape ending in ``len(rows)`` (e.g. ``[k, n]`` for k sampled actions).
    """
    coverage = context.grid[action]
    total_cost = costs["holding_cost"] + costs["lost_sales_cost"] + costs["order_cost"]
    sim = -total_cost / (context.scale[context.row_lane[rows]] * weeks)

    low, high = rules.band_low[rows], rules.band_high[rows]
    grid_range = max(float(context.grid.max() - context.grid.min()), 1.0)
    band = -np.maximum(np.maximum(low - coverage, coverage - high), 0.0) / grid_range

    promotion_row = rules.promotion[rows]
    target = np.maximum(context.target_turnover[rows], 1e-9)
    turnover = np.where(promotion_row, 0.0, -np.abs(coverage - target) / target)
    expert = np.maximum(context.expert_coverage[rows], 1e-9)
    promotion = np.where(promotion_row, -np.abs(coverage - expert) / expert, 0.0)

    label = context.or_index[rows]
    steps = max(context.n_actions - 1, 1)
    agreement = np.where(label >= 0, -np.abs(action - label) / steps, 0.0)

    rule = params.w_rule
    return {
        "sim": params.w_sim * sim,
        "band": rule * params.band * band,
        "turnover": rule * params.turnover * turnover,
        "or_agreement": rule * params.or_agreement * agreement,
        "promotion": rule * params.promotion * promotion,
    }


# --------------------------------------------------------------------------- batched episodes
class LaneEpisodes:
    """``n_envs`` lane episodes held as arrays and advanced together.

    Slot ``i`` holds one episode: its current context row, on-hand ``[n]`` and pipeline
    ``[n, P]`` (units due at the start of day ``p``), and the step count. Episodes are
    sampled (lane and start date) from the rows with at least ``episode_weeks`` steps
    left, with the generator set by :meth:`seed`. Rewards and costs of every step are
    summed into :attr:`totals` (read and cleared by :meth:`pop_stats`).
    """

    def __init__(
        self, context: LaneContext, n_envs: int, episode_weeks: int, reward: RewardParams, seed: int | None = None
    ) -> None:
        self.context = context
        self.n_envs = int(n_envs)
        self.episode_weeks = int(episode_weeks)
        self.reward = reward
        self.rules = RuleTargets.build(context, reward)
        starts = np.flatnonzero(context.steps_left >= self.episode_weeks)
        if len(starts) == 0:
            raise ValueError(
                f"no lane has {self.episode_weeks} consecutive decision dates with actual demand in the period; "
                f"reduce rl_alignment.episode_weeks (longest run: {int(context.steps_left.max())} weeks)"
            )
        self.start_rows = starts
        self.rng = np.random.default_rng(seed)
        self.row = np.full(self.n_envs, starts[0], dtype=np.int64)
        self.on_hand = np.zeros(self.n_envs)
        self.pipeline = np.zeros((self.n_envs, context.pipeline_days))
        self.step_count = np.zeros(self.n_envs, dtype=np.int64)
        self.totals: dict[str, float] = {}
        self.clear_stats()

    # ---------------------------------------------------------------- bookkeeping
    def seed(self, seed: int | np.random.SeedSequence | None) -> None:
        """Restart the episode and lead-time generator."""
        self.rng = np.random.default_rng(seed)

    def clear_stats(self) -> None:
        self.totals = {
            "steps": 0.0,
            "reward": 0.0,
            **{term: 0.0 for term in REWARD_TERMS},
            **{name: 0.0 for name in COST_FIELDS},
        }
        self.totals["scaled_cost"] = 0.0

    def pop_stats(self) -> dict[str, float]:
        """Mean per step of the reward, each term, each cost (currency) and the scaled cost; then clear."""
        steps = max(self.totals["steps"], 1.0)
        stats = {key: value / steps for key, value in self.totals.items() if key != "steps"}
        stats["total_cost"] = sum(stats[name] for name in COST_FIELDS)
        stats["steps"] = self.totals["steps"]
        self.clear_stats()
        return stats

    @property
    def on_order(self) -> np.ndarray:
        return self.pipeline.sum(axis=1)

    # ---------------------------------------------------------------- episodes
    def reset(self, ids) -> np.ndarray:
        """Start new episodes in slots ``ids``; returns their observations."""
        ids = np.asarray(ids, dtype=np.int64)
        context = self.context
        rows = self.start_rows[self.rng.integers(0, len(self.start_rows), size=len(ids))]
        on_hand = context.or_on_hand[rows]
        on_order = context.or_on_order[rows]
        missing = ~np.isfinite(on_hand)
        if missing.any():  # no OR state for the row: the master's initial stock, nothing on order
            master = context.data.lanes["initial_on_hand"].to_numpy(dtype=np.float64)
            on_hand = np.where(missing, master[context.row_lane[rows]], on_hand)
            on_order = np.where(missing, 0.0, on_order)
        self.row[ids] = rows
        self.on_hand[ids] = on_hand
        self.pipeline[ids] = context.initial_pipeline(rows, np.nan_to_num(on_order))
        self.step_count[ids] = 0
        return self.observe(ids)

    def observe(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        return self.context.observe(self.row[ids], self.on_hand[ids], self.pipeline[ids].sum(axis=1))

    def step(self, ids, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Apply one coverage per slot, simulate the 7 days to the next decision date.

        Returns ``(obs_next, reward, terminated, truncated, terms)``; ``terms`` holds the
        weighted reward terms and the costs (currency) of the step, each ``[len(ids)]``.
        Episodes end by truncation after ``episode_weeks`` steps (the process goes on;
        the value of the next state is bootstrapped).
        """
        ids = np.asarray(ids, dtype=np.int64)
        reward, truncated, terms = self._simulate_week(ids, actions)
        return self.observe(ids), reward, np.zeros(len(ids), dtype=bool), truncated, terms

    def candidate_rewards(
        self, ids, actions: np.ndarray, horizon_days: int
    ) -> tuple[np.ndarray, dict[str, np.ndarray], np.ndarray]:
        """Rewards ``[k, n]`` of k coverages per slot, each simulated from the slot's current state.

        One simulator call with the candidate axis ``C = k``: every candidate sees the
        same demand and lead-time draws (common random numbers). Each coverage is held
        for ``horizon_days`` (its carry-over effect on the following weeks is costed),
        and costs are divided by the number of weeks. Also returns the lead-time draws
        ``[n, horizon_days]`` so the trajectory can continue on the same draws. The
        state is not changed.
        """
        ids = np.asarray(ids, dtype=np.int64)
        actions = np.asarray(actions, dtype=np.int64)
        context = self.context
        rows = self.row[ids]
        if (context.row_day[rows] + horizon_days > context.data.demand.shape[1]).any():
            raise ValueError("the candidate horizon runs past the end of the demand data")
        levels = coverage_levels(context.forecast(rows), context.grid[actions], horizon_days)
        lead_times = context.lead_times(rows, horizon_days, self.rng)
        with serial_simulation():
            result = simulate_order_up_to(
                context.demand(rows, horizon_days)[None],
                levels,
                lead_times[None],
                context.lane_params_for(rows),
                self.on_hand[ids],
                self.pipeline[ids],
            )
        costs = {name: getattr(result, name)[:, 0, :] for name in COST_FIELDS}
        terms = reward_terms(context, self.rules, rows, actions, costs, self.reward, weeks=horizon_days / WEEK)
        return sum(terms.values()), terms, lead_times

    def advance(self, ids, actions, lead_times: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Step without building observations (RLOO); ``lead_times`` ``[n, >= 7]`` reuses earlier draws.

        Returns ``(reward, truncated)``.
        """
        reward, truncated, _ = self._simulate_week(np.asarray(ids, dtype=np.int64), actions, lead_times)
        return reward, truncated

    def _simulate_week(
        self, ids: np.ndarray, actions, lead_times: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One simulator call for the slots ``ids``: costs, rewards, new state, next row."""
        action = np.asarray(actions, dtype=np.int64).reshape(-1)
        context = self.context
        rows = self.row[ids]
        if (context.steps_left[rows] < 1).any():
            raise RuntimeError("a slot was stepped past the end of its episode; reset it first")
        levels = coverage_levels(context.forecast(rows), context.grid[action][None, :], WEEK)
        draws = (
            context.lead_times(rows, WEEK, self.rng)
            if lead_times is None
            else np.ascontiguousarray(lead_times[:, :WEEK])
        )
        with serial_simulation():
            result = simulate_order_up_to(
                context.demand(rows, WEEK)[None],
                levels,
                draws[None],
                context.lane_params_for(rows),
                self.on_hand[ids],
                self.pipeline[ids],
                return_pipeline=True,
            )
        costs = {name: getattr(result, name)[0, 0] for name in COST_FIELDS}
        terms = reward_terms(context, self.rules, rows, action, costs, self.reward)
        reward = sum(terms.values())
        self.on_hand[ids] = result.final_on_hand[0, 0]
        self.pipeline[ids] = result.final_pipeline[0, 0, :, : context.pipeline_days]
        self.row[ids] = context.next_row[rows]
        self.step_count[ids] += 1
        self._accumulate(reward, terms, costs, rows)
        return reward, self.step_count[ids] >= self.episode_weeks, {**terms, **costs}

    def _accumulate(
        self, reward: np.ndarray, terms: Mapping[str, np.ndarray], costs: Mapping[str, np.ndarray], rows: np.ndarray
    ) -> None:
        totals = self.totals
        totals["steps"] += len(reward)
        totals["reward"] += float(reward.sum())
        for name, values in terms.items():
            totals[name] += float(values.sum())
        total_cost = np.zeros(len(reward))
        for name, values in costs.items():
            totals[name] += float(values.sum())
            total_cost = total_cost + values
        totals["scaled_cost"] += float((total_cost / self.context.scale[self.context.row_lane[rows]]).sum())


# --------------------------------------------------------------------------- Tianshou / gymnasium wrappers
def observation_space(layout: ObservationLayout) -> gym.spaces.Box:
    """Flat float32 observations; bounded by the float32 range (the features are standardised, unbounded)."""
    largest = float(np.finfo(np.float32).max)
    return gym.spaces.Box(low=-largest, high=largest, shape=(layout.size,), dtype=np.float32)


class LaneVectorEnv(BaseVectorEnv):
    """Tianshou vector environment over :class:`LaneEpisodes`: sub-environment ``i`` = slot ``i``.

    A step of any subset of sub-environments is one simulator call on those lanes; no
    per-lane Python environment or worker exists. The reward terms and costs of every
    step are summed in ``episodes.totals`` (per epoch in the training curves); with
    ``info_terms=True`` each step's ``info`` also carries them per sub-environment
    (Tianshou then stacks those dicts, which costs about a third of the throughput).
    """

    def __init__(self, episodes: LaneEpisodes, info_terms: bool = False) -> None:  # noqa: D107 - no workers: BaseVectorEnv.__init__ is not called
        self.episodes = episodes
        self.info_terms = info_terms
        self.env_num = episodes.n_envs
        self.workers = []
        self.wait_num = self.env_num
        self.timeout = None
        self.is_async = False
        self.waiting_conn = []
        self.waiting_id = []
        self.ready_id = list(range(self.env_num))
        self.is_closed = False
        self._spaces = {
            "action_space": gym.spaces.Discrete(episodes.context.n_actions),
            "observation_space": observation_space(episodes.context.layout),
            "metadata": {"render_modes": []},
            "reward_range": (-np.inf, np.inf),
            "spec": None,
        }

    def get_env_attr(self, key: str, id=None) -> list[Any]:  # noqa: A002 - Tianshou's signature
        ids = self._wrap_id(id)
        value = self._spaces[key] if key in self._spaces else getattr(self.episodes, key)
        return [value for _ in ids]

    def set_env_attr(self, key: str, value: Any, id=None) -> None:  # noqa: A002
        raise AttributeError(f"LaneVectorEnv shares one LaneEpisodes object; set {key!r} on env.episodes instead")

    def reset(self, env_id=None, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        self._assert_is_not_closed()
        ids = np.asarray(self._wrap_id(env_id), dtype=np.int64)
        obs = self.episodes.reset(ids)
        infos = np.empty(len(ids), dtype=object)
        infos[:] = [{} for _ in range(len(ids))]
        return obs, infos

    def step(self, action, id=None):  # noqa: A002
        self._assert_is_not_closed()
        if action is None:
            raise ValueError("action must be given (LaneVectorEnv is synchronous)")
        ids = np.asarray(self._wrap_id(id), dtype=np.int64)
        action = np.asarray(action.cpu() if isinstance(action, torch.Tensor) else action)
        if len(action) != len(ids):
            raise ValueError(f"{len(action)} actions for {len(ids)} sub-environments")
        obs, reward, terminated, truncated, terms = self.episodes.step(ids, action)
        infos = np.empty(len(ids), dtype=object)
        if self.info_terms:
            names = list(terms)
            for j in range(len(ids)):
                infos[j] = {name: float(terms[name][j]) for name in names}
        else:
            infos[:] = [{} for _ in range(len(ids))]
        return obs, reward, terminated, truncated, infos

    def seed(self, seed: int | list[int] | None = None) -> list[list[int] | None]:
        first = seed[0] if isinstance(seed, list | tuple) else seed
        self.episodes.seed(first)
        return [[first] if first is not None else None for _ in range(self.env_num)]

    def render(self, **kwargs: Any) -> list[Any]:
        return []

    def close(self) -> None:
        self.is_closed = True


class LaneEnv(gym.Env):
    """One lane episode as a ``gymnasium.Env`` (observation: the flat network input; action: grid index).

    Built on :class:`LaneEpisodes` with one slot, so it has exactly the dynamics and
    rewards of the vector environment; ``info`` holds the step's weighted reward terms
    and costs (unless ``info_terms=False``).
    """

    metadata = {"render_modes": []}

    def __init__(self, context: LaneContext, episode_weeks: int, reward: RewardParams, info_terms: bool = True) -> None:
        super().__init__()
        self.episodes = LaneEpisodes(context, 1, episode_weeks, reward)
        self.info_terms = info_terms
        self.observation_space = observation_space(context.layout)
        self.action_space = gym.spaces.Discrete(context.n_actions)
        self._slot = np.zeros(1, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.episodes.rng = self.np_random
        return self.episodes.reset(self._slot)[0], {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, terms = self.episodes.step(self._slot, np.asarray([action]))
        info = {name: float(value[0]) for name, value in terms.items()} if self.info_terms else {}
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info
