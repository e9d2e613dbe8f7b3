"""Whole-run atomicity through real Kedro runs on the conf/test environment.

One completed ``kedro run`` (every stage) is the previous run. A later run that fails
in its last stage, or is killed after its first stages, must leave every file under
``data/test`` byte for byte as it was; a completed run publishes every output.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.framework.project import pipelines
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.runner import ParallelRunner, SequentialRunner, ThreadRunner

from orpr_kedro.cli import cli

DATA = Path("data/test")
RAW = DATA / "01_raw"
MANIFESTS = DATA / "08_reporting/run_manifests"
STAGING = DATA / ".staging"
CHECKPOINTS = DATA / "06_models/rl_checkpoints"  # resume state of rl_alignment, written outside the catalog
# valid at start-up (`kedro run --params evaluation.field_test.pre_weeks=60`), but the field
# test then needs more history than the data has: the evaluation node that designs it
# raises, after every earlier stage has saved its outputs
LATE_FAILURE = {"evaluation": {"field_test": {"pre_weeks": 60}}}


def _checksums(project: Path) -> dict[str, str]:
    """sha256 of every file under data/test."""
    root = project / DATA
    return {
        path.relative_to(project).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file()
    }


def _manifests(project: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((project / MANIFESTS).glob("*.json"))]


def _run(project: Path, pipeline: str = "__default__", runtime_params: dict | None = None, **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="test", runtime_params=runtime_params) as session:
        session.run(pipeline_names=[pipeline], **kwargs)


def _file_outputs(project: Path, pipeline: str) -> dict[str, tuple[Path, bool]]:
    """name -> (file, versioned) of every file output of ``pipeline`` in the test catalog."""
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="test") as session:
        catalog = session.load_context().catalog
        found = {}
        for name in pipelines[pipeline].all_outputs():
            dataset = catalog.get(name)
            if dataset is not None and getattr(dataset, "_filepath", None) is not None:
                found[name] = (Path(str(dataset._filepath)), getattr(dataset, "_version", None) is not None)
    return found


def _double_sales(project: Path) -> None:
    """New, valid raw data: every stage's outputs would differ from the previous run's."""
    path = project / RAW / "sales.parquet"
    sales = pd.read_parquet(path)
    sales.assign(sales_units=sales["sales_units"] * 2).to_parquet(path, index=False)


@pytest.fixture(scope="module")
def completed_project(tmp_path_factory) -> Path:
    """A project copy with the test data and one completed run of every stage."""
    from tests.conftest import copy_project

    project = copy_project(tmp_path_factory.mktemp("atomic"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        result = CliRunner().invoke(cli, ["demo-data", "--env", "test"])
        assert result.exit_code == 0, result.output
        _run(project)
    shutil.copytree(project / RAW, project / "raw_backup")
    return project


@pytest.fixture()
def project(completed_project: Path, monkeypatch) -> Path:
    """The completed project with its own raw files."""
    monkeypatch.chdir(completed_project)
    shutil.rmtree(completed_project / RAW)
    shutil.copytree(completed_project / "raw_backup", completed_project / RAW)
    return completed_project


def _new_files_are_the_failed_runs_own(project: Path, before: dict[str, str], run_id: str) -> None:
    """Files the failed run added: its manifest, its version folders, its staging folder, RL resume state."""
    for name in set(_checksums(project)) - set(before):
        allowed = (
            name == f"{MANIFESTS.as_posix()}/{run_id}.json"
            or f"/{run_id}/" in name  # a version folder of a versioned dataset
            or name.startswith((f"{STAGING.as_posix()}/{run_id}/", f"{CHECKPOINTS.as_posix()}/"))
        )
        assert allowed, f"the failed run published {name}"


@pytest.mark.slow
def test_a_completed_run_publishes_every_output(project: Path):
    outputs = _file_outputs(project, "__default__")
    manifest = _manifests(project)[0]  # the fixture's run of every stage
    unversioned = {name for name, (_, versioned) in outputs.items() if not versioned}
    assert set(manifest["replaced_outputs"]) == unversioned
    assert set(manifest["versioned_outputs"]) == {name for name, (_, versioned) in outputs.items() if versioned}
    assert not (project / STAGING).exists()
    # the newest completed run wrote the files as they are now
    newest = [m for m in _manifests(project) if m["status"] == "completed"][-1]
    for name, digest in newest["replaced_outputs"].items():
        path = outputs[name][0]
        if path.is_file():
            assert digest == f"sha256:{hashlib.sha256(path.read_bytes()).hexdigest()}", name
        else:
            assert digest is None and any(path.iterdir()), name  # a folder of figures


@pytest.mark.slow
def test_a_failure_in_the_last_stage_changes_no_earlier_output(project: Path, caplog):
    _double_sales(project)
    before = _checksums(project)
    with caplog.at_level("INFO"), pytest.raises(ValueError, match="field test dates must satisfy"):
        _run(project, runtime_params=LATE_FAILURE)
    after = _checksums(project)
    assert {name: after.get(name) for name in before} == before
    failed = _manifests(project)[-1]
    _new_files_are_the_failed_runs_own(project, before, failed["run_id"])
    # it did fail late: the earlier stages had written their models and tables
    assert failed["status"] == "failed"
    assert {"ftr_demand_forecaster", "mdl_foundation_model", "mdl_orpr_policy"} <= set(failed["versioned_outputs"])
    assert {"int_sales", "prm_lanes", "mi_or_labels", "mi_pretraining_samples"} <= set(failed["unpublished_outputs"])
    assert failed["replaced_outputs"] == {}
    staged = project / STAGING / failed["run_id"]
    assert failed["staging_folder"] == str(staged)
    assert f"they stay in {staged} for inspection" in caplog.text
    assert (staged / "05_model_input/or_labels.parquet").is_file()

    # outside a run, as in the notebook, versioned tables are the completed run's as well
    completed = [m for m in _manifests(project) if m["status"] == "completed"][-1]
    reports = project / DATA / "08_reporting/forecast_accuracy.csv"
    newest = sorted(reports.glob("*/forecast_accuracy.csv"))[-1]
    assert newest.parent.name == failed["run_id"]
    shown = pd.read_csv(reports / completed["run_id"] / "forecast_accuracy.csv")
    assert not pd.read_csv(newest).equals(shown)
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="test") as session:
        pd.testing.assert_frame_equal(session.load_context().catalog.load("rpt_forecast_accuracy"), shown)

    # the next run removes what the failed one left, and publishes its own outputs
    with caplog.at_level("WARNING"):
        _run(project, pipeline="data_processing")
    assert f"Removing {staged}: the unpublished outputs of run {failed['run_id']}, which failed" in caplog.text
    assert not (project / STAGING).exists()
    latest = _manifests(project)[-1]
    assert latest["status"] == "completed" and "int_sales" in latest["replaced_outputs"]


@pytest.mark.slow
def test_a_run_killed_after_its_first_stages_changes_no_earlier_output(project: Path, caplog):
    _double_sales(project)
    before = _checksums(project)
    runs = len(_manifests(project))
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    # its own process group, so that the kill reaches every process the run started
    with subprocess.Popen(  # noqa: S603 - the project's own CLI
        [sys.executable, "-m", "kedro", "run", "--env", "test"],
        cwd=project,
        env=environment,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    ) as run:
        deadline = time.monotonic() + 300
        while not list((project / STAGING).glob("*/05_model_input/or_labels.parquet")):
            assert run.poll() is None, "the run ended before or_labeling had written its labels"
            assert time.monotonic() < deadline, "or_labeling did not write its labels in time"
            time.sleep(0.05)
        os.killpg(run.pid, signal.SIGKILL)
        run.wait()
    [staged] = (project / STAGING).iterdir()
    assert len(_manifests(project)) == runs  # a killed run writes no manifest
    after = _checksums(project)
    assert {name: after.get(name) for name in before} == before
    _new_files_are_the_failed_runs_own(project, before, staged.name)

    with caplog.at_level("WARNING"):
        _run(project, pipeline="data_processing")
    assert f"Removing {staged}: the unpublished outputs of run {staged.name}, which was interrupted" in caplog.text
    assert not (project / STAGING).exists()


@pytest.mark.slow
@pytest.mark.parametrize("runner", [SequentialRunner, ThreadRunner, ParallelRunner], ids=lambda r: r.__name__)
def test_every_runner_publishes_the_run_and_records_it(project: Path, runner, monkeypatch):
    # workers forked from a process that has run torch and LightGBM (OpenMP threads) can crash
    monkeypatch.setenv("KEDRO_MP_CONTEXT", "spawn")
    _double_sales(project)
    _run(project, pipeline="data_processing", runner=runner())
    manifest = _manifests(project)[-1]
    outputs = _file_outputs(project, "data_processing")
    assert manifest["status"] == "completed"
    assert set(manifest["versioned_outputs"]) == {name for name, (_, versioned) in outputs.items() if versioned}
    assert set(manifest["replaced_outputs"]) == {name for name, (_, versioned) in outputs.items() if not versioned}
    sales = pd.read_parquet(project / DATA / "03_primary/daily_sales")
    raw = pd.read_parquet(project / RAW / "sales.parquet")
    assert sales["sales_units"].sum() == raw["sales_units"].sum()  # the new data, published
    assert not (project / STAGING).exists()


@pytest.mark.slow
def test_only_missing_outputs_reads_the_published_tables(project: Path):
    missing = project / DATA / "05_model_input/forecast_errors"
    shutil.rmtree(missing)
    before = _checksums(project)
    _run(project, pipeline="data_processing", only_missing_outputs=True)
    manifest = _manifests(project)[-1]
    assert set(manifest["replaced_outputs"]) == {"mi_forecast_errors"}
    assert (missing / "_blocks.json").is_file()
    after = _checksums(project)
    assert {name: after[name] for name in before} == before
