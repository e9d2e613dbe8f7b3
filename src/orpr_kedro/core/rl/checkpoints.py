"""Checkpoints of an alignment run: one per epoch, keyed by a fingerprint of the run's inputs.

An epoch depends only on the weights and optimiser state at its start (see
:func:`~orpr_kedro.core.rl.actor_critic.seed_epoch`), so resuming from the last
checkpoint continues the same run and gives the same weights as an uninterrupted run.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Mapping
from dataclasses import fields
from pathlib import Path
from typing import Any

import numpy as np
import torch
from tianshou.utils.logger.logger_base import LazyLogger

from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.params import RLAlignmentParams
from orpr_kedro.core.rl.env import (
    LaneContext,
)

logger = logging.getLogger(__name__)


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

    def load(self, epoch: int) -> dict[str, Any] | None:
        """The checkpoint of ``epoch`` when it is kept, readable and of this run; else ``None``."""
        path = self.path(epoch)
        if not path.exists():
            return None
        try:
            state = torch.load(path, weights_only=True, map_location="cpu")
        except Exception as error:  # a damaged file
            logger.warning("Skipping unreadable checkpoint %s: %s", path, error)
            return None
        return state if state.get("fingerprint") == self.fingerprint else None

    def last(self, max_epoch: int | None = None) -> dict[str, Any] | None:
        """The newest checkpoint of this run at or before ``max_epoch``, or ``None``.

        A run asked for fewer epochs than an earlier run of the same configuration
        reached must not continue from the later epoch: it resumes from its own last
        epoch when that checkpoint is still kept, and trains afresh otherwise.
        """
        epochs = sorted(int(path.stem.removeprefix("epoch_")) for path in self.folder.glob("epoch_*.pt"))
        for epoch in reversed(epochs):
            if max_epoch is not None and epoch > max_epoch:
                continue
            state = self.load(epoch)  # a damaged or foreign file: fall back to the one before
            if state is not None:
                return state
        return None


def run_fingerprint(params: RLAlignmentParams, seed: int, model: FoundationModel, context: LaneContext) -> str:
    """Hash of the inputs that determine an alignment run.

    Not ``epochs`` (more epochs continue the same run), ``resume``, the progress bar,
    the validation settings, which weights are kept at the end (``fixed_episodes.keep``:
    every run keeps the checkpoints that any choice reads) or the checkpoint folder and
    retention.
    """
    settings = params.model_dump(
        mode="json",
        exclude={
            "epochs": True,
            "resume": True,
            "progress_bar": True,
            "validation": True,
            "checkpoint_dir": True,
            "keep_checkpoints": True,
            "fixed_episodes": {"keep"},
        },
    )
    digest = hashlib.sha256(json.dumps({"params": settings, "seed": int(seed)}, sort_keys=True).encode())
    for name, tensor in sorted(model.state_dict().items()):
        digest.update(name.encode())
        digest.update(tensor.detach().cpu().numpy().tobytes())
    digest.update(context.static_obs.tobytes())
    digest.update(np.ascontiguousarray(context.or_index).tobytes())
    for values in _dynamics(context):
        digest.update(np.ascontiguousarray(values).tobytes())
    return digest.hexdigest()


def _dynamics(context: LaneContext) -> list[np.ndarray]:
    """What the episodes simulate beyond the observations: which rows can be stepped, demand, forecasts, lanes, errors."""
    period, rows = context.data, context.rows
    lanes = period.lane_arrays
    numeric = [f.name for f in fields(lanes) if f.name not in ("table", "lane_id", "category")]  # costs, lead times
    arrays = [rows.steps_left, rows.or_on_hand, rows.or_on_order, period.demand, period.forecast_cube]
    arrays += [period.dispersion, context.scale, *(getattr(lanes, name) for name in numeric)]
    arrays += [values for values in (period.forecast_bias, period.level_sd) if values is not None]
    return [np.asarray(values, dtype=np.float64) for values in arrays]


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
