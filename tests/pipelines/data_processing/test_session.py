"""data_processing and the whole chain through a Kedro session on bad-but-valid data and on a provided forecast."""

import logging
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.cli import cli


@pytest.fixture(autouse=True)
def _restore_logging():
    """A Kedro session applies the project's logging configuration; later tests get the levels they had."""
    loggers = [logging.getLogger(), *(logging.getLogger(name) for name in list(logging.root.manager.loggerDict))]
    levels = {logger: logger.level for logger in loggers}
    yield
    for logger, level in levels.items():
        logger.setLevel(level)


def _latest(folder: Path, name: str) -> Path:
    return sorted((folder / name).glob(f"*/{name}"))[-1]


def _demo_data(project: Path, env: str, monkeypatch) -> Path:
    monkeypatch.chdir(project)
    result = CliRunner().invoke(cli, ["demo-data", "--env", env])
    assert result.exit_code == 0, result.output
    return project / "data" / env / "01_raw"


def _timed_run(project: Path) -> float:
    """Seconds one data_processing run of the test environment takes."""
    started = time.perf_counter()
    with KedroSession.create(project_path=project, env="test") as session:
        session.run(pipeline_name="data_processing")
    return time.perf_counter() - started


def test_a_zero_padded_lane_and_a_1e12_row_finish_with_bounded_forecasts(project_copy: Path, monkeypatch):
    """The two real-data hangs: a lane zero-padded for most of its history, one absurd sales row."""
    raw = _demo_data(project_copy, "test", monkeypatch)
    bootstrap_project(project_copy)
    normal = _timed_run(project_copy)  # the same data before the damage: the normal time
    sales = pd.read_parquet(raw / "sales.parquet")
    lanes = sales[["sku_id", "dc_id"]].drop_duplicates().reset_index(drop=True)
    padded, outlier = lanes.iloc[0], lanes.iloc[1]
    on_padded = (sales["sku_id"] == padded["sku_id"]) & (sales["dc_id"] == padded["dc_id"])
    opening = sales["date"].min() + pd.Timedelta(days=240)  # 240 of 300 days padded with zeros
    sales.loc[on_padded & (sales["date"] < opening), "sales_units"] = 0
    on_outlier = np.flatnonzero((sales["sku_id"] == outlier["sku_id"]) & (sales["dc_id"] == outlier["dc_id"]))
    sales.loc[on_outlier[100], "sales_units"] = 10**12
    sales.to_parquet(raw / "sales.parquet", index=False)

    damaged = _timed_run(project_copy)
    # in its normal time (the hang ran past 27 minutes); the margin absorbs a busy machine
    assert damaged < 3 * normal + 20, f"{damaged:.1f} s against {normal:.1f} s on the undamaged data"

    data = project_copy / "data/test"
    report = pd.read_csv(_latest(data / "08_reporting", "data_quality.csv"), dtype={"sku_id": str, "dc_id": str})
    leading = report[report["check"] == "leading_zeros"]
    assert leading[["sku_id", "dc_id", "action"]].values.tolist() == [[padded["sku_id"], padded["dc_id"], "trimmed"]]
    assert leading["days"].iloc[0] >= 240 - 7  # the lane's first sale comes at or soon after its opening
    capped = report[report["check"] == "outlier"]
    assert capped[["sku_id", "dc_id", "value", "action"]].values.tolist() == [
        [outlier["sku_id"], outlier["dc_id"], 1e12, "capped"]
    ]
    forecast = pd.read_parquet(data / "04_feature/demand_forecast")
    treated = pd.read_parquet(data / "03_primary/forecast_sales")
    assert np.isfinite(forecast[["forecast_mean", "forecast_std", "q0.9"]].to_numpy()).all()
    assert forecast["forecast_mean"].max() < 5 * treated["sales_units"].max()
    accuracy = pd.read_csv(_latest(data / "08_reporting", "forecast_accuracy.csv")).set_index(["model", "scope"])
    assert accuracy.loc[("forecast", "all"), "wape"] < accuracy.loc[("seasonal_naive", "all"), "wape"]


def _planner_forecast(raw: Path, horizon: int) -> pd.DataFrame:
    """A planner's forecast: each lane's mean of the 28 days before the forecast date, for every date
    from day 91 to the day after the inventory snapshot, with a q0.9 of 1.6 x the mean."""
    sales = pd.read_parquet(raw / "sales.parquet").sort_values(["sku_id", "dc_id", "date"])
    as_of = pd.read_csv(raw / "inventory_state.csv", parse_dates=["as_of_date"])["as_of_date"].iloc[0]
    level = (
        sales.groupby(["sku_id", "dc_id"])["sales_units"]
        .transform(lambda units: units.shift(1).rolling(28, min_periods=1).mean())
        .fillna(0.0)
    )
    daily = sales.assign(level=level)[["sku_id", "dc_id", "date", "level"]]
    after = daily.groupby(["sku_id", "dc_id"]).tail(1).assign(date=as_of + pd.Timedelta(days=1))
    daily = pd.concat([daily, after], ignore_index=True)
    daily = daily[daily["date"] >= sales["date"].min() + pd.Timedelta(days=91)]
    table = daily.loc[daily.index.repeat(horizon)].reset_index(drop=True)
    table["horizon_day"] = np.tile(np.arange(horizon), len(daily))
    return pd.DataFrame(
        {
            "sku_id": table["sku_id"],
            "dc_id": table["dc_id"],
            "forecast_date": table["date"].dt.strftime("%Y-%m-%d"),
            "horizon_day": table["horizon_day"],
            "forecast_mean": table["level"].round(3),
            "q0.9": (1.6 * table["level"]).round(3),
        }
    )


@pytest.mark.slow
def test_bring_your_own_forecast_runs_the_whole_chain(project_copy: Path, monkeypatch):
    raw = _demo_data(project_copy, "test-byof", monkeypatch)
    provided = _planner_forecast(raw, horizon=28)
    provided.to_csv(raw / "forecast.csv", index=False)
    bootstrap_project(project_copy)
    with KedroSession.create(project_path=project_copy, env="test-byof") as session:
        session.run()
    data = project_copy / "data/test-byof"
    forecast = pd.read_parquet(data / "04_feature/demand_forecast")
    lanes = pd.read_parquet(data / "03_primary/lanes.parquet")
    # the provided means and quantiles are the forecast, to float32
    first = lanes.iloc[0]
    mine = provided[(provided["sku_id"] == first["sku_id"]) & (provided["dc_id"] == first["dc_id"])]
    theirs = forecast[forecast["lane_id"] == first["lane_id"]]
    joined = theirs.assign(forecast_date=theirs["decision_date"].dt.strftime("%Y-%m-%d")).merge(
        mine, left_on=["forecast_date", "horizon"], right_on=["forecast_date", "horizon_day"]
    )
    assert len(joined) == len(theirs) > 0
    np.testing.assert_array_equal(joined["forecast_mean_x"], joined["forecast_mean_y"].astype("float32"))
    np.testing.assert_array_equal(joined["q0.9_x"], joined["q0.9_y"].astype("float32"))
    errors = pd.read_parquet(data / "05_model_input/forecast_errors")
    assert len(errors) > 0 and (errors["error"] == errors["actual"] - errors["forecast_mean"]).all()
    recommendations = pd.read_csv(data / "07_model_output/recommendations.csv", dtype={"sku_id": str, "dc_id": str})
    assert len(recommendations) == len(lanes)
    labels = pd.read_parquet(data / "05_model_input/or_labels.parquet")
    assert labels.groupby("decision_date")["lane_id"].nunique().eq(len(lanes)).all()
