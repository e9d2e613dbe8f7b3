"""RL alignment of the pretrained foundation model: PPO (Tianshou 2.0) with a KL anchor, and RLOO.

The pretrained network is the actor: its decision-head logits feed a
``torch.distributions.Categorical`` over the coverage grid (no second softmax). A
frozen copy of it is the reference policy ``pi_ref``; every update adds
``kl_coef x KL(pi || pi_ref)`` (exact, summed over the grid) to the actor loss, so
the aligned policy improves its own simulated cost while staying close to the
OR-shaped behaviour. Two algorithms share the environment, rewards, KL anchor and
checkpoints:

* ``ppo`` (default): :class:`AnchoredPPO`, a subclass of Tianshou's ``PPO`` whose
  actor loss carries the KL term (Tianshou has none built in), a new critic
  (:class:`ValueCritic`, an MLP on the observation), trained by Tianshou's
  ``OnPolicyTrainer`` on :class:`~orpr_kedro.core.rl.env.LaneVectorEnv` (procedural
  API: policy, algorithm, collector, trainer parameters).
* ``rloo``: REINFORCE leave-one-out as in the paper (:func:`train_rloo`): k coverages
  sampled per state, each simulated from that same state in ONE simulator call (the
  candidate axis), advantage = reward - mean reward of the other k-1, policy-gradient
  loss plus the same KL anchor. It is a small trainer of its own rather than a
  Tianshou algorithm because Tianshou's collector takes one action per environment and
  step, while RLOO needs k counterfactual actions from the same state, which the
  batched simulator evaluates directly.

Frozen parts (``freeze``): ``context`` keeps the sequence (history + forecast) and
target encoders frozen; their pooled outputs depend only on (lane, date), so they are
computed once per row of the lane context and looked up by the observation's row key
(:class:`ContextCache`) in every rollout and update. ``encoders`` trains the decision
head only; ``none`` trains everything (no cache for the actor).

Reproducibility: the seed fixes the weights of the critic, and at the start of every
epoch the episode/lead-time generator, numpy's and torch's global generators are
reseeded from (seed, epoch); torch runs with fixed threads and deterministic
algorithms. An epoch therefore depends only on the weights and optimiser state at
its start, which a checkpoint (one per epoch) stores: resuming from the last
checkpoint continues the same run and gives the same weights as an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import copy
import hashlib
import json
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import gymnasium as gym
import numba
import numpy as np
import pandas as pd
import torch
from tianshou.algorithm import PPO
from tianshou.algorithm.modelfree.a2c import A2CTrainingStats
from tianshou.algorithm.modelfree.reinforce import DiscreteActorPolicy
from tianshou.algorithm.optim import OptimizerFactory
from tianshou.data import (
    Collector,
    ReplayBuffer,
    SequenceSummaryStats,
    VectorReplayBuffer,
)
from tianshou.data.types import LogpOldProtocol, RolloutBatchProtocol
from tianshou.trainer import OnPolicyTrainerParams
from tianshou.utils.logger.logger_base import LazyLogger
from tianshou.utils.net.common import AbstractDiscreteActor
from torch import nn
from torch.nn import functional as F
from tqdm.auto import tqdm

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.optimization.labeling import labeling_data
from orpr_kedro.core.params import ORLabelingParams, RLAlignmentParams
from orpr_kedro.core.rl.env import (
    WEEK,
    LaneContext,
    LaneEpisodes,
    LaneVectorEnv,
    ObservationLayout,
    build_lane_context,
    observation_space,
)

__all__ = [
    "AlignmentRun",
    "AnchoredPPO",
    "CheckpointStore",
    "ContextCache",
    "FoundationActor",
    "ValueCritic",
    "aligned_payload",
    "alignment_context",
    "categorical_kl",
    "decision_logits",
    "train_alignment",
    "train_ppo",
    "train_rloo",
]

logger = logging.getLogger(__name__)

# The branch of the network that reads the inventory state, and the fusion: everything else among
# FoundationModel.ENCODER_MODULES (sequence and target encoders) depends only on (lane, date).
STATE_BRANCH = ("state_tokens", "category_embedding", "state_encoder", "fusion_logits")


def context_parameters(model: FoundationModel) -> list[nn.Parameter]:
    """Parameters of the encoders whose output does not depend on the inventory state."""
    parameters: list[nn.Parameter] = []
    for name in model.ENCODER_MODULES:
        if name not in STATE_BRANCH:
            item = getattr(model, name)
            parameters.extend([item] if isinstance(item, nn.Parameter) else item.parameters())
    return parameters


# --------------------------------------------------------------------------- reproducibility
def derived_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived from the run seed and keys (e.g. the epoch)."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1)[0])


@contextlib.contextmanager
def torch_runtime(threads: int) -> Iterator[None]:
    """Fixed torch threads, a serial simulator and deterministic algorithms for the block (restored after).

    One torch thread is the default: the per-step batches are small, and two OpenMP
    threads on a 2-core machine shared with another process are many times slower
    than one.
    """
    previous_threads, previous_numba = torch.get_num_threads(), numba.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    # the simulator runs tiny per-step batches: serial numba (set first, as it can reset OpenMP's thread count)
    numba.set_num_threads(1)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        numba.set_num_threads(previous_numba)
        torch.set_num_threads(previous_threads)


def seed_epoch(seed: int, epoch: int, episodes: LaneEpisodes | None = None) -> None:
    """Reseed numpy's and torch's global generators and the episodes for one epoch."""
    np.random.seed(derived_seed(seed, epoch, 1))
    torch.manual_seed(derived_seed(seed, epoch, 2))
    if episodes is not None:
        episodes.seed(np.random.SeedSequence([int(seed), int(epoch), 3]))


# --------------------------------------------------------------------------- networks
def categorical_kl(logits: torch.Tensor, reference_logits: torch.Tensor) -> torch.Tensor:
    """``KL(pi || pi_ref)`` per row of two logit tensors ``[B, K]`` (nats), exact over the grid."""
    log_p = F.log_softmax(logits, dim=-1)
    log_q = F.log_softmax(reference_logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _without_dropout(model: FoundationModel) -> FoundationModel:
    """RL needs the same distribution when sampling and when scoring an action: no dropout."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


class ContextCache:
    """Pooled sequence and target encodings ``[R, d]`` of every row of a lane context.

    Computed once with the (frozen) encoders by running the model's own ``encode`` on
    every row and recording the two encoders' outputs (forward hooks), so the cache
    holds exactly what the network computes.
    """

    def __init__(self, model: FoundationModel, context: LaneContext, batch_size: int = 4096) -> None:
        captured: dict[str, torch.Tensor] = {}

        def recorder(name: str) -> Callable:
            def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
                captured[name] = output.detach()

            return hook

        handles = [
            model.sequence_encoder.register_forward_hook(recorder("sequence")),
            model.target_encoder.register_forward_hook(recorder("targets")),
        ]
        sequences, targets = [], []
        try:
            with torch.no_grad():
                for start in range(0, context.n_rows, batch_size):
                    obs = torch.from_numpy(context.static_obs[start : start + batch_size])
                    sequence, state, category, target, _ = context.layout.split(obs)
                    model.encode(sequence, state, category, target)
                    sequences.append(captured["sequence"])
                    targets.append(captured["targets"])
        finally:
            for handle in handles:
                handle.remove()
        self.sequence = torch.cat(sequences)
        self.targets = torch.cat(targets)
        self.n_rows = context.n_rows


class FoundationActor(AbstractDiscreteActor):
    """The foundation model as a Tianshou discrete actor: flat observation -> decision logits.

    ``freeze``: ``none`` trains every parameter; ``context`` freezes the sequence and
    target encoders (and, once :meth:`attach` is called, reads their outputs from a
    :class:`ContextCache`); ``encoders`` freezes all encoders and the fusion (decision
    head only); ``all`` freezes everything (the reference policy).
    """

    def __init__(self, model: FoundationModel, layout: ObservationLayout, freeze: str = "none") -> None:
        super().__init__(model.config.n_coverages)
        self.model = _without_dropout(model)
        self.layout = layout
        self.freeze = freeze
        frozen: list[nn.Parameter] = []
        if freeze == "context":
            frozen = context_parameters(model)
        elif freeze == "encoders":
            frozen = model.encoder_parameters()
        elif freeze == "all":
            frozen = list(model.parameters())
        elif freeze != "none":
            raise ValueError(f"freeze must be none, context, encoders or all, got {freeze!r}")
        for parameter in frozen:
            parameter.requires_grad_(False)
        self._cache: ContextCache | None = None

    def get_preprocess_net(self) -> nn.Module:
        return nn.Identity()

    @property
    def uses_cache(self) -> bool:
        return self._cache is not None

    def attach(self, cache: ContextCache | None) -> None:
        """Read the frozen context encoders' outputs from ``cache`` (``None`` detaches)."""
        if cache is not None and self.freeze == "none":
            raise ValueError("a context cache needs frozen context encoders (freeze context, encoders or all)")
        self._cache = cache

    def logits(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Decision logits ``[B, K]`` of flat observations."""
        x = torch.as_tensor(obs, dtype=torch.float32)
        sequence, state, category, targets, key = self.layout.split(x)
        model = self.model
        if self._cache is None:
            return model.decision_logits(sequence, state, category, targets)
        pooled_state = model.state_encoder(model.state_tokens(state), condition=model.category_embedding(category))
        pooled = torch.stack([self._cache.sequence[key], pooled_state, self._cache.targets[key]], dim=1)
        fused = (pooled * model.fusion_weights[None, :, None]).sum(dim=1)
        return model.decision_head(fused)

    def forward(self, obs, state=None, info=None) -> tuple[torch.Tensor, Any]:  # noqa: ARG002 - Tianshou's signature
        return self.logits(obs), state


def check_cached_logits(actor: FoundationActor, context: LaneContext, n_rows: int = 64) -> None:
    """The cached path must give the network's own logits (guards against changes in ``FoundationModel.encode``)."""
    if not actor.uses_cache:
        return
    rows = np.linspace(0, context.n_rows - 1, min(n_rows, context.n_rows)).astype(np.int64)
    obs = torch.from_numpy(context.observe(rows, np.full(len(rows), 5.0), np.zeros(len(rows))))
    with torch.no_grad():
        cached = actor.logits(obs)
        direct = actor.model.decision_logits(*actor.layout.split(obs)[:4])
    difference = (cached - direct).abs().max().item()
    if difference > 1e-4:
        raise RuntimeError(
            f"cached encoder outputs give logits {difference:.2e} away from FoundationModel.decision_logits; "
            "FoundationActor.logits must follow FoundationModel.encode"
        )


class ValueCritic(nn.Module):
    """State value: an MLP on the flat observation (sequence, state, targets, category embedding)."""

    def __init__(self, layout: ObservationLayout, n_categories: int, hidden: int) -> None:
        super().__init__()
        self.layout = layout
        self.n_categories = n_categories
        self.category = nn.Embedding(n_categories + 1, 8)
        width = 2 * layout.sequence_days + layout.n_state + layout.n_targets + 8
        self.net = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def forward(self, obs, **kwargs: Any) -> torch.Tensor:  # noqa: ARG002
        x = torch.as_tensor(obs, dtype=torch.float32)
        sequence, state, category, targets, _ = self.layout.split(x)
        features = torch.cat(
            [sequence.flatten(1), state, targets, self.category(category.clamp(0, self.n_categories))], dim=1
        )
        return self.net(features)


class ActorCriticAdam(OptimizerFactory):
    """Adam with one learning rate for the (pretrained) actor and another for the (new) critic."""

    def __init__(self, actor_learning_rate: float, critic_learning_rate: float) -> None:
        super().__init__()
        self.actor_learning_rate = actor_learning_rate
        self.critic_learning_rate = critic_learning_rate

    def create_instances(self, module: nn.Module) -> tuple[torch.optim.Optimizer, None]:
        groups = [
            {"params": [p for p in module.actor.parameters() if p.requires_grad], "lr": self.actor_learning_rate},
            {"params": list(module.critic.parameters()), "lr": self.critic_learning_rate},
        ]
        return torch.optim.Adam(groups), None

    def _create_optimizer_for_params(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.critic_learning_rate)


# --------------------------------------------------------------------------- PPO with a KL anchor
@dataclass(kw_only=True)
class AnchoredPPOTrainingStats(A2CTrainingStats):
    kl: SequenceSummaryStats


class AnchoredPPO(PPO):
    """PPO whose actor loss adds ``kl_coef x KL(pi || pi_ref)`` toward a frozen reference policy.

    The reference logits are computed once per collected batch (``ref_logits``), the
    KL is exact over the action grid and its mean per minibatch is logged with the
    entropy (:attr:`update_log`).
    """

    def __init__(self, *, reference: FoundationActor, kl_coef: float, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        self.kl_coef = float(kl_coef)
        self._reference = (reference,)  # a tuple: not a submodule, so not trained, saved or moved
        self.update_log: dict[str, list[float]] = defaultdict(list)

    @property
    def reference(self) -> FoundationActor:
        return self._reference[0]

    def _preprocess_batch(
        self, batch: RolloutBatchProtocol, buffer: ReplayBuffer, indices: np.ndarray
    ) -> LogpOldProtocol:
        batch = super()._preprocess_batch(batch, buffer, indices)
        with torch.no_grad():
            chunks = [
                self.reference.logits(part.obs)
                for part in batch.split(self.max_batchsize, shuffle=False, merge_last=True)
            ]
        batch.ref_logits = torch.cat(chunks)
        return batch

    def _update_with_batch(
        self, batch: LogpOldProtocol, batch_size: int | None, repeat: int
    ) -> AnchoredPPOTrainingStats:  # type: ignore[override]
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


# --------------------------------------------------------------------------- checkpoints
class CheckpointStore:
    """One torch file per epoch in ``folder/<run id>/epoch_<n>.pt`` (the newest ``keep`` are kept).

    The run id is a hash of everything that determines the run (parameters that shape
    training, seed, pretrained weights, training rows), so a checkpoint is only ever
    resumed by the same run. Files load with ``weights_only=True``.
    """

    def __init__(self, folder: str | Path, fingerprint: str, keep: int | None = None) -> None:
        self.folder = Path(folder) / fingerprint[:16]
        self.fingerprint = fingerprint
        self.keep = keep

    def path(self, epoch: int) -> Path:
        return self.folder / f"epoch_{epoch:04d}.pt"

    def save(self, epoch: int, state: Mapping[str, Any]) -> Path:
        self.folder.mkdir(parents=True, exist_ok=True)
        path = self.path(epoch)
        partial = path.with_suffix(".pt.partial")
        torch.save({"fingerprint": self.fingerprint, "epoch": int(epoch), **state}, partial)
        partial.replace(path)  # never leave a half-written checkpoint under the final name
        if self.keep is not None:
            for old in sorted(self.folder.glob("epoch_*.pt"))[: -self.keep]:
                old.unlink()
        return path

    def last(self, max_epoch: int | None = None) -> dict[str, Any] | None:
        """The newest checkpoint of this run at or before ``max_epoch``, or ``None``.

        A run asked for fewer epochs than an earlier run of the same configuration
        reached must not continue from the later epoch: it resumes from its own last
        epoch when that checkpoint is still kept, and trains afresh otherwise.
        """
        files = sorted(self.folder.glob("epoch_*.pt"))
        if max_epoch is not None:
            files = [path for path in files if int(path.stem.removeprefix("epoch_")) <= max_epoch]
        for path in reversed(files):
            try:
                state = torch.load(path, weights_only=True, map_location="cpu")
            except Exception as error:  # a damaged file: fall back to the one before
                logger.warning("Skipping unreadable checkpoint %s: %s", path, error)
                continue
            if state.get("fingerprint") == self.fingerprint:
                return state
        return None


def run_fingerprint(params: RLAlignmentParams, seed: int, model: FoundationModel, context: LaneContext) -> str:
    """Hash of the inputs that determine an alignment run.

    Not ``epochs`` (more epochs continue the same run), ``resume``, the progress bar,
    the validation settings or the checkpoint folder and retention.
    """
    settings = params.model_dump(
        mode="json", exclude={"epochs", "resume", "progress_bar", "validation", "checkpoint_dir", "keep_checkpoints"}
    )
    digest = hashlib.sha256(json.dumps({"params": settings, "seed": int(seed)}, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    digest.update(context.static_obs.tobytes())
    digest.update(np.ascontiguousarray(context.or_index).tobytes())
    return digest.hexdigest()


class CheckpointLogger(LazyLogger):
    """Tianshou logger that saves a checkpoint at every epoch end and restores the counters on resume."""

    def __init__(self, restored: tuple[int, int, int] = (0, 0, 0)) -> None:
        super().__init__()
        self.restored = restored

    def save_data(self, epoch: int, env_step: int, update_step: int, save_checkpoint_fn=None) -> None:
        if save_checkpoint_fn is not None:
            save_checkpoint_fn(epoch, env_step, update_step)

    def restore_data(self) -> tuple[int, int, int]:
        return self.restored


# --------------------------------------------------------------------------- training
@dataclass
class AlignmentRun:
    """The aligned network, one curve row per epoch, and run facts (timings, resume)."""

    model: FoundationModel
    curves: pd.DataFrame
    summary: dict[str, Any]


def _pretrained_copy(policy: FoundationPolicy) -> FoundationModel:
    model = copy.deepcopy(policy.model)
    model.eval()
    return model


def _actor_and_reference(
    pretrained: FoundationPolicy, context: LaneContext, freeze: str
) -> tuple[FoundationActor, FoundationActor]:
    actor = FoundationActor(_pretrained_copy(pretrained), context.layout, freeze)
    reference = FoundationActor(_pretrained_copy(pretrained), context.layout, "all")
    cache = ContextCache(reference.model, context)  # the reference's encoders are the pretrained ones
    reference.attach(cache)
    if freeze != "none":  # frozen context encoders are still the pretrained ones: share the cache
        actor.attach(cache)
    check_cached_logits(reference, context)
    return actor, reference


def _curve_row(
    epoch: int,
    env_step: int,
    update_step: int,
    started: float,
    env_stats: Mapping[str, float],
    update_stats: Mapping[str, float],
) -> dict[str, float]:
    row = {
        "epoch": int(epoch),
        "env_steps": int(env_step),
        "update_steps": int(update_step),
        "wall_s": round(time.perf_counter() - started, 3),
    }
    row.update({name: float(value) for name, value in env_stats.items() if name != "steps"})
    row.update({name: float(value) for name, value in update_stats.items()})
    return row


def train_ppo(pretrained: FoundationPolicy, context: LaneContext, params: RLAlignmentParams, seed: int) -> AlignmentRun:
    """Fine-tune with :class:`AnchoredPPO` through Tianshou's on-policy trainer (see the module docstring)."""
    ppo = params.ppo
    steps_per_collect = params.n_envs * params.episode_weeks
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
        )
        episodes = LaneEpisodes(context, params.n_envs, params.episode_weeks, params.reward, seed)
        env = LaneVectorEnv(episodes)
        collector = Collector(
            algorithm, env, VectorReplayBuffer(steps_per_collect * params.collects_per_epoch, params.n_envs)
        )

        store = CheckpointStore(
            params.checkpoint_dir, run_fingerprint(params, seed, actor.model, context), params.keep_checkpoints
        )
        state = store.last(params.epochs) if params.resume else None
        curves: list[dict[str, float]] = []
        restored = (0, 0, 0)
        if state is not None:
            algorithm.load_state_dict(state["algorithm"])
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
            return str(
                store.save(
                    epoch,
                    {
                        "env_step": env_step,
                        "update_step": update_step,
                        "algorithm": algorithm.state_dict(),
                        "curves": curves,
                        "wall_s": curves[-1]["wall_s"],
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
    return AlignmentRun(actor.model, pd.DataFrame(curves), _run_summary(params, curves, started, restored[0], store))


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
    for _ in range(episodes.episode_weeks):
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
        episodes = LaneEpisodes(context, params.n_envs, params.episode_weeks, params.reward, seed)
        store = CheckpointStore(
            params.checkpoint_dir, run_fingerprint(params, seed, actor.model, context), params.keep_checkpoints
        )
        state = store.last(params.epochs) if params.resume else None
        curves: list[dict[str, float]] = []
        start_epoch, env_step, update_step, previous_wall = 0, 0, 0, 0.0
        if state is not None:
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
        bar = tqdm(
            range(start_epoch + 1, params.epochs + 1),
            desc="RL alignment (rloo)",
            disable=not params.progress_bar,
            leave=False,
        )
        for epoch in bar:
            seed_epoch(seed, epoch, episodes)
            episodes.clear_stats()
            log: dict[str, list[float]] = defaultdict(list)
            for _ in range(params.collects_per_epoch):
                batch = rloo_rollout(actor, episodes, rloo.k, WEEK * rloo.horizon_weeks)
                env_step += episodes.n_envs * episodes.episode_weeks
                log["candidate_reward"].append(batch.mean_reward)
                for name, values in rloo_update(actor, reference, optimizer, batch, params).items():
                    log[name].extend(values)
                update_step += 1
            update_stats = {name: float(np.mean(values)) for name, values in log.items()}
            curves.append(_curve_row(epoch, env_step, update_step, started, episodes.pop_stats(), update_stats))
            curves[-1]["wall_s"] += previous_wall
            store.save(
                epoch,
                {
                    "env_step": env_step,
                    "update_step": update_step,
                    "actor": actor.state_dict(),
                    "optimizer": optimizer.state_dict(),
                    "curves": curves,
                    "wall_s": curves[-1]["wall_s"],
                },
            )
            bar.set_postfix(reward=f"{curves[-1]['reward']:.3f}", kl=f"{update_stats.get('kl', 0.0):.4f}")
    return AlignmentRun(actor.model, pd.DataFrame(curves), _run_summary(params, curves, started, start_epoch, store))


def _run_summary(
    params: RLAlignmentParams, curves: list[dict[str, float]], started: float, resumed_from: int, store: CheckpointStore
) -> dict[str, Any]:
    """Run facts; ``wall_s`` and ``training_steps_per_s`` cover every session of the run (from the curves)."""
    last = curves[-1] if curves else {}
    wall = float(last.get("wall_s", 0.0))
    return {
        "algorithm": params.algorithm,
        "epochs": int(last.get("epoch", 0)),
        "resumed_from_epoch": int(resumed_from),
        "env_steps": int(last.get("env_steps", 0)),
        "wall_s": round(wall, 2),
        "training_steps_per_s": round(last.get("env_steps", 0) / wall, 1) if wall > 0 else 0.0,
        "session_wall_s": round(time.perf_counter() - started, 2),
        "freeze": params.freeze,
        "kl_coef": params.kl_coef,
        "checkpoint_folder": str(store.folder),
    }


def train_alignment(
    pretrained: FoundationPolicy, context: LaneContext, params: RLAlignmentParams, seed: int
) -> AlignmentRun:
    """Align with the configured algorithm; ``epochs: 0`` returns the pretrained network unchanged."""
    if params.epochs == 0:
        return AlignmentRun(
            _pretrained_copy(pretrained),
            pd.DataFrame(columns=["epoch", "env_steps", "reward"]),
            {"algorithm": params.algorithm, "epochs": 0},
        )
    trainer = train_ppo if params.algorithm == "ppo" else train_rloo
    return trainer(pretrained, context, params, seed)


def aligned_payload(
    run: AlignmentRun, pretrained: FoundationPolicy, metadata: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The aligned policy in the foundation model's payload format (``FoundationPolicy.from_payload`` loads it)."""
    model = copy.deepcopy(run.model)
    for module in model.modules():  # restore the configured dropout (removed for RL only)
        if isinstance(module, nn.Dropout):
            module.p = float(model.config.dropout)
    for parameter in model.parameters():
        parameter.requires_grad_(True)
    policy = FoundationPolicy(model.eval(), pretrained.normalisation, batch_size=pretrained.batch_size)
    plain = json.loads(json.dumps({"rl_alignment": {**run.summary, **dict(metadata or {})}}, default=str))
    return policy.to_payload(metadata=plain)


def decision_logits(
    model: FoundationModel, layout: ObservationLayout, obs: np.ndarray, batch_size: int = 4096
) -> torch.Tensor:
    """Logits ``[N, K]`` of flat observations through the model's own forward pass (no cache)."""
    chunks = []
    with torch.no_grad():
        for start in range(0, len(obs), batch_size):
            x = torch.from_numpy(np.ascontiguousarray(obs[start : start + batch_size]))
            chunks.append(model.decision_logits(*layout.split(x)[:4]))
    return torch.cat(chunks) if chunks else torch.zeros(0, model.config.n_coverages)


# --------------------------------------------------------------------------- glue
def alignment_context(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    splits: TimeSplits,
    policy: FoundationPolicy,
    params: RLAlignmentParams,
    or_params: ORLabelingParams,
    period: str,
) -> LaneContext:
    """Lane context of the training period (episodes) or the validation period (closed-loop report).

    Training rows exclude held-out categories; their steps need the reward horizon
    (7 days, or ``rloo.horizon_weeks`` weeks for RLOO) of actual demand before the
    validation start. The reward scale is always the training period's.

    Raises:
        ValueError: when the OR labels do not point into the model's coverage grid, or
            ``period`` is neither ``train`` nor ``validation``.
    """
    if period == "train":
        start, end = splits.first_decision_date, splits.validation_start
        horizon = WEEK * params.rloo.horizon_weeks if params.algorithm == "rloo" else WEEK
        if "category_holdout" in features.columns:
            features = features[~features["category_holdout"].astype(bool)]
    elif period == "validation":
        start, end, horizon = splits.validation_start, splits.test_start, WEEK
    else:
        raise ValueError(f"period must be train or validation, got {period!r}")
    return lane_context(
        features,
        labels,
        lanes,
        daily_sales,
        forecasts,
        splits,
        policy,
        params,
        or_params,
        start=start,
        end=end,
        horizon_days=horizon,
    )


def lane_context(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    splits: TimeSplits,
    policy: FoundationPolicy,
    params: RLAlignmentParams,
    or_params: ORLabelingParams,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    horizon_days: int = WEEK,
) -> LaneContext:
    """Lane context of the decision dates from ``start`` to ``end`` (inclusive) for ``policy``.

    The reward scale is the training period's.

    Raises:
        ValueError: when the OR labels do not point into the model's coverage grid.
    """
    grid = policy.coverage_grid
    index = labels["coverage_index"].to_numpy()
    if len(index) and (
        index.min() < 0 or index.max() >= len(grid) or not np.allclose(grid[index], labels["coverage_days"].to_numpy())
    ):
        raise ValueError(
            f"mi_or_labels coverage_index/coverage_days do not match the foundation model's coverage grid ({len(grid)} values "
            f"from {grid[0]} to {grid[-1]}); rerun or_labeling and pretraining with the same grid"
        )
    data = labeling_data(lanes, daily_sales, forecasts, splits.decision_dates(), splits.first_decision_date)
    return build_lane_context(
        features,
        labels,
        data,
        policy.normalisation,
        grid,
        start=start,
        end=end,
        scale_start=splits.first_decision_date,
        scale_end=splits.validation_start,
        reward=params.reward,
        bands=params.reward.bands or or_params.bands,
        max_lead_time=or_params.max_lead_time,
        horizon_days=horizon_days,
    )
