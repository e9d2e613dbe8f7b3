"""Parameters of the pretraining pipeline: network sizes, forecast head, staged training, baseline learner."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from orpr_kedro.core.params.base import StrictModel


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
