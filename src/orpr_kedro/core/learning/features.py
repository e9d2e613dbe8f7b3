"""Model-input features: one row per (lane, decision date).

Four groups, matching the encoders of the foundation model:

* history: daily sales of the ``history_days`` days before the decision date
  (``hist_<k>`` = k days before; 0 before a lane's launch, with
  ``history_days_available`` telling how many days are real);
* forecast: the forward forecast made on the decision date (``fcst_<h>`` = h days
  after, 0-based, units per day) and its summed standard deviation;
* attributes: SKU and SKU-DC master data, unit costs;
* business targets: the lane's share of its category's recent sales, the
  category's target turnover days and alpha, and the promotion calendar ahead
  (promoted days, largest planned uplift, expert coverage days).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.forecasting.model import DemandPanels
from orpr_kedro.core.params import FeatureParams

ATTRIBUTE_COLUMNS = (
    "unit_cost",
    "unit_price",
    "case_pack",
    "moq",
    "unit_volume",
    "lead_time_mean",
    "lead_time_std",
    "review_period",
    "holding_cost",
    "lost_sale_cost",
    "order_cost",
)
TARGET_COLUMNS = ("category_sales_share", "target_turnover_days", "alpha")


def history_columns(history_days: int) -> list[str]:
    """Names of the sales-history columns, oldest first."""
    return [f"hist_{k}" for k in range(history_days, 0, -1)]


def forecast_columns(forecast_days: int) -> list[str]:
    """Names of the forward-forecast columns, nearest first."""
    return [f"fcst_{h}" for h in range(forecast_days)]


def forecast_cube(
    forecasts: pd.DataFrame, n_lanes: int, decision_dates: pd.DatetimeIndex, column: str = "forecast_mean"
) -> np.ndarray:
    """Long forecast table -> ``[lane, decision date, horizon]`` array (NaN where absent)."""
    horizon = int(forecasts["horizon"].max()) + 1
    cube = np.full((n_lanes, len(decision_dates), horizon), np.nan)
    origin = decision_dates.get_indexer(pd.DatetimeIndex(forecasts["decision_date"]))
    inside = origin >= 0
    cube[
        forecasts["lane_id"].to_numpy()[inside],
        origin[inside],
        forecasts["horizon"].to_numpy()[inside].astype("int64"),
    ] = forecasts[column].to_numpy(dtype="float64")[inside]
    return cube


def _recent_sales(panels: DemandPanels, origins: np.ndarray, history_days: int) -> np.ndarray:
    """Sales over the last 28 of the ``history_days`` days before each origin, ``[lane, origin]``."""
    back = origins[:, None] - np.arange(history_days, 0, -1)[None, :]
    history = panels.sales[:, np.clip(back, 0, None)]
    history = np.nan_to_num(np.where(back[None] >= 0, history, np.nan), nan=0.0)
    return history[:, :, -28:].sum(axis=2)


def category_totals(recent: np.ndarray, category: np.ndarray, n_categories: int | None = None) -> np.ndarray:
    """``[category code, origin]`` sums of :func:`recent_sales` rows, added in lane order."""
    size = int(category.max()) + 1 if n_categories is None else n_categories
    total = np.zeros((size, recent.shape[1]))
    np.add.at(total, category, recent)
    return total


def recent_sales(panels: DemandPanels, splits: TimeSplits, params: FeatureParams) -> np.ndarray:
    """Each lane's sales over the 28 days before each decision date, ``[lane, decision date]``.

    Small (one number per lane and date): the lane blocks' rows are gathered in lane
    order and summed by :func:`category_totals`, so the totals are those of the whole table.
    """
    return _recent_sales(panels, panels.day_index(splits.decision_dates()), params.history_days)


def build_decision_features(
    forecasts: pd.DataFrame,
    panels: DemandPanels,
    lanes: pd.DataFrame,
    splits: TimeSplits,
    params: FeatureParams,
    category_sums: np.ndarray | None = None,
) -> pd.DataFrame:
    """Assemble the model-input table for every lane and decision date.

    ``category_sums`` (``[category code, decision date]``: every lane's sales over the
    28 days before the date, :func:`category_totals` of :func:`recent_sales`) are the denominators of
    ``category_sales_share``; without them they are summed over ``lanes``, which is the
    same on the whole table and what a lane block must not do.

    Returns:
        One row per (lane_id, decision_date) with identifiers, ``split``
        (train/validation/test), ``category_holdout``, and the four feature groups.
    """
    decision_dates = splits.decision_dates()
    origins = panels.day_index(decision_dates)
    n_lanes, n_origins = panels.n_lanes, len(origins)
    lane_ids = np.arange(n_lanes)

    back = origins[:, None] - np.arange(params.history_days, 0, -1)[None, :]  # [origin, k]
    history = panels.sales[:, np.clip(back, 0, None)]
    history = np.where(back[None] >= 0, history, np.nan)
    available = (~np.isnan(history)).sum(axis=2)
    history = np.nan_to_num(history, nan=0.0)

    mean_cube = forecast_cube(forecasts, n_lanes, decision_dates)[:, :, : params.forecast_days]
    std_cube = forecast_cube(forecasts, n_lanes, decision_dates, "forecast_std")[:, :, : params.forecast_days]

    recent = history[:, :, -28:].sum(axis=2)  # [lane, origin]
    category = lanes["category_code"].to_numpy()
    category_total = category_totals(recent, category) if category_sums is None else category_sums
    share = np.divide(recent, category_total[category], out=np.zeros_like(recent), where=category_total[category] > 0)

    ahead = origins[:, None] + np.arange(params.forecast_days)[None, :]
    promo_active = panels.promo_active[:, ahead]
    frame = pd.DataFrame(
        {
            "lane_id": np.repeat(lane_ids, n_origins),
            "decision_date": np.tile(decision_dates.to_numpy(), n_lanes),
        }
    )
    frame = frame.merge(lanes[["lane_id", "sku_id", "dc_id", "category", "category_code"]], on="lane_id", how="left")
    frame["split"] = splits.period_of(frame["decision_date"])
    frame["category_holdout"] = frame["category"].isin(splits.holdout_categories)
    frame["history_days_available"] = available.ravel()
    blocks = [
        pd.DataFrame(history.reshape(-1, params.history_days), columns=history_columns(params.history_days)),
        pd.DataFrame(mean_cube.reshape(-1, params.forecast_days), columns=forecast_columns(params.forecast_days)),
    ]
    attributes = (
        lanes.set_index("lane_id")
        .loc[frame["lane_id"], list(ATTRIBUTE_COLUMNS + TARGET_COLUMNS[1:])]
        .reset_index(drop=True)
    )
    extra = pd.DataFrame(
        {
            "forecast_std_sum": np.sqrt((std_cube**2).sum(axis=2)).ravel(),
            "category_sales_share": share.ravel(),
            "promo_days_ahead": promo_active.sum(axis=2).ravel(),
            "promo_max_uplift_ahead": panels.promo_uplift[:, ahead].max(axis=2).ravel(),
            "expert_coverage_days_ahead": panels.expert_coverage[:, ahead].max(axis=2).ravel(),
        }
    )
    return pd.concat([frame, *blocks, attributes, extra], axis=1)
