"""Bad client files and parameters through real Kedro runs on the conf/test environment.

Each case starts from the outputs of one good ``data_processing`` run, breaks one
input, runs again and checks the message and that every earlier output is byte for
byte what it was (the run stopped before its first write).
"""

from __future__ import annotations

import hashlib
import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.cli import cli
from orpr_kedro.hooks import MissingRunInputError

RAW = Path("data/test/01_raw")
OUTPUTS = Path("data/test")
MANIFESTS = OUTPUTS / "08_reporting/run_manifests"


def _checksums(project: Path) -> dict[str, str]:
    """sha256 of every output file of the test environment (raw files and run manifests aside)."""
    root = project / OUTPUTS
    return {
        path.relative_to(root).as_posix(): hashlib.sha256(path.read_bytes()).hexdigest()
        for path in sorted(root.rglob("*"))
        if path.is_file() and RAW.name not in path.parts and MANIFESTS.name not in path.parts
    }


def _manifests(project: Path) -> list[dict]:
    return [json.loads(path.read_text()) for path in sorted((project / MANIFESTS).glob("*.json"))]


def _run(project: Path, pipeline: str = "data_processing", **kwargs) -> None:
    bootstrap_project(project)
    with KedroSession.create(project_path=project, env="test") as session:
        session.run(pipeline_names=[pipeline], **kwargs)


@pytest.fixture(scope="module")
def processed_project(tmp_path_factory) -> Path:
    """A project copy with the test data and one completed data_processing run."""
    from tests.conftest import copy_project

    project = copy_project(tmp_path_factory.mktemp("bad_input"))
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(project)
        result = CliRunner().invoke(cli, ["demo-data", "--env", "test"])
        assert result.exit_code == 0, result.output
        _run(project)
    shutil.copytree(project / RAW, project / "raw_backup")
    return project


@pytest.fixture()
def project(processed_project: Path, monkeypatch) -> Path:
    """The processed project with pristine raw files and no extra parameter file."""
    monkeypatch.chdir(processed_project)
    shutil.rmtree(processed_project / RAW)
    shutil.copytree(processed_project / "raw_backup", processed_project / RAW)
    for extra in (processed_project / "conf/test").glob("parameters_extra*.yml"):
        extra.unlink()
    return processed_project


def _sales(change: Callable[[pd.DataFrame], pd.DataFrame]) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        path = project / RAW / "sales.parquet"
        change(pd.read_parquet(path)).to_parquet(path, index=False)

    return apply


def _csv(name: str, change: Callable[[pd.DataFrame], pd.DataFrame], **to_csv) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        path = project / RAW / f"{name}.csv"
        change(pd.read_csv(path, dtype=str, keep_default_na=False)).to_csv(path, index=False, **to_csv)

    return apply


def _params(text: str) -> Callable[[Path], None]:
    def apply(project: Path) -> None:
        (project / "conf/test/parameters_extra.yml").write_text(text)

    return apply


def _day_first(frame: pd.DataFrame) -> pd.DataFrame:
    for column in ("start_date", "end_date"):
        frame[column] = pd.to_datetime(frame[column]).dt.strftime("%d/%m/%Y")
    return frame


def _leading_zeros(project: Path) -> None:
    """Masters keep '00001' (text), the sales file stores the number 1."""
    _sales(lambda s: s.assign(sku_id=s["sku_id"].str[3:].astype(int)))(project)
    for name in ("sku_master", "sku_dc_master", "promotions", "inventory_state"):
        _csv(name, lambda f: f.assign(sku_id=f["sku_id"].str[3:]))(project)


def _latin_1(project: Path) -> None:
    path = project / RAW / "category_targets.csv"
    frame = pd.read_csv(path).replace({"category": {"snacks": "snacks_épicerie"}})
    frame.to_csv(path, index=False, encoding="latin-1")


CASES = {
    "header-only sales file": (
        _sales(lambda s: s.head(0)),
        "raw_sales (data/test/01_raw/sales.parquet): column '*': the table has no rows (a file with only its header",
    ),
    "missing column": (
        _sales(lambda s: s.drop(columns="promo_flag")),
        "column 'promo_flag': required column is missing (columns found: sku_id, dc_id, date, sales_units, price)",
    ),
    "day-first promotion dates (days up to 12 look like months)": (
        _csv("promotions", _day_first),
        "column 'start_date': value is not an ISO 8601 date YYYY-MM-DD (e.g. ",
    ),
    "infinite price": (
        _sales(lambda s: s.assign(price=s["price"].where(s.index != 3, float("inf")))),
        "column 'price': value must be finite (got inf): 1 row(s) (rows 3)",
    ),
    "ids read as numbers lose their zeros": (
        _leading_zeros,
        "IDs differ only by leading zeros ('1' here, '00001' in raw_sku_master)",
    ),
    "a date gap": (
        _sales(lambda s: s.drop(index=[30, 31]).reset_index(drop=True)),
        "missing days: (SKU00001, DC01): 2025-01-31, 2025-02-01; showing each pair's first row",
    ),
    "latin-1 file": (_latin_1, "Hint: a file is not UTF-8 text"),
    "misspelt top-level block": (
        _params("data_procesing:\n  costs:\n    order_cost: 1.0\n"),
        "unknown top-level parameter block 'data_procesing' in conf/test/parameters_extra.yml: "
        "did you mean 'data_processing'?",
    ),
    "negative holding rate": (
        _params("data_processing:\n  costs:\n    holding_rate_by_category: {dairy: -0.01}\n"),
        "parameter 'data_processing.costs.holding_rate_by_category.dairy': Input should be greater than or equal to 0",
    ),
    "unknown category in the parameters": (
        _params("data_processing:\n  costs:\n    holding_rate_by_category: {diary: 0.001}\n"),
        "names categories that are not in raw_category_targets: ['diary']",
    ),
    "history too short for the splits": (
        _params("data_processing:\n  splits:\n    warmup_days: 250\n"),
        "The run cannot start; no output was written:\n  - The sales data (2025-01-01 to 2025-10-27) is too short",
    ),
}


def _message(error: BaseException) -> str:
    return "\n".join([str(error), *getattr(error, "__notes__", [])])


@pytest.mark.slow
@pytest.mark.parametrize("case", list(CASES))
def test_bad_input_stops_the_run_before_it_writes(project: Path, case: str):
    breaks, fragment = CASES[case]
    before = _checksums(project)
    completed = [m["run_id"] for m in _manifests(project) if m["status"] == "completed"]
    breaks(project)
    with pytest.raises(Exception) as caught:  # noqa: PT011 - each case raises its own type; the text is checked
        _run(project)
    assert fragment in _message(caught.value)
    assert _checksums(project) == before
    assert [m["run_id"] for m in _manifests(project) if m["status"] == "completed"] == completed


@pytest.mark.slow
def test_an_empty_inventory_snapshot_never_replaces_the_validated_one(project: Path):
    _csv("inventory_state", lambda f: f.head(0))(project)
    before = _checksums(project)
    with pytest.raises(Exception) as caught:  # noqa: PT011
        _run(project, pipeline="recommend")
    assert "raw_inventory_state (data/test/01_raw/inventory_state.csv): column '*': the table has no rows" in str(
        caught.value
    )
    assert _checksums(project) == before
    failed = _manifests(project)[-1]
    assert failed["status"] == "failed" and failed["versioned_outputs"] == {} and failed["replaced_outputs"] == {}


@pytest.mark.slow
def test_the_whole_run_checks_the_snapshot_before_its_first_node(project: Path):
    """`kedro run` reads the snapshot in its last pipeline; an empty one stops it before data_processing."""
    _csv("inventory_state", lambda f: f.head(0))(project)
    before = _checksums(project)
    runs = len(_manifests(project))
    with pytest.raises(Exception) as caught:  # noqa: PT011
        _run(project, pipeline="__default__")
    assert "raw_inventory_state (data/test/01_raw/inventory_state.csv): column '*': the table has no rows" in str(
        caught.value
    )
    assert _checksums(project) == before
    assert len(_manifests(project)) == runs  # stopped before the run started: nothing to record


@pytest.mark.slow
def test_the_completed_run_has_a_manifest(project: Path):
    manifest = _manifests(project)[0]  # the good run of the fixture
    assert manifest["env"] == "test" and manifest["seed"] == 20251219 and manifest["error"] is None
    assert manifest["versioned_outputs"] == {
        "ftr_demand_forecaster": manifest["run_id"],
        "rpt_data_quality": manifest["run_id"],
        "rpt_forecast_accuracy": manifest["run_id"],
    }
    assert "int_sales" in manifest["replaced_outputs"]
    lanes = project / OUTPUTS / "03_primary/lanes.parquet"
    assert manifest["replaced_outputs"]["prm_lanes"] == f"sha256:{hashlib.sha256(lanes.read_bytes()).hexdigest()}"


@pytest.mark.slow
def test_later_runs_read_versions_of_completed_runs_only(project: Path):
    """A newer forecaster left by a run that never completed is not what forecast_demand loads."""
    completed = _manifests(project)[0]  # the good run of the fixture
    folder = project / OUTPUTS / "04_feature/demand_forecaster.pkl"
    orphan = folder / "2999-01-01T00.00.00.000Z" / "demand_forecaster.pkl"
    orphan.parent.mkdir()
    orphan.write_bytes(b"left by a run that was killed")
    try:
        _run(project, node_names=["data_processing.forecast_demand"])
    finally:
        shutil.rmtree(orphan.parent)
    latest = _manifests(project)[-1]
    assert latest["status"] == "completed"
    assert latest["load_versions"] == {"ftr_demand_forecaster": completed["run_id"]}


@pytest.mark.slow
def test_a_lane_without_sales_and_an_absent_holdout_category_only_warn(project: Path, caplog):
    _sales(lambda s: s[(s["sku_id"] != "SKU00002") | (s["dc_id"] != "DC01")])(project)
    _params("data_processing:\n  splits:\n    holdout_categories: [garden, dairy]\n")(project)
    with caplog.at_level("WARNING"):
        _run(project)
    assert "1 SKU-DC pair(s) have master data but no row in raw_sales ((SKU00002, DC01))" in caplog.text
    assert "holdout_categories names categories that are not in the data, ignored: ['garden']" in caplog.text
    splits = json.loads((project / OUTPUTS / "03_primary/time_splits.json").read_text())
    assert splits["holdout_categories"] == ["dairy"]
    lanes = pd.read_parquet(project / OUTPUTS / "03_primary/lanes.parquet")
    forecasts = pd.read_parquet(project / OUTPUTS / "04_feature/demand_forecast")
    silent = lanes.loc[(lanes["sku_id"] == "SKU00002") & (lanes["dc_id"] == "DC01"), "lane_id"].item()
    assert silent in set(forecasts["lane_id"])
    assert _manifests(project)[-1]["status"] == "completed"


@pytest.mark.slow
def test_a_misspelt_category_in_the_bands_stops_or_labeling_before_it_starts(project: Path):
    _params("or_labeling:\n  bands:\n    diary: {min: 0, max: 20}\n")(project)
    before = _checksums(project)
    with pytest.raises(Exception) as caught:  # noqa: PT011
        _run(project, pipeline="or_labeling")
    assert str(caught.value) == (
        "Invalid parameters for this data; nothing was run:\n"
        "parameter 'or_labeling.bands' names categories that are not in raw_category_targets: ['diary'] "
        "(did you mean 'dairy'?); categories there: ['beverages', 'dairy', 'personal_care', 'snacks']"
    )
    assert _checksums(project) == before


@pytest.mark.slow
def test_the_evaluation_alone_stops_before_it_starts_when_no_run_wrote_the_orders(project: Path):
    """The report summarises recommend's orders: without an earlier recommend run, evaluation says so up front."""
    before = _checksums(project)
    with pytest.raises(MissingRunInputError) as caught:
        _run(project, pipeline="evaluation")
    assert str(caught.value) == (
        "the report summarises this run's orders (rpt_recommend_summary, rpt_recommend_by_dc_category), but no "
        "earlier run wrote them and this run does not include recommend: run `kedro run --pipelines "
        "evaluation,recommend` (or `kedro run --pipelines recommend` first)"
    )
    assert _checksums(project) == before
