"""PPO against RLOO: what each alignment algorithm buys over the pretrained network.

Usage:
    .venv/bin/python bench/bench_rl_algorithms.py [--env base] [--algorithms ppo rloo] [--set key=value ...]

For each algorithm it runs the ``rl_alignment`` pipeline on the environment's persisted
inputs (run the chain up to pretraining first, e.g. ``make run``) with
``rl_alignment.algorithm`` set (``--set`` adds further ``--params`` overrides, e.g.
``rl_alignment.epochs=100``), and prints from the run's ``rpt_rl_alignment_summary``:

* the scaled cost of the fixed training-period episodes (greedy policy, the same
  episodes and lead-time draws at every epoch) for the pretrained network and for the
  kept epoch, and which epoch was kept;
* the validation total-cost change of the aligned policy against the pretrained one
  (closed loop) with its paired lane-bootstrap interval, and whether the deployment
  gate let it through;
* the training wall time.

Each run rewrites the aligned policy and ``mdl_orpr_policy``; the configured algorithm
runs last, so the catalog ends as ``kedro run`` leaves it.
"""

# ruff: noqa: T201 - a benchmark reports on stdout

from __future__ import annotations

import argparse
import os
import subprocess
import sys
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.core.params import RLAlignmentParams, as_params

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))


def _session_env(env: str) -> str | None:
    return None if env == "base" else env


def configured_algorithm(env: str) -> str:
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env=_session_env(env)) as session:
        return as_params(RLAlignmentParams, session.load_context().params["rl_alignment"]).algorithm


def align(env: str, algorithm: str, overrides: list[str]) -> pd.Series:
    """Run rl_alignment with ``algorithm``; the run's summary (metric -> value)."""
    params = ",".join([f"rl_alignment.algorithm={algorithm}", *overrides])
    command = [KEDRO, "run", "--pipelines", "rl_alignment", "--params", params]
    if _session_env(env):
        command += ["--env", env]
    subprocess.run(command, cwd=PROJECT, check=True, stdout=subprocess.DEVNULL)
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env=_session_env(env)) as session:
        summary = session.load_context().catalog.load("rpt_rl_alignment_summary")
    return summary.set_index("metric")["value"]


def row(algorithm: str, summary: pd.Series) -> dict[str, object]:
    fixed_before = summary.get("fixed_episode_scaled_cost_pretrained", float("nan"))
    fixed_after = summary.get("fixed_episode_scaled_cost_kept", float("nan"))
    return {
        "algorithm": algorithm,
        "fixed episodes: change": f"{fixed_after / fixed_before - 1:+.2%}",
        "kept epoch": int(summary.get("kept_epoch", 0)),
        "validation change": f"{summary['total_cost_change_pct'] / 100:+.2%}",
        "interval": f"[{summary['total_cost_change_ci_low_pct'] / 100:+.2%}, "
        f"{summary['total_cost_change_ci_high_pct'] / 100:+.2%}]",
        "deployed": "aligned" if summary.get("deployed_aligned", 0) else "pretrained",
        "training s": f"{summary.get('training_wall_s', float('nan')):.1f}",
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", default="base")
    parser.add_argument("--algorithms", nargs="+", default=["ppo", "rloo"], choices=["ppo", "rloo"])
    parser.add_argument("--set", nargs="*", default=[], dest="overrides", help="further --params key=value")
    args = parser.parse_args()
    default = configured_algorithm(args.env)
    order = [a for a in args.algorithms if a != default] + [a for a in args.algorithms if a == default]
    rows = [row(algorithm, align(args.env, algorithm, args.overrides)) for algorithm in order]
    print(f"environment {args.env}, overrides {args.overrides or 'none'} (configured algorithm: {default})")
    print(pd.DataFrame(rows).to_string(index=False))
    if default not in args.algorithms:
        align(args.env, default, args.overrides)  # leave the catalog as kedro run does


if __name__ == "__main__":
    main()
