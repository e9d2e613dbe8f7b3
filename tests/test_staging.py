"""The staging of unversioned outputs on real datasets and a real catalog (no Kedro session)."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import matplotlib

matplotlib.use("Agg")

import matplotlib.pyplot as plt  # noqa: E402
import pandas as pd  # noqa: E402
import pytest  # noqa: E402
from kedro.io import DataCatalog, MemoryDataset  # noqa: E402
from kedro_datasets.matplotlib import MatplotlibDataset  # noqa: E402

from orpr_kedro.datasets import AtomicCSVDataset, AtomicParquetDataset  # noqa: E402
from orpr_kedro.staging import RunStaging, StagedDataset, recover_leftovers  # noqa: E402

OLD, NEW = pd.DataFrame({"lane_id": [0, 1]}), pd.DataFrame({"lane_id": [0, 1, 2]})


def _figure(title: str):
    figure, axes = plt.subplots()
    axes.set_title(title)
    return figure


@pytest.fixture()
def published(tmp_path: Path) -> Path:
    """A data root holding the previous run's lanes table and figures folder."""
    root = tmp_path / "data"
    AtomicParquetDataset(filepath=str(root / "03_primary/lanes.parquet")).save(OLD)
    MatplotlibDataset(filepath=str(root / "08_reporting/figures")).save({"old.png": _figure("old")})
    return root


def _catalog(root: Path) -> DataCatalog:
    return DataCatalog(
        {
            "prm_lanes": AtomicParquetDataset(filepath=str(root / "03_primary/lanes.parquet")),
            "rpt_report_figures": MatplotlibDataset(filepath=str(root / "08_reporting/figures")),
            "rpt_kpis": AtomicCSVDataset(filepath=str(root / "08_reporting/kpis.csv"), version=None),
            "scratch": MemoryDataset(),
        }
    )


def _files(root: Path) -> dict[str, bytes]:
    return {path.relative_to(root).as_posix(): path.read_bytes() for path in sorted(root.rglob("*")) if path.is_file()}


def _published_files(root: Path) -> dict[str, bytes]:
    return {name: content for name, content in _files(root).items() if not name.startswith(".staging/")}


def _staged_run(root: Path, run_id: str = "run-1") -> tuple[DataCatalog, RunStaging]:
    catalog = _catalog(root)
    staging = RunStaging(str(root), run_id)
    staging.stage(catalog, ["prm_lanes", "rpt_report_figures", "scratch", "not_in_the_catalog"])
    catalog.save("prm_lanes", NEW)
    catalog.save("rpt_report_figures", {"new.png": _figure("new")})
    return catalog, staging


def test_a_run_reads_its_staged_outputs_and_publishes_them_with_its_manifest_last(published: Path):
    before = _files(published)
    original = _catalog(published)
    catalog, staging = _staged_run(published)
    assert sorted(staging.outputs) == ["prm_lanes", "rpt_report_figures"]  # memory and unknown names: not files
    assert isinstance(catalog.get("prm_lanes"), StagedDataset)
    assert catalog.load("prm_lanes").equals(NEW)  # the run sees its own table
    assert _published_files(published) == before  # ... and nobody else sees it yet
    assert (published / ".staging/run-1/03_primary/lanes.parquet").is_file()
    assert (published / ".staging/run-1/08_reporting/figures/new.png").is_file()

    manifest_url = str(published / "08_reporting/run_manifests/run-1.json")
    staging.publish({"run_id": "run-1", "status": "completed"}, manifest_url)
    assert pd.read_parquet(published / "03_primary/lanes.parquet").equals(NEW)
    assert sorted(path.name for path in (published / "08_reporting/figures").iterdir()) == ["new.png"]
    assert json.loads(Path(manifest_url).read_text())["status"] == "completed"
    assert not (published / ".staging").exists()
    assert type(catalog.get("prm_lanes")) is type(original.get("prm_lanes"))  # the catalog has its datasets back


def test_an_output_the_run_did_not_write_reads_the_published_file(published: Path):
    catalog = _catalog(published)
    RunStaging(str(published), "run-1").stage(catalog, ["prm_lanes"])
    assert catalog.exists("prm_lanes")  # --only-missing-outputs sees the published table
    assert catalog.load("prm_lanes").equals(OLD)


def test_a_failed_run_publishes_nothing_and_the_next_run_removes_its_staging_folder(published: Path, caplog):
    before = _files(published)
    _, staging = _staged_run(published)
    with caplog.at_level("ERROR", logger="orpr_kedro.staging"):
        staging.abandon("failed (ValueError)")
    assert f"they stay in {published}/.staging/run-1 for inspection" in caplog.text
    assert _published_files(published) == before
    plan = json.loads((published / ".staging/run-1/run.json").read_text())
    assert plan["status"] == "failed" and plan["pid"] is None

    with caplog.at_level("WARNING", logger="orpr_kedro.staging"):
        recover_leftovers(str(published), "run-2")
    assert f"Removing {published}/.staging/run-1: the unpublished outputs of run run-1, which failed" in caplog.text
    assert _files(published) == before


def test_a_run_stopped_after_its_commit_is_published_by_the_next_run(published: Path, caplog):
    """The commit record makes publishing repeatable: a run killed while moving files is finished later."""
    _, staging = _staged_run(published)
    manifest_url = str(published / "08_reporting/run_manifests/run-1.json")
    staging.commit({"run_id": "run-1", "status": "completed"}, manifest_url)  # ... and the process dies here
    assert pd.read_parquet(published / "03_primary/lanes.parquet").equals(OLD)
    assert not Path(manifest_url).exists()

    with caplog.at_level("WARNING", logger="orpr_kedro.staging"):
        recover_leftovers(str(published), "run-2")
    assert "Run run-1 completed but was stopped while publishing its outputs; publishing them now" in caplog.text
    assert pd.read_parquet(published / "03_primary/lanes.parquet").equals(NEW)
    assert sorted(path.name for path in (published / "08_reporting/figures").iterdir()) == ["new.png"]
    assert json.loads(Path(manifest_url).read_text()) == {"run_id": "run-1", "status": "completed"}
    assert not (published / ".staging").exists()


def test_the_staging_folder_of_a_live_process_is_left_alone(published: Path):
    _, staging = _staged_run(published)
    plan_file = published / ".staging/run-1/run.json"
    with subprocess.Popen(["sleep", "30"]) as other:  # noqa: S607 - a live process that owns the folder
        try:
            plan_file.write_text(json.dumps({**json.loads(plan_file.read_text()), "pid": other.pid}))
            recover_leftovers(str(published), "run-2")
            assert plan_file.exists()
        finally:
            other.kill()
    other.wait()
    recover_leftovers(str(published), "run-2")  # its owner has gone: removed
    assert not (published / ".staging").exists()
    assert staging.outputs["prm_lanes"].target == str(published / "03_primary/lanes.parquet")


def test_an_output_outside_the_data_root_is_staged_beside_it(tmp_path: Path):
    elsewhere = tmp_path / "exports" / "orders.csv"
    catalog = DataCatalog({"mo_orders": AtomicCSVDataset(filepath=str(elsewhere), save_args={"index": False})})
    staging = RunStaging(str(tmp_path / "data"), "run-1")
    staging.stage(catalog, ["mo_orders"])
    catalog.save("mo_orders", NEW)
    assert (tmp_path / "exports/.staging/run-1/orders.csv").is_file() and not elsewhere.exists()
    staging.publish({"run_id": "run-1"}, str(tmp_path / "data/08_reporting/run_manifests/run-1.json"))
    assert pd.read_csv(elsewhere).equals(NEW)
    assert not (tmp_path / "exports/.staging").exists() and not (tmp_path / "data/.staging").exists()
