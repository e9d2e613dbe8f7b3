"""Demand scenarios that carry the forecast's real error, calibrated out of sample.

The forecaster's negative-binomial spread describes day-to-day noise around its mean,
estimated on the rows it was trained on. What it leaves out is the error of the mean
itself: a forecast that is 20% low for a month is low on every day of that month, so
the error of a horizon's total is far larger than independent daily noise implies. An
OR model that samples only the daily noise sees too little risk and stocks too little.

:func:`fit_forecast_errors` measures that error on origins the forecaster did not train
on (the validation decision dates, horizons ending before the test period), from the
persisted forecast cube and the actual demand, so it reads whichever forecaster is in
place. Per lane group (category by default) it estimates

* ``bias``: sum of actual over sum of forecast demand over the window (1 = unbiased);
* ``level_sd``: the log-scale standard deviation of a multiplicative level error,
  the part of the spread of ``actual / (bias x forecast)`` that the negative binomial
  does not explain (0 when it explains all of it).

The window is either the OR model's whole horizon or, per lane, its protection window
(mean lead time plus review period, ``or_labeling.scenarios.window``): the demand an
order-up-to level has to cover, and the one that decides whether a level runs out
before the next order arrives. On the demo the horizon measured better: over a short
window the daily noise explains most of the spread, and what the OR model misses is
error that persists for weeks (docs/evaluation.md).

:func:`sample_calibrated_demand` then draws, per scenario and lane, one level factor
``bias x LogNormal(-level_sd^2 / 2, level_sd)`` for the whole horizon and daily
negative-binomial demand around ``factor x forecast``. The coverage of 80% predictive
intervals of the horizon total, before and after, is in the table
(:meth:`ForecastErrors.table`) so the calibration can be checked.

Units: demand in units per day; ``bias`` and ``level_sd`` are dimensionless.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd

from orpr_kedro.core.forecasting.uncertainty import sample_demand
from orpr_kedro.core.params import ORLabelingParams

if TYPE_CHECKING:
    from orpr_kedro.core.simulation.period import Period

__all__ = ["ForecastErrors", "calibrated_period", "fit_forecast_errors", "sample_calibrated_demand"]

_Z80 = 1.2815515655446004  # standard normal quantile of 0.9: central 80% interval


@dataclass(frozen=True)
class ForecastErrors:
    """Per-group forecast error of the horizon total, and the per-lane arrays it implies.

    ``table``: one row per group (and ``__all__``, every lane pooled) with ``n_origins``
    (lane-origin pairs used), ``pooled`` (True where the group had too few pairs and
    carries the pooled estimate),
    ``bias``, ``level_sd``, ``z_std_nb`` (standard deviation of the horizon total's
    error in units of the negative-binomial standard deviation: 1 if that spread were
    right) and the share of actual totals inside the central 80% predictive interval,
    ``coverage80_nb`` (daily noise only) and ``coverage80_calibrated``.
    """

    group: str
    horizon_days: int
    table: pd.DataFrame

    @classmethod
    def from_table(cls, table: pd.DataFrame, group: str = "category") -> ForecastErrors:
        """Rebuild from a persisted :attr:`table` (its ``horizon_days`` column gives the horizon)."""
        missing = {group, "bias", "level_sd", "horizon_days"} - set(table.columns)
        if missing:
            raise ValueError(f"forecast-error table lacks columns {sorted(missing)}")
        return cls(group=group, horizon_days=int(table["horizon_days"].iloc[0]), table=table.reset_index(drop=True))

    def lane_arrays(self, lanes: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
        """``(bias [N], level_sd [N])`` of each lane's group (unseen groups: the pooled row)."""
        indexed = self.table.set_index(self.group)
        pooled = indexed.loc["__all__"] if "__all__" in indexed.index else None
        values = lanes[self.group].map(lambda g: g if g in indexed.index else "__all__")
        if pooled is None and (values == "__all__").any():
            raise KeyError(f"no forecast-error row for groups {sorted(set(lanes[self.group]) - set(indexed.index))}")
        bias = indexed["bias"].reindex(values).to_numpy(dtype=np.float64)
        level_sd = indexed["level_sd"].reindex(values).to_numpy(dtype=np.float64)
        return bias, level_sd


def fit_forecast_errors(
    forecast_cube: np.ndarray,
    demand: np.ndarray,
    origin_days: np.ndarray,
    origin_windows: np.ndarray,
    dispersion: np.ndarray,
    lane_groups: np.ndarray,
    *,
    horizon_days: int,
    window_days: np.ndarray | None = None,
    group: str = "category",
    min_forecast: float = 1.0,
    min_rows: int = 30,
) -> ForecastErrors:
    """Measure the forecast error of horizon totals (or of each lane's window) on the given origins.

    Args:
        forecast_cube: ``[N, W, F]`` forecasts (units/day) made on each decision date.
        demand: ``[N, T]`` actual demand (units/day).
        origin_days: day index in ``demand`` of each origin used.
        origin_windows: index into the cube's ``W`` axis of the same origins.
        dispersion: ``[N]`` negative-binomial dispersion ``phi`` (variance ``m + phi m^2``).
        lane_groups: ``[N]`` group of each lane.
        horizon_days: days summed from each origin (the OR model's horizon).
        window_days: ``[N]`` days summed per lane instead (each at most ``horizon_days``),
            e.g. its protection window, lead time plus review period: the demand an
            order-up-to level has to cover. Lane-origin pairs whose window runs past
            ``demand`` are left out (``horizon_days`` alone: such an origin is an error).
        group: name of the group column in the table.
        min_forecast: lane-origin pairs whose forecast total is below this are skipped
            (a ratio to a near-zero forecast says nothing about its level).
        min_rows: groups with fewer pairs get the pooled estimate.

    Raises:
        ValueError: when an origin's horizon runs past the demand, or no pair is usable.
    """
    horizon = int(horizon_days)
    if horizon < 1 or horizon > forecast_cube.shape[2]:
        raise ValueError(f"horizon_days must be in [1, {forecast_cube.shape[2]}], got {horizon_days}")
    origin_days = np.asarray(origin_days, dtype=np.int64)
    n_lanes = forecast_cube.shape[0]
    if window_days is None:
        if len(origin_days) == 0 or np.any(origin_days + horizon > demand.shape[1]):
            raise ValueError(
                "every origin needs horizon_days of actual demand after it; got none or too late an origin"
            )
        window = np.full(n_lanes, horizon, dtype=np.int64)
    else:
        window = np.clip(np.asarray(window_days, dtype=np.int64), 1, horizon)
        if len(origin_days) == 0:
            raise ValueError("no origin given")
    forecast = forecast_cube[:, np.asarray(origin_windows, dtype=np.int64), :horizon]  # [N, O, H]
    # days past the end of the demand read day 0: every such pair is masked below
    days = origin_days[:, None] + np.arange(horizon)[None, :]  # [O, H]
    actual = demand[:, np.where(days < demand.shape[1], days, 0)]  # [N, O, H]
    phi = np.maximum(np.asarray(dispersion, dtype=np.float64), 1e-6)[:, None, None]
    in_window = (np.arange(horizon)[None, :] < window[:, None])[:, None, :]  # [N, 1, H]
    forecast_total = np.where(in_window, forecast, 0.0).sum(axis=2)
    actual_total = np.where(in_window, actual, 0.0).sum(axis=2)
    nb_var = np.where(in_window, forecast + phi * forecast**2, 0.0).sum(axis=2)
    groups = np.broadcast_to(np.asarray(lane_groups)[:, None], forecast_total.shape)
    inside = origin_days[None, :] + window[:, None] <= demand.shape[1]
    usable = (forecast_total >= min_forecast) & inside
    if not usable.any():
        raise ValueError(
            f"no lane-origin pair has its window of actual demand and a forecast total of at least {min_forecast} units"
        )
    pairs = pd.DataFrame(
        {
            group: groups[usable],
            "forecast": forecast_total[usable],
            "actual": actual_total[usable],
            "nb_var": nb_var[usable],
        }
    )
    rows = [{**_group_row(pairs, "__all__"), "pooled": False}]
    for name, part in pairs.groupby(group, sort=True):
        own = len(part) >= min_rows
        rows.append({**(_group_row(part, name) if own else rows[0]), "n_origins": len(part), "pooled": not own})
        rows[-1]["group"] = name
    table = (
        pd.DataFrame(rows)
        .rename(columns={"group": group})
        .assign(horizon_days=horizon, window=("horizon" if window_days is None else "per_lane"))
    )
    table = table[[group, *[c for c in table.columns if c != group]]]
    return ForecastErrors(group=group, horizon_days=horizon, table=table)


def _group_row(pairs: pd.DataFrame, name: str) -> dict:
    forecast, actual, nb_var = (pairs[c].to_numpy(dtype=np.float64) for c in ("forecast", "actual", "nb_var"))
    bias = float(actual.sum() / forecast.sum())
    ratio = actual / (bias * forecast)
    nb_relative = nb_var / forecast**2  # relative variance of the total under daily noise alone
    level_var = max(float(np.var(ratio) - nb_relative.mean()), 0.0)
    level_sd = float(np.sqrt(np.log1p(level_var)))
    z_nb = (actual - forecast) / np.sqrt(nb_var)
    calibrated_mean = bias * forecast
    calibrated_sd = np.sqrt(bias**2 * nb_var + calibrated_mean**2 * level_var)
    return {
        "group": name,
        "n_origins": len(pairs),
        "bias": bias,
        "level_sd": level_sd,
        "z_std_nb": float(np.std(z_nb)),
        "coverage80_nb": float(np.mean(np.abs(z_nb) <= _Z80)),
        "coverage80_calibrated": float(np.mean(np.abs(actual - calibrated_mean) <= _Z80 * calibrated_sd)),
    }


def sample_calibrated_demand(
    mean: np.ndarray,
    dispersion: np.ndarray,
    bias: np.ndarray,
    level_sd: np.ndarray,
    n_scenarios: int,
    rng: np.random.Generator,
) -> np.ndarray:
    """Demand scenarios ``[S, N, H]``: one level factor per scenario and lane, daily NB noise around it.

    ``mean`` ``[N, H]`` is the forecast (units/day); ``dispersion``, ``bias`` and
    ``level_sd`` are ``[N]``. With ``bias = 1`` and ``level_sd = 0`` this is the plain
    negative-binomial forecast distribution.
    """
    n_lanes = mean.shape[0]
    sd = np.asarray(level_sd, dtype=np.float64)
    factor = np.asarray(bias, dtype=np.float64) * np.exp(
        rng.standard_normal((int(n_scenarios), n_lanes)) * sd - 0.5 * sd**2
    )
    scenario_mean = mean[None, :, :] * factor[:, :, None]
    # the forecast's own gamma-Poisson draw, around each scenario's mean
    phi = np.asarray(dispersion, dtype=np.float64)[None, :, None]
    return sample_demand(scenario_mean, phi, 1, rng)[0]


def calibrated_period(period: Period, table: pd.DataFrame, params: ORLabelingParams) -> Period:
    """``period`` with the measured forecast error attached (what the OR policy and scenario RL read).

    ``table``: the persisted :meth:`ForecastErrors.table` (``mi_scenario_calibration``);
    unchanged when ``params.scenarios.calibrate`` is off.
    """
    if not params.scenarios.calibrate:
        return period
    errors = ForecastErrors.from_table(table, params.scenarios.group)
    return period.with_forecast_errors(*errors.lane_arrays(period.lanes))
