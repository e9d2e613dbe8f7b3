"""Bring your own forecast: a planner's forecast table in place of the global model.

When the catalog entry ``raw_forecast`` points at a file, its table replaces the
fitted model everywhere a forecaster is read (forecast table, labels, evaluation,
recommend). One row per SKU-DC, forecast date and horizon day
(:data:`FORECAST_CONTRACT`); the forecast date plays the role of the decision
date (the origin), horizon day 0 is that date itself. Optional ``q<level>``
columns (e.g. ``q0.9``) give quantiles of daily demand; levels that are not
given come from a negative binomial around the mean whose dispersion is
estimated from the table's own errors before the test period.
"""

from __future__ import annotations

import dataclasses
import logging
import re
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from orpr_kedro.core.data.contract import Column, DataContractError, Problem, TableContract, _Collector, check_table
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.forecasting.model import NegativeBinomialSpread, check_finite
from orpr_kedro.core.forecasting.panels import DemandPanels
from orpr_kedro.core.forecasting.uncertainty import estimate_dispersion, negative_binomial_quantile, quantile_column

logger = logging.getLogger(__name__)

FORECAST_CONTRACT = TableContract(
    name="raw_forecast",
    description=(
        "Optional: the planners' own daily demand forecast, one row per SKU-DC, forecast date and horizon day; "
        "extra columns q<level> (e.g. q0.9) are quantiles of daily demand."
    ),
    key=("sku_id", "dc_id", "forecast_date", "horizon_day"),
    columns=(
        Column("sku_id", "string", "SKU identifier (a lane of raw_sku_dc_master with dc_id)"),
        Column("dc_id", "string", "distribution centre identifier"),
        Column("forecast_date", "date", "the day the forecast is made for ordering (a decision date)"),
        Column("horizon_day", "int", "days after forecast_date of the forecast day (0 = forecast_date)", minimum=0),
        Column("forecast_mean", "float", "expected demand that day (units)", minimum=0),
    ),
)
_QUANTILE = re.compile(r"^q(0?\.\d+)$")
# Dispersion when the table has no forecast day with known sales before the test period.
_DEFAULT_DISPERSION = 0.1


@dataclass
class ProvidedForecast(NegativeBinomialSpread):
    """A forecast table behind the :class:`~orpr_kedro.core.forecasting.model.Forecaster` interface.

    ``mean`` and each ``quantile_values[level]`` are ``[lane, forecast date, horizon]``
    (NaN where a quantile was not given); ``dates`` are the forecast dates.
    """

    dates: pd.DatetimeIndex
    mean: np.ndarray
    quantile_values: dict[float, np.ndarray]
    dispersion: np.ndarray
    global_dispersion: float
    horizon_days: int
    quantiles: tuple[float, ...]
    kind: str = "provided"
    last_capped: int = field(default=0)

    def lane_slice(self, start: int, stop: int) -> ProvidedForecast:
        """The forecast of lanes ``[start, stop)`` renumbered from 0 (a lane block)."""
        return dataclasses.replace(
            self,
            mean=self.mean[start:stop],
            quantile_values={level: values[start:stop] for level, values in self.quantile_values.items()},
            dispersion=self.dispersion[start:stop],
        )

    def _date_rows(self, panels: DemandPanels, origins: np.ndarray) -> np.ndarray:
        wanted = panels.dates[np.asarray(origins)]
        rows = self.dates.get_indexer(wanted)
        if (rows < 0).any():
            missing = ", ".join(str(day.date()) for day in wanted[rows < 0][:5])
            raise ValueError(
                f"raw_forecast has no rows for forecast date(s) {missing}: the provided forecast must cover "
                "every decision date (and the day after the inventory snapshot for recommend)"
            )
        return rows

    def predict_mean(
        self,
        panels: DemandPanels,
        origins: np.ndarray,
        lanes: np.ndarray | None = None,
        horizon_days: int | None = None,
    ) -> np.ndarray:
        """The provided means ``[lane, origin, horizon]`` for origin day indices of ``panels``."""
        lanes = np.arange(len(self.mean)) if lanes is None else np.asarray(lanes)
        horizon = self.horizon_days if horizon_days is None else int(horizon_days)
        if not 1 <= horizon <= self.horizon_days:
            raise ValueError(f"horizon_days must be between 1 and {self.horizon_days}, got {horizon}")
        return self.mean[lanes[:, None], self._date_rows(panels, origins)[None, :], :horizon].astype("float64")

    def quantile(
        self,
        level: float,
        mean: np.ndarray,
        lanes: np.ndarray,
        panels: DemandPanels | None = None,
        origins: np.ndarray | None = None,
    ) -> np.ndarray:
        """The provided quantile where the table has it, else the negative-binomial one."""
        phi = self.dispersion[lanes].reshape((-1,) + (1,) * (mean.ndim - 1))
        fallback = negative_binomial_quantile(level, mean, phi)
        given = self.quantile_values.get(level)
        if given is None or panels is None or origins is None:
            return fallback
        values = given[np.asarray(lanes)[:, None], self._date_rows(panels, origins)[None, :], : mean.shape[2]]
        return np.where(np.isfinite(values), values, fallback)


def _quantile_levels(frame: pd.DataFrame) -> dict[str, float]:
    """Column name -> level of the ``q<level>`` columns."""
    levels = {}
    for name in frame.columns:
        match = _QUANTILE.match(str(name))
        if match and 0 < float(match.group(1)) < 1:
            levels[str(name)] = float(match.group(1))
    return levels


def validate_forecast_table(
    raw: pd.DataFrame,
    lanes: pd.DataFrame,
    decision_dates: pd.DatetimeIndex,
    horizon_days: int,
    source: str | None = None,
    max_examples: int = 5,
) -> pd.DataFrame:
    """Check ``raw_forecast`` against :data:`FORECAST_CONTRACT`, the lanes and the decision dates.

    Beyond the columns: every (sku_id, dc_id) is a lane; quantile columns are
    numbers >= 0 (empty allowed); every lane has every horizon day 0..horizon_days-1
    at every decision date.

    Returns:
        The table typed, with ``lane_id`` and the quantile columns.

    Raises:
        DataContractError: naming the file, column, rule and example rows.
    """
    name = FORECAST_CONTRACT.name
    collector = _Collector(max_examples)
    original = raw.reset_index(drop=True)
    typed = check_table(original, FORECAST_CONTRACT, collector)
    for column, _level in _quantile_levels(original).items():
        values = pd.to_numeric(original[column], errors="coerce")
        bad = (original[column].notna() & values.isna()) | (values < 0)
        collector.add(name, column, "quantile must be an empty cell or a number >= 0", original, bad.to_numpy())
        typed[column] = values.astype("float64")
    if collector.problems:
        raise DataContractError(collector.problems, {name: source} if source else None)
    keyed = typed.merge(lanes[["sku_id", "dc_id", "lane_id"]], on=["sku_id", "dc_id"], how="left")
    collector.add(
        name, "sku_id, dc_id", "unknown SKU-DC pair (not in raw_sku_dc_master)", original, keyed["lane_id"].isna()
    )
    keyed = keyed[keyed["lane_id"].notna() & (keyed["horizon_day"] < horizon_days)]
    expected = len(lanes) * horizon_days
    counts = keyed[keyed["forecast_date"].isin(decision_dates)].groupby("forecast_date").size()
    counts = counts.reindex(decision_dates, fill_value=0)
    short = counts[counts < expected]
    if len(short):
        examples = pd.DataFrame({"forecast_date": short.index, "rows": short.to_numpy(), "rows_needed": expected}).head(
            max_examples
        )
        collector.problems.append(
            Problem(
                name,
                "forecast_date",
                f"every lane needs horizon days 0..{horizon_days - 1} at every decision date; "
                f"{len(short)} decision date(s) are incomplete",
                np.arange(len(short)),
                examples,
            )
        )
    if collector.problems:
        raise DataContractError(collector.problems, {name: source} if source else None)
    return keyed.assign(lane_id=keyed["lane_id"].astype("int64")).reset_index(drop=True)


def provided_forecaster(
    raw: pd.DataFrame,
    panels: DemandPanels,
    lanes: pd.DataFrame,
    splits: TimeSplits,
    horizon_days: int,
    quantiles: list[float],
    prior_weight: float,
    source: str | None = None,
) -> ProvidedForecast:
    """Validate a planner's forecast table and wrap it as a forecaster.

    The dispersion per lane comes from the table's errors on forecast days before
    the test period with known sales (the method of moments of
    :func:`~orpr_kedro.core.forecasting.uncertainty.estimate_dispersion`).
    """
    table = validate_forecast_table(raw, lanes, splits.decision_dates(), horizon_days, source)
    dates = pd.DatetimeIndex(sorted(table["forecast_date"].unique()))
    n_lanes = len(lanes)
    lane, date_row = table["lane_id"].to_numpy(), dates.get_indexer(table["forecast_date"])
    h = table["horizon_day"].to_numpy().astype("int64")

    def cube(values: Any) -> np.ndarray:
        out = np.full((n_lanes, len(dates), horizon_days), np.nan, dtype="float32")
        out[lane, date_row, h] = np.asarray(values, dtype="float32")
        return out

    mean = cube(table["forecast_mean"])
    levels = _quantile_levels(table)
    quantile_values = {level: cube(table[column]) for column, level in levels.items() if level in quantiles}
    target = panels.day_index(table["forecast_date"] + pd.to_timedelta(h, unit="D"))
    inside = (target >= 0) & (target < panels.n_history_days)
    actual = np.full(len(table), np.nan)
    actual[inside] = panels.sales[lane[inside], target[inside]]
    before_test = (table["forecast_date"] + pd.to_timedelta(h, unit="D") < splits.test_start).to_numpy()
    usable = before_test & np.isfinite(actual)
    forecast_mean = table["forecast_mean"].to_numpy(dtype="float64")
    if usable.any():
        dispersion, pooled = estimate_dispersion(
            actual[usable], forecast_mean[usable], lane[usable], n_lanes, prior_weight
        )
    else:
        logger.warning(
            "raw_forecast: no forecast day with known sales before the test period; dispersion %g on every lane",
            _DEFAULT_DISPERSION,
        )
        dispersion, pooled = np.full(n_lanes, _DEFAULT_DISPERSION), _DEFAULT_DISPERSION
    check_finite(np.where(np.isnan(mean), 0.0, mean), np.arange(n_lanes), "raw_forecast")
    logger.info(
        "Using the provided forecast (raw_forecast: %s rows, %s forecast dates, quantiles %s) instead of the model",
        f"{len(table):,}",
        len(dates),
        ", ".join(quantile_column(level) for level in sorted(quantile_values)) or "none",
    )
    return ProvidedForecast(
        dates=dates,
        mean=mean,
        quantile_values=quantile_values,
        dispersion=dispersion,
        global_dispersion=pooled,
        horizon_days=horizon_days,
        quantiles=tuple(quantiles),
    )
