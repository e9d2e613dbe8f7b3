"""The report's section on the RL alignment: its facts, each in its unit, and its training curves."""

from __future__ import annotations

import pandas as pd

from orpr_kedro.core.evaluation.report_format import Format, _fmt, markdown_table, money, signed

__all__ = ["alignment_section", "alignment_value"]


# How each fact of the RL alignment summary prints: exact metric names first, then prefixes.
_ALIGNMENT_METRICS: dict[str, Format] = {
    "total_cost_change_pct": lambda v: f"{signed(v, 1)}%",
    "decisions_changed_share": "{:.1%}",
    "kl_coef": "{:g}",
    "training_epochs": "{:,.0f}",
    "training_env_steps": "{:,.0f}",
    "training_env_steps_per_s": "{:,.0f} steps/s",
    "training_wall_s": "{:,.1f} s",
    "promotion_decisions": "{:,.0f}",
}
_ALIGNMENT_PREFIXES: tuple[tuple[str, Format], ...] = (
    ("in_stock_rate_", "{:.2%}"),
    ("turnover_days_", "{:,.1f} days"),
    ("promotion_gap_to_expert_", "{:,.2f} days"),
    ("kl_", "{:.4f} nats"),
    ("training_reward_", "{:,.3f}"),
)


def _plain(value: float) -> str:
    """A number without a known unit: thousands separators, never scientific notation."""
    return f"{value:,.0f}" if abs(value) >= 1_000 else f"{value:,.3f}"


def alignment_value(metric: str, value: float, currency: str = "currency") -> str:
    """One fact of the RL alignment summary in its unit.

    >>> alignment_value("total_cost_pretrained", 159_100.4, "EUR"), alignment_value("total_cost_change_pct", -13.235)
    ('159,100 EUR', '-13.2%')
    >>> alignment_value("kl_aligned_to_pretrained_mean", 3.88e-17), alignment_value("in_stock_rate_aligned", 0.9509)
    ('0.0000 nats', '95.09%')
    """
    if metric.startswith("total_cost_") and metric != "total_cost_change_pct":
        return money(value, currency)
    pattern = _ALIGNMENT_METRICS.get(metric)
    if pattern is None:
        pattern = next((p for prefix, p in _ALIGNMENT_PREFIXES if metric.startswith(prefix)), _plain)
    return _fmt(value, pattern)


def alignment_section(alignment: pd.DataFrame, currency: str = "currency") -> list[str]:
    table = alignment.assign(
        value=[
            alignment_value(str(m), v, currency) for m, v in zip(alignment["metric"], alignment["value"], strict=True)
        ]
    )
    if "note" in table:
        table["note"] = table["note"].astype(str).str.replace("(currency)", f"({currency})", regex=False)
    return [
        "## Alignment",
        "",
        "Facts of the RL alignment run (validation period, closed loop) and its training curves:",
        "",
        markdown_table(table),
        "",
        "![RL curves](figures/rl_curves.png)",
        "",
    ]
