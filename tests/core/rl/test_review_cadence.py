"""RL episodes at each lane's review cadence: the steps, the rewards and the closed loop they replay."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from gymnasium.utils.env_checker import check_env
from tianshou.algorithm import PPO
from tianshou.data import Batch, ReplayBuffer

from orpr_kedro.core.rl import alignment
from orpr_kedro.core.rl.env import REWARD_TERMS, LaneEnv, LaneEpisodes
from orpr_kedro.core.rl.ppo import StepDiscount, _gae_per_step
from orpr_kedro.core.simulation.harness import run_closed_loop
from tests.core.rl.test_alignment import OR_PARAMS, rl_params, rl_tables

COSTS = ("holding_cost", "lost_sales_cost", "order_cost")


@pytest.fixture(scope="module")
def tables(tiny_processed, fast_params) -> dict:
    return rl_tables(tiny_processed, fast_params)


@pytest.fixture(scope="module")
def steady(tables, tmp_path_factory):
    """The training context with fixed lead times (std 0), so an episode and the harness draw the same ones."""
    features, labels, lanes, sales, forecasts, splits = tables["tables"]
    params = rl_params(tmp_path_factory.mktemp("review"), cadence="review", demand="actual")
    context = alignment.alignment_context(
        features,
        labels,
        lanes.assign(lead_time_std=0.0),
        sales,
        forecasts,
        splits,
        tables["policy"],
        params,
        OR_PARAMS,
        "train",
    )
    return context, params


class FixedIndex:
    """Every lane decides grid index ``index`` from the forecast the harness hands it (shifted to the day)."""

    def __init__(self, context, index: int) -> None:
        self.context, self.index = context, index

    def decide(self, lanes, state):
        index = np.full(len(state.rows), self.index)
        return self.context.decision(state.rows, index, state.n_days, state.forecast)


def test_the_tiny_lanes_mix_review_periods(steady):
    context, _ = steady
    periods = set(context.data.lane_arrays.review_period.tolist())
    assert len(periods) > 1 and 1 in periods and 7 in periods


def test_steps_follow_each_lanes_review_calendar(steady):
    """A step runs to the lane's next review day; the days of an episode's steps add up to its weeks."""
    context, params = steady
    weeks = 2
    episodes = LaneEpisodes(context, 48, weeks, params.reward, seed=3, cadence="review")
    slots = np.arange(48)
    episodes.reset(slots)
    lanes = context.rows.row_lane[episodes.row]
    period = context.data.lane_arrays.review_period[lanes]
    assert (context.rows.days_to_review(episodes.row, episodes.day) == 0).all()  # every start is a review day
    first = episodes.elapsed.copy()
    steps = np.zeros(48, dtype=np.int64)
    while len(active := slots[~episodes.finished(slots)]):
        days = episodes.step_days(active)
        left = weeks * 7 - episodes.elapsed[active]
        np.testing.assert_array_equal(days, np.minimum(period[active], left))
        episodes.step(active, np.zeros(len(active), dtype=np.int64))
        steps[active] += 1
    assert (episodes.elapsed == weeks * 7).all()
    np.testing.assert_array_equal(steps, -(-(weeks * 7 - first) // period))
    # a lane reviewed daily takes a step a day, one reviewed weekly one a week
    assert set(steps[period == 1].tolist()) <= {weeks * 7 - f for f in range(7)}
    assert (steps[period == 7] == weeks).all()


def test_a_review_episode_replays_the_review_closed_loop(steady):
    """All lanes for two weeks from one date, one fixed index: the episode is the harness's review loop.

    The states at every review day are the harness's, lane by lane (lanes that review only
    later in the week included), and so are the costs of the lanes that review on the date
    (the harness also costs the days before a lane's first review, the episode does not).
    """
    context, params = steady
    rows_data = context.rows
    dates = pd.DatetimeIndex(np.unique(rows_data.row_date[rows_data.steps_left >= 2]))
    date = next(d for d in dates if 0 < (rows_data.days_to_review(rows_data.rows_of(d)) > 0).sum() < 16)
    rows = rows_data.rows_of(date)
    n = len(rows)
    index = context.n_actions // 2
    episodes = LaneEpisodes(context, n, 2, params.reward, seed=0, cadence="review")
    on_hand = np.where(np.isfinite(rows_data.or_on_hand[rows]), rows_data.or_on_hand[rows], 0.0)
    on_order = np.nan_to_num(rows_data.or_on_order[rows])
    slots = np.arange(n)
    episodes.start(slots, rows, on_hand, rows_data.initial_pipeline(rows, on_order))
    costs = {name: np.zeros(n) for name in COSTS}
    states = []
    while len(active := slots[~episodes.finished(slots)]):
        row, day = episodes.row[active], episodes.day[active]
        states.append(
            pd.DataFrame(
                {
                    "lane_id": rows_data.row_lane[row],
                    "decision_date": rows_data.row_date[row] + day.astype("timedelta64[D]"),
                    "on_hand": episodes.on_hand[active],
                    "on_order": episodes.on_order[active],
                }
            )
        )
        _, _, _, _, terms = episodes.step(active, np.full(len(active), index))
        for name in COSTS:
            costs[name][active] += terms[name]

    closed = run_closed_loop(
        context.data,
        {"fixed": FixedIndex(context, index)},
        [date, date + pd.Timedelta(days=7)],
        seed=0,
        max_lead_time=OR_PARAMS.max_lead_time,
        grid=context.grid.coverage_grid,
        rows=rows_data,
        initial_state="or_trajectory",
        cadence="review",
    )
    ours = pd.concat(states).sort_values(["lane_id", "decision_date"]).reset_index(drop=True)
    theirs = closed.decisions.sort_values(["lane_id", "decision_date"]).reset_index(drop=True)
    assert len(ours) > 2 * n  # lanes reviewed more than weekly took more than two steps
    pd.testing.assert_frame_equal(ours, theirs[ours.columns], check_dtype=False, rtol=1e-9)
    reviewed = rows_data.days_to_review(rows) == 0
    for name in COSTS:
        expected = closed.backtest.result[name][0, 0]
        np.testing.assert_allclose(costs[name][reviewed], expected[reviewed], rtol=1e-9, atol=1e-9)


def test_review_rewards_weigh_each_step_by_its_share_of_a_week(steady):
    """A step's terms are the weekly rates times days / 7: a week of a daily lane sums to one weekly reward's scale."""
    context, params = steady
    episodes = LaneEpisodes(context, 64, 1, params.reward, seed=5, cadence="review")
    slots = np.arange(64)
    episodes.reset(slots)
    rows = episodes.row.copy()
    days = episodes.step_days(slots)
    _, reward, _, _, terms = episodes.step(slots, np.full(64, context.n_actions - 1))
    np.testing.assert_allclose(sum(terms[name] for name in REWARD_TERMS), reward)
    cost = sum(terms[name] for name in COSTS)
    np.testing.assert_allclose(terms["sim"], -cost / context.scale[context.rows.row_lane[rows]])
    label = context.or_index[rows]
    labelled = label >= 0
    agreement = -np.abs(context.n_actions - 1 - label) / (context.n_actions - 1)
    weight = params.reward.w_rule * params.reward.or_agreement
    np.testing.assert_allclose(
        terms["or_agreement"][labelled], (weight * agreement * days / 7)[labelled], rtol=1e-12, atol=1e-15
    )
    stats = episodes.pop_stats()
    assert np.isclose(stats["reward"], reward.sum() / (days.sum() / 7))  # per lane-week, not per step


def test_a_single_review_lane_passes_the_gymnasium_checker(steady):
    context, params = steady
    env = LaneEnv(context, episode_weeks=2, reward=params.reward, cadence="review")
    check_env(env, skip_render_check=True)
    env.reset(seed=4)
    done, steps = False, 0
    while not done:
        _, _, _, done, _ = env.step(env.action_space.sample())
        steps += 1
    assert 2 <= steps <= 14


def test_the_step_discount_is_per_week_and_gae_matches_tianshous_at_one_discount(steady):
    context, _ = steady
    discount = StepDiscount(context)
    rows = np.arange(context.n_rows)
    obs = context.observe(rows, np.zeros(len(rows)), np.zeros(len(rows)))
    period = context.data.lane_arrays.review_period[context.rows.row_lane]
    np.testing.assert_allclose(discount(obs, 0.9), 0.9 ** (period / 7))

    rng = np.random.default_rng(0)
    size = 12
    buffer = ReplayBuffer(size)
    for i in range(size):
        done = i in (4, 11)
        buffer.add(
            Batch(
                obs=np.zeros(1),
                act=0,
                rew=rng.normal(),
                terminated=False,
                truncated=done,
                obs_next=np.zeros(1),
                info={},
            )
        )
    batch, indices = buffer.sample(0)
    v_s, v_s_ = rng.normal(size=size), rng.normal(size=size)
    returns, advantage = PPO.compute_episodic_return(batch, buffer, indices, v_s_, v_s, gamma=0.8, gae_lambda=0.9)
    end = np.logical_or(batch.terminated, batch.truncated)
    ours = _gae_per_step(v_s, v_s_ * PPO.value_mask(buffer, indices), batch.rew, end, np.full(size, 0.8), 0.9)
    np.testing.assert_allclose(ours, advantage, rtol=1e-12)
    np.testing.assert_allclose(ours + v_s, returns, rtol=1e-12)


@pytest.mark.parametrize("algorithm", ["ppo", "rloo"])
def test_training_at_review_cadence_is_reproducible(tables, tmp_path, algorithm):
    context = alignment.alignment_context(
        *tables["tables"],
        tables["policy"],
        rl_params(tmp_path, cadence="review", algorithm=algorithm),
        OR_PARAMS,
        "train",
    )
    runs = []
    for attempt in range(2):
        params = rl_params(tmp_path / str(attempt), cadence="review", algorithm=algorithm, epochs=1)
        run = alignment.train_alignment(tables["policy"], context, params, seed=3)
        runs.append(run)
    first, second = (dict(run.model.state_dict()) for run in runs)
    assert all(torch.equal(first[name], second[name]) for name in first)
    curves = runs[0].curves
    assert curves["env_steps"].iloc[-1] > 32 * 4  # more steps than one per lane-week
    assert np.isfinite(curves["fixed_scaled_cost"]).all()


def test_rloo_at_review_cadence_never_reads_demand_past_the_training_period(tables, tmp_path):
    """Its candidates run their horizon from any day of the week: every row's whole horizon ends by validation."""
    params = rl_params(tmp_path, cadence="review", algorithm="rloo")
    context = alignment.alignment_context(*tables["tables"], tables["policy"], params, OR_PARAMS, "train")
    splits = tables["tables"][-1]
    last_day = (pd.Timestamp(splits.validation_start) - context.data.dates[0]).days
    steppable = context.rows.steps_left >= 1
    horizon = 7 * params.rloo.horizon_weeks
    assert (context.rows.row_day[steppable] + 6 + horizon <= last_day).all()


def test_a_run_never_resumes_from_checkpoints_of_other_dynamics(tables, steady, tmp_path):
    """The fingerprint reads what the episodes simulate: the steppable rows and the lanes, not only the observations."""
    from dataclasses import replace

    from orpr_kedro.core.rl.checkpoints import run_fingerprint

    context, params = steady
    model = tables["policy"].model
    base = run_fingerprint(params, 3, model, context)
    assert run_fingerprint(params, 3, model, context) == base
    fewer = replace(context, rows=replace(context.rows, steps_left=np.maximum(context.rows.steps_left - 1, 0)))
    assert run_fingerprint(params, 3, model, fewer) != base
    lanes = context.data.lanes.assign(lead_time_std=1.0)
    other = replace(context, rows=replace(context.rows, period=replace(context.data, lanes=lanes)))
    assert run_fingerprint(params, 3, model, other) != base
    # which weights the run keeps at its end does not change the run: the same checkpoints serve both
    averaged = params.model_copy(
        update={"fixed_episodes": params.fixed_episodes.model_copy(update={"keep": "average"})}
    )
    assert run_fingerprint(averaged, 3, model, context) == base
    window = params.fixed_episodes.model_copy(update={"average_epochs": params.fixed_episodes.average_epochs + 5})
    assert run_fingerprint(params.model_copy(update={"fixed_episodes": window}), 3, model, context) != base
    assert run_fingerprint(params.model_copy(update={"kl_coef": params.kl_coef + 0.01}), 3, model, context) != base
