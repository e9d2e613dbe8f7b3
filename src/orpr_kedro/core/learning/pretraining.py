"""Pretraining of the foundation model: the losses, the staged trainer, the metrics.

Samples come from :mod:`~orpr_kedro.core.learning.samples`.

Training runs in three stages on the ``train`` split, each with AdamW, a linear
warm-up then cosine learning-rate schedule, gradient clipping and early stopping on
the ``validation`` split (the best epoch's weights are kept):

1. ``forecast``: the encoders and the forecast head on the pinball loss;
2. ``decision_head``: encoders, fusion and forecast head frozen; the decision head on
   the OR labels;
3. ``finetune``: everything on the decision loss plus ``aux_forecast_weight`` x the
   pinball loss.

Decision loss: cross-entropy against the OR label smoothed by a Gaussian of
``label_sigma`` grid steps (neighbouring coverages cost almost the same), plus
``ordinal_weight`` x the expected distance ``E|index - label|`` (grid steps) under
the predicted distribution. Both make a near miss cheaper than a far one.

A fixed seed gives identical weights and metrics: the seed drives weight
initialisation, dropout and batch order; torch runs with a fixed number of threads
and deterministic algorithms during training.
"""

from __future__ import annotations

import contextlib
import logging
import math
import time
from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import pandas as pd
import torch
from torch import nn

from orpr_kedro.core.forecasting import model as forecasting
from orpr_kedro.core.learning.inputs import (
    STATE_FEATURES,
    TARGET_FEATURES,
    DecisionInputs,
    Normalisation,
)
from orpr_kedro.core.learning.network import FoundationModel, ModelConfig, count_parameters, pinball_loss
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.samples import (
    SampleTensors,
    _subsample,
    sample_tensors,
    split_rows,
)
from orpr_kedro.core.params import PretrainingParams, StageParams
from orpr_kedro.core.progress import progress_bar
from orpr_kedro.core.simulation.actions import ActionGrid, as_action_grid

logger = logging.getLogger(__name__)

STAGES = ("forecast", "decision_head", "finetune")


def decision_loss(
    logits: torch.Tensor,
    label: torch.Tensor,
    label_sigma: float,
    ordinal_weight: float,
    under_coverage_weight: float = 1.0,
) -> torch.Tensor:
    """Cross-entropy against a Gaussian-smoothed label plus an ordinal term.

    The ordinal term is ``ordinal_weight`` x the expected distance (grid steps) from
    the label under the predicted distribution, with distances below the label
    multiplied by ``under_coverage_weight`` (too little cover loses sales, which
    usually costs more than the holding of a day too much).
    """
    log_p = torch.log_softmax(logits, dim=1)
    steps = torch.arange(logits.shape[1], dtype=logits.dtype, device=logits.device)
    offset = steps[None, :] - label[:, None].to(logits.dtype)
    distance = offset.abs()
    if label_sigma > 0:
        target = torch.softmax(-0.5 * (distance / label_sigma) ** 2, dim=1)
        loss = -(target * log_p).sum(dim=1).mean()
    else:
        loss = nn.functional.nll_loss(log_p, label)
    if ordinal_weight > 0:
        penalty = torch.where(offset < 0, under_coverage_weight * distance, distance)
        loss = loss + ordinal_weight * (log_p.exp() * penalty).sum(dim=1).mean()
    return loss


def decision_metrics(predicted: np.ndarray, label: np.ndarray) -> dict[str, float]:
    """Top-1 accuracy, accuracy within +-1 and +-2 grid steps, mean absolute error (grid steps)."""
    error = np.abs(np.asarray(predicted, dtype="int64") - np.asarray(label, dtype="int64"))
    if error.size == 0:
        return {
            "top1_accuracy": np.nan,
            "within_1_step": np.nan,
            "within_2_steps": np.nan,
            "mean_abs_step_error": np.nan,
        }
    return {
        "top1_accuracy": float((error == 0).mean()),
        "within_1_step": float((error <= 1).mean()),
        "within_2_steps": float((error <= 2).mean()),
        "mean_abs_step_error": float(error.mean()),
    }


def wape(actual: np.ndarray, predicted: np.ndarray) -> float:
    """:func:`orpr_kedro.core.forecasting.model.wape` over the finite actuals (NaN when they sum to 0)."""
    known = np.isfinite(actual)
    if float(np.abs(actual[known]).sum()) <= 0:
        return np.nan
    return forecasting.wape(actual[known], predicted[known])


# --------------------------------------------------------------------------- trainer
@contextlib.contextmanager
def reproducible_torch(seed: int, threads: int) -> Iterator[None]:
    """Seeded, deterministic, fixed-thread torch for the duration of the block (restored after)."""
    previous_threads = torch.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    torch.manual_seed(seed)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        torch.set_num_threads(previous_threads)


def _schedule(total_steps: int, warmup_fraction: float, floor: float = 0.05):
    warmup = max(1, int(round(total_steps * warmup_fraction))) if warmup_fraction > 0 else 0

    def factor(step: int) -> float:
        if step < warmup:
            return (step + 1) / warmup
        progress = (step - warmup) / max(1, total_steps - warmup)
        return floor + (1.0 - floor) * 0.5 * (1.0 + math.cos(math.pi * min(progress, 1.0)))

    return factor


@dataclass
class StageSetup:
    """What one stage trains and how its loss and early-stopping metric are formed."""

    name: str
    params: StageParams
    trainable: list[nn.Parameter]
    frozen_modules: list[nn.Module]
    decision_weight: float
    forecast_weight: float
    monitor: str  # metric key in the epoch record
    maximise: bool


class StagedTrainer:
    """Runs the three training stages on one model; records one row per epoch."""

    def __init__(self, model: FoundationModel, params: PretrainingParams, seed: int) -> None:
        self.model = model
        self.params = params
        self.training = params.training
        self.quantiles = torch.tensor(model.config.quantiles, dtype=torch.float32)
        self.generator = torch.Generator().manual_seed(seed)
        self.history: list[dict] = []

    # ---------------------------------------------------------------- stages
    def stages(self) -> list[StageSetup]:
        """The three stages in order: forecast, decision head, fine-tuning."""
        model, training = self.model, self.training
        encoders = model.encoder_parameters()
        forecast_head = list(model.forecast_head.parameters())
        frozen_for_head = [
            getattr(model, name) for name in model.ENCODER_MODULES if isinstance(getattr(model, name), nn.Module)
        ]
        monitor = {
            "loss": ("val_decision_loss", False),
            "accuracy": ("val_top1_accuracy", True),
            "within_1": ("val_within_1_step", True),
        }
        decision_key, decision_max = monitor[training.monitor]
        return [
            StageSetup(
                "forecast", training.stage_forecast, encoders + forecast_head, [], 0.0, 1.0, "val_pinball", False
            ),
            StageSetup(
                "decision_head",
                training.stage_decision_head,
                list(model.decision_head.parameters()),
                [*frozen_for_head, model.forecast_head],
                1.0,
                0.0,
                decision_key,
                decision_max,
            ),
            StageSetup(
                "finetune",
                training.stage_finetune,
                list(model.parameters()),
                [],
                1.0,
                training.aux_forecast_weight,
                decision_key,
                decision_max,
            ),
        ]

    def set_trainable(self, stage: StageSetup) -> None:
        """Gradients only for the stage's parameters (the rest is frozen)."""
        trainable = {id(p) for p in stage.trainable}
        for parameter in self.model.parameters():
            parameter.requires_grad_(id(parameter) in trainable)

    def _train_mode(self, stage: StageSetup) -> None:
        self.model.train()
        for module in stage.frozen_modules:  # frozen parts run as at inference (no dropout)
            module.eval()

    def _decision_loss(self, logits: torch.Tensor, label: torch.Tensor) -> torch.Tensor:
        training = self.training
        return decision_loss(
            logits, label, training.label_sigma, training.ordinal_weight, training.under_coverage_weight
        )

    def loss(self, stage: StageSetup, batch: SampleTensors) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """(stage loss, decision loss, pinball loss) of one batch."""
        logits, forecast = self.model(*batch.inputs.network_inputs())
        decision = self._decision_loss(logits, batch.label)
        pinball = pinball_loss(forecast, batch.demand, self.quantiles, batch.demand_known)
        return stage.decision_weight * decision + stage.forecast_weight * pinball, decision, pinball

    def train_step(self, stage: StageSetup, optimizer: torch.optim.Optimizer, batch: SampleTensors) -> float:
        """One optimiser step on one batch; returns the batch loss."""
        self._train_mode(stage)
        loss, _, _ = self.loss(stage, batch)
        optimizer.zero_grad(set_to_none=True)
        loss.backward()
        nn.utils.clip_grad_norm_(stage.trainable, self.training.grad_clip_norm)
        optimizer.step()
        return float(loss.detach())

    def optimizer(self, stage: StageSetup) -> torch.optim.Optimizer:
        return torch.optim.AdamW(
            stage.trainable, lr=stage.params.learning_rate, weight_decay=self.training.weight_decay
        )

    def evaluate(self, data: SampleTensors, batch_size: int = 4096) -> dict[str, float]:
        """Validation metrics: decision loss, accuracies, pinball loss (scaled units)."""
        self.model.eval()
        decision_sum = pinball_sum = weight_sum = 0.0
        predicted = []
        with torch.inference_mode():
            for start in range(0, len(data), batch_size):
                batch = data.index(slice(start, start + batch_size))
                logits, forecast = self.model(*batch.inputs.network_inputs())
                n = len(batch)
                decision_sum += float(self._decision_loss(logits, batch.label)) * n
                known = float(batch.demand_known.sum())
                pinball_sum += float(pinball_loss(forecast, batch.demand, self.quantiles, batch.demand_known)) * known
                weight_sum += known
                predicted.append(logits.argmax(dim=1))
        metrics = decision_metrics(torch.cat(predicted).numpy(), data.label.numpy())
        return {
            "val_decision_loss": decision_sum / max(len(data), 1),
            "val_pinball": pinball_sum / weight_sum if weight_sum else np.nan,
            **{f"val_{key}": value for key, value in metrics.items()},
        }

    def run_stage(self, stage: StageSetup, train: SampleTensors, validation: SampleTensors) -> None:
        """Train one stage with early stopping; the model ends with the stage's best weights."""
        if stage.params.epochs == 0:
            logger.info("Pretraining stage '%s' skipped (0 epochs)", stage.name)
            return
        self.set_trainable(stage)
        optimizer = self.optimizer(stage)
        batch_size = min(self.training.batch_size, len(train))
        batches = math.ceil(len(train) / batch_size)
        scheduler = torch.optim.lr_scheduler.LambdaLR(
            optimizer, _schedule(stage.params.epochs * batches, self.training.warmup_fraction)
        )
        best_value, best_state, waited = None, None, 0
        bar = progress_bar(
            range(stage.params.epochs),
            desc=f"pretraining: {stage.name}",
            leave=False,
            enabled=self.training.progress_bar,
        )
        for epoch in bar:
            started = time.perf_counter()
            order = torch.randperm(len(train), generator=self.generator)
            losses = []
            for start in range(0, len(train), batch_size):
                losses.append(self.train_step(stage, optimizer, train.index(order[start : start + batch_size])))
                scheduler.step()
            record = {
                "stage": stage.name,
                "epoch": epoch + 1,
                "train_loss": float(np.mean(losses)),
                **self.evaluate(validation),
            }
            record["learning_rate"] = float(scheduler.get_last_lr()[0])
            record["seconds"] = time.perf_counter() - started
            value = record[stage.monitor]
            improved = best_value is None or (value > best_value if stage.maximise else value < best_value)
            record["best"] = bool(improved)
            self.history.append(record)
            bar.set_postfix(
                loss=f"{record['train_loss']:.4f}", val=f"{value:.4f}", acc=f"{record['val_top1_accuracy']:.3f}"
            )
            if improved:
                best_value, waited = value, 0
                best_state = {name: tensor.detach().clone() for name, tensor in self.model.state_dict().items()}
            else:
                waited += 1
                if waited >= stage.params.patience:
                    break
        bar.close()
        if best_state is not None:  # None only when the stage has no epoch
            self.model.load_state_dict(best_state)
        logger.info(
            "Pretraining stage '%s': best %s %.4f after %d epochs",
            stage.name,
            stage.monitor,
            best_value,
            len([r for r in self.history if r["stage"] == stage.name]),
        )

    def fit(self, train: SampleTensors, validation: SampleTensors) -> None:
        """All three stages in order."""
        for stage in self.stages():
            self.run_stage(stage, train, validation)
        for parameter in self.model.parameters():
            parameter.requires_grad_(True)
        self.model.eval()


def build_model(config: ModelConfig, params: PretrainingParams) -> FoundationModel:
    """The network, refused when it has more than ``network.max_parameters`` parameters."""
    model = FoundationModel(config)
    n_parameters = count_parameters(model)
    if n_parameters > params.network.max_parameters:
        raise ValueError(
            f"the network has {n_parameters:,} parameters, more than pretraining.network.max_parameters "
            f"({params.network.max_parameters:,}); reduce d_model, ff_dim, n_layers, token_mixing_layers or head_hidden"
        )
    return model


def model_config(normalisation: Normalisation, grid: ActionGrid | np.ndarray, params: PretrainingParams) -> ModelConfig:
    """Network shape from the data (window lengths, categories, action grid) and the parameters."""
    network = params.network
    grid = as_action_grid(grid)
    return ModelConfig(
        history_days=normalisation.history_days,
        forecast_days=normalisation.forecast_days,
        n_state_features=len(STATE_FEATURES),
        n_target_features=len(TARGET_FEATURES),
        n_categories=normalisation.n_categories,
        coverage_grid=[float(v) for v in grid.values],
        action_kind=grid.kind,
        forecast_horizon=params.forecast_head.horizon_days,
        quantiles=list(params.forecast_head.quantiles),
        patch_days=network.patch_days,
        d_model=network.d_model,
        n_heads=network.n_heads,
        n_layers=network.n_layers,
        token_mixing_layers=network.token_mixing_layers,
        ff_dim=network.ff_dim,
        dropout=network.dropout,
        head_hidden=network.head_hidden,
    )


@dataclass
class TrainingResult:
    """The trained policy, one row per epoch of each stage, and a summary."""

    policy: FoundationPolicy
    history: pd.DataFrame
    summary: dict

    def payload(self) -> dict:
        """What the catalog saves as ``mdl_foundation_model``."""
        return self.policy.to_payload(metadata=self.summary)


def train_foundation_model(
    samples: pd.DataFrame, grid: ActionGrid | np.ndarray, params: PretrainingParams, seed: int
) -> TrainingResult:
    """Fit the normalisation on the training split and train the network in three stages.

    Raises:
        ValueError: without training or validation rows (label both periods), or when
            the network exceeds ``network.max_parameters``.
    """
    started = time.perf_counter()
    train_frame = _subsample(split_rows(samples, "train"), params.training.max_train_samples, seed)
    validation_frame = split_rows(samples, "validation")
    if train_frame.empty or validation_frame.empty:
        raise ValueError(
            f"pretraining needs OR labels for the train and validation periods; got {len(train_frame)} training and "
            f"{len(validation_frame)} validation rows (or_labeling.periods should include both)"
        )
    n_categories = int(samples["category_code"].max()) + 1
    normalisation = Normalisation.fit(DecisionInputs.from_frame(train_frame), n_categories)
    horizon = params.forecast_head.horizon_days
    with reproducible_torch(seed, params.training.threads):
        train = sample_tensors(train_frame, normalisation, horizon)
        validation = sample_tensors(validation_frame, normalisation, horizon)
        model = build_model(model_config(normalisation, grid, params), params)
        trainer = StagedTrainer(model, params, seed)
        trainer.fit(train, validation)
        final = trainer.evaluate(validation)
    history = pd.DataFrame(trainer.history)
    weights = model.fusion_weights.detach().numpy()
    summary = {
        "seed": int(seed),
        "n_parameters": int(count_parameters(model)),
        "n_train": len(train_frame),
        "n_validation": len(validation_frame),
        "training_seconds": round(time.perf_counter() - started, 2),
        "fusion_weights": {
            name: float(w) for name, w in zip(("sequence", "attributes_state", "targets"), weights, strict=True)
        },
        "validation": {key: float(value) for key, value in final.items()},
        "epochs": {stage: int((history["stage"] == stage).sum()) if len(history) else 0 for stage in STAGES},
        "torch_version": str(torch.__version__),
    }
    logger.info(
        "Foundation model: %s parameters, validation top-1 %.3f, within 1 step %.3f, %.0f s",
        f"{summary['n_parameters']:,}",
        final["val_top1_accuracy"],
        final["val_within_1_step"],
        summary["training_seconds"],
    )
    return TrainingResult(
        FoundationPolicy(model, normalisation, batch_size=params.inference_batch_size), history, summary
    )
