"""Forecast accuracy: WAPE, bias and pinball loss of the model against the seasonal-naive benchmark."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.forecasting.panels import DemandPanels
from orpr_kedro.core.forecasting.uncertainty import quantile_column


def seasonal_naive(panels: DemandPanels, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Seasonal-naive forecast ``[lane, origin, horizon]``: the same weekday in the last week before the origin."""
    h = np.arange(horizon)
    day = origins[None, :, None] + h[None, None, :] - 7 * (h // 7 + 1)[None, None, :]
    values = panels.sales[np.arange(panels.n_lanes)[:, None, None], np.clip(day, 0, None)]
    return np.where(day >= 0, values, np.nan)


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum actual."""
    return float(np.abs(actual - forecast).sum() / max(actual.sum(), 1e-12))


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Relative bias: sum (forecast - actual) / sum actual (positive = over-forecast)."""
    return float((forecast - actual).sum() / max(actual.sum(), 1e-12))


def pinball_loss(actual: np.ndarray, quantile_forecast: np.ndarray, level: float) -> float:
    """Mean pinball (quantile) loss of a quantile forecast at ``level`` (units)."""
    error = actual - quantile_forecast
    return float(np.mean(np.maximum(level * error, (level - 1.0) * error)))


def forecast_accuracy(
    forecasts: pd.DataFrame,
    panels: DemandPanels,
    splits: TimeSplits,
    lanes: pd.DataFrame,
    quantiles: list[float],
) -> pd.DataFrame:
    """Accuracy on the test period of the model and of the seasonal-naive benchmark.

    Scored rows: decision dates in the test period, target days in the test
    period with known sales. The seasonal-naive forecast is a point forecast, so
    its pinball losses treat that point as every quantile.

    Returns:
        One row per (model, scope) where scope is ``all`` or a category:
        wape, bias, pinball losses per quantile and their mean, rows, actual units.
    """
    return accuracy_from_sums(accuracy_sums(forecasts, panels, splits, lanes, quantiles), quantiles)


def accuracy_sums(
    forecasts: pd.DataFrame,
    panels: DemandPanels,
    splits: TimeSplits,
    lanes: pd.DataFrame,
    quantiles: list[float],
) -> pd.DataFrame:
    """The sums behind :func:`forecast_accuracy`, per (model, scope): they add up over lane blocks.

    Columns: model, scope, abs_error, signed_error (forecast - actual), actual_units,
    one ``pinball_sum_<q>`` per quantile, n_rows.
    """
    test = forecasts[
        (forecasts["decision_date"] >= splits.test_start) & (forecasts["target_date"] >= splits.test_start)
    ]
    day = panels.day_index(test["target_date"])
    actual = panels.sales[test["lane_id"].to_numpy(), np.clip(day, 0, panels.sales.shape[1] - 1)]
    origins = panels.day_index(test["decision_date"])
    h = test["horizon"].to_numpy().astype("int64")
    naive_day = origins + h - 7 * (h // 7 + 1)
    naive = panels.sales[test["lane_id"].to_numpy(), np.clip(naive_day, 0, None)]
    usable = ~np.isnan(actual) & ~np.isnan(naive) & (day < panels.n_history_days)
    category = lanes["category"].to_numpy()[test["lane_id"].to_numpy()]
    models = {
        "forecast": (
            test["forecast_mean"].to_numpy(dtype="float64"),
            {q: test[quantile_column(q)].to_numpy(dtype="float64") for q in quantiles},
        ),
        "seasonal_naive": (naive, dict.fromkeys(quantiles, naive)),
    }
    rows = []
    scopes = [("all", usable)] + [(name, usable & (category == name)) for name in sorted(set(category))]
    for model_name, (point, quantile_values) in models.items():
        for scope, mask in scopes:
            if not mask.any():
                continue
            observed = actual[mask]
            row = {
                "model": model_name,
                "scope": scope,
                "abs_error": float(np.abs(observed - point[mask]).sum()),
                "signed_error": float((point[mask] - observed).sum()),
                "actual_units": float(observed.sum()),
            }
            for q in quantiles:
                error = observed - quantile_values[q][mask]
                row[f"pinball_sum_{quantile_column(q)}"] = float(np.maximum(q * error, (q - 1.0) * error).sum())
            row["n_rows"] = int(mask.sum())
            rows.append(row)
    return pd.DataFrame(rows)


def accuracy_from_sums(sums: pd.DataFrame, quantiles: list[float]) -> pd.DataFrame:
    """The accuracy table from :func:`accuracy_sums` of one table or of its lane blocks (added up)."""
    if sums.empty:
        return pd.DataFrame()
    order = {"all": ""}  # 'all' first, then the categories in order, as on one table
    total = sums.groupby(["model", "scope"], sort=False).sum(numeric_only=True).reset_index()
    total["_model"] = total["model"].map({"forecast": 0, "seasonal_naive": 1})
    total["_scope"] = total["scope"].map(lambda scope: order.get(scope, scope))
    total = total.sort_values(["_model", "_scope"], kind="stable").reset_index(drop=True)
    actual = np.maximum(total["actual_units"].to_numpy(), 1e-12)
    out = pd.DataFrame(
        {
            "model": total["model"],
            "scope": total["scope"],
            "wape": total["abs_error"].to_numpy() / actual,
            "bias": total["signed_error"].to_numpy() / actual,
        }
    )
    losses = (
        np.column_stack(
            [total[f"pinball_sum_{quantile_column(q)}"].to_numpy() / total["n_rows"].to_numpy() for q in quantiles]
        )
        if quantiles
        else np.zeros((len(total), 0))
    )
    for k, q in enumerate(quantiles):
        out[f"pinball_{quantile_column(q)}"] = losses[:, k]
    out["mean_pinball"] = losses.mean(axis=1) if quantiles else np.nan
    out["n_rows"] = total["n_rows"].astype(int)
    out["actual_units"] = total["actual_units"].astype(float)
    return out


FORECAST_ERROR_COLUMNS = (
    "lane_id",
    "category",
    "decision_date",
    "target_date",
    "horizon",
    "forecast_mean",
    "forecast_std",
    "actual",
    "error",
)


def forecast_errors(
    forecasts: pd.DataFrame, panels: DemandPanels, splits: TimeSplits, lanes: pd.DataFrame
) -> pd.DataFrame:
    """Out-of-sample errors of whichever forecaster made ``forecasts``, on the validation period.

    Rows: decision dates in the validation period and target days before the test
    period with known sales; the global models never saw these days. Columns
    :data:`FORECAST_ERROR_COLUMNS`: ``error`` is ``actual - forecast_mean`` (units
    per day), ``category`` the lane's category (for resampling errors by lane group
    and horizon).
    """
    rows = forecasts[
        (forecasts["decision_date"] >= splits.validation_start) & (forecasts["target_date"] < splits.test_start)
    ]
    day = panels.day_index(rows["target_date"])
    lane = rows["lane_id"].to_numpy()
    actual = panels.sales[lane, np.clip(day, 0, panels.sales.shape[1] - 1)]
    known = ~np.isnan(actual) & (day < panels.n_history_days)
    rows, actual = rows[known], actual[known]
    mean = rows["forecast_mean"].to_numpy(dtype="float64")
    return pd.DataFrame(
        {
            "lane_id": rows["lane_id"].to_numpy(),
            "category": lanes["category"].to_numpy()[rows["lane_id"].to_numpy()],
            "decision_date": rows["decision_date"].to_numpy(),
            "target_date": rows["target_date"].to_numpy(),
            "horizon": rows["horizon"].to_numpy(),
            "forecast_mean": mean,
            "forecast_std": rows["forecast_std"].to_numpy(dtype="float64"),
            "actual": actual,
            "error": actual - mean,
        }
    )
