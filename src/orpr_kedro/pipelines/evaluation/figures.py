"""Figures of the evaluation report (matplotlib ``Figure`` objects; the catalog saves them).

Every policy has its colour of :mod:`orpr_kedro.core.figure_style` in every figure, and
every figure ends with :func:`~orpr_kedro.core.figure_style.readable` (text of 10 points
or more). The trade-off plot names its points without overlaps (:mod:`.labels`).
"""

from __future__ import annotations

import numpy as np
import pandas as pd
from matplotlib.artist import Artist
from matplotlib.axes import Axes
from matplotlib.dates import AutoDateLocator, ConciseDateFormatter
from matplotlib.figure import Figure
from matplotlib.layout_engine import ConstrainedLayoutEngine
from matplotlib.lines import Line2D
from matplotlib.patches import Patch
from matplotlib.ticker import PercentFormatter

from orpr_kedro.core.evaluation.report import POLICY_LABELS
from orpr_kedro.core.figure_style import TEXT_POINTS, policy_colour, readable

from .labels import label_points

# Cost components in the stacked bar: each bar keeps its policy's colour, the component
# is told by fill (solid, hatched, dotted), so colour always means policy.
_COST_PARTS = (
    ("holding_cost", "holding", {"alpha": 1.0, "hatch": None}),
    ("lost_sales_cost", "lost sales", {"alpha": 0.55, "hatch": "///"}),
    ("order_cost", "ordering", {"alpha": 0.3, "hatch": ".."}),
)
_MARKERS = ("o", "s", "D", "^", "v", "P", "X", "h")


def _label(policy: str) -> str:
    return POLICY_LABELS.get(policy, policy)


def _dates(axis: Axes) -> None:
    """Level date ticks that do not crowd: at most six, the year and month said once."""
    locator = AutoDateLocator(maxticks=6)
    axis.xaxis.set_major_locator(locator)
    axis.xaxis.set_major_formatter(ConciseDateFormatter(locator))


def kpi_comparison(kpis: pd.DataFrame, *, currency: str) -> Figure:
    """Total cost (stacked by component, with its bootstrap interval), turnover days and in-stock rate per policy.

    Horizontal bars, one row per policy (first at the top), so the names read level.
    """
    overall = kpis[kpis["scope"] == "all"].reset_index(drop=True)
    labels = [_label(p) for p in overall["policy"]]
    colours = [policy_colour(p) for p in overall["policy"]]
    y = np.arange(len(overall))
    # wspace: room between the panels' edge ticks
    figure = Figure(figsize=(16, 1.6 + 0.5 * len(overall)), layout=ConstrainedLayoutEngine(wspace=0.12))
    axes = figure.subplots(1, 3, sharey=True)
    left = np.zeros(len(overall))
    for column, _, style in _COST_PARTS:
        axes[0].barh(y, overall[column], left=left, color=colours, edgecolor="white", linewidth=0.6, **style)
        left += overall[column].to_numpy()
    if "total_cost_ci_low" in overall:
        err = np.vstack(
            [
                overall["total_cost"] - overall["total_cost_ci_low"],
                overall["total_cost_ci_high"] - overall["total_cost"],
            ]
        )
        axes[0].errorbar(overall["total_cost"], y, xerr=np.clip(err, 0, None), fmt="none", color="black", capsize=3)
    axes[0].set_title(f"total cost on the test period ({currency})")
    axes[0].xaxis.set_major_formatter("{x:,.0f}")
    axes[0].legend(
        handles=[Patch(facecolor="0.45", edgecolor="white", label=name, **style) for _, name, style in _COST_PARTS],
        title="cost part",
        loc="lower right",
    )
    for axis, column, title in (
        (axes[1], "turnover_days", "turnover (days)"),
        (axes[2], "in_stock_rate", "in-stock rate"),
    ):
        axis.barh(y, overall[column], color=colours, label=labels)
        low, high = f"{column}_ci_low", f"{column}_ci_high"
        if low in overall:
            err = np.vstack([overall[column] - overall[low], overall[high] - overall[column]])
            axis.errorbar(overall[column], y, xerr=np.clip(err, 0, None), fmt="none", color="black", capsize=3)
        axis.set_title(title)
    lowest = (
        overall["in_stock_rate_ci_low"].min() if "in_stock_rate_ci_low" in overall else overall["in_stock_rate"].min()
    )
    axes[2].set_xlim(max(0.0, lowest - 0.05), 1.0)
    axes[2].xaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
    axes[0].set_yticks(y, labels)
    axes[0].invert_yaxis()  # the first policy on top, as in the report's tables
    figure.suptitle("Every policy on the same held-out demand (bars: 95% bootstrap intervals over SKU-DCs)")
    return readable(figure)


def tradeoff(sweep: pd.DataFrame, kpis: pd.DataFrame) -> Figure:
    """Turnover days versus in-stock rate: the OR model over a sweep of alpha, every policy as a point.

    The policies are named in the legend (colour and marker); the sweep's points are
    labelled with their alpha, placed where no label covers another or a point.
    """
    figure = Figure(figsize=(10, 6), layout="constrained")
    axis = figure.subplots()
    axis.plot(
        sweep["turnover_days"],
        sweep["in_stock_rate"],
        marker="o",
        markersize=5,
        linestyle="--",
        color=policy_colour("or_policy"),
        label="OR policy re-solved at alpha",
    )
    overall = kpis[kpis["scope"] == "all"].reset_index(drop=True)
    for index, row in overall.iterrows():
        axis.scatter(
            row["turnover_days"],
            row["in_stock_rate"],
            s=90,
            marker=_MARKERS[int(index) % len(_MARKERS)],
            color=policy_colour(str(row["policy"])),
            edgecolor="black",
            linewidth=0.6,
            zorder=3,
            label=_label(str(row["policy"])),
        )
    axis.set_xlabel("turnover (days; lower: less stock)")
    axis.set_ylabel("in-stock rate (higher: fewer stock-outs)")
    # decimals as the tick spacing needs them: no two ticks of a narrow range read the same
    axis.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=None))
    axis.set_title("The turnover versus in-stock trade-off on the test period")
    axis.margins(0.12)
    axis.legend(loc="upper left", bbox_to_anchor=(1.02, 1.0), borderaxespad=0.0, title="test period")
    readable(figure)
    points = np.column_stack(
        [
            np.concatenate([sweep["turnover_days"], overall["turnover_days"]]),
            np.concatenate([sweep["in_stock_rate"], overall["in_stock_rate"]]),
        ]
    )
    label_points(
        axis,
        [(row.turnover_days, row.in_stock_rate, f"α {row.alpha:g}") for row in sweep.itertuples()],
        avoid=points,
        fontsize=TEXT_POINTS,
        marker_points=11.0,  # the policies' markers (s=90: about 9.5 points across)
    )
    return figure


def trajectories(daily: pd.DataFrame, lanes: pd.DataFrame) -> Figure:
    """End-of-day on-hand of the sample SKU-DCs under each policy, with their daily demand."""
    lane_ids = list(dict.fromkeys(daily["lane_id"])) if len(daily) else []
    figure = Figure(figsize=(15, 3.4 * max(1, (len(lane_ids) + 1) // 2) + 1.0), layout="constrained")
    if not lane_ids:
        figure.subplots().text(0.5, 0.5, "no sample SKU-DCs (evaluation.trajectory_lanes: 0)", ha="center")
        return readable(figure)
    axes = np.atleast_1d(figure.subplots((len(lane_ids) + 1) // 2, 2, squeeze=False).ravel())
    names = lanes.set_index("lane_id")
    policies = list(dict.fromkeys(daily["policy"]))
    for axis, lane in zip(axes, lane_ids, strict=False):
        part = daily[daily["lane_id"] == lane]
        first = part[part["policy"] == part["policy"].iloc[0]]
        axis.bar(first["date"], first["demand"], color="#d9d9d9", zorder=0)
        for policy, rows in part.groupby("policy", sort=False):
            axis.plot(
                rows["date"],
                rows["on_hand_end"],
                color=policy_colour(str(policy)),
                linewidth=1.4,
                label=_label(str(policy)),
            )
        axis.set_title(f"{names.loc[lane, 'sku_id']} @ {names.loc[lane, 'dc_id']} ({names.loc[lane, 'category']})")
        axis.set_ylabel("units")
        _dates(axis)
    for axis in axes[len(lane_ids) :]:
        axis.set_visible(False)
    handles: list[Artist] = [Line2D([], [], color=policy_colour(p), linewidth=2, label=_label(p)) for p in policies]
    handles.append(Patch(facecolor="#d9d9d9", label="demand"))
    figure.legend(handles=handles, loc="outside lower center", ncol=min(len(handles), 5))
    figure.suptitle("End-of-day on-hand (units) under each policy; grey bars: demand")
    return readable(figure)


# What each field-test outcome is measured in, for the axis titles (money in the currency).
_OUTCOME_TITLES = {
    "days_of_stock": "days of stock (days)",
    "in_stock_rate": "in-stock rate",
    "holding_cost": "holding cost ({currency} per SKU-DC and day)",
}


def field_test(panel: pd.DataFrame, effects: pd.DataFrame, *, currency: str) -> Figure:
    """Daily means of treated and control SKU-DCs, and the treated pairs' counterfactual, around the switch.

    Colours are the policies': the treated SKU-DCs in ORPR's (they run ORPR from the
    switch), the counterfactual and the controls in the incumbent rule's (dotted and
    dashed).
    """
    outcomes = list(effects["outcome"])
    figure = Figure(figsize=(5.6 * len(outcomes), 5.0), layout="constrained")
    axes = np.atleast_1d(figure.subplots(1, len(outcomes)))
    switch = panel.loc[panel["post"], "period"].min()
    orpr, incumbent = policy_colour("orpr"), policy_colour("incumbent")
    for axis, outcome in zip(axes, outcomes, strict=True):
        means = panel.groupby(["treated", "period"])[[outcome, f"{outcome}_counterfactual"]].mean()
        treated, control = means.loc[True], means.loc[False]
        axis.plot(treated.index, treated[outcome].rolling(7, min_periods=1).mean(), color=orpr, linewidth=1.8)
        axis.plot(
            treated.index,
            treated[f"{outcome}_counterfactual"].rolling(7, min_periods=1).mean(),
            color=incumbent,
            linestyle=":",
            linewidth=2.0,
        )
        axis.plot(
            control.index,
            control[outcome].rolling(7, min_periods=1).mean(),
            color=incumbent,
            linestyle="--",
            linewidth=1.4,
        )
        axis.axvline(switch, color="black", linewidth=0.8)
        title = _OUTCOME_TITLES.get(outcome, outcome.replace("_", " ")).format(currency=currency)
        axis.set_title(f"{title}, 7-day mean")
        if outcome == "in_stock_rate":
            axis.yaxis.set_major_formatter(PercentFormatter(1.0, decimals=0))
        _dates(axis)
    figure.legend(
        handles=[
            Line2D([], [], color=orpr, linewidth=1.8, label="treated (ORPR after the switch)"),
            Line2D([], [], color=incumbent, linestyle=":", linewidth=2.0, label="treated, had they stayed"),
            Line2D([], [], color=incumbent, linestyle="--", linewidth=1.4, label="matched controls (incumbent rule)"),
        ],
        loc="outside lower center",
        ncol=3,
    )
    figure.suptitle(
        "Simulated field test: the treated SKU-DCs switch from the incumbent rule to ORPR at the vertical line"
    )
    return readable(figure)
