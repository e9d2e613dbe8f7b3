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

Modules: :mod:`~orpr_kedro.core.rl.actor_critic` (actor, critic, context cache,
runtime), :mod:`~orpr_kedro.core.rl.ppo`, :mod:`~orpr_kedro.core.rl.rloo`,
:mod:`~orpr_kedro.core.rl.checkpoints`, :mod:`~orpr_kedro.core.rl.training` (shared
trainer pieces); this module chooses the algorithm, saves the aligned payload and
builds the lane context from the persisted tables.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.optimization.labeling import labeling_data
from orpr_kedro.core.params import ORLabelingParams, RLAlignmentParams
from orpr_kedro.core.rl.env import (
    WEEK,
    LaneContext,
    ObservationLayout,
    build_lane_context,
)
from orpr_kedro.core.rl.ppo import train_ppo
from orpr_kedro.core.rl.rloo import train_rloo
from orpr_kedro.core.rl.training import AlignmentRun, _pretrained_copy
from orpr_kedro.core.simulation.actions import check_label_grid


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
    (7 days, or ``rloo.horizon_weeks`` weeks for RLOO, from any day of the week at the
    review cadence) of actual demand before the validation start. The reward scale is always the training period's.

    Raises:
        ValueError: when the OR labels do not point into the model's coverage grid, or
            ``period`` is neither ``train`` nor ``validation``.
    """
    if period == "train":
        start, end = splits.first_decision_date, splits.validation_start
        horizon = WEEK * params.rloo.horizon_weeks if params.algorithm == "rloo" else WEEK
        if params.algorithm == "rloo" and params.cadence == "review":
            horizon += WEEK - 1  # RLOO's candidates run their horizon from any day of the row's week
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
    grid = policy.action_grid
    check_label_grid(
        labels, grid, "the foundation model's action grid", "rerun or_labeling and pretraining with the same grid"
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
