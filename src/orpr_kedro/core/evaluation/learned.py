"""Learned policies in the closed loop: the baseline learner and the foundation-model networks.

Kept apart from :mod:`orpr_kedro.core.evaluation.comparison` because it needs torch: the
rules and the OR policy evaluate without it. :func:`learned_policies` turns a window's
decision rows and the learned models into policies of the harness; run the closed loop
inside :func:`~orpr_kedro.core.rl.actor_critic.torch_runtime` (re-exported here) for
deterministic, fixed-thread networks.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation
from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.rl.actor_critic import torch_runtime
from orpr_kedro.core.rl.observation import lane_context_from_rows
from orpr_kedro.core.rl.policy import NetworkPolicy
from orpr_kedro.core.simulation.actions import ActionGrid, LaneRisk, as_action_grid
from orpr_kedro.core.simulation.period import Lanes
from orpr_kedro.core.simulation.policies import Decision, DecisionState, Policy
from orpr_kedro.core.simulation.rows import DecisionRows

__all__ = ["LearnerPolicy", "NetworkPolicy", "learned_policies", "row_inputs", "torch_runtime"]


def row_inputs(rows: DecisionRows) -> DecisionInputs:
    """Decision inputs of every decision row, in row order (lane, then date), with an empty state."""
    features = rows.features
    return DecisionInputs.from_frame(features, on_hand=np.zeros(len(features)), on_order=np.zeros(len(features)))


class LearnerPolicy:
    """A learner with ``decide_index(DecisionInputs) -> grid index`` (the baseline learner).

    ``inputs`` holds the decision inputs of every row (see :func:`row_inputs`); the state
    columns are replaced by the policy's own state on each decision.
    """

    def __init__(self, learner, inputs: DecisionInputs, grid: ActionGrid, rows: DecisionRows) -> None:
        self.learner = learner
        self.inputs = inputs
        self.grid = grid
        self.rows = rows
        self.risk = LaneRisk.of_period(rows.period)

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        if state.rows is None or state.on_hand is None:
            raise ValueError("a learner needs the decision rows and its simulated state (closed loop)")
        inputs = self.inputs.subset(state.rows)
        inputs.on_hand = np.asarray(state.on_hand, dtype=np.float64)
        inputs.on_order = state.on_order
        index = np.asarray(self.learner.decide_index(inputs), dtype=np.int64)
        return self.grid.decision(state.forecast, index, state.n_days, self.risk.take(self.rows.row_lane[state.rows]))


def learned_policies(
    rows: DecisionRows,
    learners: Mapping[str, object],
    networks: Mapping[str, FoundationModel],
    normalisation: Normalisation,
    grid: ActionGrid | np.ndarray,
    service_floors: Mapping[str, Mapping[str, int]] | None = None,
) -> dict[str, Policy]:
    """Learners, then networks, as policies on ``rows``; the networks share one observation cache.

    ``normalisation`` and ``grid`` are the foundation model's (its scaling and action
    grid); every network evaluated here must share them. ``service_floors``: per
    network name, its ``{category: lowest grid index}`` (ORPR's, where it has one).
    """
    grid = as_action_grid(grid)
    policies: dict[str, Policy] = {}
    if learners:
        inputs = row_inputs(rows)
        for name, learner in learners.items():
            policies[name] = LearnerPolicy(learner, inputs, grid, rows)
    if networks:
        context = lane_context_from_rows(rows, normalisation, grid)
        for name, model in networks.items():
            policies[name] = NetworkPolicy(context, model, service_floor=(service_floors or {}).get(name))
    return policies
