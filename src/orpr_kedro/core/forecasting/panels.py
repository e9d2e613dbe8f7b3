"""Dense ``[lane, day]`` arrays of sales, prices and promotions that the forecaster reads."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit, prange

from orpr_kedro.core.data.preparation import to_panel


@dataclass
class DemandPanels:
    """Dense ``[lane, day]`` arrays over the history plus the forecast horizon.

    ``sales`` is NaN before a lane's launch and after the data end; prices are
    carried forward past the data end; promotions come from the calendar, which
    is known in advance.
    """

    dates: pd.DatetimeIndex
    n_history_days: int
    sales: np.ndarray
    price: np.ndarray
    promo_uplift: np.ndarray
    promo_active: np.ndarray
    days_after_promo: np.ndarray
    expert_coverage: np.ndarray
    category_code: np.ndarray
    log_unit_price: np.ndarray
    _cumsum: np.ndarray = field(init=False, repr=False)
    _count: np.ndarray = field(init=False, repr=False)
    price_cumsum: np.ndarray = field(init=False, repr=False)
    _running_max: np.ndarray | None = field(default=None, init=False, repr=False)

    def __post_init__(self) -> None:
        self._cumsum, self._count, self.price_cumsum = _panel_cumsums(
            np.ascontiguousarray(self.sales, dtype=np.float64), np.ascontiguousarray(self.price, dtype=np.float64)
        )

    @property
    def n_lanes(self) -> int:
        """Number of lanes."""
        return self.sales.shape[0]

    def day_index(self, dates: pd.DatetimeIndex | pd.Series) -> np.ndarray:
        """Column index of each date in the panels."""
        return ((pd.DatetimeIndex(dates) - self.dates[0]) // pd.Timedelta(days=1)).to_numpy().astype("int64")

    def window_mean(self, lanes: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean of observed sales over days [start, stop) and the number of observed days.

        ``start``/``stop`` broadcast against ``lanes[:, None]``; out-of-range
        windows are clipped, and an empty window gives NaN.
        """
        last = self._cumsum.shape[1] - 1
        start, stop = np.clip(start, 0, last), np.clip(stop, 0, last)
        rows = lanes[:, None] if np.ndim(start) == 2 else lanes.reshape((-1,) + (1,) * (np.ndim(start) - 1))
        total = self._cumsum[rows, stop] - self._cumsum[rows, start]
        count = self._count[rows, stop] - self._count[rows, start]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan), count

    def history_max(self, lanes: np.ndarray, origins: np.ndarray) -> np.ndarray:
        """Largest observed daily sales of each lane before each origin ``[lane, origin]`` (0 without any)."""
        if self._running_max is None:
            observed = np.where(np.isnan(self.sales), 0.0, self.sales)
            self._running_max = np.concatenate(
                [np.zeros((self.n_lanes, 1)), np.maximum.accumulate(observed, axis=1)], axis=1
            )
        stop = np.clip(np.asarray(origins), 0, self._running_max.shape[1] - 1)
        return self._running_max[np.asarray(lanes)[:, None], stop[None, :]]


@njit(parallel=True, cache=True)
def _panel_cumsums(sales: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running totals along days with a leading 0, ``[lane, day + 1]``: observed sales, observed days, price.

    One pass over the panels, lanes in parallel; each total adds the days in order,
    as ``np.cumsum`` does, so the sums are the same to the last bit.
    """
    n_lanes, n_days = sales.shape
    sales_total = np.empty((n_lanes, n_days + 1))
    observed_days = np.empty((n_lanes, n_days + 1))
    price_total = np.empty((n_lanes, n_days + 1))
    for lane in prange(n_lanes):
        units, days, money = 0.0, 0.0, 0.0
        sales_total[lane, 0] = observed_days[lane, 0] = price_total[lane, 0] = 0.0
        for day in range(n_days):
            value = sales[lane, day]
            if not np.isnan(value):
                units += value
                days += 1.0
            money += price[lane, day]
            sales_total[lane, day + 1] = units
            observed_days[lane, day + 1] = days
            price_total[lane, day + 1] = money
    return sales_total, observed_days, price_total


@njit(parallel=True, cache=True)
def _fill_prices(price: np.ndarray, unit_price: np.ndarray) -> np.ndarray:
    """Fill the days without a price in place: the last known price, before the first one the first one.

    A lane without any price gets its master ``unit_price`` on every day.
    """
    n_lanes, n_days = price.shape
    for lane in prange(n_lanes):
        last = np.nan
        for day in range(n_days):
            if np.isnan(price[lane, day]):
                price[lane, day] = last
            else:
                last = price[lane, day]
        first = unit_price[lane]
        for day in range(n_days):
            if not np.isnan(price[lane, day]):
                first = price[lane, day]
                break
        for day in range(n_days):
            if not np.isnan(price[lane, day]):
                break
            price[lane, day] = first
    return price


@njit(parallel=True, cache=True)
def _days_after_promotion(active: np.ndarray) -> np.ndarray:
    """Days since the last promoted day, counted 1..7 after a promotion ends, else 0, ``[lane, day]``."""
    n_lanes, n_days = active.shape
    out = np.zeros((n_lanes, n_days))
    for lane in prange(n_lanes):
        last = -10_000
        for day in range(n_days):
            if active[lane, day] > 0:
                last = day
            elif 1 <= day - last <= 7:
                out[lane, day] = day - last
    return out


def build_demand_panels(
    daily_sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    lanes: pd.DataFrame,
    data_end: pd.Timestamp,
    horizon_days: int,
    data_start: pd.Timestamp | None = None,
) -> DemandPanels:
    """Assemble the dense arrays the forecaster and the features read.

    The panels start at ``data_start`` (the first sales date when not given): a lane
    block's panels start where the whole table's do, so day numbers agree across blocks.
    """
    data_start = daily_sales["date"].min() if data_start is None else pd.Timestamp(data_start)
    dates = pd.date_range(data_start, pd.Timestamp(data_end) + pd.Timedelta(days=horizon_days), freq="D")
    n_lanes = len(lanes)
    n_history = int((pd.Timestamp(data_end) - data_start).days) + 1
    sales = to_panel(daily_sales, "sales_units", n_lanes, dates)
    price = _fill_prices(to_panel(daily_sales, "price", n_lanes, dates), lanes["unit_price"].to_numpy(dtype="float64"))
    uplift = to_panel(promotion_days, "expected_uplift", n_lanes, dates, fill=0.0)
    active = to_panel(promotion_days.assign(one=1.0), "one", n_lanes, dates, fill=0.0)
    return DemandPanels(
        dates=dates,
        n_history_days=n_history,
        sales=sales,
        price=price,
        promo_uplift=uplift,
        promo_active=active,
        days_after_promo=_days_after_promotion(active),
        expert_coverage=to_panel(promotion_days, "expert_coverage_days", n_lanes, dates, fill=0.0),
        category_code=lanes["category_code"].to_numpy().astype("float64"),
        log_unit_price=np.log(lanes["unit_price"].to_numpy().astype("float64")),
    )
