"""The report's verdict against the strongest classic baseline, and its SKU-DC sections."""

from __future__ import annotations

import pandas as pd
import pytest

from orpr_kedro.core.evaluation import report


def _kpis(orpr_cost: float, orpr_in_stock: float, ci_high: float, categories: dict[str, tuple]) -> pd.DataFrame:
    rows = [
        {
            "policy": "tuned_base_stock",
            "scope": "all",
            "total_cost": 100.0,
            "in_stock_rate": 0.99,
            "turnover_days": 9.0,
        },
        {
            "policy": "orpr",
            "scope": "all",
            "total_cost": orpr_cost,
            "in_stock_rate": orpr_in_stock,
            "turnover_days": 8.0,
            "total_cost_change_vs_reference": orpr_cost / 100 - 1,
            "total_cost_change_vs_reference_ci_low": orpr_cost / 100 - 1.05,
            "total_cost_change_vs_reference_ci_high": ci_high,
        },
    ]
    for name, (orpr, bar, orpr_in, bar_in) in categories.items():
        rows.append(
            {"policy": "orpr", "scope": name, "total_cost": orpr, "in_stock_rate": orpr_in, "turnover_days": 8.0}
        )
        rows.append(
            {
                "policy": "tuned_base_stock",
                "scope": name,
                "total_cost": bar,
                "in_stock_rate": bar_in,
                "turnover_days": 9.0,
            }
        )
    return pd.DataFrame(rows)


CATEGORIES = {"a": (40.0, 50.0, 0.99, 0.99), "b": (60.0, 50.0, 0.99, 0.99)}


def test_deploy_when_cheaper_significantly_and_in_stock_holds() -> None:
    verdict, reason, categories = report.deployment_verdict(_kpis(95.0, 0.987, -0.01, CATEGORIES), "tuned_base_stock")
    assert verdict == "deploy"
    assert (
        reason
        == "total cost -5.0% against tuned base-stock (paired interval entirely below zero) with in-stock -0.30 points"
    )
    assert categories == []


def test_a_cheaper_policy_with_too_little_stock_is_deployed_only_where_it_holds() -> None:
    verdict, reason, categories = report.deployment_verdict(_kpis(95.0, 0.98, -0.01, CATEGORIES), "tuned_base_stock")
    assert verdict == "deploy for these categories"
    assert categories == ["a"]  # 40 <= 0.97 x 50 at equal in-stock; b costs more
    assert reason == "in-stock -1.00 points (at most -0.50 points allowed); it meets the bar in a"


def test_do_not_deploy_when_the_interval_reaches_zero_and_no_category_wins() -> None:
    flat = {"a": (49.0, 50.0, 0.99, 0.99)}
    verdict, reason, categories = report.deployment_verdict(_kpis(96.0, 0.99, 0.01, flat), "tuned_base_stock")
    assert (verdict, categories) == ("do not deploy", [])
    assert reason == "total cost -4.0%, but its paired interval reaches zero"


def test_zero_cover_lanes_are_those_with_demand_never_in_stock() -> None:
    lane_kpis = pd.DataFrame(
        {
            "policy": ["orpr", "orpr", "orpr", "tuned_base_stock"],
            "lane_id": [0, 1, 2, 0],
            "sku_id": ["S0", "S1", "S2", "S0"],
            "dc_id": ["D", "D", "D", "D"],
            "category": ["a", "a", "b", "a"],
            "demand_units": [10.0, 0.0, 5.0, 10.0],
            "lost_units": [10.0, 0.0, 1.0, 0.0],
            "in_stock_days": [0.0, 0.0, 20.0, 28.0],
            "total_cost": [50.0, 0.0, 3.0, 4.0],
        }
    )
    empty = report.zero_cover_lanes(lane_kpis)
    assert empty[["policy", "lane_id"]].values.tolist() == [["orpr", 0]]
    text = "\n".join(report._zero_cover_section(lane_kpis, ["tuned_base_stock", "orpr"]))
    assert "| Tuned base-stock | 0 |" in text and "| ORPR | 1 |" in text and "S0 @ D" in text
    worst = "\n".join(report._worst_lanes_section(lane_kpis, "tuned_base_stock"))
    assert "| S0 | D | a | 50 | 4 | +46 |" in worst


def test_a_category_with_a_sliver_of_the_demand_is_not_a_reason_to_deploy() -> None:
    kpis = _kpis(95.0, 0.98, -0.01, CATEGORIES).assign(demand_units=1000.0)
    kpis.loc[kpis["scope"] == "a", "demand_units"] = 5.0  # 0.5% of the period's demand
    verdict, reason, categories = report.deployment_verdict(kpis, "tuned_base_stock")
    assert (verdict, categories) == ("do not deploy", [])
    assert reason == "in-stock -1.00 points (at most -0.50 points allowed)"


def test_render_html_embeds_the_linked_figures_and_wraps_tables_in_a_scroll_box() -> None:
    text = "# R\n\n| a | b |\n|---|---|\n| 1 | 2 |\n\n![KPI](figures/kpi.png)\n"
    page = report.render_html(text, images={"kpi.png": b"\x89PNG-bytes"})
    assert '<img alt="KPI" src="data:image/png;base64,iVBORy1ieXRlcw==" />' in page
    assert 'src="figures/' not in page
    assert page.count('<div class="table-scroll"><table>') == 1 and "</table></div>" in page
    assert ".table-scroll{overflow-x:auto" in page
    # without images the page keeps the Markdown's relative links
    assert '<img alt="KPI" src="figures/kpi.png" />' in report.render_html(text)
    with pytest.raises(ValueError, match="not given: kpi.png"):
        report.render_html(text, images={"other.png": b""})
