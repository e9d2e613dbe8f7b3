"""The acceptance targets of the evaluation checked against the measured KPIs (shares and ratios).

Each target is one row: the requirement, the measured value, met or not, and the value as
printed. Costs compare as ratios (``0.95`` = 5 % cheaper) or relative gaps (``-0.05``), in-stock
rates and turnover days as differences; the targets against the strongest classic baseline
are added where the KPI table names one (``reference_policy``).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orpr_kedro.core.rl.deploy import ALIGNED


def target_checks(kpis: pd.DataFrame, decision_time: pd.DataFrame, targets, policy: str = "orpr") -> pd.DataFrame:
    """The acceptance targets of the evaluation against the measured KPIs (scope ``all``).

    ``targets`` carries ``max_cost_ratio_vs_incumbent``, ``max_cost_gap_vs_or`` and
    ``min_speedup_vs_or`` (see :class:`orpr_kedro.core.params.EvaluationTargets`).
    """
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    speed = decision_time.set_index("policy")
    me, incumbent, teacher = overall.loc[policy], overall.loc["incumbent"], overall.loc["or_policy"]
    baseline_rows = _baseline_targets(overall, policy, targets) if "reference_policy" in kpis.columns else []
    cost_ratio = me["total_cost"] / incumbent["total_cost"]
    gap = me["total_cost"] / teacher["total_cost"] - 1.0
    speedup = speed.loc["or_policy", "ms_per_1000_decisions"] / speed.loc[policy, "ms_per_1000_decisions"]
    rows = [
        (
            "total cost vs incumbent",
            f"<= {targets.max_cost_ratio_vs_incumbent:.2f} x incumbent",
            cost_ratio,
            cost_ratio <= targets.max_cost_ratio_vs_incumbent,
            f"{cost_ratio:.3f} x",
        ),
        (
            "in-stock rate vs incumbent",
            ">= incumbent",
            me["in_stock_rate"] - incumbent["in_stock_rate"],
            me["in_stock_rate"] >= incumbent["in_stock_rate"],
            f"{me['in_stock_rate']:.2%} vs {incumbent['in_stock_rate']:.2%}",
        ),
        (
            "turnover days vs incumbent",
            "<= incumbent",
            me["turnover_days"] - incumbent["turnover_days"],
            me["turnover_days"] <= incumbent["turnover_days"],
            f"{me['turnover_days']:.2f} vs {incumbent['turnover_days']:.2f} days",
        ),
        (
            "total cost vs OR policy",
            f"<= OR x {1 + targets.max_cost_gap_vs_or:.2f}",
            gap,
            gap <= targets.max_cost_gap_vs_or,
            f"{100 * gap:+.1f}%",
        ),
        (
            "decision speed vs OR policy",
            f">= {targets.min_speedup_vs_or:g} x faster",
            speedup,
            speedup >= targets.min_speedup_vs_or,
            f"{speedup:,.0f} x faster",
        ),
    ]
    return pd.DataFrame(baseline_rows + rows, columns=["target", "requirement", "value", "met", "measured"]).assign(
        policy=policy
    )


def _baseline_targets(overall: pd.DataFrame, policy: str, targets) -> list[tuple]:
    """The targets against the strongest classic baseline (the table's ``reference_policy``)."""
    baseline = str(overall["reference_policy"].dropna().iloc[0])
    me, bar, teacher = overall.loc[policy], overall.loc[baseline], overall.loc["or_policy"]
    ratio = me["total_cost"] / bar["total_cost"]
    high = me.get("total_cost_change_vs_reference_ci_high", np.nan)
    in_stock_gap = me["in_stock_rate"] - bar["in_stock_rate"]
    teacher_ratio = teacher["total_cost"] / bar["total_cost"]
    return [
        (
            f"total cost vs {baseline}",
            f"<= {targets.max_cost_ratio_vs_baseline:.2f} x, paired interval below zero",
            ratio,
            bool(ratio <= targets.max_cost_ratio_vs_baseline and high < 0),
            f"{ratio:.3f} x (interval up to {high:+.1%})",
        ),
        (
            f"in-stock vs {baseline}",
            f">= {baseline} - {100 * targets.max_in_stock_drop_vs_baseline:.1f} points",
            in_stock_gap,
            bool(in_stock_gap >= -targets.max_in_stock_drop_vs_baseline),
            f"{me['in_stock_rate']:.2%} vs {bar['in_stock_rate']:.2%}",
        ),
        (
            f"OR teacher vs {baseline}",
            f"<= {baseline}",
            teacher_ratio,
            bool(teacher_ratio <= 1.0),
            f"{teacher_ratio:.3f} x",
        ),
        *_alignment_target(overall.loc[ALIGNED] if ALIGNED in overall.index else me, ALIGNED in overall.index),
    ]


def _alignment_target(me: pd.Series, apart: bool = False) -> list[tuple]:
    """Aligned against pretrained: the paired interval of the cost change entirely below zero.

    ``me``: the row carrying the change (``total_cost_change_vs_pretrained``): the aligned
    network's, evaluated apart from ORPR without the service floor (``apart``), or ORPR's
    in tables that have no such row.
    """
    change = me.get("total_cost_change_vs_pretrained", np.nan)
    if pd.isna(change):
        return []
    low, high = me["total_cost_change_vs_pretrained_ci_low"], me["total_cost_change_vs_pretrained_ci_high"]
    measured = f"{change:+.1%} [{low:+.1%}, {high:+.1%}]"
    if apart:
        measured += " (both networks without ORPR's service floor)"
    return [
        ("aligned vs pretrained", "paired interval of the cost change below zero", change, bool(high < 0), measured)
    ]


def paired_change(intervals: pd.DataFrame, policy: str, suffix: str) -> dict[str, float]:
    """The overall paired cost change of ``policy`` in a bootstrap table, as ``total_cost_change_vs_<suffix>`` columns."""
    row = intervals[
        (intervals["policy"] == policy)
        & (intervals["scope"] == "all")
        & (intervals["metric"] == "total_cost_change_vs_reference")
    ]
    if row.empty:
        return {}
    first = row.iloc[0]
    name = f"total_cost_change_vs_{suffix}"
    return {
        name: float(first["value"]),
        f"{name}_ci_low": float(first["ci_low"]),
        f"{name}_ci_high": float(first["ci_high"]),
    }
