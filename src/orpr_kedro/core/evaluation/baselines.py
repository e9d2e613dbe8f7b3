"""The strongest classic baseline: forecast base-stock with its service level tuned by simulation.

A planner without ORPR would run a forecast base-stock policy
(:class:`~orpr_kedro.core.simulation.policies.BaseStock`: order up to the forecast
over lead time plus one review, plus ``z`` standard deviations) and tune its service
level on history. :func:`tune_base_stock` does exactly that: on the validation period,
every candidate service level (and the textbook newsvendor fractile of each lane,
``p / (p + h x review period)``) is simulated on the ACTUAL demand with the same
lead-time draws, from the SKU-DC master's opening stock after a burn-in; per lane group
(category by default) the candidate with the lowest realised total cost wins. The
evaluation then runs the tuned policy on the test period, which it never saw.

Units: costs in currency, service levels are cycle fractiles in ``(0, 1)``.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.params import TunedBaseStockParams
from orpr_kedro.core.simulation.conventions import DECISION_INTERVAL_DAYS
from orpr_kedro.core.simulation.kernel import draw_lead_times, simulate_order_up_to
from orpr_kedro.core.simulation.period import Lanes, Period
from orpr_kedro.core.simulation.policies import BaseStock, base_stock_for

__all__ = ["NEWSVENDOR", "BaseStockTuning", "base_stock_policy", "tune_base_stock", "tune_on_validation"]

NEWSVENDOR = "newsvendor"
"""Candidate name of each lane's own newsvendor fractile (the untuned ``base_stock``)."""


def base_stock_policy(lanes: Lanes, dispersion: np.ndarray, service_level=None) -> BaseStock:
    """Forecast base-stock of the lanes (:func:`~orpr_kedro.core.simulation.policies.base_stock_for`).

    ``service_level``: ``None`` (each lane's newsvendor fractile), a scalar or ``[N]``;
    NaN entries of an array keep the lane's newsvendor fractile.
    """
    newsvendor = base_stock_for(lanes, dispersion)
    if service_level is None:
        return newsvendor
    level = np.broadcast_to(np.asarray(service_level, dtype=np.float64), (lanes.n_lanes,))
    level = np.where(np.isnan(level), newsvendor.critical_fractile, level)
    return BaseStock(
        newsvendor.lanes,
        lead_time_mean=lanes.lead_time_mean,
        nb_dispersion=newsvendor.nb_dispersion,
        lead_time_std=lanes.lead_time_std,
        service_level=level,
    )


@dataclass(frozen=True)
class BaseStockTuning:
    """The tuned service level of every lane and the tuning table behind it.

    ``service_level[N]``: the chosen fractile, NaN where the lane's newsvendor fractile
    won. ``table``: one row per (group, candidate) with the validation KPIs
    (``total_cost``, ``holding_cost``, ``lost_sales_cost``, ``order_cost``,
    ``in_stock_rate``), ``n_lanes`` and ``chosen``.
    """

    service_level: np.ndarray
    table: pd.DataFrame

    def policy(self, lanes: Lanes, dispersion: np.ndarray) -> BaseStock:
        """The tuned base-stock policy for these lanes."""
        return base_stock_policy(lanes, dispersion, self.service_level)

    def choices(self) -> pd.DataFrame:
        """The chosen candidate per group."""
        return self.table[self.table["chosen"]].reset_index(drop=True)


def _period_dates(data: Period, start: pd.Timestamp, end: pd.Timestamp, burn_in_weeks: int) -> np.ndarray:
    first = pd.Timestamp(start) - pd.Timedelta(weeks=int(burn_in_weeks))
    windows = np.flatnonzero((data.decision_dates >= first) & (data.decision_dates < pd.Timestamp(end)))
    return np.array(
        [w for w in windows if data.day(data.decision_dates[w]) + DECISION_INTERVAL_DAYS <= data.demand.shape[1]],
        dtype=np.int64,
    )


def tune_base_stock(
    data: Period,
    start: pd.Timestamp,
    end: pd.Timestamp,
    *,
    service_levels: Sequence[float],
    seed: int,
    max_lead_time: int,
    burn_in_weeks: int = 4,
    group: str = "category",
) -> BaseStockTuning:
    """Choose the base-stock service level per lane group by simulation on ``[start, end)``.

    Args:
        data: demand, forecasts and lanes (the labeler's arrays).
        start, end: the tuning period (validation); decision dates ``start <= d < end``
            with a week of actual demand are scored.
        service_levels: candidate fractiles in ``(0, 1)``; each lane's newsvendor
            fractile is always a candidate too (listed first, so it wins ties).
        seed: seed of the lead-time draws (common to all candidates).
        max_lead_time: cap of a drawn lead time (days).
        burn_in_weeks: weeks simulated before ``start`` and not scored, so each
            candidate reaches its own stock level first.
        group: lanes column whose groups get one service level each.

    Raises:
        ValueError: on an empty candidate list, a level outside ``(0, 1)`` or a period
            without a scored decision date.
    """
    levels_asked = np.asarray(list(service_levels), dtype=np.float64)
    if levels_asked.size == 0 or not np.all((levels_asked > 0) & (levels_asked < 1)):
        raise ValueError(f"service_levels must be a non-empty list of values in (0, 1), got {list(service_levels)}")
    windows = _period_dates(data, start, end, burn_in_weeks)
    dates = data.decision_dates[windows] if len(windows) else pd.DatetimeIndex([])
    scored = np.asarray(dates >= pd.Timestamp(start))
    if not scored.any():
        raise ValueError(
            f"no decision date between {pd.Timestamp(start).date()} and {pd.Timestamp(end).date()} "
            "has a week of actual demand to tune base-stock on"
        )
    lanes = data.lanes
    n_lanes = len(lanes)
    burn_in_days = DECISION_INTERVAL_DAYS * int((~scored).sum())
    n_days = DECISION_INTERVAL_DAYS * len(windows)
    first_day = data.day(dates[0])
    names = [NEWSVENDOR, *[f"{level:g}" for level in levels_asked]]
    candidates: list[float | None] = [None, *levels_asked.tolist()]

    start_params = data.lane_params_at(dates[0])
    policies = [base_stock_policy(data.lane_arrays, data.dispersion, level) for level in candidates]
    levels = np.empty((len(policies), n_lanes, n_days))
    for k, window in enumerate(windows):  # one forecast per decision date, vectorised over lanes
        days = slice(k * DECISION_INTERVAL_DAYS, (k + 1) * DECISION_INTERVAL_DAYS)
        forecast = data.forecast_cube[:, window, :]
        for index, policy in enumerate(policies):
            levels[index, :, days] = policy.levels(forecast, DECISION_INTERVAL_DAYS)

    rng = np.random.default_rng(np.random.SeedSequence([int(seed), first_day, len(names)]))
    lead_times = draw_lead_times(
        lanes["lead_time_mean"].to_numpy(),
        lanes["lead_time_std"].to_numpy(),
        n_days,
        rng,
        max_lead_time=max_lead_time,
    )
    demand = data.demand[:, first_day : first_day + n_days]
    on_hand = np.broadcast_to(lanes["initial_on_hand"].to_numpy(dtype=np.float64), (len(names), 1, n_lanes))
    pipeline = None
    if burn_in_days:
        warm = simulate_order_up_to(
            demand[None, :, :burn_in_days],
            levels[:, :, :burn_in_days],
            lead_times[None, :, :burn_in_days],
            start_params,
            on_hand,
            return_pipeline=True,
        )
        on_hand, pipeline = warm.final_on_hand, warm.final_pipeline
    result = simulate_order_up_to(
        demand[None, :, burn_in_days:],
        levels[:, :, burn_in_days:],
        lead_times[None, :, burn_in_days:],
        data.lane_params_at(dates[int(np.argmax(scored))]),
        on_hand,
        pipeline,
    )
    return _choose(result, lanes, names, candidates, group)


def tune_on_validation(
    data: Period, splits: TimeSplits, settings: TunedBaseStockParams, *, seed: int, max_lead_time: int, group=None
) -> BaseStockTuning:
    """:func:`tune_base_stock` on the validation period with ``evaluation.tuned_base_stock``'s settings.

    ``group`` overrides the settings' group (rl_alignment's service floor is per category).
    """
    return tune_base_stock(
        data,
        splits.validation_start,
        splits.test_start,
        service_levels=settings.service_levels,
        seed=int(seed),
        max_lead_time=max_lead_time,
        burn_in_weeks=settings.burn_in_weeks,
        group=settings.group if group is None else group,
    )


def _choose(
    result, lanes: pd.DataFrame, names: list[str], candidates: list[float | None], group: str
) -> BaseStockTuning:
    """Per group, the candidate with the lowest realised total cost (first one on ties)."""
    n_lanes = len(lanes)
    per_lane = {
        name: getattr(result, name)[:, 0, :]
        for name in ("holding_cost", "lost_sales_cost", "order_cost", "in_stock_days", "n_days")
    }
    frame = pd.DataFrame(
        {
            "candidate_index": np.repeat(np.arange(len(names)), n_lanes),
            group: np.tile(lanes[group].to_numpy(), len(names)),
            **{name: values.reshape(-1) for name, values in per_lane.items()},
        }
    )
    frame["n_days"] = frame["n_days"].astype(np.float64)
    table = frame.groupby([group, "candidate_index"], sort=True).sum().reset_index()
    table["total_cost"] = table["holding_cost"] + table["lost_sales_cost"] + table["order_cost"]
    table["in_stock_rate"] = table["in_stock_days"] / table["n_days"]
    table["n_lanes"] = table[group].map(lanes[group].value_counts())
    table["candidate"] = [names[i] for i in table["candidate_index"]]
    table["service_level"] = [np.nan if candidates[i] is None else candidates[i] for i in table["candidate_index"]]
    best = table.loc[table.groupby(group, sort=False)["total_cost"].idxmin(), [group, "candidate_index"]]
    table["chosen"] = table.set_index([group, "candidate_index"]).index.isin(
        best.set_index([group, "candidate_index"]).index
    )
    chosen_level = dict(zip(best[group], [candidates[i] for i in best["candidate_index"]], strict=True))
    service_level = np.array(
        [np.nan if chosen_level[g] is None else chosen_level[g] for g in lanes[group].tolist()], dtype=np.float64
    )
    columns = [
        group,
        "candidate",
        "service_level",
        "n_lanes",
        "total_cost",
        "holding_cost",
        "lost_sales_cost",
        "order_cost",
        "in_stock_rate",
        "chosen",
    ]
    return BaseStockTuning(service_level=service_level, table=table[columns].reset_index(drop=True))
