"""Decision quality: every policy's test-period cost against the strongest classic baseline.

Usage:
    .venv/bin/python bench/bench_decision_quality.py [--env base demo_seed2] [--run] [--params K=V,...]

With ``--run`` it first runs the whole chain on each environment exactly as
``make run ENV=<env>`` does (``kedro demo-data`` then ``kedro run``; ``--params`` is
passed to ``kedro run``, e.g. ``evaluation.decision_cadence=weekly``); without it,
it reads the newest evaluation outputs the environment's catalog already holds.
For each environment it prints, per policy, the total cost, its paired change
against the strongest classic baseline with the bootstrap interval over SKU-DCs
(the evaluation pipeline's ``rpt_evaluation_kpis``), in-stock and its difference
in points, and turnover days, then the deployment verdict the report gives.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

import pandas as pd
from kedro.framework.session import KedroSession
from kedro.framework.startup import bootstrap_project

from orpr_kedro.core.evaluation.report import POLICY_LABELS, deployment_verdict

os.environ.setdefault("KEDRO_DISABLE_TELEMETRY", "true")
PROJECT = Path(__file__).resolve().parents[1]
KEDRO = str(Path(sys.executable).with_name("kedro"))


def run_chain(env: str, params: str | None = None) -> float:
    """The whole chain on ``env`` as ``make run ENV=env`` runs it (``params``: ``kedro run --params``); wall seconds."""
    started = time.perf_counter()
    run = ["run", "--env", env, *(["--params", params] if params else [])]
    for command in (["demo-data", "--env", env], run):
        subprocess.run([KEDRO, *command], cwd=PROJECT, check=True)
    return time.perf_counter() - started


def load(env: str) -> tuple[pd.DataFrame, str]:
    """The newest KPI table of ``env`` and the baseline its intervals are paired against."""
    bootstrap_project(PROJECT)
    with KedroSession.create(project_path=PROJECT, env=None if env == "base" else env) as session:
        context = session.load_context()
        kpis = context.catalog.load("rpt_evaluation_kpis")
    if "reference_policy" not in kpis.columns:
        raise SystemExit(f"{env}: rpt_evaluation_kpis has no reference_policy column; rerun the evaluation pipeline")
    return kpis, str(kpis["reference_policy"].iloc[0])


def table(kpis: pd.DataFrame, baseline: str) -> pd.DataFrame:
    overall = kpis[kpis["scope"] == "all"].set_index("policy")
    bar = overall.loc[baseline]
    rows = []
    for policy, row in overall.iterrows():
        change = row["total_cost_change_vs_reference"]
        interval = (
            ""
            if policy == baseline
            else f"[{row['total_cost_change_vs_reference_ci_low']:+.1%}, {row['total_cost_change_vs_reference_ci_high']:+.1%}]"
        )
        rows.append(
            {
                "policy": POLICY_LABELS.get(str(policy), str(policy)),
                "total cost": f"{row['total_cost']:,.0f}",
                "vs baseline": "-" if policy == baseline else f"{change:+.1%}",
                "95% interval": interval,
                "in-stock": f"{row['in_stock_rate']:.2%}",
                "points vs baseline": f"{100 * (row['in_stock_rate'] - bar['in_stock_rate']):+.2f}",
                "turnover days": f"{row['turnover_days']:.1f}",
            }
        )
    return pd.DataFrame(rows)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--env", nargs="+", default=["base", "demo_seed2"])
    parser.add_argument("--run", action="store_true", help="run the whole chain on each environment first")
    parser.add_argument("--params", help="with --run: kedro run --params, e.g. evaluation.decision_cadence=weekly")
    args = parser.parse_args()
    if args.params and not args.run:
        parser.error("--params needs --run (without it the newest outputs are read as they are)")
    for env in args.env:
        seconds = run_chain(env, args.params) if args.run else None
        kpis, baseline = load(env)
        verdict, reason, _ = deployment_verdict(kpis, baseline)
        print(f"\n== {env}: strongest classic baseline = {POLICY_LABELS.get(baseline, baseline)}")
        if seconds is not None:
            print(f"whole chain: {seconds:.0f} s")
        print(table(kpis, baseline).to_string(index=False))
        print(f"verdict: {verdict} ({reason})")


if __name__ == "__main__":
    main()
