"""Is the OR model calibrated? Its expected cost of the plans it chose against the cost they realised.

On every decision date the OR policy predicts, from its own demand scenarios, the total
cost of the plan it picks over the decision interval (the week it holds it:
:attr:`~orpr_kedro.core.optimization.window.CandidateCosts.interval_total_cost`). Summed
over the scored weeks and the lanes of a category, that prediction is held against the
total cost the same policy then realised on the actual demand (the evaluation's lane
KPIs). A calibrated model's expected cost is close to its realised cost; a model whose
scenarios are too narrow expects less than it pays.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

__all__ = ["CALIBRATION_TOLERANCE", "calibration_table"]

CALIBRATION_TOLERANCE = 0.05
"""Relative error of the overall expected cost the acceptance check allows (±5%)."""


def calibration_table(
    expected: pd.DataFrame, lane_kpis: pd.DataFrame, score_from: pd.Timestamp, policy: str = "or_policy"
) -> pd.DataFrame:
    """Expected against realised total cost of ``policy``, per category and overall (``category`` = ``all``).

    ``expected``: ``decision_date``, ``lane_id``, ``category``, ``expected_cost`` (the OR
    policy's :attr:`~orpr_kedro.core.evaluation.or_policy.ORPolicy.expected_costs`);
    dates before ``score_from`` (the burn-in) are left out, as the KPIs leave them out.
    ``lane_kpis``: the evaluation's per-lane KPIs (``policy``, ``category``,
    ``total_cost``). Columns: ``n_lanes``, ``n_weeks``, ``expected_cost``,
    ``realised_cost`` (currency), ``error`` = expected / realised - 1, and
    ``within_tolerance`` (``|error| <= 5%``).
    """
    scored = expected[pd.DatetimeIndex(expected["decision_date"]) >= pd.Timestamp(score_from)]
    realised = lane_kpis[lane_kpis["policy"] == policy]
    if scored.empty or realised.empty:
        raise ValueError(f"no scored expected costs or no realised KPIs of {policy!r} to compare")
    by_expected = scored.groupby("category")["expected_cost"].sum()
    by_realised = realised.groupby("category")["total_cost"].sum()
    weeks = scored["decision_date"].nunique()
    rows = []
    for category in sorted(set(by_expected.index) | set(by_realised.index), key=str):
        rows.append(
            {
                "category": category,
                "n_lanes": int((realised["category"] == category).sum()),
                "expected_cost": float(by_expected.get(category, 0.0)),
                "realised_cost": float(by_realised.get(category, 0.0)),
            }
        )
    rows.append(
        {
            "category": "all",
            "n_lanes": len(realised),
            "expected_cost": float(by_expected.sum()),
            "realised_cost": float(by_realised.sum()),
        }
    )
    table = pd.DataFrame(rows)
    table.insert(2, "n_weeks", int(weeks))
    with np.errstate(divide="ignore", invalid="ignore"):
        table["error"] = np.where(
            table["realised_cost"] > 0, table["expected_cost"] / table["realised_cost"] - 1.0, np.nan
        )
    table["within_tolerance"] = table["error"].abs() <= CALIBRATION_TOLERANCE
    return table
