"""How the report names and prints things: policy labels and descriptions, the KPI columns, Markdown tables.

Numbers print with the pattern of their column; a missing or non-finite value prints as ``-``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

POLICY_LABELS = {
    "incumbent": "Incumbent rule",
    "base_stock": "Forecast base-stock",
    "tuned_base_stock": "Tuned base-stock",
    "or_policy": "OR policy",
    "baseline_learner": "Baseline learner",
    "pretrained": "Pretrained network",
    "orpr": "ORPR (aligned)",
    "or_hindsight": "Hindsight OR",
}

POLICY_DESCRIPTIONS = {
    "incumbent": "today's rule: order up to the category's target turnover days of forecast demand.",
    "base_stock": "order up to a critical-fractile quantile of demand over lead time plus review (negative-binomial forecast spread); the textbook newsvendor fractile of each SKU-DC.",
    "tuned_base_stock": "the same base-stock policy with its service level chosen per category by simulation on the validation period (the bar a planner could set without ORPR).",
    "or_policy": "the integer program re-solved every week from the current stock: each SKU-DC's coverage is chosen by simulating every candidate against demand scenarios sampled from the forecast with its measured out-of-sample error (bias and level error per category), under the category's lost-sales budget (1 - alpha).",
    "baseline_learner": "a gradient-boosted classifier trained on the OR labels (the yardstick the network must beat).",
    "pretrained": "the foundation network after supervised pretraining on the OR labels.",
    "orpr": "the pretrained network after reinforcement-learning alignment in the simulator: the policy ORPR deploys.",
    "or_hindsight": "the OR program solved every week on the actual future demand (lead times still uncertain): what knowing demand is worth to the OR model. It is not a strict bound: it still picks one coverage per week from the grid, myopically over its horizon, under the category budgets.",
}

KPI_COLUMNS = (
    ("total_cost", "total cost", "{:,.0f}"),
    ("holding_cost", "holding", "{:,.0f}"),
    ("lost_sales_cost", "lost sales", "{:,.0f}"),
    ("order_cost", "ordering", "{:,.0f}"),
    ("lost_units", "lost units", "{:,.0f}"),
    ("turnover_days", "turnover days", "{:.2f}"),
    ("in_stock_rate", "in-stock", "{:.2%}"),
    ("n_orders", "orders", "{:,.0f}"),
)


def _fmt(value, pattern: str) -> str:
    if value is None or (isinstance(value, float) and not math.isfinite(value)):
        return "-"
    return pattern.format(value)


def markdown_table(frame: pd.DataFrame, formats: Mapping[str, str] | None = None) -> str:
    """A GitHub-style Markdown table; ``formats`` maps columns to ``str.format`` patterns."""
    formats = dict(formats or {})
    header = "| " + " | ".join(str(c) for c in frame.columns) + " |"
    rule = "|" + "|".join("---" for _ in frame.columns) + "|"
    lines = [header, rule]
    for row in frame.itertuples(index=False):
        cells = [
            _fmt(v, formats[c]) if c in formats and not isinstance(v, str) else str(v)
            for c, v in zip(frame.columns, row, strict=True)
        ]
        lines.append("| " + " | ".join(cell.replace("|", "/") for cell in cells) + " |")
    return "\n".join(lines)


def _label(policy: str) -> str:
    return POLICY_LABELS.get(policy, policy)


def _with_interval(row: pd.Series, metric: str, pattern: str) -> str:
    value = _fmt(row.get(metric), pattern)
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return value
    return f"{value} [{_fmt(low, pattern)}, {_fmt(high, pattern)}]"
