"""Recommendations for 100,000 SKU-DC pairs: wall time of the function the recommend node calls.

Synthesises, in memory and at the requested size, what ``recommend_orders`` reads:
the lanes table (``prm_lanes`` columns), daily sales over the forecaster's look-back
(392 days plus a margin, ``prm_daily_sales`` columns it reads), a promotion calendar
with an event ahead for one lane in ten, and a snapshot (on hand, on order) with one
lane in a hundred launched a few days ago (cold start). The demand forecaster is
fitted with the ``conf/base`` forecast parameters on the first 2,000 lanes (not
timed; its per-lane dispersion is repeated over all lanes). The policy is the
demo's aligned policy (the newest ``data/06_models/aligned_policy.pt``, after
``kedro run``; its decisions decide how many lanes need the forecast's last two
weeks) or, with ``--random-policy`` or without that file, the network of
``conf/base/parameters_pretraining.yml`` with random weights on the ``conf/base``
coverage grid.

Timed: :func:`orpr_kedro.core.recommend.recommend_orders` end to end (panels,
forecast, features, policy, orders and reasons): the first call of the process
(what one ``kedro run`` pays; numba kernels loaded from their cache) and the best
and median of ``--repeats`` further calls; the log line of each call gives its
steps. Not timed: loading the tables from files (catalog I/O) and writing the CSV.

With ``--lanes-per-block N`` the timed function is
:func:`orpr_kedro.core.recommend.recommend_in_blocks` (what the node calls) on blocks
of N lanes on the serial executor: the tables stay in memory here, so the process's
peak memory (printed last) is the synthetic tables' plus one block's work; the peak of
the node reading its tables from lane-block files is measured by
``bench/bench_scale.py`` (stage ``recommend``).

Usage: ``.venv/bin/python bench/bench_recommend.py [--lanes 100000] [--repeats 3] [--threads 2] [--random-policy]
[--lanes-per-block N]``
"""

# ruff: noqa: T201 - a benchmark reports on stdout

from __future__ import annotations

import argparse
import dataclasses
import logging
import resource
import statistics
import time
from pathlib import Path

import numpy as np
import pandas as pd
import torch
import yaml

from orpr_kedro.core.data.splits import make_time_splits
from orpr_kedro.core.forecasting.model import LOOKBACK_DAYS, build_demand_panels, fit_forecaster
from orpr_kedro.core.learning.features import ATTRIBUTE_COLUMNS
from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.pretraining import build_model, model_config
from orpr_kedro.core.params import ExecutionParams, RecommendParams, parse_params
from orpr_kedro.core.recommend import recommend_in_blocks, recommend_orders

ROOT = Path(__file__).resolve().parents[1]
CATEGORIES = ["snacks", "beverages", "dairy", "personal_care", "household", "baby", "pet", "small_appliances"]
TARGET_DAYS = [25.0, 20.0, 12.0, 35.0, 35.0, 30.0, 30.0, 45.0]


def base_params(pipeline: str):
    values = yaml.safe_load((ROOT / f"conf/base/parameters_{pipeline}.yml").read_text())[pipeline]
    if pipeline == "data_processing":
        values.pop("raw_files", None)  # an OmegaConf reference to the globals
    return parse_params(pipeline, values)


def synthetic_tables(n_lanes: int, n_days: int, seed: int = 0) -> dict:
    """Lanes, daily sales, promotion days and a snapshot on the last day."""
    rng = np.random.default_rng(seed)
    category_code = rng.integers(0, len(CATEGORIES), n_lanes)
    unit_cost = np.round(rng.lognormal(np.log(8.0), 0.7, n_lanes), 2)
    case_pack = rng.choice([1, 2, 4, 6, 12, 24], n_lanes)
    lanes = pd.DataFrame(
        {
            "lane_id": np.arange(n_lanes),
            "sku_id": [f"SKU{i // 3 + 1:06d}" for i in range(n_lanes)],
            "dc_id": [f"DC{i % 3 + 1:02d}" for i in range(n_lanes)],
            "category": np.asarray(CATEGORIES)[category_code],
            "unit_cost": unit_cost,
            "unit_price": np.round(unit_cost * rng.uniform(1.15, 1.65, n_lanes), 2),
            "case_pack": case_pack,
            "moq": case_pack * rng.choice([1, 1, 2, 4], n_lanes),
            "unit_volume": rng.lognormal(0.0, 0.5, n_lanes),
            "lead_time_mean": rng.choice([2.0, 3.0, 5.0, 7.0, 10.0], n_lanes),
            "lead_time_std": rng.uniform(0.2, 2.0, n_lanes),
            "review_period": rng.choice([1, 2, 3, 7], n_lanes),
            "target_turnover_days": np.asarray(TARGET_DAYS)[category_code],
            "alpha": 0.98,
            "order_cost": 5.0,
            "category_code": category_code.astype("int16"),
        }
    )
    lanes["holding_cost"] = lanes["unit_cost"] * 0.0008
    lanes["lost_sale_cost"] = lanes["unit_price"] - lanes["unit_cost"]
    assert set(ATTRIBUTE_COLUMNS) <= set(lanes.columns)

    dates = pd.date_range("2024-01-01", periods=n_days, freq="D")
    level = np.where(
        rng.random(n_lanes) < 0.35, rng.lognormal(np.log(0.25), 0.7, n_lanes), rng.lognormal(np.log(6.0), 1.1, n_lanes)
    )
    weekly = 1.0 + 0.15 * np.sin(2 * np.pi * np.arange(n_days) / 7.0)
    launch = np.where(rng.random(n_lanes) < 0.01, n_days - rng.integers(1, 20, n_lanes), 0)  # cold starts
    sales = rng.poisson(level[:, None].astype("float32") * weekly[None, :].astype("float32")).astype("int32")
    alive = np.arange(n_days)[None, :] >= launch[:, None]
    lane_rows, day_cols = np.nonzero(alive)
    daily_sales = pd.DataFrame(
        {
            "lane_id": lane_rows,
            "date": dates.to_numpy()[day_cols],
            "sales_units": sales[lane_rows, day_cols].astype("int64"),
            "price": lanes["unit_price"].to_numpy()[lane_rows],
        }
    )
    promoted = np.flatnonzero(rng.random(n_lanes) < 0.1)
    start = n_days + rng.integers(0, 21, len(promoted))
    length = rng.integers(3, 11, len(promoted))
    rows = np.repeat(np.arange(len(promoted)), length)
    offset = np.arange(len(rows)) - np.repeat(np.cumsum(length) - length, length)
    promotion_days = pd.DataFrame(
        {
            "lane_id": promoted[rows],
            "date": dates[0] + pd.to_timedelta(start[rows] + offset, unit="D"),
            "promo_id": "P",
            "expected_uplift": 0.5,
            "expert_coverage_days": 15.0,
        }
    )
    position = level * rng.uniform(0.0, 25.0, n_lanes)
    state = pd.DataFrame(
        {
            "sku_id": lanes["sku_id"],
            "dc_id": lanes["dc_id"],
            "as_of_date": dates[-1],
            "on_hand": np.round(position * 0.7).astype("int64"),
            "on_order": np.round(position * 0.3).astype("int64"),
        }
    )
    return {"lanes": lanes, "daily_sales": daily_sales, "promotion_days": promotion_days, "state": state}


def fitted_forecaster(tables: dict, n_fit_lanes: int, processing, seed: int = 0):
    """The conf/base forecaster fitted on the first lanes, its dispersion repeated over all lanes."""
    lanes = tables["lanes"].iloc[:n_fit_lanes]
    sales = tables["daily_sales"][tables["daily_sales"]["lane_id"] < n_fit_lanes]
    promotions = tables["promotion_days"][tables["promotion_days"]["lane_id"] < n_fit_lanes]
    end = sales["date"].max()
    splits = make_time_splits(sales["date"].min(), end, processing.splits)
    panels = build_demand_panels(sales, promotions, lanes, end, processing.forecast.horizon_days)
    forecaster = fit_forecaster(panels, splits, processing.forecast, seed)
    dispersion = np.resize(forecaster.dispersion, len(tables["lanes"]))
    return dataclasses.replace(forecaster, dispersion=dispersion)


def random_policy(tables: dict, processing, batch_size: int) -> FoundationPolicy:
    pretraining, or_labeling = base_params("pretraining"), base_params("or_labeling")
    rng = np.random.default_rng(1)
    n, history, forecast = 10_000, processing.features.history_days, processing.features.forecast_days
    level = rng.gamma(1.5, 4.0, n)
    sample = DecisionInputs(
        history=rng.poisson(level[:, None], size=(n, history)).astype("float64"),
        forecast=level[:, None] * rng.uniform(0.8, 1.2, size=(n, forecast)),
        attributes=tables["lanes"][list(ATTRIBUTE_COLUMNS)].to_numpy(float)[np.arange(n) % len(tables["lanes"])],
        targets=np.column_stack([rng.uniform(0, 0.01, n), rng.choice(TARGET_DAYS, n), np.full(n, 0.98)]),
        promotions=rng.integers(0, 3, size=(n, 3)).astype("float64"),
        history_days_available=np.full(n, float(history)),
        forecast_std_sum=level * 3.0,
        category_code=rng.integers(0, len(CATEGORIES), n),
        on_hand=rng.poisson(level * 10).astype("float64"),
        on_order=rng.poisson(level * 5).astype("float64"),
    )
    normalisation = Normalisation.fit(sample, n_categories=len(CATEGORIES))
    torch.manual_seed(0)
    model = build_model(
        model_config(normalisation, np.asarray(or_labeling.coverage_grid.values()), pretraining), pretraining
    )
    return FoundationPolicy(model, normalisation, batch_size=batch_size)


def demo_policy(batch_size: int) -> FoundationPolicy | None:
    """The newest aligned policy of the demo run, if there is one."""
    versions = sorted((ROOT / "data/06_models/aligned_policy.pt").glob("*/aligned_policy.pt"))
    if not versions:
        return None
    return FoundationPolicy.from_payload(
        torch.load(versions[-1], weights_only=True, map_location="cpu"), batch_size=batch_size
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=LOOKBACK_DAYS + 8, help="days of sales history synthesised")
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument(
        "--random-policy", action="store_true", help="random weights instead of the demo's aligned policy"
    )
    parser.add_argument("--lanes-per-block", type=int, default=None, help="time recommend_in_blocks on such blocks")
    args = parser.parse_args()
    logging.basicConfig(level=logging.WARNING, format="    %(message)s")
    logging.getLogger("orpr_kedro.core.recommend").setLevel(logging.INFO)
    torch.set_num_threads(args.threads)

    processing, settings = (
        base_params("data_processing"),
        RecommendParams.model_validate(
            yaml.safe_load((ROOT / "conf/base/parameters_recommend.yml").read_text())["recommend"]
        ),
    )
    started = time.perf_counter()
    tables = synthetic_tables(args.lanes, args.days)
    forecaster = fitted_forecaster(tables, min(2_000, args.lanes), processing)
    policy = None if args.random_policy else demo_policy(settings.batch_size)
    policy_name = "the demo's aligned policy" if policy is not None else "random weights"
    policy = policy or random_policy(tables, processing, settings.batch_size)
    print(
        f"set-up (not timed) {time.perf_counter() - started:.0f} s: {args.lanes:,} SKU-DC pairs, "
        f"{len(tables['daily_sales']):,} sales rows over {args.days} days, forecaster of {forecaster.model.n_iter_} trees, "
        f"policy: {policy_name}, torch {args.threads} threads"
    )

    arguments = (
        tables["state"],
        tables["lanes"],
        tables["daily_sales"],
        tables["promotion_days"],
        forecaster,
        policy,
        processing.features,
        processing.splits.decision_weekday,
        settings,
    )

    def run() -> pd.DataFrame:
        if args.lanes_per_block:
            return recommend_in_blocks(*arguments, ExecutionParams(lanes_per_block=args.lanes_per_block))
        return recommend_orders(*arguments)

    began = time.perf_counter()
    result = run()
    first = time.perf_counter() - began
    times = []
    for _ in range(args.repeats):
        began = time.perf_counter()
        run()
        times.append(time.perf_counter() - began)
    function = (
        f"recommend_in_blocks ({args.lanes_per_block} lanes per block)" if args.lanes_per_block else "recommend_orders"
    )
    print(
        f"{function} for {len(result):,} SKU-DC pairs ({int(result['cold_start'].sum()):,} cold starts, "
        f"{int((result['order_units'] > 0).sum()):,} orders, mean coverage {result['coverage_days'].mean():.1f} d): "
        f"first call {first:.2f} s; then best {min(times):.2f} s, median {statistics.median(times):.2f} s over {args.repeats} calls; "
        f"peak memory of the process {resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 2**20:.2f} GiB"
    )


if __name__ == "__main__":
    main()
