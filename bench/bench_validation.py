"""Peak memory of the raw-data validation: the whole sales table against the sales streamed in lane blocks.

Usage:
    .venv/bin/python bench/bench_validation.py [--lanes 27000] [--days 731] [--order lane]
        [--lanes-per-block 4096] [--data data/bench_validation] [--whole-src src] [--modes whole,blocks]

Writes a synthetic raw data set first, unless ``--data`` already holds one of the same
size (not measured): ``--lanes`` SKU-DC lanes (SKUs of 10 DCs each) of ``--days``
daily sales rows, valid against the data contract, the sales as one Parquet file
written in chunks of about half a million rows with pyarrow (so writing it never
holds the table), in lane order (``--order lane``, as the demo writes it) or day by
day (``--order date``, every lane's row of one day before the next day's).

Then each mode runs in a fresh Python process, which reports its own peak resident
memory (``ru_maxrss``) and wall time:

- ``whole``: ``pandas.read_parquet`` of the sales, then ``validate_raw_tables`` of the
  code under ``--whole-src`` (a ``src`` folder; default this checkout's), i.e. every
  check on the whole table in memory. Point it at an older checkout's ``src`` (e.g.
  ``git archive <commit> src | tar -x -C /tmp/old``) to measure that code;
- ``blocks``: what ``validate_raw_data`` does: ``validate_history`` on the sales
  streamed from Parquet in record batches (``ParquetSource``), cut into blocks of
  ``--lanes-per-block`` lanes and checked block by block on the serial executor.

Both must find the data valid; the masters are read whole in both.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import textwrap
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

PROJECT = Path(__file__).resolve().parents[1]
DCS = 10
CATEGORIES = ("beverages", "dairy", "snacks", "personal_care")
CHUNK_ROWS = 500_000


def _masters(lanes: int) -> dict[str, pd.DataFrame]:
    skus = [f"SKU{number:06d}" for number in range(1, -(-lanes // DCS) + 1)]
    sku_master = pd.DataFrame(
        {
            "sku_id": skus,
            "category": [CATEGORIES[number % len(CATEGORIES)] for number in range(len(skus))],
            "unit_cost": 2.0,
            "unit_price": 3.0,
            "case_pack": 6,
            "moq": 0,
            "unit_volume": 1.0,
        }
    )
    pairs = [(sku, f"DC{dc:02d}") for sku in skus for dc in range(1, DCS + 1)][:lanes]
    sku_dc_master = pd.DataFrame(pairs, columns=["sku_id", "dc_id"]).assign(
        lead_time_mean=3.0, lead_time_std=1.0, review_period=7, initial_on_hand=20
    )
    promotions = pd.DataFrame(
        {
            "promo_id": ["P1"],
            "sku_id": [skus[0]],
            "category": [None],
            "dc_id": [None],
            "start_date": ["2024-03-01"],
            "end_date": ["2024-03-07"],
            "expected_uplift": [0.5],
            "expert_coverage_days": [10.0],
        }
    )
    targets = pd.DataFrame({"category": list(CATEGORIES), "target_turnover_days": 20.0, "alpha": 0.95})
    return {
        "raw_sku_master": sku_master,
        "raw_sku_dc_master": sku_dc_master,
        "raw_promotions": promotions,
        "raw_category_targets": targets,
    }


def _sales_chunks(lanes: pd.DataFrame, days: int, order: str, seed: int = 5):
    """Record batches of the sales, about CHUNK_ROWS rows each, in ``order``."""
    rng = np.random.default_rng(seed)
    dates = pd.date_range("2024-01-01", periods=days, freq="D").to_numpy()
    sku, dc = lanes["sku_id"].to_numpy(dtype=object), lanes["dc_id"].to_numpy(dtype=object)
    if order == "lane":
        step = max(1, CHUNK_ROWS // days)
        for start in range(0, len(lanes), step):
            count = min(step, len(lanes) - start)
            index = np.repeat(np.arange(start, start + count), days)
            yield _batch(sku[index], dc[index], np.tile(dates, count), rng)
    else:
        step = max(1, CHUNK_ROWS // len(lanes))
        for start in range(0, days, step):
            count = min(step, days - start)
            index = np.tile(np.arange(len(lanes)), count)
            yield _batch(sku[index], dc[index], np.repeat(dates[start : start + count], len(lanes)), rng)


def _batch(sku: np.ndarray, dc: np.ndarray, dates: np.ndarray, rng: np.random.Generator) -> pa.RecordBatch:
    rows = len(sku)
    return pa.RecordBatch.from_pydict(
        {
            "sku_id": pa.array(sku, pa.string()),
            "dc_id": pa.array(dc, pa.string()),
            "date": pa.array(dates.astype("datetime64[ns]")),
            "sales_units": pa.array(rng.poisson(3.0, rows).astype("int64")),
            "price": pa.array(np.round(rng.uniform(2.5, 3.5, rows), 2)),
            "promo_flag": pa.array(rng.random(rows) < 0.05),
        }
    )


def write_data(folder: Path, lanes: int, days: int, order: str) -> None:
    """The raw data set in ``folder`` (masters as CSV, sales as one Parquet file), unless it is there already."""
    marker = folder / "size.json"
    size = {"lanes": lanes, "days": days, "order": order}
    if marker.exists() and json.loads(marker.read_text()) == size:
        return
    folder.mkdir(parents=True, exist_ok=True)
    masters = _masters(lanes)
    for name, frame in masters.items():
        frame.to_csv(folder / f"{name}.csv", index=False)
    writer = None
    for batch in _sales_chunks(masters["raw_sku_dc_master"], days, order):
        if writer is None:
            writer = pq.ParquetWriter(folder / "raw_sales.parquet", batch.schema)
        writer.write_batch(batch)
    writer.close()
    marker.write_text(json.dumps(size))


# Each mode in its own process: its peak resident memory is its own.
_WHOLE = """
import resource, sys, time
import pandas as pd
from orpr_kedro.core.data.contract import validate_raw_tables
folder = sys.argv[1]
start = time.perf_counter()
tables = {name: pd.read_csv(f"{folder}/{name}.csv", dtype={"sku_id": str, "dc_id": str, "category": str,
          "promo_id": str}) for name in MASTERS}
tables["raw_sales"] = pd.read_parquet(f"{folder}/raw_sales.parquet")
typed = validate_raw_tables(tables)
print(len(typed["raw_sales"]), time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""

_BLOCKS = """
import resource, sys, time
import pandas as pd
from orpr_kedro.core.data.blocks import spill_folder
from orpr_kedro.core.data.contract import validate_history
from orpr_kedro.core.data.sources import ParquetSource
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.params import ExecutorParams
folder, lanes_per_block = sys.argv[1], int(sys.argv[2])
start = time.perf_counter()
masters = {name: pd.read_csv(f"{folder}/{name}.csv", dtype={"sku_id": str, "dc_id": str, "category": str,
           "promo_id": str}) for name in MASTERS}
with TaskExecutor(ExecutorParams(kind="serial"), progress=False) as executor:
    _, sales = validate_history(ParquetSource(f"{folder}/raw_sales.parquet"), masters, executor=executor,
                                spill=spill_folder(f"{folder}/spill"), lanes_per_block=lanes_per_block)
print(sales.n_rows, time.perf_counter() - start, resource.getrusage(resource.RUSAGE_SELF).ru_maxrss)
"""


def _run(mode: str, folder: Path, src: Path, lanes_per_block: int) -> tuple[int, float, float]:
    """(rows validated, seconds, peak RSS in GiB) of one mode in a fresh process."""
    masters = "MASTERS = ('raw_sku_master', 'raw_sku_dc_master', 'raw_promotions', 'raw_category_targets')\n"
    script = masters + textwrap.dedent(_WHOLE if mode == "whole" else _BLOCKS)
    env = {**os.environ, "PYTHONPATH": str(src), "KEDRO_DISABLE_TELEMETRY": "true"}
    done = subprocess.run(
        [sys.executable, "-c", script, str(folder), str(lanes_per_block)],
        env=env,
        check=True,
        capture_output=True,
        text=True,
    )
    rows, seconds, peak_kib = done.stdout.split()[-3:]
    return int(rows), float(seconds), int(peak_kib) / 2**20


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, default=27_000)
    parser.add_argument("--days", type=int, default=731)
    parser.add_argument("--order", choices=("lane", "date"), default="lane")
    parser.add_argument("--lanes-per-block", type=int, default=4096)
    parser.add_argument("--data", type=Path, default=PROJECT / "data" / "bench_validation")
    parser.add_argument("--whole-src", type=Path, default=PROJECT / "src")
    parser.add_argument("--modes", default="whole,blocks")
    args = parser.parse_args()
    write_data(args.data, args.lanes, args.days, args.order)
    size = (args.data / "raw_sales.parquet").stat().st_size / 2**20
    print(
        f"raw_sales: {args.lanes:,} lanes x {args.days} days = {args.lanes * args.days:,} rows "
        f"({args.order} order), {size:,.0f} MiB of Parquet"
    )
    print(f"{'mode':<8} {'rows':>12} {'seconds':>9} {'peak RSS GiB':>13}")
    for mode in args.modes.split(","):
        src = args.whole_src if mode == "whole" else PROJECT / "src"
        rows, seconds, peak = _run(mode, args.data, src, args.lanes_per_block)
        label = f"{mode} ({args.lanes_per_block} lanes/block)" if mode == "blocks" else f"{mode} ({src})"
        print(f"{mode:<8} {rows:>12,} {seconds:>9.1f} {peak:>13.2f}   {label}")


if __name__ == "__main__":
    main()
