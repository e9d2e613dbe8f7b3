"""What the whole-run staging costs: the run with its outputs staged against the same run written in place.

Usage:
    .venv/bin/python bench/bench_staging.py [--env test] [--pipeline data_processing] [--repeats 3]

Generates the environment's demo raw data first when it is missing (not timed), then
runs the pipeline ``--repeats`` times in each of two ways, alternating, through a real
Kedro session:

- ``staged``: as every run does (:mod:`orpr_kedro.staging`): the unversioned outputs
  are written under ``<data_root>/.staging/<run_id>`` and renamed into place when the
  run completes, the manifest last;
- ``in place``: the same run with :meth:`RunStaging.stage` turned off, so every output
  is written where it is published (what a run did before the staging).

For the staged runs it also times the staging's own steps inside the run: staging the
outputs (``before_pipeline_run``), hashing the staged files for the manifest, and
publishing (commit file, renames, manifest, removing the staging folder).
"""

from __future__ import annotations

import argparse
import functools
import os
import statistics
import time
from collections import defaultdict

from _project import PROJECT, prepare_project
from kedro.framework.session import KedroSession

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")

MODE = ["warm-up"]  # the kind of run in progress
SPENT: dict[str, dict[str, float]] = defaultdict(lambda: defaultdict(float))  # mode -> step -> seconds
CALLS: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))  # mode -> step -> calls


def _timed(owner: object, name: str, label: str) -> None:
    """Add the wall time of every call of ``owner.name`` to ``SPENT[<current mode>][label]``."""
    original = getattr(owner, name)

    @functools.wraps(original)
    def wrapper(*args, **kwargs):
        start = time.perf_counter()
        try:
            return original(*args, **kwargs)
        finally:
            SPENT[MODE[0]][label] += time.perf_counter() - start
            CALLS[MODE[0]][label] += 1

    setattr(owner, name, wrapper)


def _run(env: str | None, pipeline: str) -> float:
    with KedroSession.create(project_path=PROJECT, env=env) as session:
        start = time.perf_counter()
        session.run(pipeline_name=pipeline)
        return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="test")
    parser.add_argument("--pipeline", default="data_processing")
    parser.add_argument("--repeats", type=int, default=3)
    args = parser.parse_args()
    prepare_project(args.env, quiet=("kedro", "orpr_kedro"))
    from orpr_kedro import manifest, staging  # noqa: PLC0415 - after the project is bootstrapped

    env = None if args.env == "base" else args.env

    _timed(staging.RunStaging, "stage", "stage the outputs")
    _timed(manifest, "_file_hash", "hash the written files (manifest)")
    _timed(staging, "_replace", "rename into place")
    _timed(staging, "write_json_atomically", "commit file and manifest")
    _timed(staging.RunStaging, "remove", "remove the staging folder")
    _timed(manifest.RunManifestHooks, "after_pipeline_run", "the end-of-run hook in all")
    staged = staging.RunStaging.stage

    def in_place(self, catalog, names):
        self._catalog = catalog  # nothing staged: every output is written where it is published

    _run(env, args.pipeline)  # warm-up (imports, numba caches), not counted
    walls: dict[str, list[float]] = {"staged": [], "in place": []}
    for _ in range(args.repeats):
        for mode, stage in (("staged", staged), ("in place", in_place)):
            MODE[0] = mode
            staging.RunStaging.stage = stage
            walls[mode].append(_run(env, args.pipeline))
    staging.RunStaging.stage = staged

    data_root = PROJECT / ("data" if env is None else f"data/{args.env}")
    size = sum(path.stat().st_size for path in data_root.rglob("*") if path.is_file() and ".staging" not in path.parts)
    print(
        f"pipeline {args.pipeline} on env {args.env}: {args.repeats} runs each, {os.cpu_count()} CPU cores, "
        f"data root {size / 1e6:.1f} MB"
    )
    for mode, seconds in walls.items():
        print(
            f"  {mode:<9} wall: median {statistics.median(seconds):6.2f} s "
            f"(min {min(seconds):.2f}, max {max(seconds):.2f})"
        )
    print(
        f"  difference of the medians: {statistics.median(walls['staged']) - statistics.median(walls['in place']):+.2f} s"
    )
    for mode in walls:
        print(f"  {mode} runs, per run (mean):")
        for label, seconds in SPENT[mode].items():
            calls = CALLS[mode][label] / args.repeats
            print(f"    {label:<40} {1000 * seconds / args.repeats:8.1f} ms  ({calls:g} calls)")


if __name__ == "__main__":
    main()
