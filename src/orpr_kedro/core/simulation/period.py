"""The period model: the lanes and their arrays over a period of days.

* :class:`Lanes`: the lanes table (one row per SKU-DC pair, sorted by ``lane_id``, ids
  ``0 .. N-1``) as typed arrays: costs (currency: ``holding_cost`` per unit per day,
  ``lost_sale_cost`` per unit lost, ``order_cost`` per order, ``unit_cost`` per unit),
  lead times (days: ``lead_time_mean``, ``lead_time_std``), ``case_pack`` and ``moq``
  (units), the review calendar (``review_period`` in days) and the business targets
  (``target_turnover_days`` in days, ``alpha`` the service level).
  :meth:`Lanes.lane_params_at` gives the simulator parameters of a run whose day 0 is a
  given day of the review calendar.
* :class:`Period`: daily actual demand ``demand[n, t]`` (units/day on ``dates[t]``, 0
  before launch), the forecast cube ``forecast_cube[n, w, h]`` (units/day, made on
  ``decision_dates[w]`` for day ``h`` from it), the negative-binomial ``dispersion``
  ``[N]`` of the forecast and the decision dates. Review calendar: a lane reviews on
  the first decision date (``dates[first_review_day]``) and then every
  ``review_period`` days, so weekly lanes review on every decision date.

Everything that simulates a period (the OR labeler, the closed-loop harness, the RL
environment) takes a :class:`Period`.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace

import numpy as np
import pandas as pd

from orpr_kedro.core.data.preparation import to_panel
from orpr_kedro.core.learning.features import forecast_cube
from orpr_kedro.core.simulation.lanes import LaneParams
from orpr_kedro.core.simulation.levels import shift_forecast

__all__ = ["Lanes", "Period", "build_period", "lane_params"]

_FLOAT_COLUMNS = (
    "holding_cost",
    "lost_sale_cost",
    "order_cost",
    "unit_cost",
    "lead_time_mean",
    "lead_time_std",
    "target_turnover_days",
    "initial_on_hand",
)
_INTEGER_COLUMNS = ("review_period", "case_pack", "moq")


@dataclass(frozen=True, eq=False)
class Lanes:
    """The lanes as typed arrays ``[N]`` (see the module docstring for units).

    ``table`` is the lanes table they come from (sorted by ``lane_id``); ``category``
    the lane's category. Columns the table lacks (e.g. ``unit_cost`` in a minimal
    table) are NaN.
    """

    table: pd.DataFrame
    lane_id: np.ndarray
    category: np.ndarray
    review_period: np.ndarray
    case_pack: np.ndarray
    moq: np.ndarray
    holding_cost: np.ndarray
    lost_sale_cost: np.ndarray
    order_cost: np.ndarray
    unit_cost: np.ndarray
    lead_time_mean: np.ndarray
    lead_time_std: np.ndarray
    target_turnover_days: np.ndarray
    initial_on_hand: np.ndarray

    @classmethod
    def from_table(cls, table: pd.DataFrame) -> Lanes:
        """Arrays of a lanes table (``prm_lanes``), sorted by ``lane_id``."""
        table = table.sort_values("lane_id").reset_index(drop=True)
        n = len(table)

        def column(name: str, dtype: str) -> np.ndarray:
            if name not in table.columns:
                return np.full(n, np.nan)
            return table[name].to_numpy(dtype=dtype)

        return cls(
            table=table,
            lane_id=table["lane_id"].to_numpy(),
            category=table["category"].to_numpy() if "category" in table.columns else np.full(n, "", dtype=object),
            **{name: table[name].to_numpy() for name in _INTEGER_COLUMNS},
            **{name: column(name, "float64") for name in _FLOAT_COLUMNS},
        )

    @property
    def n_lanes(self) -> int:
        return len(self.lane_id)

    def lane_params_at(self, day, index: np.ndarray | None = None) -> LaneParams:
        """Simulator parameters of a run whose day 0 is ``day`` days after the first review.

        ``day`` is a scalar or one day per selected lane; ``index`` selects lanes (all by
        default). A lane reviews on days ``t`` with ``t + day`` a multiple of its review
        period from the first review on (before it, only on the first review day).
        """
        lanes = slice(None) if index is None else np.asarray(index)
        period = np.asarray(self.review_period[lanes])
        offset = -np.broadcast_to(np.asarray(day, dtype=np.int64), period.shape)
        return LaneParams(
            review_period=period,
            review_offset=np.where(offset >= 0, offset, offset % period),
            case_pack=self.case_pack[lanes],
            moq=self.moq[lanes],
            holding_cost=self.holding_cost[lanes],
            lost_sale_cost=self.lost_sale_cost[lanes],
            order_cost=self.order_cost[lanes],
        )


def lane_params(lanes: pd.DataFrame, anchor_day: int = 0) -> LaneParams:
    """Simulator parameters of a lanes table, with day 0 = calendar day ``anchor_day`` after the first review."""
    return Lanes.from_table(lanes).lane_params_at(int(anchor_day))


@dataclass
class Period:
    """Demand, forecasts and lanes of a period, as arrays aligned on ``lane_id`` (see the module docstring).

    ``lanes`` is the lanes table (sorted by ``lane_id``), :attr:`lane_arrays` its typed
    arrays; ``first_review_day`` the index in ``dates`` of the first decision date.
    ``forecast_bias`` and ``level_sd`` (``[N]``, optional): the out-of-sample error of
    the forecast's horizon totals (:mod:`orpr_kedro.core.optimization.scenarios`); when
    set, the OR model's demand scenarios carry it, otherwise only the negative-binomial
    daily noise around the forecast.
    """

    lanes: pd.DataFrame
    dates: pd.DatetimeIndex
    demand: np.ndarray
    decision_dates: pd.DatetimeIndex
    forecast_cube: np.ndarray
    dispersion: np.ndarray
    first_review_day: int
    forecast_bias: np.ndarray | None = None
    level_sd: np.ndarray | None = None
    _arrays: Lanes | None = field(default=None, init=False, repr=False, compare=False)
    _arrays_of: pd.DataFrame | None = field(default=None, init=False, repr=False, compare=False)

    @property
    def lane_arrays(self) -> Lanes:
        """The lanes as typed arrays (built once)."""
        # keyed by the table they were built from (``from_table`` sorts into a new frame)
        if self._arrays is None or self._arrays_of is not self.lanes:
            self._arrays, self._arrays_of = Lanes.from_table(self.lanes), self.lanes
        return self._arrays

    @property
    def n_lanes(self) -> int:
        return len(self.lanes)

    def day(self, date: pd.Timestamp) -> int:
        """Index of a date in ``dates``."""
        return int((pd.Timestamp(date) - self.dates[0]).days)

    def window(self, date: pd.Timestamp) -> int:
        """Index of a decision date in ``decision_dates``."""
        return int(self.decision_dates.get_loc(pd.Timestamp(date)))

    def lane_params_at(self, date: pd.Timestamp) -> LaneParams:
        """Simulator parameters whose day 0 is ``date``."""
        return self.lane_arrays.lane_params_at(self.day(date) - self.first_review_day)

    def shifted_origin(self, window: int, offset: int) -> Period:
        """A one-date view: the decision date ``window`` moved ``offset`` days on, its forecast shifted with it.

        For decisions taken between two forecast origins (at a lane's review day): the
        view's only decision date is ``decision_dates[window] + offset`` and its forecast
        is that origin's from day ``offset`` on
        (:func:`~orpr_kedro.core.simulation.levels.shift_forecast`); demand, lanes and
        the forecast error are the period's.
        """
        date = self.decision_dates[window] + pd.Timedelta(days=int(offset))
        forecast = shift_forecast(self.forecast_cube[:, window, :], int(offset))
        return replace(self, decision_dates=pd.DatetimeIndex([date]), forecast_cube=forecast[:, None, :])

    def with_forecast_errors(self, bias: np.ndarray, level_sd: np.ndarray) -> Period:
        """The same period whose demand scenarios carry a measured forecast error (``[N]`` each)."""
        return replace(
            self, forecast_bias=np.asarray(bias, dtype=np.float64), level_sd=np.asarray(level_sd, dtype=np.float64)
        )


def build_period(
    lanes: pd.DataFrame,
    daily_sales: pd.DataFrame,
    forecasts: pd.DataFrame,
    decision_dates: pd.DatetimeIndex,
    first_decision_date: pd.Timestamp,
) -> Period:
    """The period's arrays from the primary tables (``prm_lanes``, ``prm_daily_sales``) and the forecast table."""
    lanes = lanes.sort_values("lane_id").reset_index(drop=True)
    dates = pd.date_range(daily_sales["date"].min(), daily_sales["date"].max(), freq="D")
    demand = to_panel(daily_sales, "sales_units", len(lanes), dates, fill=0.0)
    cube = np.nan_to_num(forecast_cube(forecasts, len(lanes), decision_dates), nan=0.0)
    dispersion = (
        forecasts.groupby("lane_id")["dispersion"]
        .first()
        .reindex(lanes["lane_id"])
        .fillna(1.0)
        .to_numpy(dtype="float64")
    )
    return Period(
        lanes=lanes,
        dates=dates,
        demand=demand,
        decision_dates=decision_dates,
        forecast_cube=cube,
        dispersion=dispersion,
        first_review_day=int((pd.Timestamp(first_decision_date) - dates[0]).days),
    )
