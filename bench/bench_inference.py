"""Inference throughput of the foundation model on CPU: coverage decisions per second.

Builds the network with the sizes of ``conf/base/parameters_pretraining.yml`` (28 days
of history and forecast, the 41-value coverage grid of ``conf/base``; random weights,
which do not change the speed) and times batches of 4096 lanes:

* ``network``: the forward pass from prepared tensors to the argmax coverage;
* ``end to end``: from raw arrays (history, forecast, attributes, state) through
  scaling and the network to coverage days, i.e. ``FoundationPolicy.decide``.

Usage: ``.venv/bin/python bench/bench_inference.py [--batch 4096] [--threads 2] [--repeats 20]``
"""

# ruff: noqa: T201 - a benchmark reports on stdout

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import numpy as np
import torch
import yaml

from orpr_kedro.core.learning.features import ATTRIBUTE_COLUMNS
from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation
from orpr_kedro.core.learning.network import count_parameters
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.pretraining import build_model, model_config
from orpr_kedro.core.params import parse_params

ROOT = Path(__file__).resolve().parents[1]


def random_inputs(n: int, history_days: int, forecast_days: int, seed: int = 0) -> DecisionInputs:
    rng = np.random.default_rng(seed)
    level = rng.gamma(1.5, 4.0, size=n)
    return DecisionInputs(
        history=rng.poisson(level[:, None], size=(n, history_days)).astype("float64"),
        forecast=level[:, None] * rng.uniform(0.8, 1.2, size=(n, forecast_days)),
        attributes=rng.uniform(0.5, 20.0, size=(n, len(ATTRIBUTE_COLUMNS))),
        targets=np.column_stack(
            [rng.uniform(0, 0.1, n), rng.choice([14.0, 30.0, 45.0], n), rng.choice([0.96, 0.98], n)]
        ),
        promotions=rng.integers(0, 3, size=(n, 3)).astype("float64"),
        history_days_available=np.full(n, 365.0),
        forecast_std_sum=level * 3.0,
        category_code=rng.integers(0, 8, n),
        on_hand=rng.poisson(level * 10).astype("float64"),
        on_order=rng.poisson(level * 5).astype("float64"),
    )


def timed(function, repeats: int) -> list[float]:
    function()  # warm-up
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--batch", type=int, default=4096)
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--repeats", type=int, default=20)
    args = parser.parse_args()

    torch.set_num_threads(args.threads)
    params = parse_params(
        "pretraining", yaml.safe_load((ROOT / "conf/base/parameters_pretraining.yml").read_text())["pretraining"]
    )
    or_labeling = parse_params(
        "or_labeling", yaml.safe_load((ROOT / "conf/base/parameters_or_labeling.yml").read_text())["or_labeling"]
    )
    grid = np.asarray(or_labeling.coverage_grid.values())
    inputs = random_inputs(args.batch, 28, 28)
    normalisation = Normalisation.fit(random_inputs(10_000, 28, 28, seed=1), n_categories=8)
    torch.manual_seed(0)
    model = build_model(model_config(normalisation, grid, params), params)
    policy = FoundationPolicy(model, normalisation, batch_size=args.batch)
    tensors = policy.tensors(inputs)

    def network() -> None:
        policy.logits_from_tensors(tensors).argmax(dim=1)

    def end_to_end() -> None:
        policy.decide(inputs)

    print(
        f"torch {torch.__version__}, {torch.get_num_threads()} threads, batch {args.batch}, {args.repeats} timed repeats"
    )
    print(
        f"parameters: {count_parameters(model):,} (d_model {params.network.d_model}, {params.network.n_layers} layers x 3 encoders, grid {len(grid)})"
    )
    for name, function in (("network", network), ("end to end", end_to_end)):
        times = timed(function, args.repeats)
        best, median = min(times), statistics.median(times)
        print(
            f"{name:>10}: median {1000 * median:7.1f} ms/batch = {args.batch / median:>9,.0f} decisions/s "
            f"(best {args.batch / best:,.0f}/s)"
        )


if __name__ == "__main__":
    main()
