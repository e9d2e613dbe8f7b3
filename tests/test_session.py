"""Whole-project runs through a Kedro session on the tiny conf/test environment."""

import json
import shutil
from pathlib import Path

import nbformat
import pandas as pd
import pytest
import torch
import yaml
from click.testing import CliRunner
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project
from nbclient import NotebookClient

from orpr_kedro.cli import cli
from orpr_kedro.core.data.contract import RAW_CONTRACTS


def _latest(folder: Path, name: str) -> Path:
    """The newest version of a versioned dataset file."""
    return sorted((folder / name).glob(f"*/{name}"))[-1]


@pytest.fixture()
def test_project(project_copy: Path, monkeypatch) -> Path:
    monkeypatch.chdir(project_copy)
    result = CliRunner().invoke(cli, ["demo-data", "--env", "test"])
    assert result.exit_code == 0, result.output
    assert "wrote raw_sales" in result.output
    return project_copy


def test_demo_data_never_replaces_raw_files(test_project: Path):
    sales = test_project / "data/test/01_raw/sales.parquet"
    before = sales.read_bytes()
    result = CliRunner().invoke(cli, ["demo-data", "--env", "test"])
    assert result.exit_code == 0 and "already present; nothing written" in result.output
    assert sales.read_bytes() == before


def test_demo_data_refuses_prod(test_project: Path):
    result = CliRunner().invoke(cli, ["demo-data", "--env", "prod"])
    assert result.exit_code != 0
    assert "Environment 'prod' reads real raw data" in result.output
    assert "raw_sales: /srv/orpr/incoming/sales.parquet" in result.output


def _client_env(project: Path, name: str) -> Path:
    """A client environment as the bring-your-own-data guide sets it up: globals only, no demo_data.yml."""
    folder = project / "conf" / name
    folder.mkdir()
    raw = {table: f"data/{name}/01_raw/{table.removeprefix('raw_')}.csv" for table in RAW_CONTRACTS}
    raw["raw_sales"] = f"data/{name}/01_raw/sales.parquet"
    (folder / "globals.yml").write_text(yaml.safe_dump({"data_root": f"data/{name}", "raw_files": raw}))
    return project / "data" / name / "01_raw"


def test_demo_data_never_writes_into_a_client_environment(test_project: Path):
    raw = _client_env(test_project, "client")
    raw.mkdir(parents=True)
    real = pd.DataFrame({"sku_id": ["001"], "category": ["bakery"]})
    real.to_csv(raw / "sku_master.csv", index=False)
    before = {path: path.read_bytes() for path in raw.iterdir()}
    result = CliRunner().invoke(cli, ["demo-data", "--env", "client"])
    assert result.exit_code != 0
    assert "Environment 'client' reads real raw data" in result.output
    assert "5 raw file(s) are missing" in result.output
    assert "raw_sales: data/client/01_raw/sales.parquet" in result.output
    assert "raw_sku_master" not in result.output.split("missing:")[1].split("Put the files")[0]
    assert "add 'enabled: true' to conf/client/demo_data.yml" in result.output
    assert {path: path.read_bytes() for path in raw.iterdir()} == before  # nothing generated
    assert sorted(path.name for path in raw.iterdir()) == ["sku_master.csv"]
    forced = CliRunner().invoke(cli, ["demo-data", "--env", "client", "--force"])
    assert forced.exit_code != 0 and sorted(path.name for path in raw.iterdir()) == ["sku_master.csv"]


def _launch_late(sales_file: Path, days: int) -> tuple[str, str]:
    """Keep only the last ``days`` days of the first SKU-DC's sales: a new launch, a cold start for recommend."""
    sales = pd.read_parquet(sales_file)
    sku_id, dc_id = sales.iloc[0]["sku_id"], sales.iloc[0]["dc_id"]
    lane = (sales["sku_id"] == sku_id) & (sales["dc_id"] == dc_id)
    recent = sales["date"] > sales["date"].max() - pd.Timedelta(days=days)
    sales[~lane | recent].reset_index(drop=True).to_parquet(sales_file, index=False)
    return sku_id, dc_id


def test_default_run_on_the_test_environment(test_project: Path, monkeypatch, capsys):
    new_launch = _launch_late(test_project / "data/test/01_raw/sales.parquet", days=10)
    bootstrap_project(test_project)
    with KedroSession.create(project_path=test_project, env="test") as session:
        session.run()
    # the run ends by naming the files a planner opens
    assert capsys.readouterr().out.splitlines()[-4:] == [
        "Report: data/test/08_reporting/report.html",
        "Report (markdown): data/test/08_reporting/report.md",
        "Orders to approve: data/test/07_model_output/orders.csv",
        "Every lane's decision: data/test/07_model_output/recommendations.csv",
    ]
    data = test_project / "data/test"
    features = pd.read_parquet(data / "05_model_input/decision_features")
    lanes = pd.read_parquet(data / "03_primary/lanes.parquet")
    accuracy = pd.read_csv(_latest(data / "08_reporting", "forecast_accuracy.csv")).set_index(["model", "scope"])
    assert features["lane_id"].nunique() == len(lanes)
    assert accuracy.loc[("forecast", "all"), "wape"] < accuracy.loc[("seasonal_naive", "all"), "wape"]
    assert list(Path(data / "04_feature/demand_forecaster.pkl").glob("*/demand_forecaster.pkl"))
    labels = pd.read_parquet(data / "05_model_input/or_labels.parquet")
    assert set(labels["split"]) == {"train", "validation"}
    assert labels.groupby("decision_date")["lane_id"].nunique().eq(len(lanes)).all()
    solver_log = pd.read_csv(_latest(data / "08_reporting", "or_solver_log.csv"))
    assert len(solver_log) == labels["decision_date"].nunique() * lanes["category"].nunique()
    kpis = pd.read_csv(_latest(data / "08_reporting", "or_validation_kpis.csv"))
    assert set(kpis["policy"]) == {"or_policy", "incumbent", "base_stock"}
    # recommend: an order for every SKU-DC of the snapshot; the new launch falls back to the incumbent rule
    recommendations = pd.read_csv(data / "07_model_output/recommendations.csv", dtype={"sku_id": str, "dc_id": str})
    assert len(recommendations) == len(lanes)
    cold = recommendations[recommendations["cold_start"]]
    assert cold[["sku_id", "dc_id", "policy_used", "history_days"]].values.tolist() == [
        [*new_launch, "incumbent_fallback", 10]
    ]
    assert (recommendations.loc[~recommendations["cold_start"], "policy_used"] == "orpr").all()
    # the run's manifest: completed, one version (the run id) for every versioned output of every stage
    [manifest_file] = (data / "08_reporting/run_manifests").glob("*.json")
    manifest = json.loads(manifest_file.read_text())
    assert manifest["status"] == "completed" and manifest["env"] == "test" and manifest["seed"] == 20251219
    assert set(manifest["versioned_outputs"].values()) == {manifest["run_id"]}
    assert {"ftr_demand_forecaster", "mdl_foundation_model", "mdl_aligned_policy"} <= set(manifest["versioned_outputs"])
    assert "mo_recommendations" in manifest["replaced_outputs"]
    summary = pd.read_csv(_latest(data / "08_reporting", "recommend_summary.csv")).set_index("metric")["value"]
    assert summary["incumbent_fallback"] == "1"
    # tuned base-stock ran in the alignment's validation loop; ORPR's service floor is where it won there
    rl_kpis = pd.read_csv(_latest(data / "08_reporting", "rl_validation_kpis.csv"))
    assert "tuned_base_stock" in set(rl_kpis["policy"])
    [policy_file] = (data / "06_models/orpr_policy.pt").glob("*/orpr_policy.pt")
    floor = torch.load(policy_file, weights_only=True)["metadata"]["service_floor"]
    assert all(entry["validation_cost_network"] > entry["validation_cost_tuned_base_stock"] for entry in floor)
    tuning = pd.read_csv(_latest(data / "08_reporting", "tuned_base_stock.csv"))
    assert set(tuning.loc[tuning["orpr_service_floor"].notna(), "category"]) == {entry["category"] for entry in floor}

    # the exploration notebook runs top to bottom on what the run wrote
    notebook = nbformat.read(test_project / "notebooks" / "exploration.ipynb", as_version=4)
    monkeypatch.setenv("ORPR_KEDRO_ENV", "test")
    NotebookClient(
        notebook, timeout=600, kernel_name="python3", resources={"metadata": {"path": str(test_project / "notebooks")}}
    ).execute()
    outputs = [output for cell in notebook.cells for output in cell.get("outputs", [])]
    assert not [output for output in outputs if output.output_type == "error"]
    # figures are drawn inline (data, labels, one lane's decisions, evaluation, orders), and no log line shows
    assert sum("image/png" in output.get("data", {}) for output in outputs) == 5
    assert not [output for output in outputs if "INFO" in str(output.get("data", {}).get("text/plain", ""))]


def test_demo_data_passes_a_client_environment_with_all_its_files(test_project: Path):
    raw = _client_env(test_project, "client")
    raw.mkdir(parents=True)
    for source in (test_project / "data/test/01_raw").iterdir():
        shutil.copy(source, raw / source.name)
    before = {path.name: path.read_bytes() for path in raw.iterdir()}
    result = CliRunner().invoke(cli, ["demo-data", "--env", "client"])
    assert result.exit_code == 0, result.output
    assert "Environment 'client' reads real raw data; all its raw files are present, nothing written." in result.output
    assert {path.name: path.read_bytes() for path in raw.iterdir()} == before
