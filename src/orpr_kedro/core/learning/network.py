"""The domain-informed foundation model: network, input scaling, saved payload and policy.

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

Each encoder pools its tokens through a learned summary token. A softmax over three
learned fusion logits mixes the three pooled encodings into one vector that feeds

* a **forecast head**: quantiles of daily demand for each of the next ``H`` days,
  monotone in the quantile level, in units of the lane's level (multiplied back to
  units by :meth:`FoundationPolicy.forecast`);
* a **decision head**: logits over the coverage grid of the OR labels.

Scaling: the sequence is divided by the lane's level (mean of the available history
and of the forecast, units/day); scalar features are ``log1p``-transformed where
they are unit- or currency-like and standardised with means and standard deviations
fitted on the training split only (:class:`Normalisation`), stored with the weights.

Nothing here imports Kedro; :class:`FoundationPolicy` takes plain arrays or a
feature frame plus the state (on hand, on order), so a simulator can call it.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np
import pandas as pd
import torch
from torch import nn
from torch.nn import functional as F

from orpr_kedro.core.learning.features import ATTRIBUTE_COLUMNS, TARGET_COLUMNS, forecast_columns, history_columns

__all__ = [
    "PAYLOAD_FORMAT",
    "PROMOTION_COLUMNS",
    "STATE_FEATURES",
    "TARGET_FEATURES",
    "DecisionInputs",
    "FoundationModel",
    "FoundationPolicy",
    "ModelConfig",
    "ModelTensors",
    "Normalisation",
    "count_parameters",
    "model_tensors",
    "pinball_loss",
    "sequence_lengths",
]

PAYLOAD_FORMAT = "orpr_kedro.foundation_model/1"
MIN_LEVEL = 0.05  # units/day: floor of a lane's level, so dead lanes do not divide by zero
MIN_DAILY_FORECAST = 0.01  # units/day: floor when expressing stock in days of cover
MAX_COVER_DAYS = 400.0  # days: cover beyond this carries no extra information
MAX_SCALED_VALUE = 50.0  # a day above 50 x the level is a spike; clip it

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


# --------------------------------------------------------------------------- inputs
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
        for name, value in (("on_hand", on_hand), ("on_order", on_order)):
            if value is None:
                if name not in features.columns:
                    raise ValueError(f"no {name}: pass it or add an '{name}' column (units) to the features")
                value = features[name].to_numpy()
            state[name] = np.asarray(value, dtype="float64")
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


# --------------------------------------------------------------------------- network
@dataclass
class ModelConfig:
    """Shape of the network; plain types so it travels in the saved payload."""

    history_days: int
    forecast_days: int
    n_state_features: int
    n_target_features: int
    n_categories: int
    coverage_grid: list[float]
    forecast_horizon: int = 14
    quantiles: list[float] = field(default_factory=lambda: [0.1, 0.5, 0.9])
    patch_days: int = 7
    d_model: int = 64
    n_heads: int = 4
    n_layers: int = 2
    token_mixing_layers: int = 0
    ff_dim: int = 128
    dropout: float = 0.05
    head_hidden: int = 128

    @property
    def n_history_patches(self) -> int:
        return math.ceil(self.history_days / self.patch_days)

    @property
    def n_forecast_patches(self) -> int:
        return math.ceil(self.forecast_days / self.patch_days)

    @property
    def n_coverages(self) -> int:
        return len(self.coverage_grid)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, values: Mapping[str, Any]) -> ModelConfig:
        return cls(**dict(values))


@dataclass
class AffineTokens:
    """Tokens ``token[b, t] = features[b, t] @ weight[t] + offset[t]``, kept in factored form.

    ``features [B, T, m]``, ``weight [T, m, d]`` (or ``[1, m, d]``: one weight shared
    by all tokens), ``offset [T, d]``. Scalar tokens (FT-Transformer: value x learned
    vector + feature-id vector) have ``m = 1`` and a weight per token; patch tokens
    share one ``[m, d]`` embedding and add a positional offset. Scores and pooling are
    computed without forming the ``[B, T, d]`` tokens (see :class:`SummaryBlock`).
    """

    features: torch.Tensor
    weight: torch.Tensor
    offset: torch.Tensor

    @property
    def shared(self) -> bool:
        return self.weight.shape[0] == 1

    def dense(self) -> torch.Tensor:
        """The tokens ``[B, T, d]``."""
        if self.shared:
            return self.features @ self.weight[0] + self.offset
        return torch.einsum("btm,tmd->btd", self.features, self.weight) + self.offset

    def _stacked(self) -> torch.Tensor:
        """``[rows, d]``: the embedding rows (``T * m``, or ``m`` when shared) then the offsets (``T``)."""
        n_weights, width, d_model = self.weight.shape
        return torch.cat([self.weight.reshape(n_weights * width, d_model), self.offset], dim=0)

    def scores(self, u: torch.Tensor) -> torch.Tensor:
        """``[B, h, T]``: dot products of every token with ``u [B, h, d]``."""
        batch, heads, d_model = u.shape
        n_weights, width, _ = self.weight.shape
        n_tokens = self.offset.shape[0]
        split = n_weights * width
        # one product for the embedding and the offset parts
        projected = u.reshape(batch * heads, d_model) @ self._stacked().T
        offset_part = projected[:, split:].reshape(batch, heads, n_tokens)
        if self.shared:  # u in the feature space, then one small product per row
            return torch.baddbmm(
                offset_part, projected[:, :split].reshape(batch, heads, width), self.features.transpose(1, 2)
            )
        embedded = projected[:, :split].reshape(batch, heads, n_tokens, width)
        return (embedded * self.features.unsqueeze(1)).sum(dim=3) + offset_part

    def pool(self, weights: torch.Tensor) -> torch.Tensor:
        """``[B, h, d]``: tokens averaged with ``weights [B, h, T]``."""
        batch, heads, n_tokens = weights.shape
        if self.shared:  # average the features first, then embed once
            mixed = torch.bmm(weights, self.features).reshape(batch * heads, -1)
        else:
            mixed = (weights.unsqueeze(3) * self.features.unsqueeze(1)).reshape(batch * heads, -1)
        mixed = torch.cat([mixed, weights.reshape(batch * heads, n_tokens)], dim=1)
        return (mixed @ self._stacked()).reshape(batch, heads, -1)


@dataclass
class DenseTokens:
    """Tokens ``[B, T, d]`` held as such (after self-attention blocks)."""

    tokens: torch.Tensor

    def scores(self, u: torch.Tensor) -> torch.Tensor:
        return torch.bmm(u, self.tokens.transpose(1, 2))

    def pool(self, weights: torch.Tensor) -> torch.Tensor:
        return torch.bmm(weights, self.tokens)


class ScalarTokens(nn.Module):
    """One token per scalar feature: ``x_j * w_j + e_j`` (value embedding + feature-id embedding)."""

    def __init__(self, n_features: int, d_model: int) -> None:
        super().__init__()
        bound = 1.0 / math.sqrt(d_model)
        self.value_weight = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound))
        self.feature_embedding = nn.Parameter(torch.empty(n_features, d_model).uniform_(-bound, bound))

    def forward(self, values: torch.Tensor) -> AffineTokens:
        return AffineTokens(values.unsqueeze(-1), self.value_weight.unsqueeze(1), self.feature_embedding)


class PatchTokens(nn.Module):
    """One token per patch of days: a shared linear embedding of the patch plus a learned position."""

    def __init__(self, patch_width: int, n_patches: int, d_model: int) -> None:
        super().__init__()
        self.embedding = nn.Linear(patch_width, d_model)
        self.position = nn.Parameter(torch.randn(n_patches, d_model) * 0.02)

    def forward(self, patches: torch.Tensor) -> AffineTokens:
        return AffineTokens(patches, self.embedding.weight.T.unsqueeze(0), self.embedding.bias + self.position)


class MixingBlock(nn.Module):
    """Pre-norm Transformer block with full self-attention among the tokens (FT-Transformer style).

    Optional (``token_mixing_layers``): its cost grows with tokens x width^2 and with
    the number of (row, head) attention problems, too slow for the CPU throughput
    target at batch 4096, so the default encoders use :class:`SummaryBlock` only.
    """

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm_attention = nn.LayerNorm(d_model)
        self.qkv = nn.Linear(d_model, 3 * d_model)
        self.attention_out = nn.Linear(d_model, d_model)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))
        self.dropout = nn.Dropout(dropout)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        batch, n_tokens, width = x.shape
        qkv = self.qkv(self.norm_attention(x)).reshape(batch, n_tokens, 3, self.n_heads, width // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4)
        attended = F.scaled_dot_product_attention(q, k, v).transpose(1, 2).reshape(batch, n_tokens, width)
        x = x + self.dropout(self.attention_out(attended))
        return x + self.dropout(self.ff(self.norm_ff(x)))


class SummaryBlock(nn.Module):
    """Pre-norm Transformer block that updates the summary token, which attends to itself and the tokens.

    Multi-head attention of one query over ``[summary, tokens]`` followed by the
    feed-forward layer: what a standard block computes for the summary token's row;
    the input tokens are not updated. Computed in an order that never forms
    per-token keys and values: for head ``h`` the score of token ``t`` is
    ``x_t . (W_k,h^T q_h)`` (the key bias only shifts all scores of a head and is
    dropped) and the output is ``W_v,h (sum_t a_th x_t) + b_v,h`` (the weights sum to
    one). With :class:`AffineTokens` the cost per row is linear in tokens x width.
    """

    def __init__(self, d_model: int, n_heads: int, ff_dim: int, dropout: float) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.norm_summary = nn.LayerNorm(d_model)
        self.query = nn.Linear(d_model, d_model)
        self.key = nn.Linear(d_model, d_model, bias=False)
        self.value = nn.Linear(d_model, d_model)
        self.attention_out = nn.Linear(d_model, d_model)
        self.norm_ff = nn.LayerNorm(d_model)
        self.ff = nn.Sequential(nn.Linear(d_model, ff_dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(ff_dim, d_model))
        self.dropout = nn.Dropout(dropout)

    def _blocks(self, weight: torch.Tensor, transpose: bool) -> torch.Tensor:
        """Block-diagonal form of a ``[d, d]`` projection, one ``[head_dim, d]`` block per head."""
        heads = self.n_heads
        width = weight.shape[0]
        per_head = weight.reshape(heads, width // heads, width)
        return torch.block_diag(*(per_head.transpose(1, 2) if transpose else per_head))

    def forward(self, summary: torch.Tensor, tokens: AffineTokens | DenseTokens) -> torch.Tensor:
        """``summary [B, d]`` and the tokens -> updated summary ``[B, d]``."""
        batch, width = summary.shape
        heads, head_dim = self.n_heads, width // self.n_heads
        s = self.norm_summary(summary)
        q = self.query(s) * head_dim**-0.5  # [B, d], head-major
        # u[b, h] = W_k,h^T q[b, h] for all heads in one product: every token score is x_t . u
        u = (q @ self._blocks(self.key.weight, transpose=False)).reshape(batch, heads, width)
        self_score = (F.linear(s, self.key.weight) * q).reshape(batch, heads, head_dim).sum(dim=2, keepdim=True)
        weights = torch.softmax(torch.cat([self_score, tokens.scores(u)], dim=2), dim=2)  # [B, h, 1 + T]
        pooled = tokens.pool(weights[:, :, 1:])  # [B, h, d]: weighted mean of the tokens per head
        # W_v,h (a_self s + pooled_h) + b_v (the weights sum to one)
        attended = pooled.reshape(batch, heads * width) @ self._blocks(self.value.weight, transpose=True)
        value_self = F.linear(s, self.value.weight).reshape(batch, heads, head_dim) * weights[:, :, :1]
        attended = attended + value_self.reshape(batch, width) + self.value.bias
        summary = summary + self.dropout(self.attention_out(attended))
        return summary + self.dropout(self.ff(self.norm_ff(summary)))


class TokenEncoder(nn.Module):
    """Encoder of one input group: tokens -> pooled summary ``[B, d]``.

    ``token_mixing_layers`` :class:`MixingBlock` s (self-attention among the tokens,
    then a LayerNorm), then ``n_layers`` :class:`SummaryBlock` s in which a learned
    summary token (plus an optional per-row condition) reads the tokens, then a
    final LayerNorm. As in the FT-Transformer, the raw token embeddings enter the
    first block without normalisation.
    """

    def __init__(
        self, d_model: int, n_heads: int, n_layers: int, ff_dim: int, dropout: float, token_mixing_layers: int = 0
    ) -> None:
        super().__init__()
        self.summary = nn.Parameter(torch.randn(d_model) * 0.02)
        self.mixing = nn.ModuleList(MixingBlock(d_model, n_heads, ff_dim, dropout) for _ in range(token_mixing_layers))
        self.norm_tokens = nn.LayerNorm(d_model) if token_mixing_layers else None
        self.blocks = nn.ModuleList(SummaryBlock(d_model, n_heads, ff_dim, dropout) for _ in range(n_layers))
        self.norm = nn.LayerNorm(d_model)

    def forward(self, tokens: AffineTokens, condition: torch.Tensor | None = None) -> torch.Tensor:
        """Pooled summary; ``condition [B, d]`` (e.g. a category embedding) is added to the initial summary."""
        if self.mixing:
            dense = tokens.dense()
            for block in self.mixing:
                dense = block(dense)
            tokens = DenseTokens(self.norm_tokens(dense))
        batch = tokens.features.shape[0] if isinstance(tokens, AffineTokens) else tokens.tokens.shape[0]
        summary = self.summary.expand(batch, -1) if condition is None else self.summary + condition
        for block in self.blocks:
            summary = block(summary, tokens)
        return self.norm(summary)


class FoundationModel(nn.Module):
    """Three encoders, learned fusion weights, a forecast head and a decision head.

    ``forward(sequence, state, category, targets)`` returns ``(logits [B, K],
    forecast [B, H, Q])`` with the forecast in units of the lane's level (multiply by
    ``ModelTensors.level`` for units/day).
    """

    ENCODER_MODULES = (
        "sequence_tokens",
        "sequence_encoder",
        "state_tokens",
        "category_embedding",
        "state_encoder",
        "target_tokens",
        "target_encoder",
        "fusion_logits",
    )

    def __init__(self, config: ModelConfig) -> None:
        super().__init__()
        self.config = config
        d = config.d_model
        blocks = (config.n_heads, config.n_layers, config.ff_dim, config.dropout, config.token_mixing_layers)
        # 1. history + forecast sequence, one token per patch of days; the positional
        #    embedding of a patch also tells history from forecast
        self.sequence_tokens = PatchTokens(
            2 * config.patch_days, config.n_history_patches + config.n_forecast_patches, d
        )
        self.sequence_encoder = TokenEncoder(d, *blocks)
        # 2. attributes and inventory state, one token per scalar; the category
        #    embedding starts the summary token
        self.state_tokens = ScalarTokens(config.n_state_features, d)
        self.category_embedding = nn.Embedding(config.n_categories + 1, d)
        self.state_encoder = TokenEncoder(d, *blocks)
        # 3. business targets
        self.target_tokens = ScalarTokens(config.n_target_features, d)
        self.target_encoder = TokenEncoder(d, *blocks)
        self.fusion_logits = nn.Parameter(torch.zeros(3))
        n_quantiles = len(config.quantiles)
        self.forecast_head = nn.Sequential(
            nn.Linear(d, config.head_hidden),
            nn.GELU(),
            nn.Linear(config.head_hidden, config.forecast_horizon * n_quantiles),
        )
        self.decision_head = nn.Sequential(
            nn.Linear(d, config.head_hidden),
            nn.GELU(),
            nn.Dropout(config.dropout),
            nn.Linear(config.head_hidden, config.head_hidden),
            nn.GELU(),
            nn.Linear(config.head_hidden, config.n_coverages),
        )
        history_pad = config.n_history_patches * config.patch_days - config.history_days
        forecast_pad = config.n_forecast_patches * config.patch_days - config.forecast_days
        self._pads = (history_pad, forecast_pad)

    @property
    def fusion_weights(self) -> torch.Tensor:
        """Softmax of the fusion logits: weight of (sequence, attributes/state, targets)."""
        return torch.softmax(self.fusion_logits, dim=0)

    def encoder_parameters(self) -> list[nn.Parameter]:
        """Parameters of the three encoders and the fusion (frozen in stage 2)."""
        params = []
        for name in self.ENCODER_MODULES:
            item = getattr(self, name)
            params.extend([item] if isinstance(item, nn.Parameter) else list(item.parameters()))
        return params

    def _patches(self, sequence: torch.Tensor) -> torch.Tensor:
        """``[B, H + F, 2]`` daily channels -> ``[B, patches, 2 * patch_days]`` (day-major, no copy when no padding)."""
        config = self.config
        history_pad, forecast_pad = self._pads
        if history_pad or forecast_pad:
            history, forecast = sequence[:, : config.history_days], sequence[:, config.history_days :]
            # padded days sit on the oldest history side and after the forecast, marked not real
            sequence = torch.cat(
                [F.pad(history, (0, 0, history_pad, 0)), F.pad(forecast, (0, 0, 0, forecast_pad))], dim=1
            )
        return sequence.reshape(sequence.shape[0], -1, 2 * config.patch_days)

    def encode(
        self, sequence: torch.Tensor, state: torch.Tensor, category: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Fused encoding ``[B, d]``."""
        pooled = torch.stack(
            [
                self.sequence_encoder(self.sequence_tokens(self._patches(sequence))),
                self.state_encoder(self.state_tokens(state), condition=self.category_embedding(category)),
                self.target_encoder(self.target_tokens(targets)),
            ],
            dim=1,
        )
        return (pooled * self.fusion_weights[None, :, None]).sum(dim=1)

    def forecast_from(self, fused: torch.Tensor) -> torch.Tensor:
        """Quantiles ``[B, H, Q]`` (units of the level), non-decreasing in the quantile level."""
        raw = self.forecast_head(fused).reshape(
            fused.shape[0], self.config.forecast_horizon, len(self.config.quantiles)
        )
        return torch.cumsum(torch.cat([raw[..., :1], F.softplus(raw[..., 1:])], dim=-1), dim=-1)

    def forward(
        self, sequence: torch.Tensor, state: torch.Tensor, category: torch.Tensor, targets: torch.Tensor
    ) -> tuple[torch.Tensor, torch.Tensor]:
        fused = self.encode(sequence, state, category, targets)
        return self.decision_head(fused), self.forecast_from(fused)

    def decision_logits(
        self, sequence: torch.Tensor, state: torch.Tensor, category: torch.Tensor, targets: torch.Tensor
    ) -> torch.Tensor:
        """Logits over the coverage grid only (skips the forecast head)."""
        return self.decision_head(self.encode(sequence, state, category, targets))


def count_parameters(model: nn.Module, trainable_only: bool = False) -> int:
    """Number of parameters (all, or those with ``requires_grad``)."""
    return sum(p.numel() for p in model.parameters() if p.requires_grad or not trainable_only)


def pinball_loss(
    prediction: torch.Tensor, actual: torch.Tensor, quantiles: torch.Tensor, mask: torch.Tensor | None = None
) -> torch.Tensor:
    """Mean pinball loss of ``prediction [B, H, Q]`` against ``actual [B, H]`` (``mask [B, H]``: counted days)."""
    error = actual.unsqueeze(-1) - prediction
    loss = torch.maximum(quantiles * error, (quantiles - 1.0) * error).mean(dim=-1)
    if mask is None:
        return loss.mean()
    weight = mask.to(loss.dtype)
    return (loss * weight).sum() / weight.sum().clamp_min(1.0)


# --------------------------------------------------------------------------- policy
class FoundationPolicy:
    """The trained network as a policy: states in, coverage decisions out.

    Takes :class:`DecisionInputs` (or a feature frame plus ``on_hand`` / ``on_order``
    arrays) for any number of lanes, runs the network in eval mode under
    ``torch.inference_mode`` in batches of ``batch_size`` rows, and returns the
    argmax of the decision logits as a grid index or as coverage days.
    """

    def __init__(self, model: FoundationModel, normalisation: Normalisation, batch_size: int = 4096) -> None:
        self.model = model.eval()
        self.normalisation = normalisation
        self.batch_size = int(batch_size)

    @property
    def config(self) -> ModelConfig:
        return self.model.config

    @property
    def coverage_grid(self) -> np.ndarray:
        """Candidate coverages (days), index = decision-head class."""
        return np.asarray(self.model.config.coverage_grid, dtype="float64")

    # ---------------------------------------------------------------- payload
    def to_payload(self, metadata: Mapping[str, Any] | None = None) -> dict[str, Any]:
        """Weights, configuration and normalisation as plain types and tensors.

        The payload loads with ``torch.load(..., weights_only=True)``: it holds only
        dicts, lists, strings, numbers and tensors.
        """
        return {
            "format": PAYLOAD_FORMAT,
            "config": self.model.config.to_dict(),
            "normalisation": self.normalisation.to_dict(),
            "state_dict": {name: tensor.detach().clone() for name, tensor in self.model.state_dict().items()},
            "metadata": dict(metadata or {}),
        }

    @classmethod
    def from_payload(cls, payload: Mapping[str, Any], batch_size: int = 4096) -> FoundationPolicy:
        """Rebuild the policy from :meth:`to_payload` output (e.g. the catalog's ``mdl_foundation_model``)."""
        if payload.get("format") != PAYLOAD_FORMAT:
            raise ValueError(
                f"not a foundation-model payload: format {payload.get('format')!r}, expected {PAYLOAD_FORMAT!r}"
            )
        model = FoundationModel(ModelConfig.from_dict(payload["config"]))
        model.load_state_dict(payload["state_dict"])
        return cls(model, Normalisation.from_dict(payload["normalisation"]), batch_size=batch_size)

    # ---------------------------------------------------------------- inference
    def tensors(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> ModelTensors:
        """Network inputs for a batch of states."""
        if isinstance(inputs, pd.DataFrame):
            inputs = DecisionInputs.from_frame(inputs, on_hand=on_hand, on_order=on_order)
        return model_tensors(inputs, self.normalisation)

    def logits_from_tensors(self, tensors: ModelTensors) -> torch.Tensor:
        """Decision logits ``[N, K]`` of prepared tensors."""
        self.model.eval()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(tensors), self.batch_size):
                batch = tensors.index(slice(start, start + self.batch_size))
                chunks.append(self.model.decision_logits(*batch.network_inputs()))
        return torch.cat(chunks) if chunks else torch.zeros(0, self.config.n_coverages)

    def logits(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Decision logits ``[N, K]``."""
        return self.logits_from_tensors(self.tensors(inputs, on_hand, on_order)).numpy()

    def decide_index(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Grid index ``[N]`` of the chosen coverage."""
        return self.logits_from_tensors(self.tensors(inputs, on_hand, on_order)).argmax(dim=1).numpy()

    def decide(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Coverage days ``[N]`` (a value of the grid) per lane."""
        return self.coverage_grid[self.decide_index(inputs, on_hand, on_order)]

    __call__ = decide

    def forecast(self, inputs: DecisionInputs | pd.DataFrame, on_hand=None, on_order=None) -> np.ndarray:
        """Demand quantiles ``[N, H, Q]`` (units/day) of the forecast head, floored at 0."""
        tensors = self.tensors(inputs, on_hand, on_order)
        self.model.eval()
        chunks = []
        with torch.inference_mode():
            for start in range(0, len(tensors), self.batch_size):
                batch = tensors.index(slice(start, start + self.batch_size))
                fused = self.model.encode(*batch.network_inputs())
                chunks.append(self.model.forecast_from(fused) * batch.level[:, None, None])
        shape = (0, self.config.forecast_horizon, len(self.config.quantiles))
        out = torch.cat(chunks).numpy() if chunks else np.zeros(shape, dtype="float32")
        return np.maximum(out, 0.0)
