"""Shared fixtures: a tiny generated data set and fast parameters."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from orpr_kedro.core.demo_data import DemoData, generate_demo_data
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


@pytest.fixture()
def project_copy(tmp_path: Path) -> Path:
    """A copy of the project (configuration and sources) in a temporary folder.

    Data written by a session run lands under the copy, never in the repository.
    """
    shutil.copy(PROJECT_ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    shutil.copytree(PROJECT_ROOT / "conf", tmp_path / "conf", ignore=shutil.ignore_patterns("local"))
    (tmp_path / "conf" / "local").mkdir()
    shutil.copytree(PROJECT_ROOT / "src", tmp_path / "src", ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    return tmp_path
