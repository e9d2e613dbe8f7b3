"""RL alignment: the batched environment, rewards, the KL anchor, PPO/RLOO training, checkpoints, closed loop."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import torch
import yaml
from gymnasium.utils.env_checker import check_env
from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy
from tianshou.data import Collector, VectorReplayBuffer

from orpr_kedro.core.evaluation.closed_loop import closed_loop_validation, promotion_gaps
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.forecasting.model import build_demand_panels
from orpr_kedro.core.learning.features import build_decision_features
from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation, model_tensors
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.pretraining import build_model, model_config
from orpr_kedro.core.optimization import labeling
from orpr_kedro.core.params import (
    DeployParams,
    ExecutorParams,
    ORLabelingParams,
    PretrainingParams,
    RLAlignmentParams,
)
from orpr_kedro.core.rl import actor_critic, alignment, checkpoints, training
from orpr_kedro.core.rl.actor_critic import FoundationActor, torch_runtime
from orpr_kedro.core.rl.deploy import alignment_gate
from orpr_kedro.core.rl.env import REWARD_TERMS, LaneEnv, LaneEpisodes, LaneVectorEnv
from orpr_kedro.core.rl.policy import NetworkPolicy
from orpr_kedro.core.rl.training import FixedEpisodes
from orpr_kedro.core.simulation.backtest import compare_on_period, rule_policies
from orpr_kedro.core.simulation.kpi import ACCUMULATED_COLUMNS
from orpr_kedro.core.simulation.policies import CoverageSchedule, DecisionState
from tests.conftest import PROJECT_ROOT

OR_PARAMS = ORLabelingParams.model_validate(
    {"coverage_grid": {"start": 0, "stop": 30, "step": 2}, "horizon_days": 21, "n_scenarios": 6}
)
NETWORK = PretrainingParams.model_validate(
    {
        "forecast_head": {"horizon_days": 7},
        "network": {"d_model": 16, "n_heads": 2, "n_layers": 1, "ff_dim": 32, "head_hidden": 32},
    }
)
SEED = 13


def rl_params(tmp_path, **overrides) -> RLAlignmentParams:
    """conf/base deep-merged with conf/test (as the test environment sees it), plus overrides."""

    def merge(base: dict, extra: dict) -> dict:
        out = dict(base)
        for key, value in extra.items():
            out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
        return out

    values = {}
    for env in ("base", "test"):
        values = merge(
            values,
            yaml.safe_load((PROJECT_ROOT / f"conf/{env}/parameters_rl_alignment.yml").read_text())["rl_alignment"],
        )
    values["checkpoint_dir"] = str(tmp_path / "checkpoints")
    return RLAlignmentParams.model_validate(merge(values, overrides))


@pytest.fixture(autouse=True, scope="module")
def one_torch_thread():
    """Small networks and batches: one thread, as in training (two OpenMP threads on a shared 2-core machine crawl)."""
    previous = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(previous)


_TABLES: dict[int, dict] = {}


def tiny_calibration(tiny_processed) -> pd.DataFrame:
    """The measured forecast error of the tiny data (``mi_scenario_calibration``), as or_labeling writes it."""
    splits = tiny_processed["splits"]
    period = labeling.labeling_data(
        tiny_processed["lanes"],
        tiny_processed["daily_sales"],
        tiny_processed["forecasts"],
        splits.decision_dates(),
        splits.first_decision_date,
    )
    return labeling.forecast_errors(period, splits, OR_PARAMS.horizon_days, min_rows=5).table


def rl_tables(tiny_processed, fast_params) -> dict:
    """Features, OR labels and a freshly initialised foundation model for the tiny data (built once)."""
    key = id(tiny_processed)
    if key not in _TABLES:
        splits = tiny_processed["splits"]
        lanes, sales, forecasts = tiny_processed["lanes"], tiny_processed["daily_sales"], tiny_processed["forecasts"]
        panels = build_demand_panels(
            sales, tiny_processed["promotion_days"], lanes, splits.data_end, fast_params.forecast.horizon_days
        )
        features = build_decision_features(forecasts, panels, lanes, splits, fast_params.features)
        data = labeling.labeling_data(lanes, sales, forecasts, splits.decision_dates(), splits.first_decision_date)
        windows = labeling.windows_to_label(data.decision_dates, splits, OR_PARAMS)
        with TaskExecutor(ExecutorParams(), progress=False) as pool:
            labels = labeling.label_windows(
                data, windows, OR_PARAMS, 11, pool, labeling.initial_state(data.lanes)
            ).labels
        labels["split"] = splits.period_of(labels["decision_date"])
        train = labels[labels["split"] == "train"][["lane_id", "decision_date", "on_hand", "on_order"]].merge(
            features, on=["lane_id", "decision_date"]
        )
        normalisation = Normalisation.fit(DecisionInputs.from_frame(train), int(features["category_code"].max()) + 1)
        torch.manual_seed(0)
        model = build_model(model_config(normalisation, np.asarray(OR_PARAMS.coverage_grid.values()), NETWORK), NETWORK)
        _TABLES[key] = {
            "features": features,
            "labels": labels,
            "policy": FoundationPolicy(model.eval(), normalisation),
            "tables": (features, labels, lanes, sales, forecasts, splits),
        }
    return _TABLES[key]


@pytest.fixture(scope="module")
def tables(tiny_processed, fast_params) -> dict:
    return rl_tables(tiny_processed, fast_params)


def context_for(tables: dict, params: RLAlignmentParams, period: str = "train"):
    return alignment.alignment_context(*tables["tables"], tables["policy"], params, OR_PARAMS, period)


@pytest.fixture(scope="module")
def context(tables, tmp_path_factory):
    return context_for(tables, rl_params(tmp_path_factory.mktemp("rl")))


# --------------------------------------------------------------------------- environment
def test_observation_is_exactly_the_network_input(tables, context):
    rows = np.arange(0, context.n_rows, 7)
    rng = np.random.default_rng(1)
    on_hand, on_order = rng.gamma(1.0, 30.0, len(rows)), rng.gamma(1.0, 10.0, len(rows))
    obs = torch.from_numpy(context.observe(rows, on_hand, on_order))
    frame = (
        tables["features"]
        .set_index(["lane_id", "decision_date"])
        .loc[list(zip(context.rows.row_lane[rows], pd.DatetimeIndex(context.rows.row_date[rows]), strict=True))]
        .reset_index()
    )
    expected = model_tensors(DecisionInputs.from_frame(frame, on_hand, on_order), tables["policy"].normalisation)
    sequence, state, category, targets, key = context.layout.split(obs)
    torch.testing.assert_close(sequence, expected.sequence, atol=1e-5, rtol=0)
    torch.testing.assert_close(state, expected.state, atol=1e-5, rtol=0)
    torch.testing.assert_close(targets, expected.targets, atol=1e-5, rtol=0)
    assert torch.equal(category, expected.category) and np.array_equal(key.numpy(), rows)


def test_single_lane_environment_passes_the_gymnasium_checker(context):
    env = LaneEnv(context, episode_weeks=3, reward=RLAlignmentParams().reward)
    check_env(env, skip_render_check=True)
    obs, _ = env.reset(seed=3)
    assert env.observation_space.contains(obs)
    rewards, done = [], False
    while not done:
        obs, reward, terminated, truncated, info = env.step(env.action_space.sample())
        rewards.append(reward)
        assert set(REWARD_TERMS) <= set(info) and not terminated
        done = truncated
    assert len(rewards) == 3


def test_a_step_is_the_or_replay_of_one_week(tables, context):
    """All lanes on one date: the step equals labeling.replay_actual with the same lead-time stream."""
    date = pd.Timestamp(context.rows.row_date[context.rows.steps_left >= 1][0])
    rows = context.rows.rows_of(date)
    episodes = LaneEpisodes(context, len(rows), 1, RLAlignmentParams().reward, seed=5)
    episodes.reset(np.arange(len(rows)))
    episodes.seed(5)  # the lead-time stream replay_actual gets
    episodes.row[:] = rows
    episodes.on_hand[:] = 10.0
    episodes.pipeline[:] = 0.0
    episodes.pipeline[:, 2] = 4.0
    action = np.arange(len(rows)) % context.n_actions
    _, _, _, truncated, terms = episodes.step(np.arange(len(rows)), action)

    data = context.data
    pipeline = np.zeros((len(rows), context.rows.pipeline_days))
    pipeline[:, 2] = 4.0
    state = labeling.LaneState(on_hand=np.full(len(rows), 10.0), pipeline=pipeline)
    window = int(data.decision_dates.get_loc(date))
    expected = labeling.replay_actual(data, window, action, state, 7, OR_PARAMS, np.random.default_rng(5))
    np.testing.assert_allclose(episodes.on_hand, expected.on_hand)
    np.testing.assert_allclose(episodes.on_order, expected.on_order)
    assert truncated.all() and (episodes.row == context.rows.next_row[rows]).all()
    assert (terms["holding_cost"] >= 0).all() and (terms["order_cost"] >= 0).all()


def test_vector_environment_steps_any_subset_of_lanes(context):
    episodes = LaneEpisodes(context, 6, 2, RLAlignmentParams().reward, seed=2)
    env = LaneVectorEnv(episodes)
    obs, infos = env.reset()
    assert obs.shape == (6, context.layout.size) and obs.dtype == np.float32 and len(infos) == 6
    before = episodes.row.copy()
    obs, reward, terminated, truncated, _ = env.step(np.array([1, 2]), id=[0, 4])
    assert (
        obs.shape == (2, context.layout.size) and reward.shape == (2,) and not terminated.any() and not truncated.any()
    )
    changed = episodes.row != before
    assert changed.tolist() == [True, False, False, False, True, False]
    _, _, _, truncated, _ = env.step(np.array([1, 2]), id=[0, 4])
    assert truncated.all()
    assert env.action_space[0].n == context.n_actions and len(env) == 6


def test_reward_terms_sum_to_the_reward_and_promotions_replace_turnover(context):
    reward = RLAlignmentParams(
        reward={"w_sim": 1.0, "w_rule": 0.5, "turnover": 1.0, "bands": {"default": {"min": 4, "max": 10}}}
    ).reward
    episodes = LaneEpisodes(context, 64, 2, reward, seed=4)
    episodes.reset(np.arange(64))
    rows = episodes.row.copy()
    _, total, _, _, terms = episodes.step(np.arange(64), np.full(64, context.n_actions - 1))
    np.testing.assert_allclose(sum(terms[name] for name in REWARD_TERMS), total)
    cost = terms["holding_cost"] + terms["lost_sales_cost"] + terms["order_cost"]
    np.testing.assert_allclose(terms["sim"], -cost / context.scale[context.rows.row_lane[rows]])
    assert (terms["band"] < 0).all()  # the top of the grid (30 days) is outside the band [4, 10]
    promoted = context.rows.promotion[rows]
    assert (terms["turnover"][promoted] == 0).all() and (terms["promotion"][~promoted] == 0).all()
    stats = episodes.pop_stats()
    assert stats["steps"] == 64 and np.isclose(stats["reward"], total.mean())


def test_collector_gathers_whole_episodes_from_the_batched_environment(tables, context):
    actor, _ = training._actor_and_reference(tables["policy"], context, "context")
    env = LaneVectorEnv(LaneEpisodes(context, 8, 3, RLAlignmentParams().reward, seed=1))
    policy = DiscreteActorPolicy(
        actor=actor, action_space=env.action_space[0], observation_space=env.observation_space[0]
    )
    collector = Collector(policy, env, VectorReplayBuffer(24, 8))
    collector.reset()
    stats = collector.collect(n_step=24)
    assert stats.n_collected_steps == 24 and stats.n_collected_episodes == 8


# --------------------------------------------------------------------------- KL anchor
def test_kl_penalty_is_zero_at_the_reference_and_positive_otherwise(tables, context):
    actor, reference = training._actor_and_reference(tables["policy"], context, "context")
    obs = context.observe(np.arange(40), np.full(40, 3.0), np.zeros(40))
    with torch.no_grad():
        assert actor_critic.categorical_kl(actor.logits(obs), reference.logits(obs)).abs().max() < 1e-6
        for parameter in actor.model.decision_head.parameters():
            parameter.add_(0.3 * torch.randn_like(parameter))
        kl = actor_critic.categorical_kl(actor.logits(obs), reference.logits(obs))
    assert (kl > 0).all()
    logits = torch.randn(5, 7)
    expected = (logits.softmax(-1) * (logits.log_softmax(-1) - torch.zeros(5, 7).log_softmax(-1))).sum(-1)
    torch.testing.assert_close(actor_critic.categorical_kl(logits, torch.zeros(5, 7)), expected)


def test_cached_context_encoders_give_the_networks_own_logits(tables, context):
    actor, _ = training._actor_and_reference(tables["policy"], context, "context")
    assert actor.uses_cache
    obs = context.observe(
        np.arange(0, context.n_rows, 5),
        np.full(len(range(0, context.n_rows, 5)), 8.0),
        np.zeros(len(range(0, context.n_rows, 5))),
    )
    with torch.no_grad():
        torch.testing.assert_close(
            actor.logits(obs),
            actor.model.decision_logits(*context.layout.split(torch.from_numpy(obs))[:4]),
            atol=1e-5,
            rtol=0,
        )
    frozen = [name for name, p in actor.model.named_parameters() if not p.requires_grad]
    assert frozen and all(not name.startswith(("decision_head", "state_encoder")) for name in frozen)


# --------------------------------------------------------------------------- training
BAND_CASE = {
    "reward": {
        "w_sim": 0.0,
        "w_rule": 1.0,
        "turnover": 0.0,
        "or_agreement": 0.0,
        "promotion": 0.0,
        "bands": {"default": {"min": 10, "max": 14}},
    }
}


@pytest.mark.parametrize(
    ("algorithm", "overrides"),
    [
        ("ppo", {"epochs": 6, "ppo": {"actor_learning_rate": 0.003}}),
        ("rloo", {"epochs": 6, "rloo": {"learning_rate": 0.003, "horizon_weeks": 1}}),
    ],
)
def test_short_training_moves_toward_the_known_better_policy(tables, tmp_path, algorithm, overrides):
    """Only the band term rewards: coverage inside [10, 14] days is the known best policy."""
    params = rl_params(tmp_path, algorithm=algorithm, kl_coef=0.0, freeze="encoders", **BAND_CASE, **overrides)
    context = context_for(tables, params)
    run = alignment.train_alignment(tables["policy"], context, params, SEED)
    rewards = run.curves["reward"].to_numpy()
    assert len(rewards) == params.epochs
    assert rewards[-2:].mean() > rewards[:2].mean() + 0.02
    obs = context.observe(np.arange(context.n_rows), np.full(context.n_rows, 5.0), np.zeros(context.n_rows))
    before = alignment.decision_logits(tables["policy"].model, context.layout, obs).softmax(-1)
    after = alignment.decision_logits(run.model, context.layout, obs).softmax(-1)
    in_band = torch.from_numpy((context.grid.values >= 10) & (context.grid.values <= 14))
    assert after[:, in_band].sum(-1).mean() > before[:, in_band].sum(-1).mean()


def test_resume_from_a_checkpoint_continues_the_same_run(tables, tmp_path):
    straight = rl_params(tmp_path / "a", epochs=2, resume=False)
    context = context_for(tables, straight)
    expected = alignment.train_alignment(tables["policy"], context, straight, SEED)

    first = alignment.train_alignment(tables["policy"], context, rl_params(tmp_path / "b", epochs=1), SEED)
    assert len(first.curves) == 1 and len(list((tmp_path / "b" / "checkpoints").rglob("epoch_0001.pt"))) == 1
    resumed = alignment.train_alignment(tables["policy"], context, rl_params(tmp_path / "b", epochs=2), SEED)
    assert resumed.summary["resumed_from_epoch"] == 1
    for name, tensor in expected.model.state_dict().items():
        assert torch.equal(tensor, resumed.model.state_dict()[name]), name
    columns = ["epoch", "env_steps", "reward", "kl", "entropy", "total_cost"]
    pd.testing.assert_frame_equal(expected.curves[columns], resumed.curves[columns])
    again = alignment.train_alignment(
        tables["policy"], context, rl_params(tmp_path / "b", epochs=2), SEED
    )  # nothing left to train
    assert again.summary["resumed_from_epoch"] == 2 and torch.equal(
        next(iter(again.model.state_dict().values())), next(iter(expected.model.state_dict().values()))
    )


def test_the_same_seed_gives_the_same_aligned_weights(tables, tmp_path):
    last = {"keep": "last"}  # the trained weights, not the fixed-episode selection (which may keep the pretrained)
    params = rl_params(tmp_path / "a", epochs=1, resume=False, freeze="none", fixed_episodes=last)
    context = context_for(tables, params)
    one = alignment.train_alignment(tables["policy"], context, params, SEED).model.state_dict()
    two = alignment.train_alignment(
        tables["policy"],
        context,
        rl_params(tmp_path / "b", epochs=1, resume=False, freeze="none", fixed_episodes=last),
        SEED,
    ).model.state_dict()
    other = alignment.train_alignment(
        tables["policy"],
        context,
        rl_params(tmp_path / "c", epochs=1, resume=False, freeze="none", fixed_episodes=last),
        SEED + 1,
    ).model.state_dict()
    assert all(torch.equal(one[name], two[name]) for name in one)
    assert any(not torch.equal(one[name], other[name]) for name in one)


def test_the_aligned_policy_has_the_pretrained_format_and_interface(tables, tmp_path):
    params = rl_params(tmp_path, epochs=1)
    run = alignment.train_alignment(tables["policy"], context_for(tables, params), params, SEED)
    payload = alignment.aligned_payload(run, tables["policy"], {"seed": SEED})
    aligned = FoundationPolicy.from_payload(payload)
    assert payload["format"] == tables["policy"].to_payload()["format"]
    assert payload["metadata"]["rl_alignment"]["algorithm"] == "ppo"
    rows = tables["features"].head(5)
    assert aligned.decide(rows, on_hand=np.ones(5), on_order=np.zeros(5)).shape == (5,)


def test_zero_epochs_return_the_pretrained_policy(tables, tmp_path):
    params = rl_params(tmp_path, epochs=0)
    run = alignment.train_alignment(tables["policy"], context_for(tables, params), params, SEED)
    assert run.curves.empty
    assert all(
        torch.equal(a, b)
        for a, b in zip(run.model.state_dict().values(), tables["policy"].model.state_dict().values(), strict=True)
    )


# --------------------------------------------------------------------------- closed loop
def test_fixed_rules_in_the_closed_loop_equal_the_open_loop_backtest(tables, tmp_path):
    features, labels, lanes, sales, forecasts, splits = tables["tables"]
    context = context_for(tables, rl_params(tmp_path), "validation")
    rows = context.rows
    policies = {
        "pretrained": NetworkPolicy(context, tables["policy"].model),
        "or_policy": CoverageSchedule(labels, rows.period.lanes["lane_id"], "or_policy"),
        **rule_policies(rows.period),
    }
    with torch_runtime(1):
        result = closed_loop_validation(
            rows,
            policies,
            grid=context.grid.coverage_grid,
            start=splits.validation_start,
            end=splits.test_start,
            seed=SEED,
            initial_state="master",
        )
    closed = result.kpi_table().set_index(["policy", "scope"])
    data = labeling.labeling_data(lanes, sales, forecasts, splits.decision_dates(), splits.first_decision_date)
    opened = compare_on_period(
        data, {"or_policy": labels}, splits.validation_start, splits.test_start, SEED, OR_PARAMS.max_lead_time
    )
    opened = opened.kpi_table(data.lanes).set_index(["policy", "scope"])
    for policy in ("or_policy", "incumbent", "base_stock"):
        pd.testing.assert_series_equal(closed.loc[(policy, "all")], opened.loc[(policy, "all")], check_names=False)
    decisions = result.decisions
    pretrained = decisions[decisions["policy"] == "pretrained"]
    assert len(pretrained) == len(lanes) * pretrained["decision_date"].nunique()
    assert set(promotion_gaps(decisions)["policy"]) <= {"pretrained", "or_policy", "incumbent"}


def test_a_network_policy_records_its_kl_to_the_reference(tables, tmp_path):
    _, _, _, _, _, splits = tables["tables"]
    context = context_for(tables, rl_params(tmp_path), "validation")
    model = tables["policy"].model
    policies = {"same": NetworkPolicy(context, model, reference=model), "alone": NetworkPolicy(context, model)}
    with torch_runtime(1):
        result = closed_loop_validation(
            context.rows,
            policies,
            grid=context.grid.coverage_grid,
            start=splits.validation_start,
            end=splits.test_start,
            seed=SEED,
            initial_state="master",
        )
    decisions = result.decisions.set_index("policy")
    assert (decisions.loc["same", "kl_to_reference"] == 0.0).all()
    assert decisions.loc["alone", "kl_to_reference"].isna().all()
    assert (
        decisions.loc["same", "coverage_days"].to_numpy() == decisions.loc["alone", "coverage_days"].to_numpy()
    ).all()


def test_a_network_policy_encodes_each_row_once_with_the_networks_own_logits(tables, tmp_path):
    """The cached sequence and target encodings give the network's own decisions, filled on first use;
    the caller's model is left as it was (gradients and dropout)."""
    context = context_for(tables, rl_params(tmp_path), "validation")
    model = tables["policy"].model
    dropout = [module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)]
    policy = NetworkPolicy(context, model)
    cache = policy._actors[0][1]
    assert not cache.filled.any()
    data = context.rows.period
    date = pd.Timestamp(context.rows.row_date[0])
    rows = context.rows.rows_of(date)
    on_hand = np.linspace(0.0, 50.0, data.n_lanes)
    pipeline = np.zeros((data.n_lanes, context.rows.pipeline_days))
    state = DecisionState(date, data.forecast_cube[:, data.window(date), :], 7, on_hand, pipeline, rows)
    with torch_runtime(1):
        first = policy.decide(data.lane_arrays, state)
        assert cache.filled.sum() == len(np.unique(rows))
        again = policy.decide(data.lane_arrays, replace(state, on_hand=on_hand + 3.0))
        direct = alignment.decision_logits(model, context.layout, context.observe(rows, on_hand, np.zeros(len(rows))))
    assert cache.filled.sum() == len(np.unique(rows))  # the second decision read the cache
    np.testing.assert_array_equal(first.grid_index, direct.argmax(dim=1).numpy())
    assert again.grid_index.shape == first.grid_index.shape
    assert all(parameter.requires_grad for parameter in model.parameters())
    assert [module.p for module in model.modules() if isinstance(module, torch.nn.Dropout)] == dropout


def test_checkpoints_keep_the_newest_and_never_resume_a_foreign_run(tmp_path):
    store = checkpoints.CheckpointStore(tmp_path, "a" * 64, keep=2)
    for epoch in (1, 2, 3, 4):
        store.save(epoch, {"weights": torch.full((2,), float(epoch))})
    assert sorted(path.name for path in store.folder.glob("*.pt")) == ["epoch_0003.pt", "epoch_0004.pt"]
    assert store.last()["epoch"] == 4 and torch.equal(store.last()["weights"], torch.full((2,), 4.0))
    assert checkpoints.CheckpointStore(tmp_path, "b" * 64).last() is None
    # a run asking for fewer epochs never continues from a later one
    assert store.last(max_epoch=3)["epoch"] == 3
    assert store.last(max_epoch=2) is None


@pytest.mark.parametrize("algorithm", ["ppo", "rloo"])
def test_fixed_episodes_score_every_epoch_and_the_best_weights_are_kept(tables, tmp_path, algorithm):
    params = rl_params(
        tmp_path, epochs=3, resume=False, algorithm=algorithm, fixed_episodes={"n_episodes": 64, "keep": "best"}
    )
    context = context_for(tables, params)
    run = alignment.train_alignment(tables["policy"], context, params, SEED)
    curves = run.curves
    assert {"fixed_reward", "fixed_total_cost", "fixed_scaled_cost"} <= set(curves.columns)
    scores = [run.summary["fixed_scaled_cost_pretrained"], *curves["fixed_scaled_cost"]]
    kept = int(run.summary["kept_epoch"])
    assert kept == int(np.argmin(scores)) and run.summary["fixed_scaled_cost_kept"] == min(scores)
    # the same episodes and lead-time draws at every call: the kept weights score exactly their epoch's cost
    fixed = FixedEpisodes(context, params, SEED)
    actor = FoundationActor(run.model, context.layout, "none")
    assert fixed.score(actor)["fixed_scaled_cost"] == pytest.approx(min(scores), rel=1e-6)
    assert fixed.score(actor) == fixed.score(actor)


@pytest.mark.parametrize("algorithm", ["ppo", "rloo"])
def test_keep_average_loads_the_mean_of_the_last_epochs_weights(tables, tmp_path, algorithm):
    params = rl_params(
        tmp_path,
        epochs=4,
        resume=False,
        algorithm=algorithm,
        keep_checkpoints=1,
        fixed_episodes={"n_episodes": 64, "keep": "average", "average_epochs": 3},
    )
    assert params.retained_checkpoints == 3  # the averaged epochs' checkpoints outlive keep_checkpoints
    context = context_for(tables, params)
    run = alignment.train_alignment(tables["policy"], context, params, SEED)
    assert (run.summary["kept_epoch"], run.summary["averaged_from_epoch"]) == (4.0, 2.0)
    files = sorted(Path(run.summary["checkpoint_folder"]).glob("epoch_*.pt"))
    assert [path.name for path in files] == ["epoch_0002.pt", "epoch_0003.pt", "epoch_0004.pt"]
    weights = [torch.load(path, weights_only=True)["actor"] for path in files]
    for name, value in run.model.state_dict().items():
        expected = torch.stack([state[f"model.{name}"] for state in weights]).mean(dim=0)
        torch.testing.assert_close(value, expected, rtol=1e-5, atol=1e-7)
    moved = [
        name
        for name in run.model.state_dict()
        if not torch.equal(weights[0][f"model.{name}"], weights[-1][f"model.{name}"])
    ]
    assert moved  # the epochs' weights differ, so their mean is a network of its own
    # the summary's score is the averaged network's own on the fixed episodes
    actor = FoundationActor(run.model, context.layout, "none")
    assert FixedEpisodes(context, params, SEED).score(actor)["fixed_scaled_cost"] == pytest.approx(
        run.summary["fixed_scaled_cost_kept"], rel=1e-6
    )
    # the finished run kept another way: the same checkpoints, no training again
    best = params.model_copy(
        update={"resume": True, "fixed_episodes": params.fixed_episodes.model_copy(update={"keep": "best"})}
    )
    again = alignment.train_alignment(tables["policy"], context, best, SEED)
    assert again.summary["resumed_from_epoch"] == 4 and "averaged_from_epoch" not in again.summary
    assert again.summary["checkpoint_folder"] == run.summary["checkpoint_folder"]


def _gate_frame(aligned_costs):
    """Per-lane validation KPIs of the pretrained network (cost 10 per lane) and the aligned policy."""
    rows = []
    for policy, costs in (("pretrained", [10.0] * len(aligned_costs)), ("aligned", aligned_costs)):
        for lane, cost in enumerate(costs):
            row = dict.fromkeys(ACCUMULATED_COLUMNS, 1.0)
            row.update(
                policy=policy, lane_id=lane, category="c", holding_cost=cost, lost_sales_cost=0.0, order_cost=0.0
            )
            rows.append(row)
    return pd.DataFrame(rows)


def test_the_gate_deploys_the_aligned_policy_only_when_its_interval_is_below_zero():
    rule = DeployParams(rule="interval", level=0.9, n_resamples=500)
    # every lane 1 cheaper: -10% with a degenerate interval, deployed
    sure = alignment_gate(_gate_frame([9.0] * 20), rule, seed=1)
    assert (sure.change, sure.low, sure.high, sure.deployed) == (
        pytest.approx(-0.1),
        pytest.approx(-0.1),
        pytest.approx(-0.1),
        "aligned",
    )
    # one lane 4 cheaper, one 3 dearer, the rest equal: -0.5% on the point, the interval straddles zero
    mixed = alignment_gate(_gate_frame([6.0, 13.0] + [10.0] * 18), rule, seed=1)
    assert mixed.change == pytest.approx(-0.005) and mixed.low < 0 < mixed.high
    assert mixed.deployed == "pretrained" and "deploys the pretrained network" in mixed.reason()
    assert (
        alignment_gate(_gate_frame([6.0, 13.0] + [10.0] * 18), DeployParams(rule="point"), seed=1).deployed == "aligned"
    )


def test_the_gate_keeps_the_pretrained_network_when_alignment_buys_its_gain_with_stock_outs():
    frame = _gate_frame([9.0] * 20)
    aligned = frame["policy"] == "aligned"
    frame["n_days"] = 100.0
    frame["in_stock_days"] = 100.0
    frame.loc[aligned & (frame["lane_id"] == 0), "in_stock_days"] = 80.0  # 20 of 2,000 lane-days: -1 point
    gate = alignment_gate(frame, DeployParams(level=0.9, n_resamples=200), seed=1)
    assert gate.high < 0 and gate.in_stock_change == pytest.approx(-0.01)
    assert gate.deployed == "pretrained" and "in-stock -1.00 points" in gate.reason()
    assert alignment_gate(frame, DeployParams(max_in_stock_drop=0.02, n_resamples=200), seed=1).deployed == "aligned"


def test_scenario_episodes_draw_demand_around_the_forecast_with_the_measured_error(context):
    """Scenario demand: the forecast times the episode's level factor, negative-binomial days, reproducible."""
    period = context.rows.period
    n = 4000
    plain = LaneEpisodes(context, n, 1, RLAlignmentParams().reward, seed=3, demand="scenarios")
    plain.reset(np.arange(n))
    np.testing.assert_array_equal(plain.level, 1.0)  # no measured error: bias 1, no level noise
    rows = plain.row.copy()
    draws = plain.demand(np.arange(n), rows, 7)
    forecast = context.rows.forecast(rows)[:, :7]
    assert draws.shape == (n, 7) and (draws == np.round(draws)).all() and (draws >= 0).all()
    assert draws.sum() == pytest.approx(forecast.sum(), rel=0.03)
    assert not np.array_equal(draws, context.rows.demand(rows, 7))  # not the history
    again = LaneEpisodes(context, n, 1, RLAlignmentParams().reward, seed=3, demand="scenarios")
    again.reset(np.arange(n))
    np.testing.assert_array_equal(again.demand(np.arange(n), rows, 7), draws)

    # a measured error: bias 1.5 and a level error of 0.2 on the log scale
    n_lanes = period.n_lanes
    context.rows.period = period.with_forecast_errors(np.full(n_lanes, 1.5), np.full(n_lanes, 0.2))
    try:
        biased = LaneEpisodes(context, n, 1, RLAlignmentParams().reward, seed=3, demand="scenarios")
        biased.reset(np.arange(n))
        assert biased.level.mean() == pytest.approx(1.5, rel=0.02)
        assert np.log(biased.level).std() == pytest.approx(0.2, rel=0.05)
    finally:
        context.rows.period = period
    with pytest.raises(ValueError, match="actual or scenarios"):
        LaneEpisodes(context, 2, 1, RLAlignmentParams().reward, demand="history")


def test_the_service_floor_guards_the_categories_where_the_network_lost_to_tuned_base_stock():
    """a: network 120 vs tuned 100 at 0.99 -> floor index 2; b: network cheaper, no floor; c: lost, level
    0.995 between grid levels -> the next one up (3); d: lost, but the newsvendor fractile won (NaN): no floor."""
    from orpr_kedro.core.rl.deploy import service_floor

    kpis = pd.DataFrame(
        {
            "policy": ["pretrained", "tuned_base_stock"] * 5,
            "scope": ["all", "all", "a", "a", "b", "b", "c", "c", "d", "d"],
            "total_cost": [500.0, 460.0, 120.0, 100.0, 80.0, 90.0, 150.0, 140.0, 150.0, 130.0],
        }
    )
    chosen = pd.DataFrame({"category": ["a", "b", "c", "d"], "service_level": [0.99, 0.9, 0.995, np.nan]})
    codes = pd.Series({"a": 0, "b": 1, "c": 2, "d": 3})
    floors = service_floor(kpis, "pretrained", chosen, np.array([0.5, 0.9, 0.99, 0.999]), codes)
    assert [(f["category"], f["category_code"], f["service_level"], f["index"]) for f in floors] == [
        ("a", 0, 0.99, 2),
        ("c", 2, 0.995, 3),
    ]
    assert floors[0]["validation_cost_network"] == 120.0 and floors[0]["validation_cost_tuned_base_stock"] == 100.0
