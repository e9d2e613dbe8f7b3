"""Features of the global demand model, one row per (lane, origin, horizon day).

The model learns demand relative to the lane's recent level (``scale``, the 91-day
mean) from

* calendar features of the target day (weekday, day of year, horizon),
* lagged sales known at the origin (7/28/91-day means, same weekday over the last
  four weeks, the same days one year earlier),
* price of the target day relative to the recent price,
* the promotion calendar (planned uplift, days after a promotion ends),
* the category and price level of the SKU.
"""

from __future__ import annotations

import numpy as np

from orpr_kedro.core.forecasting.panels import DemandPanels

FEATURE_NAMES = (
    "horizon",
    "weekday",
    "doy_sin",
    "doy_cos",
    "category_code",
    "log_unit_price",
    "log_scale",
    "mean_7",
    "mean_28",
    "same_weekday_4w",
    "last_year_same_week",
    "last_year_level_28",
    "zero_share_91",
    "history_days",
    "price_ratio",
    "promo_uplift",
    "promo_active",
    "days_after_promo",
    "promo_share_28",
)
MIN_SCALE = 0.05
# Days before an origin that the features read: the longest window is last year's
# 28-day level (days o - 364 - 28 .. o - 365). History older than this changes no forecast.
LOOKBACK_DAYS = 364 + 28


def build_features(
    panels: DemandPanels, lanes: np.ndarray, origins: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature matrix for every (lane, origin, horizon) of a lane chunk.

    Returns:
        (features [rows, F] float32, scale [rows], target-day index [rows]); rows
        in (lane, origin, horizon) order.
    """
    n_l, n_o = len(lanes), len(origins)
    o = np.broadcast_to(origins[None, :], (n_l, n_o))
    mean_7, _ = panels.window_mean(lanes, o - 7, o)
    mean_28, _ = panels.window_mean(lanes, o - 28, o)
    mean_91, history_days = panels.window_mean(lanes, o - 91, o)
    scale = np.maximum(np.nan_to_num(mean_91, nan=0.0), MIN_SCALE)
    level_ly, _ = panels.window_mean(lanes, o - 364 - 28, o - 364)
    clipped_o = np.clip(o, 0, panels.sales.shape[1] - 1)
    # cumulative sums over the chunk's lanes only (over every lane they cost O(lanes^2) per call)
    local = np.arange(n_l)[:, None]
    chunk_sales = panels.sales[lanes]
    sales_window = np.where(np.isnan(chunk_sales), 1.0, chunk_sales)
    zero_cum = np.concatenate([np.zeros((n_l, 1)), np.cumsum(sales_window == 0, axis=1)], axis=1)
    zero_share = (zero_cum[local, clipped_o] - zero_cum[local, np.clip(o - 91, 0, None)]) / np.maximum(history_days, 1)
    promo_cum = np.concatenate([np.zeros((n_l, 1)), np.cumsum(panels.promo_active[lanes], axis=1)], axis=1)
    promo_share = (promo_cum[local, clipped_o] - promo_cum[local, np.clip(o - 28, 0, None)]) / 28.0
    price_cum = panels.price_cumsum
    price_ref = (
        price_cum[lanes[:, None], clipped_o] - price_cum[lanes[:, None], np.clip(o - 28, 0, None)]
    ) / np.maximum(clipped_o - np.clip(o - 28, 0, None), 1)
    price_ref = np.where(price_ref > 0, price_ref, panels.price[lanes[:, None], clipped_o])

    h = np.arange(horizon)
    d = o[:, :, None] + h[None, None, :]  # [l, o, h]
    lane3 = lanes[:, None, None]
    k0 = h // 7 + 1
    same_weekday = np.stack([panels.sales[lane3, np.clip(d - 7 * (k0 + j), 0, None)] for j in range(4)], axis=-1)
    same_weekday = np.where((d[..., None] - 7 * (k0[None, None, :, None] + np.arange(4))) >= 0, same_weekday, np.nan)
    observed = ~np.isnan(same_weekday)
    with np.errstate(invalid="ignore", divide="ignore"):
        same_weekday_mean = np.where(observed, same_weekday, 0.0).sum(axis=-1) / observed.sum(axis=-1)
    last_year, _ = panels.window_mean(lanes, d - 367, d - 360)
    target_dates = panels.dates[np.clip(d, 0, len(panels.dates) - 1).ravel()]
    doy = target_dates.dayofyear.to_numpy().reshape(d.shape)
    scale3 = np.broadcast_to(scale[:, :, None], d.shape)

    def per_origin(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values[:, :, None], d.shape)

    columns = {
        "horizon": np.broadcast_to(h, d.shape),
        "weekday": target_dates.dayofweek.to_numpy().reshape(d.shape),
        "doy_sin": np.sin(2 * np.pi * doy / 365.25),
        "doy_cos": np.cos(2 * np.pi * doy / 365.25),
        "category_code": np.broadcast_to(panels.category_code[lanes][:, None, None], d.shape),
        "log_unit_price": np.broadcast_to(panels.log_unit_price[lanes][:, None, None], d.shape),
        "log_scale": np.log(scale3),
        "mean_7": per_origin(mean_7) / scale3,
        "mean_28": per_origin(mean_28) / scale3,
        "same_weekday_4w": same_weekday_mean / scale3,
        "last_year_same_week": last_year / scale3,
        "last_year_level_28": per_origin(level_ly) / scale3,
        "zero_share_91": per_origin(zero_share),
        "history_days": per_origin(history_days),
        "price_ratio": panels.price[lane3, np.clip(d, 0, panels.price.shape[1] - 1)] / per_origin(price_ref),
        "promo_uplift": panels.promo_uplift[lane3, np.clip(d, 0, panels.price.shape[1] - 1)],
        "promo_active": panels.promo_active[lane3, np.clip(d, 0, panels.price.shape[1] - 1)],
        "days_after_promo": panels.days_after_promo[lane3, np.clip(d, 0, panels.price.shape[1] - 1)],
        "promo_share_28": per_origin(promo_share),
    }
    matrix = np.stack([np.asarray(columns[name], dtype="float32").ravel() for name in FEATURE_NAMES], axis=1)
    return matrix, scale3.ravel(), d.ravel()
