"""The actor and critic of RL alignment, the context cache, and the reproducible torch runtime.

The pretrained network is the actor (:class:`FoundationActor`): its decision-head logits
feed a ``torch.distributions.Categorical`` over the coverage grid (no second softmax).
The critic (:class:`ValueCritic`) is a new MLP on the observation. With ``freeze``
``context`` the sequence and target encoders stay frozen; their pooled outputs depend
only on (lane, date), so :class:`ContextCache` computes them once per row of the lane
context and looks them up by the observation's row key.

Reproducibility: :func:`seed_epoch` reseeds the episode/lead-time generator, numpy's
and torch's global generators from (seed, epoch); :func:`torch_runtime` fixes the
threads and turns on deterministic algorithms.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from typing import Any

import numba
import numpy as np
import torch
from tianshou.algorithm.optim import OptimizerFactory
from tianshou.utils.net.common import AbstractDiscreteActor, ModuleWithVectorOutput
from torch import nn
from torch.nn import functional as F

from orpr_kedro.core.learning.network import FoundationModel
from orpr_kedro.core.rl.env import (
    LaneContext,
    LaneEpisodes,
    ObservationLayout,
)

# The branch of the network that reads the inventory state, and the fusion: everything else among
# FoundationModel.ENCODER_MODULES (sequence and target encoders) depends only on (lane, date).
STATE_BRANCH = ("state_tokens", "category_embedding", "state_encoder", "fusion_logits")


def context_parameters(model: FoundationModel) -> list[nn.Parameter]:
    """Parameters of the encoders whose output does not depend on the inventory state."""
    parameters: list[nn.Parameter] = []
    for name in model.ENCODER_MODULES:
        if name not in STATE_BRANCH:
            item = getattr(model, name)
            parameters.extend([item] if isinstance(item, nn.Parameter) else item.parameters())
    return parameters


def derived_seed(seed: int, *keys: int) -> int:
    """A 32-bit seed derived from the run seed and keys (e.g. the epoch)."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1)[0])


@contextlib.contextmanager
def torch_runtime(threads: int) -> Iterator[None]:
    """Fixed torch threads, a serial simulator and deterministic algorithms for the block (restored after).

    One torch thread is the default: the per-step batches are small, and two OpenMP
    threads on a 2-core machine shared with another process are many times slower
    than one.
    """
    previous_threads, previous_numba = torch.get_num_threads(), numba.get_num_threads()
    previous_deterministic = torch.are_deterministic_algorithms_enabled()
    # the simulator runs tiny per-step batches: serial numba (set first, as it can reset OpenMP's thread count)
    numba.set_num_threads(1)
    torch.set_num_threads(threads)
    torch.use_deterministic_algorithms(True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(previous_deterministic)
        numba.set_num_threads(previous_numba)
        torch.set_num_threads(previous_threads)


def seed_epoch(seed: int, epoch: int, episodes: LaneEpisodes | None = None) -> None:
    """Reseed numpy's and torch's global generators and the episodes for one epoch."""
    np.random.seed(derived_seed(seed, epoch, 1))
    torch.manual_seed(derived_seed(seed, epoch, 2))
    if episodes is not None:
        episodes.seed(np.random.SeedSequence([int(seed), int(epoch), 3]))


# --------------------------------------------------------------------------- networks
def categorical_kl(logits: torch.Tensor, reference_logits: torch.Tensor) -> torch.Tensor:
    """``KL(pi || pi_ref)`` per row of two logit tensors ``[B, K]`` (nats), exact over the grid."""
    log_p = F.log_softmax(logits, dim=-1)
    log_q = F.log_softmax(reference_logits, dim=-1)
    return (log_p.exp() * (log_p - log_q)).sum(dim=-1)


def _without_dropout(model: FoundationModel) -> FoundationModel:
    """RL needs the same distribution when sampling and when scoring an action: no dropout."""
    for module in model.modules():
        if isinstance(module, nn.Dropout):
            module.p = 0.0
    return model


class ContextCache:
    """Pooled sequence and target encodings ``[R, d]`` of every row of a lane context.

    Computed with the (frozen) encoders by running the model's own ``encode`` on the
    rows and recording the two encoders' outputs (forward hooks), so the cache holds
    exactly what the network computes. By default every row is encoded at once;
    ``lazy=True`` encodes rows when :meth:`ensure` first asks for them (a policy that
    decides the same rows on several days of a week encodes them once, and the time is
    spent where it decides).
    """

    def __init__(
        self, model: FoundationModel, context: LaneContext, batch_size: int = 4096, *, lazy: bool = False
    ) -> None:
        self.model = model
        self.context = context
        self.batch_size = int(batch_size)
        self.n_rows = context.n_rows
        self.filled = np.zeros(self.n_rows, dtype=bool)
        self.sequence = torch.empty(0)
        self.targets = torch.empty(0)
        if not lazy:
            self.ensure(np.arange(self.n_rows))

    def ensure(self, rows: np.ndarray) -> None:
        """Encode the ``rows`` not encoded yet (in row order, in batches of ``batch_size``)."""
        rows = np.asarray(rows, dtype=np.int64)
        missing = np.unique(rows[~self.filled[rows]])
        if len(missing) == 0:
            return
        sequence, targets = self._encode(missing)
        if self.sequence.numel() == 0:
            self.sequence = torch.zeros((self.n_rows, sequence.shape[1]), dtype=sequence.dtype)
            self.targets = torch.zeros((self.n_rows, targets.shape[1]), dtype=targets.dtype)
        index = torch.from_numpy(missing)
        self.sequence[index] = sequence
        self.targets[index] = targets
        self.filled[missing] = True

    def _encode(self, rows: np.ndarray) -> tuple[torch.Tensor, torch.Tensor]:
        model, context, batch_size = self.model, self.context, self.batch_size
        captured: dict[str, torch.Tensor] = {}

        def recorder(name: str) -> Callable:
            def hook(module: nn.Module, inputs: Any, output: torch.Tensor) -> None:
                captured[name] = output.detach()

            return hook

        handles = [
            model.sequence_encoder.register_forward_hook(recorder("sequence")),
            model.target_encoder.register_forward_hook(recorder("targets")),
        ]
        sequences, targets = [], []
        try:
            with torch.no_grad():
                for start in range(0, len(rows), batch_size):
                    obs = torch.from_numpy(context.static_obs[rows[start : start + batch_size]])
                    sequence, state, category, target, _ = context.layout.split(obs)
                    model.encode(sequence, state, category, target)
                    sequences.append(captured["sequence"])
                    targets.append(captured["targets"])
        finally:
            for handle in handles:
                handle.remove()
        return torch.cat(sequences), torch.cat(targets)


class FoundationActor(AbstractDiscreteActor):
    """The foundation model as a Tianshou discrete actor: flat observation -> decision logits.

    ``freeze``: ``none`` trains every parameter; ``context`` freezes the sequence and
    target encoders (and, once :meth:`attach` is called, reads their outputs from a
    :class:`ContextCache`); ``encoders`` freezes all encoders and the fusion (decision
    head only); ``all`` freezes everything (the reference policy).
    """

    def __init__(self, model: FoundationModel, layout: ObservationLayout, freeze: str = "none") -> None:
        super().__init__(model.config.n_coverages)
        self.model = _without_dropout(model)
        self.layout = layout
        self.freeze = freeze
        frozen: list[nn.Parameter] = []
        if freeze == "context":
            frozen = context_parameters(model)
        elif freeze == "encoders":
            frozen = model.encoder_parameters()
        elif freeze == "all":
            frozen = list(model.parameters())
        elif freeze != "none":
            raise ValueError(f"freeze must be none, context, encoders or all, got {freeze!r}")
        for parameter in frozen:
            parameter.requires_grad_(False)
        self._cache: ContextCache | None = None

    def get_preprocess_net(self) -> ModuleWithVectorOutput:
        return ModuleWithVectorOutput.from_module(nn.Identity(), self.get_output_dim())

    @property
    def uses_cache(self) -> bool:
        return self._cache is not None

    def attach(self, cache: ContextCache | None) -> None:
        """Read the frozen context encoders' outputs from ``cache`` (``None`` detaches)."""
        if cache is not None and self.freeze == "none":
            raise ValueError("a context cache needs frozen context encoders (freeze context, encoders or all)")
        self._cache = cache

    def logits(self, obs: np.ndarray | torch.Tensor) -> torch.Tensor:
        """Decision logits ``[B, K]`` of flat observations."""
        x = torch.as_tensor(obs, dtype=torch.float32)
        sequence, state, category, targets, key = self.layout.split(x)
        model = self.model
        if self._cache is None:
            return model.decision_logits(sequence, state, category, targets)
        pooled_state = model.state_encoder(model.state_tokens(state), condition=model.category_embedding(category))
        pooled = torch.stack([self._cache.sequence[key], pooled_state, self._cache.targets[key]], dim=1)
        fused = (pooled * model.fusion_weights[None, :, None]).sum(dim=1)
        return model.decision_head(fused)

    def forward(self, obs, state=None, info=None) -> tuple[torch.Tensor, Any]:  # noqa: ARG002 - Tianshou's signature
        return self.logits(obs), state


def check_cached_logits(actor: FoundationActor, context: LaneContext, n_rows: int = 64) -> None:
    """The cached path must give the network's own logits (guards against changes in ``FoundationModel.encode``)."""
    if not actor.uses_cache:
        return
    rows = np.linspace(0, context.n_rows - 1, min(n_rows, context.n_rows)).astype(np.int64)
    obs = torch.from_numpy(context.observe(rows, np.full(len(rows), 5.0), np.zeros(len(rows))))
    with torch.no_grad():
        cached = actor.logits(obs)
        direct = actor.model.decision_logits(*actor.layout.split(obs)[:4])
    difference = (cached - direct).abs().max().item()
    if difference > 1e-4:
        raise RuntimeError(
            f"cached encoder outputs give logits {difference:.2e} away from FoundationModel.decision_logits; "
            "FoundationActor.logits must follow FoundationModel.encode"
        )


class ValueCritic(nn.Module):
    """State value: an MLP on the flat observation (sequence, state, targets, category embedding)."""

    def __init__(self, layout: ObservationLayout, n_categories: int, hidden: int) -> None:
        super().__init__()
        self.layout = layout
        self.n_categories = n_categories
        self.category = nn.Embedding(n_categories + 1, 8)
        width = 2 * layout.sequence_days + layout.n_state + layout.n_targets + 8
        self.net = nn.Sequential(
            nn.LayerNorm(width),
            nn.Linear(width, hidden),
            nn.Tanh(),
            nn.Linear(hidden, hidden),
            nn.Tanh(),
            nn.Linear(hidden, 1),
        )

    def forward(self, obs, **kwargs: Any) -> torch.Tensor:  # noqa: ARG002
        x = torch.as_tensor(obs, dtype=torch.float32)
        sequence, state, category, targets, _ = self.layout.split(x)
        features = torch.cat(
            [sequence.flatten(1), state, targets, self.category(category.clamp(0, self.n_categories))], dim=1
        )
        return self.net(features)


class ActorCriticAdam(OptimizerFactory):
    """Adam with one learning rate for the (pretrained) actor and another for the (new) critic."""

    def __init__(self, actor_learning_rate: float, critic_learning_rate: float) -> None:
        super().__init__()
        self.actor_learning_rate = actor_learning_rate
        self.critic_learning_rate = critic_learning_rate

    def create_instances(self, module: nn.Module) -> tuple[torch.optim.Optimizer, None]:
        groups = [
            {
                "params": [p for p in module.get_submodule("actor").parameters() if p.requires_grad],
                "lr": self.actor_learning_rate,
            },
            {"params": list(module.get_submodule("critic").parameters()), "lr": self.critic_learning_rate},
        ]
        return torch.optim.Adam(groups), None

    def _create_optimizer_for_params(self, params) -> torch.optim.Optimizer:
        return torch.optim.Adam(params, lr=self.critic_learning_rate)
