"""PPO with a KL anchor: :class:`AnchoredPPO` (a Tianshou 2.0 ``PPO``) and its trainer :func:`train_ppo`.

Every update adds ``kl_coef x KL(pi || pi_ref)`` (exact, summed over the grid) to the
actor loss, with ``pi_ref`` the frozen pretrained policy (Tianshou has no such term
built in). Training runs through Tianshou's ``OnPolicyTrainer`` on
:class:`~orpr_kedro.core.rl.env.LaneVectorEnv`, one checkpoint per epoch.
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from dataclasses import dataclass
from typing import Any, cast

import gymnasium as gym
import numpy as np
import pandas as pd
import torch
from numba import njit
from tianshou.algorithm import PPO
from tianshou.algorithm.modelfree.a2c import A2CTrainingStats
from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy
from tianshou.data import (
    Collector,
    CollectStats,
    ReplayBuffer,
    SequenceSummaryStats,
    VectorReplayBuffer,
    to_numpy,
)
from tianshou.data.types import LogpOldProtocol, RolloutBatchProtocol
from tianshou.trainer import OnPolicyTrainerParams

from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import RLAlignmentParams
from orpr_kedro.core.rl.actor_critic import (
    ActorCriticAdam,
    FoundationActor,
    ValueCritic,
    categorical_kl,
    derived_seed,
    seed_epoch,
    torch_runtime,
)
from orpr_kedro.core.rl.checkpoints import CheckpointLogger, CheckpointStore, run_fingerprint
from orpr_kedro.core.rl.env import (
    WEEK,
    LaneContext,
    LaneEpisodes,
    LaneVectorEnv,
    observation_space,
)
from orpr_kedro.core.rl.training import AlignmentRun, FixedEpisodes, _actor_and_reference, _curve_row, _run_summary

logger = logging.getLogger(__name__)


@njit(cache=True)
def _gae_per_step(  # noqa: PLR0917 - Tianshou's GAE arguments, the discount one per step
    v_s: np.ndarray, v_s_: np.ndarray, rew: np.ndarray, end_flag: np.ndarray, gamma: np.ndarray, gae_lambda: float
) -> np.ndarray:
    """Tianshou's generalised advantage estimate with the discount ``gamma`` given per step."""
    advantage = np.zeros(rew.shape)
    delta = rew + v_s_ * gamma - v_s
    discount = (1.0 - end_flag) * (gamma * gae_lambda)
    gae = 0.0
    for i in range(len(rew) - 1, -1, -1):
        gae = delta[i] + discount[i] * gae
        advantage[i] = gae
    return advantage


class StepDiscount:
    """The discount of a step from its observation: ``gamma ** (days / 7)`` with the days of the row's lane's review interval."""

    def __init__(self, context: LaneContext) -> None:
        lanes = context.data.lane_arrays
        self.key = context.layout.key
        self.days = lanes.review_period[context.rows.row_lane].astype(np.float64)

    def __call__(self, obs: np.ndarray, gamma: float) -> np.ndarray:
        rows = np.rint(obs[:, self.key]).astype(np.int64)
        return float(gamma) ** (self.days[rows] / WEEK)


@dataclass(kw_only=True)
class AnchoredPPOTrainingStats(A2CTrainingStats):
    kl: SequenceSummaryStats


class AnchoredPPO(PPO):
    """PPO whose actor loss adds ``kl_coef x KL(pi || pi_ref)`` toward a frozen reference policy.

    The reference logits are computed once per collected batch (``ref_logits``), the
    KL is exact over the action grid and its mean per minibatch is logged with the
    entropy (:attr:`update_log`).
    """

    def __init__(
        self,
        *,
        reference: FoundationActor,
        kl_coef: float,
        step_discount: StepDiscount | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(**kwargs)
        self.kl_coef = float(kl_coef)
        self._reference = (reference,)  # a tuple: not a submodule, so not trained, saved or moved
        self.step_discount = step_discount
        self.update_log: dict[str, list[float]] = defaultdict(list)

    def compute_episodic_return(  # type: ignore[override]  # Tianshou's static method, with a discount per step
        self,
        batch: RolloutBatchProtocol,
        buffer: ReplayBuffer,
        indices: np.ndarray,
        v_s_: np.ndarray | torch.Tensor | None = None,
        v_s: np.ndarray | torch.Tensor | None = None,
        gamma: float = 0.99,
        gae_lambda: float = 0.95,
    ) -> tuple[np.ndarray, np.ndarray]:
        """GAE as Tianshou computes it; with :attr:`step_discount`, each step discounted by its own length.

        At review cadence one step is one review interval of its lane (a day for a lane
        reviewed daily, a week for one reviewed weekly); ``gamma`` is per week, so a step
        of ``L`` days is discounted by ``gamma ** (L / 7)`` (a semi-Markov discount).
        """
        if self.step_discount is None or v_s_ is None or v_s is None:
            return PPO.compute_episodic_return(batch, buffer, indices, v_s_, v_s, gamma, gae_lambda)
        discount = self.step_discount(np.asarray(batch.obs), gamma)
        next_value = to_numpy(v_s_).flatten() * PPO.value_mask(buffer, indices)
        value = to_numpy(v_s).flatten()
        end_flag = np.logical_or(batch.terminated, batch.truncated)
        end_flag[np.isin(indices, buffer.unfinished_index())] = True
        advantage = _gae_per_step(
            value, next_value, np.asarray(batch.rew, dtype=np.float64), end_flag, discount, float(gae_lambda)
        )
        return advantage + value, advantage

    @property
    def reference(self) -> FoundationActor:
        return self._reference[0]

    def _preprocess_batch(
        self, batch: RolloutBatchProtocol, buffer: ReplayBuffer, indices: np.ndarray
    ) -> LogpOldProtocol:
        batch = super()._preprocess_batch(batch, buffer, indices)
        with torch.no_grad():
            chunks = [
                self.reference.logits(cast(np.ndarray | torch.Tensor, part.obs))
                for part in batch.split(self.max_batchsize, shuffle=False, merge_last=True)
            ]
        batch.ref_logits = torch.cat(chunks)
        return batch

    def _update_with_batch(  # type: ignore[override]  # the batch also carries ref_logits (_preprocess_batch)
        self, batch: LogpOldProtocol, batch_size: int | None, repeat: int
    ) -> AnchoredPPOTrainingStats:
        losses, clip_losses, vf_losses, entropies, kls = [], [], [], [], []
        gradient_steps = 0
        for _ in range(repeat):
            for minibatch in batch.split(batch_size or -1, merge_last=True):
                gradient_steps += 1
                advantages = minibatch.adv
                dist = self.policy(minibatch).dist
                if self.advantage_normalization:
                    advantages = (advantages - advantages.mean()) / (advantages.std() + self._eps)
                ratios = (dist.log_prob(minibatch.act) - minibatch.logp_old).exp().float()
                surrogate = ratios * advantages
                clipped = ratios.clamp(1.0 - self.eps_clip, 1.0 + self.eps_clip) * advantages
                clip_loss = -torch.min(surrogate, clipped).mean()
                value = self.critic(minibatch.obs).flatten()
                vf_loss = (minibatch.returns - value).pow(2).mean()
                entropy = dist.entropy().mean()
                kl = categorical_kl(dist.logits, minibatch.ref_logits).mean()
                loss = clip_loss + self.kl_coef * kl + self.vf_coef * vf_loss - self.ent_coef * entropy
                self.optim.step(loss)
                clip_losses.append(clip_loss.item())
                vf_losses.append(vf_loss.item())
                entropies.append(entropy.item())
                kls.append(kl.item())
                losses.append(loss.item())
        for name, values in (("kl", kls), ("entropy", entropies), ("actor_loss", clip_losses), ("vf_loss", vf_losses)):
            self.update_log[name].extend(values)
        return AnchoredPPOTrainingStats(
            loss=SequenceSummaryStats.from_sequence(losses),
            actor_loss=SequenceSummaryStats.from_sequence(clip_losses),
            vf_loss=SequenceSummaryStats.from_sequence(vf_losses),
            ent_loss=SequenceSummaryStats.from_sequence(entropies),
            kl=SequenceSummaryStats.from_sequence(kls),
            gradient_steps=gradient_steps,
        )

    def pop_update_log(self) -> dict[str, float]:
        """Means of the logged update statistics since the last call; then clear."""
        means = {name: float(np.mean(values)) if values else float("nan") for name, values in self.update_log.items()}
        self.update_log = defaultdict(list)
        return means


def train_ppo(pretrained: FoundationPolicy, context: LaneContext, params: RLAlignmentParams, seed: int) -> AlignmentRun:
    """Fine-tune with :class:`AnchoredPPO` through Tianshou's on-policy trainer (see the module docstring)."""
    ppo = params.ppo
    episodes = LaneEpisodes(
        context, params.n_envs, params.episode_weeks, params.reward, seed, params.demand, params.cadence
    )
    # one rollout: as many steps as n_envs whole episodes take (at review cadence their steps differ)
    steps_per_collect = params.n_envs * max(1, round(episodes.mean_episode_steps()))
    started = time.perf_counter()
    with torch_runtime(params.threads):
        torch.manual_seed(derived_seed(seed, 0))
        actor, reference = _actor_and_reference(pretrained, context, params.freeze)
        critic = ValueCritic(context.layout, actor.model.config.n_categories, ppo.critic_hidden)
        policy = DiscreteActorPolicy(
            actor=actor,
            action_space=gym.spaces.Discrete(context.n_actions),
            observation_space=observation_space(context.layout),
            deterministic_eval=True,
        )
        algorithm = AnchoredPPO(
            policy=policy,
            critic=critic,
            optim=ActorCriticAdam(ppo.actor_learning_rate, ppo.critic_learning_rate),
            reference=reference,
            kl_coef=params.kl_coef,
            eps_clip=ppo.eps_clip,
            vf_coef=ppo.vf_coef,
            ent_coef=ppo.ent_coef,
            max_grad_norm=ppo.max_grad_norm,
            gae_lambda=ppo.gae_lambda,
            gamma=ppo.gamma,
            max_batchsize=4096,
            advantage_normalization=True,
            step_discount=StepDiscount(context) if params.cadence == "review" else None,
        )
        env = LaneVectorEnv(episodes)
        collector: Collector[CollectStats] = Collector(
            algorithm, env, VectorReplayBuffer(steps_per_collect * params.collects_per_epoch, params.n_envs)
        )

        store = CheckpointStore(
            params.checkpoint_dir, run_fingerprint(params, seed, actor.model, context), params.retained_checkpoints
        )
        state = store.last(params.epochs) if params.resume else None
        curves: list[dict[str, float]] = []
        restored = (0, 0, 0)
        fixed = FixedEpisodes(context, params, seed)
        if state is None:
            fixed.start(actor)
        else:
            algorithm.load_state_dict(state["algorithm"])
            fixed.load(state.get("fixed"))
            curves = list(state["curves"])
            restored = (int(state["epoch"]), int(state["env_step"]), int(state["update_step"]))
            logger.info(
                "Resuming RL alignment from %s (epoch %d of %d)", store.path(restored[0]), restored[0], params.epochs
            )
        seeded_epoch = [restored[0]]

        def training_fn(epoch: int, env_step: int) -> None:  # noqa: ARG001 - Tianshou's signature
            if epoch != seeded_epoch[0]:  # first training step of an epoch: fresh, seeded episodes
                seeded_epoch[0] = epoch
                seed_epoch(seed, epoch, episodes)
                collector.reset_env()
                episodes.clear_stats()
                algorithm.pop_update_log()

        def save_checkpoint_fn(epoch: int, env_step: int, update_step: int) -> str:
            curves.append(
                _curve_row(epoch, env_step, update_step, started, episodes.pop_stats(), algorithm.pop_update_log())
            )
            curves[-1]["wall_s"] += float(state["wall_s"]) if state is not None else 0.0
            fixed.after_epoch(epoch, actor, curves[-1])
            return str(
                store.save(
                    epoch,
                    {
                        "env_step": env_step,
                        "update_step": update_step,
                        "algorithm": algorithm.state_dict(),
                        "actor": actor.state_dict(),  # the epoch's weights alone (keep: average reads them)
                        "curves": curves,
                        "wall_s": curves[-1]["wall_s"],
                        "fixed": fixed.state(),
                    },
                )
            )

        if restored[0] < params.epochs:
            trainer_params = OnPolicyTrainerParams(
                training_collector=collector,
                max_epochs=params.epochs,
                epoch_num_steps=steps_per_collect * params.collects_per_epoch,
                collection_step_num_env_steps=steps_per_collect,
                batch_size=ppo.batch_size,
                update_step_num_repetitions=ppo.repeat,
                training_fn=training_fn,
                save_checkpoint_fn=save_checkpoint_fn,
                logger=CheckpointLogger(restored),
                resume_from_log=True,
                show_progress=params.progress_bar,
                verbose=False,
            )
            algorithm.run_training(trainer_params)
        selection = fixed.finish(actor, curves, store)
    summary = {**_run_summary(params, curves, started, restored[0], store), **selection}
    return AlignmentRun(actor.model, pd.DataFrame(curves), summary)
