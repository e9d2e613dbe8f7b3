"""Nodes of the rl_alignment pipeline: thin wrappers around ``orpr_kedro.core.rl.alignment``."""

from __future__ import annotations

import logging
from typing import Any

import numpy as np
import pandas as pd
from matplotlib.figure import Figure

from orpr_kedro.core.data.blocks import as_frame
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.evaluation.baselines import tune_on_validation
from orpr_kedro.core.evaluation.closed_loop import closed_loop_validation, promotion_gaps
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.optimization.scenarios import calibrated_period
from orpr_kedro.core.params import EvaluationParams, ORLabelingParams, RLAlignmentParams, as_params
from orpr_kedro.core.rl import alignment
from orpr_kedro.core.rl.actor_critic import torch_runtime
from orpr_kedro.core.rl.curves import training_curves_figure
from orpr_kedro.core.rl.deploy import ALIGNED, PRETRAINED, TUNED_BASE_STOCK, alignment_gate, service_floor
from orpr_kedro.core.rl.policy import NetworkPolicy
from orpr_kedro.core.simulation.actions import label_schedule
from orpr_kedro.core.simulation.backtest import rule_policies
from orpr_kedro.core.simulation.policies import Policy

logger = logging.getLogger(__name__)


def train_aligned_policy(
    foundation_model: dict[str, Any],
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: RLAlignmentParams,
    or_labeling: ORLabelingParams,
    seed: int,
    scenario_calibration: pd.DataFrame | None = None,
) -> tuple[dict[str, Any], pd.DataFrame]:
    """Fine-tune the pretrained policy in the simulator on the training period.

    Returns the aligned policy (same payload format as ``mdl_foundation_model``) and
    one curve row per epoch (reward, each reward term, costs, KL, entropy).
    With ``rl_alignment.demand: scenarios`` the episodes draw their demand around each
    week's forecast with the measured forecast error (``mi_scenario_calibration``).
    Checkpoints go to ``rl_alignment.checkpoint_dir`` (one per epoch; a rerun of the
    same configuration resumes from the last one when ``resume`` is true).
    """
    settings = as_params(RLAlignmentParams, params)
    or_settings = as_params(ORLabelingParams, or_labeling)
    pretrained = FoundationPolicy.from_payload(foundation_model)
    context = alignment.alignment_context(
        as_frame(features),
        labels,
        lanes,
        as_frame(daily_sales),
        as_frame(forecasts),
        TimeSplits.from_dict(time_splits),
        pretrained,
        settings,
        or_settings,
        "train",
    )
    if settings.demand == "scenarios":
        if scenario_calibration is None:
            raise ValueError("rl_alignment.demand: scenarios needs mi_scenario_calibration (run or_labeling)")
        context.rows.period = calibrated_period(context.rows.period, scenario_calibration, or_settings)
    run = alignment.train_alignment(pretrained, context, settings, seed)
    if len(run.curves):
        first, last = run.curves.iloc[0], run.curves.iloc[-1]
        logger.info(
            "RL alignment (%s, %d epochs, %d env steps, %.0f steps/s): reward %.3f -> %.3f, cost per lane-week %.2f -> %.2f, KL %.4f",
            settings.algorithm,
            int(last["epoch"]),
            int(last["env_steps"]),
            run.summary.get("training_steps_per_s", 0.0),
            first["reward"],
            last["reward"],
            first["total_cost"],
            last["total_cost"],
            last.get("kl", np.nan),
        )
    return alignment.aligned_payload(run, pretrained, {"seed": int(seed)}), run.curves


def plot_rl_training_curves(curves: pd.DataFrame) -> Figure:
    """Reward and its terms, cost per lane-week, KL and entropy per epoch (means over the epoch's steps)."""
    return training_curves_figure(curves)


def validate_aligned_policy(
    foundation_model: dict[str, Any],
    aligned_policy: dict[str, Any],
    features: pd.DataFrame,
    labels: pd.DataFrame,
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    time_splits: dict[str, Any],
    params: RLAlignmentParams,
    or_labeling: ORLabelingParams,
    evaluation: EvaluationParams,
    seed: int,
) -> tuple[pd.DataFrame, pd.DataFrame, dict[str, Any]]:
    """Closed loop on the validation period: OR labels, pretrained, aligned, incumbent, base-stock, tuned base-stock.

    Learned policies decide from their own simulated state, at evaluation's cadence
    (``evaluation.decision_cadence``: each lane's review days, or weekly); all policies
    share the demand, the lead-time draws and the initial state. Returns the decisions
    (with the aligned policy's KL to the pretrained one), the KPI table and the policy
    ORPR deploys (``mdl_orpr_policy``): the aligned one only if it beat the pretrained
    network's validation total cost by the deployment rule (``rl_alignment.deploy``:
    by default the paired interval of the change lies below zero and in-stock falls at
    most 0.5 points), otherwise the pretrained network; its payload's metadata names
    which (``orpr_network``) and carries the change with its interval (``alignment_gate``).
    With ``deploy.service_floor`` tuned base-stock (its service levels chosen on the same
    period, ``evaluation.tuned_base_stock``) runs in the same loop, and where the deployed
    network costs more than it in a category, ORPR may not decide below its service level
    there (``metadata.service_floor``).
    """
    settings = as_params(RLAlignmentParams, params)
    or_settings = as_params(ORLabelingParams, or_labeling)
    splits = TimeSplits.from_dict(time_splits)
    pretrained = FoundationPolicy.from_payload(foundation_model)
    aligned = FoundationPolicy.from_payload(aligned_policy)
    context = alignment.alignment_context(
        as_frame(features),
        labels,
        lanes,
        as_frame(daily_sales),
        as_frame(forecasts),
        splits,
        pretrained,
        settings,
        or_settings,
        "validation",
    )
    rows = context.rows
    policies: dict[str, Policy] = {
        PRETRAINED: NetworkPolicy(context, pretrained.model),
        ALIGNED: NetworkPolicy(context, aligned.model, reference=pretrained.model),
    }
    validation_dates = pd.DatetimeIndex(labels["decision_date"]).isin(pd.DatetimeIndex(np.unique(rows.row_date)))
    if validation_dates.any():
        policies["or_policy"] = label_schedule(
            labels[validation_dates], rows.period.lanes["lane_id"].to_numpy(), context.grid, context.risk, "or_policy"
        )
    policies.update(rule_policies(rows.period))
    evaluation_settings = as_params(EvaluationParams, evaluation)
    tuning = None
    if settings.deploy.service_floor and context.grid.kind == "service_level":
        tuning = tune_on_validation(
            rows.period,
            splits,
            evaluation_settings.tuned_base_stock,
            seed=seed,
            max_lead_time=or_settings.max_lead_time,
            group="category",
        )
        policies[TUNED_BASE_STOCK] = tuning.policy(rows.period.lane_arrays, rows.period.dispersion)
    with torch_runtime(1):
        result = closed_loop_validation(
            rows,
            policies,
            grid=context.grid.coverage_grid,
            start=splits.validation_start,
            end=splits.test_start,
            seed=seed,
            initial_state=settings.validation.initial_state,
            cadence=evaluation_settings.decision_cadence,  # the gate and the floor see what evaluation runs
        )
    table = result.kpi_table()
    overall = table[table["scope"] == "all"].set_index("policy")
    logger.info(
        "Validation (closed loop) total cost: pretrained %.0f, aligned %.0f (%+.1f%%); in-stock %.4f -> %.4f",
        overall.loc[PRETRAINED, "total_cost"],
        overall.loc[ALIGNED, "total_cost"],
        100 * (overall.loc[ALIGNED, "total_cost"] / overall.loc[PRETRAINED, "total_cost"] - 1),
        overall.loc[PRETRAINED, "in_stock_rate"],
        overall.loc[ALIGNED, "in_stock_rate"],
    )
    gate = alignment_gate(result.backtest.lane_kpis(result.lanes), settings.deploy, seed)
    deployed = gate.deployed
    (logger.info if deployed == ALIGNED else logger.warning)("RL alignment gate: %s", gate.reason())
    chosen = aligned_policy if deployed == ALIGNED else foundation_model
    floors = []
    if tuning is not None:
        codes = lanes.drop_duplicates("category").set_index("category")["category_code"]
        floors = service_floor(table, deployed, tuning.choices(), context.grid.values, codes)
        logger.info(
            "Service floor of ORPR (where the %s network cost more than tuned base-stock on validation): %s",
            deployed,
            ", ".join(
                f"{f['category']} at {f['service_level']:g} ({f['validation_cost_network']:,.0f} vs "
                f"{f['validation_cost_tuned_base_stock']:,.0f})"
                for f in floors
            )
            or "none",
        )
    metadata = {
        **dict(chosen.get("metadata", {})),
        "orpr_network": deployed,
        "service_floor": floors,
        "alignment_gate": {
            "change": gate.change,
            "low": gate.low,
            "high": gate.high,
            "level": gate.level,
            "rule": gate.rule,
            "in_stock_change": gate.in_stock_change,
        },
    }
    orpr_policy = {**chosen, "metadata": metadata}
    return result.decisions, table, orpr_policy


def summarise_alignment(
    decisions: pd.DataFrame,
    kpis: pd.DataFrame,
    curves: pd.DataFrame,
    aligned_policy: dict[str, Any],
    orpr_policy: dict[str, Any],
) -> pd.DataFrame:
    """One table of the alignment's facts: cost and in-stock change, the deployment gate, KL, promotion coverage
    shift, the fixed-episode selection, timings."""
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    aligned_rows = decisions[decisions["policy"] == ALIGNED]
    gaps = promotion_gaps(decisions).set_index("policy")
    training = aligned_policy.get("metadata", {}).get("rl_alignment", {})
    rows: list[tuple[str, float, str]] = [
        ("total_cost_pretrained", overall.loc[PRETRAINED, "total_cost"], "validation, closed loop (currency)"),
        ("total_cost_aligned", overall.loc[ALIGNED, "total_cost"], "validation, closed loop (currency)"),
        (
            "total_cost_change_pct",
            100 * (overall.loc[ALIGNED, "total_cost"] / overall.loc[PRETRAINED, "total_cost"] - 1),
            "aligned vs pretrained",
        ),
    ]
    gate = dict(orpr_policy.get("metadata", {})).get("alignment_gate")
    if gate:
        interval = f"{float(gate['level']):.0%} paired lane-bootstrap interval"
        rows += [
            ("total_cost_change_ci_low_pct", 100 * float(gate["low"]), interval),
            ("total_cost_change_ci_high_pct", 100 * float(gate["high"]), interval),
        ]
    rows += [
        (
            "deployed_aligned",
            float(dict(orpr_policy.get("metadata", {})).get("orpr_network") == ALIGNED),
            f"1: ORPR is the aligned policy, 0: the pretrained network (rule {gate['rule'] if gate else 'point'})",
        ),
        ("in_stock_rate_pretrained", overall.loc[PRETRAINED, "in_stock_rate"], "share of lane-days"),
        ("in_stock_rate_aligned", overall.loc[ALIGNED, "in_stock_rate"], "share of lane-days"),
        ("turnover_days_pretrained", overall.loc[PRETRAINED, "turnover_days"], "days"),
        ("turnover_days_aligned", overall.loc[ALIGNED, "turnover_days"], "days"),
        (
            "kl_aligned_to_pretrained_mean",
            aligned_rows["kl_to_reference"].mean(),
            "nats, on the aligned policy's validation states",
        ),
        ("kl_aligned_to_pretrained_max", aligned_rows["kl_to_reference"].max(), "nats"),
        (
            "decisions_changed_share",
            _changed_share(decisions),
            "aligned coverage differs from pretrained on the same date (own trajectories)",
        ),
    ]
    for policy in (PRETRAINED, ALIGNED, "or_policy", "incumbent"):
        if policy in gaps.index:
            rows.append(
                (
                    f"promotion_gap_to_expert_{policy}",
                    gaps.loc[policy, "mean_abs_gap_to_expert_days"],
                    "mean |coverage - expert coverage| (days) on promotion dates",
                )
            )
    if PRETRAINED in gaps.index:
        rows.append(
            (
                "promotion_decisions",
                gaps.loc[PRETRAINED, "n_promotion_decisions"],
                "pretrained network decisions with a promotion ahead (one per lane and review day at review cadence)",
            )
        )
    described = f"algorithm {training.get('algorithm')}, freeze {training.get('freeze')}"
    for name, metric in (
        ("epochs", "training_epochs"),
        ("env_steps", "training_env_steps"),
        ("wall_s", "training_wall_s"),
        ("training_steps_per_s", "training_env_steps_per_s"),
        ("kl_coef", "kl_coef"),
        ("kept_epoch", "kept_epoch"),
        ("averaged_from_epoch", "averaged_from_epoch"),
        ("fixed_scaled_cost_pretrained", "fixed_episode_scaled_cost_pretrained"),
        ("fixed_scaled_cost_kept", "fixed_episode_scaled_cost_kept"),
    ):
        if name in training:
            rows.append((metric, float(training[name]), described))
    if len(curves):
        rows.append(("training_reward_first_epoch", curves["reward"].iloc[0], "mean reward per lane-week"))
        rows.append(("training_reward_last_epoch", curves["reward"].iloc[-1], "mean reward per lane-week"))
        rows += _rule_weights(curves)
    summary = pd.DataFrame(rows, columns=["metric", "value", "note"])
    logger.info("%s", _summary_line(summary.set_index("metric")["value"]))
    for row in summary.itertuples():  # every fact is in rpt_rl_alignment_summary; here at DEBUG only
        logger.debug("RL alignment summary: %s = %.4f (%s)", row.metric, row.value, row.note)
    return summary


RULE_TERMS = ("band", "turnover", "or_agreement", "promotion")


def _rule_weights(curves: pd.DataFrame) -> list[tuple[str, float, str]]:
    """Each rule term's mean size against the cost term's over training; a WARNING where one outweighs cost."""
    sim = float(curves["sim"].abs().mean()) if "sim" in curves else 0.0
    rows = []
    for term in RULE_TERMS:
        if term in curves and sim > 0:
            ratio = float(curves[term].abs().mean()) / sim
            rows.append((f"reward_{term}_vs_cost", ratio, "mean |weighted rule term| / mean |cost term| in training"))
            if ratio > 1:
                logger.warning(
                    "RL alignment: the reward's %s term weighed %.1f x the cost term in training: the policy "
                    "follows that rule more than cost; lower rl_alignment.reward.%s or w_rule",
                    term,
                    ratio,
                    term,
                )
    return rows


def _summary_line(value: pd.Series) -> str:
    """The stage's one INFO line: cost and in-stock of aligned against pretrained on validation, KL, training."""
    line = (
        f"rl_alignment: validation total cost {value['total_cost_pretrained']:,.0f} pretrained -> "
        f"{value['total_cost_aligned']:,.0f} aligned ({value['total_cost_change_pct']:+.1f}%), in-stock "
        f"{value['in_stock_rate_pretrained']:.1%} -> {value['in_stock_rate_aligned']:.1%}, "
        f"mean KL to pretrained {value['kl_aligned_to_pretrained_mean']:.3f} nats, "
        f"{value['decisions_changed_share']:.0%} of decisions changed"
    )
    if {"training_epochs", "training_env_steps", "training_wall_s"} <= set(value.index):
        line += (
            f"; {value['training_epochs']:.0f} epochs, {value['training_env_steps']:,.0f} environment steps "
            f"in {value['training_wall_s']:.1f} s"
        )
        if "averaged_from_epoch" in value.index:
            line += f" (weights averaged over epochs {value['averaged_from_epoch']:.0f}-{value['kept_epoch']:.0f})"
        elif "kept_epoch" in value.index:
            line += f" (kept epoch {value['kept_epoch']:.0f})"
    if "deployed_aligned" in value.index:
        line += f"; ORPR is the {'aligned policy' if value['deployed_aligned'] else 'pretrained network'}"
    return line


def _changed_share(decisions: pd.DataFrame) -> float:
    wide = decisions[decisions["policy"].isin([PRETRAINED, ALIGNED])].pivot_table(
        index=["lane_id", "decision_date"], columns="policy", values="coverage_days"
    )
    return float((wide[PRETRAINED] != wide[ALIGNED]).mean()) if len(wide) else float("nan")
