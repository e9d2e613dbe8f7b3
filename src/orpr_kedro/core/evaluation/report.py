"""The planner's report: Markdown built from the evaluation tables (no Kedro, no I/O).

The text explains each policy, states every acceptance target as met or missed with
the measured value, and reads the field-test analysis in plain words. Figures are
referenced by relative path (``figures/<name>.png`` next to the report); the HTML page
embeds them (:func:`render_html`), so it can be mailed on its own.
"""

from __future__ import annotations

import base64
import html
import math
import re
from collections.abc import Mapping, Sequence

import markdown
import numpy as np
import pandas as pd

__all__ = ["POLICY_DESCRIPTIONS", "POLICY_LABELS", "markdown_table", "render_html", "render_report"]

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


def _kpi_section(kpis: pd.DataFrame, level: float, baseline: str | None = None) -> list[str]:
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
        if baseline is not None:
            change = row.get("total_cost_change_vs_reference")
            low, high = (
                row.get("total_cost_change_vs_reference_ci_low"),
                row.get("total_cost_change_vs_reference_ci_high"),
            )
            cells[f"cost vs {_label(baseline).lower()}"] = (
                "-"
                if change is None or pd.isna(change) or row["policy"] == baseline
                else f"{change:+.1%} [{low:+.1%}, {high:+.1%}]"
            )
        cells["ms per 1,000 decisions"] = _fmt(row.get("ms_per_1000_decisions"), "{:,.1f}")
        rows.append(cells)
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
    ]


def deployment_verdict(
    kpis: pd.DataFrame,
    baseline: str,
    *,
    policy: str = "orpr",
    min_saving: float = 0.03,
    max_in_stock_drop: float = 0.005,
    min_demand_share: float = 0.01,
) -> tuple[str, str, list[str]]:
    """``(verdict, reason, categories)``: deploy, deploy for some categories, or do not deploy.

    Deploy when ``policy``'s total-cost change against ``baseline`` is at most
    ``-min_saving`` with the upper end of its paired interval below zero, and its
    in-stock is at most ``max_in_stock_drop`` (a share) below the baseline's. Otherwise the categories where
    the point estimates meet both conditions are named (deploy there, after a field
    test) among those with at least ``min_demand_share`` of the period's demand (a
    category of a few SKU-DCs says nothing on its own); none: do not deploy.
    """
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    if policy not in overall.index or baseline not in overall.index:
        return "not available", f"the KPI table lacks {policy} or {baseline}", []
    mine, bar = overall.loc[policy], overall.loc[baseline]
    change = mine["total_cost"] / bar["total_cost"] - 1.0
    in_stock_gap = mine["in_stock_rate"] - bar["in_stock_rate"]
    high = mine.get("total_cost_change_vs_reference_ci_high")
    significant = high is not None and pd.notna(high) and high < 0
    if change <= -min_saving and significant and in_stock_gap >= -max_in_stock_drop:
        return (
            "deploy",
            f"total cost {change:+.1%} against {_label(baseline).lower()} (paired interval entirely below zero) "
            f"with in-stock {_points(in_stock_gap)}",
            [],
        )
    by_category = kpis[kpis["scope"] != "all"].pivot(index="scope", columns="policy")
    share = by_category[("demand_units", baseline)] / bar["demand_units"] if "demand_units" in kpis.columns else None
    winners = [
        str(category)
        for category in by_category.index
        if (share is None or share[category] >= min_demand_share)
        and by_category.loc[category, ("total_cost", policy)]
        <= (1 - min_saving) * by_category.loc[category, ("total_cost", baseline)]
        and by_category.loc[category, ("in_stock_rate", policy)]
        >= by_category.loc[category, ("in_stock_rate", baseline)] - max_in_stock_drop
    ]
    why = []
    if change > -min_saving:
        why.append(f"total cost {change:+.1%} against {_label(baseline).lower()} (needs {-min_saving:+.0%} or better)")
    elif not significant:
        why.append(f"total cost {change:+.1%}, but its paired interval reaches zero")
    if in_stock_gap < -max_in_stock_drop:
        why.append(f"in-stock {_points(in_stock_gap)} (at most {_points(-max_in_stock_drop)} allowed)")
    reason = "; ".join(why)
    if winners:
        return "deploy for these categories", f"{reason}; it meets the bar in {', '.join(winners)}", winners
    return "do not deploy", reason, []


def _points(share: float) -> str:
    return f"{100 * share:+.2f} points"


def _verdict_section(
    kpis: pd.DataFrame, baseline: str | None, level: float, period: Mapping[str, str], demo: bool
) -> list[str]:
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    lines = []
    if demo:
        lines += [
            "> **Demo data.** These figures come from the synthetic data the project's demo generator wrote, not from "
            "a client's history: they show what the pipeline measures, not what ORPR will save on your data.",
            "",
        ]
    if baseline is None or "orpr" not in overall.index or baseline not in overall.index:
        return lines
    verdict, reason, _ = deployment_verdict(kpis, baseline)
    mine, bar = overall.loc["orpr"], overall.loc[baseline]
    low, high = mine.get("total_cost_change_vs_reference_ci_low"), mine.get("total_cost_change_vs_reference_ci_high")
    interval = (
        f" (paired {level:.0%} interval over SKU-DCs: {low:+.1%} to {high:+.1%})"
        if low is not None and pd.notna(low)
        else ""
    )
    change = mine["total_cost"] / bar["total_cost"] - 1.0
    lines += [
        f"On held-out demand ({period['start']} to {period['end']}, {period['n_lanes']} SKU-DCs), ORPR's total cost was "
        f"{change:+.1%} against {_label(baseline).lower()}, the strongest policy a planner could run without ORPR"
        f"{interval}, with in-stock {mine['in_stock_rate']:.2%} against {bar['in_stock_rate']:.2%} and turnover "
        f"{mine['turnover_days']:.1f} against {bar['turnover_days']:.1f} days.",
        "",
        f"**Verdict: {verdict}.** {reason[0].upper() + reason[1:] if reason else ''}.",
        "",
    ]
    if verdict == "do not deploy":
        lines += [
            "Keep running the baseline; docs/planner.md says what to look at next (the per-category table, the "
            "SKU-DCs where ORPR does worst, and the OR teacher's calibration below).",
            "",
        ]
    return lines


def _category_section(kpis: pd.DataFrame, policies: Sequence[str]) -> list[str]:
    lines = ["## Per category", ""]
    frames = kpis[kpis["scope"] != "all"]
    for column, title, pattern in (
        ("total_cost", "Total cost", "{:,.0f}"),
        ("in_stock_rate", "In-stock", "{:.2%}"),
        ("turnover_days", "Turnover days", "{:,.1f}"),
    ):
        table = frames.pivot(index="scope", columns="policy", values=column)
        table = table[[p for p in policies if p in table.columns]]
        table.columns = [_label(c) for c in table.columns]
        lines += [
            f"{title}:",
            "",
            markdown_table(
                table.reset_index().rename(columns={"scope": "category"}), dict.fromkeys(table.columns, pattern)
            ),
            "",
        ]
    return lines


def _worst_lanes_section(lane_kpis: pd.DataFrame, baseline: str, n: int = 10) -> list[str]:
    wide = lane_kpis.pivot_table(
        index=["lane_id", "sku_id", "dc_id", "category"], columns="policy", values="total_cost"
    )
    if "orpr" not in wide.columns or baseline not in wide.columns:
        return []
    gap = (wide["orpr"] - wide[baseline]).rename("extra_cost").sort_values(ascending=False).head(n)
    table = gap.reset_index()
    table["orpr_cost"] = wide.loc[gap.index, "orpr"].to_numpy()
    table["baseline_cost"] = wide.loc[gap.index, baseline].to_numpy()
    table = table[["sku_id", "dc_id", "category", "orpr_cost", "baseline_cost", "extra_cost"]]
    return [
        f"## The {n} SKU-DCs where ORPR does worst against {_label(baseline).lower()}",
        "",
        markdown_table(table, {"orpr_cost": "{:,.0f}", "baseline_cost": "{:,.0f}", "extra_cost": "{:+,.0f}"}),
        "",
    ]


def zero_cover_lanes(lane_kpis: pd.DataFrame) -> pd.DataFrame:
    """Per policy, the SKU-DCs with demand that never started a scored day with stock."""
    frame = lane_kpis[(lane_kpis["in_stock_days"] == 0) & (lane_kpis["demand_units"] > 0)]
    return frame[["policy", "lane_id", "sku_id", "dc_id", "category", "demand_units", "lost_units"]].reset_index(
        drop=True
    )


def _zero_cover_section(lane_kpis: pd.DataFrame, policies: Sequence[str]) -> list[str]:
    empty = zero_cover_lanes(lane_kpis)
    counts = empty.groupby("policy")["lane_id"].nunique().reindex(list(policies), fill_value=0)
    lines = ["## SKU-DCs left without stock", ""]
    if not counts.any():
        return [*lines, "No policy left a SKU-DC with demand out of stock for the whole test period.", ""]
    table = pd.DataFrame({"policy": [_label(p) for p in counts.index], "SKU-DCs never in stock": counts.to_numpy()})
    lines += [
        "SKU-DCs with demand that did not start a single scored day with stock (their demand was lost throughout):",
        "",
        markdown_table(table),
        "",
    ]
    if "orpr" in set(empty["policy"]):
        names = empty.loc[empty["policy"] == "orpr"].head(10)
        listed = ", ".join(f"{r.sku_id} @ {r.dc_id}" for r in names.itertuples())
        lines += [f"ORPR's: {listed}{' ...' if counts.get('orpr', 0) > 10 else ''}.", ""]
    return lines


def _tuning_section(tuning: pd.DataFrame) -> list[str]:
    chosen = tuning[tuning["chosen"].astype(bool)]
    group = tuning.columns[0]
    table = chosen[[group, "candidate", "total_cost", "in_stock_rate"]].rename(
        columns={"candidate": "service level", "total_cost": "validation cost", "in_stock_rate": "validation in-stock"}
    )
    return [
        "## How the tuned base-stock was tuned",
        "",
        "Per category, the base-stock service level with the lowest realised total cost on the validation period "
        "(the test period never took part); `newsvendor` is each SKU-DC's own fractile p / (p + h x review).",
        "",
        markdown_table(table, {"validation cost": "{:,.0f}", "validation in-stock": "{:.2%}"}),
        "",
    ]


def _calibration_section(calibration: pd.DataFrame | None, scenario_calibration: pd.DataFrame | None) -> list[str]:
    lines = ["## Is the OR teacher calibrated?", ""]
    if scenario_calibration is not None and len(scenario_calibration):
        table = scenario_calibration.rename(columns={scenario_calibration.columns[0]: "group"})
        table = table[["group", "n_origins", "bias", "level_sd", "z_std_nb", "coverage80_nb", "coverage80_calibrated"]]
        lines += [
            "Forecast error of horizon totals on validation origins (what the OR scenarios carry): `bias` = actual / "
            "forecast, `level_sd` = the level error beyond daily noise, and how often the central 80% predictive "
            "interval held the actual total, with daily noise alone and calibrated (80% is right):",
            "",
            markdown_table(
                table,
                {
                    "n_origins": "{:,.0f}",
                    "bias": "{:.3f}",
                    "level_sd": "{:.3f}",
                    "z_std_nb": "{:.2f}",
                    "coverage80_nb": "{:.0%}",
                    "coverage80_calibrated": "{:.0%}",
                },
            ),
            "",
        ]
    if calibration is not None and len(calibration):
        lines += [
            "The OR policy's expected cost of the plans it chose, per day, against the cost realised on actual demand "
            "on the test period (a ratio below 1: the model is optimistic):",
            "",
            markdown_table(
                calibration,
                {"expected_cost": "{:,.0f}", "realised_cost": "{:,.0f}", "expected_over_realised": "{:.2f}"},
            ),
            "",
        ]
    return lines if len(lines) > 2 else []


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
    baseline: str | None = None,
    lane_kpis: pd.DataFrame | None = None,
    calibration: pd.DataFrame | None = None,
    scenario_calibration: pd.DataFrame | None = None,
    tuning: pd.DataFrame | None = None,
    demo_data: bool = False,
) -> str:
    """The Markdown report (see the module docstring).

    ``baseline``: the strongest classic policy (the paired intervals in ``kpis`` are
    against it); ``lane_kpis``: per policy and SKU-DC, for the worst SKU-DCs and the
    ones left without stock; ``calibration``: the OR policy's expected against realised
    cost; ``scenario_calibration``: the forecast-error table its scenarios carry;
    ``tuning``: the tuned base-stock's validation table (its chosen service level per
    group, and ``orpr_network``: the network ORPR deploys); ``demo_data``: the data came
    from the demo generator (a banner says so).
    """
    policies = list(policies or kpis.loc[kpis["scope"] == "all", "policy"])
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    headline = _verdict_section(kpis, baseline, bootstrap_level, period, demo_data)
    if baseline is None and {"orpr", "incumbent"} <= set(overall.index):
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
    comparisons = []
    if baseline is not None and {"orpr", "incumbent"} <= set(overall.index) and baseline != "incumbent":
        change = overall.loc["orpr", "total_cost"] / overall.loc["incumbent", "total_cost"] - 1
        comparisons.append(f"Against the incumbent rule ORPR's total cost was {change:+.1%}.")
    if {"orpr", "or_policy"} <= set(overall.index):
        gap = overall.loc["orpr", "total_cost"] / overall.loc["or_policy", "total_cost"] - 1
        comparisons.append(f"Against the OR policy it learned from, ORPR's cost was {gap:+.1%}.")
    if baseline is not None and {"or_policy", baseline} <= set(overall.index):
        gap = overall.loc["or_policy", "total_cost"] / overall.loc[baseline, "total_cost"] - 1
        comparisons.append(f"The OR teacher itself was {gap:+.1%} against {_label(baseline).lower()}.")
    if tuning is not None and "orpr_network" in tuning.columns and (tuning["orpr_network"] == "pretrained").any():
        comparisons.append(
            "Alignment did not lower the validation cost below the pretrained network's, so ORPR here is the "
            "pretrained network (the aligned policy is not deployed)."
        )
    extra = _tuning_section(tuning) if tuning is not None else []
    if lane_kpis is not None and baseline is not None:
        extra += _worst_lanes_section(lane_kpis, baseline)
    if lane_kpis is not None:
        extra += _zero_cover_section(lane_kpis, policies)
    extra += _calibration_section(calibration, scenario_calibration)
    lines = [
        "# ORPR evaluation report",
        "",
        *headline,
        " ".join(comparisons),
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
        *_kpi_section(kpis, bootstrap_level, baseline),
        *_category_section(kpis, policies),
        *extra,
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


FIGURE_LINK = re.compile(r'src="figures/([^"]+)"')


def render_html(report: str, title: str = "ORPR evaluation report", images: Mapping[str, bytes] | None = None) -> str:
    """A standalone HTML page of the Markdown report.

    ``images`` maps a figure's file name (``kpi_comparison.png``) to its PNG bytes: each
    ``figures/<name>`` the report links to is embedded as a ``data:image/png;base64`` URI,
    so the page needs no file beside it. Without ``images`` the figures keep their relative
    links. Tables sit in a horizontally scrolling box, so a wide one never widens the page.

    Raises:
        ValueError: ``images`` is given but lacks a figure the report links to.
    """
    body = markdown.markdown(report, extensions=["tables"])
    if images is not None:
        missing = sorted(set(FIGURE_LINK.findall(body)) - set(images))
        if missing:
            raise ValueError(f"the report links to figures that were not given: {', '.join(missing)}")
        encoded = {name: base64.b64encode(data).decode("ascii") for name, data in images.items()}
        body = FIGURE_LINK.sub(lambda match: f'src="data:image/png;base64,{encoded[match.group(1)]}"', body)
    body = body.replace("<table>", '<div class="table-scroll"><table>').replace("</table>", "</table></div>")
    style = (
        "body{font-family:system-ui,sans-serif;max-width:1100px;margin:2em auto;padding:0 1em;line-height:1.45}"
        ".table-scroll{overflow-x:auto;max-width:100%;margin:1em 0}"
        "table{border-collapse:collapse;font-size:0.9em}th,td{border:1px solid #ccc;padding:3px 8px;text-align:right}"
        "th:first-child,td:first-child{text-align:left}img{max-width:100%}"
    )
    return (
        f"<!doctype html>\n<html><head><meta charset='utf-8'><title>{html.escape(title)}</title>"
        f"<style>{style}</style></head>\n<body>\n{body}\n</body></html>\n"
    )
