"""`kedro run` errors a planner can read: an unknown pipeline, a data-contract breach, a parameter typo."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner

from orpr_kedro.cli import cli, unknown_pipeline_message
from orpr_kedro.pipeline_registry import pipeline_names

KEDRO = str(Path(sys.executable).with_name("kedro"))
STAGES = ["data_processing", "evaluation", "or_labeling", "pretraining", "recommend", "rl_alignment"]


def _kedro(project: Path, *args: str, **env: str) -> subprocess.CompletedProcess:
    environment = {key: value for key, value in os.environ.items() if key != "ORPR_TRACEBACK"}
    # the copy's sources, not an installed orpr_kedro
    environment.update(KEDRO_DISABLE_TELEMETRY="true", PYTHONPATH=str(project / "src"), **env)
    return subprocess.run(
        [KEDRO, *args], cwd=project, env=environment, capture_output=True, text=True, timeout=300, check=False
    )


def test_pipeline_names_are_the_stage_packages():
    assert pipeline_names() == ["__default__", *STAGES]


def test_unknown_pipeline_message_names_the_closest_match():
    known = pipeline_names()
    assert unknown_pipeline_message(["recommend"], known) is None
    assert unknown_pipeline_message(["orlabeling"], known) == (
        "unknown pipeline 'orlabeling' (did you mean 'or_labeling'?); known pipelines: "
        "__default__, data_processing, evaluation, or_labeling, pretraining, recommend, rl_alignment"
    )
    assert unknown_pipeline_message(["recommend", "xyz"], known).startswith("unknown pipeline 'xyz'; known")


def test_an_unknown_pipeline_is_one_line(project_copy: Path):
    result = _kedro(project_copy, "run", "--pipelines", "orlabeling")
    assert result.returncode == 1
    errors = [line for line in result.stderr.splitlines() if line.startswith("Error:")]
    assert errors == [
        "Error: unknown pipeline 'orlabeling' (did you mean 'or_labeling'?); known pipelines: "
        "__default__, data_processing, evaluation, or_labeling, pretraining, recommend, rl_alignment"
    ]
    assert "Traceback" not in result.stderr + result.stdout and "ImportError" not in result.stderr


@pytest.fixture()
def broken_raw_data(project_copy: Path, monkeypatch) -> Path:
    """The test environment's demo data with a negative lead time in the SKU-DC master."""
    monkeypatch.chdir(project_copy)
    assert CliRunner().invoke(cli, ["demo-data", "--env", "test"]).exit_code == 0
    master = project_copy / "data/test/01_raw/sku_dc_master.csv"
    table = pd.read_csv(master, dtype=str)
    table.loc[0, "lead_time_mean"] = "-3"
    table.to_csv(master, index=False)
    return project_copy


def test_a_contract_breach_prints_its_message_without_the_traceback(broken_raw_data: Path):
    result = _kedro(broken_raw_data, "run", "--env", "test", "--pipelines", "data_processing")
    assert result.returncode == 1
    assert "Error: DataContractError: Raw data failed validation" in result.stderr
    assert "raw_sku_dc_master (data/test/01_raw/sku_dc_master.csv): column 'lead_time_mean'" in result.stderr
    assert "Traceback" not in result.stderr and "(run with --verbose or ORPR_TRACEBACK=1" in result.stderr
    # Kedro's config loader's own deprecation warnings (about its OmegaConf calls) stay off the console
    assert "register_new_resolver" not in result.stdout + result.stderr

    verbose = _kedro(broken_raw_data, "run", "--env", "test", "--pipelines", "data_processing", ORPR_TRACEBACK="1")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr and "DataContractError" in verbose.stderr


def test_a_parameter_error_prints_the_key_without_the_traceback(project_copy: Path):
    result = _kedro(project_copy, "run", "--pipelines", "recommend", "--params", "recommend.batch_size=0")
    assert result.returncode == 1
    assert result.stderr.splitlines()[-3:] == [
        "Error: ParameterError: Invalid parameters:",
        "parameter 'recommend.batch_size': Input should be greater than or equal to 1 (got 0)",
        "(run with --verbose or ORPR_TRACEBACK=1 for the traceback)",
    ]
    assert "Traceback" not in result.stderr

    verbose = _kedro(project_copy, "run", "--pipelines", "recommend", "--params", "currency=eur", "--verbose")
    assert verbose.returncode == 1 and "Traceback" in verbose.stderr
    assert "parameter 'currency': expected a three-letter ISO 4217 code" in verbose.stderr
