"""How the report names and prints things: policy labels and descriptions, the KPI columns, Markdown tables.

Numbers print with the pattern or formatter of their column; a missing or non-finite
value prints as ``-``. Money prints with thousands separators and its currency in the
column header (:func:`with_unit`), shares as percentages, changes of a share in
percentage points (:func:`percentage_points`), p-values to three decimals or as
``< 0.001`` (:func:`p_value`); no number prints in scientific notation.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping

import pandas as pd

POLICY_LABELS = {
    "incumbent": "Incumbent rule",
    "base_stock": "Forecast base-stock",
    "tuned_base_stock": "Tuned base-stock",
    "or_policy": "OR policy",
    "baseline_learner": "Baseline learner",
    "pretrained": "Pretrained network",
    "orpr": "ORPR",
    "aligned": "Aligned network (no floor)",
    "or_hindsight": "Hindsight OR",
}

POLICY_DESCRIPTIONS = {
    "incumbent": "today's rule: order up to the category's target turnover days of forecast demand.",
    "base_stock": "order up to a critical-fractile quantile of demand over lead time plus review (negative-binomial forecast spread); the textbook newsvendor fractile of each SKU-DC.",
    "tuned_base_stock": "the same base-stock policy with its service level chosen per category by simulation on the validation period (the bar a planner could set without ORPR).",
    "or_policy": "the integer program re-solved at every decision from the current stock: each SKU-DC's coverage is chosen by simulating every candidate against demand scenarios sampled from the forecast with its measured out-of-sample error (bias and level error per category), under the category's lost-sales budget (1 - alpha) and its in-stock floor.",
    "baseline_learner": "a gradient-boosted classifier trained on the OR labels (the yardstick the network must beat).",
    "pretrained": "the foundation network after supervised pretraining on the OR labels.",
    "orpr": "the network ORPR deploys: the pretrained network after reinforcement-learning alignment in the simulator where alignment passed its validation gate (rpt_rl_alignment_summary), otherwise the pretrained network itself; in categories where that network cost more than tuned base-stock on validation it never orders below tuned base-stock's service level (its service floor).",
    "aligned": "the network after reinforcement-learning alignment, alone, without ORPR's service floor, so that it compares with the pretrained network like for like; where its validation gate deployed it, ORPR is this network with the floor, otherwise ORPR is the pretrained network and this one runs for the record.",
    "or_hindsight": "the OR program solved at every decision on the actual future demand (lead times still uncertain): what knowing demand is worth to the OR model. It is not a strict bound: it still picks one coverage per decision from the grid, myopically over its horizon, under the category budgets.",
}

# KPI columns: (column, title, pattern); the money columns' titles carry the currency.
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
MONEY_COLUMNS = frozenset({"total_cost", "holding_cost", "lost_sales_cost", "order_cost"})

# A column's format: a ``str.format`` pattern or a function of the (finite) value.
Format = str | Callable[[float], str]


def _missing(value) -> bool:
    return value is None or (isinstance(value, float | int) and not math.isfinite(value)) or bool(pd.isna(value))


def _fmt(value, pattern: Format) -> str:
    if _missing(value):
        return "-"
    return pattern(value) if callable(pattern) else pattern.format(value)


def with_unit(title: str, unit: str) -> str:
    """``"total cost (EUR)"``: a column title with its unit.

    >>> with_unit("total cost", "EUR")
    'total cost (EUR)'
    """
    return f"{title} ({unit})"


def signed(value: float, decimals: int = 2, unit: str = "") -> str:
    """``value`` with its sign and ``decimals``; one that rounds to zero prints unsigned.

    >>> signed(7.45471, 2, "days"), signed(-13.235, 1), signed(3.88e-17, 2, "points")
    ('+7.45 days', '-13.2', '0.00 points')
    """
    if _missing(value):
        return "-"
    text = f"{value:+,.{decimals}f}"
    if round(float(value), decimals) == 0:
        text = f"{0:.{decimals}f}"
    return f"{text} {unit}" if unit else text


def percentage_points(share: float, decimals: int = 2) -> str:
    """A change of a share (0.0179) in percentage points: ``"+1.79 points"``.

    >>> percentage_points(-0.0179), percentage_points(3.88e-17)
    ('-1.79 points', '0.00 points')
    """
    return signed(100 * share, decimals, "points")


def p_value(p: float) -> str:
    """A p-value to three decimals, ``< 0.001`` below that, ``-`` when it could not be computed.

    >>> p_value(0.008314), p_value(3.88e-17), p_value(1.0), p_value(float("nan"))
    ('0.008', '< 0.001', '1.000', '-')
    """
    if _missing(p):
        return "-"
    return "< 0.001" if p < 0.0005 else f"{p:.3f}"


def money(value: float, currency: str = "", decimals: int = 0) -> str:
    """Money with thousands separators, and ``currency`` after it when given.

    >>> money(159_100.4, "EUR"), money(1_591.2345, decimals=2), money(-13.2351, "EUR", 2)
    ('159,100 EUR', '1,591.23', '-13.24 EUR')
    """
    if _missing(value):
        return "-"
    text = f"{value:,.{decimals}f}"
    return f"{text} {currency}" if currency else text


def markdown_table(frame: pd.DataFrame, formats: Mapping[str, Format] | None = None) -> str:
    """A GitHub-style Markdown table; ``formats`` maps columns to ``str.format`` patterns or formatters."""
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


def _with_interval(row: pd.Series, metric: str, pattern: Format) -> str:
    value = _fmt(row.get(metric), pattern)
    low, high = row.get(f"{metric}_ci_low"), row.get(f"{metric}_ci_high")
    if low is None or high is None or pd.isna(low) or pd.isna(high):
        return value
    return f"{value} [{_fmt(low, pattern)}, {_fmt(high, pattern)}]"
