"""The network's observation of a (lane, decision date, state), cached per row of a period.

**Observation** = the foundation model's input for (lane, decision date, state),
flattened into one float32 vector (:class:`ObservationLayout`): the scaled
history+forecast sequence and its real-day flags, the standardised attribute/state
features, the standardised business targets, the category code, and a last entry, the
row key of the (lane, date) in the :class:`~orpr_kedro.core.simulation.rows.DecisionRows`
(the network does not read it; a frozen encoder's output is cached under it).
Everything that does not depend on the inventory state is computed once per (lane,
date) when the :class:`LaneContext` is built; an observation recomputes only the state
features (on hand, on order and position in units and in days of cover,
:func:`~orpr_kedro.core.simulation.conventions.days_of_cover` at the
:func:`~orpr_kedro.core.simulation.conventions.daily_rate`). The context checks at build
time that this shortcut reproduces :func:`orpr_kedro.core.learning.network.model_tensors`
exactly.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch

from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation, model_tensors
from orpr_kedro.core.params import Band, RewardParams
from orpr_kedro.core.simulation.actions import ActionGrid, LaneRisk, as_action_grid
from orpr_kedro.core.simulation.conventions import WEEK, daily_rate, days_of_cover
from orpr_kedro.core.simulation.period import Period
from orpr_kedro.core.simulation.policies import Decision
from orpr_kedro.core.simulation.rows import DecisionRows, build_decision_rows

__all__ = ["LaneContext", "ObservationLayout", "build_lane_context", "lane_context_from_rows"]


# --------------------------------------------------------------------------- observation layout
@dataclass(frozen=True)
class ObservationLayout:
    """Where each network input sits in the flat float32 observation.

    ``[sequence (L x 2, day-major: value, real flag) | state (S) | targets (B) | category | row key]``.
    """

    sequence_days: int
    n_state: int
    n_targets: int

    @property
    def sequence(self) -> slice:
        return slice(0, 2 * self.sequence_days)

    @property
    def state(self) -> slice:
        start = 2 * self.sequence_days
        return slice(start, start + self.n_state)

    @property
    def targets(self) -> slice:
        start = 2 * self.sequence_days + self.n_state
        return slice(start, start + self.n_targets)

    @property
    def category(self) -> int:
        return 2 * self.sequence_days + self.n_state + self.n_targets

    @property
    def key(self) -> int:
        return self.category + 1

    @property
    def size(self) -> int:
        return self.key + 1

    @property
    def network_size(self) -> int:
        """Entries that are network input (all but the row key)."""
        return self.key

    def flatten(
        self, sequence: np.ndarray, state: np.ndarray, targets: np.ndarray, category: np.ndarray, key: np.ndarray
    ) -> np.ndarray:
        """Flat observations ``[N, size]`` (float32) from the network inputs and the row keys."""
        n = len(state)
        out = np.empty((n, self.size), dtype=np.float32)
        out[:, self.sequence] = np.asarray(sequence, dtype=np.float32).reshape(n, -1)
        out[:, self.state] = state
        out[:, self.targets] = targets
        out[:, self.category] = category
        out[:, self.key] = key
        return out

    def split(self, obs: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(sequence [B, L, 2], state [B, S], category [B] long, targets [B, T], row key [B] long)``."""
        batch = obs.shape[0]
        return (
            obs[:, self.sequence].reshape(batch, self.sequence_days, 2),
            obs[:, self.state],
            obs[:, self.category].round().long(),
            obs[:, self.targets],
            obs[:, self.key].round().long(),
        )


# --------------------------------------------------------------------------- context
def _state_dependent_columns(on_hand: np.ndarray, on_order: np.ndarray, daily: np.ndarray) -> dict[str, np.ndarray]:
    """The encoder-2 features that depend on the inventory state (same definitions as ``learning.network``)."""
    on_hand, on_order = np.maximum(on_hand, 0.0), np.maximum(on_order, 0.0)
    return {
        "on_hand_cover_days": days_of_cover(on_hand, daily),
        "on_order_cover_days": days_of_cover(on_order, daily),
        "position_cover_days": days_of_cover(on_hand + on_order, daily),
        "on_hand_units": on_hand,
        "on_order_units": on_order,
    }


@dataclass
class LaneContext:
    """What only the network and RL need about a period's decision rows.

    ``rows`` (:class:`~orpr_kedro.core.simulation.rows.DecisionRows`) holds the
    state-independent part of every (lane, decision date); on top of it: the action
    ``grid`` of the decision head (:class:`~orpr_kedro.core.simulation.actions.ActionGrid`)
    with the period's lane ``risk`` (what service-level actions need), the observation cache (``static_obs`` ``[R,
    size]``, ``raw_state`` ``[R, S]`` before scaling, ``daily_forecast`` ``[R]``
    units/day), the rule reward's ``default_bands`` and the simulation reward's
    ``scale`` ``[N]`` (currency per week, indexed by ``lane_id``).
    """

    rows: DecisionRows
    grid: ActionGrid
    risk: LaneRisk
    layout: ObservationLayout
    normalisation: Normalisation
    static_obs: np.ndarray
    raw_state: np.ndarray
    daily_forecast: np.ndarray
    state_index: dict[str, int]
    default_bands: dict[str, Band]
    scale: np.ndarray

    @property
    def data(self) -> Period:
        """Demand, forecasts and lanes of the period."""
        return self.rows.period

    @property
    def n_rows(self) -> int:
        return self.rows.n_rows

    @property
    def n_actions(self) -> int:
        return self.grid.n_actions

    def levels(self, rows: np.ndarray, index: np.ndarray, n_days: int, offset=None) -> np.ndarray:
        """Order-up-to levels (units) of actions ``index`` (``[n]`` or ``[k, n]``) on decision ``rows`` ``[n]``.

        ``offset`` (days after the rows' decision dates, scalar or ``[n]``): the levels of
        a review day within the week, built from the forecast shifted to it.
        """
        lanes = self.rows.row_lane[rows]
        return self.grid.levels(self.rows.forecast(rows, offset), index, n_days, self.risk.take(lanes))

    def decision(
        self, rows: np.ndarray, index: np.ndarray, n_days: int, forecast: np.ndarray | None = None, **extra
    ) -> Decision:
        """The harness decision of actions ``index`` ``[n]`` on ``rows``.

        ``forecast`` ``[n, F]``: the path the levels are built from (the harness's, shifted
        to a review day); by default the rows' own forecast.
        """
        lanes = self.rows.row_lane[rows]
        path = self.rows.forecast(rows) if forecast is None else forecast
        return self.grid.decision(path, index, n_days, self.risk.take(lanes), **extra)

    @property
    def or_index(self) -> np.ndarray:
        """OR label (grid index, ``-1`` where none) of every row."""
        return self.rows.or_index

    def observe(self, rows: np.ndarray, on_hand: np.ndarray, on_order: np.ndarray) -> np.ndarray:
        """Flat observations ``[n, size]`` of ``rows`` in the given states (units)."""
        obs = self.static_obs[rows]
        raw = self.raw_state[rows]
        for name, values in _state_dependent_columns(on_hand, on_order, self.daily_forecast[rows]).items():
            if name in self.state_index:
                raw[:, self.state_index[name]] = values
        obs[:, self.layout.state] = self.normalisation.state(raw)
        return obs


def lane_context_from_rows(
    rows: DecisionRows,
    normalisation: Normalisation,
    grid: ActionGrid | np.ndarray,
    *,
    scale: np.ndarray | None = None,
    bands: Mapping[str, Band] | None = None,
) -> LaneContext:
    """The observation cache of ``rows`` for a network with ``normalisation`` and action ``grid``.

    ``scale`` (reward scale per lane, currency per week) and ``bands`` (rule-reward
    bands) matter only for RL; evaluation leaves them out (scale 1, no bands).

    Raises:
        ValueError: when the OR labels point outside the grid.
        RuntimeError: when the fast observation path no longer matches ``model_tensors``.
    """
    grid = as_action_grid(grid)
    if (rows.or_index >= grid.n_actions).any():
        raise ValueError(
            "mi_or_labels coverage_index points outside the action grid; rerun or_labeling with the current grid"
        )
    features = rows.features
    inputs = DecisionInputs.from_frame(features, on_hand=np.zeros(len(features)), on_order=np.zeros(len(features)))
    tensors = model_tensors(inputs, normalisation)
    layout = ObservationLayout(tensors.sequence.shape[1], tensors.state.shape[1], tensors.targets.shape[1])
    keys = np.arange(len(features), dtype=np.float32)
    static_obs = layout.flatten(
        tensors.sequence.numpy(), tensors.state.numpy(), tensors.targets.numpy(), tensors.category.numpy(), keys
    )
    context = LaneContext(
        rows=rows,
        grid=grid,
        risk=LaneRisk.of_period(rows.period),
        layout=layout,
        normalisation=normalisation,
        static_obs=static_obs,
        raw_state=inputs.raw_state_features(),
        daily_forecast=daily_rate(inputs.forecast, WEEK),
        state_index={name: i for i, name in enumerate(normalisation.state_names)},
        default_bands=dict(bands or {}),
        scale=np.ones(rows.period.n_lanes) if scale is None else np.asarray(scale, dtype=np.float64),
    )
    _check_fast_observations(context, inputs)
    return context


def reward_scale(
    period: Period, start: pd.Timestamp, end: pd.Timestamp, min_scale: float, kind: str = "lane"
) -> np.ndarray:
    """Mean weekly demand value ``[N]`` (currency per week) of each lane over ``[start, end)``, floored.

    ``kind="pooled"``: every lane gets the mean of those values (one scale for all).
    """
    lanes = period.lane_arrays
    first, last = period.day(start), period.day(end)
    weekly_demand = period.demand[:, first:last].mean(axis=1) * WEEK if last > first else np.zeros(lanes.n_lanes)
    scale = np.maximum(weekly_demand * lanes.unit_cost, min_scale)
    return np.full_like(scale, scale.mean()) if kind == "pooled" and len(scale) else scale


def build_lane_context(
    features: pd.DataFrame,
    labels: pd.DataFrame,
    data: Period,
    normalisation: Normalisation,
    grid: ActionGrid | np.ndarray,
    *,
    start: pd.Timestamp,
    end: pd.Timestamp,
    scale_start: pd.Timestamp,
    scale_end: pd.Timestamp,
    reward: RewardParams,
    bands: Mapping[str, Band],
    max_lead_time: int,
    horizon_days: int = WEEK,
) -> LaneContext:
    """Precompute the state-independent part of every (lane, decision date) in ``[start, end]``.

    Args:
        features: ``mi_decision_features``.
        labels: ``mi_or_labels`` (OR label and the OR trajectory's state per lane and date).
        data: demand, forecasts and lanes (:func:`orpr_kedro.core.simulation.period.build_period`).
        normalisation: the pretrained model's scaling.
        grid: action grid of the decision head.
        start, end: decision dates from ``start`` to ``end`` inclusive are rows; a row
            can be stepped from when its ``horizon_days`` of demand end by ``end``
            (so ``end`` itself is only ever a next observation).
        scale_start, scale_end: period whose mean weekly demand value scales the
            simulation reward (the training period).
        reward: reward parameters (scale floor; the promotion threshold of ``promotion``,
            the flag reports use).
        bands: per-category coverage bands of the band term when ``reward.bands`` is empty.
        max_lead_time: longest lead time drawn (days).
        horizon_days: days of actual demand a step needs.

    Raises:
        ValueError: when no decision date of the features falls in the period.
        RuntimeError: when the fast observation path no longer matches ``model_tensors``
            (``orpr_kedro.core.learning.network`` changed its state features).
    """
    rows = build_decision_rows(
        features,
        labels,
        data,
        start=start,
        end=end,
        min_promo_days=reward.min_promo_days,
        max_lead_time=max_lead_time,
        horizon_days=horizon_days,
    )
    scale = reward_scale(data, scale_start, scale_end, reward.min_scale, reward.scale)
    return lane_context_from_rows(rows, normalisation, grid, scale=scale, bands=bands)


def _check_fast_observations(context: LaneContext, inputs: DecisionInputs, n_check: int = 64) -> None:
    """The per-step shortcut must equal the model's own scaling (guards against drift in ``models``)."""
    rng = np.random.default_rng(0)
    rows = rng.choice(context.n_rows, size=min(n_check, context.n_rows), replace=False)
    on_hand = rng.gamma(1.0, 20.0, size=len(rows))
    on_order = np.where(rng.random(len(rows)) < 0.5, 0.0, rng.gamma(1.0, 10.0, size=len(rows)))
    probe = inputs.subset(rows)
    probe.on_hand, probe.on_order = on_hand, on_order
    expected = model_tensors(probe, context.normalisation)
    fast = torch.from_numpy(context.observe(rows, on_hand, on_order))
    sequence, state, category, targets, _ = context.layout.split(fast)
    mismatch = {
        "sequence": (sequence - expected.sequence).abs().max().item(),
        "state": (state - expected.state).abs().max().item(),
        "targets": (targets - expected.targets).abs().max().item(),
        "category": (category - expected.category).abs().max().item(),
    }
    if max(mismatch.values()) > 1e-4:
        raise RuntimeError(
            f"the RL observation shortcut no longer matches orpr_kedro.core.learning.network.model_tensors (max abs differences {mismatch}); "
            "update _state_dependent_columns in orpr_kedro.core.rl.env"
        )
