"""How the report prints numbers: money with separators and currency, shares in percent, effects in units."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.evaluation.report_alignment import alignment_section, alignment_value
from orpr_kedro.core.evaluation.report_field_test import balance_table, effects_table
from orpr_kedro.core.evaluation.report_format import markdown_table, money, p_value, percentage_points, signed
from orpr_kedro.core.evaluation.report_orders import orders_section
from orpr_kedro.core.evaluation.report_sections import _kpi_section


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ((159_100.4, "EUR"), "159,100 EUR"),
        ((1_591_234.5,), "1,591,234"),
        ((0.2055, "EUR", 2), "0.21 EUR"),
        ((float("nan"), "EUR"), "-"),
    ],
)
def test_money(value: tuple, expected: str) -> None:
    assert money(*value) == expected


def test_signed_numbers_never_print_minus_zero() -> None:
    assert signed(-13.2351) == "-13.24"
    assert signed(7.45471, 2, "days") == "+7.45 days"
    assert signed(3.88e-17) == "0.00" and signed(-1e-9, 1) == "0.0"
    assert signed(12_345.678, 1) == "+12,345.7"


def test_shares_changes_print_as_percentage_points_and_p_values_without_exponents() -> None:
    assert percentage_points(-0.0179) == "-1.79 points"
    assert percentage_points(3.88e-17) == "0.00 points"
    assert [p_value(p) for p in (0.008314, 3.88e-17, 0.0005, 1.0, np.nan)] == [
        "0.008",
        "< 0.001",
        "0.001",
        "1.000",
        "-",
    ]


def test_markdown_table_takes_patterns_and_formatters() -> None:
    frame = pd.DataFrame({"name": ["a", "b"], "cost": [1_591.0, np.nan], "p": [3.88e-17, 0.2]})
    assert markdown_table(frame, {"cost": "{:,.0f}", "p": p_value}) == (
        "| name | cost | p |\n|---|---|---|\n| a | 1,591 | < 0.001 |\n| b | - | 0.200 |"
    )


def test_field_test_effects_print_in_their_units() -> None:
    effects = pd.DataFrame(
        {
            "outcome": ["days_of_stock", "in_stock_rate", "holding_cost"],
            "effect": [-13.2351, 0.0229, 0.20551],
            "ci_low": [-20.1, 3.88e-17, 0.0224],
            "ci_high": [-6.4, 0.041, 0.3886],
            "p_value": [3.88e-17, 0.0412, 0.0327],
            "true_effect": [-12.0, 0.02, 0.1042],
            "relative_effect": [-0.3, 0.024, 0.792],
            "pre_trend_p_value": [0.335, np.nan, 0.244],
            "alpha": 0.1,
        }
    )
    table = effects_table(effects, "EUR")
    assert list(table.columns) == [
        "outcome",
        "estimated effect",
        "90% interval",
        "p-value",
        "true effect",
        "relative to the counterfactual",
        "pre-trend p-value",
    ]
    assert table.values.tolist() == [
        ["days of stock (days)", "-13.24", "[-20.10, -6.40]", "< 0.001", "-12.00", "-30.0%", "0.335"],
        ["in-stock rate (points)", "+2.29", "[0.00, +4.10]", "0.041", "+2.00", "+2.4%", "-"],
        ["holding cost (EUR per SKU-DC and day)", "+0.21", "[+0.02, +0.39]", "0.033", "+0.10", "+79.2%", "0.244"],
    ]


def test_balance_means_in_units_and_smds_to_two_decimals() -> None:
    balance = pd.DataFrame(
        {
            "covariate": ["pre_turnover_days", "mean_demand"],
            "mean_treated_before": [14.364, 159_100.4],
            "mean_control_before": [71.655, 1.511],
            "smd_before": [-0.837, 1.527],
            "mean_treated_after": [15.604, 5.375],
            "mean_control_after": [15.876, 4.545],
            "smd_after": [-0.004, 0.172],
            "balanced": [True, False],
        }
    )
    assert balance_table(balance).values.tolist() == [
        ["pre-period turnover (days)", "14.4", "71.7", "-0.84", "15.6", "15.9", "0.00", "yes"],
        ["mean daily demand (units)", "159,100.4", "1.5", "+1.53", "5.4", "4.5", "+0.17", "**no**"],
    ]


def test_alignment_facts_print_in_their_units() -> None:
    assert alignment_value("total_cost_pretrained", 159_100.4, "EUR") == "159,100 EUR"
    assert alignment_value("total_cost_change_pct", -13.2350) == "-13.2%"
    assert alignment_value("in_stock_rate_aligned", 0.95091) == "95.09%"
    assert alignment_value("turnover_days_aligned", 23.012) == "23.0 days"
    assert alignment_value("kl_aligned_to_pretrained_mean", 3.88e-17) == "0.0000 nats"
    assert alignment_value("training_env_steps", 1_234_567.0) == "1,234,567"
    assert alignment_value("training_wall_s", 81.26) == "81.3 s"
    assert alignment_value("decisions_changed_share", 0.123) == "12.3%"
    assert alignment_value("something_new", 1.591e5) == "159,100"
    table = pd.DataFrame(
        {"metric": ["total_cost_aligned"], "value": [1.591e5], "note": ["validation, closed loop (currency)"]}
    )
    assert "| total_cost_aligned | 159,100 EUR | validation, closed loop (EUR) |" in "\n".join(
        alignment_section(table, "EUR")
    )


def test_kpi_table_names_the_currency_of_its_money_columns() -> None:
    kpis = pd.DataFrame(
        [
            {
                "policy": "orpr",
                "scope": "all",
                "total_cost": 159_100.4,
                "holding_cost": 100_000.0,
                "lost_sales_cost": 50_000.0,
                "order_cost": 9_100.4,
                "lost_units": 1_234.0,
                "turnover_days": 12.345,
                "in_stock_rate": 0.95091,
                "n_orders": 2_000.0,
            }
        ]
    )
    table = _kpi_section(kpis, 0.95, currency="EUR")[4]
    assert table.splitlines()[0] == (
        "| policy | total cost (EUR) | holding (EUR) | lost sales (EUR) | ordering (EUR) | lost units "
        "| turnover days | in-stock | orders | ms per 1,000 decisions |"
    )
    assert table.splitlines()[2] == (
        "| ORPR | 159,100 | 100,000 | 50,000 | 9,100 | 1,234 | 12.35 | 95.09% | 2,000 | - |"
    )


def test_orders_section_summarises_and_links_the_orders() -> None:
    summary = pd.DataFrame(
        {
            "metric": ["as_of_date", "review_date", "currency", "orders", "order_units", "order_value"]
            + ["lanes_recommended", "lanes_without_state", "incumbent_fallback", "mean_stockout_risk"]
            + ["reason_order", "reason_no_order_enough_stock", "reason_no_order_zero_cover", "reason_no_state"],
            "value": ["2025-10-27", "2025-10-28", "EUR", "220", "15432", "159100.4", "290", "1", "0", np.nan]
            + ["220", "49", "21", "1"],
        }
    )
    by_dc = pd.DataFrame(
        {
            "dc_id": ["DC01", "DC01", "all"],
            "category": ["snacks", "all", "all"],
            "lanes": [291, 291, 291],
            "orders": [220, 220, 220],
            "order_units": [15_432, 15_432, 15_432],
            "order_value": [159_100.4, 159_100.4, 159_100.4],
            "mean_stockout_risk": [0.0421, 0.0421, 0.0421],
            "max_stockout_risk": [0.9, 0.9, 0.9],
        }
    )
    links = {"orders": "../07_model_output/orders.csv", "recommendations": "../07_model_output/recommendations.csv"}
    lines = orders_section(summary, by_dc, links, do_not_deploy=True)
    assert lines[:5] == [
        "## This run's orders",
        "",
        "For the review date 2025-10-28 (inventory snapshot of 2025-10-27): 220 orders for 15,432 units worth "
        "159,100 EUR, over 290 SKU-DCs with a snapshot row (and 1 without one: no order was computed for it).",
        "",
        "The verdict above is *do not deploy*: keep ordering with the current rule and read these orders as a "
        "second opinion, not the plan.",
    ]
    text = "\n".join(lines)
    assert "- Orders to approve: [orders.csv](../07_model_output/orders.csv) (`07_model_output/orders.csv`)" in text
    assert "| reason | SKU-DCs |\n|---|---|\n| order | 220 |\n| no order: enough stock | 49 |" in text
    assert "| no snapshot row (no order computed) | 1 |" in text and "cold start" not in text  # zero rows left out
    assert "| value (EUR) |" in text and "| DC01 | 291 | 220 | 15,432 | 159,100 | 4.2% | 90.0% |" in text
    assert "| **all DCs** | 291 |" in text


def test_the_tuning_section_names_the_categories_under_orprs_service_floor():
    from orpr_kedro.core.evaluation.report_sections import _tuning_section

    tuning = pd.DataFrame(
        {
            "category": ["a", "b"],
            "candidate": ["0.9999", "0.98"],
            "total_cost": [100.0, 50.0],
            "in_stock_rate": [0.999, 0.99],
            "chosen": [True, True],
            "orpr_service_floor": [0.9999, np.nan],
        }
    )
    text = "\n".join(_tuning_section(tuning, "EUR"))
    assert "ORPR's service floor: in a (99.99%) the deployed network cost more than tuned base-stock" in text
    assert "b (" not in text
    assert "service floor" not in "\n".join(_tuning_section(tuning.drop(columns="orpr_service_floor"), "EUR"))
