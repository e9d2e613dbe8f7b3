"""Order-up-to levels from forecasts, and lead-time draws.

``forecast_path`` is ``[..., N, F]`` forecast demand (units/day) from day 0; beyond ``F``
days it is extended by repeating its last 7 days cyclically (weekly pattern). A
coverage of ``v`` days orders up to the forecast summed over ``[t, t + v)`` with a
fractional last day. Lead times are rounded normal draws clipped to
``[1, max_lead_time]`` (days), shared by every candidate and policy (common random
numbers).
"""

from __future__ import annotations

import numpy as np

from orpr_kedro.core.simulation.conventions import WEEK

__all__ = [
    "DEFAULT_MAX_LEAD_TIME",
    "coverage_levels",
    "draw_lead_times",
    "extend_forecast",
    "lane_coverage_levels",
    "shift_forecast",
]

DEFAULT_MAX_LEAD_TIME = 60


# --------------------------------------------------------------------- lead times
def draw_lead_times(
    lead_time_mean,
    lead_time_std,
    n_days: int,
    rng: np.random.Generator | int | None,
    n_scenarios: int | None = None,
    *,
    max_lead_time: int = DEFAULT_MAX_LEAD_TIME,
) -> np.ndarray:
    """Draw the lead time (days) an order placed on each day would get.

    ``lead_time_mean`` and ``lead_time_std`` are scalars or ``[N]`` arrays (days).
    Each draw is ``rint(mean + std * Z)`` with ``Z`` standard normal, clipped to
    ``[1, max_lead_time]``. Returns int32 ``[N, n_days]`` when ``n_scenarios`` is None,
    else ``[n_scenarios, N, n_days]`` (a scalar mean and std give ``N = 1``). ``rng``
    is a ``numpy.random.Generator`` (or a seed for one); the same generator state
    gives the same draws, which are then shared by all candidates (CRN).
    """
    if max_lead_time < 1:
        raise ValueError("max_lead_time must be >= 1")
    mean = np.atleast_1d(np.asarray(lead_time_mean, dtype=np.float64))
    std = np.atleast_1d(np.asarray(lead_time_std, dtype=np.float64))
    if mean.ndim != 1 or std.ndim != 1:
        raise ValueError("lead_time_mean and lead_time_std must be scalars or 1-D")
    mean, std = np.broadcast_arrays(mean, std)
    if np.any(std < 0) or not np.all(np.isfinite(mean)) or not np.all(np.isfinite(std)):
        raise ValueError("lead-time mean must be finite and std finite and >= 0")
    if not isinstance(rng, np.random.Generator):
        rng = np.random.default_rng(rng)
    n = mean.shape[0]
    shape = (n, int(n_days)) if n_scenarios is None else (int(n_scenarios), n, int(n_days))
    z = rng.standard_normal(shape)
    draws = np.rint(mean[:, None] + std[:, None] * z)
    return np.clip(draws, 1, max_lead_time).astype(np.int32)


# ---------------------------------------------------------------- coverage levels
def extend_forecast(forecast_path, length: int) -> np.ndarray:
    """Extend (or truncate) ``[N, F]`` daily forecasts to ``[N, length]``.

    Days ``j >= F`` repeat the last ``min(7, F)`` forecast days cyclically, so a weekly
    pattern continues: ``f[j] = f[F - w + (j - F) % w]`` with ``w = min(7, F)``.
    """
    f = np.asarray(forecast_path, dtype=np.float64)
    if f.ndim != 2 or f.shape[1] == 0:
        raise ValueError(f"forecast_path must be [N, F] with F >= 1, got {f.shape}")
    n_f = f.shape[1]
    if length <= n_f:
        return f[:, :length]
    w = min(WEEK, n_f)
    idx = np.concatenate([np.arange(n_f), n_f - w + (np.arange(length - n_f) % w)])
    return f[:, idx]


def shift_forecast(forecast, offset) -> np.ndarray:
    """The forecast ``[N, F]`` made ``offset`` days before, as seen from today: ``[N, F]`` from day ``offset`` on.

    ``offset``: days, a scalar or one per row (``>= 0``). The days beyond ``F`` continue
    the last week's pattern (:func:`extend_forecast`), so every level built from the
    shifted path equals the one built from the original path at that day.
    """
    f = np.asarray(forecast, dtype=np.float64)
    shift = np.asarray(offset, dtype=np.int64)
    if shift.ndim == 0:
        return extend_forecast(f, f.shape[1] + int(shift))[:, int(shift) :]
    if shift.shape != (f.shape[0],) or (shift < 0).any():
        raise ValueError(f"offset must be a scalar or [N={f.shape[0]}] days >= 0, got shape {shift.shape}")
    extended = extend_forecast(f, f.shape[1] + int(shift.max(initial=0)))
    return np.take_along_axis(extended, shift[:, None] + np.arange(f.shape[1])[None, :], axis=1)


def _window_sums(forecast_path, coverage: np.ndarray, n_days: int) -> np.ndarray:
    """``level[..., n, t] = sum of forecast over [t, t + v)`` for coverage ``[..., N]``."""
    v = np.asarray(coverage, dtype=np.float64)
    if not np.all(np.isfinite(v)) or np.any(v < 0):
        raise ValueError("coverage days must be finite and >= 0")
    m = np.floor(v).astype(np.int64)  # full days
    frac = v - m  # share of the next day's forecast
    f = np.asarray(forecast_path, dtype=np.float64)
    n_lanes = f.shape[0]
    max_full = int(m.max()) if m.size else 0
    ext = extend_forecast(f, n_days + max_full + 1)
    cum = np.zeros((n_lanes, ext.shape[1] + 1))
    np.cumsum(ext, axis=1, out=cum[:, 1:])
    t = np.arange(n_days)
    end = t + m[..., None]  # [..., N, T]
    lane = np.arange(n_lanes)[:, None]
    return cum[lane, end] - cum[:, :n_days] + frac[..., None] * ext[lane, end]


def coverage_levels(forecast_path, coverage_days, n_days: int) -> np.ndarray:
    """Order-up-to levels (units) of coverage candidates, ``[C, N, n_days]``.

    ``forecast_path`` is ``[N, F]`` forecast demand per day from the decision date
    (day 0). ``coverage_days`` (days, fractional allowed) is either ``[C]`` — one grid
    shared by all lanes — or ``[C, N]`` — a coverage per candidate and lane. The level
    of day ``t`` is the forecast summed over ``[t, t + v)``: ``floor(v)`` full days plus
    ``v - floor(v)`` of the next day, computed from cumulative sums. Beyond day ``F-1``
    the forecast repeats its last 7 days (see :func:`extend_forecast`).
    """
    f = np.asarray(forecast_path, dtype=np.float64)
    if f.ndim != 2:
        raise ValueError(f"forecast_path must be [N, F], got {f.shape}")
    v = np.asarray(coverage_days, dtype=np.float64)
    if v.ndim == 1:
        v = np.broadcast_to(v[:, None], (v.shape[0], f.shape[0]))
    elif v.ndim != 2 or v.shape[1] != f.shape[0]:
        raise ValueError(f"coverage_days must be [C] or [C, N={f.shape[0]}], got {v.shape}")
    return _window_sums(f, v, int(n_days))


def lane_coverage_levels(forecast_path, coverage_per_lane, n_days: int) -> np.ndarray:
    """Order-up-to levels (units) for one coverage decision per lane, ``[N, n_days]``.

    Same definition as :func:`coverage_levels` with ``coverage_per_lane`` of shape
    ``[N]`` (days); equal to ``coverage_levels(f, v[None, :], n_days)[0]``.
    """
    f = np.asarray(forecast_path, dtype=np.float64)
    v = np.asarray(coverage_per_lane, dtype=np.float64)
    if f.ndim != 2 or v.shape != (f.shape[0],):
        raise ValueError(f"coverage_per_lane must be [N={f.shape[0]}], got {v.shape}")
    return _window_sums(f, v, int(n_days))
