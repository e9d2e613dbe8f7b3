"""Figures of the evaluation report (matplotlib ``Figure`` objects; the catalog saves them)."""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from orpr_kedro.core.evaluation.report import POLICY_LABELS

_COST_PARTS = (("holding_cost", "holding"), ("lost_sales_cost", "lost sales"), ("order_cost", "ordering"))


def _label(policy: str) -> str:
    return POLICY_LABELS.get(policy, policy)


def kpi_comparison(kpis: pd.DataFrame) -> Figure:
    """Total cost (stacked by component, with its bootstrap interval), turnover days and in-stock rate per policy."""
    overall = kpis[kpis["scope"] == "all"].reset_index(drop=True)
    labels = [_label(p) for p in overall["policy"]]
    x = np.arange(len(overall))
    figure = Figure(figsize=(15, 4.4), layout="constrained")
    axes = figure.subplots(1, 3)
    bottom = np.zeros(len(overall))
    for column, name in _COST_PARTS:
        axes[0].bar(x, overall[column], bottom=bottom, label=name)
        bottom += overall[column].to_numpy()
    if "total_cost_ci_low" in overall:
        err = np.vstack(
            [
                overall["total_cost"] - overall["total_cost_ci_low"],
                overall["total_cost_ci_high"] - overall["total_cost"],
            ]
        )
        axes[0].errorbar(x, overall["total_cost"], yerr=np.clip(err, 0, None), fmt="none", color="black", capsize=3)
    axes[0].set_title("total cost on the test period (currency)")
    axes[0].legend(fontsize=8)
    for axis, column, title in (
        (axes[1], "turnover_days", "turnover days"),
        (axes[2], "in_stock_rate", "in-stock rate"),
    ):
        axis.bar(x, overall[column], color="tab:gray")
        low, high = f"{column}_ci_low", f"{column}_ci_high"
        if low in overall:
            err = np.vstack([overall[column] - overall[low], overall[high] - overall[column]])
            axis.errorbar(x, overall[column], yerr=np.clip(err, 0, None), fmt="none", color="black", capsize=3)
        axis.set_title(title)
    lowest = (
        overall["in_stock_rate_ci_low"].min() if "in_stock_rate_ci_low" in overall else overall["in_stock_rate"].min()
    )
    axes[2].set_ylim(max(0.0, lowest - 0.05), 1.0)
    for axis in axes:
        axis.set_xticks(x, labels, rotation=30, ha="right", fontsize=8)
    figure.suptitle("Every policy on the same held-out demand (bars: 95% bootstrap intervals over SKU-DCs)")
    return figure


def tradeoff(sweep: pd.DataFrame, kpis: pd.DataFrame) -> Figure:
    """Turnover days versus in-stock rate: the OR model over a sweep of alpha, every policy as a point."""
    figure = Figure(figsize=(7.5, 5.2), layout="constrained")
    axis = figure.subplots()
    axis.plot(
        sweep["turnover_days"], sweep["in_stock_rate"], marker="o", color="tab:blue", label="OR re-solved at alpha"
    )
    for row in sweep.itertuples():
        axis.annotate(
            f"alpha {row.alpha:g}",
            (row.turnover_days, row.in_stock_rate),
            textcoords="offset points",
            xytext=(5, -10),
            fontsize=8,
        )
    overall = kpis[kpis["scope"] == "all"]
    for row in overall.itertuples():
        axis.scatter(row.turnover_days, row.in_stock_rate, s=50, zorder=3)
        axis.annotate(
            _label(row.policy),
            (row.turnover_days, row.in_stock_rate),
            textcoords="offset points",
            xytext=(5, 4),
            fontsize=8,
        )
    axis.set_xlabel("turnover days (lower: less stock)")
    axis.set_ylabel("in-stock rate (higher: fewer stock-outs)")
    axis.set_title("The turnover versus in-stock trade-off on the test period")
    axis.legend(fontsize=8, loc="lower right")
    return figure


def trajectories(daily: pd.DataFrame, lanes: pd.DataFrame) -> Figure:
    """End-of-day on-hand of the sample SKU-DCs under each policy, with their daily demand."""
    lane_ids = list(dict.fromkeys(daily["lane_id"])) if len(daily) else []
    figure = Figure(figsize=(14, 3.0 * max(1, (len(lane_ids) + 1) // 2)), layout="constrained")
    if not lane_ids:
        figure.subplots().text(0.5, 0.5, "no sample SKU-DCs (evaluation.trajectory_lanes: 0)", ha="center")
        return figure
    axes = np.atleast_1d(figure.subplots((len(lane_ids) + 1) // 2, 2, squeeze=False).ravel())
    names = lanes.set_index("lane_id")
    for axis, lane in zip(axes, lane_ids, strict=False):
        part = daily[daily["lane_id"] == lane]
        for policy, rows in part.groupby("policy", sort=False):
            axis.plot(rows["date"], rows["on_hand_end"], label=_label(str(policy)), linewidth=1.2)
        first = part[part["policy"] == part["policy"].iloc[0]]
        axis.bar(first["date"], first["demand"], color="lightgray", label="demand", zorder=0)
        axis.set_title(
            f"{names.loc[lane, 'sku_id']} @ {names.loc[lane, 'dc_id']} ({names.loc[lane, 'category']})", fontsize=9
        )
        axis.tick_params(axis="x", labelsize=7, rotation=30)
    for axis in axes[len(lane_ids) :]:
        axis.set_visible(False)
    axes[0].legend(fontsize=7, ncol=2)
    figure.suptitle("End-of-day on-hand (units) under each policy; grey bars: demand")
    return figure


def field_test(panel: pd.DataFrame, effects: pd.DataFrame) -> Figure:
    """Daily means of treated and control SKU-DCs, and the treated pairs' counterfactual, around the switch."""
    outcomes = list(effects["outcome"])
    figure = Figure(figsize=(5.2 * len(outcomes), 4.0), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(outcomes)))
    switch = panel.loc[panel["post"], "period"].min()
    for axis, outcome in zip(axes, outcomes, strict=True):
        means = panel.groupby(["treated", "period"])[[outcome, f"{outcome}_counterfactual"]].mean()
        treated, control = means.loc[True], means.loc[False]
        axis.plot(
            treated.index,
            treated[outcome].rolling(7, min_periods=1).mean(),
            label="treated (ORPR after the switch)",
            color="tab:red",
        )
        axis.plot(
            treated.index,
            treated[f"{outcome}_counterfactual"].rolling(7, min_periods=1).mean(),
            label="treated, had they stayed",
            color="tab:red",
            linestyle=":",
        )
        axis.plot(
            control.index, control[outcome].rolling(7, min_periods=1).mean(), label="matched controls", color="tab:blue"
        )
        axis.axvline(switch, color="black", linewidth=0.8)
        axis.set_title(outcome.replace("_", " ") + " (7-day mean)")
        axis.tick_params(axis="x", labelsize=7, rotation=30)
    axes[0].legend(fontsize=7)
    figure.suptitle(
        "Simulated field test: the treated SKU-DCs switch from the incumbent rule to ORPR at the vertical line"
    )
    return figure
