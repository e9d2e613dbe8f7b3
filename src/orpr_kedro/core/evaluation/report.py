"""The planner's report: Markdown built from the evaluation tables (no Kedro, no I/O).

The text explains each policy, states every acceptance target as met or missed with
the measured value, and reads the field-test analysis in plain words. Figures are
referenced by relative path (``figures/<name>.png`` next to the report); the HTML page
embeds them (:func:`render_html`), so it can be mailed on its own.

The sections live in :mod:`~orpr_kedro.core.evaluation.report_sections`,
:mod:`~orpr_kedro.core.evaluation.report_field_test`,
:mod:`~orpr_kedro.core.evaluation.report_alignment` and
:mod:`~orpr_kedro.core.evaluation.report_orders`, labels and number formatting in
:mod:`~orpr_kedro.core.evaluation.report_format`; this module puts them together.
"""

from __future__ import annotations

import base64
import html
import re
from collections.abc import Mapping, Sequence

import markdown
import pandas as pd

from orpr_kedro.core.evaluation.report_alignment import alignment_section
from orpr_kedro.core.evaluation.report_field_test import field_test_section
from orpr_kedro.core.evaluation.report_format import (
    KPI_COLUMNS,
    POLICY_DESCRIPTIONS,
    POLICY_LABELS,
    _label,
    _with_interval,
    markdown_table,
)
from orpr_kedro.core.evaluation.report_orders import orders_section
from orpr_kedro.core.evaluation.report_sections import (
    _calibration_section,
    _category_section,
    _kpi_section,
    _target_notes,
    _targets_section,
    _tradeoff_section,
    _transfer_section,
    _tuning_section,
    _verdict_section,
    _worst_lanes_section,
    _zero_cover_section,
    deployment_verdict,
    zero_cover_lanes,
)
from orpr_kedro.core.rl.deploy import ALIGNED

__all__ = [
    "KPI_COLUMNS",
    "POLICY_DESCRIPTIONS",
    "POLICY_LABELS",
    "deployment_verdict",
    "markdown_table",
    "render_html",
    "render_report",
    "zero_cover_lanes",
]


# how often the policies decided, by evaluation.decision_cadence
_CADENCE_TEXT = {
    "weekly": "every week",
    "review": "at each SKU-DC's review days (a daily SKU-DC every day, with the week's forecast)",
}


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
    currency: str = "currency",
    orders: pd.DataFrame | None = None,
    orders_by_dc: pd.DataFrame | None = None,
    order_links: Mapping[str, str] | None = None,
) -> str:
    """The Markdown report (see the module docstring).

    ``baseline``: the strongest classic policy (the paired intervals in ``kpis`` are
    against it); ``lane_kpis``: per policy and SKU-DC, for the worst SKU-DCs and the
    ones left without stock; ``calibration``: the OR policy's expected against realised
    cost; ``scenario_calibration``: the forecast-error table its scenarios carry;
    ``tuning``: the tuned base-stock's validation table (its chosen service level per
    group, and ``orpr_network``: the network ORPR deploys); ``demo_data``: the data came
    from the demo generator (a banner says so); ``currency``: the unit of every money
    column. ``orders`` and ``orders_by_dc``: the recommend pipeline's summaries
    (``rpt_recommend_summary``, ``rpt_recommend_by_dc_category``) for the section on this
    run's orders, which links the files in ``order_links`` (``orders``,
    ``recommendations``: paths relative to the report).
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
            "Alignment's validation gain over the pretrained network was not clear of zero (the paired interval "
            "of `rl_alignment.deploy`, in `rpt_rl_alignment_summary`), so ORPR here is the pretrained network "
            "(the aligned policy is not deployed)."
        )
    if ALIGNED in overall.index and "total_cost_change_vs_pretrained" in overall.columns:
        change = _with_interval(overall.loc[ALIGNED], "total_cost_change_vs_pretrained", "{:+.1%}")
        comparisons.append(
            f"On the test period the aligned network cost {change} against the pretrained one "
            "(both without ORPR's service floor)."
        )
    extra = _tuning_section(tuning, currency) if tuning is not None else []
    if lane_kpis is not None and baseline is not None:
        extra += _worst_lanes_section(lane_kpis, baseline, currency=currency)
    if lane_kpis is not None:
        extra += _zero_cover_section(lane_kpis, policies)
    extra += _calibration_section(calibration, scenario_calibration, currency)
    order_lines = []
    if orders is not None:
        verdict = deployment_verdict(kpis, baseline)[0] if baseline is not None else ""
        order_lines = orders_section(
            orders,
            orders_by_dc if orders_by_dc is not None else pd.DataFrame(),
            dict(order_links or {"orders": "orders.csv", "recommendations": "recommendations.csv"}),
            do_not_deploy=verdict == "do not deploy",
        )
    lines = [
        "# ORPR evaluation report",
        "",
        *headline,
        " ".join(comparisons),
        "",
        *order_lines,
        f"Every policy ran in the same simulator on the same actual demand, the same lead-time draws and the same starting "
        f"stock; each decided {_CADENCE_TEXT.get(period.get('cadence', 'weekly'), 'every week')} from its own stock. "
        f"A burn-in of {period['burn_in_weeks']} weeks before the test "
        "period was simulated but not scored.",
        "",
        *_targets_section(targets),
        *_target_notes(targets, kpis, decision_time, tradeoff, currency),
        "## The policies",
        "",
        *[f"- **{_label(p)}**: {POLICY_DESCRIPTIONS.get(p, '')}" for p in policies],
        "",
        *_kpi_section(kpis, bootstrap_level, baseline, currency),
        *_category_section(kpis, policies, currency),
        *extra,
        *_tradeoff_section(tradeoff, currency),
        *_transfer_section(transfer, currency),
        *field_test_section(effects, balance, units, currency),
        *alignment_section(alignment, currency),
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
