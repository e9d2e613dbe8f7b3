"""Project datasets: the Gurobi licence from credentials, write-then-rename saves."""

import pickle
import subprocess
import warnings
from pathlib import Path

import pandas as pd
import pytest
import torch
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from kedro.io import Version
from kedro.io.core import DatasetError

from orpr_kedro.core.optimization import GurobiLicence
from orpr_kedro.datasets import (
    AtomicCSVDataset,
    AtomicJSONDataset,
    AtomicParquetDataset,
    AtomicPickleDataset,
    GurobiLicenceDataset,
    TorchModelDataset,
)

PROJECT_ROOT = Path(__file__).resolve().parents[1]
TEMPLATE = PROJECT_ROOT / "conf" / "local" / "credentials.yml.template"
WLS = {"WLSACCESSID": "access-id-0000", "WLSSECRET": "secret-value-1234", "LICENSEID": 2345678}


def test_the_dataset_loads_the_licence_and_masks_its_values():
    dataset = GurobiLicenceDataset(credentials=WLS, metadata={"kedro-viz": {"layer": "raw"}})
    licence = dataset.load()
    assert isinstance(licence, GurobiLicence) and licence.kind == "wls"
    assert licence.env_params()["WLSSecret"] == "secret-value-1234"
    shown = repr(dataset) + str(dataset._describe()) + repr(licence)
    assert "wls" in shown and "WLSSecret" in shown
    assert "secret-value-1234" not in shown and "access-id-0000" not in shown and "2345678" not in shown
    assert dataset.exists()


@pytest.mark.parametrize("credentials", [None, {}])
def test_no_credentials_give_the_pip_licence(credentials):
    licence = GurobiLicenceDataset(credentials=credentials).load()
    assert licence == GurobiLicence() and licence.kind == "pip" and licence.env_params() == {}


def test_bad_credentials_and_saving_fail_clearly():
    with pytest.raises(DatasetError, match="GurobiLicenceDataset: a WLS licence needs .* lack LicenseID"):
        GurobiLicenceDataset(credentials={"WLSACCESSID": "a", "WLSSECRET": "b"})
    with pytest.raises(DatasetError, match="read-only"):
        GurobiLicenceDataset().save(GurobiLicence())


def test_the_template_is_committed_and_the_real_files_are_ignored():
    def ignored(path: str) -> bool:
        return subprocess.run(["git", "check-ignore", "-q", path], check=False, cwd=PROJECT_ROOT).returncode == 0

    assert not ignored("conf/local/credentials.yml.template")
    assert ignored("conf/local/credentials.yml") and ignored("conf/prod/credentials.yml")
    assert not ignored("conf/base/credential_defaults.yml")


def test_the_template_is_valid_once_filled_in():
    template = yaml.safe_load(TEMPLATE.read_text())
    assert set(template) == {"gurobi", "object_storage"}
    with pytest.raises(ValueError, match="LicenseID must be a positive integer"):  # copied unchanged: a clear error
        GurobiLicence(template["gurobi"])
    filled = {key: (7 if key == "LICENSEID" else "value") for key in template["gurobi"]}
    assert GurobiLicence(filled).kind == "wls"


def _catalog(project: Path, env: str | None):
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env=env) as session:
        return session.load_context().catalog


def test_a_fresh_checkout_runs_on_the_pip_licence(project_copy: Path):
    assert not list((project_copy / "conf").glob("**/credentials.yml"))
    assert _catalog(project_copy, "test").load("gurobi_licence").kind == "pip"


def test_credentials_of_the_environment_reach_the_dataset(project_copy: Path, monkeypatch):
    # local: the values in conf/local/credentials.yml
    (project_copy / "conf/local/credentials.yml").write_text(yaml.safe_dump({"gurobi": WLS}))
    catalog = _catalog(project_copy, None)
    assert catalog.load("gurobi_licence").env_params()["WLSSecret"] == "secret-value-1234"
    assert "secret-value-1234" not in repr(catalog) + repr(catalog.get("gurobi_licence"))

    # prod reads conf/prod (not conf/local); here the values come from environment variables
    monkeypatch.setenv("GRB_WLSACCESSID", "env-access-id")
    monkeypatch.setenv("GRB_WLSSECRET", "env-secret-value")
    monkeypatch.setenv("GRB_LICENSEID", "424242")
    (project_copy / "conf/prod/credentials.yml").write_text(
        "gurobi:\n"
        "  WLSACCESSID: ${oc.env:GRB_WLSACCESSID}\n"
        "  WLSSECRET: ${oc.env:GRB_WLSSECRET}\n"
        "  LICENSEID: ${oc.env:GRB_LICENSEID}\n"
    )
    licence = _catalog(project_copy, "prod").load("gurobi_licence")
    assert licence.env_params() == {
        "WLSAccessID": "env-access-id",
        "WLSSecret": "env-secret-value",
        "LicenseID": 424242,
    }


@pytest.mark.parametrize(
    ("dataset_class", "good", "bad"),
    [
        (AtomicParquetDataset, pd.DataFrame({"units": [1, 2]}), pd.DataFrame({"units": [1, "two"]})),
        (AtomicCSVDataset, pd.DataFrame({"units": [1, 2]}), pd.DataFrame({"units": [1, 2]}).astype(object)),
        (AtomicPickleDataset, {"units": [1, 2]}, {"units": lambda: 1}),
        (AtomicJSONDataset, {"units": [1, 2]}, {"units": {1, 2}}),
    ],
)
def test_a_failed_save_leaves_the_previous_file_and_no_partial(tmp_path: Path, dataset_class, good, bad):
    dataset = dataset_class(filepath=str(tmp_path / "table"))
    dataset.save(good)
    before = (tmp_path / "table").read_bytes()
    if dataset_class is AtomicCSVDataset:  # a CSV can hold anything: fail in the writer instead
        dataset = dataset_class(filepath=str(tmp_path / "table"), save_args={"compression": "no-such-codec"})
    with pytest.raises(DatasetError):
        dataset.save(bad)
    assert (tmp_path / "table").read_bytes() == before
    assert [path.name for path in tmp_path.iterdir()] == ["table"]


def test_versioned_atomic_saves_land_in_their_version_folder(tmp_path: Path):
    dataset = AtomicCSVDataset(
        filepath=str(tmp_path / "kpis.csv"),
        version=Version(None, "2026-01-01T00.00.00.000Z"),
        save_args={"index": False},
    )
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no "save version does not match load version"
        dataset.save(pd.DataFrame({"cost": [1.5]}))
    assert [p.relative_to(tmp_path).as_posix() for p in tmp_path.rglob("*") if p.is_file()] == [
        "kpis.csv/2026-01-01T00.00.00.000Z/kpis.csv"
    ]
    assert dataset.load()["cost"].tolist() == [1.5]


def test_torch_model_saves_write_then_rename(tmp_path: Path):
    dataset = TorchModelDataset(filepath=tmp_path / "model.pt")
    dataset.save({"state_dict": {"w": torch.ones(2)}})
    with pytest.raises(DatasetError, match="weights_only"):
        dataset.save({"policy": object()})
    assert torch.equal(dataset.load()["state_dict"]["w"], torch.ones(2))
    assert [path.name for path in tmp_path.iterdir()] == ["model.pt"]


def test_lane_block_dataset_round_trip_moves_spilled_blocks(tmp_path):
    from orpr_kedro.core.data.blocks import LaneBlocks, map_blocks, spill_folder
    from orpr_kedro.core.executor import TaskExecutor
    from orpr_kedro.core.params import ExecutorParams
    from orpr_kedro.datasets import LaneBlockDataset

    frame = pd.DataFrame({"lane_id": [0, 1, 2, 3, 4], "units": [1.0, 2.0, 3.0, 4.0, 5.0]})
    with TaskExecutor(ExecutorParams(kind="serial"), progress=False) as executor:
        result = map_blocks(
            _identity_block,
            blocked={"sales": LaneBlocks.from_frame(frame, 2, 3)},
            outputs=("sales",),
            executor=executor,
            spill=spill_folder(str(tmp_path / "spill")),
        )
    spilled = result.tables["sales"]
    dataset = LaneBlockDataset(filepath=str(tmp_path / "table"))
    dataset.save(spilled)
    # moved, not copied: the spill folder no longer holds the blocks
    assert not any(Path(url).exists() for url in spilled.parts.values())
    loaded = dataset.load()
    assert loaded.lanes_per_block == 2 and loaded.n_blocks == 3
    assert loaded.concat().equals(frame)
    # a second save over it (from a loaded table: copied) replaces the folder whole
    LaneBlockDataset(filepath=str(tmp_path / "copy")).save(loaded)
    dataset.save(LaneBlocks.from_frame(frame.head(2), 2, 1))
    assert dataset.load().n_blocks == 1
    assert sorted(p.name for p in (tmp_path / "table").iterdir()) == ["_blocks.json", "block-00000.parquet"]
    assert LaneBlockDataset(filepath=str(tmp_path / "copy")).load().concat().equals(frame)


def _identity_block(sales):
    return {"sales": sales}


def test_parquet_source_reads_a_folder_like_a_file(tmp_path):
    from orpr_kedro.datasets import ParquetSourceDataset

    frame = pd.DataFrame({"sku_id": [f"S{i % 3}" for i in range(10)], "units": list(range(10))})
    file_source = ParquetSourceDataset(filepath=str(tmp_path / "sales.parquet"), batch_rows=4)
    file_source.save(frame)  # what `kedro demo-data` does
    folder = tmp_path / "sales"
    folder.mkdir()
    for number, start in enumerate(range(0, 10, 3)):  # part-00000 .. part-00003, 3 rows each (1 in the last)
        frame.iloc[start : start + 3].to_parquet(folder / f"part-{number:05d}.parquet", index=False)
    (folder / "_SUCCESS").write_text("")  # skipped, as pyarrow does
    folder_source = ParquetSourceDataset(filepath=str(folder), batch_rows=4)
    assert folder_source.exists() and not ParquetSourceDataset(filepath=str(tmp_path / "none")).exists()

    from_file, from_folder = file_source.load(), folder_source.load()
    assert pickle.loads(pickle.dumps(from_folder)) == from_folder  # a handle a task can take to another process
    assert [Path(path).name for path in from_folder.files()] == [f"part-{n:05d}.parquet" for n in range(4)]
    assert from_file.num_rows() == from_folder.num_rows() == 10
    pd.testing.assert_frame_equal(from_folder.read(), from_file.read())
    pd.testing.assert_frame_equal(from_file.read(), frame)
    # batches of at most batch_rows rows, in the table's order (a folder's batches end with its files)
    assert [batch.num_rows for batch in from_file.batches()] == [4, 4, 2]
    assert [batch.num_rows for batch in from_folder.batches()] == [3, 3, 3, 1]
    streamed = pd.concat([batch.to_pandas() for batch in from_folder.batches(columns=["units"])], ignore_index=True)
    assert streamed["units"].tolist() == list(range(10))
    with pytest.raises(DatasetError, match="no Parquet file or folder"):
        ParquetSourceDataset(filepath=str(tmp_path / "none")).load()
