"""The whole chain on a memory-limited local Dask cluster gives the serial run's labels, KPIs and orders."""

import shutil
from pathlib import Path

import pandas as pd
import pytest
from click.testing import CliRunner
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.cli import cli

# every stage's tasks on two single-threaded worker processes of 1 GiB each (Dask
# restarts a worker that passes 95% of it), the lanes in blocks of 5;
# no sampling of the forecaster's training rows, so the blocks train the same model
ON_DASK = {
    "execution": {
        "lanes_per_block": 5,
        "executor": {"kind": "dask", "n_workers": 2, "memory_limit": "1GiB"},
    },
    "data_processing": {"forecast": {"max_training_rows": 10_000_000}},
}
SERIAL = {"data_processing": {"forecast": {"max_training_rows": 10_000_000}}}


def _latest(folder: Path, name: str) -> Path:
    return sorted((folder / name).glob(f"*/{name}"))[-1]


def _run(project: Path, params: dict) -> dict[str, pd.DataFrame]:
    with KedroSession.create(project_path=project, env="test", runtime_params=params) as session:
        session.run()
    data = project / "data/test"
    reports = data / "08_reporting"
    tables = {
        "or_labels": pd.read_parquet(data / "05_model_input/or_labels.parquet"),
        "evaluation_kpis": pd.read_csv(_latest(reports, "evaluation_kpis.csv")),
        "or_solver_log": pd.read_csv(_latest(reports, "or_solver_log.csv")),
        "recommendations": pd.read_csv(data / "07_model_output/recommendations.csv"),
        "orders": pd.read_csv(data / "07_model_output/orders.csv"),
    }
    shutil.rmtree(data / "08_reporting")  # the next run's versions are then the only ones
    return tables


def _untimed(frame: pd.DataFrame) -> pd.DataFrame:
    """Without the wall-clock columns (solve times, decision speed)."""
    timing = [column for column in frame.columns if column.endswith("_time_s") or column.startswith("ms_per_")]
    return frame.drop(columns=timing)


def test_the_chain_on_a_memory_limited_dask_cluster_gives_the_serial_results(project_copy: Path, monkeypatch):
    distributed = pytest.importorskip("dask.distributed")
    monkeypatch.chdir(project_copy)
    result = CliRunner().invoke(cli, ["demo-data", "--env", "test"])
    assert result.exit_code == 0, result.output
    bootstrap_project(project_copy)
    serial = _run(project_copy, SERIAL)
    on_dask = _run(project_copy, ON_DASK)

    from orpr_kedro.core import executor

    cluster = executor._LOCAL_CLUSTERS.pop((2, "1GiB"))
    try:
        workers = cluster.scheduler_info["workers"].values()
        assert len(workers) == 2 and {worker["memory_limit"] for worker in workers} == {2**30}
        with distributed.Client(cluster) as client:
            prefixes = set(client.run_on_scheduler(lambda dask_scheduler: list(dask_scheduler.task_prefixes)))
        assert {"run_block", "solve_task"} <= prefixes  # lane blocks and OR models ran on the workers
    finally:
        cluster.close()
    blocks = project_copy / "data/test/05_model_input/decision_features"
    n_lanes = len(pd.read_parquet(project_copy / "data/test/03_primary/lanes.parquet"))
    assert len(list(blocks.glob("block-*.parquet"))) == -(-n_lanes // 5) > 1
    for name in serial:
        pd.testing.assert_frame_equal(_untimed(on_dask[name]), _untimed(serial[name]), obj=name)
    assert len(serial["orders"]) > 0 and serial["evaluation_kpis"]["policy"].nunique() > 3
