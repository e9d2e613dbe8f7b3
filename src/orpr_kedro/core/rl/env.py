"""The simulator as a reinforcement-learning environment for Tianshou and gymnasium.

:class:`~orpr_kedro.core.rl.episodes.LaneEpisodes` holds ``n_envs`` lane episodes as
arrays and advances any subset of them with one simulator call;
:class:`LaneVectorEnv` exposes it to Tianshou as a vector environment (sub-environment
``i`` = episode slot ``i``) without one Python environment per lane; :class:`LaneEnv` is
the single-lane ``gymnasium.Env`` (it passes ``gymnasium.utils.env_checker.check_env``).
Observations: :mod:`orpr_kedro.core.rl.observation`; rewards:
:mod:`orpr_kedro.core.rl.rewards`.
"""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import torch
from tianshou.env import BaseVectorEnv

from orpr_kedro.core.params import RewardParams
from orpr_kedro.core.rl.episodes import LaneEpisodes
from orpr_kedro.core.rl.observation import LaneContext, ObservationLayout, build_lane_context
from orpr_kedro.core.rl.rewards import REWARD_TERMS, RuleTargets, reward_terms
from orpr_kedro.core.simulation.conventions import WEEK
from orpr_kedro.core.simulation.harness import serial_simulation

__all__ = [
    "REWARD_TERMS",
    "WEEK",
    "LaneContext",
    "LaneEnv",
    "LaneEpisodes",
    "LaneVectorEnv",
    "ObservationLayout",
    "RuleTargets",
    "build_lane_context",
    "reward_terms",
    "serial_simulation",
]


def observation_space(layout: ObservationLayout) -> gym.spaces.Box:
    """Flat float32 observations; bounded by the float32 range (the features are standardised, unbounded)."""
    largest = float(np.finfo(np.float32).max)
    return gym.spaces.Box(low=-largest, high=largest, shape=(layout.size,), dtype=np.float32)


class LaneVectorEnv(BaseVectorEnv):
    """Tianshou vector environment over :class:`LaneEpisodes`: sub-environment ``i`` = slot ``i``.

    A step of any subset of sub-environments is one simulator call on those lanes; no
    per-lane Python environment or worker exists. The reward terms and costs of every
    step are summed in ``episodes.totals`` (per epoch in the training curves); with
    ``info_terms=True`` each step's ``info`` also carries them per sub-environment
    (Tianshou then stacks those dicts, which costs about a third of the throughput).
    """

    def __init__(self, episodes: LaneEpisodes, info_terms: bool = False) -> None:  # noqa: D107 - no workers: BaseVectorEnv.__init__ is not called
        self.episodes = episodes
        self.info_terms = info_terms
        self.env_num = episodes.n_envs
        self.workers = []
        self.wait_num = self.env_num
        self.timeout = None
        self.is_async = False
        self.waiting_conn = []
        self.waiting_id = []
        self.ready_id = list(range(self.env_num))
        self.is_closed = False
        self._spaces = {
            "action_space": gym.spaces.Discrete(episodes.context.n_actions),
            "observation_space": observation_space(episodes.context.layout),
            "metadata": {"render_modes": []},
            "reward_range": (-np.inf, np.inf),
            "spec": None,
        }

    def get_env_attr(self, key: str, id=None) -> list[Any]:  # noqa: A002 - Tianshou's signature
        ids = self._wrap_id(id)
        value = self._spaces[key] if key in self._spaces else getattr(self.episodes, key)
        return [value for _ in ids]

    def set_env_attr(self, key: str, value: Any, id=None) -> None:  # noqa: A002
        raise AttributeError(f"LaneVectorEnv shares one LaneEpisodes object; set {key!r} on env.episodes instead")

    def reset(self, env_id=None, **kwargs: Any) -> tuple[np.ndarray, np.ndarray]:
        self._assert_is_not_closed()
        ids = np.asarray(self._wrap_id(env_id), dtype=np.int64)
        obs = self.episodes.reset(ids)
        infos = np.empty(len(ids), dtype=object)
        infos[:] = [{} for _ in range(len(ids))]
        return obs, infos

    def step(self, action, id=None):  # noqa: A002
        self._assert_is_not_closed()
        if action is None:
            raise ValueError("action must be given (LaneVectorEnv is synchronous)")
        ids = np.asarray(self._wrap_id(id), dtype=np.int64)
        action = np.asarray(action.cpu() if isinstance(action, torch.Tensor) else action)
        if len(action) != len(ids):
            raise ValueError(f"{len(action)} actions for {len(ids)} sub-environments")
        obs, reward, terminated, truncated, terms = self.episodes.step(ids, action)
        infos = np.empty(len(ids), dtype=object)
        if self.info_terms:
            names = list(terms)
            for j in range(len(ids)):
                infos[j] = {name: float(terms[name][j]) for name in names}
        else:
            infos[:] = [{} for _ in range(len(ids))]
        return obs, reward, terminated, truncated, infos

    def seed(self, seed: int | list[int] | None = None) -> list[list[int] | None]:
        first = seed[0] if isinstance(seed, list | tuple) else seed
        self.episodes.seed(first)
        return [[first] if first is not None else None for _ in range(self.env_num)]

    def render(self, **kwargs: Any) -> list[Any]:
        return []

    def close(self) -> None:
        self.is_closed = True


class LaneEnv(gym.Env):
    """One lane episode as a ``gymnasium.Env`` (observation: the flat network input; action: grid index).

    Built on :class:`LaneEpisodes` with one slot, so it has exactly the dynamics and
    rewards of the vector environment; ``info`` holds the step's weighted reward terms
    and costs (unless ``info_terms=False``).
    """

    metadata = {"render_modes": []}

    def __init__(
        self,
        context: LaneContext,
        episode_weeks: int,
        reward: RewardParams,
        info_terms: bool = True,
        cadence: str = "weekly",
    ) -> None:
        super().__init__()
        self.episodes = LaneEpisodes(context, 1, episode_weeks, reward, cadence=cadence)
        self.info_terms = info_terms
        self.observation_space = observation_space(context.layout)
        self.action_space = gym.spaces.Discrete(context.n_actions)
        self._slot = np.zeros(1, dtype=np.int64)

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[np.ndarray, dict]:
        super().reset(seed=seed)
        if seed is not None:
            self.episodes.rng = self.np_random
        return self.episodes.reset(self._slot)[0], {}

    def step(self, action) -> tuple[np.ndarray, float, bool, bool, dict]:
        obs, reward, terminated, truncated, terms = self.episodes.step(self._slot, np.asarray([action]))
        info = {name: float(value[0]) for name, value in terms.items()} if self.info_terms else {}
        return obs[0], float(reward[0]), bool(terminated[0]), bool(truncated[0]), info
