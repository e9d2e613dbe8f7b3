"""Replenishment policies behind one protocol.

The protocol (:class:`Policy`): on a decision date a policy decides from the lanes and
the state it sees (:class:`DecisionState`: the date, the forecast made on it, the
policy's own on-hand and pipeline, the lanes' decision rows) and returns a
:class:`Decision`: a coverage ``[N]`` (days of forecast demand to order up to), the grid
index where it has one, or explicit order-up-to levels (base-stock). The closed-loop
harness (:mod:`orpr_kedro.core.simulation.harness`) runs any mix of policies on the same
demand and lead-time draws. Rule policies (:class:`IncumbentRule`, :class:`BaseStock`,
:class:`CoverageSchedule`) ignore the state; :class:`SwitchPolicy` runs one policy up to a
date and another after it.

Every order-up-to policy here also offers two views of the same rule:

* ``levels(forecast_path, n_days) -> [N, n_days]``: order-up-to levels (units) for the
  fast path (:func:`orpr_kedro.core.simulation.kernel.simulate_order_up_to` takes
  ``[C, N, T]``: stack several policies, or use ``levels[None]`` for one).
* ``__call__(state) -> [N]``: raw order quantities ``level_t - inventory_position`` for
  the generic path (:func:`orpr_kedro.core.simulation.kernel.simulate_policy`), which rounds
  them to case packs / MOQ and orders only on review days. The level of day ``t`` is
  ``levels(state.forecast, t + 1)[:, t]``, so both paths see identical numbers.

``forecast_path`` is ``[N, F]`` forecast demand per day (units/day) from the decision
date (day 0); beyond ``F`` days it is extended by repeating its last 7 days.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Protocol, runtime_checkable

import numpy as np
import pandas as pd
from scipy.special import ndtri

from orpr_kedro.core.simulation.generic import PolicyState
from orpr_kedro.core.simulation.lanes import LaneParams
from orpr_kedro.core.simulation.levels import lane_coverage_levels
from orpr_kedro.core.simulation.period import Lanes

__all__ = [
    "BaseStock",
    "CoveragePolicy",
    "CoverageSchedule",
    "Decision",
    "DecisionState",
    "IncumbentRule",
    "LevelSchedule",
    "OrderUpToPolicy",
    "Policy",
    "SwitchPolicy",
    "base_stock_for",
    "grid_index",
    "protection_moments",
    "stack_levels",
]


# --------------------------------------------------------------------------- the protocol
@dataclass(frozen=True)
class DecisionState:
    """What a policy sees on a decision date.

    ``forecast`` ``[N, F]`` (units/day) is the forecast made on ``date``; ``on_hand``
    ``[N]`` and ``pipeline`` ``[N, P]`` (units due at the start of day ``k`` from the date)
    are the policy's own simulated state, ``None`` in an open-loop run (levels fixed in
    advance); ``rows`` the lanes' decision rows (lane order) where the run has them;
    ``n_days`` the days until the next decision. With decisions at each lane's review
    (the harness's ``cadence="review"``) the decision is taken ``day_offset`` days after
    ``date``: ``date`` and ``rows`` stay those of the week's decision date (the forecast
    origin), ``forecast`` is that forecast shifted to the day and the state is the
    day's.
    """

    date: pd.Timestamp
    forecast: np.ndarray
    n_days: int
    on_hand: np.ndarray | None = None
    pipeline: np.ndarray | None = None
    rows: np.ndarray | None = None
    day_offset: int = 0

    @property
    def on_order(self) -> np.ndarray:
        """Units ordered and not yet received ``[N]``."""
        if self.pipeline is None:
            raise ValueError("this policy needs the simulated state; run it in the closed loop")
        return self.pipeline.sum(axis=1)


@dataclass(frozen=True)
class Decision:
    """A policy's decision for every lane: coverage days ``[N]`` and, optionally, more.

    ``grid_index`` ``[N]`` (``-1`` where the coverage is not a grid value; ``None``: the
    harness looks the coverage up on its grid); ``levels`` ``[N, n_days]`` (units):
    order-up-to levels of a policy that is not a coverage (``coverage_days`` NaN);
    ``kl_to_reference`` ``[N]``: a learned policy's KL to its reference policy.
    """

    coverage_days: np.ndarray
    grid_index: np.ndarray | None = None
    levels: np.ndarray | None = None
    kl_to_reference: np.ndarray | None = None


@runtime_checkable
class Policy(Protocol):
    """Anything that decides a :class:`Decision` from the lanes and a :class:`DecisionState`."""

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision: ...


def grid_index(grid: np.ndarray, days: np.ndarray) -> np.ndarray:
    """Index of each coverage on the grid, ``-1`` where it is not a grid value (or NaN, or the grid is empty)."""
    if len(grid) == 0:
        return np.full(np.shape(days), -1, dtype=np.int64)
    index = np.clip(np.searchsorted(grid, np.nan_to_num(days, nan=-1.0)), 0, len(grid) - 1)
    return np.where(np.isclose(grid[index], days), index, -1)


class OrderUpToPolicy:
    """Base class: subclasses define :meth:`levels`."""

    def levels(self, forecast_path, n_days: int) -> np.ndarray:
        """Order-up-to levels ``[N, n_days]`` (units)."""
        raise NotImplementedError

    def level_at(self, state: PolicyState) -> np.ndarray:
        """Order-up-to level ``[N]`` of day ``state.t``."""
        if state.forecast is None:
            raise ValueError(f"{type(self).__name__} needs state.forecast (pass forecast=...)")
        return self.levels(state.forecast, state.t + 1)[:, state.t]

    def __call__(self, state: PolicyState) -> np.ndarray:
        """Raw order quantities ``[N]``: level minus inventory position."""
        return self.level_at(state) - state.inventory_position


def stack_levels(policies, forecast_path, n_days: int) -> np.ndarray:
    """Levels of several policies as fast-path candidates, ``[C, N, n_days]``."""
    return np.stack([p.levels(forecast_path, n_days) for p in policies])


class LevelSchedule(OrderUpToPolicy):
    """Given order-up-to levels ``[N, T]`` (units), independent of any forecast."""

    def __init__(self, levels) -> None:
        self._levels = np.asarray(levels, dtype=np.float64)
        if self._levels.ndim != 2:
            raise ValueError("levels must be [N, T]")

    def levels(self, forecast_path=None, n_days: int | None = None) -> np.ndarray:
        n = self._levels.shape[1] if n_days is None else int(n_days)
        if n > self._levels.shape[1]:
            raise ValueError(f"schedule covers {self._levels.shape[1]} days, asked {n}")
        return self._levels[:, :n]

    def level_at(self, state: PolicyState) -> np.ndarray:
        return self._levels[:, state.t]


class CoveragePolicy(OrderUpToPolicy):
    """Order up to ``v`` days of forecast demand, one coverage ``v`` (days) per lane.

    Level of day ``t``: forecast summed over ``[t, t + v)`` (fractional last day), see
    :func:`orpr_kedro.core.simulation.kernel.coverage_levels`.
    """

    def __init__(self, coverage_days) -> None:
        v = np.asarray(coverage_days, dtype=np.float64)
        if v.ndim != 1 or not np.all(np.isfinite(v)) or np.any(v < 0):
            raise ValueError("coverage_days must be a 1-D array of finite values >= 0")
        self.coverage_days = v

    def levels(self, forecast_path, n_days: int) -> np.ndarray:
        return lane_coverage_levels(forecast_path, self.coverage_days, n_days)

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        """The same coverage on every decision date."""
        return Decision(self.coverage_days.copy())


class IncumbentRule(CoveragePolicy):
    """Planners' fixed days-of-cover rule: order up to the category's target days.

    ``target_turnover_days`` ``[N]`` (days of forecast demand per lane, normally the
    target of the lane's category; see :meth:`from_categories`).
    """

    def __init__(self, target_turnover_days) -> None:
        super().__init__(target_turnover_days)

    @property
    def target_turnover_days(self) -> np.ndarray:
        return self.coverage_days

    @classmethod
    def from_lanes(cls, lanes: Lanes) -> IncumbentRule:
        """The rule of the lanes' own target turnover days."""
        return cls(lanes.target_turnover_days)

    @classmethod
    def from_categories(cls, lane_category, category_target_days: Mapping) -> IncumbentRule:
        """Build from each lane's category and a ``{category: target days}`` mapping."""
        cats = np.asarray(lane_category)
        missing = sorted({c for c in cats.tolist() if c not in category_target_days}, key=str)
        if missing:
            raise KeyError(f"no target turnover days for categories {missing}")
        return cls(np.array([category_target_days[c] for c in cats.tolist()], dtype=np.float64))


def protection_moments(
    forecast_path,
    n_days: int,
    protection_days: np.ndarray,
    lead_time_std: np.ndarray,
    *,
    demand_std: np.ndarray | None = None,
    nb_dispersion: np.ndarray | None = None,
) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``mu_P`` and standard deviation ``sigma_P`` ``[N, n_days]`` of demand over each day's protection interval.

    ``mu_P`` = forecast over ``[t, t + P)`` (fractional last day); per-day variance
    ``demand_std**2`` if given, else negative binomial ``m + m**2 / nb_dispersion`` if a
    dispersion is given, else Poisson ``m`` (``m = mu_P / P``); ``sigma_P**2 = P * var_d +
    m**2 * lead_time_std**2``. See :class:`BaseStock`.
    """
    p_days = np.asarray(protection_days, dtype=np.float64)
    mu_p = lane_coverage_levels(forecast_path, p_days, n_days)  # [N, T]
    with np.errstate(divide="ignore", invalid="ignore"):
        m = np.where(p_days[:, None] > 0, mu_p / p_days[:, None], 0.0)
    if demand_std is not None:
        var_d = np.broadcast_to((np.asarray(demand_std, dtype=np.float64) ** 2)[:, None], m.shape)
    elif nb_dispersion is not None:
        var_d = m + m**2 / np.asarray(nb_dispersion, dtype=np.float64)[:, None]
    else:
        var_d = m
    var_p = p_days[:, None] * var_d + m**2 * (np.asarray(lead_time_std, dtype=np.float64) ** 2)[:, None]
    return mu_p, np.sqrt(var_p)


class BaseStock(OrderUpToPolicy):
    """Forecast base-stock policy with a newsvendor safety stock.

    Protection interval ``P = lead_time_mean + review_period`` (days, per lane).
    Level of day ``t`` = ``mu_P + z * sigma_P`` (floored at 0) where

    * ``mu_P`` = forecast demand over ``[t, t + P)`` (fractional last day);
    * per-day variance ``var_d`` = ``demand_std**2`` if given, else the negative
      binomial ``m + m**2 / nb_dispersion`` if a dispersion is given, else Poisson
      ``m``, with ``m = mu_P / P`` the mean daily forecast over the interval;
    * ``sigma_P**2 = P * var_d + m**2 * lead_time_std**2`` (independent days plus
      lead-time uncertainty);
    * ``z = Phi^{-1}(p / (p + h * review_period))`` with ``p`` = lost-sale cost per
      unit and ``h * review_period`` the holding cost of one unit over one review
      cycle (the lost-sales newsvendor fractile of one cycle); that fractile is clipped
      to ``[0.001, 0.999]``. ``service_level`` (scalar or ``[N]``, in ``(0, 1)``) overrides
      it as given: a fractile tuned by simulation
      (:func:`orpr_kedro.core.evaluation.baselines.tune_base_stock`) may lie above 0.999.
    """

    def __init__(
        self,
        lanes: LaneParams,
        lead_time_mean,
        *,
        demand_std=None,
        nb_dispersion=None,
        lead_time_std=0.0,
        service_level=None,
    ) -> None:
        n = lanes.n_lanes
        self.lanes = lanes
        self.lead_time_mean = np.broadcast_to(np.asarray(lead_time_mean, dtype=np.float64), (n,))
        self.lead_time_std = np.broadcast_to(np.asarray(lead_time_std, dtype=np.float64), (n,))
        if np.any(self.lead_time_mean < 0) or np.any(self.lead_time_std < 0):
            raise ValueError("lead-time mean and std must be >= 0")
        self.demand_std = (
            None if demand_std is None else np.broadcast_to(np.asarray(demand_std, dtype=np.float64), (n,))
        )
        self.nb_dispersion = (
            None if nb_dispersion is None else np.broadcast_to(np.asarray(nb_dispersion, dtype=np.float64), (n,))
        )
        if self.nb_dispersion is not None and np.any(self.nb_dispersion <= 0):
            raise ValueError("nb_dispersion must be > 0")
        if service_level is None:
            p = lanes.lost_sale_cost
            hr = lanes.holding_cost * lanes.review_period
            with np.errstate(divide="ignore", invalid="ignore"):
                frac = np.where(p + hr > 0, p / (p + hr), 0.5)
            frac = np.clip(frac, 0.001, 0.999)
        else:
            frac = np.broadcast_to(np.asarray(service_level, dtype=np.float64), (n,))
            if not np.all((frac > 0) & (frac < 1)):
                raise ValueError("service_level must lie strictly between 0 and 1")
        self.critical_fractile = frac
        self.z = ndtri(self.critical_fractile)
        self.protection_days = self.lead_time_mean + lanes.review_period

    def levels(self, forecast_path, n_days: int) -> np.ndarray:
        mu_p, sigma_p = protection_moments(
            forecast_path,
            n_days,
            self.protection_days,
            self.lead_time_std,
            demand_std=self.demand_std,
            nb_dispersion=self.nb_dispersion,
        )
        return np.maximum(mu_p + self.z[:, None] * sigma_p, 0.0)

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        """Levels from the date's forecast (a base-stock level is not a coverage: ``coverage_days`` NaN)."""
        n = len(state.forecast)
        return Decision(np.full(n, np.nan), levels=self.levels(state.forecast, state.n_days))


def base_stock_for(lanes: Lanes, dispersion: np.ndarray) -> BaseStock:
    """The forecast base-stock policy of the lanes: negative-binomial demand of the forecast's
    ``dispersion`` ``[N]``, protection over mean lead time plus review period, lead-time spread."""
    return BaseStock(
        lanes.lane_params_at(0),
        lead_time_mean=lanes.lead_time_mean,
        nb_dispersion=1.0 / np.maximum(dispersion, 1e-6),
        lead_time_std=lanes.lead_time_std,
    )


def wide_schedule(table: pd.DataFrame, lane_ids: np.ndarray, column: str) -> pd.DataFrame:
    """``column`` of a long (``lane_id``, ``decision_date``) table as lanes x dates, in ``lane_ids`` order."""
    return table.pivot(index="lane_id", columns="decision_date", values=column).reindex(index=np.asarray(lane_ids))


def schedule_on(wide: pd.DataFrame, dates, what: str) -> np.ndarray:
    """Values ``[N, W]`` of a :func:`wide_schedule` on ``dates``; raises "<what> missing ..." where any lane has none."""
    on_dates = wide.reindex(columns=pd.DatetimeIndex(dates))
    if on_dates.isna().any().any():
        missing = [str(d.date()) for d in on_dates.columns[on_dates.isna().any()]]
        raise ValueError(f"{what} missing for some lanes on decision dates {missing}")
    return on_dates.to_numpy()


class CoverageSchedule:
    """Coverage days given per lane and decision date (OR labels, a learned policy's decisions, ...).

    Built from a long table with ``lane_id``, ``decision_date`` and ``coverage_days``;
    deciding on a date the table lacks for some lane raises.
    """

    def __init__(self, table: pd.DataFrame, lane_ids: np.ndarray, name: str = "schedule") -> None:
        self.name = name
        self.wide = wide_schedule(table, lane_ids, "coverage_days")

    def coverage(self, dates: pd.DatetimeIndex) -> np.ndarray:
        """Coverage ``[N, W]`` (days) on ``dates``; raises where any lane has none."""
        return schedule_on(self.wide, dates, f"{self.name}: coverage is").astype("float64")

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        return Decision(self.coverage(pd.DatetimeIndex([state.date]))[:, 0])


class SwitchPolicy:
    """``before`` on decision dates earlier than ``switch_date``, ``after`` from it on."""

    def __init__(self, before: Policy, after: Policy, switch_date: pd.Timestamp) -> None:
        self.before, self.after = before, after
        self.switch_date = pd.Timestamp(switch_date)

    def decide(self, lanes: Lanes, state: DecisionState) -> Decision:
        policy = self.after if pd.Timestamp(state.date) >= self.switch_date else self.before
        return policy.decide(lanes, state)
