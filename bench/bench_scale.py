"""Wall time and peak memory of the whole chain as the number of SKU-DC lanes grows.

Usage:
    .venv/bin/python bench/bench_scale.py [--lanes 10000 30000 100000] [--stages demo-data data_processing ...]
        [--block-size 2000] [--timeout 3600] [--keep]

For each ``--lanes`` value, a temporary environment ``conf/scale_<lanes>`` is made
from ``conf/scale`` (git-ignored, removed afterwards) with ``n_skus = lanes /
mean_dcs_per_sku`` and ``data_root: data/scale_<lanes>``. Then each stage runs as
its own process, as a user runs it:

- ``demo-data``: ``kedro demo-data --env scale_<lanes>`` (the generator, in blocks of
  ``--block-size`` SKUs); when it is among the stages the data folder starts empty;
- one per pipeline, in the order of ``kedro run`` (recommend before evaluation,
  whose report reads recommend's summaries): ``kedro run --env scale_<lanes>
  --pipelines <stage>``.

Each stage is timed (wall clock) and its peak memory is the largest sum of the
resident set sizes of the process and all its children (worker processes
included), polled every 0.2 s. A failed or timed-out stage stops the remaining
stages of that lane count (the next lane count still runs); its log's tail is
printed. ``data/scale_<lanes>`` is removed at the end unless ``--keep`` is given.
"""

from __future__ import annotations

import argparse
import contextlib
import os
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from pathlib import Path

import psutil
import yaml

PROJECT = Path(__file__).resolve().parents[1]
# the order of `kedro run`: the report (evaluation) summarises recommend's orders
CHAIN = ["demo-data", "data_processing", "or_labeling", "pretraining", "rl_alignment", "recommend", "evaluation"]
POLL_SECONDS = 0.2


@dataclass
class StageResult:
    """One stage of one lane count."""

    stage: str
    wall_s: float
    peak_bytes: int
    status: str  # "ok", "failed (exit N)" or "timed out"


def _tree_rss(process: psutil.Process) -> int:
    """Resident memory of a process and all its children, in bytes (0 once it is gone)."""
    total = 0
    try:
        members = [process, *process.children(recursive=True)]
    except psutil.NoSuchProcess:
        return 0
    for member in members:
        with contextlib.suppress(psutil.NoSuchProcess, psutil.AccessDenied):
            total += member.memory_info().rss
    return total


def run_stage(command: list[str], log: Path, timeout: float) -> tuple[float, int, int | None]:
    """Run ``command`` in the project folder; wall seconds, peak tree RSS and exit code (None: timed out)."""
    environment = {**os.environ, "KEDRO_DISABLE_TELEMETRY": "true"}
    with log.open("wb") as output:
        start = time.perf_counter()
        child = subprocess.Popen(  # noqa: S603 - the project's own commands
            command, cwd=PROJECT, stdout=output, stderr=subprocess.STDOUT, env=environment, start_new_session=True
        )
        peak = [0]
        done = threading.Event()

        def poll() -> None:
            process = psutil.Process(child.pid)
            while not done.is_set():
                peak[0] = max(peak[0], _tree_rss(process))
                done.wait(POLL_SECONDS)

        poller = threading.Thread(target=poll, daemon=True)
        poller.start()
        try:
            code: int | None = child.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            os.killpg(child.pid, signal.SIGKILL)  # the stage and its worker processes
            child.wait()
            code = None
        wall = time.perf_counter() - start
        done.set()
        poller.join()
    return wall, peak[0], code


def make_environment(lanes: int, block_size: int | None) -> tuple[str, int]:
    """``conf/scale_<lanes>`` from ``conf/scale``; its name and number of SKUs."""
    name = f"scale_{lanes}"
    source, target = PROJECT / "conf" / "scale", PROJECT / "conf" / name
    shutil.rmtree(target, ignore_errors=True)
    shutil.copytree(source, target)
    settings = yaml.safe_load((source / "demo_data.yml").read_text(encoding="utf-8"))
    n_skus = max(2, round(lanes / float(settings["mean_dcs_per_sku"])))
    settings["n_skus"] = n_skus
    if block_size is not None:
        settings["sku_block_size"] = block_size
    (target / "demo_data.yml").write_text(yaml.safe_dump(settings, sort_keys=False), encoding="utf-8")
    globals_text = (source / "globals.yml").read_text(encoding="utf-8")
    (target / "globals.yml").write_text(globals_text.replace("data/scale", f"data/{name}"), encoding="utf-8")
    return name, n_skus


def _lane_count(env: str) -> int | None:
    """Lanes of the generated data (rows of the SKU-DC master), None before it exists."""
    master = PROJECT / "data" / env / "01_raw" / "sku_dc_master.csv"
    if not master.is_file():
        return None
    with master.open(encoding="utf-8") as file:
        return sum(1 for _ in file) - 1


def _command(stage: str, env: str) -> list[str]:
    if stage == "demo-data":
        return [sys.executable, "-m", "kedro", "demo-data", "--env", env]
    return [sys.executable, "-m", "kedro", "run", "--env", env, "--pipelines", stage]


def _print_table(lanes: int, n_skus: int, actual: int | None, results: list[StageResult]) -> None:
    count = actual or lanes
    per = count / 1000.0
    generated = "n/a" if actual is None else f"{actual:,}"
    print(f"\n{lanes:,} lanes requested ({n_skus:,} SKUs; generated lanes: {generated})")
    print(f"  {'stage':<16} {'wall s':>9} {'peak GB':>8} {'s / 1k lanes':>13} {'MB / 1k lanes':>14}  status")
    for result in results:
        gb = result.peak_bytes / 1e9
        print(
            f"  {result.stage:<16} {result.wall_s:9.1f} {gb:8.2f} {result.wall_s / per:13.2f} "
            f"{result.peak_bytes / 1e6 / per:14.1f}  {result.status}"
        )
    if results:
        wall = sum(result.wall_s for result in results)
        peak = max(result.peak_bytes for result in results)
        complete = all(result.status == "ok" for result in results)
        print(
            f"  {'whole chain':<16} {wall:9.1f} {peak / 1e9:8.2f} {wall / per:13.2f} {peak / 1e6 / per:14.1f}  "
            f"{'ok' if complete else 'incomplete'} (wall: sum of the stages, peak: largest stage)"
        )


def bench_lanes(lanes: int, stages: list[str], args: argparse.Namespace, logs: Path) -> None:
    """Every requested stage for one lane count; stops at the first failed stage."""
    env, n_skus = make_environment(lanes, args.block_size)
    data = PROJECT / "data" / env
    results: list[StageResult] = []
    try:
        if "demo-data" in stages:
            shutil.rmtree(data, ignore_errors=True)  # generate from scratch
        for position, stage in enumerate(stages):
            log = logs / f"{env}-{stage}.log"
            print(f"[{env}] {stage} ...", flush=True)
            wall, peak, code = run_stage(_command(stage, env), log, args.timeout)
            status = "ok" if code == 0 else ("timed out" if code is None else f"failed (exit {code})")
            results.append(StageResult(stage, wall, peak, status))
            if code != 0:
                tail = log.read_text(encoding="utf-8", errors="replace").splitlines()[-25:]
                print(f"[{env}] {stage} {status} after {wall:.1f} s; log {log}:\n  " + "\n  ".join(tail))
                skipped = stages[position + 1 :]
                if skipped:
                    print(f"[{env}] not run after the failed stage: {', '.join(skipped)}")
                break
        _print_table(lanes, n_skus, _lane_count(env), results)
    finally:
        shutil.rmtree(PROJECT / "conf" / env, ignore_errors=True)
        if not args.keep:
            shutil.rmtree(data, ignore_errors=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lanes", type=int, nargs="+", default=[10_000, 30_000, 100_000])
    parser.add_argument("--stages", nargs="+", choices=CHAIN, default=CHAIN, help="a subset, run in chain order")
    parser.add_argument("--block-size", type=int, default=None, help="SKUs per block (default: conf/scale's)")
    parser.add_argument("--timeout", type=float, default=3600.0, help="seconds per stage")
    parser.add_argument("--keep", action="store_true", help="keep data/scale_<lanes> afterwards")
    args = parser.parse_args()
    stages = [stage for stage in CHAIN if stage in args.stages]
    logs = Path(tempfile.mkdtemp(prefix="bench_scale-"))
    print(
        f"stages: {', '.join(stages)}; {os.cpu_count()} CPU cores, "
        f"{psutil.virtual_memory().total / 1e9:.0f} GB memory; logs in {logs}"
    )
    for lanes in args.lanes:
        bench_lanes(lanes, stages, args, logs)


if __name__ == "__main__":
    main()
