"""Summaries of one recommendation run: counts and totals, the orders only, per DC and category."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orpr_kedro.core import order_list
from orpr_kedro.core.recommend.columns import INCUMBENT_FALLBACK, ORDER_COLUMNS


def summarise_recommendations(recommendations: pd.DataFrame, n_lanes: int) -> pd.DataFrame:
    """Counts and totals of one recommendation run, one ``metric``/``value`` row each.

    ``n_lanes``: lanes in ``prm_lanes``; those without a snapshot row (``no_state``
    rows, or no row at all) are counted as ``lanes_without_state``.
    """
    has_state = recommendations["reason_code"] != order_list.NO_STATE
    stated = recommendations[has_state]
    orders = recommendations["order_units"] > 0
    fallback = stated["policy_used"] == INCUMBENT_FALLBACK
    codes = recommendations["reason_code"].value_counts()
    first = recommendations.iloc[0] if len(recommendations) else None
    metrics = {
        "as_of_date": str(pd.Timestamp(first["as_of_date"]).date()) if first is not None else "",
        "review_date": str(pd.Timestamp(first["review_date"]).date()) if first is not None else "",
        "currency": str(first["currency"]) if first is not None else "",
        "lanes": n_lanes,
        "lanes_recommended": len(stated),
        "lanes_without_state": n_lanes - len(stated),
        "orpr": int((~fallback).sum()),
        "incumbent_fallback": int(fallback.sum()),
        "orders": int(orders.sum()),
        "order_units": int(recommendations["order_units"].sum()),
        "order_value": round(float(recommendations["order_value"].sum()), 2),
        **{f"reason_{code}": int(codes.get(code, 0)) for code in order_list.REASON_CODES},
        "mean_coverage_days_orpr": round(float(stated.loc[~fallback, "coverage_days"].mean()), 2)
        if (~fallback).any()
        else "",
        "mean_coverage_days_incumbent_fallback": round(float(stated.loc[fallback, "coverage_days"].mean()), 2)
        if fallback.any()
        else "",
        "mean_stockout_risk": round(float(stated["stockout_risk"].mean()), 3) if len(stated) else "",
        "lanes_with_promotion_ahead": int((stated["promo_days_ahead"] > 0).sum()),
    }
    return pd.DataFrame({"metric": list(metrics), "value": [str(value) for value in metrics.values()]})


def orders_only(recommendations: pd.DataFrame) -> pd.DataFrame:
    """The lanes with an order, largest ``order_value`` first (then SKU and DC), columns :data:`ORDER_COLUMNS`."""
    ordered = recommendations[recommendations["order_units"] > 0]
    ordered = ordered.sort_values(["order_value", "sku_id", "dc_id"], ascending=[False, True, True], kind="stable")
    return ordered[list(ORDER_COLUMNS)].reset_index(drop=True)


def summarise_by_dc_category(recommendations: pd.DataFrame) -> pd.DataFrame:
    """Orders per DC and category, with a total per DC (``category`` ``all``) and overall (``all``, ``all``).

    Columns: ``dc_id``, ``category``, ``lanes``, ``orders``, ``order_units``,
    ``order_value``, ``currency``, one count per reason code, and the mean and
    largest ``stockout_risk`` of the lanes with a snapshot row.
    """
    frame = recommendations.assign(ordered=recommendations["order_units"] > 0)
    currency = str(frame["currency"].iloc[0]) if len(frame) else ""

    def summary(group: pd.DataFrame) -> dict[str, object]:
        stated = group.loc[group["reason_code"] != order_list.NO_STATE, "stockout_risk"]
        codes = group["reason_code"].value_counts()
        return {
            "lanes": len(group),
            "orders": int(group["ordered"].sum()),
            "order_units": int(group["order_units"].sum()),
            "order_value": round(float(group["order_value"].sum()), 2),
            "currency": currency,
            **{code: int(codes.get(code, 0)) for code in order_list.REASON_CODES},
            "mean_stockout_risk": round(float(stated.mean()), 3) if len(stated) else np.nan,
            "max_stockout_risk": round(float(stated.max()), 3) if len(stated) else np.nan,
        }

    rows = []
    for dc_id, by_dc in frame.groupby("dc_id", sort=True):
        for category, group in by_dc.groupby("category", sort=True):
            rows.append({"dc_id": dc_id, "category": category, **summary(group)})
        rows.append({"dc_id": dc_id, "category": "all", **summary(by_dc)})
    rows.append({"dc_id": "all", "category": "all", **summary(frame)})
    return pd.DataFrame(rows)
