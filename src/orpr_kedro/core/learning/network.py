"""The domain-informed foundation model: three token encoders, learned fusion, two heads.

The inputs and their scaling are described in :mod:`~orpr_kedro.core.learning.inputs`.
Each encoder pools its tokens through a learned summary token. A softmax over three
learned fusion logits mixes the three pooled encodings into one vector that feeds

* a **forecast head**: quantiles of daily demand for each of the next ``H`` days,
  monotone in the quantile level, in units of the lane's level (multiplied back to
  units by :meth:`FoundationPolicy.forecast`);
* a **decision head**: logits over the coverage grid of the OR labels.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import nn
from torch.nn import functional as F

__all__ = ["FoundationModel", "ModelConfig", "count_parameters", "pinball_loss"]


@dataclass
class ModelConfig:
    """Shape of the network; plain types so it travels in the saved payload."""

    history_days: int
    forecast_days: int
    n_state_features: int
    n_target_features: int
    n_categories: int
    coverage_grid: list[float]  # the action values (coverage days, or service levels: see action_kind)
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
    action_kind: str = "coverage_days"

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
        pooled: AffineTokens | DenseTokens = tokens
        if self.mixing and self.norm_tokens is not None:  # built together
            dense = tokens.dense()
            for block in self.mixing:
                dense = block(dense)
            pooled = DenseTokens(self.norm_tokens(dense))
        batch = tokens.features.shape[0]
        summary = self.summary.expand(batch, -1) if condition is None else self.summary + condition
        for block in self.blocks:
            summary = block(summary, pooled)
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
