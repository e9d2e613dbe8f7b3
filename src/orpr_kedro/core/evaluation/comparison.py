"""Evaluation on held-out demand: every policy in one closed loop, KPIs with bootstrap
intervals, decision times, transfer to held-out categories and the alpha trade-off.

All policies run side by side in :func:`orpr_kedro.core.evaluation.closed_loop.closed_loop_validation`:
the same actual demand, the same lead-time draws and the same initial state, each
policy deciding every week from its OWN simulated state. State-dependent policies are
:class:`~orpr_kedro.core.evaluation.closed_loop.Decider` objects defined here:

* :class:`ORDecider`: the OR model re-solved on every decision date from the policy's
  state (scenario mode: demand sampled from the forecast, non-anticipative; hindsight
  mode: the actual demand, an oracle bound that no real policy can reach);
* :class:`LearnerDecider`: a learner that maps decision inputs to a grid index (the
  HistGradientBoosting baseline);
* :class:`NetworkDecider`: the foundation model or the aligned policy (argmax);
* :class:`IncumbentDecider` and :class:`SwitchDecider` (one policy up to a date, another
  after it), which the simulated field test uses.

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
from orpr_kedro.core.evaluation.closed_loop import ClosedLoopResult, closed_loop_validation
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.learning.inputs import DecisionInputs
from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.core.optimization.labeling import LabelingData, LaneState
from orpr_kedro.core.optimization.window import decide_window
from orpr_kedro.core.params import ORLabelingParams, RLAlignmentParams
from orpr_kedro.core.rl.alignment import decision_logits, lane_context
from orpr_kedro.core.rl.env import LaneContext
from orpr_kedro.core.simulation.kpi import (
    ADDITIVE_COLUMNS,
    RATIO_COLUMNS,
    aggregate_kpis,
    kpis_from_accumulators,
)

logger = logging.getLogger(__name__)

__all__ = [
    "BOOTSTRAP_METRICS",
    "POLICY_ORDER",
    "IncumbentDecider",
    "LearnerDecider",
    "NetworkDecider",
    "ORDecider",
    "SwitchDecider",
    "bootstrap_kpis",
    "context_inputs",
    "decision_time_table",
    "lane_kpis",
    "transfer_table",
]

# KPIs given a bootstrap interval (the headline ones of the paper)
BOOTSTRAP_METRICS = (
    "total_cost",
    "holding_cost",
    "lost_sales_cost",
    "order_cost",
    "lost_units",
    "turnover_days",
    "in_stock_rate",
    "n_orders",
)
_BASE = tuple(c for c in ADDITIVE_COLUMNS if c != "total_cost")


# --------------------------------------------------------------------------- deciders
class ORDecider:
    """The OR policy, re-solved on every decision date from the policy's own state.

    Uses the labeling code path (candidate simulation, multiple-choice models per
    category, the configured solver with its visible fallback). ``params.mode`` picks
    scenario (sampled demand) or hindsight (actual demand: the oracle bound; near the
    end of the data its horizon is cut to the days left). The solver records of every
    date accumulate in :attr:`solver_log`.
    """

    def __init__(
        self,
        data: LabelingData,
        params: ORLabelingParams,
        seed: int,
        executor: TaskExecutor,
        name: str = "or_policy",
        licence: GurobiLicence | None = None,
    ) -> None:
        self.data = data
        self.licence = licence or GurobiLicence()
        self.params = params
        self.seed = int(seed)
        self.executor = executor
        self.name = name
        self.grid = np.asarray(params.coverage_grid.values(), dtype=np.float64)
        self._log: list[pd.DataFrame] = []

    def __call__(
        self, date: pd.Timestamp, rows: np.ndarray, on_hand: np.ndarray, pipeline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        window = int(self.data.decision_dates.get_loc(pd.Timestamp(date)))
        state = LaneState(
            on_hand=np.asarray(on_hand, dtype=np.float64), pipeline=np.asarray(pipeline, dtype=np.float64)
        )
        decision = decide_window(
            self.data,
            window,
            state,
            self.grid,
            self.params,
            self.seed,
            self.executor,
            self.licence,
            truncate_hindsight=True,
            description=f"{self.name} {pd.Timestamp(date).date()}",
        )
        results, choice = decision.results, decision.choice
        self._log.append(
            pd.DataFrame([{"policy": self.name, "decision_date": pd.Timestamp(date), **r.to_record()} for r in results])
        )
        return self.grid[choice], choice

    @property
    def solver_log(self) -> pd.DataFrame:
        """One row per solved model: policy, date, solver, status, gap, time, fallback reason."""
        return pd.concat(self._log, ignore_index=True) if self._log else pd.DataFrame()


class NetworkDecider:
    """A foundation-model payload's network deciding the argmax coverage from the state."""

    def __init__(self, context: LaneContext, model: FoundationModel) -> None:
        self.context = context
        self.model = model

    def __call__(
        self, date: pd.Timestamp, rows: np.ndarray, on_hand: np.ndarray, pipeline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        obs = self.context.observe(rows, on_hand, pipeline.sum(axis=1))
        index = decision_logits(self.model, self.context.layout, obs).argmax(dim=1).numpy()
        return self.context.grid[index], index


class LearnerDecider:
    """A learner with ``decide_index(DecisionInputs) -> grid index`` (the baseline learner).

    ``inputs`` holds the decision inputs of every context row (see :func:`context_inputs`);
    the state columns are replaced by the policy's own state on each call.
    """

    def __init__(self, learner, inputs: DecisionInputs, grid: np.ndarray) -> None:
        self.learner = learner
        self.inputs = inputs
        self.grid = np.asarray(grid, dtype=np.float64)

    def __call__(
        self, date: pd.Timestamp, rows: np.ndarray, on_hand: np.ndarray, pipeline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        inputs = self.inputs.subset(rows)
        inputs.on_hand = np.asarray(on_hand, dtype=np.float64)
        inputs.on_order = pipeline.sum(axis=1)
        index = np.asarray(self.learner.decide_index(inputs), dtype=np.int64)
        return self.grid[index], index


class IncumbentDecider:
    """The incumbent rule: every lane covers its category's target turnover days."""

    def __init__(self, lanes: pd.DataFrame, grid: np.ndarray) -> None:
        self.days = lanes["target_turnover_days"].to_numpy(dtype=np.float64)
        grid = np.asarray(grid, dtype=np.float64)
        index = np.clip(np.searchsorted(grid, self.days), 0, len(grid) - 1)
        self.index = np.where(np.isclose(grid[index], self.days), index, -1)

    def __call__(
        self, date: pd.Timestamp, rows: np.ndarray, on_hand: np.ndarray, pipeline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        return self.days.copy(), self.index.copy()


class SwitchDecider:
    """``before`` on decision dates earlier than ``switch_date``, ``after`` from it on."""

    def __init__(self, before, after, switch_date: pd.Timestamp) -> None:
        self.before, self.after = before, after
        self.switch_date = pd.Timestamp(switch_date)

    def __call__(
        self, date: pd.Timestamp, rows: np.ndarray, on_hand: np.ndarray, pipeline: np.ndarray
    ) -> tuple[np.ndarray, np.ndarray]:
        policy = self.after if pd.Timestamp(date) >= self.switch_date else self.before
        return policy(date, rows, on_hand, pipeline)


def context_inputs(features: pd.DataFrame, context: LaneContext) -> DecisionInputs:
    """Decision inputs of every context row, in the context's row order (lane, then date)."""
    dates = pd.DatetimeIndex(features["decision_date"]).to_numpy(dtype="datetime64[ns]")
    keep = np.isin(dates, np.unique(context.row_date))
    chosen = features[keep].sort_values(["lane_id", "decision_date"]).reset_index(drop=True)
    same = (
        len(chosen) == context.n_rows
        and np.array_equal(chosen["lane_id"].to_numpy(dtype=np.int64), context.row_lane)
        and np.array_equal(chosen["decision_date"].to_numpy(dtype="datetime64[ns]"), context.row_date)
    )
    if not same:
        raise ValueError(
            "mi_decision_features does not hold one row per lane and decision date of the evaluation period"
        )
    return DecisionInputs.from_frame(chosen, on_hand=np.zeros(len(chosen)), on_order=np.zeros(len(chosen)))


# --------------------------------------------------------------------------- tables
# the order policies appear in tables and plots: rules, OR, learners, the oracle last
POLICY_ORDER = ("incumbent", "base_stock", "or_policy", "baseline_learner", "pretrained", "orpr", "or_hindsight")


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


def _resample_counts(n_units: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_draws, n_units]``: how often each unit is drawn in each bootstrap sample."""
    draws = rng.integers(0, n_units, size=(n_draws, n_units))
    offsets = (np.arange(n_draws) * n_units)[:, None]
    return (
        np.bincount((draws + offsets).ravel(), minlength=n_draws * n_units).reshape(n_draws, n_units).astype(np.float64)
    )


@dataclass(frozen=True)
class BootstrapSettings:
    """Bootstrap over lanes: ``n_resamples`` draws, a two-sided ``level`` interval."""

    n_resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    chunk: int = 200


def bootstrap_kpis(
    frame: pd.DataFrame, settings: BootstrapSettings, reference: str | None = "incumbent"
) -> pd.DataFrame:
    """KPIs per policy and scope with percentile bootstrap intervals over SKU-DC pairs.

    Lanes are resampled with replacement (the same draws for every policy: paired), the
    accumulators are summed over each sample and the KPIs formed from the sums (ratios
    after summing, as everywhere). Scopes: ``all`` and each category. With a
    ``reference`` policy, the relative change of total cost against it
    (``total_cost_change_vs_reference``, a share) gets its paired interval too.

    Args:
        frame: :func:`lane_kpis` output (one row per policy and lane).
        settings: resamples, interval level, seed.

    Returns:
        Long table: ``policy, scope, metric, value, ci_low, ci_high``.
    """
    if not 0 < settings.level < 1:
        raise ValueError(f"bootstrap level must be in (0, 1), got {settings.level}")
    policies = list(dict.fromkeys(frame["policy"]))
    rows: list[dict] = []
    scopes = [("all", np.ones(len(frame), dtype=bool))] + [
        (str(category), (frame["category"] == category).to_numpy()) for category in sorted(frame["category"].unique())
    ]
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, 20251219]))
    tail = (1 - settings.level) / 2
    for scope, mask in scopes:
        part = frame[mask]
        wide = {
            name: part.pivot(index="lane_id", columns="policy", values=name).reindex(columns=policies) for name in _BASE
        }
        lanes = wide[_BASE[0]].index
        acc = np.stack([wide[name].to_numpy(dtype=np.float64) for name in _BASE], axis=-1)  # [N, P, K]
        point = kpis_from_accumulators({name: acc[..., k].sum(axis=0) for k, name in enumerate(_BASE)})
        samples: dict[str, list[np.ndarray]] = {}
        for start in range(0, settings.n_resamples, settings.chunk):
            counts = _resample_counts(len(lanes), min(settings.chunk, settings.n_resamples - start), rng)
            sums = np.einsum("bn,npk->bpk", counts, acc)
            kpis = kpis_from_accumulators({name: sums[..., k] for k, name in enumerate(_BASE)})
            for metric in BOOTSTRAP_METRICS:
                samples.setdefault(metric, []).append(np.asarray(kpis[metric]))
            if reference in policies:
                ref = kpis["total_cost"][:, policies.index(reference)][:, None]
                samples.setdefault("total_cost_change_vs_reference", []).append(kpis["total_cost"] / ref - 1.0)
        if reference in policies:
            point["total_cost_change_vs_reference"] = (
                point["total_cost"] / point["total_cost"][policies.index(reference)] - 1.0
            )
        for metric, chunks in samples.items():
            values = np.concatenate(chunks, axis=0)  # [B, P]
            with np.errstate(invalid="ignore"):
                low, high = np.nanquantile(values, [tail, 1 - tail], axis=0)
            for p, policy in enumerate(policies):
                rows.append(
                    {
                        "policy": policy,
                        "scope": scope,
                        "metric": metric,
                        "value": float(point[metric][p]),
                        "ci_low": float(low[p]),
                        "ci_high": float(high[p]),
                    }
                )
    return pd.DataFrame(rows)


def kpi_table(frame: pd.DataFrame, intervals: pd.DataFrame, decision_time: pd.DataFrame) -> pd.DataFrame:
    """Wide KPI table per policy and scope: additive and ratio KPIs, ``<metric>_ci_low/high``
    for the bootstrapped metrics, and (scope ``all``) the decision time per 1,000 decisions."""
    overall = aggregate_kpis(frame, by="policy").assign(scope="all")
    by_category = aggregate_kpis(frame, by=["policy", "category"]).rename(columns={"category": "scope"})
    table = pd.concat([overall, by_category], ignore_index=True)
    bounds = intervals.pivot_table(index=["policy", "scope"], columns="metric", values=["ci_low", "ci_high"])
    bounds.columns = [f"{metric}_{side}" for side, metric in bounds.columns]
    table = table.merge(bounds.reset_index(), on=["policy", "scope"], how="left")
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


def alpha_override(data: LabelingData, alpha: float) -> LabelingData:
    """The same data with every category's service level ``alpha`` replaced (for the trade-off sweep)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return replace(data, lanes=data.lanes.assign(alpha=float(alpha)))


# --------------------------------------------------------------------------- the run
@dataclass
class PeriodData:
    """The lane context of an evaluation window (burn-in included) and its dates."""

    context: LaneContext
    start: pd.Timestamp
    score_from: pd.Timestamp
    end: pd.Timestamp

    @property
    def data(self) -> LabelingData:
        """Demand, forecasts and lanes of the window's context."""
        return self.context.data


def period_data(  # noqa: PLR0913 - the persisted tables the context is built from
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    splits: TimeSplits,
    policy: FoundationPolicy,
    rl_params: RLAlignmentParams,
    or_params: ORLabelingParams,
    *,
    score_from: pd.Timestamp,
    burn_in_weeks: int,
) -> PeriodData:
    """Context from ``burn_in_weeks`` before ``score_from`` to the end of the data.

    Built like the alignment's contexts (:func:`orpr_kedro.core.rl.alignment.lane_context`); the
    evaluation reads only demand, forecasts, observations and lane parameters from it.
    """
    start = max(pd.Timestamp(score_from) - pd.Timedelta(weeks=int(burn_in_weeks)), splits.first_decision_date)
    context = lane_context(
        features,
        labels,
        lanes,
        daily_sales,
        forecasts,
        splits,
        policy,
        rl_params,
        or_params,
        start=start,
        end=splits.data_end,
    )
    return PeriodData(context, start, pd.Timestamp(score_from), splits.data_end + pd.Timedelta(days=1))


def evaluate_policies(  # noqa: PLR0913 - every policy of the comparison
    period: PeriodData,
    networks: Mapping[str, FoundationModel],
    learners: Mapping[str, object],
    features: pd.DataFrame,
    or_params: ORLabelingParams,
    *,
    hindsight: bool,
    seed: int,
    executor: TaskExecutor,
    trajectory_lanes: int = 0,
    threads: int = 1,
    licence: GurobiLicence | None = None,
) -> tuple[ClosedLoopResult, pd.DataFrame]:
    """Every policy in one closed loop on the scored period; returns the result and the OR solver log.

    Policies, in report order: ``incumbent``, ``base_stock``, ``or_policy`` (scenario
    mode), the ``learners`` (e.g. ``baseline_learner``), the ``networks`` (e.g.
    ``pretrained``, ``orpr``) and, with ``hindsight``, ``or_hindsight`` (OR on the actual demand).
    """
    context = period.context
    or_scenario = ORDecider(
        period.data, or_params.model_copy(update={"mode": "scenario"}), seed, executor, "or_policy", licence
    )
    deciders: dict[str, object] = {"or_policy": or_scenario}
    inputs = context_inputs(features, context) if learners else None
    for name, learner in learners.items():
        deciders[name] = LearnerDecider(learner, inputs, context.grid)
    for name, model in networks.items():
        deciders[name] = NetworkDecider(context, model)
    oracle = None
    if hindsight:
        oracle = ORDecider(
            period.data, or_params.model_copy(update={"mode": "hindsight"}), seed, executor, "or_hindsight", licence
        )
        deciders["or_hindsight"] = oracle
    selected = sample_lanes(
        period.data.lanes, period.data.demand[:, period.data.day(period.score_from) :], trajectory_lanes
    )
    result = closed_loop_validation(
        context,
        deciders,
        {},
        start=period.start,
        end=period.end,
        seed=seed,
        initial_state="master",
        threads=threads,
        score_from=period.score_from,
        daily_lanes=selected if len(selected) else None,
    )
    order = ["incumbent", "base_stock", "or_policy", *learners, *networks, *(["or_hindsight"] if hindsight else [])]
    logs = [or_scenario.solver_log] + ([oracle.solver_log] if oracle is not None else [])
    logger.info(
        "Evaluated %s on %d scored weeks from %s", ", ".join(order), len(result.scored_dates), period.score_from.date()
    )
    return result, pd.concat(logs, ignore_index=True)


def service_level_sweep(
    period: PeriodData,
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
    deciders = {
        f"or_alpha_{alpha:g}": ORDecider(
            alpha_override(period.data, alpha), scenario, seed, executor, f"or_alpha_{alpha:g}", licence
        )
        for alpha in alphas
    }
    result = closed_loop_validation(
        period.context,
        deciders,
        {},
        start=period.start,
        end=period.end,
        seed=seed,
        initial_state="master",
        score_from=period.score_from,
        builtin=(),
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
    return pd.DataFrame(rows, columns=["target", "requirement", "value", "met", "measured"]).assign(policy=policy)
