"""A foundation-model network as a policy of the closed-loop harness.

The network decides the argmax coverage of its decision head from its observation of
the lane, the decision date and its own simulated state
(:meth:`~orpr_kedro.core.rl.observation.LaneContext.observe`); with a reference network
it also records ``KL(policy || reference)`` on its own states (nats). The sequence and
target encoders read only the (lane, date) row, so their outputs are kept per row
(:class:`~orpr_kedro.core.rl.actor_critic.ContextCache`, filled on the first decision
of a row): a row decided on several review days of its week is encoded once.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping

import numpy as np
import torch

from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.learning.policy import floor_index
from orpr_kedro.core.rl.actor_critic import ContextCache, FoundationActor, categorical_kl
from orpr_kedro.core.rl.observation import LaneContext
from orpr_kedro.core.simulation.period import Lanes
from orpr_kedro.core.simulation.policies import Decision, DecisionState

__all__ = ["NetworkPolicy"]


class NetworkPolicy:
    """A network deciding the argmax grid index from its own state; ``reference``: KL recorded against it.

    ``service_floor``: ``{category: lowest grid index}`` (``FoundationPolicy.floor_by("category")``);
    a row of such a category never decides below it.
    """

    def __init__(
        self,
        context: LaneContext,
        model: FoundationModel,
        reference: FoundationModel | None = None,
        service_floor: Mapping[str, int] | None = None,
    ) -> None:
        self.context = context
        self.model = model
        self.reference = reference
        self.service_floor = dict(service_floor or {})
        self._actors = [self._cached(model)] + ([self._cached(reference)] if reference is not None else [])

    def _cached(self, model: FoundationModel) -> tuple[FoundationActor, ContextCache]:
        # a frozen copy: the actor switches dropout and gradients off, the caller's model stays as it is
        frozen = copy.deepcopy(model).eval()
        actor = FoundationActor(frozen, self.context.layout, freeze="all")
        cache = ContextCache(frozen, self.context, lazy=True)
        actor.attach(cache)
        return actor, cache

    def _logits(self, index: int, rows: np.ndarray, obs: np.ndarray) -> torch.Tensor:
        actor, cache = self._actors[index]
        cache.ensure(rows)
        with torch.no_grad():
            return actor.logits(obs)

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        if state.rows is None or state.on_hand is None:
            raise ValueError("a network policy needs the decision rows and its simulated state (closed loop)")
        obs = self.context.observe(state.rows, state.on_hand, state.on_order)
        logits = self._logits(0, state.rows, obs)
        kl = None
        if self.reference is not None:
            # float32 rounding leaves about -1e-8 where the two policies agree; KL itself is >= 0
            reference = self._logits(1, state.rows, obs)
            kl = categorical_kl(logits, reference).clamp_min(0.0).numpy()
        index = logits.argmax(dim=1).numpy()
        if self.service_floor:
            index = np.maximum(index, floor_index(self.service_floor, self.context.rows.row_category[state.rows]))
        return self.context.decision(state.rows, index, state.n_days, state.forecast, kl_to_reference=kl)
