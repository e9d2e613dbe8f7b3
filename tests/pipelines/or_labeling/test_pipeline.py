"""The or_labeling pipeline on an in-memory catalog: serial, on a Dask cluster, with a licence."""

import logging

import pandas as pd
import pytest
from kedro.io import DataCatalog, MemoryDataset
from kedro.runner import SequentialRunner

from orpr_kedro.core.params import ORLabelingParams
from orpr_kedro.datasets import GurobiLicenceDataset
from orpr_kedro.pipelines.or_labeling import create_pipeline

PARAMS = {"coverage_grid": {"start": 0, "stop": 30, "step": 2}, "horizon_days": 21, "n_scenarios": 6}
WLS = {"WLSACCESSID": "access-id-0000", "WLSSECRET": "secret-value-1234", "LICENSEID": 2345678}


class _KeptDataset(MemoryDataset):
    """A MemoryDataset the runner does not empty after its last reader, for assertions."""

    def _release(self) -> None:
        pass


def _labeling():
    """The pipeline after the training lanes are chosen (their node has a test of its own)."""
    return create_pipeline() - create_pipeline().only_nodes("sample_training_lanes")


def _run(
    tiny_processed, params: dict, credentials: dict | None = None, pipeline=None, executor: dict | None = None
) -> dict:
    """Run the pipeline on an in-memory catalog; return every output by name."""
    catalog = DataCatalog(
        datasets={
            "mi_training_lanes": MemoryDataset(tiny_processed["lanes"]),
            "mi_training_sales": MemoryDataset(tiny_processed["daily_sales"]),
            "mi_training_forecast": MemoryDataset(tiny_processed["forecasts"]),
            "time_splits": MemoryDataset(tiny_processed["splits"].to_dict()),
            "gurobi_licence": GurobiLicenceDataset(credentials=credentials),
            "mi_or_labels": _KeptDataset(),
            "mi_scenario_calibration": _KeptDataset(),
        }
    )
    catalog["params:or_labeling"] = ORLabelingParams.model_validate(params).model_dump(mode="json")
    catalog["params:execution"] = {"executor": executor or {"kind": "serial"}}
    catalog["params:seed"] = 5
    outputs = SequentialRunner().run(pipeline or _labeling(), catalog)
    result = {name: value.load() if hasattr(value, "load") else value for name, value in outputs.items()}
    return {**result, **{name: catalog[name].load() for name in ("mi_or_labels", "mi_scenario_calibration")}}


@pytest.fixture(scope="module")
def serial_run(tiny_processed) -> dict:
    return _run(tiny_processed, PARAMS)


def test_or_labeling_on_an_in_memory_catalog(serial_run, tiny_processed):
    solver_log, kpis = serial_run["rpt_or_solver_log"], serial_run["rpt_or_validation_kpis"]
    candidates = serial_run["mi_or_candidates"]
    splits = tiny_processed["splits"]
    n_lanes = len(tiny_processed["lanes"])
    n_dates = len(splits.decision_dates(end=splits.test_start - pd.Timedelta(days=1)))
    assert len(candidates) == n_lanes * n_dates * 16
    assert len(solver_log) == n_dates * tiny_processed["lanes"]["category"].nunique()
    assert {"model_id", "solver", "status", "objective", "mip_gap", "solve_time_s", "fallback_reason"} <= set(
        solver_log.columns
    )
    assert solver_log["gurobi_licence"].eq("pip").all()  # no gurobi credentials: the pip licence
    assert set(kpis["policy"]) == {"or_policy", "incumbent", "base_stock"}
    assert {"total_cost", "holding_cost", "lost_sales_cost", "order_cost", "turnover_days", "in_stock_rate"} <= set(
        kpis.columns
    )


def test_dask_cluster_gives_the_serial_labels(serial_run, tiny_processed):
    """The execution.executor block of conf/prod, pointed at a running two-worker scheduler."""
    distributed = pytest.importorskip("dask.distributed")
    # worker processes, as on a real cluster: every task and result crosses a process boundary
    with (
        distributed.LocalCluster(
            n_workers=2, threads_per_worker=1, processes=True, dashboard_address=None, host="127.0.0.1"
        ) as cluster,
        distributed.Client(cluster) as observer,
        distributed.get_task_stream(observer) as stream,
    ):
        on_dask = _run(
            tiny_processed, PARAMS, executor={"kind": "dask", "scheduler_address": cluster.scheduler_address}
        )
        workers = set(cluster.scheduler_info["workers"])
    solved = [task for task in stream.data if "solve_task" in str(task["key"])]
    assert len(solved) == len(on_dask["rpt_or_solver_log"])  # every model was solved on the cluster
    assert {task["worker"] for task in solved} <= workers
    for name in ("mi_or_labels", "rpt_or_solver_log"):
        timing = [column for column in serial_run[name].columns if column.endswith("_time_s")]  # wall-clock
        pd.testing.assert_frame_equal(serial_run[name].drop(columns=timing), on_dask[name].drop(columns=timing))
    pd.testing.assert_frame_equal(serial_run["rpt_or_validation_kpis"], on_dask["rpt_or_validation_kpis"])


def test_a_wls_licence_reaches_gurobi_and_never_an_output(tiny_processed, monkeypatch, caplog):
    # a proxy nobody listens on: the WLS token request fails at once, offline or not
    for name in ("HTTPS_PROXY", "https_proxy"):
        monkeypatch.setenv(name, "http://127.0.0.1:9")
    for name in ("NO_PROXY", "no_proxy"):
        monkeypatch.delenv(name, raising=False)
    params = {**PARAMS, "periods": ["validation"], "save_candidates": False}
    pipeline = create_pipeline().only_nodes("calibrate_scenarios", "create_or_labels")
    with caplog.at_level(logging.DEBUG):
        result = _run(tiny_processed, params, credentials=WLS, pipeline=pipeline)
    solver_log, labels = result["rpt_or_solver_log"], result["mi_or_labels"]
    # Gurobi was asked with the WLS licence (network error 10022) and every model went to HiGHS
    assert solver_log["gurobi_licence"].eq("wls").all()
    assert solver_log["solver"].eq("highs").all()
    assert solver_log["fallback_reason"].str.contains("GurobiError 10022").all()
    # one summary line for the stage, one WARNING counting the fallbacks; per-model lines only at DEBUG
    n = len(solver_log)
    stage = [r for r in caplog.records if r.getMessage().startswith("or_labeling: ")]
    assert stage[0].levelno == logging.INFO
    assert (
        f"or_labeling: {n} models on {solver_log['decision_date'].nunique()} decision dates ({n} HiGHS, wls licence)"
        in (stage[0].getMessage())
    )
    assert any(
        r.levelno == logging.WARNING
        and f"{n} of {n} models fell back from Gurobi to HiGHS and 0 to the min-loss choice ({n} GurobiError 10022)"
        in r.getMessage()
        for r in stage
    )
    per_model = [r for r in caplog.records if r.getMessage().startswith("solve model=")]
    assert len(per_model) == n and all(r.levelno == logging.DEBUG for r in per_model)
    written = labels.to_csv() + solver_log.to_csv() + caplog.text
    for secret in WLS.values():
        assert str(secret) not in written


def test_the_node_refuses_a_licence_that_is_not_one(tiny_processed):
    from orpr_kedro.pipelines.or_labeling.nodes import create_or_labels

    with pytest.raises(TypeError, match="gurobi_licence must be a GurobiLicence"):
        create_or_labels(
            tiny_processed["lanes"],
            tiny_processed["daily_sales"],
            tiny_processed["forecasts"],
            tiny_processed["splits"].to_dict(),
            pd.DataFrame(),
            WLS,
            PARAMS,
            {"executor": {"kind": "serial"}},
            5,
        )


def test_scenarios_carry_the_measured_forecast_error(tiny_processed):
    """The error table covers every category; calibrated and plain scenarios give different labels."""
    pipeline = create_pipeline().only_nodes("calibrate_scenarios", "create_or_labels")
    base = {**PARAMS, "periods": ["validation"], "save_candidates": False}
    calibrated = _run(tiny_processed, base, pipeline=pipeline)
    plain = _run(tiny_processed, {**base, "scenarios": {"calibrate": False}}, pipeline=pipeline)
    errors = calibrated["mi_scenario_calibration"].set_index("category")
    assert set(tiny_processed["lanes"]["category"]) | {"__all__"} == set(errors.index)
    assert errors["horizon_days"].eq(21).all()
    assert errors["bias"].gt(0).all() and errors["level_sd"].ge(0).all()
    pd.testing.assert_frame_equal(calibrated["mi_scenario_calibration"], plain["mi_scenario_calibration"])
    assert not calibrated["mi_or_labels"]["coverage_days"].equals(plain["mi_or_labels"]["coverage_days"])


def test_labels_on_a_lane_sample_name_the_universe_lanes(tiny_processed, fast_params):
    from tests.core.learning.test_pretraining import tiny_tables

    lanes = tiny_processed["lanes"]
    catalog = DataCatalog(
        datasets={
            "prm_lanes": MemoryDataset(lanes),
            "prm_daily_sales": MemoryDataset(tiny_processed["daily_sales"]),
            "ftr_demand_forecast": MemoryDataset(tiny_processed["forecasts"]),
            "mi_decision_features": MemoryDataset(tiny_tables(tiny_processed, fast_params)["features"]),
            "time_splits": MemoryDataset(tiny_processed["splits"].to_dict()),
            "gurobi_licence": GurobiLicenceDataset(),
            "mi_training_lanes": _KeptDataset(),
            "mi_or_labels": _KeptDataset(),
        }
    )
    catalog["params:or_labeling"] = ORLabelingParams.model_validate(PARAMS).model_dump(mode="json")
    catalog["params:execution"] = {"training_lanes": 10}
    catalog["params:seed"] = 5
    SequentialRunner().run(create_pipeline(), catalog)
    chosen, labels = catalog["mi_training_lanes"].load(), catalog["mi_or_labels"].load()
    assert chosen["lane_id"].tolist() == list(range(10))
    assert set(labels["lane_id"]) == set(range(10))
    universe = lanes.set_index("lane_id").loc[chosen["universe_lane_id"], "sku_id"].tolist()
    assert chosen["sku_id"].tolist() == universe
    # each label row is the sampled lane's: its SKU is that of the universe lane it stands for
    by_lane = labels.drop_duplicates("lane_id").set_index("lane_id")["sku_id"]
    assert by_lane.loc[range(10)].tolist() == universe


def test_the_protection_window_measures_each_lanes_lead_time_plus_review(tiny_processed):
    """From every validation origin whose window ends before the test period: more lane-origins, never test demand."""
    from orpr_kedro.core.optimization import labeling
    from orpr_kedro.pipelines.or_labeling.nodes import calibrate_scenarios

    splits = tiny_processed["splits"]
    tables = (tiny_processed["lanes"], tiny_processed["daily_sales"], tiny_processed["forecasts"], splits.to_dict())
    horizon = calibrate_scenarios(*tables, PARAMS).set_index("category")
    protection = calibrate_scenarios(*tables, {**PARAMS, "scenarios": {"window": "protection"}}).set_index("category")
    assert set(horizon["window"]) == {"horizon"} and set(protection["window"]) == {"per_lane"}
    assert protection.loc["__all__", "n_origins"] > horizon.loc["__all__", "n_origins"]
    # the core function on the same data with the test period's demand tripled: nothing moves
    data = labeling.labeling_data(*tables[:3], splits.decision_dates(), splits.first_decision_date)
    data.demand[:, data.day(splits.test_start) :] *= 3.0
    again = labeling.forecast_errors(data, splits, PARAMS["horizon_days"], window="protection").table
    pd.testing.assert_frame_equal(again.set_index("category"), protection)


def test_review_cadence_writes_the_other_review_days_labels(serial_run, tiny_processed):
    review = _run(tiny_processed, {**PARAMS, "cadence": "review"})
    labels, extra = review["mi_or_labels"], review["mi_or_review_labels"]
    # one label per lane and decision date, as at the weekly cadence
    assert len(labels) == len(serial_run["mi_or_labels"])
    assert serial_run["mi_or_review_labels"].empty
    assert len(extra) and set(extra["day_offset"]) <= set(range(1, 7))
    assert (extra["review_date"] - extra["decision_date"]).dt.days.eq(extra["day_offset"]).all()
    assert set(extra["decision_date"]) <= set(labels["decision_date"])
    splits = labels.drop_duplicates("decision_date").set_index("decision_date")["split"]
    assert extra["split"].eq(extra["decision_date"].map(splits)).all()
    # one set of models per day of each labelled week
    assert review["rpt_or_solver_log"]["decision_date"].nunique() > labels["decision_date"].nunique()
