"""The sections of the planner's report, each a list of Markdown lines built from one evaluation table.

KPIs with their paired intervals, the deployment verdict, per category, the worst SKU-DCs, the
SKU-DCs left without stock, the tuned base-stock, the OR policy's calibration, the acceptance
targets, the transfer and trade-off checks (the field test:
:mod:`~orpr_kedro.core.evaluation.report_field_test`, the alignment:
:mod:`~orpr_kedro.core.evaluation.report_alignment`). Costs print in ``currency`` (the
currency of ``unit_cost``, named in the column titles), shares as percentages, changes of a
share in percentage points, turnover in days.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

from orpr_kedro.core.evaluation.report_format import (
    KPI_COLUMNS,
    MONEY_COLUMNS,
    _fmt,
    _label,
    _with_interval,
    markdown_table,
    money,
    percentage_points,
    with_unit,
)


def _kpi_section(
    kpis: pd.DataFrame, level: float, baseline: str | None = None, currency: str = "currency"
) -> list[str]:
    overall = kpis[kpis["scope"] == "all"]
    rows = []
    for _, row in overall.iterrows():
        cells = {"policy": _label(row["policy"])}
        for column, title, pattern in KPI_COLUMNS:
            cells[with_unit(title, currency) if column in MONEY_COLUMNS else title] = (
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
        f"(costs in {currency} over the scored days; turnover days = end-of-day stock / sales; in-stock = share of days "
        "starting with stock).",
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
            f"with in-stock {percentage_points(in_stock_gap)}",
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
        why.append(
            f"in-stock {percentage_points(in_stock_gap)} (at most {percentage_points(-max_in_stock_drop)} allowed)"
        )
    reason = "; ".join(why)
    if winners:
        return "deploy for these categories", f"{reason}; it meets the bar in {', '.join(winners)}", winners
    return "do not deploy", reason, []


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


def _category_section(kpis: pd.DataFrame, policies: Sequence[str], currency: str = "currency") -> list[str]:
    lines = ["## Per category", ""]
    frames = kpis[kpis["scope"] != "all"]
    for column, title, pattern in (
        ("total_cost", with_unit("Total cost", currency), "{:,.0f}"),
        ("in_stock_rate", "In-stock", "{:.2%}"),
        ("turnover_days", "Turnover (days)", "{:,.1f}"),
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


def _worst_lanes_section(lane_kpis: pd.DataFrame, baseline: str, n: int = 10, currency: str = "currency") -> list[str]:
    wide = lane_kpis.pivot_table(
        index=["lane_id", "sku_id", "dc_id", "category"], columns="policy", values="total_cost"
    )
    if "orpr" not in wide.columns or baseline not in wide.columns:
        return []
    gap = (wide["orpr"] - wide[baseline]).rename("extra_cost").sort_values(ascending=False).head(n)
    table = gap.reset_index()
    table["orpr_cost"] = wide.loc[gap.index, "orpr"].to_numpy()
    table["baseline_cost"] = wide.loc[gap.index, baseline].to_numpy()
    costs = {
        "orpr_cost": with_unit("ORPR cost", currency),
        "baseline_cost": with_unit(f"{_label(baseline)} cost", currency),
        "extra_cost": with_unit("extra cost", currency),
    }
    table = table[["sku_id", "dc_id", "category", *costs]].rename(columns={"sku_id": "SKU", "dc_id": "DC", **costs})
    return [
        f"## The {len(table)} SKU-DCs where ORPR does worst against {_label(baseline).lower()}",
        "",
        "Total cost on the test period; extra cost = ORPR's minus the baseline's.",
        "",
        markdown_table(
            table, {costs["orpr_cost"]: "{:,.0f}", costs["baseline_cost"]: "{:,.0f}", costs["extra_cost"]: "{:+,.0f}"}
        ),
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


def _tuning_section(tuning: pd.DataFrame, currency: str = "currency") -> list[str]:
    chosen = tuning[tuning["chosen"].astype(bool)]
    group = tuning.columns[0]
    cost = with_unit("validation cost", currency)
    table = chosen[[group, "candidate", "total_cost", "in_stock_rate"]].rename(
        columns={"candidate": "service level", "total_cost": cost, "in_stock_rate": "validation in-stock"}
    )
    table["service level"] = table["service level"].map(_service_level)
    return [
        "## How the tuned base-stock was tuned",
        "",
        "Per category, the base-stock service level with the lowest realised total cost on the validation period "
        "(the test period never took part); `newsvendor` is each SKU-DC's own fractile p / (p + h x review).",
        "",
        markdown_table(table, {cost: "{:,.0f}", "validation in-stock": "{:.2%}"}),
        "",
        *_floor_lines(chosen, group),
    ]


def _floor_lines(chosen: pd.DataFrame, group: str) -> list[str]:
    """The categories where ORPR may not order below tuned base-stock's service level (rl_alignment's guard)."""
    if "orpr_service_floor" not in chosen.columns or not chosen["orpr_service_floor"].notna().any():
        return []
    floored = chosen[chosen["orpr_service_floor"].notna()]
    names = ", ".join(f"{row[group]} ({_service_level(row['orpr_service_floor'])})" for _, row in floored.iterrows())
    return [
        f"ORPR's service floor: in {names} the deployed network cost more than tuned base-stock on the validation "
        "period (rl_alignment's closed loop), so there ORPR never orders below tuned base-stock's service level.",
        "",
    ]


def _service_level(candidate: object) -> str:
    """A candidate service level as a percentage (``0.9995`` -> ``99.95%``); a named one (``newsvendor``) as is."""
    try:
        return f"{100 * float(str(candidate)):g}%"
    except ValueError:
        return str(candidate)


def _calibration_section(
    calibration: pd.DataFrame | None, scenario_calibration: pd.DataFrame | None, currency: str = "currency"
) -> list[str]:
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
            "The OR policy's expected cost of the plans it chose (its own scenarios, over the week each plan was "
            "held, summed over the scored weeks) against the cost they realised on actual demand on the test period "
            "(a negative error: the model is optimistic; the target is within ±5% overall):",
            "",
            markdown_table(
                calibration[["category", "n_lanes", "expected_cost", "realised_cost", "error"]].rename(
                    columns={
                        "expected_cost": with_unit("expected cost", currency),
                        "realised_cost": with_unit("realised cost", currency),
                    }
                ),
                {
                    with_unit("expected cost", currency): "{:,.0f}",
                    with_unit("realised cost", currency): "{:,.0f}",
                    "error": "{:+.1%}",
                },
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
    targets: pd.DataFrame,
    kpis: pd.DataFrame,
    decision_time: pd.DataFrame,
    tradeoff: pd.DataFrame,
    currency: str = "currency",
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
                f"{first['in_stock_rate']:.2%} in-stock at a total cost of {money(first['total_cost'], currency)} and "
                f"{first['turnover_days']:.1f} "
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


def _transfer_section(transfer: pd.DataFrame, currency: str = "currency") -> list[str]:
    lines = ["## Transfer to held-out categories", ""]
    if transfer.empty:
        return [
            *lines,
            "No category was held out of training (`data_processing.splits.holdout_categories` is empty).",
            "",
        ]
    cost = with_unit("total cost", currency)
    table = transfer.assign(policy=transfer["policy"].map(_label))[
        ["policy", "group", "categories", "n_lanes", "total_cost", "in_stock_rate", "gap_to_teacher", "transfer_gap"]
    ].rename(
        columns={
            "n_lanes": "SKU-DCs",
            "total_cost": cost,
            "in_stock_rate": "in-stock",
            "gap_to_teacher": "gap to OR",
            "transfer_gap": "transfer gap",
        }
    )
    return [
        *lines,
        "The learned policies never saw the held-out categories in training. `gap to OR` compares each policy's total cost "
        "with the OR policy's on the same SKU-DCs; the transfer gap is the held-out gap minus the trained gap.",
        "",
        markdown_table(
            table,
            {
                "SKU-DCs": "{:,.0f}",
                cost: "{:,.0f}",
                "in-stock": "{:.2%}",
                "gap to OR": "{:+.1%}",
                "transfer gap": "{:+.1%}",
            },
        ),
        "",
    ]


def _tradeoff_section(sweep: pd.DataFrame, currency: str = "currency") -> list[str]:
    cost = with_unit("total cost", currency)
    table = sweep[["alpha", "total_cost", "turnover_days", "in_stock_rate"]].rename(
        columns={"total_cost": cost, "turnover_days": "turnover (days)", "in_stock_rate": "in-stock"}
    )
    return [
        "## Turnover versus in-stock",
        "",
        "The OR model re-solved at several service levels alpha (each category must serve that share of its demand "
        "value and start that share of its lane-days with stock) traces the stock a given in-stock rate costs; each "
        "policy is a point on the same axes.",
        "",
        "![Trade-off](figures/tradeoff.png)",
        "",
        markdown_table(table, {"alpha": "{:g}", cost: "{:,.0f}", "turnover (days)": "{:.2f}", "in-stock": "{:.2%}"}),
        "",
        "Inventory of sample SKU-DCs under each policy:",
        "",
        "![Trajectories](figures/trajectories.png)",
        "",
    ]
