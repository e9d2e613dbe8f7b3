"""Paired bootstrap intervals of the KPIs over SKU-DC pairs.

Lanes are resampled with replacement (the same draws for every policy: paired); the
accumulators (:data:`~orpr_kedro.core.simulation.kpi.ACCUMULATED_COLUMNS`) are summed over
each sample and the KPIs formed from the sums (ratios after summing, as everywhere).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.simulation.kpi import ACCUMULATED_COLUMNS, kpis_from_accumulators

__all__ = ["BOOTSTRAP_METRICS", "BootstrapSettings", "bootstrap_kpis"]

# KPIs given a bootstrap interval (the headline ones of the paper)
BOOTSTRAP_METRICS = (
    "total_cost",
    "holding_cost",
    "lost_sales_cost",
    "order_cost",
    "lost_units",
    "turnover_days",
    "in_stock_rate",
    "n_orders",
)


def _resample_counts(n_units: int, n_draws: int, rng: np.random.Generator) -> np.ndarray:
    """``[n_draws, n_units]``: how often each unit is drawn in each bootstrap sample."""
    draws = rng.integers(0, n_units, size=(n_draws, n_units))
    offsets = (np.arange(n_draws) * n_units)[:, None]
    return (
        np.bincount((draws + offsets).ravel(), minlength=n_draws * n_units).reshape(n_draws, n_units).astype(np.float64)
    )


@dataclass(frozen=True)
class BootstrapSettings:
    """Bootstrap over lanes: ``n_resamples`` draws, a two-sided ``level`` interval."""

    n_resamples: int = 1000
    level: float = 0.95
    seed: int = 0
    chunk: int = 200


def bootstrap_kpis(
    frame: pd.DataFrame, settings: BootstrapSettings, reference: str | None = "incumbent"
) -> pd.DataFrame:
    """KPIs per policy and scope with percentile bootstrap intervals over SKU-DC pairs.

    Lanes are resampled with replacement (the same draws for every policy: paired), the
    accumulators are summed over each sample and the KPIs formed from the sums (ratios
    after summing, as everywhere). Scopes: ``all`` and each category. With a
    ``reference`` policy, the relative change of total cost against it
    (``total_cost_change_vs_reference``, a share) gets its paired interval too.

    Args:
        frame: :func:`lane_kpis` output (one row per policy and lane).
        settings: resamples, interval level, seed.

    Returns:
        Long table: ``policy, scope, metric, value, ci_low, ci_high``.
    """
    if not 0 < settings.level < 1:
        raise ValueError(f"bootstrap level must be in (0, 1), got {settings.level}")
    policies = list(dict.fromkeys(frame["policy"]))
    rows: list[dict] = []
    scopes = [("all", np.ones(len(frame), dtype=bool))] + [
        (str(category), (frame["category"] == category).to_numpy()) for category in sorted(frame["category"].unique())
    ]
    rng = np.random.default_rng(np.random.SeedSequence([settings.seed, 20251219]))
    tail = (1 - settings.level) / 2
    for scope, mask in scopes:
        part = frame[mask]
        wide = {
            name: part.pivot(index="lane_id", columns="policy", values=name).reindex(columns=policies)
            for name in ACCUMULATED_COLUMNS
        }
        lanes = wide[ACCUMULATED_COLUMNS[0]].index
        acc = np.stack([wide[name].to_numpy(dtype=np.float64) for name in ACCUMULATED_COLUMNS], axis=-1)  # [N, P, K]
        point = kpis_from_accumulators({name: acc[..., k].sum(axis=0) for k, name in enumerate(ACCUMULATED_COLUMNS)})
        samples: dict[str, list[np.ndarray]] = {}
        for start in range(0, settings.n_resamples, settings.chunk):
            counts = _resample_counts(len(lanes), min(settings.chunk, settings.n_resamples - start), rng)
            sums = np.einsum("bn,npk->bpk", counts, acc)
            kpis = kpis_from_accumulators({name: sums[..., k] for k, name in enumerate(ACCUMULATED_COLUMNS)})
            for metric in BOOTSTRAP_METRICS:
                samples.setdefault(metric, []).append(np.asarray(kpis[metric]))
            if reference in policies:
                ref = kpis["total_cost"][:, policies.index(reference)][:, None]
                samples.setdefault("total_cost_change_vs_reference", []).append(kpis["total_cost"] / ref - 1.0)
        if reference in policies:
            point["total_cost_change_vs_reference"] = (
                point["total_cost"] / point["total_cost"][policies.index(reference)] - 1.0
            )
        for metric, chunks in samples.items():
            values = np.concatenate(chunks, axis=0)  # [B, P]
            with np.errstate(invalid="ignore"):
                low, high = np.nanquantile(values, [tail, 1 - tail], axis=0)
            for p, policy in enumerate(policies):
                rows.append(
                    {
                        "policy": policy,
                        "scope": scope,
                        "metric": metric,
                        "value": float(point[metric][p]),
                        "ci_low": float(low[p]),
                        "ci_high": float(high[p]),
                    }
                )
    return pd.DataFrame(rows)
