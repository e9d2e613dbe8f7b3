"""Which network ORPR deploys: the aligned policy only where alignment earned its place.

The alignment's own closed-loop run on the validation period (every policy from the
same state, on the same demand and lead-time draws) decides. With ``rule: interval``
(the default) the aligned policy replaces the pretrained network only if the paired
lane-bootstrap interval of its total-cost change lies entirely below zero: a gain a
resampling of the SKU-DCs would not erase. ``rule: point`` deploys it whenever the
change itself is negative. Either way its in-stock rate may not fall more than
``max_in_stock_drop`` below the pretrained network's: a cost gain bought with
stock-outs the planner did not ask for is not deployed. Evaluation and recommend both
read the result (the ``orpr_network`` of ``mdl_orpr_policy``), so the policy that is
reported is the one that orders.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.evaluation.bootstrap import BootstrapSettings, bootstrap_kpis
from orpr_kedro.core.params import DeployParams

__all__ = ["ALIGNED", "PRETRAINED", "TUNED_BASE_STOCK", "AlignmentGate", "alignment_gate", "service_floor"]

ALIGNED, PRETRAINED = "aligned", "pretrained"
TUNED_BASE_STOCK = "tuned_base_stock"


@dataclass(frozen=True)
class AlignmentGate:
    """The validation cost change of the aligned policy vs the pretrained one and the network deployed.

    ``change``, ``low``, ``high``: shares (-0.02 = 2% cheaper), the interval at ``level``;
    ``in_stock_change``: the aligned policy's in-stock rate minus the pretrained one's
    (share of lane-days), allowed down to ``-max_in_stock_drop``.
    """

    change: float
    low: float
    high: float
    level: float
    rule: str
    deployed: str
    in_stock_change: float = 0.0
    max_in_stock_drop: float = 1.0

    def reason(self) -> str:
        """One sentence for logs and the summary."""
        interval = (
            f"{self.change:+.2%} [{self.low:+.2%}, {self.high:+.2%}] ({self.level:.0%} paired interval), "
            f"in-stock {100 * self.in_stock_change:+.2f} points"
        )
        if self.deployed == ALIGNED:
            return f"validation change aligned vs pretrained: total cost {interval}: ORPR deploys the aligned policy"
        needed = "the interval lies below zero" if self.rule == "interval" else "the change is below zero"
        return (
            f"validation change aligned vs pretrained: total cost {interval}: ORPR deploys the pretrained network "
            f"(rule {self.rule}: the aligned policy only where {needed} and in-stock falls at most "
            f"{100 * self.max_in_stock_drop:.2f} points)"
        )


def alignment_gate(lane_kpis: pd.DataFrame, params: DeployParams, seed: int) -> AlignmentGate:
    """Decide from per-lane validation KPIs (``policy, lane_id, category`` and the accumulators).

    Raises:
        ValueError: when the frame lacks the aligned or the pretrained policy.
    """
    missing = {ALIGNED, PRETRAINED} - set(lane_kpis["policy"])
    if missing:
        raise ValueError(f"the validation lane KPIs lack the policies {sorted(missing)}")
    frame = lane_kpis[lane_kpis["policy"].isin([PRETRAINED, ALIGNED])]
    table = bootstrap_kpis(
        frame, BootstrapSettings(n_resamples=params.n_resamples, level=params.level, seed=seed), reference=PRETRAINED
    )
    row = table[
        (table["policy"] == ALIGNED) & (table["scope"] == "all") & (table["metric"] == "total_cost_change_vs_reference")
    ].iloc[0]
    change, low, high = float(row["value"]), float(row["ci_low"]), float(row["ci_high"])
    in_stock = table[(table["scope"] == "all") & (table["metric"] == "in_stock_rate")].set_index("policy")["value"]
    in_stock_change = float(in_stock[ALIGNED] - in_stock[PRETRAINED])
    better = high < 0 if params.rule == "interval" else change < 0
    kept_stock = in_stock_change >= -params.max_in_stock_drop - 1e-12
    deployed = ALIGNED if better and kept_stock else PRETRAINED
    return AlignmentGate(
        change, low, high, params.level, params.rule, deployed, in_stock_change, params.max_in_stock_drop
    )


def service_floor(
    category_kpis: pd.DataFrame,
    network: str,
    chosen_levels: pd.DataFrame,
    grid: np.ndarray,
    category_codes: pd.Series,
    baseline: str = TUNED_BASE_STOCK,
) -> list[dict]:
    """Where the deployed network lost to tuned base-stock on validation: the lowest action it may take.

    Args:
        category_kpis: the validation closed loop's KPI table (``policy``, ``scope`` = a
            category or ``all``, ``total_cost``), with ``network`` and ``baseline`` in it.
        network: the deployed network's policy name.
        chosen_levels: tuned base-stock's choice per category (``category``,
            ``service_level``; NaN where each lane's newsvendor fractile won: no floor).
        grid: the service levels of the action grid, ascending.
        category_codes: ``category -> category_code`` of the lanes.

    Returns one entry per floored category: ``category``, ``category_code``,
    ``service_level`` (tuned base-stock's), ``index`` (the first grid level at or above
    it) and both validation costs (currency).
    """
    costs = category_kpis[category_kpis["scope"] != "all"].pivot_table(
        index="scope", columns="policy", values="total_cost", aggfunc="sum"
    )
    grid = np.asarray(grid, dtype=np.float64)
    if grid.size == 0:
        raise ValueError("a service floor needs the service levels of the action grid; got none")
    floors = []
    for row in chosen_levels.itertuples(index=False):
        category, level = str(row.category), float(row.service_level)
        if np.isnan(level) or category not in costs.index:
            continue
        own, bar = float(costs.loc[category, network]), float(costs.loc[category, baseline])
        if own <= bar:
            continue
        index = min(int(np.searchsorted(grid, level - 1e-12)), len(grid) - 1)
        floors.append(
            {
                "category": category,
                "category_code": int(category_codes[category]),
                "service_level": level,
                "index": index,
                "validation_cost_network": own,
                "validation_cost_tuned_base_stock": bar,
            }
        )
    return floors
