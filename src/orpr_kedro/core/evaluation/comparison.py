"""Evaluation on held-out demand: every policy in one closed loop, KPI tables, decision times,
transfer to held-out categories and the alpha trade-off.

All policies run side by side in :func:`orpr_kedro.core.evaluation.closed_loop.closed_loop_validation`:
the same actual demand, the same lead-time draws and the same initial state, each
policy deciding every week from its OWN simulated state. The rules
(:mod:`orpr_kedro.core.simulation.policies`) and the OR policy
(:class:`~orpr_kedro.core.evaluation.or_policy.ORPolicy`) need neither torch nor a model
payload; learned policies (:mod:`orpr_kedro.core.evaluation.learned`) are handed in as
policies like any other.

A burn-in of a few weeks before the test period lets every policy reach its own
steady state; only the test period's days are scored.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.evaluation.bootstrap import BOOTSTRAP_METRICS, BootstrapSettings, bootstrap_kpis
from orpr_kedro.core.evaluation.closed_loop import ClosedLoopResult, closed_loop_validation
from orpr_kedro.core.evaluation.or_policy import ORPolicy
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.core.params import EvaluationParams, ORLabelingParams, RLAlignmentParams
from orpr_kedro.core.simulation.backtest import rule_policies
from orpr_kedro.core.simulation.kpi import ADDITIVE_COLUMNS, RATIO_COLUMNS, aggregate_kpis
from orpr_kedro.core.simulation.period import Period, build_period
from orpr_kedro.core.simulation.policies import Policy
from orpr_kedro.core.simulation.rows import DecisionRows, build_decision_rows

logger = logging.getLogger(__name__)

__all__ = [
    "BOOTSTRAP_METRICS",
    "POLICY_ORDER",
    "BootstrapSettings",
    "EvaluationInputs",
    "EvaluationWindow",
    "bootstrap_kpis",
    "decision_time_table",
    "evaluate_policies",
    "lane_kpis",
    "service_level_sweep",
    "transfer_table",
]


# --------------------------------------------------------------------------- tables
# the order policies appear in tables and plots: rules, OR, learners, the oracle last
POLICY_ORDER = (
    "incumbent",
    "base_stock",
    "tuned_base_stock",
    "or_policy",
    "baseline_learner",
    "pretrained",
    "orpr",
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


def alpha_override(data: Period, alpha: float) -> Period:
    """The same data with every category's service level ``alpha`` replaced (for the trade-off sweep)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return replace(data, lanes=data.lanes.assign(alpha=float(alpha)))


# --------------------------------------------------------------------------- the run
@dataclass
class EvaluationInputs:
    """The persisted tables and settings every evaluation node reads, and the period built from them once.

    ``features`` (``mi_decision_features``), ``labels`` (``mi_or_labels``), ``lanes``
    (``prm_lanes``), ``daily_sales`` (``prm_daily_sales``), ``forecasts``
    (``ftr_demand_forecast``), ``splits``; the typed parameters of evaluation,
    OR labeling and RL alignment (its promotion threshold flags promotion decisions).
    """

    features: pd.DataFrame
    labels: pd.DataFrame
    lanes: pd.DataFrame
    daily_sales: pd.DataFrame
    forecasts: pd.DataFrame
    splits: TimeSplits
    settings: EvaluationParams
    or_settings: ORLabelingParams
    rl_settings: RLAlignmentParams
    _period: Period | None = None

    @property
    def period(self) -> Period:
        """Demand, forecasts and lanes of the whole data (built on first use)."""
        if self._period is None:
            splits = self.splits
            self._period = build_period(
                self.lanes, self.daily_sales, self.forecasts, splits.decision_dates(), splits.first_decision_date
            )
        return self._period

    def window(self, score_from: pd.Timestamp, burn_in_weeks: int) -> EvaluationWindow:
        """Decision rows from ``burn_in_weeks`` before ``score_from`` to the end of the data."""
        splits = self.splits
        start = max(pd.Timestamp(score_from) - pd.Timedelta(weeks=int(burn_in_weeks)), splits.first_decision_date)
        rows = build_decision_rows(
            self.features,
            self.labels,
            self.period,
            start=start,
            end=splits.data_end,
            min_promo_days=self.rl_settings.reward.min_promo_days,
            max_lead_time=self.or_settings.max_lead_time,
        )
        return EvaluationWindow(rows, start, pd.Timestamp(score_from), splits.data_end + pd.Timedelta(days=1))


@dataclass
class EvaluationWindow:
    """The decision rows of an evaluation window (burn-in included) and its dates."""

    rows: DecisionRows
    start: pd.Timestamp
    score_from: pd.Timestamp
    end: pd.Timestamp

    @property
    def data(self) -> Period:
        """Demand, forecasts and lanes of the window."""
        return self.rows.period


def evaluate_policies(  # noqa: PLR0913 - every policy of the comparison
    window: EvaluationWindow,
    learned: Mapping[str, Policy],
    or_params: ORLabelingParams,
    *,
    grid: np.ndarray,
    hindsight: bool,
    seed: int,
    executor: TaskExecutor,
    trajectory_lanes: int = 0,
    licence: GurobiLicence | None = None,
    classic: Mapping[str, Policy] | None = None,
    or_data: Period | None = None,
) -> tuple[ClosedLoopResult, pd.DataFrame]:
    """Every policy in one closed loop on the scored period; returns the result and the OR solver log.

    ``classic``: more rule policies (e.g. ``tuned_base_stock``), run after the two built-in
    ones; ``or_data``: the period the OR policy reads in scenario mode (the window's, with
    the measured forecast error attached), by default the window's own.

    Policies: ``or_policy`` (scenario mode), the ``learned`` ones (e.g.
    ``baseline_learner``, ``pretrained``, ``orpr``), with ``hindsight`` ``or_hindsight`` (OR
    on the actual demand), then ``incumbent`` and ``base_stock``. ``grid``: the coverage
    grid (days) on which rule coverages are looked up.
    """
    data = window.data
    or_scenario = ORPolicy(
        data if or_data is None else or_data,
        or_params.model_copy(update={"mode": "scenario"}),
        seed,
        executor,
        "or_policy",
        licence,
    )
    policies: dict[str, Policy] = {"or_policy": or_scenario, **learned}
    oracle = None
    if hindsight:
        oracle = ORPolicy(
            data, or_params.model_copy(update={"mode": "hindsight"}), seed, executor, "or_hindsight", licence
        )
        policies["or_hindsight"] = oracle
    policies.update(rule_policies(data))
    policies.update(classic or {})
    selected = sample_lanes(data.lanes, data.demand[:, data.day(window.score_from) :], trajectory_lanes)
    result = closed_loop_validation(
        window.rows,
        policies,
        grid=grid,
        start=window.start,
        end=window.end,
        seed=seed,
        initial_state="master",
        score_from=window.score_from,
        daily_lanes=selected if len(selected) else None,
    )
    order = [
        "incumbent",
        "base_stock",
        *(classic or {}),
        "or_policy",
        *learned,
        *(["or_hindsight"] if hindsight else []),
    ]
    logs = [or_scenario.solver_log] + ([oracle.solver_log] if oracle is not None else [])
    logger.info(
        "Evaluated %s on %d scored weeks from %s", ", ".join(order), len(result.scored_dates), window.score_from.date()
    )
    return result, pd.concat(logs, ignore_index=True)


def service_level_sweep(
    window: EvaluationWindow,
    alphas: Sequence[float],
    or_params: ORLabelingParams,
    *,
    seed: int,
    executor: TaskExecutor,
    licence: GurobiLicence | None = None,
) -> pd.DataFrame:
    """The OR policy re-solved at each service level ``alpha`` (every category) on the scored period.

    All sweep points run in one closed loop (same demand, lead times and initial state
    as :func:`evaluate_policies` with the same seed). Returns one row per alpha with the
    overall KPIs: the turnover versus in-stock trade-off the OR model can buy.
    """
    scenario = or_params.model_copy(update={"mode": "scenario"})
    policies: dict[str, Policy] = {
        f"or_alpha_{alpha:g}": ORPolicy(
            alpha_override(window.data, alpha), scenario, seed, executor, f"or_alpha_{alpha:g}", licence
        )
        for alpha in alphas
    }
    grid = np.asarray(or_params.coverage_grid.values(), dtype=np.float64)
    result = closed_loop_validation(
        window.rows,
        policies,
        grid=grid,
        start=window.start,
        end=window.end,
        seed=seed,
        initial_state="master",
        score_from=window.score_from,
    )
    table = aggregate_kpis(result.backtest.lane_kpis(result.lanes), by="policy")
    table["alpha"] = table["policy"].map({f"or_alpha_{alpha:g}": float(alpha) for alpha in alphas})
    return table.sort_values("alpha").reset_index(drop=True)[["alpha", *[c for c in table.columns if c != "alpha"]]]


def target_checks(kpis: pd.DataFrame, decision_time: pd.DataFrame, targets, policy: str = "orpr") -> pd.DataFrame:
    """The acceptance targets of the evaluation against the measured KPIs (scope ``all``).

    ``targets`` carries ``max_cost_ratio_vs_incumbent``, ``max_cost_gap_vs_or`` and
    ``min_speedup_vs_or`` (see :class:`orpr_kedro.core.params.EvaluationTargets`).
    """
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    speed = decision_time.set_index("policy")
    me, incumbent, teacher = overall.loc[policy], overall.loc["incumbent"], overall.loc["or_policy"]
    baseline_rows = _baseline_targets(overall, policy, targets) if "reference_policy" in kpis.columns else []
    cost_ratio = me["total_cost"] / incumbent["total_cost"]
    gap = me["total_cost"] / teacher["total_cost"] - 1.0
    speedup = speed.loc["or_policy", "ms_per_1000_decisions"] / speed.loc[policy, "ms_per_1000_decisions"]
    rows = [
        (
            "total cost vs incumbent",
            f"<= {targets.max_cost_ratio_vs_incumbent:.2f} x incumbent",
            cost_ratio,
            cost_ratio <= targets.max_cost_ratio_vs_incumbent,
            f"{cost_ratio:.3f} x",
        ),
        (
            "in-stock rate vs incumbent",
            ">= incumbent",
            me["in_stock_rate"] - incumbent["in_stock_rate"],
            me["in_stock_rate"] >= incumbent["in_stock_rate"],
            f"{me['in_stock_rate']:.4f} vs {incumbent['in_stock_rate']:.4f}",
        ),
        (
            "turnover days vs incumbent",
            "<= incumbent",
            me["turnover_days"] - incumbent["turnover_days"],
            me["turnover_days"] <= incumbent["turnover_days"],
            f"{me['turnover_days']:.2f} vs {incumbent['turnover_days']:.2f} days",
        ),
        (
            "total cost vs OR policy",
            f"<= OR x {1 + targets.max_cost_gap_vs_or:.2f}",
            gap,
            gap <= targets.max_cost_gap_vs_or,
            f"{100 * gap:+.1f}%",
        ),
        (
            "decision speed vs OR policy",
            f">= {targets.min_speedup_vs_or:g} x faster",
            speedup,
            speedup >= targets.min_speedup_vs_or,
            f"{speedup:,.0f} x faster",
        ),
    ]
    return pd.DataFrame(baseline_rows + rows, columns=["target", "requirement", "value", "met", "measured"]).assign(
        policy=policy
    )


def _baseline_targets(overall: pd.DataFrame, policy: str, targets) -> list[tuple]:
    """The targets against the strongest classic baseline (the table's ``reference_policy``)."""
    baseline = str(overall["reference_policy"].dropna().iloc[0])
    me, bar, teacher = overall.loc[policy], overall.loc[baseline], overall.loc["or_policy"]
    ratio = me["total_cost"] / bar["total_cost"]
    high = me.get("total_cost_change_vs_reference_ci_high", np.nan)
    in_stock_gap = me["in_stock_rate"] - bar["in_stock_rate"]
    teacher_ratio = teacher["total_cost"] / bar["total_cost"]
    return [
        (
            f"total cost vs {baseline}",
            f"<= {targets.max_cost_ratio_vs_baseline:.2f} x, paired interval below zero",
            ratio,
            bool(ratio <= targets.max_cost_ratio_vs_baseline and high < 0),
            f"{ratio:.3f} x (interval up to {high:+.1%})",
        ),
        (
            f"in-stock vs {baseline}",
            f">= {baseline} - {100 * targets.max_in_stock_drop_vs_baseline:.1f} points",
            in_stock_gap,
            bool(in_stock_gap >= -targets.max_in_stock_drop_vs_baseline),
            f"{me['in_stock_rate']:.4f} vs {bar['in_stock_rate']:.4f}",
        ),
        (
            f"OR teacher vs {baseline}",
            f"<= {baseline}",
            teacher_ratio,
            bool(teacher_ratio <= 1.0),
            f"{teacher_ratio:.3f} x",
        ),
        *_alignment_target(me),
    ]


def _alignment_target(me: pd.Series) -> list[tuple]:
    """Aligned against pretrained: the paired interval of the cost change entirely below zero."""
    change = me.get("total_cost_change_vs_pretrained", np.nan)
    if pd.isna(change):
        return []
    low, high = me["total_cost_change_vs_pretrained_ci_low"], me["total_cost_change_vs_pretrained_ci_high"]
    return [
        (
            "aligned vs pretrained",
            "paired interval of the cost change below zero",
            change,
            bool(high < 0),
            f"{change:+.1%} [{low:+.1%}, {high:+.1%}]",
        )
    ]


def paired_change(intervals: pd.DataFrame, policy: str, suffix: str) -> dict[str, float]:
    """The overall paired cost change of ``policy`` in a bootstrap table, as ``total_cost_change_vs_<suffix>`` columns."""
    row = intervals[
        (intervals["policy"] == policy)
        & (intervals["scope"] == "all")
        & (intervals["metric"] == "total_cost_change_vs_reference")
    ]
    if row.empty:
        return {}
    first = row.iloc[0]
    name = f"total_cost_change_vs_{suffix}"
    return {
        name: float(first["value"]),
        f"{name}_ci_low": float(first["ci_low"]),
        f"{name}_ci_high": float(first["ci_high"]),
    }
