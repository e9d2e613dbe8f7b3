"""The forecast's spread: negative-binomial demand around the mean, its quantiles and scenarios.

Demand on a lane-day is negative binomial with the forecast as mean and variance
``mu + phi * mu**2``; ``phi`` is estimated per lane from residuals and shrunk
towards the pooled value.
"""

from __future__ import annotations

import numpy as np
from scipy import stats

# Doubling steps that bracket a quantile: 2**1100 exceeds every finite float.
_MAX_BRACKET_STEPS = 1100


def negative_binomial_quantile(level: float, mean: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Quantile of NB(mean, variance = mean + phi * mean**2); 0 where the mean is 0.

    The smallest integer k with CDF(k) >= level. From a normal-approximation start,
    the answer is bracketed by doubling steps and then found by bisection, so the
    number of CDF evaluations grows with the logarithm of the mean, not the mean.
    Past 2**53 (where floats no longer hold every integer) the bisection stops at
    the smallest representable k it can tell apart.
    """
    mean = np.asarray(mean, dtype="float64")
    phi = np.broadcast_to(np.maximum(phi, 1e-6), mean.shape).astype("float64")
    flat_mean, flat_phi = mean.ravel(), phi.ravel()
    if not np.isfinite(flat_mean).all():
        raise ValueError("negative_binomial_quantile: the mean must be finite")
    size = 1.0 / flat_phi
    prob = size / (size + np.maximum(flat_mean, 1e-12))
    sd = np.sqrt(flat_mean + flat_phi * flat_mean**2)
    start = np.maximum(np.floor(flat_mean + stats.norm.ppf(level) * sd), 0.0)
    active = np.flatnonzero(flat_mean > 0)
    size, prob, start, sd = size[active], prob[active], start[active], sd[active]

    def reaches(k: np.ndarray, rows: np.ndarray) -> np.ndarray:
        return stats.nbinom.cdf(k, size[rows], prob[rows]) >= level

    # bracket: lo with CDF(lo) < level (or lo = -1), hi with CDF(hi) >= level
    hi, lo = start.copy(), start.copy()
    at_start = reaches(start, np.arange(len(start)))
    lo[at_start] = -1.0
    distance = np.maximum(np.ceil(sd), 1.0)  # doubled until the bracket holds the quantile
    down = np.flatnonzero(at_start & (start > 0))  # the start reaches the level: look below it
    for _ in range(_MAX_BRACKET_STEPS):
        if not down.size:
            break
        candidate = np.maximum(start[down] - distance[down], -1.0)
        below = (candidate < 0) | ~reaches(np.maximum(candidate, 0.0), down)
        lo[down[below]] = candidate[below]
        hi[down[~below]] = candidate[~below]
        down = down[~below]
        distance[down] *= 2
    up = np.flatnonzero(~at_start)  # the start falls short: look above it
    for _ in range(_MAX_BRACKET_STEPS):
        if not up.size:
            break
        candidate = start[up] + distance[up]
        found = reaches(candidate, up)
        hi[up[found]] = candidate[found]
        lo[up[~found]] = candidate[~found]
        up = up[~found]
        distance[up] *= 2
    # bisection on the integers of (lo, hi]
    open_rows = np.flatnonzero(hi - lo > 1)
    while open_rows.size:
        mid = np.floor((lo[open_rows] + hi[open_rows]) / 2)
        moved = (mid > lo[open_rows]) & (mid < hi[open_rows])
        open_rows, mid = open_rows[moved], mid[moved]
        found = reaches(np.maximum(mid, 0.0), open_rows)
        hi[open_rows[found]] = mid[found]
        lo[open_rows[~found]] = mid[~found]
        open_rows = open_rows[hi[open_rows] - lo[open_rows] > 1]
    out = np.zeros(flat_mean.shape)
    out[active] = hi
    return out.reshape(mean.shape)


def sample_demand(mean: np.ndarray, phi: np.ndarray, n_scenarios: int, rng: np.random.Generator) -> np.ndarray:
    """Demand scenarios ``[scenario, *mean.shape]`` from the negative-binomial forecast (gamma-Poisson)."""
    phi = np.broadcast_to(np.maximum(phi, 1e-6), mean.shape)
    shape = 1.0 / phi
    rate_draws = rng.gamma(
        np.broadcast_to(shape, (n_scenarios, *mean.shape)), np.broadcast_to(mean * phi, (n_scenarios, *mean.shape))
    )
    return rng.poisson(rate_draws).astype("float64")


def estimate_dispersion(
    actual: np.ndarray, mean: np.ndarray, lane: np.ndarray, n_lanes: int, prior_weight: float
) -> tuple[np.ndarray, float]:
    """Negative-binomial dispersion ``phi`` per lane by the method of moments.

    ``phi_i = sum((y - mu)^2 - mu) / sum(mu^2)`` over the lane's rows, shrunk
    towards the pooled value with ``prior_weight`` pseudo-rows and clipped to
    [0.001, 10].

    Returns:
        (phi per lane [n_lanes], pooled phi).
    """
    excess = np.bincount(lane, weights=(actual - mean) ** 2 - mean, minlength=n_lanes)
    mean_sq = np.bincount(lane, weights=mean**2, minlength=n_lanes)
    count = np.bincount(lane, minlength=n_lanes)
    pooled = float(np.clip(excess.sum() / max(mean_sq.sum(), 1e-9), 1e-3, 10.0))
    per_lane = np.clip(np.where(mean_sq > 0, excess / np.maximum(mean_sq, 1e-9), pooled), 1e-3, 10.0)
    return (count * per_lane + prior_weight * pooled) / (count + prior_weight), pooled


def quantile_column(level: float) -> str:
    """Column name of a forecast quantile, e.g. ``q0.9``."""
    return f"q{level:g}"
