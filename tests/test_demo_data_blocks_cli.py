"""`kedro demo-data` in an environment with ``sku_block_size``: raw sales as a folder of part files."""

import shutil
from pathlib import Path

import pandas as pd
import pyarrow.parquet as pq
import pytest
import yaml
from click.testing import CliRunner

from orpr_kedro.cli import cli
from orpr_kedro.core.data import demo_data
from orpr_kedro.core.data.demo_data import generate_demo_data
from orpr_kedro.core.params import DemoDataConfig
from orpr_kedro.parquet_parts import ParquetPartsWriter

ENV = "scale_tiny"
RAW = Path("data") / ENV / "01_raw"


@pytest.fixture()
def scale_tiny(project_copy: Path, monkeypatch) -> DemoDataConfig:
    """conf/scale shrunk to 40 SKUs in blocks of 7 (6 part files), in data/scale_tiny."""
    conf = project_copy / "conf"
    shutil.copytree(conf / "scale", conf / ENV)
    settings = yaml.safe_load((conf / ENV / "demo_data.yml").read_text())
    settings.update({"n_skus": 40, "sku_block_size": 7, "n_days": 200, "start_date": "2025-03-01"})
    (conf / ENV / "demo_data.yml").write_text(yaml.safe_dump(settings))
    globals_file = conf / ENV / "globals.yml"
    globals_file.write_text(globals_file.read_text().replace("data/scale", f"data/{ENV}"))
    monkeypatch.chdir(project_copy)
    return DemoDataConfig.model_validate(settings)


def _run(*options: str):
    return CliRunner().invoke(cli, ["demo-data", "--env", ENV, *options])


def _files(folder: Path) -> dict[str, bytes]:
    return {str(path.relative_to(folder)): path.read_bytes() for path in sorted(folder.rglob("*")) if path.is_file()}


def test_the_sales_are_a_folder_of_complete_skus(scale_tiny):
    result = _run()
    assert result.exit_code == 0, result.output
    expected = generate_demo_data(scale_tiny, seed=20251219)
    assert f"wrote raw_sales: {len(expected.sales):,} rows in 6 part files" in result.output
    assert sorted(path.name for path in RAW.iterdir()) == [
        "category_targets.csv",
        "inventory_state.csv",
        "promotions.csv",
        "sales",
        "sku_dc_master.csv",
        "sku_master.csv",
    ]
    parts = sorted((RAW / "sales").iterdir())
    assert [path.name for path in parts] == [f"part-{i:05d}.parquet" for i in range(6)]
    skus_per_part = [pd.read_parquet(path)["sku_id"].unique().tolist() for path in parts]
    assert skus_per_part == [[f"SKU{i + 1:05d}" for i in range(first, min(first + 7, 40))] for first in range(0, 40, 7)]
    whole = pd.read_parquet(RAW / "sales")  # what the raw_sales dataset loads
    pd.testing.assert_frame_equal(whole, expected.sales)
    assert pq.read_schema(parts[0]).names == ["sku_id", "dc_id", "date", "sales_units", "price", "promo_flag"]
    lanes = pd.read_csv(RAW / "sku_dc_master.csv", dtype={"sku_id": str, "dc_id": str})
    assert lanes[["sku_id", "dc_id"]].equals(expected.sku_dc_master[["sku_id", "dc_id"]])


def test_existing_sales_are_replaced_only_with_force(scale_tiny):
    assert _run().exit_code == 0
    before = _files(RAW)
    again = _run()
    assert again.exit_code == 0 and "already present; nothing written" in again.output
    assert _files(RAW) == before
    (RAW / "sku_master.csv").unlink()  # one table missing: only it is written, the sales stay
    partly = _run()
    assert partly.exit_code == 0 and "wrote raw_sku_master: 40 rows" in partly.output
    assert "raw_sales" not in partly.output
    assert _files(RAW) == before
    (RAW / "sales" / "stray.parquet").write_bytes(b"not a part")
    forced = _run("--force")
    assert forced.exit_code == 0 and "in 6 part files" in forced.output
    assert sorted(path.name for path in (RAW / "sales").iterdir()) == [f"part-{i:05d}.parquet" for i in range(6)]
    assert _files(RAW) == before
    assert sorted(path.name for path in RAW.iterdir() if "partial" in path.name or "replaced" in path.name) == []


def test_a_failed_generation_writes_nothing(scale_tiny, monkeypatch):
    calls = []
    block = demo_data._block

    def second_block_fails(*args, **kwargs):
        calls.append(1)
        if len(calls) == 2:
            raise RuntimeError("killed in block 2")
        return block(*args, **kwargs)

    monkeypatch.setattr(demo_data, "_block", second_block_fails)
    result = _run()
    assert result.exit_code != 0 and "killed in block 2" in str(result.exception)
    assert not RAW.exists() or sorted(RAW.iterdir()) == []


def test_the_writer_casts_later_parts_and_refuses_to_replace(tmp_path):
    target = tmp_path / "sales"
    with ParquetPartsWriter(str(target)) as writer:
        writer.write(pd.DataFrame({"sku_id": ["A"], "sales_units": [1], "price": [2.5]}))
        writer.write(pd.DataFrame({"sku_id": ["B", "C"], "sales_units": [3, 4], "price": [1, 2]}, index=[7, 8]))
        assert not target.exists()  # nothing in place before the commit
        writer.commit()
    assert (writer.parts, writer.rows) == (2, 3)
    read = pd.read_parquet(target)
    pd.testing.assert_frame_equal(
        read, pd.DataFrame({"sku_id": ["A", "B", "C"], "sales_units": [1, 3, 4], "price": [2.5, 1.0, 2.0]})
    )
    with ParquetPartsWriter(str(target)) as second:
        second.write(pd.DataFrame({"sku_id": ["Z"], "sales_units": [9], "price": [0.5]}))
        with pytest.raises(FileExistsError):
            second.commit()
    assert sorted(path.name for path in tmp_path.iterdir()) == ["sales"]  # the temporary folder is gone
    pd.testing.assert_frame_equal(pd.read_parquet(target), read)
