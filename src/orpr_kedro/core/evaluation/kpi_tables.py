"""The tables of a closed-loop comparison: KPIs per lane and policy, decision times, transfer, daily frames.

Costs are in the currency of ``unit_cost``, quantities in units, turnover in days; policies are
ordered by :data:`POLICY_ORDER`. :func:`strongest_baseline` names the cheapest classic policy,
the one every paired interval is taken against.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from orpr_kedro.core.evaluation.closed_loop import ClosedLoopResult
from orpr_kedro.core.simulation.kpi import ADDITIVE_COLUMNS, RATIO_COLUMNS, aggregate_kpis

# the order policies appear in tables and plots: rules, OR, learners, the oracle last
POLICY_ORDER = (
    "incumbent",
    "base_stock",
    "tuned_base_stock",
    "or_policy",
    "baseline_learner",
    "pretrained",
    "orpr",
    "aligned",
    "or_hindsight",
)


def lane_kpis(result: ClosedLoopResult, holdout_categories: Sequence[str] = ()) -> pd.DataFrame:
    """KPIs per (policy, lane) over the scored days, with the lane's ids, category and holdout flag.

    Rows are ordered by :data:`POLICY_ORDER` (other policy names after those), then lane.
    """
    frame = result.backtest.lane_kpis(result.lanes)
    frame["category_holdout"] = frame["category"].isin(list(holdout_categories))
    rank = {name: i for i, name in enumerate(POLICY_ORDER)}
    frame["_rank"] = frame["policy"].map(lambda name: rank.get(name, len(rank)))
    return frame.sort_values(["_rank", "lane_id"], kind="stable").drop(columns="_rank").reset_index(drop=True)


def decision_time_table(result: ClosedLoopResult) -> pd.DataFrame:
    """Wall time per 1,000 lane decisions of each policy, and its speed-up over ``or_policy``.

    The time covers everything a policy does to decide: building its inputs from the
    state, the network's forward pass or the learner's trees, or the OR model's
    candidate simulation and solves; the simulation of the week itself is not counted.
    """
    rows = []
    for name, seconds in result.decision_seconds.items():
        count = result.n_decisions.get(name, 0)
        rows.append(
            {
                "policy": name,
                "decisions": count,
                "seconds": seconds,
                "ms_per_1000_decisions": 1e6 * seconds / max(count, 1),
            }
        )
    table = pd.DataFrame(rows)
    reference = table.set_index("policy")["ms_per_1000_decisions"].get("or_policy", np.nan)
    table["times_faster_than_or"] = reference / table["ms_per_1000_decisions"].where(table["ms_per_1000_decisions"] > 0)
    return table


CLASSIC_POLICIES = ("incumbent", "base_stock", "tuned_base_stock")
"""Policies a planner can run without ORPR; the strongest of them is the bar every other policy is paired against."""


def strongest_baseline(frame: pd.DataFrame) -> str:
    """The classic policy with the lowest total cost in a per-lane KPI frame (the strictest bar on that period)."""
    costs = frame[frame["policy"].isin(CLASSIC_POLICIES)].groupby("policy")["total_cost"].sum()
    if costs.empty:
        raise ValueError(f"no classic policy ({', '.join(CLASSIC_POLICIES)}) in the KPI frame")
    return str(costs.idxmin())


def kpi_table(
    frame: pd.DataFrame, intervals: pd.DataFrame, decision_time: pd.DataFrame, reference: str | None = None
) -> pd.DataFrame:
    """Wide KPI table per policy and scope: additive and ratio KPIs, ``<metric>_ci_low/high``
    for the bootstrapped metrics, and (scope ``all``) the decision time per 1,000 decisions.

    With ``reference`` (the policy the intervals' paired changes are against) the table
    carries the point change ``total_cost_change_vs_reference`` and a ``reference_policy`` column.
    """
    overall = aggregate_kpis(frame, by="policy").assign(scope="all")
    by_category = aggregate_kpis(frame, by=["policy", "category"]).rename(columns={"category": "scope"})
    table = pd.concat([overall, by_category], ignore_index=True)
    bounds = intervals.pivot_table(index=["policy", "scope"], columns="metric", values=["ci_low", "ci_high"])
    bounds.columns = [f"{metric}_{side}" for side, metric in bounds.columns]
    table = table.merge(bounds.reset_index(), on=["policy", "scope"], how="left")
    change = intervals[intervals["metric"] == "total_cost_change_vs_reference"][["policy", "scope", "value"]]
    if len(change):
        table = table.merge(
            change.rename(columns={"value": "total_cost_change_vs_reference"}), on=["policy", "scope"], how="left"
        )
    if reference is not None:
        table["reference_policy"] = reference
    timing = decision_time[["policy", "ms_per_1000_decisions"]].assign(scope="all")
    table = table.merge(timing, on=["policy", "scope"], how="left")
    order = {name: i for i, name in enumerate(dict.fromkeys(frame["policy"]))}
    table["_policy"] = table["policy"].map(order)
    table["_scope"] = table["scope"].ne("all")
    table = table.sort_values(["_scope", "scope", "_policy"]).drop(columns=["_policy", "_scope"]).reset_index(drop=True)
    return table[["policy", "scope", *[c for c in table.columns if c not in ("policy", "scope")]]]


def transfer_table(
    frame: pd.DataFrame, holdout_categories: Sequence[str], policies: Sequence[str], teacher: str = "or_policy"
) -> pd.DataFrame:
    """KPIs of each policy on the categories it was trained on and on the held-out ones.

    ``gap_to_teacher``: total cost relative to the OR policy's on the same lanes (a
    share); ``transfer_gap`` (held-out rows): the held-out gap minus the trained gap,
    i.e. how much of the OR policy's quality a learned policy loses on categories it
    never saw. Empty when no category is held out.
    """
    holdout = list(holdout_categories)
    if not holdout:
        return pd.DataFrame(
            columns=["policy", "group", "categories", "n_lanes", "total_cost", "gap_to_teacher", "transfer_gap"]
        )
    part = frame[frame["policy"].isin([*policies, teacher])]
    part = part.assign(group=np.where(part["category"].isin(holdout), "held_out", "trained"))
    table = aggregate_kpis(part, by=["policy", "group"])
    counts = part.groupby(["policy", "group"])["lane_id"].nunique()
    table["n_lanes"] = [counts[key] for key in zip(table["policy"], table["group"], strict=True)]
    table["categories"] = table["group"].map(
        {"held_out": ", ".join(sorted(holdout)), "trained": ", ".join(sorted(set(frame["category"]) - set(holdout)))}
    )
    teacher_cost = table[table["policy"] == teacher].set_index("group")["total_cost"]
    table["gap_to_teacher"] = table["total_cost"] / table["group"].map(teacher_cost) - 1.0
    trained_gap = table[table["group"] == "trained"].set_index("policy")["gap_to_teacher"]
    table["transfer_gap"] = np.where(
        table["group"] == "held_out", table["gap_to_teacher"] - table["policy"].map(trained_gap), np.nan
    )
    columns = [
        "policy",
        "group",
        "categories",
        "n_lanes",
        *ADDITIVE_COLUMNS,
        *RATIO_COLUMNS,
        "gap_to_teacher",
        "transfer_gap",
    ]
    rank = {name: i for i, name in enumerate(POLICY_ORDER)}
    table = table.assign(
        _rank=table["policy"].map(lambda name: rank.get(name, len(rank))), _held=table["group"].eq("held_out")
    )
    return table.sort_values(["_rank", "policy", "_held"]).reset_index(drop=True)[columns]


def sample_lanes(lanes: pd.DataFrame, demand: np.ndarray, n: int) -> np.ndarray:
    """``n`` lanes to plot: the highest-volume lane of the largest categories, then the next ones."""
    volume = demand.sum(axis=1)
    order = np.lexsort((-volume, lanes["category"].to_numpy()))
    ranked = pd.DataFrame({"lane": order, "category": lanes["category"].to_numpy()[order], "volume": volume[order]})
    ranked["rank"] = ranked.groupby("category").cumcount()
    ranked = ranked.sort_values(["rank", "volume"], ascending=[True, False])
    return np.sort(ranked["lane"].to_numpy()[: max(int(n), 0)])


def daily_frame(result: ClosedLoopResult, holding_cost: np.ndarray) -> pd.DataFrame:
    """Daily trajectories of the recorded lanes: one row per policy, lane and scored day."""
    if result.daily is None or result.daily_lanes is None:
        raise ValueError("the closed loop kept no daily trajectories (daily_lanes=None)")
    lanes = result.daily_lanes
    n_policies, n_lanes, n_days = result.daily["on_hand_end"].shape
    start = result.scored_dates[0]
    policy = np.repeat(np.asarray(result.backtest.policies, dtype=object), n_lanes * n_days)
    lane = np.tile(np.repeat(result.lanes["lane_id"].to_numpy()[lanes], n_days), n_policies)
    day = np.tile(pd.date_range(start, periods=n_days, freq="D").to_numpy(), n_policies * n_lanes)
    frame = pd.DataFrame({"policy": policy, "lane_id": lane, "date": day})
    for name, values in result.daily.items():
        frame[name] = values.reshape(-1)
    frame["holding_cost"] = frame["on_hand_end"] * np.tile(np.repeat(holding_cost[lanes], n_days), n_policies)
    frame["in_stock"] = (frame["on_hand_start"] > 0).astype(np.float64)
    frame["sales"] = frame["demand"] - frame["lost"]
    return frame
