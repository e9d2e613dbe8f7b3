"""Typed parameters of every pipeline (pydantic models).

Each pipeline reads one top-level block of ``conf/<env>/parameters_<pipeline>.yml``;
the block is validated against the model registered here, both at start-up (by a
project hook, so a wrong value fails before the first node) and in the node that
uses it. Unknown keys are errors at every level: a misspelt top-level block
(``data_procesing:``) is caught by :func:`unknown_blocks`, a misspelt key inside a
block by its model, so a typo never silently falls back to a default. Every number
is finite (``.inf`` and ``.nan`` are refused) and every rate and cost is bounded
below by zero.
"""

from __future__ import annotations

import datetime as dt
import difflib
import re
from collections.abc import Iterable
from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator


class ParameterError(ValueError):
    """A parameter block failed validation; the message names each bad key."""


class StrictModel(BaseModel):
    """Base for parameter models: immutable, unknown keys rejected, numbers finite."""

    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


# A rate per unit-day (a share of unit cost): non-negative and below 1.
DailyRate = Annotated[float, Field(ge=0, lt=1, allow_inf_nan=False)]
# A capacity or amount that must be positive and finite.
PositiveAmount = Annotated[float, Field(gt=0, allow_inf_nan=False)]


# --------------------------------------------------------------------------- data_processing
class SplitParams(StrictModel):
    """Time splits, counted back from the last date in the sales data."""

    decision_weekday: int = Field(0, ge=0, le=6, description="0 = Monday: weekday of decision dates")
    test_weeks: int = Field(8, ge=1, description="weeks at the end of the data held out for testing")
    validation_weeks: int = Field(8, ge=1, description="weeks before the test period used for validation")
    warmup_days: int = Field(91, ge=28, description="history (days) required before the first decision date")
    holdout_categories: list[str] = Field(
        default_factory=list, description="categories kept out of training, for transfer tests"
    )


# ---------------------------------------------------- data_processing: forecast bounds, data quality
class ForecastBoundsParams(StrictModel):
    """Sanity bounds of the global forecaster: a lane's forecast never exceeds the larger cap."""

    history_max_multiple: float = Field(
        5.0, gt=0, description="cap: this multiple of the lane's largest daily sales before the origin"
    )
    level_multiple: float = Field(20.0, gt=0, description="cap: at least this multiple of the lane's 91-day level")


class DataQualityParams(StrictModel):
    """Checks of the daily sales before forecasting (rpt_data_quality) and what is done with each finding."""

    leading_zero_min_days: int = Field(
        91, ge=1, description="zero-sales days before a lane's first sale that mean 'not yet launched' (trimmed)"
    )
    long_zero_run_days: int = Field(56, ge=2, description="zero-sales days in a row after launch that are reported")
    outlier_ratio: float = Field(
        50.0, gt=1, description="a day above this multiple of the lane's median positive sales is an outlier"
    )
    outlier_min_units: float = Field(20.0, ge=0, description="days at or below this many units are never outliers")
    outlier_action: Literal["cap", "keep"] = Field("cap", description="cap: outliers are cut to the threshold")
    fail: bool = Field(False, description="stop the run on any finding instead of treating it")


class ForecastParams(StrictModel):
    """Global demand forecast (gradient boosting) with a negative-binomial spread."""

    model: Literal["hist_gradient_boosting", "lightgbm"] = Field(
        "hist_gradient_boosting", description="the global model; a raw_forecast table replaces it when present"
    )
    objective: Literal["poisson", "tweedie"] = Field("poisson", description="LightGBM objective")
    tweedie_variance_power: float = Field(1.5, gt=1, lt=2, description="LightGBM Tweedie variance power")
    bounds: ForecastBoundsParams = Field(default_factory=ForecastBoundsParams)

    horizon_days: int = Field(42, ge=7, le=365, description="days forecast from each decision date")
    quantiles: list[float] = Field(default_factory=lambda: [0.1, 0.5, 0.9])
    max_training_rows: int = Field(250_000, ge=1_000)
    learning_rate: float = Field(0.08, gt=0, le=1)
    max_iter: int = Field(200, ge=10)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(40, ge=1)
    l2_regularization: float = Field(1.0, ge=0)
    dispersion_prior_weight: float = Field(
        30.0, ge=0, description="pseudo-observations pulling each lane's dispersion to the global one"
    )

    @model_validator(mode="after")
    def _quantiles_in_unit_interval(self) -> ForecastParams:
        if not self.quantiles or any(not 0 < q < 1 for q in self.quantiles):
            raise ValueError("quantiles must be a non-empty list of levels strictly between 0 and 1")
        if sorted(self.quantiles) != list(self.quantiles):
            raise ValueError("quantiles must be sorted in increasing order")
        return self


class FeatureParams(StrictModel):
    """Model-input feature windows (days)."""

    history_days: int = Field(28, ge=7, le=364)
    forecast_days: int = Field(28, ge=1)


class CostParams(StrictModel):
    """Cost parameters every later stage reads (through the lanes table)."""

    holding_rate_per_day: float = Field(
        0.0008, gt=0, lt=1, description="holding cost per unit-day as a fraction of unit cost"
    )
    holding_rate_by_category: dict[str, DailyRate] = Field(
        default_factory=dict, description="category -> holding rate per unit-day, overriding holding_rate_per_day"
    )
    lost_sale_penalty: Literal["margin", "cost_multiple"] = Field(
        "margin", description="margin: unit price - unit cost; cost_multiple: multiple x unit cost"
    )
    lost_sale_cost_multiple: float = Field(1.0, gt=0)
    order_cost: float = Field(5.0, ge=0, description="fixed cost per order placed (currency)")


class ValidationParams(StrictModel):
    """How raw-data problems are reported."""

    max_example_rows: int = Field(5, ge=1, le=100)


class DataProcessingParams(StrictModel):
    """Parameters of the data_processing pipeline."""

    raw_files: dict[str, str] = Field(
        default_factory=dict, description="dataset name -> file, quoted in validation errors"
    )
    date_formats: dict[str, str] = Field(
        default_factory=dict,
        description="raw dataset name -> strftime format of its date columns, e.g. '%d/%m/%Y'; "
        "tables not named are read as ISO 8601 (2025-01-31)",
    )
    splits: SplitParams = Field(default_factory=SplitParams)
    forecast: ForecastParams = Field(default_factory=ForecastParams)
    data_quality: DataQualityParams = Field(default_factory=DataQualityParams)
    features: FeatureParams = Field(default_factory=FeatureParams)
    costs: CostParams = Field(default_factory=CostParams)
    validation: ValidationParams = Field(default_factory=ValidationParams)

    @field_validator("date_formats")
    @classmethod
    def _formats_of_raw_tables(cls, formats: dict[str, str]) -> dict[str, str]:
        # the contract module imports this one, so the raw table names are listed here
        known = {"raw_sales", "raw_promotions", "raw_inventory_state"}
        for name, date_format in formats.items():
            if name not in known:
                raise ValueError(f"date_formats names {name!r}; tables with dates: {sorted(known)}")
            if not {"%d", "%m"} <= set(_directives(date_format)) and "%j" not in date_format:
                raise ValueError(
                    f"date_formats.{name} = {date_format!r} is not a day-level strftime format "
                    "(it needs %d and %m, or %j), e.g. '%d/%m/%Y'"
                )
        return formats

    @model_validator(mode="after")
    def _feature_window_within_forecast(self) -> DataProcessingParams:
        if self.features.forecast_days > self.forecast.horizon_days:
            raise ValueError(
                f"features.forecast_days ({self.features.forecast_days}) must not exceed "
                f"forecast.horizon_days ({self.forecast.horizon_days})"
            )
        return self


def _directives(date_format: str) -> list[str]:
    return [date_format[i : i + 2] for i in range(len(date_format) - 1) if date_format[i] == "%"]


# --------------------------------------------------------------------------- or_labeling
class CoverageGrid(StrictModel):
    """Candidate coverage levels (days of forecast demand): start, stop (inclusive), step."""

    start: float = Field(0.0, ge=0)
    stop: float = Field(40.0, gt=0)
    step: float = Field(1.0, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> CoverageGrid:
        if self.stop < self.start:
            raise ValueError(f"stop ({self.stop}) must not be below start ({self.start})")
        if (self.stop - self.start) / self.step + 1 > 2000:
            raise ValueError("the grid has more than 2000 candidates; use a larger step")
        return self

    def values(self) -> list[float]:
        """The grid, start to stop inclusive (days)."""
        count = int((self.stop - self.start) / self.step + 1e-9) + 1
        return [round(self.start + i * self.step, 10) for i in range(count)]


class Band(StrictModel):
    """Managerial band on coverage (days)."""

    min: float = Field(0.0, ge=0)
    max: float = Field(1e9, gt=0)

    @model_validator(mode="after")
    def _ordered(self) -> Band:
        if self.max < self.min:
            raise ValueError(f"max ({self.max}) must not be below min ({self.min})")
        return self


class SolverParams(StrictModel):
    """Solver choice and limits of the multiple-choice model."""

    name: Literal["auto", "gurobi", "highs"] = "auto"
    time_limit_s: float = Field(60.0, gt=0)
    mip_gap: float = Field(1e-3, ge=0, lt=1)
    threads: int = Field(1, ge=1)
    size_limit: int | None = Field(
        2000, ge=1, description="variables/constraints the Gurobi licence allows; null = unlimited"
    )

    @model_validator(mode="before")
    @classmethod
    def _licence_is_a_credential(cls, values: Any) -> Any:
        # Licence parameters are secrets: they come from the `gurobi` credentials
        # (the gurobi_licence dataset), never from committed parameters.
        if isinstance(values, dict) and "gurobi_options" in values:
            raise ValueError(
                "gurobi_options is no longer a parameter: put the Gurobi licence (WLSACCESSID, "
                "WLSSECRET, LICENSEID or LicenseFile) under 'gurobi' in conf/local/credentials.yml "
                "(see conf/local/credentials.yml.template)"
            )
        return values


class ExecutorParams(StrictModel):
    """Where the per-model solves run."""

    kind: Literal["serial", "processes", "dask"] = "serial"
    n_workers: int = Field(2, ge=1)
    scheduler_address: str | None = Field(
        None, description="dask scheduler, e.g. tcp://10.0.0.5:8786; null = local cluster"
    )


Period = Literal["train", "validation", "test"]


def _train_and_validation() -> list[Period]:
    return ["train", "validation"]


class ScenarioParams(StrictModel):
    """How scenario demand carries the forecast's error (``orpr_kedro.core.optimization.scenarios``)."""

    calibrate: bool = Field(
        True,
        description="add the bias and level error of horizon totals measured on validation origins; "
        "false: negative-binomial daily noise around the forecast only",
    )
    group: str = Field("category", description="lanes column whose groups get one error estimate each")
    min_rows: int = Field(30, ge=1, description="lane-origin pairs a group needs for its own estimate")


class ORLabelingParams(StrictModel):
    """Parameters of the or_labeling pipeline."""

    coverage_grid: CoverageGrid = Field(default_factory=CoverageGrid)
    horizon_days: int = Field(28, ge=1, le=365, description="days simulated per candidate")
    mode: Literal["scenario", "hindsight"] = "scenario"
    n_scenarios: int = Field(20, ge=1)
    scenarios: ScenarioParams = Field(default_factory=ScenarioParams)
    periods: list[Period] = Field(default_factory=_train_and_validation)
    objective: Literal["holding_with_budget", "total_cost"] = "holding_with_budget"
    budget: bool = Field(True, description="lost-sales budget per category; always on for holding_with_budget")
    bands: dict[str, Band] = Field(
        default_factory=dict, description="per-category managerial bands; key 'default' for all"
    )
    dc_capacity: dict[str, PositiveAmount] = Field(
        default_factory=dict, description="average inventory volume (litres) allowed per DC; empty = no capacity rows"
    )
    max_lead_time: int = Field(60, ge=1)
    save_candidates: bool = True
    solver: SolverParams = Field(default_factory=SolverParams)
    executor: ExecutorParams = Field(default_factory=ExecutorParams)


# --------------------------------------------------------------------------- pretraining
class NetworkParams(StrictModel):
    """Sizes of the foundation model (three Transformer encoders, two heads)."""

    d_model: int = Field(64, ge=8, le=512, description="width of every token and pooled encoding")
    n_heads: int = Field(4, ge=1, le=16)
    n_layers: int = Field(2, ge=1, le=8, description="Transformer blocks per encoder that update its summary token")
    token_mixing_layers: int = Field(
        0,
        ge=0,
        le=8,
        description="extra self-attention blocks among the tokens first (FT-Transformer style; slow on CPU)",
    )
    ff_dim: int = Field(128, ge=8, description="hidden width of each block's feed-forward layer")
    dropout: float = Field(0.05, ge=0, lt=1)
    patch_days: int = Field(7, ge=1, le=28, description="days per token of the history/forecast sequence")
    head_hidden: int = Field(128, ge=8, description="hidden width of the forecast and decision heads")
    max_parameters: int = Field(1_000_000, ge=1, description="the model is refused above this many parameters")

    @model_validator(mode="after")
    def _heads_divide_width(self) -> NetworkParams:
        if self.d_model % self.n_heads:
            raise ValueError(f"d_model ({self.d_model}) must be a multiple of n_heads ({self.n_heads})")
        return self


class ForecastHeadParams(StrictModel):
    """Demand-forecast head: quantiles of daily demand over the days after the decision date."""

    horizon_days: int = Field(14, ge=1, le=91)
    quantiles: list[float] = Field(default_factory=lambda: [0.1, 0.5, 0.9])

    @model_validator(mode="after")
    def _quantiles_sorted_with_median(self) -> ForecastHeadParams:
        if not self.quantiles or any(not 0 < q < 1 for q in self.quantiles):
            raise ValueError("quantiles must be a non-empty list of levels strictly between 0 and 1")
        if sorted(set(self.quantiles)) != list(self.quantiles):
            raise ValueError("quantiles must be distinct and sorted in increasing order")
        return self


class StageParams(StrictModel):
    """One training stage: epochs, peak learning rate and early-stopping patience (epochs)."""

    epochs: int = Field(..., ge=0, le=1000, description="0 skips the stage")
    learning_rate: float = Field(..., gt=0, le=1)
    patience: int = Field(3, ge=1, description="epochs without validation improvement before stopping")


class TrainingParams(StrictModel):
    """Staged training: (1) forecast, (2) frozen encoders + decision head, (3) all on decisions."""

    batch_size: int = Field(256, ge=2)
    weight_decay: float = Field(1e-4, ge=0)
    grad_clip_norm: float = Field(1.0, gt=0)
    warmup_fraction: float = Field(0.1, ge=0, lt=1, description="share of a stage's steps with a linear warm-up")
    threads: int = Field(2, ge=1, description="torch CPU threads during training (fixed, for reproducibility)")
    stage_forecast: StageParams = Field(default_factory=lambda: StageParams(epochs=6, learning_rate=2e-3, patience=2))
    stage_decision_head: StageParams = Field(
        default_factory=lambda: StageParams(epochs=4, learning_rate=3e-3, patience=2)
    )
    stage_finetune: StageParams = Field(default_factory=lambda: StageParams(epochs=20, learning_rate=1e-3, patience=4))
    aux_forecast_weight: float = Field(0.1, ge=0, description="weight of the forecast loss in stage 3")
    label_sigma: float = Field(
        1.0, ge=0, description="Gaussian smoothing of the OR label over the grid (grid steps); 0 = one-hot"
    )
    ordinal_weight: float = Field(0.1, ge=0, description="weight of the expected |index - label| (grid steps) term")
    under_coverage_weight: float = Field(
        3.0,
        ge=1,
        description="ordinal distances below the label count this many times (too little cover costs lost sales)",
    )
    monitor: Literal["loss", "accuracy", "within_1"] = Field(
        "loss", description="validation metric of early stopping in stages 2 and 3"
    )
    max_train_samples: int | None = Field(None, ge=100, description="random subsample of the training rows; null = all")
    progress_bar: bool = True


class BaselineLearnerParams(StrictModel):
    """The comparison learner: HistGradientBoostingClassifier on flattened features."""

    max_iter: int = Field(40, ge=1)
    learning_rate: float = Field(0.08, gt=0, le=1)
    max_leaf_nodes: int = Field(15, ge=2)
    min_samples_leaf: int = Field(80, ge=1)
    l2_regularization: float = Field(5.0, ge=0)
    early_stopping: bool = False
    max_train_samples: int | None = Field(None, ge=100, description="random subsample of the training rows; null = all")


class PretrainingParams(StrictModel):
    """Parameters of the pretraining pipeline."""

    forecast_head: ForecastHeadParams = Field(default_factory=ForecastHeadParams)
    network: NetworkParams = Field(default_factory=NetworkParams)
    training: TrainingParams = Field(default_factory=TrainingParams)
    baseline: BaselineLearnerParams = Field(default_factory=BaselineLearnerParams)
    inference_batch_size: int = Field(4096, ge=1, description="rows per forward pass when deciding")


# --------------------------------------------------------------------------- rl_alignment
class RewardParams(StrictModel):
    """Reward = ``w_sim`` x simulation reward + ``w_rule`` x rule reward (per lane and review period).

    Simulation reward: minus the holding, lost-sale and ordering cost of the 7 days to
    the next decision date, divided by the lane's scale (mean weekly demand x unit
    cost on the training period, so large and small SKUs weigh alike). Rule reward:
    ``band`` x band term + ``turnover`` x turnover term (or, on promotion dates,
    ``promotion`` x promotion term) + ``or_agreement`` x OR-agreement term.
    """

    w_sim: float = Field(1.0, ge=0, description="weight of the (scaled) simulation reward")
    w_rule: float = Field(0.05, ge=0, description="weight of the rule reward")
    band: float = Field(1.0, ge=0, description="weight of the managerial-band term inside the rule reward")
    turnover: float = Field(0.2, ge=0, description="weight of -|v - target_turnover_days| / target_turnover_days")
    or_agreement: float = Field(1.0, ge=0, description="weight of -|index - OR label index| / (grid size - 1)")
    promotion: float = Field(
        1.0, ge=0, description="weight of -|v - expert coverage| / expert coverage on promotion dates"
    )
    min_promo_days: int = Field(
        1, ge=1, description="promoted days ahead (features) that make a decision date a promotion date"
    )
    bands: dict[str, Band] = Field(
        default_factory=dict, description="per-category bands (days) of the band term; empty = or_labeling.bands"
    )
    min_scale: float = Field(1.0, gt=0, description="floor of a lane's reward scale (currency per week)")


class PPOParams(StrictModel):
    """PPO (Tianshou 2.0) hyper-parameters."""

    actor_learning_rate: float = Field(5e-5, gt=0, le=1)
    critic_learning_rate: float = Field(1e-3, gt=0, le=1)
    eps_clip: float = Field(0.2, gt=0, lt=1)
    vf_coef: float = Field(0.5, ge=0)
    ent_coef: float = Field(0.0, ge=0)
    gamma: float = Field(0.9, ge=0, le=1, description="discount per review period (week)")
    gae_lambda: float = Field(0.95, ge=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    batch_size: int = Field(512, ge=2, description="minibatch of transitions per gradient step")
    repeat: int = Field(4, ge=1, description="passes over each collected batch")
    critic_hidden: int = Field(128, ge=4, description="hidden width of the critic MLP")


class RLOOParams(StrictModel):
    """REINFORCE leave-one-out: k sampled coverages per state, each simulated from that state."""

    k: int = Field(4, ge=2, le=64, description="sampled actions per state")
    learning_rate: float = Field(5e-5, gt=0, le=1)
    max_grad_norm: float = Field(1.0, gt=0)
    batch_size: int = Field(1024, ge=2, description="states per gradient step")
    repeat: int = Field(1, ge=1, description="passes over each collected batch")
    horizon_weeks: int = Field(
        2, ge=1, le=8, description="weeks each sampled coverage is simulated for its reward (carry-over of stock)"
    )


class ValidationRunParams(StrictModel):
    """Closed-loop comparison on the validation period."""

    initial_state: Literal["or_trajectory", "master"] = Field(
        "or_trajectory", description="start every policy from the OR trajectory's state or the master's initial_on_hand"
    )


class RLAlignmentParams(StrictModel):
    """Parameters of the rl_alignment pipeline."""

    algorithm: Literal["ppo", "rloo"] = "ppo"
    episode_weeks: int = Field(8, ge=1, le=52, description="review periods per episode")
    n_envs: int = Field(512, ge=1, description="lanes stepped together (Tianshou sub-environments)")
    epochs: int = Field(30, ge=0, le=1000, description="0 returns the pretrained policy unchanged")
    collects_per_epoch: int = Field(1, ge=1, description="rollouts of n_envs x episode_weeks steps per epoch")
    kl_coef: float = Field(0.05, ge=0, description="weight of KL(policy || pretrained policy) in the actor loss")
    freeze: Literal["none", "context", "encoders"] = Field(
        "context",
        description="none: train everything; context: keep the sequence and target encoders frozen (their output is "
        "cached per lane and date); encoders: train the decision head only",
    )
    reward: RewardParams = Field(default_factory=RewardParams)
    ppo: PPOParams = Field(default_factory=PPOParams)
    rloo: RLOOParams = Field(default_factory=RLOOParams)
    validation: ValidationRunParams = Field(default_factory=ValidationRunParams)
    checkpoint_dir: str = Field("data/06_models/rl_checkpoints", description="folder of the per-epoch checkpoints")
    resume: bool = Field(True, description="continue from the last checkpoint of the same run when there is one")
    keep_checkpoints: int | None = Field(
        5, ge=1, description="newest checkpoints kept per run; null keeps every epoch's"
    )
    threads: int = Field(
        1, ge=1, description="torch CPU threads (fixed, for reproducibility; small batches run best on 1)"
    )
    progress_bar: bool = True


# --------------------------------------------------------------------------- recommend
class RecommendParams(StrictModel):
    """Parameters of the recommend pipeline (today's orders from the aligned policy)."""

    min_history_days: int = Field(
        28,
        ge=1,
        le=364,
        description="days of sales history up to the snapshot a lane needs for the aligned policy; "
        "fewer = cold start: the incumbent rule decides and the row is flagged",
    )
    batch_size: int = Field(4096, ge=1, description="lanes per forward pass of the policy network")
    arrival_range_level: float = Field(
        0.9, gt=0, lt=1, description="two-sided level of the arrival date range (normal lead time)"
    )


def parse_currency(value: Any) -> str:
    """The top-level ``currency`` parameter (``conf/base/parameters.yml``): an ISO 4217 code such as ``EUR``.

    It labels every money column of the orders; values stay in the currency of ``unit_cost``.
    """
    if not (isinstance(value, str) and re.fullmatch(r"[A-Z]{3}", value)):
        raise ParameterError(
            f"parameter 'currency': expected a three-letter ISO 4217 code in capitals such as 'EUR' (got {value!r})"
        )
    return value


# --------------------------------------------------------------------------- demo data
class DemoDataConfig(StrictModel):
    """Size and shape of the generated demo data set (``conf/<env>/demo_data.yml``)."""

    enabled: bool = Field(
        False, description="true only in demo environments; an environment opts in in its own demo_data.yml"
    )
    start_date: dt.date = dt.date(2024, 1, 1)
    n_days: int = Field(731, ge=120)
    n_skus: int = Field(150, ge=2)
    n_dcs: int = Field(3, ge=1, le=50)
    n_categories: int = Field(8, ge=1)
    mean_dcs_per_sku: float = Field(2.0, ge=1)
    intermittent_share: float = Field(0.35, ge=0, le=1)
    launch_share: float = Field(0.03, ge=0, le=0.5, description="share of lanes launched mid-history")
    promotions_per_sku_year: float = Field(2.0, ge=0)
    price_changes_per_sku_year: float = Field(0.8, ge=0)


# --------------------------------------------------------------------------- evaluation
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


PARAMETER_MODELS: dict[str, type[StrictModel]] = {
    "data_processing": DataProcessingParams,
    "or_labeling": ORLabelingParams,
    "pretraining": PretrainingParams,
    "rl_alignment": RLAlignmentParams,
    "evaluation": EvaluationParams,
    "recommend": RecommendParams,
}


def _format_validation_error(key: str, error: ValidationError) -> str:
    lines = []
    for item in error.errors():
        location = ".".join([key, *(str(part) for part in item["loc"])])
        value = item.get("input")
        shown = "" if isinstance(value, dict) else f" (got {value!r})"
        lines.append(f"parameter '{location}': {item['msg']}{shown}")
    return "\n".join(lines)


def parse_params(key: str, values: dict[str, Any] | BaseModel) -> Any:
    """Validate one parameter block against its model.

    Args:
        key: top-level parameter key, e.g. ``"data_processing"``.
        values: the raw mapping from the configuration (or an already built model).

    Returns:
        The validated, immutable parameter model.

    Raises:
        ParameterError: naming every offending key, e.g.
            ``parameter 'data_processing.forecast.horizon_days': Input should be
            greater than or equal to 7 (got 3)``.
    """
    model = PARAMETER_MODELS[key]
    if isinstance(values, model):
        return values
    try:
        return model.model_validate(values or {})
    except ValidationError as error:
        raise ParameterError(_format_validation_error(key, error)) from None


# Top-level parameter keys that are not a pipeline block.
# data_is_demo is added at start-up from the environment's demo_data.yml (orpr_kedro.hooks.DemoDataHooks).
TOP_LEVEL_KEYS: tuple[str, ...] = ("seed", "currency", "data_is_demo")


def unknown_blocks(keys: Iterable[str]) -> dict[str, str | None]:
    """Top-level parameter keys that no model reads, each with its closest known key.

    >>> unknown_blocks(["seed", "data_procesing"])
    {'data_procesing': 'data_processing'}
    """
    known = [*PARAMETER_MODELS, *TOP_LEVEL_KEYS]
    return {
        key: next(iter(difflib.get_close_matches(key, known, n=1, cutoff=0.6)), None)
        for key in keys
        if key not in known
    }


def validate_parameters(params: dict[str, Any]) -> dict[str, BaseModel]:
    """Validate every registered parameter block present in ``params``.

    All problems are collected before raising, so one run reports them all.
    """
    validated: dict[str, BaseModel] = {}
    problems: list[str] = []
    for key in PARAMETER_MODELS:
        if key not in params:
            continue
        try:
            validated[key] = parse_params(key, params[key])
        except ParameterError as error:
            problems.append(str(error))
    if "currency" in params:
        try:
            parse_currency(params["currency"])
        except ParameterError as error:
            problems.append(str(error))
    if problems:
        raise ParameterError("Invalid parameters:\n" + "\n".join(problems))
    return validated
