"""The trained foundation model as a policy, and its saved payload.

Nothing here imports Kedro; :class:`FoundationPolicy` takes plain arrays or a
feature frame plus the state (on hand, on order), so a simulator can call it. The
payload holds the configuration, the weights and the :class:`~orpr_kedro.core.learning.inputs.Normalisation`
fitted on the training split.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any, cast

import numpy as np
import pandas as pd
import torch

from orpr_kedro.core.learning.inputs import (
    DecisionInputs,
    ModelTensors,
    Normalisation,
    model_tensors,
)
from orpr_kedro.core.learning.network import FoundationModel, ModelConfig
from orpr_kedro.core.simulation.actions import ActionGrid, ActionKind

__all__ = ["PAYLOAD_FORMAT", "FoundationPolicy", "floor_index"]

PAYLOAD_FORMAT = "orpr_kedro.foundation_model/1"


def floor_index(floor: Mapping[Any, int], keys: np.ndarray) -> np.ndarray:
    """The lowest grid index allowed for each row: its key's entry in ``floor`` (0 where it has none)."""
    keys = np.asarray(keys)
    allowed = np.zeros(len(keys), dtype=np.int64)
    for key, index in floor.items():
        allowed[keys == key] = int(index)
    return allowed


class FoundationPolicy:
    """The trained network as a policy: states in, coverage decisions out.

    Takes :class:`DecisionInputs` (or a feature frame plus ``on_hand`` / ``on_order``
    arrays) for any number of lanes, runs the network in eval mode under
    ``torch.inference_mode`` in batches of ``batch_size`` rows, and returns the
    argmax of the decision logits as a grid index or as coverage days.

    ``service_floor``: per category, the lowest grid index the policy may choose (the
    payload's ``metadata.service_floor``, written by rl_alignment where the deployed
    network lost to tuned base-stock on validation); rows of other categories are free.
    """

    def __init__(
        self,
        model: FoundationModel,
        normalisation: Normalisation,
        batch_size: int = 4096,
        service_floor: Sequence[Mapping[str, Any]] = (),
    ) -> None:
        self.model = model.eval()
        self.normalisation = normalisation
        self.batch_size = int(batch_size)
        self.service_floor = [dict(entry) for entry in service_floor]

    def floor_by(self, key: str) -> dict[Any, int]:
        """The floor as ``{category name or code: grid index}`` (``key``: ``category`` or ``category_code``)."""
        return {entry[key]: int(entry["index"]) for entry in self.service_floor}

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def coverage_grid(self) -> np.ndarray:
        """The action values (coverage days or service levels), index = decision-head class."""
        return np.asarray(self.model.config.coverage_grid, dtype="float64")

    @property
    def action_grid(self) -> ActionGrid:
        """The decision head's action grid (kind and values)."""
        return ActionGrid(cast(ActionKind, self.model.config.action_kind), self.coverage_grid)

    # ---------------------------------------------------------------- payload
    def to_payload(self, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Weights, configuration and normalisation as plain types and tensors.

        The payload loads with ``torch.load(..., weights_only=True)``: it holds only
        dicts, lists, strings, numbers and tensors.
        """
        return {
            "format": PAYLOAD_FORMAT,
            "config": self.model.config.to_dict(),
            "normalisation": self.normalisation.to_dict(),
            "state_dict": {name: tensor.detach().clone() for name, tensor in self.model.state_dict().items()},
            "metadata": dict(metadata or {}),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], batch_size: int = 4096) -> FoundationPolicy:
        """Rebuild the policy from :meth:`to_payload` output (e.g. the catalog's ``mdl_foundation_model``)."""
        if payload.get("format") != PAYLOAD_FORMAT:
            raise ValueError(
                f"not a foundation-model payload: format {payload.get('format')!r}, expected {PAYLOAD_FORMAT!r}"
            )
        model = FoundationModel(ModelConfig.from_dict(payload["config"]))
        model.load_state_dict(payload["state_dict"])
        floor = dict(payload.get("metadata", {})).get("service_floor", [])
        return cls(model, Normalisation.from_dict(payload["normalisation"]), batch_size=batch_size, service_floor=floor)

    # ---------------------------------------------------------------- inference
    def tensors(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> ModelTensors:
        """Network inputs for a batch of states."""
        if isinstance(inputs, pd.DataFrame):
            inputs = DecisionInputs.from_frame(inputs, on_hand=on_hand, on_order=on_order)
        return model_tensors(inputs, self.normalisation)

    def logits_from_tensors(self, tensors: ModelTensors) -> torch.Tensor:
        """Decision logits ``[N, K]`` of prepared tensors."""
        self.model.eval()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(tensors), self.batch_size):
                batch = tensors.index(slice(start, start + self.batch_size))
                chunks.append(self.model.decision_logits(*batch.network_inputs()))
        return torch.cat(chunks) if chunks else torch.zeros(0, self.config.n_coverages)

    def logits(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Decision logits ``[N, K]``."""
        return self.logits_from_tensors(self.tensors(inputs, on_hand, on_order)).numpy()

    def decide_index(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Grid index ``[N]`` of the chosen coverage (at least the service floor of the row's category)."""
        if isinstance(inputs, pd.DataFrame):
            inputs = DecisionInputs.from_frame(inputs, on_hand=on_hand, on_order=on_order)
        index = self.logits_from_tensors(self.tensors(inputs)).argmax(dim=1).numpy()
        if self.service_floor:
            index = np.maximum(index, floor_index(self.floor_by("category_code"), inputs.category_code))
        return index

    def decide(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """The chosen action's value ``[N]`` per lane (coverage days, or a service level)."""
        return self.coverage_grid[self.decide_index(inputs, on_hand, on_order)]

    __call__ = decide

    def forecast(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Demand quantiles ``[N, H, Q]`` (units/day) of the forecast head, floored at 0."""
        tensors = self.tensors(inputs, on_hand, on_order)
        self.model.eval()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(tensors), self.batch_size):
                batch = tensors.index(slice(start, start + self.batch_size))
                fused = self.model.encode(*batch.network_inputs())
                chunks.append(self.model.forecast_from(fused) * batch.level[:, None, None])
        shape = (0, self.config.forecast_horizon, len(self.config.quantiles))
        out = torch.cat(chunks).numpy() if chunks else np.zeros(shape, dtype="float32")
        return np.maximum(out, 0.0)
