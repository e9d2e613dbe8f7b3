"""Wall time of a pipeline through a real Kedro session, node by node.

Usage:
    .venv/bin/python bench/bench_pipeline.py [--env base|staging] [--pipeline data_processing]

Generates the environment's demo raw data first when it is missing (not timed),
then runs the pipeline once and prints the wall time of each node and of the run.
"""

from __future__ import annotations

import argparse
import os
import time
from collections import defaultdict

from _project import PROJECT, prepare_project
from kedro.framework.hooks import hook_impl
from kedro.framework.session import KedroSession

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")


class NodeTimer:
    """Records the wall time of every node."""

    def __init__(self) -> None:
        self.started: dict[str, float] = {}
        self.seconds: dict[str, float] = defaultdict(float)

    @hook_impl
    def before_node_run(self, node) -> None:
        self.started[node.name] = time.perf_counter()

    @hook_impl
    def after_node_run(self, node) -> None:
        self.seconds[node.name] += time.perf_counter() - self.started.pop(node.name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--pipeline", default="data_processing")
    args = parser.parse_args()
    prepare_project(args.env, quiet=("kedro",))
    timer = NodeTimer()
    env = None if args.env == "base" else args.env
    with KedroSession.create(project_path=PROJECT, env=env) as session:
        session._hook_manager.register(timer)
        start = time.perf_counter()
        session.run(pipeline_name=args.pipeline)
        total = time.perf_counter() - start
    print(f"pipeline {args.pipeline} on env {args.env}: {total:.1f} s wall, {os.cpu_count()} CPU cores")
    for name, seconds in sorted(timer.seconds.items(), key=lambda item: -item[1]):
        print(f"  {name:<32} {seconds:7.1f} s")


if __name__ == "__main__":
    main()
