"""A simulated field test of ORPR, analysed as the paper analyses its real one.

Design (the paper's, in the simulator):

1. two worlds run side by side on the same demand and lead-time draws, from the same
   state: the *incumbent world* (every SKU-DC under the incumbent rule throughout)
   and the *ORPR world* (incumbent rule in the pre period, the aligned policy from
   the switch date on). Before the switch the two worlds are identical.
2. treated SKU-DC pairs are chosen by a manager-like rule (high volume, stable
   supply); controls are matched to them by propensity score on pre-period turnover
   and demand.
3. the observed panel takes treated pairs from the ORPR world and controls from the
   incumbent world; a difference-in-differences regression with SKU-DC and day fixed
   effects and standard errors clustered by SKU-DC estimates the effect, with a
   pre-trend check.
4. because this is a simulator the counterfactual is known: the treated pairs'
   incumbent-world outcomes give the true effect, reported next to the estimate.

Daily outcomes per SKU-DC: ``days_of_stock`` = end-of-day on-hand divided by the
pair's mean daily sales in the pre period (its mean over a period is the period's
turnover days at pre-period sales; not the KPI ``turnover_days`` of
:mod:`orpr_kedro.core.simulation.kpi`, which divides by the period's own sales), ``in_stock_rate`` = 1 when the day starts with
stock, ``holding_cost`` (currency per day).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from orpr_kedro.core.evaluation import did
from orpr_kedro.core.evaluation.closed_loop import ClosedLoopResult, closed_loop_validation
from orpr_kedro.core.evaluation.comparison import EvaluationWindow, daily_frame
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.params import FieldTestParams
from orpr_kedro.core.rl.actor_critic import torch_runtime
from orpr_kedro.core.rl.observation import lane_context_from_rows
from orpr_kedro.core.rl.policy import NetworkPolicy
from orpr_kedro.core.simulation.policies import IncumbentRule, SwitchPolicy

__all__ = [
    "FIELD_TEST_OUTCOMES",
    "FieldTestDesign",
    "estimate_effects",
    "field_test_panel",
    "field_test_units",
    "match_units",
    "simulate_worlds",
]

INCUMBENT_WORLD, ORPR_WORLD = "incumbent_world", "orpr_world"
FIELD_TEST_OUTCOMES = ("days_of_stock", "in_stock_rate", "holding_cost")


@dataclass(frozen=True)
class FieldTestDesign:
    """Dates of the test: burn-in start (unscored), pre-period start, switch date, end (exclusive)."""

    burn_in_start: pd.Timestamp
    pre_start: pd.Timestamp
    switch: pd.Timestamp
    end: pd.Timestamp

    def __post_init__(self) -> None:
        if not self.burn_in_start <= self.pre_start < self.switch < self.end:
            raise ValueError(
                f"field test dates must satisfy burn-in start <= pre start < switch < end, got "
                f"{self.burn_in_start.date()}, {self.pre_start.date()}, {self.switch.date()}, {self.end.date()}"
            )


def simulate_worlds(
    window: EvaluationWindow,
    aligned: FoundationPolicy,
    design: FieldTestDesign,
    seed: int,
    threads: int = 1,
    cadence: str = "weekly",
) -> ClosedLoopResult:
    """Both worlds, every SKU-DC, with daily trajectories from the pre-period start (decisions at ``cadence``)."""
    rows = window.rows
    grid = aligned.action_grid
    context = lane_context_from_rows(rows, aligned.normalisation, grid)
    incumbent = IncumbentRule.from_lanes(rows.period.lane_arrays)
    orpr = SwitchPolicy(
        incumbent, NetworkPolicy(context, aligned.model, service_floor=aligned.floor_by("category")), design.switch
    )
    with torch_runtime(threads):
        return closed_loop_validation(
            rows,
            {INCUMBENT_WORLD: incumbent, ORPR_WORLD: orpr},
            grid=grid.coverage_grid,
            start=design.burn_in_start,
            end=design.end,
            seed=seed,
            initial_state="master",
            score_from=design.pre_start,
            daily_lanes=np.arange(rows.period.n_lanes),
            cadence=cadence,
        )


def field_test_units(daily: pd.DataFrame, lanes: pd.DataFrame, switch: pd.Timestamp) -> pd.DataFrame:
    """Pre-period covariates per SKU-DC (incumbent world): mean daily demand and sales, turnover days, lead-time CV."""
    pre = daily[(daily["policy"] == INCUMBENT_WORLD) & (daily["date"] < pd.Timestamp(switch))]
    sums = pre.groupby("lane_id")[["demand", "sales", "on_hand_end"]].sum()
    days = pre.groupby("lane_id").size()
    units = lanes.set_index("lane_id").loc[
        sums.index, ["sku_id", "dc_id", "category", "lead_time_mean", "lead_time_std"]
    ]
    units = units.assign(
        mean_demand=sums["demand"] / days,
        mean_sales=sums["sales"] / days,
        pre_turnover_days=np.where(
            sums["sales"] > 0, sums["on_hand_end"] / sums["sales"].where(sums["sales"] > 0), np.nan
        ),
        lead_time_cv=units["lead_time_std"] / units["lead_time_mean"],
    )
    units = units.reset_index().rename(columns={"lane_id": "unit_id"})
    return units[units["mean_sales"] > 0].reset_index(drop=True)


def match_units(
    daily: pd.DataFrame, lanes: pd.DataFrame, switch: pd.Timestamp, settings: FieldTestParams, seed: int
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Treated SKU-DCs by the manager's rule (volume, supply stability), controls by propensity score.

    ``settings``: the field test's parameters (:class:`orpr_kedro.core.params.FieldTestParams`:
    ``treated_share``, ``min_volume_quantile``, ``max_lead_time_cv_quantile``, ``caliper``).
    Returns the units (pre-period covariates, ``treated``, ``control``,
    ``selected_by_rule``, ``propensity``) and the covariate balance table.
    """
    units = field_test_units(daily, lanes, switch)
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
    return units, balance


def field_test_panel(
    daily: pd.DataFrame,
    units: pd.DataFrame,
    treated_ids: Sequence[int],
    control_ids: Sequence[int],
    switch: pd.Timestamp,
) -> pd.DataFrame:
    """Observed and counterfactual daily outcomes of the treated and matched control SKU-DCs.

    One row per SKU-DC and day: ``unit_id, period, treated, post``, each outcome
    (observed: treated from the ORPR world, controls from the incumbent world) and
    ``<outcome>_counterfactual`` (the incumbent world for everyone).
    """
    treated, control = np.asarray(treated_ids), np.asarray(control_ids)
    overlap = np.intersect1d(treated, control)
    if len(overlap):
        raise ValueError(f"SKU-DCs {overlap[:5].tolist()} are both treated and control")
    chosen = np.concatenate([treated, control])
    mean_sales = units.set_index("unit_id")["mean_sales"]
    frames = {}
    for world in (INCUMBENT_WORLD, ORPR_WORLD):
        part = (
            daily[(daily["policy"] == world) & daily["lane_id"].isin(chosen)]
            .set_index(["lane_id", "date"])
            .sort_index()
        )
        frames[world] = pd.DataFrame(
            {
                "days_of_stock": part["on_hand_end"].to_numpy()
                / part.index.get_level_values("lane_id").map(mean_sales).to_numpy(),
                "in_stock_rate": part["in_stock"].to_numpy(),
                "holding_cost": part["holding_cost"].to_numpy(),
            },
            index=part.index,
        )
    counterfactual = frames[INCUMBENT_WORLD]
    is_treated = counterfactual.index.get_level_values("lane_id").isin(treated)
    mask = np.broadcast_to(is_treated[:, None], counterfactual.shape)
    observed = frames[ORPR_WORLD].reindex(counterfactual.index).where(mask, counterfactual)
    panel = observed.join(counterfactual.add_suffix("_counterfactual")).reset_index()
    panel = panel.rename(columns={"lane_id": "unit_id", "date": "period"})
    panel.insert(2, "treated", panel["unit_id"].isin(treated))
    panel.insert(3, "post", panel["period"] >= pd.Timestamp(switch))
    return panel


def estimate_effects(
    panel: pd.DataFrame, outcomes: Sequence[str] = FIELD_TEST_OUTCOMES, alpha: float = 0.05
) -> pd.DataFrame:
    """DiD estimate, clustered interval, pre-trend test and the true effect for each outcome.

    ``relative_effect``: the estimate over the treated pairs' post-period counterfactual
    mean (so -0.3 reads "30% lower than without ORPR").
    """
    rows = []
    treated_post = panel["treated"] & panel["post"]
    weekly = weekly_panel(panel, outcomes)
    n_pre_weeks = int((~weekly.drop_duplicates("period")["post"]).sum())
    n_units = panel["unit_id"].nunique()
    # an event study on weekly means (one coefficient per pre week) while the units allow
    # a clustered Wald test of that many restrictions; a linear differential trend otherwise
    method: Literal["event_study", "linear_trend"] = "event_study" if n_units > 2 * n_pre_weeks else "linear_trend"
    for outcome in outcomes:
        estimate = did.did_estimate(
            panel, outcome, unit="unit_id", time="period", treated="treated", post="post", alpha=alpha
        )
        try:
            trend = did.pre_trend_test(
                weekly,
                outcome,
                unit="unit_id",
                time="period",
                treated="treated",
                post="post",
                alpha=alpha,
                method=method,
            )
            statistic, p_value, plausible = trend.statistic, trend.p_value, trend.parallel_trends_plausible
        except np.linalg.LinAlgError:  # e.g. an outcome without variation in the pre period: nothing to test
            statistic, p_value, plausible = np.nan, np.nan, False
        truth = float((panel.loc[treated_post, outcome] - panel.loc[treated_post, f"{outcome}_counterfactual"]).mean())
        baseline = float(panel.loc[treated_post, f"{outcome}_counterfactual"].mean())
        rows.append(
            {
                **estimate.to_dict(),
                "true_effect": truth,
                "estimate_minus_truth": estimate.effect - truth,
                "truth_inside_interval": bool(estimate.ci_low <= truth <= estimate.ci_high),
                "counterfactual_mean": baseline,
                "relative_effect": estimate.effect / baseline if baseline else np.nan,
                "pre_trend_method": f"{method} (weekly means)",
                "pre_trend_statistic": statistic,
                "pre_trend_p_value": p_value,
                "parallel_trends_plausible": plausible,
            }
        )
    return pd.DataFrame(rows)


def weekly_panel(panel: pd.DataFrame, outcomes: Sequence[str]) -> pd.DataFrame:
    """Means per SKU-DC and week (weeks counted from the panel's first day) of the outcomes."""
    first = panel["period"].min()
    week = first + pd.to_timedelta((panel["period"] - first).dt.days // 7 * 7, unit="D")
    grouped = panel.assign(period=week).groupby(["unit_id", "period"], sort=True)
    weekly = grouped[list(outcomes)].mean()
    weekly["treated"] = grouped["treated"].first()
    weekly["post"] = grouped["post"].max()
    return weekly.reset_index()


def daily_trajectories(result: ClosedLoopResult) -> pd.DataFrame:
    """The daily frame of both worlds (see :func:`orpr_kedro.core.evaluation.comparison.daily_frame`)."""
    return daily_frame(result, result.lanes["holding_cost"].to_numpy(dtype=np.float64))
