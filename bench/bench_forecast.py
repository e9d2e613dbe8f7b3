"""Fit and predict times and accuracy of each global forecaster on one environment's persisted tables.

Usage:
    .venv/bin/python bench/bench_forecast.py [--data data] [--env base] [--model lightgbm] [--set key=value ...] [--seed N]

Reads ``03_primary`` of a finished ``kedro run --pipelines data_processing``
(``prm_forecast_sales``, promotion days, lanes, splits) and the forecast block of
the environment's parameters as ``kedro run --env <env>`` reads them (e.g. ``--env staging
--data data/staging``); ``--set`` overrides its keys (e.g.
``--set min_samples_leaf=40``) and ``--seed`` the model seed. Prints fit and predict seconds (every decision
date, the whole horizon, means and quantiles), and the validation and test WAPE.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path

import numpy as np
import pandas as pd
import yaml
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.forecasting import model as fc
from orpr_kedro.core.forecasting.accuracy import forecast_errors
from orpr_kedro.core.params import ForecastParams, parse_params

PROJECT = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data", default=str(PROJECT / "data"))
    parser.add_argument("--env", default="base", help="conf environment whose forecast overrides apply")
    parser.add_argument("--model", default=None, help="hist_gradient_boosting or lightgbm (default: conf/base)")
    parser.add_argument("--set", action="append", default=[], help="forecast parameter override, key=value")
    parser.add_argument("--seed", type=int, default=None, help="model seed (default: the environment's seed)")
    args = parser.parse_args()
    data = Path(args.data) / "03_primary"
    sales = pd.read_parquet(data / "forecast_sales")
    promotions = pd.read_parquet(data / "promotion_days")
    lanes = pd.read_parquet(data / "lanes.parquet")
    splits = TimeSplits.from_dict(json.loads((data / "time_splits.json").read_text()))
    # the environment's parameters as a run reads them (Kedro's soft merge of conf/<env> over conf/base)
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env=None if args.env == "base" else args.env) as session:
        context_params = session.load_context().params
    settings = parse_params("data_processing", context_params["data_processing"]).forecast.model_dump()
    if args.model:
        settings["model"] = args.model
    for item in args.set:
        key, value = item.split("=", 1)
        settings[key] = yaml.safe_load(value)
    params = ForecastParams(**settings)
    seed = int(context_params["seed"]) if args.seed is None else args.seed
    panels = fc.build_demand_panels(sales, promotions, lanes, splits.data_end, params.horizon_days)

    started = time.perf_counter()
    forecaster = fc.fit_forecaster(panels, splits, params, seed)
    fit_seconds = time.perf_counter() - started
    started = time.perf_counter()
    table = fc.forecast_table(forecaster, panels, splits)
    predict_seconds = time.perf_counter() - started

    errors = forecast_errors(table, panels, splits, lanes)
    validation = float(np.abs(errors["error"]).sum() / errors["actual"].sum())
    accuracy = fc.forecast_accuracy(table, panels, splits, lanes, params.quantiles).set_index(["model", "scope"])
    print(
        f"{params.model} ({params.objective if params.model == 'lightgbm' else 'poisson'}, "
        f"min_samples_leaf {params.min_samples_leaf}): fit {fit_seconds:.1f} s, "
        f"forecast_table {predict_seconds:.1f} s ({len(table):,} rows); "
        f"WAPE validation {validation:.4f}, test {accuracy.loc[('forecast', 'all'), 'wape']:.4f} "
        f"(seasonal naive {accuracy.loc[('seasonal_naive', 'all'), 'wape']:.4f})"
    )


if __name__ == "__main__":
    main()
