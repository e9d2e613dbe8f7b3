"""The planner's report: Markdown built from the evaluation tables (no Kedro, no I/O).

The text explains each policy, states every acceptance target as met or missed with
the measured value, and reads the field-test analysis in plain words. Figures are
referenced by relative path (``figures/<name>.png`` next to the report).
"""

from __future__ import annotations

import html
import math
from collections.abc import Mapping, Sequence

import markdown
import numpy as np
import pandas as pd

__all__ = ["POLICY_DESCRIPTIONS", "POLICY_LABELS", "markdown_table", "render_html", "render_report"]

POLICY_LABELS = {
    "incumbent": "Incumbent rule",
    "base_stock": "Forecast base-stock",
    "or_policy": "OR policy",
    "baseline_learner": "Baseline learner",
    "pretrained": "Pretrained network",
    "orpr": "ORPR (aligned)",
    "or_hindsight": "Hindsight OR",
}

POLICY_DESCRIPTIONS = {
    "incumbent": "today's rule: order up to the category's target turnover days of forecast demand.",
    "base_stock": "order up to a critical-fractile quantile of demand over lead time plus review (negative-binomial forecast spread).",
    "or_policy": "the integer program re-solved every week from the current stock: each SKU-DC's coverage is chosen by simulating every candidate against demand scenarios sampled from the forecast, under the category's lost-sales budget (1 - alpha).",
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


def _kpi_section(kpis: pd.DataFrame, level: float) -> list[str]:
    overall = kpis[kpis["scope"] == "all"]
    rows = []
    for _, row in overall.iterrows():
        cells = {"policy": _label(row["policy"])}
        for column, title, pattern in KPI_COLUMNS:
            cells[title] = (
                _with_interval(row, column, pattern)
                if column in ("total_cost", "turnover_days", "in_stock_rate")
                else _fmt(row[column], pattern)
            )
        cells["ms per 1,000 decisions"] = _fmt(row.get("ms_per_1000_decisions"), "{:,.1f}")
        rows.append(cells)
    per_category = kpis[kpis["scope"] != "all"].pivot(index="scope", columns="policy", values="total_cost")
    per_category = per_category[[p for p in overall["policy"] if p in per_category.columns]]
    per_category.columns = [_label(c) for c in per_category.columns]
    return [
        "## What each policy achieved",
        "",
        f"Test-period KPIs over all SKU-DCs, with {level:.0%} bootstrap intervals over SKU-DC pairs in brackets "
        "(costs in currency over the scored days; turnover days = end-of-day stock / sales; in-stock = share of days starting with stock).",
        "",
        markdown_table(pd.DataFrame(rows)),
        "",
        "![KPI comparison](figures/kpi_comparison.png)",
        "",
        "Total cost per category:",
        "",
        markdown_table(
            per_category.reset_index().rename(columns={"scope": "category"}),
            dict.fromkeys(per_category.columns, "{:,.0f}"),
        ),
        "",
    ]


def _targets_section(targets: pd.DataFrame) -> list[str]:
    table = targets.assign(result=np.where(targets["met"], "met", "**missed**"))[
        ["target", "requirement", "measured", "result"]
    ]
    missed = targets.loc[~targets["met"], "target"].tolist()
    verdict = "All targets are met." if not missed else f"Missed: {', '.join(missed)}. See the notes below the table."
    return ["## Targets", "", markdown_table(table), "", verdict, ""]


def _target_notes(
    targets: pd.DataFrame, kpis: pd.DataFrame, decision_time: pd.DataFrame, tradeoff: pd.DataFrame
) -> list[str]:
    notes = []
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    missed = set(targets.loc[~targets["met"], "target"])
    if "in-stock rate vs incumbent" in missed and "incumbent" in overall.index:
        note = (
            f"- In-stock: the incumbent holds {overall.loc['incumbent', 'turnover_days']:.1f} turnover days of stock against "
            f"ORPR's {overall.loc['orpr', 'turnover_days']:.1f}; part of its in-stock is bought with that stock."
        )
        if "or_policy" in overall.index:
            note += (
                f" ORPR learned from the OR policy, whose in-stock is {overall.loc['or_policy', 'in_stock_rate']:.2%}: the teacher's "
                "service level bounds what pretraining can reach, and alignment moves it only as far as the KL anchor allows."
            )
        if (
            "base_stock" in overall.index
            and overall.loc["base_stock", "in_stock_rate"] >= overall.loc["incumbent", "in_stock_rate"]
        ):
            note += (
                f" Forecast base-stock reaches {overall.loc['base_stock', 'in_stock_rate']:.2%} with "
                f"{overall.loc['base_stock', 'turnover_days']:.1f} turnover days, so a higher in-stock without the incumbent's stock is possible here."
            )
        reaching = tradeoff[tradeoff["in_stock_rate"] >= overall.loc["incumbent", "in_stock_rate"]].sort_values("alpha")
        if len(reaching):
            first = reaching.iloc[0]
            note += (
                f" The trade-off sweep shows the lever: with every category's alpha at {first['alpha']:g}, the OR policy reaches "
                f"{first['in_stock_rate']:.2%} in-stock at a total cost of {first['total_cost']:,.0f} and {first['turnover_days']:.1f} "
                "turnover days; labels and alignment at that service level would carry it over to ORPR."
            )
        notes.append(note)
    if "decision speed vs OR policy" in missed:
        speed = decision_time.set_index("policy")["ms_per_1000_decisions"]
        notes.append(
            f"- Speed: the OR policy needed {speed.get('or_policy', float('nan')):,.0f} ms per 1,000 decisions and ORPR "
            f"{speed.get('orpr', float('nan')):,.1f} ms. The OR models here are small (one per category and week, solved in "
            "milliseconds) and the candidate simulation is compiled, while the network runs in small weekly batches on one "
            "thread; see docs/benchmarks.md for both at scale."
        )
    if "total cost vs incumbent" in missed or "total cost vs OR policy" in missed:
        notes.append(
            "- Cost: see the per-category table for where ORPR loses; the alignment summary lists its training facts."
        )
    if "turnover days vs incumbent" in missed:
        notes.append("- Turnover: ORPR holds more stock than the incumbent; its in-stock gain is what it buys.")
    return ["Notes on missed targets:", "", *notes, ""] if notes else []


def _transfer_section(transfer: pd.DataFrame) -> list[str]:
    lines = ["## Transfer to held-out categories", ""]
    if transfer.empty:
        return [
            *lines,
            "No category was held out of training (`data_processing.splits.holdout_categories` is empty).",
            "",
        ]
    table = transfer.assign(policy=transfer["policy"].map(_label))[
        ["policy", "group", "categories", "n_lanes", "total_cost", "in_stock_rate", "gap_to_teacher", "transfer_gap"]
    ]
    return [
        *lines,
        "The learned policies never saw the held-out categories in training. `gap to OR` compares each policy's total cost "
        "with the OR policy's on the same SKU-DCs; the transfer gap is the held-out gap minus the trained gap.",
        "",
        markdown_table(
            table,
            {
                "total_cost": "{:,.0f}",
                "in_stock_rate": "{:.2%}",
                "gap_to_teacher": "{:+.1%}",
                "transfer_gap": "{:+.1%}",
            },
        ),
        "",
    ]


def _tradeoff_section(sweep: pd.DataFrame) -> list[str]:
    table = sweep[["alpha", "total_cost", "turnover_days", "in_stock_rate"]]
    return [
        "## Turnover versus in-stock",
        "",
        "The OR model re-solved at several service levels alpha (the share of demand value each category must serve) traces "
        "the stock a given in-stock rate costs; each policy is a point on the same axes.",
        "",
        "![Trade-off](figures/tradeoff.png)",
        "",
        markdown_table(
            table, {"alpha": "{:g}", "total_cost": "{:,.0f}", "turnover_days": "{:.2f}", "in_stock_rate": "{:.2%}"}
        ),
        "",
        "Inventory of sample SKU-DCs under each policy:",
        "",
        "![Trajectories](figures/trajectories.png)",
        "",
    ]


def _field_test_section(effects: pd.DataFrame, balance: pd.DataFrame, units: pd.DataFrame) -> list[str]:
    n_treated, n_control = int(units["treated"].sum()), int(units["control"].sum())
    n_rule = int(units["selected_by_rule"].sum())
    table = effects[
        ["outcome", "effect", "ci_low", "ci_high", "p_value", "true_effect", "relative_effect", "pre_trend_p_value"]
    ]
    lines = [
        "## Simulated field test (difference-in-differences)",
        "",
        f"As in the paper's field test: {n_rule} SKU-DCs were picked by a manager-like rule (high volume, stable supply) "
        f"and {n_treated} of them were matched 1:1 to {n_control} controls by propensity score on pre-period turnover and "
        "demand. Everyone runs the incumbent rule in the pre period; at the test start the treated pairs switch to ORPR. "
        "The effect is estimated by a regression with SKU-DC and day fixed effects, standard errors clustered by SKU-DC. "
        "Because this is a simulation, the same SKU-DCs were also run without the switch: the true effect is known.",
        "",
        markdown_table(
            table,
            {
                "effect": "{:.4f}",
                "ci_low": "{:.4f}",
                "ci_high": "{:.4f}",
                "p_value": "{:.3g}",
                "true_effect": "{:.4f}",
                "relative_effect": "{:+.1%}",
                "pre_trend_p_value": "{:.3g}",
            },
        ),
        "",
        "![Field test](figures/field_test.png)",
        "",
        "Covariate balance (standardised mean differences; below 0.1 is the usual bar):",
        "",
        markdown_table(balance, {c: "{:.3f}" for c in balance.columns if balance[c].dtype.kind == "f"}),
        "",
    ]
    unbalanced = balance.loc[~balance["balanced"].astype(bool), "covariate"].tolist() if "balanced" in balance else []
    if unbalanced:
        lines.append(
            f"After matching, {', '.join(unbalanced)} is still not balanced (|SMD| >= 0.1): the rule picks the highest-volume "
            "SKU-DCs and few controls are alike. The SKU-DC fixed effects absorb level differences, not different dynamics; "
            "the true effect below shows what that costs here."
        )
        lines.append("")
    for row in effects.itertuples():
        inside = "inside" if row.truth_inside_interval else "outside"
        if pd.isna(row.pre_trend_p_value):
            trend = "the pre-trend could not be tested (the outcome does not vary in the pre period)"
        elif row.parallel_trends_plausible:
            trend = "no sign of different pre-trends"
        else:
            trend = "**different pre-trends: read this estimate with care**"
        lines.append(
            f"- {row.outcome.replace('_', ' ')}: estimated {row.effect:+.4f} ({row.relative_effect:+.1%} of the counterfactual), "
            f"true {row.true_effect:+.4f}, which is {inside} the interval; {trend} (p = {row.pre_trend_p_value:.3g})."
        )
    return [*lines, ""]


def render_report(  # noqa: PLR0913 - one argument per section's table
    *,
    kpis: pd.DataFrame,
    targets: pd.DataFrame,
    decision_time: pd.DataFrame,
    transfer: pd.DataFrame,
    tradeoff: pd.DataFrame,
    effects: pd.DataFrame,
    balance: pd.DataFrame,
    units: pd.DataFrame,
    alignment: pd.DataFrame,
    period: Mapping[str, str],
    bootstrap_level: float,
    policies: Sequence[str] | None = None,
) -> str:
    """The Markdown report (see the module docstring)."""
    policies = list(policies or kpis.loc[kpis["scope"] == "all", "policy"])
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    headline = []
    if {"orpr", "incumbent"} <= set(overall.index):
        change = overall.loc["orpr", "total_cost"] / overall.loc["incumbent", "total_cost"] - 1
        low, high = (
            overall.loc["orpr"].get("total_cost_change_vs_reference_ci_low"),
            overall.loc["orpr"].get("total_cost_change_vs_reference_ci_high"),
        )
        interval = (
            f" (paired {bootstrap_level:.0%} interval over SKU-DCs: {low:+.1%} to {high:+.1%})"
            if low is not None and pd.notna(low)
            else ""
        )
        headline.append(
            f"On held-out demand ({period['start']} to {period['end']}, {period['n_lanes']} SKU-DCs), ORPR's total cost was "
            f"{change:+.1%} against the incumbent rule{interval}, with turnover {overall.loc['orpr', 'turnover_days']:.1f} days "
            f"(incumbent {overall.loc['incumbent', 'turnover_days']:.1f}) and in-stock {overall.loc['orpr', 'in_stock_rate']:.2%} "
            f"(incumbent {overall.loc['incumbent', 'in_stock_rate']:.2%})."
        )
    if {"orpr", "or_policy"} <= set(overall.index):
        gap = overall.loc["orpr", "total_cost"] / overall.loc["or_policy", "total_cost"] - 1
        headline.append(f"Against the OR policy it learned from, ORPR's cost was {gap:+.1%}.")
    lines = [
        "# ORPR evaluation report",
        "",
        " ".join(headline),
        "",
        f"Every policy ran in the same simulator on the same actual demand, the same lead-time draws and the same starting "
        f"stock; each decided every week from its own stock. A burn-in of {period['burn_in_weeks']} weeks before the test "
        "period was simulated but not scored.",
        "",
        *_targets_section(targets),
        *_target_notes(targets, kpis, decision_time, tradeoff),
        "## The policies",
        "",
        *[f"- **{_label(p)}**: {POLICY_DESCRIPTIONS.get(p, '')}" for p in policies],
        "",
        *_kpi_section(kpis, bootstrap_level),
        *_tradeoff_section(tradeoff),
        *_transfer_section(transfer),
        *_field_test_section(effects, balance, units),
        "## Alignment",
        "",
        "Facts of the RL alignment run (validation period, closed loop) and its training curves:",
        "",
        markdown_table(alignment, {"value": "{:,.4g}"}),
        "",
        "![RL curves](figures/rl_curves.png)",
        "",
    ]
    return "\n".join(lines)


def render_html(report: str, title: str = "ORPR evaluation report") -> str:
    """A standalone HTML page of the Markdown report (figures by the same relative paths)."""
    body = markdown.markdown(report, extensions=["tables"])
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
        "table{border-collapse:collapse;margin:1em 0;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}img{max-width:100%}"
    )
    return f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title><style>{style}</style></head>\n<body>\n{body}\n</body></html>\n"
