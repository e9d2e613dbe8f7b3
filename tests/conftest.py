"""Shared fixtures: a tiny generated data set and fast parameters."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orpr_kedro.core.data.demo_data import DemoData, generate_demo_data
from orpr_kedro.core.params import DataProcessingParams, DemoDataConfig

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT_ROOT = Path(__file__).resolve().parents[1]

TINY = DemoDataConfig(start_date="2025-01-01", n_days=300, n_skus=16, n_dcs=2, n_categories=4, launch_share=0.0)


@pytest.fixture(scope="session")
def tiny_config() -> DemoDataConfig:
    """Demo-data settings small enough for unit tests."""
    return TINY


@pytest.fixture(scope="session")
def tiny_data() -> DemoData:
    """A tiny, valid raw data set (seed 7)."""
    return generate_demo_data(TINY, seed=7)


@pytest.fixture(scope="session")
def fast_params() -> DataProcessingParams:
    """data_processing parameters that train in seconds."""
    return DataProcessingParams.model_validate(
        {
            "splits": {"test_weeks": 4, "validation_weeks": 4},
            "forecast": {"horizon_days": 28, "max_iter": 40, "max_training_rows": 30_000, "min_samples_leaf": 20},
            "features": {"history_days": 14, "forecast_days": 14},
        }
    )


def copy_project(folder: Path) -> Path:
    """Copy the project's configuration (without ``conf/local``'s files) and sources into ``folder``."""
    shutil.copy(PROJECT_ROOT / "pyproject.toml", folder / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "conf", folder / "conf", ignore=shutil.ignore_patterns("local"))
    (folder / "conf" / "local").mkdir()
    shutil.copytree(PROJECT_ROOT / "src", folder / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return folder


@pytest.fixture()
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project (configuration and sources) in a temporary folder.

    Data written by a session run lands under the copy, never in the repository.
    """
    copy_project(tmp_path)
    shutil.copytree(PROJECT_ROOT / "notebooks", tmp_path / "notebooks")
    return tmp_path


@pytest.fixture(scope="session")
def tiny_processed(tiny_data, fast_params) -> dict:
    """The tiny data set through data_processing (core functions, no Kedro)."""
    from orpr_kedro.core.data.contract import validate_raw_tables
    from orpr_kedro.core.data.preparation import build_daily_sales, build_lanes, build_promotion_days
    from orpr_kedro.core.data.splits import make_time_splits
    from orpr_kedro.core.forecasting import model as forecasting

    tables = validate_raw_tables(tiny_data.as_catalog_entries())
    lanes = build_lanes(
        tables["raw_sku_master"], tables["raw_sku_dc_master"], tables["raw_category_targets"], fast_params.costs
    )
    sales = build_daily_sales(tables["raw_sales"], lanes)
    promotions = build_promotion_days(tables["raw_promotions"], lanes)
    splits = make_time_splits(
        sales["date"].min(), sales["date"].max(), fast_params.splits, sorted(lanes["category"].unique())
    )
    panels = forecasting.build_demand_panels(
        sales, promotions, lanes, splits.data_end, fast_params.forecast.horizon_days
    )
    forecaster = forecasting.fit_forecaster(panels, splits, fast_params.forecast, seed=3)
    return {
        "lanes": lanes,
        "daily_sales": sales,
        "promotion_days": promotions,
        "splits": splits,
        "forecaster": forecaster,
        "forecasts": forecasting.forecast_table(forecaster, panels, splits),
    }
