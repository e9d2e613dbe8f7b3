"""What the foundation model reads: decision inputs, their scaling and the model's tensors.

The network decides a coverage level (days of forecast demand) for one lane at one
decision date from what is known on that date. Three small Transformer encoders read
three groups of inputs:

1. **sequence**: the sales history and the forward forecast as one daily sequence,
   cut into patches of ``patch_days`` days (one token per patch: the daily values
   divided by the lane's level, a flag per day that the value is real, and a flag
   for history vs forecast; learned positional embedding);
2. **attributes and state**: one token per scalar (FT-Transformer style: value times
   a learned vector plus a learned feature-id vector) for the SKU-DC attributes, the
   lane's level and forecast spread, case pack and MOQ in days of demand and the
   inventory state (on hand, on order, position) in days of cover, plus a category
   embedding token;
3. **business targets**: category sales share, target turnover days, alpha, and the
   promotion calendar ahead (promoted days, planned uplift, expert coverage).

Scaling: the sequence is divided by the lane's level (mean of the available history
and of the forecast, units/day); scalar features are ``log1p``-transformed where
they are unit- or currency-like and standardised with means and standard deviations
fitted on the training split only (:class:`Normalisation`), stored with the weights.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass
from typing import Any

import numpy as np
import pandas as pd
import torch

from orpr_kedro.core.learning.features import ATTRIBUTE_COLUMNS, TARGET_COLUMNS, forecast_columns, history_columns

MIN_LEVEL = 0.05  # units/day: floor of a lane's level, so dead lanes do not divide by zero
MIN_DAILY_FORECAST = 0.01  # units/day: floor when expressing stock in days of cover
MAX_COVER_DAYS = 400.0  # days: cover beyond this carries no extra information
MAX_SCALED_VALUE = 50.0  # a day above 50 x the level is a spike; clip it

__all__ = [
    "PROMOTION_COLUMNS",
    "STATE_FEATURES",
    "TARGET_FEATURES",
    "DecisionInputs",
    "ModelTensors",
    "Normalisation",
    "model_tensors",
    "sequence_lengths",
]

PROMOTION_COLUMNS = ("promo_days_ahead", "promo_max_uplift_ahead", "expert_coverage_days_ahead")

# Encoder 2: SKU-DC attributes and inventory state, one token each. ``True`` = log1p first.
STATE_FEATURES: dict[str, bool] = {
    **{name: True for name in ATTRIBUTE_COLUMNS},
    "log_level": False,  # log of the lane's level (units/day)
    "history_coverage": False,  # share of the history window the lane existed
    "forecast_cv": True,  # forecast std over the window / forecast sum
    "case_pack_days": True,  # case pack in days of forecast demand
    "moq_days": True,  # MOQ in days of forecast demand
    "on_hand_cover_days": True,
    "on_order_cover_days": True,
    "position_cover_days": True,
    "on_hand_units": True,
    "on_order_units": True,
}
# Encoder 3: business targets and the promotion calendar ahead.
TARGET_FEATURES: dict[str, bool] = {
    "category_sales_share": False,
    "target_turnover_days": False,
    "alpha": False,
    "promo_days_ahead": False,
    "promo_max_uplift_ahead": True,
    "expert_coverage_days_ahead": True,
}


def sequence_lengths(columns) -> tuple[int, int]:
    """History and forecast window lengths (days) present in a feature frame's columns."""
    names = set(columns)
    history = sum(1 for name in names if name.startswith("hist_") and name[5:].isdigit())
    forecast = sum(1 for name in names if name.startswith("fcst_") and name[5:].isdigit())
    if history == 0 or forecast == 0:
        raise ValueError("the feature table needs hist_<k> and fcst_<h> columns (mi_decision_features)")
    return history, forecast


@dataclass
class DecisionInputs:
    """What the policy knows about ``N`` lanes at a decision date (raw units).

    ``history[N, H]``: daily sales (units/day) of the ``H`` days before the decision
    date, oldest first; ``forecast[N, F]``: forecast demand (units/day) from the
    decision date; ``attributes[N, 11]`` in :data:`ATTRIBUTE_COLUMNS` order;
    ``targets[N, 3]`` in :data:`TARGET_COLUMNS` order; ``promotions[N, 3]`` in
    :data:`PROMOTION_COLUMNS` order; ``history_days_available[N]`` (days);
    ``forecast_std_sum[N]`` (units); ``category_code[N]``; state ``on_hand[N]`` and
    ``on_order[N]`` (units).
    """

    history: np.ndarray
    forecast: np.ndarray
    attributes: np.ndarray
    targets: np.ndarray
    promotions: np.ndarray
    history_days_available: np.ndarray
    forecast_std_sum: np.ndarray
    category_code: np.ndarray
    on_hand: np.ndarray
    on_order: np.ndarray

    def __post_init__(self) -> None:
        n = len(self.history)
        for name in (
            "forecast",
            "attributes",
            "targets",
            "promotions",
            "history_days_available",
            "forecast_std_sum",
            "category_code",
            "on_hand",
            "on_order",
        ):
            if len(getattr(self, name)) != n:
                raise ValueError(f"DecisionInputs.{name} has {len(getattr(self, name))} rows, history has {n}")

    def __len__(self) -> int:
        return len(self.history)

    @classmethod
    def from_frame(cls, features: pd.DataFrame, on_hand=None, on_order=None) -> DecisionInputs:
        """Inputs from ``mi_decision_features`` rows and the lanes' state.

        ``on_hand`` / ``on_order`` (units, ``[N]``) default to the frame's columns of
        those names (e.g. the OR-trajectory state joined from ``mi_or_labels``).
        """
        history_days, forecast_days = sequence_lengths(features.columns)
        state = {}
        for name, given in (("on_hand", on_hand), ("on_order", on_order)):
            if given is None and name not in features.columns:
                raise ValueError(f"no {name}: pass it or add an '{name}' column (units) to the features")
            state[name] = np.asarray(features[name].to_numpy() if given is None else given, dtype="float64")
        return cls(
            history=features[history_columns(history_days)].to_numpy(dtype="float64"),
            forecast=features[forecast_columns(forecast_days)].to_numpy(dtype="float64"),
            attributes=features[list(ATTRIBUTE_COLUMNS)].to_numpy(dtype="float64"),
            targets=features[list(TARGET_COLUMNS)].to_numpy(dtype="float64"),
            promotions=features[list(PROMOTION_COLUMNS)].to_numpy(dtype="float64"),
            history_days_available=features["history_days_available"].to_numpy(dtype="float64"),
            forecast_std_sum=features["forecast_std_sum"].to_numpy(dtype="float64"),
            category_code=features["category_code"].to_numpy(dtype="int64"),
            **state,
        )

    def subset(self, index) -> DecisionInputs:
        """Rows selected by an integer index or boolean mask."""
        return DecisionInputs(**{name: getattr(self, name)[index] for name in self.__dataclass_fields__})

    def level(self) -> np.ndarray:
        """The lane's level (units/day): mean of the real history and of the forecast, floored."""
        history_days = self.history.shape[1]
        available = np.clip(self.history_days_available, 0, history_days)
        history_mean = self.history.sum(axis=1) / np.maximum(available, 1.0)
        return np.maximum(0.5 * (history_mean + self.forecast.mean(axis=1)), MIN_LEVEL)

    def raw_state_features(self, level: np.ndarray | None = None) -> np.ndarray:
        """Encoder-2 features ``[N, len(STATE_FEATURES)]`` before log/standardisation."""
        level = self.level() if level is None else level
        daily = np.maximum(self.forecast[:, :7].mean(axis=1), MIN_DAILY_FORECAST)
        forecast_sum = np.maximum(self.forecast.sum(axis=1), MIN_DAILY_FORECAST)
        attributes = {name: self.attributes[:, i] for i, name in enumerate(ATTRIBUTE_COLUMNS)}
        on_hand, on_order = np.maximum(self.on_hand, 0.0), np.maximum(self.on_order, 0.0)

        def cover(units: np.ndarray) -> np.ndarray:
            return np.clip(units / daily, 0.0, MAX_COVER_DAYS)

        derived = {
            "log_level": np.log(level),
            "history_coverage": np.clip(self.history_days_available / self.history.shape[1], 0.0, 1.0),
            "forecast_cv": np.clip(self.forecast_std_sum / forecast_sum, 0.0, 100.0),
            "case_pack_days": cover(attributes["case_pack"]),
            "moq_days": cover(attributes["moq"]),
            "on_hand_cover_days": cover(on_hand),
            "on_order_cover_days": cover(on_order),
            "position_cover_days": cover(on_hand + on_order),
            "on_hand_units": on_hand,
            "on_order_units": on_order,
        }
        columns = {**attributes, **derived}
        return np.stack([columns[name] for name in STATE_FEATURES], axis=1)

    def raw_target_features(self) -> np.ndarray:
        """Encoder-3 features ``[N, len(TARGET_FEATURES)]`` before log/standardisation."""
        return np.concatenate([self.targets, self.promotions], axis=1)

    def scaled_sequence(self, level: np.ndarray | None = None) -> tuple[np.ndarray, np.ndarray]:
        """History then forecast divided by the level ``[N, H + F]`` and the real-day mask."""
        level = self.level() if level is None else level
        values = np.concatenate([self.history, self.forecast], axis=1) / level[:, None]
        history_days = self.history.shape[1]
        days_back = np.arange(history_days, 0, -1)[None, :]
        real_history = days_back <= self.history_days_available[:, None]
        real = np.concatenate([real_history, np.ones_like(self.forecast, dtype=bool)], axis=1)
        return np.clip(np.nan_to_num(values, nan=0.0), 0.0, MAX_SCALED_VALUE), real


def _transform(raw: np.ndarray, log_flags: list[bool]) -> np.ndarray:
    flags = np.asarray(log_flags, dtype=bool)
    values = np.nan_to_num(np.asarray(raw, dtype="float64"), nan=0.0, posinf=0.0, neginf=0.0)
    values[:, flags] = np.log1p(np.maximum(values[:, flags], 0.0))
    return values


@dataclass
class Normalisation:
    """Scaling of the scalar tokens, fitted on the training split only.

    ``state_*`` belong to encoder 2 (:data:`STATE_FEATURES`), ``target_*`` to
    encoder 3 (:data:`TARGET_FEATURES`): names, ``log1p`` flags, and the mean and
    standard deviation of the transformed values. ``history_days`` /
    ``forecast_days`` are the window lengths the model was trained on.
    """

    history_days: int
    forecast_days: int
    n_categories: int
    state_names: list[str]
    state_log: list[bool]
    state_mean: list[float]
    state_std: list[float]
    target_names: list[str]
    target_log: list[bool]
    target_mean: list[float]
    target_std: list[float]

    @classmethod
    def fit(cls, inputs: DecisionInputs, n_categories: int) -> Normalisation:
        """Means and standard deviations of the transformed features of ``inputs`` (training rows)."""
        if len(inputs) == 0:
            raise ValueError("cannot fit the normalisation on zero training rows")

        def stats(raw: np.ndarray, flags: list[bool]) -> tuple[list[float], list[float]]:
            values = _transform(raw, flags)
            std = values.std(axis=0)
            return values.mean(axis=0).tolist(), np.where(std > 1e-8, std, 1.0).tolist()

        state_log, target_log = list(STATE_FEATURES.values()), list(TARGET_FEATURES.values())
        state_mean, state_std = stats(inputs.raw_state_features(), state_log)
        target_mean, target_std = stats(inputs.raw_target_features(), target_log)
        return cls(
            history_days=int(inputs.history.shape[1]),
            forecast_days=int(inputs.forecast.shape[1]),
            n_categories=int(n_categories),
            state_names=list(STATE_FEATURES),
            state_log=state_log,
            state_mean=state_mean,
            state_std=state_std,
            target_names=list(TARGET_FEATURES),
            target_log=target_log,
            target_mean=target_mean,
            target_std=target_std,
        )

    def state(self, raw: np.ndarray) -> np.ndarray:
        """Standardised encoder-2 features."""
        return (_transform(raw, self.state_log) - np.asarray(self.state_mean)) / np.asarray(self.state_std)

    def targets(self, raw: np.ndarray) -> np.ndarray:
        """Standardised encoder-3 features."""
        return (_transform(raw, self.target_log) - np.asarray(self.target_mean)) / np.asarray(self.target_std)

    def to_dict(self) -> dict[str, Any]:
        """Plain types only (``torch.load(weights_only=True)`` accepts them)."""
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> Normalisation:
        return cls(**dict(values))


@dataclass
class ModelTensors:
    """Network inputs for ``N`` rows (float32 / int64 tensors) and each lane's level (units/day)."""

    sequence: torch.Tensor  # [N, H + F, 2]: scaled value, real-day flag
    state: torch.Tensor  # [N, S]
    category: torch.Tensor  # [N]
    targets: torch.Tensor  # [N, B]
    level: torch.Tensor  # [N]

    def __len__(self) -> int:
        return int(self.level.shape[0])

    def index(self, rows) -> ModelTensors:
        """Rows selected by a tensor of indices or a slice."""
        return ModelTensors(
            self.sequence[rows], self.state[rows], self.category[rows], self.targets[rows], self.level[rows]
        )

    def network_inputs(self) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor, torch.Tensor]:
        """Positional arguments of :meth:`FoundationModel.forward`."""
        return self.sequence, self.state, self.category, self.targets


def model_tensors(inputs: DecisionInputs, normalisation: Normalisation) -> ModelTensors:
    """Scale raw inputs into network tensors (training-split statistics, per-lane level)."""
    if inputs.history.shape[1] != normalisation.history_days or inputs.forecast.shape[1] != normalisation.forecast_days:
        raise ValueError(
            f"the model was trained on {normalisation.history_days} history and {normalisation.forecast_days} forecast days; "
            f"got {inputs.history.shape[1]} and {inputs.forecast.shape[1]}"
        )
    level = inputs.level()
    values, real = inputs.scaled_sequence(level)
    category = np.where(
        (inputs.category_code >= 0) & (inputs.category_code < normalisation.n_categories),
        inputs.category_code,
        normalisation.n_categories,  # unseen category: its own embedding row
    )
    return ModelTensors(
        sequence=torch.from_numpy(np.stack([values, real], axis=2).astype("float32")),
        state=torch.from_numpy(normalisation.state(inputs.raw_state_features(level)).astype("float32")),
        category=torch.from_numpy(category.astype("int64")),
        targets=torch.from_numpy(normalisation.targets(inputs.raw_target_features()).astype("float32")),
        level=torch.from_numpy(level.astype("float32")),
    )
