"""Throughput of RL alignment on the demo data: rollout collection and whole training.

Reads the persisted demo datasets through the Kedro catalog (run data_processing,
or_labeling and pretraining first). Uses the latest ``mdl_foundation_model``, or a
freshly initialised network of the same shape when there is none yet (speed does not
depend on the weights). Prints:

* ``collect``: environment steps per second when Tianshou's ``Collector`` gathers
  rollouts with the real actor (the foundation network, sampling), for the batched
  environment (``LaneVectorEnv``: one simulator call per step for all lanes) and, for
  comparison, one Python ``gymnasium`` environment per lane (``DummyVectorEnv`` of
  ``LaneEnv``), with the context encoders frozen and cached or not;
* ``train``: environment steps per second of whole PPO epochs (collection + updates)
  with the parameters of ``conf/base`` (``freeze: context`` and ``none``), and the wall
  time of the whole alignment (``conf/base`` epochs) with its setup.

Usage: ``.venv/bin/python bench/bench_rl.py [--quick]`` (``--quick``: fewer repeats, no full run)
"""

# ruff: noqa: T201 - a benchmark reports on stdout

from __future__ import annotations

import argparse
import logging
import os
import tempfile
import time
from pathlib import Path

import numpy as np
import torch
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy
from tianshou.data import Collector, VectorReplayBuffer
from tianshou.env import DummyVectorEnv
from tianshou.utils.torch_utils import policy_within_training_step

from orpr_kedro.core.data.blocks import as_frame
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.pretraining import build_model, model_config
from orpr_kedro.core.params import parse_params
from orpr_kedro.core.rl import actor_critic, alignment, training
from orpr_kedro.core.rl.env import LaneEnv, LaneEpisodes, LaneVectorEnv

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]
TABLES = ["mi_decision_features", "mi_or_labels", "prm_lanes", "prm_daily_sales", "ftr_demand_forecast", "time_splits"]


def load_inputs() -> tuple[dict, FoundationPolicy, dict]:
    logging.getLogger("kedro").setLevel(logging.WARNING)
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT) as session:
        context = session.load_context()
        catalog = context.catalog
        tables = {
            name: as_frame(catalog.load(name)) if name != "time_splits" else catalog.load(name) for name in TABLES
        }
        try:
            policy = FoundationPolicy.from_payload(catalog.load("mdl_foundation_model"))
            print("model: latest mdl_foundation_model")
        except Exception:  # noqa: BLE001 - any missing/unreadable model: a fresh one of the configured shape
            pretraining = parse_params("pretraining", context.params["pretraining"])
            labels, features = tables["mi_or_labels"], tables["mi_decision_features"]
            train = labels[labels["split"] == "train"][["lane_id", "decision_date", "on_hand", "on_order"]].merge(
                features, on=["lane_id", "decision_date"]
            )
            normalisation = Normalisation.fit(
                DecisionInputs.from_frame(train), int(features["category_code"].max()) + 1
            )
            grid = np.asarray(parse_params("or_labeling", context.params["or_labeling"]).coverage_grid.values())
            torch.manual_seed(0)
            policy = FoundationPolicy(
                build_model(model_config(normalisation, grid, pretraining), pretraining).eval(), normalisation
            )
            print("model: none persisted yet; a freshly initialised network of the configured shape")
        return tables, policy, context.params


def collect_rate(policy: FoundationPolicy, lane_context, env, freeze: str, steps: int, repeats: int) -> float:
    actor, _ = training._actor_and_reference(policy, lane_context, freeze)
    tianshou_policy = DiscreteActorPolicy(
        actor=actor, action_space=env.action_space[0], observation_space=env.observation_space[0]
    )
    collector = Collector(tianshou_policy, env, VectorReplayBuffer(steps, len(env)))
    collector.reset()
    best = 0.0
    with policy_within_training_step(tianshou_policy), torch.no_grad():
        collector.collect(n_step=steps)  # warm-up (numba compilation of the buffer helpers)
        for _ in range(repeats):
            collector.reset_buffer()
            started = time.perf_counter()
            collector.collect(n_step=steps)
            best = max(best, steps / (time.perf_counter() - started))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    os.chdir(PROJECT)
    tables, policy, params = load_inputs()
    settings = parse_params("rl_alignment", params["rl_alignment"])
    or_settings = parse_params("or_labeling", params["or_labeling"])
    splits = TimeSplits.from_dict(tables["time_splits"])
    lane_context = alignment.alignment_context(
        tables["mi_decision_features"],
        tables["mi_or_labels"],
        tables["prm_lanes"],
        tables["prm_daily_sales"],
        tables["ftr_demand_forecast"],
        splits,
        policy,
        settings,
        or_settings,
        "train",
    )
    print(
        f"lanes: {len(tables['prm_lanes'])}, training rows (lane x date): {lane_context.n_rows}, grid: {lane_context.n_actions}"
    )
    repeats = 2 if args.quick else 3
    weeks = settings.episode_weeks
    with actor_critic.torch_runtime(settings.threads):
        print(
            f"\ncollect (Tianshou Collector, real actor sampling, cadence {settings.cadence}, torch threads {settings.threads}, best of {repeats}):"
        )
        for n_envs in (512, 1024):
            for freeze in ("context", "none"):
                episodes = LaneEpisodes(lane_context, n_envs, weeks, settings.reward, seed=0, cadence=settings.cadence)
                steps = n_envs * max(1, round(episodes.mean_episode_steps()))
                rate = collect_rate(policy, lane_context, LaneVectorEnv(episodes), freeze, steps, repeats)
                print(f"  batched LaneVectorEnv, {n_envs} lanes, freeze {freeze:8s}: {rate:10,.0f} steps/s")
        n_single = 512
        env = DummyVectorEnv(
            [
                lambda: LaneEnv(lane_context, weeks, settings.reward, info_terms=False, cadence=settings.cadence)
                for _ in range(n_single)
            ]
        )
        env.seed(0)
        rate = collect_rate(policy, lane_context, env, "context", n_single * weeks, 1 if args.quick else 2)
        print(f"  one gymnasium env per lane (DummyVectorEnv), {n_single} lanes, freeze context: {rate:10,.0f} steps/s")

    print(
        f"\ntrain (PPO epochs: collect {settings.n_envs} episodes of {weeks} weeks + {settings.ppo.repeat} passes of minibatch {settings.ppo.batch_size}):"
    )
    with tempfile.TemporaryDirectory() as folder:
        for freeze in ("context", "none"):
            bench = settings.model_copy(
                update={"epochs": 3, "freeze": freeze, "resume": False, "progress_bar": False, "checkpoint_dir": folder}
            )
            run = alignment.train_alignment(policy, lane_context, bench, 20251219)
            curves = run.curves
            steady = (curves["env_steps"].iloc[-1] - curves["env_steps"].iloc[0]) / (
                curves["wall_s"].iloc[-1] - curves["wall_s"].iloc[0]
            )
            print(
                f"  freeze {freeze:8s}: {steady:8,.0f} env steps/s over epochs 2-3 (setup + epoch 1: {curves['wall_s'].iloc[0]:.1f} s)"
            )
        if not args.quick:
            full = settings.model_copy(update={"resume": False, "progress_bar": False, "checkpoint_dir": folder})
            started = time.perf_counter()
            run = alignment.train_alignment(policy, lane_context, full, 20251219)
            wall = time.perf_counter() - started
            print(
                f"  whole alignment with conf/base ({settings.algorithm}, {settings.epochs} epochs, {int(run.curves['env_steps'].iloc[-1]):,} env steps, "
                f"freeze {settings.freeze}): {wall:.1f} s wall ({run.curves['env_steps'].iloc[-1] / wall:,.0f} steps/s)"
            )


if __name__ == "__main__":
    main()
