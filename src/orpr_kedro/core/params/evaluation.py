"""Parameters of the evaluation pipeline: bootstrap, field test, acceptance targets, tuned base-stock.

Targets are shares and ratios; service levels lie strictly between 0 and 1.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from orpr_kedro.core.params.base import StrictModel


class BootstrapParams(StrictModel):
    """Percentile bootstrap over SKU-DC pairs (paired across policies)."""

    n_resamples: int = Field(1000, ge=50, description="bootstrap samples of the SKU-DC pairs")
    level: float = Field(0.95, gt=0, lt=1, description="two-sided interval level")


class FieldTestParams(StrictModel):
    """The simulated field test: pre period under the incumbent, then treated pairs switch to ORPR."""

    pre_weeks: int = Field(8, ge=2, description="weeks of the pre period, ending at the test start (the switch)")
    burn_in_weeks: int = Field(2, ge=0, description="unscored weeks before the pre period, from the master state")
    treated_share: float = Field(0.2, gt=0, lt=0.5, description="share of all SKU-DC pairs switched to ORPR")
    min_volume_quantile: float = Field(
        0.5, ge=0, lt=1, description="eligible: pre-period demand at or above this quantile"
    )
    max_lead_time_cv_quantile: float = Field(
        0.5, gt=0, le=1, description="eligible: lead-time CV at or below this quantile"
    )
    caliper: float = Field(0.2, gt=0, description="matching caliper in standard deviations of the propensity logit")
    alpha: float = Field(0.05, gt=0, lt=0.5, description="significance level of the intervals and the pre-trend test")


class EvaluationTargets(StrictModel):
    """The acceptance targets the report checks (shares and ratios)."""

    max_cost_ratio_vs_incumbent: float = Field(0.90, gt=0, description="ORPR total cost at most this x the incumbent's")
    max_cost_gap_vs_or: float = Field(0.03, ge=0, description="ORPR total cost at most (1 + this) x the OR policy's")
    min_speedup_vs_or: float = Field(100.0, gt=0, description="ORPR decides at least this many times faster than OR")
    max_cost_ratio_vs_baseline: float = Field(
        0.97, gt=0, description="ORPR total cost at most this x the strongest classic baseline's, interval below zero"
    )
    max_in_stock_drop_vs_baseline: float = Field(
        0.005, ge=0, le=1, description="ORPR in-stock at most this share below the strongest classic baseline's"
    )


class TunedBaseStockParams(StrictModel):
    """Base-stock with its service level tuned per category on the validation period (the bar ORPR must beat)."""

    service_levels: list[float] = Field(
        default_factory=lambda: [0.8, 0.9, 0.95, 0.98, 0.99, 0.995, 0.998, 0.999, 0.9995, 0.9999],
        description="candidate cycle fractiles; each lane's newsvendor fractile is always a candidate too",
    )
    burn_in_weeks: int = Field(4, ge=0, description="unscored weeks simulated before the validation period")
    group: str = Field("category", description="lanes column whose groups get one service level each")

    @model_validator(mode="after")
    def _levels_are_fractiles(self) -> TunedBaseStockParams:
        if not self.service_levels or any(not 0 < level < 1 for level in self.service_levels):
            raise ValueError("service_levels must be a non-empty list of values strictly between 0 and 1")
        return self


class EvaluationParams(StrictModel):
    """The evaluation pipeline: test period, policies, intervals, trade-off sweep, field test, report."""

    burn_in_weeks: int = Field(4, ge=0, description="unscored weeks before the test period, from the master state")
    hindsight_oracle: bool = Field(True, description="also run OR on the actual demand (an oracle bound)")
    decision_cadence: Literal["weekly", "review"] = Field(
        "review",
        description="review: every SKU-DC decides at each of its review days, as recommend orders; weekly: on "
        "each decision date, held for the week (the test-period comparison, the field test and rl_alignment's "
        "validation loop)",
    )
    bootstrap: BootstrapParams = Field(default_factory=BootstrapParams)
    tradeoff_alphas: list[float] = Field(
        default_factory=lambda: [0.9, 0.95, 0.98, 0.99],
        description="service levels the OR model is re-solved at for the trade-off plot",
    )
    trajectory_lanes: int = Field(4, ge=0, le=20, description="SKU-DCs whose daily inventory is plotted")
    field_test: FieldTestParams = Field(default_factory=FieldTestParams)
    targets: EvaluationTargets = Field(default_factory=EvaluationTargets)
    tuned_base_stock: TunedBaseStockParams = Field(default_factory=TunedBaseStockParams)
    threads: int = Field(1, ge=1, description="torch CPU threads of the networks")

    @model_validator(mode="after")
    def _alphas_are_service_levels(self) -> EvaluationParams:
        if any(not 0 < a < 1 for a in self.tradeoff_alphas):
            raise ValueError("tradeoff_alphas must lie strictly between 0 and 1")
        return self
