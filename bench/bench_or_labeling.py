"""or_labeling at scale: label decision dates of a large environment and time it.

Usage:
    .venv/bin/python bench/bench_or_labeling.py [--env staging] [--windows 52]

Reads the environment's persisted data_processing outputs through its catalog
(run `kedro demo-data --env staging && kedro run --env staging --pipelines
data_processing` first), takes the last ``--windows`` decision dates that have a
week of actual demand after them, and runs the same labeler the or_labeling node
runs, with the environment's parameters (solver, executor, grid, scenarios).
Prints wall time, the split between simulation and solving, and the solvers used.
"""

from __future__ import annotations

import argparse
import logging
import os
import time
from pathlib import Path

import numpy as np
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.optimization import labeling, window
from orpr_kedro.core.params import parse_params

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]


class Timed:
    """Accumulates the time spent in wrapped functions."""

    def __init__(self) -> None:
        self.seconds: dict[str, float] = {}

    def wrap(self, name: str, function):
        def timed(*args, **kwargs):
            start = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                self.seconds[name] = self.seconds.get(name, 0.0) + time.perf_counter() - start

        return timed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="staging")
    parser.add_argument("--windows", type=int, default=52)
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING)
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env=None if args.env == "base" else args.env) as session:
        context = session.load_context()
        catalog = context.catalog
        settings = parse_params("or_labeling", context.params["or_labeling"])
        executor_params = parse_params("execution", context.params["execution"]).executor
        seed = int(context.params["seed"])
        splits = TimeSplits.from_dict(catalog.load("time_splits"))
        data = labeling.labeling_data(
            catalog.load("prm_lanes"),
            catalog.load("prm_daily_sales").concat(),
            catalog.load("ftr_demand_forecast").concat(),
            splits.decision_dates(),
            splits.first_decision_date,
        )
    everything = settings.model_copy(update={"periods": ["train", "validation", "test"]})
    windows = labeling.windows_to_label(data.decision_dates, splits, everything)[-args.windows :]
    timer = Timed()
    window.simulate_candidates = timer.wrap("simulate candidates", window.simulate_candidates)
    labeling.replay_actual = timer.wrap("replay actual demand", labeling.replay_actual)
    with TaskExecutor(executor_params) as executor:
        executor.map = timer.wrap("solve models (executor)", executor.map)
        start = time.perf_counter()
        output = labeling.label_windows(data, windows, settings, seed, executor, labeling.initial_state(data.lanes))
        total = time.perf_counter() - start
    log = output.solver_log
    n_lanes, n_windows = len(data.lanes), len(windows)
    print(f"or_labeling on env {args.env}: {n_lanes:,} SKU-DC pairs x {n_windows} weekly decision dates")
    print(
        f"  grid {len(settings.coverage_grid.values())} candidates, {settings.n_scenarios} scenarios, horizon {settings.horizon_days} days"
    )
    print(f"  executor {executor_params.kind} ({executor_params.n_workers} workers), {os.cpu_count()} CPU cores")
    print(f"  load average at the end (1, 5, 15 min): {', '.join(f'{x:.2f}' for x in os.getloadavg())}")
    print(f"  wall time {total:.1f} s ({total / 60:.2f} min), {total / n_windows:.2f} s per decision date")
    for name, seconds in timer.seconds.items():
        print(f"    {name:<26} {seconds:7.1f} s")
    print(f"  models {len(log)}: " + ", ".join(f"{k} {v}" for k, v in log["solver"].value_counts().items()))
    print("  statuses: " + ", ".join(f"{k} {v}" for k, v in log["status"].value_counts().items()))
    per_solver = log.groupby("solver")["solve_time_s"].agg(["median", lambda s: np.percentile(s, 90), "max"])
    per_solver.columns = ["median_s", "p90_s", "max_s"]
    print(per_solver.round(3).to_string())
    print(f"  mean coverage {output.labels['coverage_days'].mean():.2f} days; labels {len(output.labels):,} rows")


if __name__ == "__main__":
    main()
