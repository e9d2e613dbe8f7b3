"""Gurobi versus HiGHS on the ORPR multiple-choice model.

Generates random models shaped like simulated curves (holding cost increasing and
convex in the days of cover v, lost-sales value decreasing and convex, a loss budget
per category = (1 - alpha) * SALES) and prints per-model solve times:

* ``--models`` models of ``--items`` x ``--candidates`` (default 20 x [45 x 41] = 1845
  variables, inside the size-limited pip licence) solved by Gurobi and by HiGHS;
* ``--large-reps`` models of ``--large-items`` x ``--candidates`` (default 1250 x 41 =
  51250 variables, over the Gurobi licence) solved with ``solver="auto"``, which goes
  to HiGHS and records why.

Run: ``python bench/bench_solvers.py [--models 20] [--mip-gap 1e-4] ...``
"""
# ruff: noqa: T201 - a benchmark reports on stdout

from __future__ import annotations

import argparse
import logging
import platform
import statistics
import sys
import time
from pathlib import Path

import numpy as np

try:
    from orpr_kedro.core.optimization import MultipleChoiceProblem, solve
except ImportError:  # running from a checkout without an editable install
    sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "src"))
    from orpr_kedro.core.optimization import MultipleChoiceProblem, solve


def make_model(
    rng: np.random.Generator,
    n: int,
    k: int,
    *,
    n_groups: int,
    alpha: float,
    bands: bool,
    model_id: str,
) -> MultipleChoiceProblem:
    """Random model with simulated-looking curves (monotone, convex, no dominance)."""
    v = np.arange(k, dtype=float)
    demand = rng.lognormal(np.log(20), 0.8, (n, 1))  # units / day
    unit_value = rng.uniform(2, 40, (n, 1))
    holding = 0.25 / 365 * unit_value  # holding cost per unit-day
    cv = rng.uniform(0.3, 1.2, (n, 1))  # demand variability drives the loss decay
    horizon = 28.0
    cost = holding * demand * (0.5 * v + 0.015 * v**2) * horizon / 7
    sales = unit_value * demand * horizon
    loss = sales * np.exp(-v / (3 * cv + 1)) * (1 + 0.05 * rng.standard_normal((n, 1)) ** 2)
    group = rng.integers(0, n_groups, n)
    budgets = (1 - alpha) * np.bincount(group, sales[:, 0], minlength=n_groups)
    allowed = None
    if bands:
        lo = rng.integers(0, max(1, k // 8), n)
        hi = rng.integers(int(0.6 * k), k, n)
        allowed = (v >= lo[:, None]) & (v <= hi[:, None])
    return MultipleChoiceProblem(
        cost=cost,
        loss=loss,
        group=group,
        budgets=budgets,
        allowed=allowed,
        model_id=model_id,
    )


def summary(times: list[float]) -> str:
    arr = np.asarray(times)
    return (
        f"median {np.median(arr) * 1e3:8.1f} ms   p90 {np.percentile(arr, 90) * 1e3:8.1f} ms   "
        f"mean {arr.mean() * 1e3:8.1f} ms   max {arr.max() * 1e3:8.1f} ms"
    )


def bench_medium(args: argparse.Namespace, rng: np.random.Generator, common: dict) -> None:
    """Same models through Gurobi and HiGHS."""
    times: dict[str, list[float]] = {"gurobi": [], "highs": []}
    totals: dict[str, list[float]] = {"gurobi": [], "highs": []}
    rel_diff, statuses, size = [], [], None
    for i in range(args.models):
        problem = make_model(
            rng,
            args.items,
            args.candidates,
            n_groups=args.groups,
            alpha=args.alpha,
            bands=args.bands,
            model_id=f"bench-{i}",
        )
        objectives = {}
        for solver in ("gurobi", "highs"):
            result = solve(problem, solver=solver, **common)
            times[solver].append(result.solve_time_s)
            totals[solver].append(result.total_time_s)
            objectives[solver] = result.objective
            statuses.append(f"{solver}:{result.status}")
            size = size or (problem.size, (result.n_variables, result.n_constraints))
        rel_diff.append(abs(objectives["gurobi"] - objectives["highs"]) / max(1.0, abs(objectives["gurobi"])))
    print(
        f"\n{args.models} models of {args.items} items x {args.candidates} candidates "
        f"(first model: {size[0][0]} x {size[0][1]} variables x constraints, "
        f"{size[1][0]} x {size[1][1]} after reduction)"
    )
    for solver in ("gurobi", "highs"):
        print(f"  {solver:7s} optimise  : {summary(times[solver])}")
        print(f"  {solver:7s} end-to-end: {summary(totals[solver])}")
    ratio = [h / g for h, g in zip(times["highs"], times["gurobi"], strict=True) if g > 0]
    print(f"  HiGHS / Gurobi optimise time: median x{statistics.median(ratio):.1f}")
    print(f"  max relative objective difference: {max(rel_diff):.2e}  (gap tolerance {args.mip_gap})")
    print(f"  statuses: { {s: statuses.count(s) for s in sorted(set(statuses))} }")


def bench_large(args: argparse.Namespace, rng: np.random.Generator, common: dict) -> None:
    """Models over the Gurobi licence: ``auto`` goes to HiGHS."""
    times, totals = [], []
    for i in range(args.large_reps):
        problem = make_model(
            rng,
            args.large_items,
            args.candidates,
            n_groups=args.groups,
            alpha=args.alpha,
            bands=args.bands,
            model_id=f"bench-large-{i}",
        )
        t0 = time.perf_counter()
        result = solve(problem, solver="auto", **common)
        totals.append(time.perf_counter() - t0)
        times.append(result.solve_time_s)
        if i == 0:
            print(
                f"\nlarge model: {args.large_items} items x {args.candidates} candidates = "
                f"{args.large_items * args.candidates} variables ({result.n_variables} x "
                f"{result.n_constraints} passed to the solver)"
            )
            print(f"  auto -> solver={result.solver}; reason: {result.fallback_reason}")
        print(
            f"  rep {i}: status={result.status} gap={result.mip_gap:.2e} optimise "
            f"{result.solve_time_s:.2f} s, end-to-end {result.total_time_s:.2f} s"
        )
    print(f"  HiGHS optimise  : {summary(times)}")
    print(f"  HiGHS end-to-end: {summary(totals)}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--models", type=int, default=20, help="number of medium models (0 = skip)")
    parser.add_argument("--items", type=int, default=45, help="items per medium model")
    parser.add_argument("--candidates", type=int, default=41, help="coverage levels K")
    parser.add_argument("--groups", type=int, default=3, help="budget groups (categories)")
    parser.add_argument(
        "--alpha",
        type=float,
        default=0.97,
        help="target fill rate: budget = (1-alpha)*SALES",
    )
    parser.add_argument(
        "--bands",
        action="store_true",
        help="restrict each item to a random band [v_min, v_max]",
    )
    parser.add_argument("--large-items", type=int, default=1250, help="items of the large (HiGHS) model")
    parser.add_argument("--large-reps", type=int, default=3, help="large models to solve (0 = skip)")
    parser.add_argument("--time-limit", type=float, default=60.0, help="seconds per solve")
    parser.add_argument("--mip-gap", type=float, default=1e-4, help="relative MIP gap")
    parser.add_argument("--threads", type=int, default=1, help="solver threads")
    parser.add_argument("--no-reduce", action="store_true", help="disable the dominance reduction")
    parser.add_argument("--seed", type=int, default=0, help="seed of the random models")
    parser.add_argument("--verbose", action="store_true", help="show the solver log lines")
    args = parser.parse_args(argv)
    logging.basicConfig(
        level=logging.INFO if args.verbose else logging.ERROR,
        format="%(levelname)s %(message)s",
    )

    import gurobipy  # noqa: PLC0415
    import highspy  # noqa: PLC0415

    print(
        f"python {platform.python_version()}  gurobipy {'.'.join(map(str, gurobipy.gurobi.version()))}  "
        f"highspy {highspy.Highs().version()}  threads={args.threads}  mip_gap={args.mip_gap}  "
        f"reduce={not args.no_reduce}"
    )
    common = {
        "time_limit": args.time_limit,
        "mip_gap": args.mip_gap,
        "threads": args.threads,
        "reduce": not args.no_reduce,
    }
    rng = np.random.default_rng(args.seed)
    if args.models:
        bench_medium(args, rng, common)
    if args.large_reps:
        bench_large(args, rng, common)
    return 0


if __name__ == "__main__":
    sys.exit(main())
