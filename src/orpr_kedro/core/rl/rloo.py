"""REINFORCE leave-one-out (RLOO) as in the paper, with the same KL anchor as PPO.

k coverages are sampled per state, each simulated from that same state in ONE
simulator call (the candidate axis); advantage = reward - mean reward of the other
k-1; the loss is the policy gradient plus ``kl_coef x KL(pi || pi_ref)``. It is a small
trainer of its own rather than a Tianshou algorithm because Tianshou's collector takes
one action per environment and step, while RLOO needs k counterfactual actions from
the same state, which the batched simulator evaluates directly.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import RLAlignmentParams
from orpr_kedro.core.progress import progress_bar
from orpr_kedro.core.rl.actor_critic import (
    FoundationActor,
    categorical_kl,
    derived_seed,
    seed_epoch,
    torch_runtime,
)
from orpr_kedro.core.rl.checkpoints import CheckpointStore, run_fingerprint
from orpr_kedro.core.rl.env import (
    WEEK,
    LaneContext,
    LaneEpisodes,
)
from orpr_kedro.core.rl.training import (
    AlignmentRun,
    FixedEpisodes,
    _actor_and_reference,
    _curve_row,
    _run_summary,
)

logger = logging.getLogger(__name__)


@dataclass
class RLOOBatch:
    """One RLOO rollout: states ``[M, D]``, k sampled actions ``[M, k]`` and their leave-one-out advantages ``[M, k]``."""

    obs: torch.Tensor
    actions: torch.Tensor
    advantage: torch.Tensor
    mean_reward: float


def rloo_rollout(actor: FoundationActor, episodes: LaneEpisodes, k: int, horizon_days: int) -> RLOOBatch:
    """Fresh episodes in every slot; at each step k coverages per state, each simulated from that state.

    The advantage of a sample is its reward minus the mean reward of the other k-1
    samples of the same state, divided by the standard deviation over the batch.
    """
    slots = np.arange(episodes.n_envs)
    episodes.reset(slots)
    observations, actions, rewards = [], [], []
    while len(slots := slots[~episodes.finished(slots)]):  # at review cadence episodes differ in steps
        obs = episodes.observe(slots)
        with torch.no_grad():
            sampled = torch.distributions.Categorical(logits=actor.logits(obs)).sample((k,)).numpy()  # [k, n]
        reward, _, lead_times = episodes.candidate_rewards(slots, sampled, horizon_days)
        episodes.advance(slots, sampled[0], lead_times)  # the trajectory goes on with the first sample
        observations.append(obs)
        actions.append(sampled.T)
        rewards.append(reward.T)
    reward_all = np.concatenate(rewards)
    leave_one_out = (reward_all.sum(axis=1, keepdims=True) - reward_all) / (k - 1)
    advantage = reward_all - leave_one_out
    return RLOOBatch(
        obs=torch.from_numpy(np.concatenate(observations)),
        actions=torch.from_numpy(np.concatenate(actions)),
        advantage=torch.from_numpy((advantage / (advantage.std() + 1e-8)).astype(np.float32)),
        mean_reward=float(reward_all.mean()),
    )


def rloo_update(
    actor: FoundationActor,
    reference: FoundationActor,
    optimizer: torch.optim.Optimizer,
    batch: RLOOBatch,
    params: RLAlignmentParams,
) -> dict[str, list[float]]:
    """``repeat`` passes of minibatch steps on ``-(A x log pi(a|s)) + kl_coef x KL(pi || pi_ref)``."""
    settings = params.rloo
    log: dict[str, list[float]] = defaultdict(list)
    with torch.no_grad():
        reference_logits = torch.cat(
            [reference.logits(batch.obs[i : i + 4096]) for i in range(0, len(batch.obs), 4096)]
        )
    for _ in range(settings.repeat):
        order = torch.from_numpy(np.random.permutation(len(batch.obs)))
        for start in range(0, len(order), settings.batch_size):
            rows = order[start : start + settings.batch_size]
            logits = actor.logits(batch.obs[rows])
            log_p = F.log_softmax(logits, dim=-1)
            pg_loss = -(batch.advantage[rows] * log_p.gather(1, batch.actions[rows])).mean()
            kl = categorical_kl(logits, reference_logits[rows]).mean()
            optimizer.zero_grad()
            (pg_loss + params.kl_coef * kl).backward()
            nn.utils.clip_grad_norm_(actor.parameters(), settings.max_grad_norm)
            optimizer.step()
            log["kl"].append(kl.item())
            log["entropy"].append(-(log_p.exp() * log_p).sum(dim=-1).mean().item())
            log["actor_loss"].append(pg_loss.item())
    return log


def train_rloo(
    pretrained: FoundationPolicy, context: LaneContext, params: RLAlignmentParams, seed: int
) -> AlignmentRun:
    """REINFORCE leave-one-out with the KL anchor (see the module docstring).

    Per epoch: ``collects_per_epoch`` rollouts of fresh seeded episodes in ``n_envs``
    slots (:func:`rloo_rollout`: ``k`` coverages per state, each simulated for
    ``horizon_weeks`` weeks from that state in one call), each followed by
    :func:`rloo_update`. One checkpoint per epoch.
    """
    rloo = params.rloo
    started = time.perf_counter()
    with torch_runtime(params.threads):
        torch.manual_seed(derived_seed(seed, 0))
        actor, reference = _actor_and_reference(pretrained, context, params.freeze)
        optimizer = torch.optim.Adam([p for p in actor.parameters() if p.requires_grad], lr=rloo.learning_rate)
        episodes = LaneEpisodes(
            context, params.n_envs, params.episode_weeks, params.reward, seed, params.demand, params.cadence
        )
        store = CheckpointStore(
            params.checkpoint_dir, run_fingerprint(params, seed, actor.model, context), params.retained_checkpoints
        )
        state = store.last(params.epochs) if params.resume else None
        curves: list[dict[str, float]] = []
        start_epoch, env_step, update_step, previous_wall = 0, 0, 0, 0.0
        fixed = FixedEpisodes(context, params, seed)
        if state is None:
            fixed.start(actor)
        else:
            fixed.load(state.get("fixed"))
            actor.load_state_dict(state["actor"])
            optimizer.load_state_dict(state["optimizer"])
            curves = list(state["curves"])
            start_epoch, env_step, update_step, previous_wall = (
                int(state["epoch"]),
                int(state["env_step"]),
                int(state["update_step"]),
                float(state["wall_s"]),
            )
            logger.info(
                "Resuming RL alignment (rloo) from %s (epoch %d of %d)",
                store.path(start_epoch),
                start_epoch,
                params.epochs,
            )
        bar = progress_bar(
            range(start_epoch + 1, params.epochs + 1),
            desc="RL alignment (rloo)",
            enabled=params.progress_bar,
            leave=False,
        )
        for epoch in bar:
            seed_epoch(seed, epoch, episodes)
            episodes.clear_stats()
            log: dict[str, list[float]] = defaultdict(list)
            for _ in range(params.collects_per_epoch):
                batch = rloo_rollout(actor, episodes, rloo.k, WEEK * rloo.horizon_weeks)
                env_step += len(batch.obs)
                log["candidate_reward"].append(batch.mean_reward)
                for name, values in rloo_update(actor, reference, optimizer, batch, params).items():
                    log[name].extend(values)
                update_step += 1
            update_stats = {name: float(np.mean(values)) for name, values in log.items()}
            curves.append(_curve_row(epoch, env_step, update_step, started, episodes.pop_stats(), update_stats))
            curves[-1]["wall_s"] += previous_wall
            fixed.after_epoch(epoch, actor, curves[-1])
            store.save(
                epoch,
                {
                    "env_step": env_step,
                    "update_step": update_step,
                    "actor": actor.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "curves": curves,
                    "wall_s": curves[-1]["wall_s"],
                    "fixed": fixed.state(),
                },
            )
            bar.set_postfix(reward=f"{curves[-1]['reward']:.3f}", kl=f"{update_stats.get('kl', 0.0):.4f}")
        selection = fixed.finish(actor, curves, store)
    summary = {**_run_summary(params, curves, started, start_epoch, store), **selection}
    return AlignmentRun(actor.model, pd.DataFrame(curves), summary)
