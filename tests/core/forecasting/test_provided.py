"""Bring your own forecast: the raw_forecast table behind the forecaster interface."""

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.data.contract import DataContractError
from orpr_kedro.core.forecasting import model as fc
from orpr_kedro.core.forecasting.provided import ProvidedForecast, provided_forecaster


@pytest.fixture(scope="module")
def processed(tiny_processed, fast_params):
    panels = fc.build_demand_panels(
        tiny_processed["daily_sales"],
        tiny_processed["promotion_days"],
        tiny_processed["lanes"],
        tiny_processed["splits"].data_end,
        fast_params.forecast.horizon_days,
    )
    return tiny_processed, panels


def planner_forecast(lanes: pd.DataFrame, dates: pd.DatetimeIndex, horizon: int) -> pd.DataFrame:
    """A planner's table: lane l forecasts l + horizon_day / 10 units a day, q0.9 = 1.5 x that."""
    grid = pd.MultiIndex.from_product(
        [lanes["lane_id"], dates, range(horizon)], names=["lane_id", "forecast_date", "horizon_day"]
    ).to_frame(index=False)
    table = grid.merge(lanes[["lane_id", "sku_id", "dc_id"]], on="lane_id")
    table["forecast_mean"] = table["lane_id"] + table["horizon_day"] / 10
    table["q0.9"] = 1.5 * table["forecast_mean"]
    return table.drop(columns="lane_id")


def test_provided_forecast_replaces_the_model(processed, fast_params):
    data, panels = processed
    lanes, splits = data["lanes"], data["splits"]
    horizon = fast_params.forecast.horizon_days
    raw = planner_forecast(lanes, splits.decision_dates(), horizon)
    forecaster = provided_forecaster(raw, panels, lanes, splits, horizon, fast_params.forecast.quantiles, 30.0)
    assert isinstance(forecaster, ProvidedForecast) and isinstance(forecaster, fc.Forecaster)
    table = fc.forecast_table(forecaster, panels, splits)
    row = table[(table["lane_id"] == 3) & (table["horizon"] == 5)].iloc[0]
    assert row["forecast_mean"] == pytest.approx(3.5)
    assert row["q0.9"] == pytest.approx(5.25)  # given in the table
    # not given: the negative binomial around the mean with the table's own dispersion
    phi = forecaster.dispersion[3]
    assert row["q0.1"] == fc.negative_binomial_quantile(0.1, np.array([3.5]), np.array([phi]))[0]
    assert row["forecast_std"] == pytest.approx(np.sqrt(3.5 + phi * 3.5**2), rel=1e-6)
    lane0 = table[table["lane_id"] == 0]
    np.testing.assert_array_equal(lane0["forecast_mean"], (lane0["horizon"] / 10).astype("float32"))
    # a date outside the table is an error, not a silent zero
    with pytest.raises(ValueError, match="raw_forecast has no rows for forecast date"):
        forecaster.predict_mean(panels, np.array([panels.day_index(splits.decision_dates())[0] + 1]))


def test_a_bad_forecast_table_names_file_column_and_rows(processed, fast_params):
    data, panels = processed
    lanes, splits = data["lanes"], data["splits"]
    horizon = fast_params.forecast.horizon_days
    raw = planner_forecast(lanes, splits.decision_dates(), horizon)
    raw.loc[4, "forecast_mean"] = -1.0
    raw.loc[9, "sku_id"] = "SKU_UNKNOWN"
    with pytest.raises(DataContractError) as caught:
        provided_forecaster(raw, panels, lanes, splits, horizon, [0.5], 30.0, source="data/01_raw/forecast.csv")
    message = str(caught.value)
    assert "raw_forecast (data/01_raw/forecast.csv): column 'forecast_mean': must be >= 0: 1 row(s) (rows 4)" in message
    raw.loc[4, "forecast_mean"] = 1.0
    with pytest.raises(DataContractError) as caught:
        provided_forecaster(raw, panels, lanes, splits, horizon, [0.5], 30.0)
    message = str(caught.value)
    assert "column 'sku_id, dc_id': unknown SKU-DC pair (not in raw_sku_dc_master): 1 row(s) (rows 9)" in message
    assert "every lane needs horizon days 0..27 at every decision date; 1 decision date(s) are incomplete" in message
