"""The report's section on this run's orders: what the recommend pipeline ordered, and where the files are.

It reads the recommend pipeline's two summaries (``rpt_recommend_summary``: one
``metric``/``value`` row per fact; ``rpt_recommend_by_dc_category``: per DC and category,
with a total per DC under ``category`` ``all``) and links the order files; the links are
relative to the report's folder.
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import pandas as pd

from orpr_kedro.core import order_list
from orpr_kedro.core.evaluation.report_format import markdown_table, money, with_unit

__all__ = ["REASON_NAMES", "orders_section"]

# reason_code -> how the report names it (docs/planner.md explains each)
REASON_NAMES = {
    order_list.ORDER: "order",
    order_list.NO_ORDER_ENOUGH_STOCK: "no order: enough stock",
    order_list.NO_ORDER_ZERO_COVER: "no order: zero cover chosen",
    order_list.COLD_START: "cold start (incumbent rule)",
    order_list.NO_STATE: "no snapshot row (no order computed)",
}


def _facts(summary: pd.DataFrame) -> dict[str, str]:
    return {str(m): "" if pd.isna(v) else str(v) for m, v in zip(summary["metric"], summary["value"], strict=True)}


def _name(link: str) -> str:
    return link.rsplit("/", 1)[-1]


def _in_data(link: str) -> str:
    """The linked file's path in the data folder (the links start from the reporting folder)."""
    return link.removeprefix("../")


def _number(text: str) -> float:
    try:
        return float(text)
    except ValueError:
        return float("nan")


def orders_section(
    summary: pd.DataFrame,
    by_dc_category: pd.DataFrame,
    links: Mapping[str, str],
    *,
    do_not_deploy: bool = False,
) -> list[str]:
    """The orders section: one paragraph of totals, the links, the reason codes and a table per DC.

    ``links``: ``orders`` (the orders-only file) and ``recommendations`` (every lane's
    decision), relative to the report. ``do_not_deploy``: the verdict above says not to
    deploy, so the section says the orders are a second opinion.

    >>> summary = pd.DataFrame({"metric": ["review_date", "as_of_date", "currency", "orders", "order_units",
    ...     "order_value", "lanes_recommended", "lanes_without_state", "incumbent_fallback", "mean_stockout_risk",
    ...     "reason_order", "reason_no_order_enough_stock"],
    ...     "value": ["2025-10-28", "2025-10-27", "EUR", "2", "1500", "12345.5", "3", "0", "1", "0.042", "2", "1"]})
    >>> orders_section(summary, pd.DataFrame(), {"orders": "o.csv", "recommendations": "r.csv"})[2]  # doctest: +NORMALIZE_WHITESPACE
    'For the review date 2025-10-28 (inventory snapshot of 2025-10-27): 2 orders for 1,500 units worth 12,346 EUR,
    over 3 SKU-DCs with a snapshot row; 1 of them, without enough sales history, ordered by the incumbent rule.
    Mean stock-out risk until the next review: 4.2%.'
    """
    facts = _facts(summary)
    currency = facts.get("currency", "")
    lines = ["## This run's orders", ""]
    without = int(_number(facts.get("lanes_without_state", "0")) or 0)
    fallback = int(_number(facts.get("incumbent_fallback", "0")) or 0)
    risk = _number(facts.get("mean_stockout_risk", ""))
    text = (
        f"For the review date {facts.get('review_date', '-')} (inventory snapshot of {facts.get('as_of_date', '-')}): "
        f"{_number(facts.get('orders', '0')):,.0f} orders for {_number(facts.get('order_units', '0')):,.0f} units worth "
        f"{money(_number(facts.get('order_value', '0')), currency)}, over "
        f"{_number(facts.get('lanes_recommended', '0')):,.0f} SKU-DCs with a snapshot row"
    )
    if without:
        text += f" (and {without:,} without one: no order was computed for {'it' if without == 1 else 'them'})"
    if fallback:
        text += f"; {fallback:,} of them, without enough sales history, ordered by the incumbent rule"
    text += "."
    if not math.isnan(risk):
        text += f" Mean stock-out risk until the next review: {risk:.1%}."
    lines += [text, ""]
    if do_not_deploy:
        lines += [
            "The verdict above is *do not deploy*: keep ordering with the current rule and read these orders as a "
            "second opinion, not the plan.",
            "",
        ]
    lines += [
        f"- Orders to approve: [{_name(links['orders'])}]({links['orders']}) (`{_in_data(links['orders'])}`), the "
        "SKU-DCs with an order, largest value first, with empty override and approval columns.",
        f"- Every SKU-DC's decision: [{_name(links['recommendations'])}]({links['recommendations']}) "
        f"(`{_in_data(links['recommendations'])}`), with quantity, expected arrival, projected stock, stock-out risk "
        "and the reason, orders or not.",
        "",
    ]
    reasons = pd.DataFrame(
        {
            "reason": list(REASON_NAMES.values()),
            "SKU-DCs": [_number(facts.get(f"reason_{code}", "0")) for code in REASON_NAMES],
        }
    )
    reasons = reasons[reasons["SKU-DCs"] > 0]
    if len(reasons):
        lines += [markdown_table(reasons, {"SKU-DCs": "{:,.0f}"}), ""]
    if len(by_dc_category) and {"dc_id", "category"} <= set(by_dc_category.columns):
        per_dc = by_dc_category[by_dc_category["category"].astype(str) == "all"]
        value = with_unit("value", currency) if currency else "value"
        table = pd.DataFrame(
            {
                "DC": per_dc["dc_id"].astype(str).replace({"all": "**all DCs**"}),
                "SKU-DCs": per_dc["lanes"],
                "orders": per_dc["orders"],
                "units": per_dc["order_units"],
                value: per_dc["order_value"],
                "mean stock-out risk": per_dc["mean_stockout_risk"],
                "largest stock-out risk": per_dc["max_stockout_risk"],
            }
        )
        lines += [
            "Per DC (`rpt_recommend_by_dc_category`, in the reporting folder, splits each DC by category):",
            "",
            markdown_table(
                table,
                {
                    "SKU-DCs": "{:,.0f}",
                    "orders": "{:,.0f}",
                    "units": "{:,.0f}",
                    value: "{:,.0f}",
                    "mean stock-out risk": "{:.1%}",
                    "largest stock-out risk": "{:.1%}",
                },
            ),
            "",
        ]
    return lines
