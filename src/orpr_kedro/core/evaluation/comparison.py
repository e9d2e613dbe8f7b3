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

The tables are built in :mod:`orpr_kedro.core.evaluation.kpi_tables`, the acceptance targets
checked in :mod:`orpr_kedro.core.evaluation.targets`.
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
from orpr_kedro.core.evaluation.kpi_tables import (
    CLASSIC_POLICIES,
    POLICY_ORDER,
    daily_frame,
    decision_time_table,
    kpi_table,
    lane_kpis,
    sample_lanes,
    strongest_baseline,
    transfer_table,
)
from orpr_kedro.core.evaluation.or_policy import ORPolicy
from orpr_kedro.core.evaluation.targets import paired_change, target_checks
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.core.params import EvaluationParams, ORLabelingParams, RLAlignmentParams
from orpr_kedro.core.simulation.backtest import rule_policies
from orpr_kedro.core.simulation.kpi import aggregate_kpis
from orpr_kedro.core.simulation.period import Period, build_period
from orpr_kedro.core.simulation.policies import Policy
from orpr_kedro.core.simulation.rows import DecisionRows, build_decision_rows

logger = logging.getLogger(__name__)

__all__ = [
    "BOOTSTRAP_METRICS",
    "CLASSIC_POLICIES",
    "POLICY_ORDER",
    "BootstrapSettings",
    "EvaluationInputs",
    "EvaluationWindow",
    "bootstrap_kpis",
    "daily_frame",
    "decision_time_table",
    "evaluate_policies",
    "kpi_table",
    "lane_kpis",
    "paired_change",
    "sample_lanes",
    "service_level_sweep",
    "strongest_baseline",
    "target_checks",
    "transfer_table",
]


def alpha_override(data: Period, alpha: float) -> Period:
    """The same data with every category's service level ``alpha`` replaced (for the trade-off sweep)."""
    if not 0 < alpha < 1:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")
    return replace(data, lanes=data.lanes.assign(alpha=float(alpha)))


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
    cadence: str = "weekly",
) -> tuple[ClosedLoopResult, pd.DataFrame, pd.DataFrame]:
    """Every policy in one closed loop on the scored period.

    Returns the result, the OR solver log and the OR policy's expected cost of each
    chosen plan (:attr:`~orpr_kedro.core.evaluation.or_policy.ORPolicy.expected_costs`).

    ``classic``: more rule policies (e.g. ``tuned_base_stock``), run after the two built-in
    ones; ``or_data``: the period the OR policy reads in scenario mode (the window's, with
    the measured forecast error attached), by default the window's own. ``cadence``:
    ``weekly`` or ``review`` (each lane decides at each of its review days).

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
        cadence=cadence,
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
    return result, pd.concat(logs, ignore_index=True), or_scenario.expected_costs


def service_level_sweep(
    window: EvaluationWindow,
    alphas: Sequence[float],
    or_params: ORLabelingParams,
    *,
    seed: int,
    executor: TaskExecutor,
    licence: GurobiLicence | None = None,
    or_data: Period | None = None,
) -> pd.DataFrame:
    """The OR policy re-solved at each service level ``alpha`` (every category) on the scored period.

    ``alpha`` is the whole service requirement of each point: every category's lost-value
    budget is ``(1 - alpha)`` of its demand value and its in-stock floor is ``alpha``
    (in place of ``or_labeling.in_stock_floor``; without a floor where ``dc_capacity``
    couples the categories), so tightening it tightens both.

    ``or_data``: the period the OR policy reads (the window's with the measured forecast
    error attached, as :func:`evaluate_policies`); by default the window's own.

    All sweep points run in one closed loop (same demand, lead times and initial state
    as :func:`evaluate_policies` with the same seed). Returns one row per alpha with the
    overall KPIs: the turnover versus in-stock trade-off the OR model can buy.
    """
    scenario = or_params.model_copy(update={"mode": "scenario"})

    def at(alpha: float) -> ORLabelingParams:
        # alpha is the whole service requirement: the value budget and the in-stock floor
        if or_params.dc_capacity:  # no in-stock rows in the coupled model
            return scenario
        return scenario.model_copy(update={"in_stock_floor": {"default": float(alpha)}})

    policies: dict[str, Policy] = {
        f"or_alpha_{alpha:g}": ORPolicy(
            alpha_override(window.data if or_data is None else or_data, alpha),
            at(alpha),
            seed,
            executor,
            f"or_alpha_{alpha:g}",
            licence,
        )
        for alpha in alphas
    }
    grid = or_params.action_grid().coverage_grid
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
