"""Batched lane episodes: many lanes stepped in one simulator call.

One **step** is one decision interval of one lane: at a decision date the agent picks a
coverage (an index into the coverage grid, days of forecast demand); the project
simulator (:func:`~orpr_kedro.core.simulation.kernel.simulate_order_up_to`) then replays
the 7 days to the next decision date on the ACTUAL demand, with lead times drawn from a
seeded generator, carrying on-hand and the pipeline of open orders into the next step.
An **episode** is ``episode_weeks`` consecutive decision dates of one lane, starting at
a (lane, date) sampled from the period's decision dates, from the state the OR policy
had reached there (``mi_or_labels``: ``on_hand``; ``on_order`` is put in the pipeline to
arrive after the lane's mean lead time). With ``demand="scenarios"`` the days' demand is
drawn instead of replayed: negative-binomial days around the forecast made on each
decision date, times one level factor per episode from the forecast's measured error
(the OR teacher's scenario model), so the policy cannot learn the history by heart.

With ``cadence="review"`` a step is one of the lane's review days instead, as the
closed-loop harness decides at review cadence
(:func:`~orpr_kedro.core.simulation.harness.run_closed_loop`): the step simulates the
days to the lane's next review day (one for a lane reviewed daily, seven for one reviewed
weekly), with the levels built from the week's forecast shifted to the day. An episode
then covers ``episode_weeks`` weeks of days: it starts on the lane's first review day at
or after the sampled decision date (the days before it are simulated without an order),
and its last step ends with its last day. Every reward term of a step is weighted by the
step's share of a week, so a week's rewards sum to the same scale whatever the cadence.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import cast

import numpy as np

from orpr_kedro.core.forecasting.uncertainty import sample_demand
from orpr_kedro.core.params import RewardParams
from orpr_kedro.core.rl.observation import LaneContext
from orpr_kedro.core.rl.rewards import COST_FIELDS, REWARD_TERMS, RuleTargets, reward_terms
from orpr_kedro.core.simulation.conventions import WEEK
from orpr_kedro.core.simulation.harness import CADENCES, serial_simulation
from orpr_kedro.core.simulation.kernel import simulate_order_up_to

__all__ = ["LaneEpisodes"]


class LaneEpisodes:
    """``n_envs`` lane episodes held as arrays and advanced together.

    Slot ``i`` holds one episode: its current context row, on-hand ``[n]`` and pipeline
    ``[n, P]`` (units due at the start of day ``p``), and the step count. Episodes are
    sampled (lane and start date) from the rows with at least ``episode_weeks`` steps
    left, with the generator set by :meth:`seed`. Rewards and costs of every step are
    summed into :attr:`totals` (read and cleared by :meth:`pop_stats`).
    """

    def __init__(
        self,
        context: LaneContext,
        n_envs: int,
        episode_weeks: int,
        reward: RewardParams,
        seed: int | None = None,
        demand: str = "actual",
        cadence: str = "weekly",
    ) -> None:
        if demand not in ("actual", "scenarios"):
            raise ValueError(f"demand must be actual or scenarios, got {demand!r}")
        if cadence not in CADENCES:
            raise ValueError(f"cadence must be one of {CADENCES}, got {cadence!r}")
        self.context = context
        self.demand_kind = demand
        self.cadence = cadence
        self.n_envs = int(n_envs)
        self.episode_weeks = int(episode_weeks)
        self.episode_days = WEEK * self.episode_weeks
        self.reward = reward
        self.rules = RuleTargets.build(context, reward)
        starts = np.flatnonzero(context.rows.steps_left >= self.episode_weeks)
        if len(starts) == 0:
            raise ValueError(
                f"no lane has {self.episode_weeks} consecutive decision dates with actual demand in the period; "
                f"reduce rl_alignment.episode_weeks (longest run: {int(context.rows.steps_left.max())} weeks)"
            )
        if cadence == "review":
            late = context.rows.days_to_review(starts) >= self.episode_days
            if late.all():
                raise ValueError(
                    f"no lane reviews within {self.episode_weeks} weeks of a decision date; "
                    "increase rl_alignment.episode_weeks or decide weekly (rl_alignment.cadence: weekly)"
                )
            starts = starts[~late]
        self.start_rows = starts
        self.rng = np.random.default_rng(seed)
        self.row = np.full(self.n_envs, starts[0], dtype=np.int64)
        self.on_hand = np.zeros(self.n_envs)
        self.pipeline = np.zeros((self.n_envs, context.rows.pipeline_days))
        self.step_count = np.zeros(self.n_envs, dtype=np.int64)
        self.day = np.zeros(self.n_envs, dtype=np.int64)  # days since the row's decision date
        self.elapsed = np.zeros(self.n_envs, dtype=np.int64)  # days since the episode's start
        self.level = np.ones(self.n_envs)  # scenario demand: each episode's level factor
        self.totals: dict[str, float] = {}
        self.clear_stats()

    # ---------------------------------------------------------------- bookkeeping
    def seed(self, seed: int | np.random.SeedSequence | None) -> None:
        """Restart the episode and lead-time generator."""
        self.rng = np.random.default_rng(seed)

    def clear_stats(self) -> None:
        self.totals = {
            "steps": 0.0,
            "weeks": 0.0,
            "reward": 0.0,
            **{term: 0.0 for term in REWARD_TERMS},
            **{name: 0.0 for name in COST_FIELDS},
        }
        self.totals["scaled_cost"] = 0.0

    def pop_stats(self) -> dict[str, float]:
        """Mean per lane-week of the reward, each term, each cost (currency) and the scaled cost; then clear.

        Weekly, a step is a lane-week; at review cadence the steps' days are summed into weeks.
        """
        weeks = self.totals["weeks"] if self.totals["weeks"] > 0 else 1.0
        stats = {key: value / weeks for key, value in self.totals.items() if key not in ("steps", "weeks")}
        stats["total_cost"] = sum(stats[name] for name in COST_FIELDS)
        stats["steps"] = self.totals["steps"]
        self.clear_stats()
        return stats

    @property
    def on_order(self) -> np.ndarray:
        return self.pipeline.sum(axis=1)

    def finished(self, ids) -> np.ndarray:
        """Whether the episodes in slots ``ids`` have run their ``episode_weeks`` weeks."""
        return self.elapsed[np.asarray(ids, dtype=np.int64)] >= self.episode_days

    def step_days(self, ids) -> np.ndarray:
        """Days ``[n]`` the next step of each slot simulates.

        Weekly: 7. Review: to the lane's next review day, at most to the episode's end.
        """
        ids = np.asarray(ids, dtype=np.int64)
        if self.cadence == "weekly":
            return np.full(len(ids), WEEK, dtype=np.int64)
        gap = 1 + self.context.rows.days_to_review(self.row[ids], self.day[ids] + 1)
        return np.minimum(gap, self.episode_days - self.elapsed[ids])

    def mean_episode_steps(self) -> float:
        """Mean number of steps of an episode over the start rows (``episode_weeks`` when weekly)."""
        if self.cadence == "weekly":
            return float(self.episode_weeks)
        params = self.context.rows.lane_params_for(self.start_rows)
        first = params.review_offset
        steps = np.where(first < self.episode_days, -(-(self.episode_days - first) // params.review_period), 0)
        return float(steps.mean())

    # ---------------------------------------------------------------- episodes
    def reset(self, ids) -> np.ndarray:
        """Start new episodes in slots ``ids``; returns their observations."""
        ids = np.asarray(ids, dtype=np.int64)
        context = self.context
        rows = self.start_rows[self.rng.integers(0, len(self.start_rows), size=len(ids))]
        on_hand = context.rows.or_on_hand[rows]
        on_order = context.rows.or_on_order[rows]
        missing = ~np.isfinite(on_hand)
        if missing.any():  # no OR state for the row: the master's initial stock, nothing on order
            master = context.data.lanes["initial_on_hand"].to_numpy(dtype=np.float64)
            on_hand = np.where(missing, master[context.rows.row_lane[rows]], on_hand)
            on_order = np.where(missing, 0.0, on_order)
        return self.start(ids, rows, on_hand, context.rows.initial_pipeline(rows, np.nan_to_num(on_order)))

    def start(self, ids, rows: np.ndarray, on_hand: np.ndarray, pipeline: np.ndarray) -> np.ndarray:
        """Start episodes in slots ``ids`` on decision ``rows`` in the given states; returns their observations.

        At review cadence the days to each lane's first review day are simulated first,
        without an order.
        """
        ids = np.asarray(ids, dtype=np.int64)
        context = self.context
        self.row[ids] = rows
        self.on_hand[ids] = on_hand
        self.pipeline[ids] = pipeline
        self.step_count[ids] = 0
        self.day[ids] = 0
        self.elapsed[ids] = 0
        if self.demand_kind == "scenarios":
            period = context.rows.period
            lane = context.rows.row_lane[rows]
            bias = np.ones(len(ids)) if period.forecast_bias is None else period.forecast_bias[lane]
            sd = np.zeros(len(ids)) if period.level_sd is None else period.level_sd[lane]
            self.level[ids] = bias * np.exp(self.rng.standard_normal(len(ids)) * sd - 0.5 * sd**2)
        if self.cadence == "review":
            self._run_to_first_review(ids)
        return self.observe(ids)

    def _run_to_first_review(self, ids: np.ndarray) -> None:
        """Simulate, without an order, the days from each slot's decision date to its lane's first review day."""
        gap = self.context.rows.days_to_review(self.row[ids])
        for n_days in np.unique(gap[gap > 0]).tolist():
            part = ids[gap == n_days]
            draws = self.context.rows.lead_times(self.row[part], n_days, self.rng)
            # no review day among these days: nothing is ordered, whatever the levels
            result = self._simulate_days(part, np.zeros((1, len(part), n_days)), draws)
            self._move(part, result, n_days)

    def _simulate_days(self, ids: np.ndarray, levels: np.ndarray, draws: np.ndarray):
        """The days ``levels`` ``[1, n, T]`` cover from the slots' current day and state (the pipeline returned)."""
        rows, day = self.row[ids], self.day[ids]
        with serial_simulation():
            return simulate_order_up_to(
                self.demand(ids, rows, levels.shape[-1], day)[None],
                levels,
                draws[None],
                self.context.rows.lane_params_for(rows, day),
                self.on_hand[ids],
                self.pipeline[ids],
                return_pipeline=True,
            )

    def _move(self, ids: np.ndarray, result, n_days) -> None:
        """Carry the simulated state of slots ``ids`` into their next day (and row, at a new week)."""
        assert result.final_pipeline is not None  # requested with return_pipeline=True
        rows = self.context.rows
        self.on_hand[ids] = result.final_on_hand[0, 0]
        self.pipeline[ids] = result.final_pipeline[0, 0, :, : rows.pipeline_days]
        self.elapsed[ids] += n_days
        day = self.day[ids] + n_days
        row = self.row[ids]
        while (day >= WEEK).any():  # a step that reaches the next decision date moves to its row
            new_week = day >= WEEK
            row = np.where(new_week, rows.next_row[row], row)
            day = np.where(new_week, day - WEEK, day)
        self.row[ids], self.day[ids] = row, day

    def demand(self, ids: np.ndarray, rows: np.ndarray, n_days: int, day=0) -> np.ndarray:
        """Demand ``[n, n_days]`` of the slots from ``day`` days (scalar or ``[n]``) after their rows' decision dates.

        ``actual``: the period's history. ``scenarios``: daily negative-binomial draws
        around the row's forecast times the episode's level factor (the calibrated
        scenarios of :mod:`~orpr_kedro.core.optimization.scenarios`, one path per slot).
        """
        if self.demand_kind == "actual":
            return self.context.rows.demand(rows, n_days, day)
        path = self.context.rows.forecast(rows, day)
        if path.shape[1] < n_days:
            raise ValueError(f"the forecast covers {path.shape[1]} days, the step needs {n_days}")
        mean = path[:, :n_days] * self.level[ids][:, None]
        dispersion = self.context.rows.period.dispersion[self.context.rows.row_lane[rows]]
        return sample_demand(mean, dispersion[:, None], 1, self.rng)[0]

    def observe(self, ids) -> np.ndarray:
        ids = np.asarray(ids, dtype=np.int64)
        return self.context.observe(self.row[ids], self.on_hand[ids], self.pipeline[ids].sum(axis=1))

    def step(self, ids, actions) -> tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """Apply one coverage per slot, simulate to its next decision (:meth:`step_days`).

        Returns ``(obs_next, reward, terminated, truncated, terms)``; ``terms`` holds the
        weighted reward terms and the costs (currency) of the step, each ``[len(ids)]``.
        Episodes end by truncation after ``episode_weeks`` weeks (the process goes on;
        the value of the next state is bootstrapped).
        """
        ids = np.asarray(ids, dtype=np.int64)
        reward, truncated, terms = self._simulate_step(ids, actions)
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
        rows, day = self.row[ids], self.day[ids]
        if (context.rows.row_day[rows] + day + horizon_days > context.data.demand.shape[1]).any():
            raise ValueError("the candidate horizon runs past the end of the demand data")
        levels = context.levels(rows, actions, horizon_days, day)
        lead_times = context.rows.lead_times(rows, horizon_days, self.rng)
        with serial_simulation():
            result = simulate_order_up_to(
                self.demand(ids, rows, horizon_days, day)[None],
                levels,
                lead_times[None],
                context.rows.lane_params_for(rows, day),
                self.on_hand[ids],
                self.pipeline[ids],
            )
        costs = {name: getattr(result, name)[:, 0, :] for name in COST_FIELDS}
        coverage = context.grid.action_cover_days(context.rows.forecast(rows, day), actions, levels[..., 0])
        terms = reward_terms(
            context, self.rules, rows, actions, costs, self.reward, weeks=horizon_days / WEEK, coverage=coverage
        )
        return cast(np.ndarray, sum(terms.values())), terms, lead_times

    def advance(self, ids, actions, lead_times: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Step without building observations (RLOO); ``lead_times`` ``[n, >= step days]`` reuses earlier draws.

        Returns ``(reward, truncated)``.
        """
        reward, truncated, _ = self._simulate_step(np.asarray(ids, dtype=np.int64), actions, lead_times)
        return reward, truncated

    def _simulate_step(
        self, ids: np.ndarray, actions, lead_times: np.ndarray | None = None
    ) -> tuple[np.ndarray, np.ndarray, dict[str, np.ndarray]]:
        """One simulator call per step length among the slots ``ids``: costs, rewards, new state, next row."""
        action = np.asarray(actions, dtype=np.int64).reshape(-1)
        context = self.context
        rows = self.row[ids]
        if (context.rows.steps_left[rows] < 1).any() or self.finished(ids).any():
            raise RuntimeError("a slot was stepped past the end of its episode; reset it first")
        length = self.step_days(ids)
        reward = np.zeros(len(ids))
        out: dict[str, np.ndarray] = {name: np.zeros(len(ids)) for name in (*REWARD_TERMS, *COST_FIELDS)}
        for n_days in np.unique(length).tolist():
            part = np.flatnonzero(length == n_days)
            slots, part_rows, day = ids[part], rows[part], self.day[ids[part]]
            levels = context.levels(part_rows, action[part][None, :], n_days, day)
            draws = (
                context.rows.lead_times(part_rows, n_days, self.rng)
                if lead_times is None
                else np.ascontiguousarray(lead_times[part, :n_days])
            )
            result = self._simulate_days(slots, levels, draws)
            costs = {name: getattr(result, name)[0, 0] for name in COST_FIELDS}
            forecast = context.rows.forecast(part_rows, day)
            coverage = context.grid.action_cover_days(forecast, action[part], levels[0, :, 0])
            share = n_days / WEEK  # the rates per week of the terms, times the step's share of a week
            terms = reward_terms(
                context, self.rules, part_rows, action[part], costs, self.reward, weeks=share, coverage=coverage
            )
            for name, values in terms.items():
                out[name][part] = values * share
            for name, values in costs.items():
                out[name][part] = values
            self._move(slots, result, n_days)
        for name in REWARD_TERMS:
            reward += out[name]
        self.step_count[ids] += 1
        self._accumulate(
            reward, {name: out[name] for name in REWARD_TERMS}, {n: out[n] for n in COST_FIELDS}, rows, length
        )
        return reward, self.finished(ids), out

    def _accumulate(
        self,
        reward: np.ndarray,
        terms: Mapping[str, np.ndarray],
        costs: Mapping[str, np.ndarray],
        rows: np.ndarray,
        days: np.ndarray,
    ) -> None:
        totals = self.totals
        totals["steps"] += len(reward)
        totals["weeks"] += float(days.sum()) / WEEK
        totals["reward"] += float(reward.sum())
        for name, values in terms.items():
            totals[name] += float(values.sum())
        total_cost = np.zeros(len(reward))
        for name, values in costs.items():
            totals[name] += float(values.sum())
            total_cost = total_cost + values
        totals["scaled_cost"] += float((total_cost / self.context.scale[self.context.rows.row_lane[rows]]).sum())
