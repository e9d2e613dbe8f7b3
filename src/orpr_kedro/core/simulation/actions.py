"""The decision head's action space: what one index of a decision means in order-up-to units.

Two kinds of candidate per lane and decision date (``ActionGrid.kind``):

* ``coverage_days``: order up to ``v`` days of forecast demand (``values`` in days); the
  level of day ``t`` is the forecast summed over ``[t, t + v)``
  (:func:`~orpr_kedro.core.simulation.levels.coverage_levels`). One grid step is a whole
  day of a lane's demand, however fast it sells.
* ``service_level``: the lane's forecast base-stock level at cycle service level ``p``
  (``values`` fractiles in ``(0, 1)``): ``max(mu_P + Phi^{-1}(p) sigma_P, 0)`` over the
  protection interval ``P`` = mean lead time + review period, with the forecast's
  negative-binomial spread and the lead-time spread
  (:func:`~orpr_kedro.core.simulation.policies.protection_moments`, the same levels as
  :class:`~orpr_kedro.core.simulation.policies.BaseStock`). Candidates are relative to
  each lane's own base-stock level, so the tuned base-stock policy's choice is always a
  candidate when its service levels are on the grid, and steps are a share of the
  lane's spread, not of a day.

Every action also has an equivalent coverage (days): its level on the decision day
divided by the mean daily forecast of the week (:meth:`ActionGrid.cover_days`), which is
what bands, the turnover rule and the reports speak of.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy.special import ndtri

from orpr_kedro.core.simulation.conventions import WEEK, daily_rate, days_of_cover
from orpr_kedro.core.simulation.levels import coverage_levels
from orpr_kedro.core.simulation.period import Lanes, Period
from orpr_kedro.core.simulation.policies import (
    CoverageSchedule,
    Decision,
    DecisionState,
    protection_moments,
    schedule_on,
    wide_schedule,
)

__all__ = [
    "ACTION_KINDS",
    "ActionGrid",
    "ActionKind",
    "ActionSchedule",
    "LaneRisk",
    "check_label_grid",
    "label_schedule",
]

ActionKind = Literal["coverage_days", "service_level"]
ACTION_KINDS: tuple[str, ...] = ("coverage_days", "service_level")


@dataclass(frozen=True)
class LaneRisk:
    """What a service-level action needs of each lane ``[N]``: protection days, lead-time std, NB dispersion.

    ``protection_days`` = mean lead time + review period (days); ``nb_dispersion`` is the
    negative-binomial size ``1 / max(forecast dispersion, 1e-6)`` (as
    :func:`~orpr_kedro.core.simulation.policies.base_stock_for`).
    """

    protection_days: np.ndarray
    lead_time_std: np.ndarray
    nb_dispersion: np.ndarray

    @classmethod
    def of(cls, lead_time_mean, lead_time_std, review_period, dispersion) -> LaneRisk:
        """From per-lane lead-time mean and std, review period (days) and the forecast's dispersion."""
        return cls(
            protection_days=np.asarray(lead_time_mean, dtype=np.float64) + np.asarray(review_period, dtype=np.float64),
            lead_time_std=np.asarray(lead_time_std, dtype=np.float64),
            nb_dispersion=1.0 / np.maximum(np.asarray(dispersion, dtype=np.float64), 1e-6),
        )

    @classmethod
    def of_period(cls, period: Period) -> LaneRisk:
        """The lanes of a period with the dispersion of its forecasts."""
        lanes = period.lane_arrays
        return cls.of(lanes.lead_time_mean, lanes.lead_time_std, lanes.review_period, period.dispersion)

    def take(self, index) -> LaneRisk:
        """The lanes (or decision rows) ``index`` of it."""
        return LaneRisk(self.protection_days[index], self.lead_time_std[index], self.nb_dispersion[index])


@dataclass(frozen=True)
class ActionGrid:
    """The candidates of the decision head: ``kind`` and ``values`` ``[K]`` (ascending)."""

    kind: ActionKind
    values: np.ndarray

    def __post_init__(self) -> None:
        values = np.asarray(self.values, dtype=np.float64)
        object.__setattr__(self, "values", values)
        if self.kind not in ACTION_KINDS:
            raise ValueError(f"unknown action kind {self.kind!r}; expected one of {ACTION_KINDS}")
        if values.ndim != 1 or len(values) == 0 or np.any(np.diff(values) <= 0):
            raise ValueError("action values must be a non-empty, strictly increasing 1-D array")
        if self.kind == "coverage_days" and np.any(values < 0):
            raise ValueError("coverage days must be >= 0")
        if self.kind == "service_level" and not np.all((values > 0) & (values < 1)):
            raise ValueError("service levels must lie strictly between 0 and 1")

    @property
    def n_actions(self) -> int:
        return len(self.values)

    @property
    def is_coverage(self) -> bool:
        return self.kind == "coverage_days"

    @property
    def coverage_grid(self) -> np.ndarray:
        """The grid of coverage days when actions are coverages; empty otherwise (rules are not on it)."""
        return self.values if self.is_coverage else np.empty(0)

    def levels(self, forecast_path, index, n_days: int, risk: LaneRisk | None = None) -> np.ndarray:
        """Order-up-to levels (units) of the actions ``index`` (``[N]`` or ``[C, N]``) -> ``[..., N, n_days]``.

        ``forecast_path`` ``[N, F]`` (units/day from the decision date); ``risk`` the
        lanes' :class:`LaneRisk` (needed for ``service_level``).
        """
        index = np.asarray(index, dtype=np.int64)
        f = np.asarray(forecast_path, dtype=np.float64)
        if index.ndim not in (1, 2) or index.shape[-1] != f.shape[0]:
            raise ValueError(f"index must be [N={f.shape[0]}] or [C, N], got {index.shape}")
        if index.size and (index.min() < 0 or index.max() >= self.n_actions):
            raise ValueError(f"action index out of range [0, {self.n_actions})")
        if self.is_coverage:
            out = coverage_levels(f, np.atleast_2d(self.values[index]), n_days)
        else:
            mu_p, sigma_p = self._moments(f, n_days, risk)
            z = ndtri(self.values)[np.atleast_2d(index)]  # [C, N]
            out = np.maximum(mu_p[None] + z[:, :, None] * sigma_p[None], 0.0)
        return out if index.ndim == 2 else out[0]

    def candidate_levels(self, forecast_path, n_days: int, risk: LaneRisk | None = None) -> np.ndarray:
        """Levels ``[K, N, n_days]`` (units) of every action for every lane."""
        f = np.asarray(forecast_path, dtype=np.float64)
        if self.is_coverage:
            return coverage_levels(f, self.values, n_days)
        mu_p, sigma_p = self._moments(f, n_days, risk)
        z = ndtri(self.values)
        return np.maximum(mu_p[None] + z[:, None, None] * sigma_p[None], 0.0)

    def cover_days(self, forecast_path, levels_day0) -> np.ndarray:
        """Equivalent coverage (days) of decision-day levels ``[..., N]``: level / mean daily forecast of the week.

        The project's days-of-cover convention
        (:func:`~orpr_kedro.core.simulation.conventions.days_of_cover`: floored rate, clipped).
        """
        daily = daily_rate(np.asarray(forecast_path, dtype=np.float64), WEEK)
        return days_of_cover(np.asarray(levels_day0, dtype=np.float64), daily)

    def action_cover_days(self, forecast_path, index, levels_day0) -> np.ndarray:
        """Coverage days of the actions ``index`` (any shape ending in ``N``) whose decision-day levels are known.

        The grid values for coverage grids (exactly what was decided), else :meth:`cover_days`.
        """
        if self.is_coverage:
            return self.values[np.asarray(index, dtype=np.int64)]
        return self.cover_days(forecast_path, levels_day0)

    def candidate_cover_days(self, forecast_path, levels_day0) -> np.ndarray:
        """Coverage days ``[N, K]`` of every candidate from its decision-day levels ``[K, N]``.

        The grid values themselves for coverage grids, else :meth:`cover_days`.
        """
        level = np.asarray(levels_day0, dtype=np.float64)
        if self.is_coverage:
            return np.broadcast_to(self.values[None, :], (level.shape[1], self.n_actions)).copy()
        return self.cover_days(forecast_path, level).T

    def coverage_of(self, forecast_path, index, risk: LaneRisk | None = None) -> np.ndarray:
        """Coverage days ``[..., N]`` of the actions ``index``: the grid value, or the equivalent coverage."""
        index = np.asarray(index, dtype=np.int64)
        if self.is_coverage:
            return self.values[index]
        return self.cover_days(forecast_path, self.levels(forecast_path, index, 1, risk)[..., 0])

    def decision(self, forecast_path, index, n_days: int, risk: LaneRisk | None = None, **extra) -> Decision:
        """The harness :class:`~orpr_kedro.core.simulation.policies.Decision` of the actions ``index`` ``[N]``.

        Coverage grids decide the grid's days; service levels their levels ``[N, n_days]``
        with the equivalent coverage recorded. ``extra`` (e.g. ``kl_to_reference``) is passed on.
        """
        index = np.asarray(index, dtype=np.int64)
        if self.is_coverage:
            return Decision(self.values[index], grid_index=index, **extra)
        levels = self.levels(forecast_path, index, n_days, risk)
        return Decision(self.cover_days(forecast_path, levels[:, 0]), grid_index=index, levels=levels, **extra)

    @staticmethod
    def _moments(forecast: np.ndarray, n_days: int, risk: LaneRisk | None) -> tuple[np.ndarray, np.ndarray]:
        if risk is None:
            raise ValueError("service-level actions need the lanes' LaneRisk (lead times, review, dispersion)")
        if risk.protection_days.shape != (forecast.shape[0],):
            raise ValueError(f"risk covers {risk.protection_days.shape} lanes, forecast {forecast.shape[0]}")
        return protection_moments(
            forecast, n_days, risk.protection_days, risk.lead_time_std, nb_dispersion=risk.nb_dispersion
        )


def as_action_grid(grid: ActionGrid | np.ndarray | list[float]) -> ActionGrid:
    """An :class:`ActionGrid` as given, or an array of coverage days as a coverage grid."""
    if isinstance(grid, ActionGrid):
        return grid
    return ActionGrid("coverage_days", np.asarray(grid, dtype=np.float64))


class ActionSchedule:
    """Action indices given per lane and decision date (OR labels, a learner's decisions), decided on ``actions``.

    Built from a long table with ``lane_id``, ``decision_date`` and ``coverage_index``
    (the action index); deciding on a date the table lacks for some lane raises. The
    counterpart of :class:`~orpr_kedro.core.simulation.policies.CoverageSchedule` for
    any action grid (service levels need the period's ``risk``).
    """

    def __init__(
        self,
        table: pd.DataFrame,
        lane_ids: np.ndarray,
        actions: ActionGrid,
        risk: LaneRisk | None = None,
        name: str = "schedule",
    ) -> None:
        self.name = name
        self.actions = actions
        self.risk = risk
        self.wide = wide_schedule(table, lane_ids, "coverage_index")

    def index(self, dates) -> np.ndarray:
        """Action indices ``[N, W]`` on ``dates``; raises where any lane has none."""
        return schedule_on(self.wide, dates, f"{self.name}: actions are").astype("int64")

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        index = self.index([state.date])[:, 0]
        return self.actions.decision(state.forecast, index, state.n_days, self.risk)


def check_label_grid(labels: pd.DataFrame, grid: ActionGrid, grid_name: str, remedy: str) -> None:
    """OR labels must point into ``grid``: ``coverage_index`` in range and its value equal to ``action_value``.

    Labels without ``action_value`` (coverage grids) compare ``coverage_days``.

    Raises:
        ValueError: naming ``grid_name`` and the ``remedy`` otherwise.
    """
    index = labels["coverage_index"].to_numpy()
    if not len(index):
        return
    column = "action_value" if "action_value" in labels else "coverage_days"
    in_range = index.min() >= 0 and index.max() < grid.n_actions
    if not in_range or not np.allclose(grid.values[np.clip(index, 0, grid.n_actions - 1)], labels[column], rtol=1e-6):
        values = grid.values
        raise ValueError(
            f"mi_or_labels coverage_index/{column} do not match {grid_name} ({grid.kind}, {len(values)} values "
            f"from {values[0]:g} to {values[-1]:g}); {remedy}"
        )


def label_schedule(
    labels: pd.DataFrame, lane_ids: np.ndarray, grid: ActionGrid, risk: LaneRisk | None, name: str
) -> CoverageSchedule | ActionSchedule:
    """OR labels (or any action table) as a schedule policy: by coverage days on a coverage grid, else by index."""
    if grid.is_coverage:
        return CoverageSchedule(labels, lane_ids, name)
    return ActionSchedule(labels, lane_ids, grid, risk, name)
