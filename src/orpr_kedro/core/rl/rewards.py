"""Rewards of the RL environment, per lane and decision interval.

**Reward** (see :func:`reward_terms`) = ``w_sim`` x simulation reward + ``w_rule`` x
rule reward. Simulation reward = -(holding + lost-sale + ordering cost of the 7 days) /
scale, with scale = the lane's mean weekly demand x unit cost on the training period
(currency per week, floored at ``min_scale``), so a reward of -0.1 means "costs of 10% of
the value of a week's demand" on every lane; with ``scale: pooled`` every lane is divided
by the mean of those scales, so the reward is proportional to the currency cost. Rule terms: ``band`` -(days outside the
category's band) / (grid range), ``turnover`` -|v - target turnover days| / target,
``or_agreement`` -|index - OR label index| / (grid size - 1) where an OR label exists,
``promotion`` (on decision dates with ``min_promo_days`` promoted days ahead, replacing
the turnover term) -|v - expert coverage| / expert coverage. Each term is logged
weighted, so the terms sum to the reward.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from orpr_kedro.core.params import Band, RewardParams
from orpr_kedro.core.rl.observation import LaneContext

__all__ = ["COST_FIELDS", "REWARD_TERMS", "RuleTargets", "reward_terms"]

REWARD_TERMS = ("sim", "band", "turnover", "or_agreement", "promotion")
COST_FIELDS = ("holding_cost", "lost_sales_cost", "order_cost")


def _bands(categories: np.ndarray, bands: Mapping[str, Band], grid: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    low = np.full(len(categories), float(grid.min()) if len(grid) else 0.0)
    high = np.full(len(categories), float(grid.max()) if len(grid) else np.inf)
    for category in np.unique(categories):
        band = bands.get(str(category), bands.get("default"))
        if band is not None:
            rows = categories == category
            low[rows], high[rows] = band.min, band.max
    return low, high


@dataclass(frozen=True)
class RuleTargets:
    """What the rule reward compares each row's coverage with: band ``[low, high]`` and promotion flag ``[R]``."""

    band_low: np.ndarray
    band_high: np.ndarray
    promotion: np.ndarray

    @classmethod
    def build(cls, context: LaneContext, params: RewardParams) -> RuleTargets:
        """Bands from ``params.bands`` (or the context's default bands), promotions from ``min_promo_days``."""
        low, high = _bands(context.rows.row_category, params.bands or context.default_bands, context.grid.coverage_grid)
        promotion = (context.rows.promo_days >= params.min_promo_days) & (context.rows.expert_coverage > 0)
        return cls(low, high, promotion)


def reward_terms(
    context: LaneContext,
    rules: RuleTargets,
    rows: np.ndarray,
    action: np.ndarray,
    costs: Mapping[str, np.ndarray],
    params: RewardParams,
    weeks: float = 1.0,
    *,
    coverage: np.ndarray,
) -> dict[str, np.ndarray]:
    """Weighted reward terms (they sum to the reward) for actions taken on ``rows``.

    ``action`` (grid indices), ``coverage`` (the actions' coverage days on the decision
    date: the grid value, or a service level's equivalent coverage) and the cost arrays
    (currency over ``weeks`` weeks) have any common shape ending in ``len(rows)`` (e.g.
    ``[k, n]`` for k sampled actions).
    """
    total_cost = costs["holding_cost"] + costs["lost_sales_cost"] + costs["order_cost"]
    sim = -total_cost / (context.scale[context.rows.row_lane[rows]] * weeks)

    low, high = rules.band_low[rows], rules.band_high[rows]
    span = context.grid.coverage_grid
    grid_range = max(float(span.max() - span.min()), 1.0) if len(span) else np.maximum(high - low, 1.0)
    band = -np.maximum(np.maximum(low - coverage, coverage - high), 0.0) / grid_range

    promotion_row = rules.promotion[rows]
    target = np.maximum(context.rows.target_turnover[rows], 1e-9)
    turnover = np.where(promotion_row, 0.0, -np.abs(coverage - target) / target)
    expert = np.maximum(context.rows.expert_coverage[rows], 1e-9)
    promotion = np.where(promotion_row, -np.abs(coverage - expert) / expert, 0.0)

    label = context.or_index[rows]
    steps = max(context.n_actions - 1, 1)
    agreement = np.where(label >= 0, -np.abs(action - label) / steps, 0.0)

    rule = params.w_rule
    return {
        "sim": params.w_sim * sim,
        "band": rule * params.band * band,
        "turnover": rule * params.turnover * turnover,
        "or_agreement": rule * params.or_agreement * agreement,
        "promotion": rule * params.promotion * promotion,
    }
