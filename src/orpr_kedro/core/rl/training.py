"""What the PPO and RLOO trainers share: the run's result, the actor and its frozen reference, curve rows, run facts."""

from __future__ import annotations

import copy
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import pandas as pd

from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import RLAlignmentParams
from orpr_kedro.core.rl.actor_critic import (
    ContextCache,
    FoundationActor,
    check_cached_logits,
)
from orpr_kedro.core.rl.checkpoints import CheckpointStore
from orpr_kedro.core.rl.env import (
    LaneContext,
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
