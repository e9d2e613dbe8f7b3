"""Throughput of the fast order-up-to simulator (lane-days per second).

Usage: .venv/bin/python bench/bench_simulator.py [--lanes 10000] [--candidates 41]
       [--scenarios 20] [--days 28] [--threads N] [--repeats 3] [--seed 0]

One lane-day is one (candidate, scenario, lane, day) step of the simulation. The
instance has stochastic lead times (mean 2-14 days, std 0-3), case packs 1-24, MOQs,
review periods 1-7 with offsets, gamma demand and a coverage grid of levels. A warm-up
call compiles the kernel first; then the best of ``--repeats`` timed calls is reported
with all threads and with one thread (``numba.set_num_threads(1)``), so the per-core
figure is measured rather than divided.
"""

# ruff: noqa: T201 - a benchmark reports on stdout

from __future__ import annotations

import argparse
import os
import time

import numba
import numpy as np

from orpr_kedro.core.simulation.kernel import (
    LaneParams,
    coverage_levels,
    draw_lead_times,
    simulate_order_up_to,
)


def build_instance(n_lanes: int, n_cand: int, n_scen: int, n_days: int, seed: int):
    rng = np.random.default_rng(seed)
    lanes = LaneParams.build(
        n_lanes,
        review_period=rng.integers(1, 8, n_lanes),
        review_offset=rng.integers(0, 7, n_lanes),
        case_pack=rng.choice([1, 4, 6, 12, 24], n_lanes),
        moq=rng.integers(0, 50, n_lanes),
        holding_cost=rng.uniform(0.01, 0.2, n_lanes),
        lost_sale_cost=rng.uniform(1.0, 10.0, n_lanes),
        order_cost=rng.uniform(0.0, 20.0, n_lanes),
    )
    mean_demand = rng.gamma(1.5, 8.0, n_lanes)
    weekly = 1.0 + 0.3 * np.sin(2 * np.pi * np.arange(n_days) / 7.0)
    mu = mean_demand[:, None] * weekly[None, :]
    demand = rng.gamma(2.0, mu[None] / 2.0, (n_scen, n_lanes, n_days))
    lead_times = draw_lead_times(rng.uniform(2, 14, n_lanes), rng.uniform(0, 3, n_lanes), n_days, rng, n_scen)
    grid = np.linspace(0.0, 40.0, n_cand)
    levels = coverage_levels(mu, grid, n_days)
    initial_on_hand = np.floor(mean_demand * 7.0)
    return demand, levels, lead_times, lanes, initial_on_hand


def timed(args, repeats: int) -> float:
    best = np.inf
    for _ in range(repeats):
        t0 = time.perf_counter()
        simulate_order_up_to(*args)
        best = min(best, time.perf_counter() - t0)
    return best


def main(argv=None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--lanes", type=int, default=10_000)
    ap.add_argument("--candidates", type=int, default=41)
    ap.add_argument("--scenarios", type=int, default=20)
    ap.add_argument("--days", type=int, default=28)
    ap.add_argument("--threads", type=int, default=numba.config.NUMBA_NUM_THREADS)
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--seed", type=int, default=0)
    a = ap.parse_args(argv)

    inst = build_instance(a.lanes, a.candidates, a.scenarios, a.days, a.seed)
    lane_days = a.lanes * a.candidates * a.scenarios * a.days
    threads = max(1, min(a.threads, numba.config.NUMBA_NUM_THREADS))
    print(
        f"instance: N={a.lanes} lanes x C={a.candidates} candidates x "
        f"S={a.scenarios} scenarios x T={a.days} days = {lane_days:,} lane-days; "
        f"stochastic lead times, case packs, MOQ on; cpus={os.cpu_count()}"
    )
    numba.set_num_threads(threads)
    t0 = time.perf_counter()
    simulate_order_up_to(*inst)  # warm-up: compiles (or loads the cache)
    print(f"warm-up (compile or cache load + run): {time.perf_counter() - t0:.2f} s")

    sec = timed(inst, a.repeats)
    print(
        f"threads={threads}: {sec:.3f} s  {lane_days / sec / 1e6:,.1f} M lane-days/s total, "
        f"{lane_days / sec / threads / 1e6:,.1f} M lane-days/s per thread (divided)"
    )
    numba.set_num_threads(1)
    sec1 = timed(inst, a.repeats)
    print(f"threads=1: {sec1:.3f} s  {lane_days / sec1 / 1e6:,.1f} M lane-days/s per core (measured single-thread)")
    numba.set_num_threads(threads)


if __name__ == "__main__":
    main()
