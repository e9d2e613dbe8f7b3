"""What the PPO and RLOO trainers share: the run's result, the actor and its frozen reference, curve rows, run facts."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch.optim.swa_utils import AveragedModel

from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import RLAlignmentParams
from orpr_kedro.core.rl.actor_critic import (
    ContextCache,
    FoundationActor,
    check_cached_logits,
    derived_seed,
)
from orpr_kedro.core.rl.checkpoints import CheckpointStore
from orpr_kedro.core.rl.env import (
    LaneContext,
    LaneEpisodes,
)


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


class FixedEpisodes:
    """The greedy actor scored on the same training-period episodes after every epoch.

    The episodes' demand is the training's (``rl_alignment.demand``: the history, or
    scenario draws, the same draws at every call).

    ``n_episodes`` episodes (lane and start date) with their lead-time draws come from
    one seed, so every call sees the same episodes: differences between epochs are the
    policy's, not the sampling's. The epoch with the lowest mean scaled cost per
    lane-week (epoch 0: the pretrained network) is tracked with its weights; with
    ``keep: best`` :meth:`finish` loads them into the actor.
    """

    def __init__(self, context: LaneContext, params: RLAlignmentParams, seed: int) -> None:
        self.settings = params.fixed_episodes
        self.enabled = self.settings.n_episodes > 0
        self.seed = derived_seed(seed, 7_000_001)
        self.episodes = (
            LaneEpisodes(
                context,
                self.settings.n_episodes,
                params.episode_weeks,
                params.reward,
                self.seed,
                params.demand,
                params.cadence,
            )
            if self.enabled
            else None
        )
        self.best_epoch = 0
        self.best_cost = float("inf")
        self.pretrained_cost = float("nan")
        self.best_state: dict[str, torch.Tensor] | None = None

    def score(self, actor: FoundationActor) -> dict[str, float]:
        """``fixed_reward``, ``fixed_total_cost`` (currency per lane-week) and ``fixed_scaled_cost`` of the greedy actor."""
        if self.episodes is None:
            return {}
        episodes = self.episodes
        episodes.seed(self.seed)
        episodes.clear_stats()
        slots = np.arange(episodes.n_envs)
        episodes.reset(slots)
        while len(slots := slots[~episodes.finished(slots)]):  # at review cadence episodes differ in steps
            with torch.no_grad():
                actions = actor.logits(episodes.observe(slots)).argmax(dim=-1).numpy()
            episodes.advance(slots, actions)
        stats = episodes.pop_stats()
        return {
            "fixed_reward": stats["reward"],
            "fixed_total_cost": stats["total_cost"],
            "fixed_scaled_cost": stats["scaled_cost"],
        }

    def start(self, actor: FoundationActor) -> None:
        """Score the pretrained network (epoch 0) before the first epoch."""
        if self.enabled:
            cost = self.score(actor)["fixed_scaled_cost"]
            self.pretrained_cost = cost
            self.record(0, actor, cost)

    def record(self, epoch: int, actor: FoundationActor, cost: float) -> None:
        if self.enabled and cost < self.best_cost:
            self.best_epoch, self.best_cost = int(epoch), float(cost)
            self.best_state = copy.deepcopy(actor.model.state_dict())

    def after_epoch(self, epoch: int, actor: FoundationActor, row: dict[str, float]) -> None:
        """Add the epoch's fixed-episode scores to its curve row and track the best epoch."""
        stats = self.score(actor)
        row.update(stats)
        if stats:
            self.record(epoch, actor, stats["fixed_scaled_cost"])

    def state(self) -> dict[str, Any]:
        """What a checkpoint keeps of the selection."""
        return {
            "best_epoch": self.best_epoch,
            "best_cost": self.best_cost,
            "pretrained_cost": self.pretrained_cost,
            "best_state": self.best_state,
        }

    def load(self, state: Mapping[str, Any] | None) -> None:
        if state:
            self.best_epoch, self.best_cost = int(state["best_epoch"]), float(state["best_cost"])
            self.pretrained_cost, self.best_state = float(state["pretrained_cost"]), state["best_state"]

    def finish(
        self, actor: FoundationActor, curves: list[dict[str, float]], store: CheckpointStore | None = None
    ) -> dict[str, float]:
        """Load the kept weights (``keep: best`` or ``average``); returns the summary facts of the selection.

        ``keep: average`` loads the mean of the weights of the run's last
        ``average_epochs`` epochs (all of them when the run has fewer), read from their
        checkpoints in ``store``, and scores it on the fixed episodes.
        """
        last_epoch = int(curves[-1]["epoch"]) if curves else 0
        if self.settings.keep == "average" and last_epoch > 0:
            if store is None:
                raise ValueError("fixed_episodes.keep: average needs the run's checkpoints")
            first = average_weights(actor, store, last_epoch, self.settings.average_epochs)
            cost = self.score(actor).get("fixed_scaled_cost", np.nan) if self.enabled else np.nan
            return {
                "kept_epoch": float(last_epoch),
                "averaged_from_epoch": float(first),
                "fixed_scaled_cost_pretrained": self.pretrained_cost,
                "fixed_scaled_cost_kept": float(cost),
            }
        if not self.enabled:
            return {"kept_epoch": float(last_epoch)}
        kept, cost = last_epoch, float(curves[-1].get("fixed_scaled_cost", np.nan)) if curves else self.pretrained_cost
        if self.settings.keep == "best" and self.best_state is not None:
            actor.model.load_state_dict(self.best_state)
            kept, cost = self.best_epoch, self.best_cost
        return {
            "kept_epoch": float(kept),
            "fixed_scaled_cost_pretrained": self.pretrained_cost,
            "fixed_scaled_cost_kept": cost,
        }


def average_weights(actor: FoundationActor, store: CheckpointStore, last_epoch: int, n_epochs: int) -> int:
    """Load into ``actor`` the mean of its weights at epochs ``last_epoch - n_epochs + 1 .. last_epoch``.

    The weights come from the epochs' checkpoints (their ``actor`` entry); torch's
    :class:`~torch.optim.swa_utils.AveragedModel` averages them with equal weight
    (frozen parameters and buffers are the same in every epoch). Returns the first
    averaged epoch.

    Raises:
        ValueError: when one of those checkpoints is missing or holds no actor weights.
    """
    first = max(1, last_epoch - n_epochs + 1)
    averaged = AveragedModel(actor.model, use_buffers=True)  # the network alone, not the actor's encoding cache
    for epoch in range(first, last_epoch + 1):
        state = store.load(epoch)
        if state is None or "actor" not in state:
            raise ValueError(
                f"fixed_episodes.keep: average needs the actor weights of epochs {first}-{last_epoch}, but "
                f"{store.path(epoch)} is missing or has none (a run from before they were saved); set "
                "rl_alignment.resume: false to train afresh"
            )
        actor.load_state_dict(state["actor"])
        averaged.update_parameters(actor.model)
    actor.model.load_state_dict(averaged.module.state_dict())
    return first
