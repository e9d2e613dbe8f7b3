"""Nodes of the evaluation pipeline: thin wrappers around ``orpr_kedro.core``."""

from __future__ import annotations

import base64
import logging
from io import BytesIO
from typing import Any

import pandas as pd
from matplotlib.figure import Figure

from orpr_kedro.core.data.blocks import as_frame
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.evaluation import comparison, field_trial, learned, report
from orpr_kedro.core.evaluation.baselines import tune_on_validation
from orpr_kedro.core.evaluation.calibration import calibration_table
from orpr_kedro.core.evaluation.report_field_test import effects_table
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.core.optimization.scenarios import calibrated_period
from orpr_kedro.core.optimization.summary import log_solve_summary
from orpr_kedro.core.params import (
    EvaluationParams,
    ExecutionParams,
    ORLabelingParams,
    ParameterError,
    RLAlignmentParams,
    as_params,
)
from orpr_kedro.core.rl.curves import training_curves_figure
from orpr_kedro.core.rl.deploy import ALIGNED

from . import figures

logger = logging.getLogger(__name__)


def _inputs(  # noqa: PLR0913 - the persisted tables every evaluation node reads
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: EvaluationParams,
    or_labeling: ORLabelingParams,
    rl_alignment: RLAlignmentParams,
) -> comparison.EvaluationInputs:
    """The tables and typed settings of the evaluation in one object (the period's arrays are built on first use)."""
    inputs = comparison.EvaluationInputs(
        as_frame(features),
        labels,
        lanes,
        as_frame(daily_sales),
        as_frame(forecasts),
        TimeSplits.from_dict(time_splits),
        as_params(EvaluationParams, params),
        as_params(ORLabelingParams, or_labeling),
        as_params(RLAlignmentParams, rl_alignment),
    )
    return inputs


def evaluate_policies(  # noqa: PLR0913 - the persisted inputs of every policy
    foundation_model: dict[str, Any],
    orpr_policy: dict[str, Any],
    aligned_policy: dict[str, Any],
    baseline_learner: object,
    gurobi_licence: GurobiLicence,
    scenario_calibration: pd.DataFrame,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: EvaluationParams,
    or_labeling: ORLabelingParams,
    rl_alignment: RLAlignmentParams,
    execution: ExecutionParams,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame, pd.DataFrame]:
    """Every policy on the test period, closed loop, same demand and lead times.

    ``orpr`` is ``mdl_orpr_policy``: the aligned policy only where alignment beat the
    pretrained network on validation, otherwise the pretrained network; then the
    aligned network (``mdl_aligned_policy``) runs too, as ``aligned``, so the test
    period shows what the gate turned down.
    The tuned base-stock's service levels are chosen on the validation period; the OR
    policy's scenarios carry the measured forecast error (``mi_scenario_calibration``)
    unless ``or_labeling.scenarios.calibrate`` is false, as its labels did.

    Returns the decisions, the KPIs per policy and SKU-DC, daily trajectories of the
    sample SKU-DCs, the decision time per policy, the OR solver log, the base-stock
    tuning table and the OR model's calibration (expected against realised cost).
    """
    inputs = _inputs(features, labels, lanes, daily_sales, forecasts, time_splits, params, or_labeling, rl_alignment)
    settings, or_settings, splits = inputs.settings, inputs.or_settings, inputs.splits
    tuning_settings = settings.tuned_base_stock
    tuning = tune_on_validation(
        inputs.period, splits, tuning_settings, seed=seed, max_lead_time=or_settings.max_lead_time
    )
    chosen = tuning.choices()
    logger.info(
        "Tuned base-stock on validation: %s",
        ", ".join(f"{row[tuning_settings.group]} {row['candidate']}" for _, row in chosen.iterrows()),
    )
    window = inputs.window(splits.test_start, settings.burn_in_weeks)
    or_data = calibrated_period(window.data, scenario_calibration, or_settings)
    pretrained = FoundationPolicy.from_payload(foundation_model)
    orpr = FoundationPolicy.from_payload(orpr_policy)
    deployed = str(dict(orpr_policy.get("metadata", {})).get("orpr_network", "aligned"))
    # the aligned network also runs alone, without ORPR's service floor, so that it is compared with the
    # pretrained network like for like (ORPR is one of them with the floor), whichever the gate deployed
    networks = {
        "pretrained": pretrained.model,
        "orpr": orpr.model,
        ALIGNED: FoundationPolicy.from_payload(aligned_policy).model,
    }
    learned_policies = learned.learned_policies(
        window.rows,
        {"baseline_learner": baseline_learner},
        networks,
        pretrained.normalisation,
        pretrained.action_grid,
        service_floors={"orpr": orpr.floor_by("category")},
    )
    with (
        TaskExecutor(as_params(ExecutionParams, execution).executor) as executor,
        learned.torch_runtime(settings.threads),
    ):
        result, solver_log, expected = comparison.evaluate_policies(
            window,
            learned_policies,
            or_settings,
            grid=pretrained.action_grid.coverage_grid,
            hindsight=settings.hindsight_oracle,
            seed=seed,
            executor=executor,
            trajectory_lanes=settings.trajectory_lanes,
            licence=gurobi_licence,
            classic={"tuned_base_stock": tuning.policy(window.data.lane_arrays, window.data.dispersion)},
            or_data=or_data,
            cadence=settings.decision_cadence,
        )
    per_lane = comparison.lane_kpis(result, splits.holdout_categories)
    trajectories = (
        comparison.daily_frame(result, window.data.lane_arrays.holding_cost)
        if result.daily is not None
        else pd.DataFrame(columns=["policy", "lane_id", "date"])
    )
    timing = comparison.decision_time_table(result)
    overall = per_lane.groupby("policy", sort=False)[["total_cost"]].sum()["total_cost"]
    logger.info("Test-period total cost: %s", ", ".join(f"{name} {cost:,.0f}" for name, cost in overall.items()))
    log_solve_summary("evaluation OR policy", solver_log, logger)
    decisions = result.decisions[result.decisions["scored"]].drop(columns="scored").reset_index(drop=True)
    calibration = calibration_table(expected, per_lane, window.score_from)
    overall_row = calibration[calibration["category"] == "all"].iloc[0]
    logger.info(
        "OR model calibration on the test period: expected %s, realised %s (%+.1f%%)",
        f"{overall_row['expected_cost']:,.0f}",
        f"{overall_row['realised_cost']:,.0f}",
        100 * overall_row["error"],
    )
    floors = {entry["category"]: entry["service_level"] for entry in orpr.service_floor}
    tuned = tuning.table.assign(
        orpr_network=deployed, orpr_service_floor=tuning.table[tuning_settings.group].map(floors).astype(float)
    )
    return decisions, per_lane, trajectories, timing, solver_log, tuned, calibration


def summarise_kpis(
    lane_kpis: pd.DataFrame, decision_time: pd.DataFrame, params: EvaluationParams, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """KPI table per policy and scope with bootstrap intervals (wide), and the intervals (long)."""
    settings = as_params(EvaluationParams, params)
    bootstrap = comparison.BootstrapSettings(settings.bootstrap.n_resamples, settings.bootstrap.level, int(seed))
    baseline = comparison.strongest_baseline(lane_kpis)
    intervals = comparison.bootstrap_kpis(lane_kpis, bootstrap, reference=baseline)
    table = comparison.kpi_table(lane_kpis, intervals, decision_time, reference=baseline)
    # the aligned network against the pretrained one, both without the service floor (tables of
    # earlier runs, where the deployed aligned network ran only as ORPR, compare ORPR)
    aligned = ALIGNED if ALIGNED in set(lane_kpis["policy"]) else "orpr"
    if {aligned, "pretrained"} <= set(lane_kpis["policy"]):
        versus = comparison.bootstrap_kpis(lane_kpis, bootstrap, reference="pretrained")
        for column, value in comparison.paired_change(versus, aligned, "pretrained").items():
            table.loc[(table["policy"] == aligned) & (table["scope"] == "all"), column] = value
    logger.info("Strongest classic baseline on the test period: %s (the paired intervals are against it)", baseline)
    return table, intervals


def check_targets(kpis: pd.DataFrame, decision_time: pd.DataFrame, params: EvaluationParams) -> pd.DataFrame:
    """The acceptance targets, each with the measured value and whether it is met."""
    settings = as_params(EvaluationParams, params)
    table = comparison.target_checks(kpis, decision_time, settings.targets)
    missed = table.loc[~table["met"], "target"].tolist()
    logger.info(
        "Targets: %d of %d met%s (measured values: rpt_evaluation_targets and the report)",
        len(table) - len(missed),
        len(table),
        f"; missed: {', '.join(missed)}" if missed else "",
    )
    for row in table.itertuples():
        logger.debug("Target %s: %s (%s)", row.target, "met" if row.met else "MISSED", row.measured)
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
    gurobi_licence: GurobiLicence,
    scenario_calibration: pd.DataFrame,
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: EvaluationParams,
    or_labeling: ORLabelingParams,
    rl_alignment: RLAlignmentParams,
    execution: ExecutionParams,
    seed: int,
) -> pd.DataFrame:
    """The OR policy re-solved at each service level alpha on the test period: turnover versus in-stock.

    Rules and the OR policy only: no model payload is loaded. The scenarios carry the
    measured forecast error as the evaluated OR policy's do, so the sweep is of that model.
    """
    inputs = _inputs(features, labels, lanes, daily_sales, forecasts, time_splits, params, or_labeling, rl_alignment)
    settings, or_settings = inputs.settings, inputs.or_settings
    window = inputs.window(inputs.splits.test_start, settings.burn_in_weeks)
    with TaskExecutor(as_params(ExecutionParams, execution).executor) as executor:
        return comparison.service_level_sweep(
            window,
            settings.tradeoff_alphas,
            or_settings,
            seed=seed,
            executor=executor,
            licence=gurobi_licence,
            or_data=calibrated_period(window.data, scenario_calibration, or_settings),
        )


def simulate_field_test(  # noqa: PLR0913
    orpr_policy: dict[str, Any],
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: EvaluationParams,
    or_labeling: ORLabelingParams,
    rl_alignment: RLAlignmentParams,
    seed: int,
) -> pd.DataFrame:
    """Daily trajectories of every SKU-DC in the incumbent world and the ORPR world (switch at the test start)."""
    inputs = _inputs(features, labels, lanes, daily_sales, forecasts, time_splits, params, or_labeling, rl_alignment)
    settings, splits = inputs.settings, inputs.splits
    design_params = settings.field_test
    pre_start = splits.test_start - pd.Timedelta(weeks=design_params.pre_weeks)
    window = inputs.window(pre_start, design_params.burn_in_weeks)
    design = field_trial.FieldTestDesign(window.start, pre_start, splits.test_start, window.end)
    aligned = FoundationPolicy.from_payload(orpr_policy)
    result = field_trial.simulate_worlds(window, aligned, design, seed, settings.threads, settings.decision_cadence)
    return field_trial.daily_trajectories(result)


def match_field_test_units(
    daily: pd.DataFrame, lanes: pd.DataFrame, time_splits: dict[str, Any], params: EvaluationParams, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Treated SKU-DCs by the manager's rule, controls by propensity score; the covariate balance."""
    settings = as_params(EvaluationParams, params)
    units, balance = field_trial.match_units(
        daily, lanes, TimeSplits.from_dict(time_splits).test_start, settings.field_test, int(seed)
    )
    logger.info(
        "Field test: %d SKU-DCs chosen by the rule, %d matched to controls",
        int(units["selected_by_rule"].sum()),
        int(units["treated"].sum()),
    )
    return units, balance


def estimate_field_test(
    daily: pd.DataFrame,
    units: pd.DataFrame,
    time_splits: dict[str, Any],
    params: EvaluationParams,
    currency: str = "currency",
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The observed panel and the DiD estimates with the true effects (money in ``currency``)."""
    settings = as_params(EvaluationParams, params).field_test
    splits = TimeSplits.from_dict(time_splits)
    panel = field_trial.field_test_panel(
        daily,
        units,
        units.loc[units["treated"], "unit_id"].to_numpy(),
        units.loc[units["control"], "unit_id"].to_numpy(),
        splits.test_start,
    )
    effects = field_trial.estimate_effects(panel, alpha=settings.alpha)
    # as the report prints them: each effect in its unit, with its interval and the true effect
    printed = effects_table(effects, currency)
    logger.info(
        "Field test (difference-in-differences, per SKU-DC and day): %s",
        "; ".join(f"{row[0]} {row[1]} {row[2]}, true {row[4]}" for row in printed.itertuples(index=False)),
    )
    return panel, effects


# The PNG settings of rpt_report_figures' save_args (conf/base/catalog.yml), so that the
# figures embedded in the HTML report are the files beside it.
FIGURE_DPI = 110


# Where the recommend pipeline's order files (mo_orders, mo_recommendations in
# conf/base/catalog.yml) lie as seen from the report's folder (rpt_report_markdown): the
# report links them. Both sit under the same data_root, so an environment that moves
# data_root keeps the links; tests/test_conventions.py checks them against the catalog.
ORDER_LINKS = {"orders": "../07_model_output/orders.csv", "recommendations": "../07_model_output/recommendations.csv"}


def _png(figure: Figure) -> bytes:
    buffer = BytesIO()
    figure.savefig(buffer, format="png", dpi=FIGURE_DPI, bbox_inches="tight")
    return buffer.getvalue()


def plot_report_figures(
    kpis: pd.DataFrame,
    tradeoff: pd.DataFrame,
    trajectories: pd.DataFrame,
    lanes: pd.DataFrame,
    panel: pd.DataFrame,
    effects: pd.DataFrame,
    rl_curves: pd.DataFrame,
    currency: str,
) -> tuple[dict[str, Figure], dict[str, str]]:
    """The report's figures, keyed by file name (``figures/<name>.png`` next to the report), and their PNGs.

    Money axes are labelled with ``currency`` (``params:currency``).

    The second output holds each figure rendered to PNG in memory, base64-encoded, for
    the HTML report to embed: the figures' own dataset (a ``MatplotlibDataset``) can be
    written but not read back, so ``write_report`` reads the images from this one.
    """
    plots = {
        "kpi_comparison.png": figures.kpi_comparison(kpis, currency=currency),
        "tradeoff.png": figures.tradeoff(tradeoff, kpis),
        "trajectories.png": figures.trajectories(trajectories, lanes),
        "field_test.png": figures.field_test(panel, effects, currency=currency),
        "rl_curves.png": training_curves_figure(rl_curves),
    }
    return plots, {name: base64.b64encode(_png(figure)).decode("ascii") for name, figure in plots.items()}


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
    lane_kpis: pd.DataFrame,
    tuning: pd.DataFrame,
    scenario_calibration: pd.DataFrame,
    or_calibration: pd.DataFrame,
    lanes: pd.DataFrame,
    time_splits: dict[str, Any],
    images: dict[str, str],
    recommend_summary: pd.DataFrame,
    recommend_by_dc_category: pd.DataFrame,
    data_is_demo: bool,
    currency: str,
    params: EvaluationParams,
) -> tuple[str, str]:
    """The planner's report as Markdown and as HTML, led by the comparison with the strongest classic baseline.

    The Markdown links its figures as ``figures/<name>.png`` beside it; the HTML embeds
    ``images`` (the base64 PNGs of ``plot_report_figures``), so it reads on its own.
    ``data_is_demo`` (``params:data_is_demo``) puts the demo-data banner above the
    verdict. It is not set in any parameters file: ``orpr_kedro.hooks.DemoDataHooks``
    adds it at start-up, true when the environment's own ``conf/<env>/demo_data.yml``
    says ``enabled: true`` (the demo, test, staging), false otherwise (a client's
    environment, prod), since that file is what makes ``kedro demo-data`` write the data.

    ``recommend_summary`` and ``recommend_by_dc_category`` (the recommend pipeline's
    ``rpt_recommend_summary`` and ``rpt_recommend_by_dc_category``) give the section on
    this run's orders, which links the order files (:data:`ORDER_LINKS`); reading them
    makes ``kedro run`` write the orders before the report. Money is in ``currency``
    (``params:currency``).
    """
    if not isinstance(data_is_demo, bool):
        raise ParameterError(f"data_is_demo: expected true or false, got {data_is_demo!r}")
    settings = as_params(EvaluationParams, params)
    splits = TimeSplits.from_dict(time_splits)
    period = {
        "start": str(splits.test_start.date()),
        "end": str(splits.data_end.date()),
        "n_lanes": f"{len(lanes):,}",
        "burn_in_weeks": str(settings.burn_in_weeks),
        "cadence": settings.decision_cadence,
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
        baseline=str(kpis["reference_policy"].iloc[0]) if "reference_policy" in kpis.columns else None,
        lane_kpis=lane_kpis,
        tuning=tuning,
        scenario_calibration=scenario_calibration,
        calibration=or_calibration,
        demo_data=data_is_demo,
        currency=currency,
        orders=recommend_summary,
        orders_by_dc=recommend_by_dc_category,
        order_links=ORDER_LINKS,
    )
    pngs = {name: base64.b64decode(data) for name, data in images.items()}
    return text, report.render_html(text, images=pngs)
