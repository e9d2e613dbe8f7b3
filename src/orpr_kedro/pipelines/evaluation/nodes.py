"""Nodes of the evaluation pipeline: thin wrappers around ``orpr_kedro.core``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.evaluation import comparison, did, field_trial, report
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.core.optimization.summary import log_solve_summary
from orpr_kedro.core.params import (
    EvaluationParams,
    ORLabelingParams,
    RLAlignmentParams,
    parse_params,
)
from orpr_kedro.pipelines.rl_alignment.nodes import plot_rl_training_curves

from . import figures

logger = logging.getLogger(__name__)


def _period(
    policy: FoundationPolicy,
    tables: tuple[pd.DataFrame, ...],
    splits: TimeSplits,
    rl_alignment: dict[str, Any],
    or_settings: ORLabelingParams,
    score_from: pd.Timestamp,
    burn_in_weeks: int,
) -> comparison.PeriodData:
    """The evaluation window's context; ``tables``: features, labels, lanes, daily sales, forecasts."""
    rl_settings: RLAlignmentParams = parse_params("rl_alignment", rl_alignment)
    return comparison.period_data(
        *tables, splits, policy, rl_settings, or_settings, score_from=score_from, burn_in_weeks=burn_in_weeks
    )


def evaluate_policies(  # noqa: PLR0913 - the persisted inputs of every policy
    foundation_model: dict[str, Any],
    aligned_policy: dict[str, Any],
    baseline_learner: object,
    gurobi_licence: GurobiLicence,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: dict[str, Any],
    or_labeling: dict[str, Any],
    rl_alignment: dict[str, Any],
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every policy on the test period, closed loop, same demand and lead times.

    Returns the decisions, the KPIs per policy and SKU-DC, daily trajectories of the
    sample SKU-DCs, the decision time per policy and the OR solver log.
    """
    settings: EvaluationParams = parse_params("evaluation", params)
    or_settings: ORLabelingParams = parse_params("or_labeling", or_labeling)
    splits = TimeSplits.from_dict(time_splits)
    pretrained = FoundationPolicy.from_payload(foundation_model)
    tables = (features, labels, lanes, daily_sales, forecasts)
    period = _period(pretrained, tables, splits, rl_alignment, or_settings, splits.test_start, settings.burn_in_weeks)
    networks = {"pretrained": pretrained.model, "orpr": FoundationPolicy.from_payload(aligned_policy).model}
    with TaskExecutor(or_settings.executor) as executor:
        result, solver_log = comparison.evaluate_policies(
            period,
            networks,
            {"baseline_learner": baseline_learner},
            features,
            or_settings,
            hindsight=settings.hindsight_oracle,
            seed=seed,
            executor=executor,
            trajectory_lanes=settings.trajectory_lanes,
            threads=settings.threads,
            licence=gurobi_licence,
        )
    per_lane = comparison.lane_kpis(result, splits.holdout_categories)
    trajectories = (
        comparison.daily_frame(result, period.data.lanes["holding_cost"].to_numpy(dtype=np.float64))
        if result.daily is not None
        else pd.DataFrame(columns=["policy", "lane_id", "date"])
    )
    timing = comparison.decision_time_table(result)
    overall = per_lane.groupby("policy", sort=False)[["total_cost"]].sum()["total_cost"]
    logger.info("Test-period total cost: %s", ", ".join(f"{name} {cost:,.0f}" for name, cost in overall.items()))
    log_solve_summary("evaluation OR policy", solver_log, logger)
    decisions = result.decisions[result.decisions["scored"]].drop(columns="scored").reset_index(drop=True)
    return decisions, per_lane, trajectories, timing, solver_log


def summarise_kpis(
    lane_kpis: pd.DataFrame, decision_time: pd.DataFrame, params: dict[str, Any], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KPI table per policy and scope with bootstrap intervals (wide), and the intervals (long)."""
    settings: EvaluationParams = parse_params("evaluation", params)
    bootstrap = comparison.BootstrapSettings(settings.bootstrap.n_resamples, settings.bootstrap.level, int(seed))
    intervals = comparison.bootstrap_kpis(lane_kpis, bootstrap, reference="incumbent")
    return comparison.kpi_table(lane_kpis, intervals, decision_time), intervals


def check_targets(kpis: pd.DataFrame, decision_time: pd.DataFrame, params: dict[str, Any]) -> pd.DataFrame:
    """The acceptance targets, each with the measured value and whether it is met."""
    settings: EvaluationParams = parse_params("evaluation", params)
    table = comparison.target_checks(kpis, decision_time, settings.targets)
    for row in table.itertuples():
        logger.info("Target %s: %s (%s)", row.target, "met" if row.met else "MISSED", row.measured)
    return table


def report_transfer(lane_kpis: pd.DataFrame, time_splits: dict[str, Any]) -> pd.DataFrame:
    """Learned policies on the categories they trained on versus the held-out ones."""
    splits = TimeSplits.from_dict(time_splits)
    table = comparison.transfer_table(lane_kpis, splits.holdout_categories, ["baseline_learner", "pretrained", "orpr"])
    if table.empty:
        logger.warning(
            "No held-out categories (data_processing.splits.holdout_categories): the transfer table is empty"
        )
    return table


def sweep_service_level(  # noqa: PLR0913
    foundation_model: dict[str, Any],
    gurobi_licence: GurobiLicence,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: dict[str, Any],
    or_labeling: dict[str, Any],
    rl_alignment: dict[str, Any],
    seed: int,
) -> pd.DataFrame:
    """The OR policy re-solved at each service level alpha on the test period: turnover versus in-stock."""
    settings: EvaluationParams = parse_params("evaluation", params)
    or_settings: ORLabelingParams = parse_params("or_labeling", or_labeling)
    splits = TimeSplits.from_dict(time_splits)
    tables = (features, labels, lanes, daily_sales, forecasts)
    period = _period(
        FoundationPolicy.from_payload(foundation_model),
        tables,
        splits,
        rl_alignment,
        or_settings,
        splits.test_start,
        settings.burn_in_weeks,
    )
    with TaskExecutor(or_settings.executor) as executor:
        table = comparison.service_level_sweep(
            period, settings.tradeoff_alphas, or_settings, seed=seed, executor=executor, licence=gurobi_licence
        )
    return table


def simulate_field_test(
    aligned_policy: dict[str, Any],
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: dict[str, Any],
    or_labeling: dict[str, Any],
    rl_alignment: dict[str, Any],
    seed: int,
) -> pd.DataFrame:
    """Daily trajectories of every SKU-DC in the incumbent world and the ORPR world (switch at the test start)."""
    settings: EvaluationParams = parse_params("evaluation", params)
    design_params = settings.field_test
    or_settings: ORLabelingParams = parse_params("or_labeling", or_labeling)
    splits = TimeSplits.from_dict(time_splits)
    pre_start = splits.test_start - pd.Timedelta(weeks=design_params.pre_weeks)
    aligned = FoundationPolicy.from_payload(aligned_policy)
    tables = (features, labels, lanes, daily_sales, forecasts)
    period = _period(aligned, tables, splits, rl_alignment, or_settings, pre_start, design_params.burn_in_weeks)
    design = field_trial.FieldTestDesign(period.start, pre_start, splits.test_start, period.end)
    result = field_trial.simulate_worlds(period.context, aligned.model, design, seed, settings.threads)
    return field_trial.daily_trajectories(result)


def match_field_test_units(
    daily: pd.DataFrame, lanes: pd.DataFrame, time_splits: dict[str, Any], params: dict[str, Any], seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Treated SKU-DCs by the manager's rule, controls by propensity score; the covariate balance."""
    settings = parse_params("evaluation", params).field_test
    splits = TimeSplits.from_dict(time_splits)
    units = field_trial.field_test_units(daily, lanes, splits.test_start)
    treated = did.select_treated(
        units,
        settings.treated_share,
        volume_column="mean_demand",
        stability_column="lead_time_cv",
        min_volume_quantile=settings.min_volume_quantile,
        max_stability_quantile=settings.max_lead_time_cv_quantile,
    )
    covariates = ["pre_turnover_days", "mean_demand"]
    pairs = did.propensity_match(units, treated, covariates, caliper=settings.caliper, seed=int(seed))
    units["treated"] = units["unit_id"].isin(pairs["treated_id"])
    units["control"] = units["unit_id"].isin(pairs["control_id"])
    units["selected_by_rule"] = treated
    scores = pd.concat(
        [
            pairs[["treated_id", "treated_score"]].set_axis(["unit_id", "propensity"], axis=1),
            pairs[["control_id", "control_score"]].set_axis(["unit_id", "propensity"], axis=1),
        ]
    )
    units = units.merge(scores, on="unit_id", how="left")
    balance = did.balance_table(
        units,
        pairs["treated_id"].to_numpy(),
        pairs["control_id"].to_numpy(),
        covariates,
        all_treated=units.loc[treated, "unit_id"].to_numpy(),
    )
    logger.info("Field test: %d SKU-DCs chosen by the rule, %d matched to controls", int(treated.sum()), len(pairs))
    return units, balance


def estimate_field_test(
    daily: pd.DataFrame, units: pd.DataFrame, time_splits: dict[str, Any], params: dict[str, Any]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observed panel and the DiD estimates with the true effects."""
    settings = parse_params("evaluation", params).field_test
    splits = TimeSplits.from_dict(time_splits)
    panel = field_trial.field_test_panel(
        daily,
        units,
        units.loc[units["treated"], "unit_id"].to_numpy(),
        units.loc[units["control"], "unit_id"].to_numpy(),
        splits.test_start,
    )
    effects = field_trial.estimate_effects(panel, alpha=settings.alpha)
    for row in effects.itertuples():
        logger.info(
            "Field test DiD %s: %.4f [%.4f, %.4f], true effect %.4f, pre-trend p %.3f",
            row.outcome,
            row.effect,
            row.ci_low,
            row.ci_high,
            row.true_effect,
            row.pre_trend_p_value,
        )
    return panel, effects


def plot_report_figures(
    kpis: pd.DataFrame,
    tradeoff: pd.DataFrame,
    trajectories: pd.DataFrame,
    lanes: pd.DataFrame,
    panel: pd.DataFrame,
    effects: pd.DataFrame,
    rl_curves: pd.DataFrame,
) -> dict[str, Figure]:
    """The report's figures, keyed by file name (``figures/<name>.png`` next to the report)."""
    return {
        "kpi_comparison.png": figures.kpi_comparison(kpis),
        "tradeoff.png": figures.tradeoff(tradeoff, kpis),
        "trajectories.png": figures.trajectories(trajectories, lanes),
        "field_test.png": figures.field_test(panel, effects),
        "rl_curves.png": plot_rl_training_curves(rl_curves),
    }


def write_report(  # noqa: PLR0913 - one table per report section
    kpis: pd.DataFrame,
    targets: pd.DataFrame,
    decision_time: pd.DataFrame,
    transfer: pd.DataFrame,
    tradeoff: pd.DataFrame,
    effects: pd.DataFrame,
    balance: pd.DataFrame,
    units: pd.DataFrame,
    alignment: pd.DataFrame,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    params: dict[str, Any],
) -> tuple[str, str]:
    """The planner's report as Markdown and as HTML."""
    settings: EvaluationParams = parse_params("evaluation", params)
    splits = TimeSplits.from_dict(time_splits)
    period = {
        "start": str(splits.test_start.date()),
        "end": str(splits.data_end.date()),
        "n_lanes": f"{len(lanes):,}",
        "burn_in_weeks": str(settings.burn_in_weeks),
    }
    text = report.render_report(
        kpis=kpis,
        targets=targets,
        decision_time=decision_time,
        transfer=transfer,
        tradeoff=tradeoff,
        effects=effects,
        balance=balance,
        units=units,
        alignment=alignment,
        period=period,
        bootstrap_level=settings.bootstrap.level,
    )
    return text, report.render_html(text)
