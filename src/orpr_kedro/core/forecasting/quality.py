"""Data quality of the daily sales before forecasting: what looks wrong, and what is done with it.

Valid data under the contract can still mislead a demand model. :func:`assess_sales`
finds, per lane,

* ``leading_zeros``: zero-sales days before the lane's first sale, at least
  ``leading_zero_min_days`` of them: the lane was not yet launched (a store that
  opened mid-history). They are *trimmed*: the forecaster sees the lane from its
  first sale on, as a launch, not as months of zero demand;
* ``long_zero_run``: at least ``long_zero_run_days`` zero-sales days in a row after
  the first sale (a stock-out, a delisting, a broken feed): *kept*, reported;
* ``outlier``: a day above ``outlier_ratio`` times the lane's median positive daily
  sales (and above ``outlier_min_units``): *capped* at that threshold (or *kept*
  with ``outlier_action: keep``);
* ``no_sales``: a lane of the master data with no sales row or only zeros: *kept*
  (its forecast is 0);
* ``non_finite_price``: a price that is infinite or missing: *filled* with the
  lane's last finite price.

The treated table feeds the forecaster and the model input; ``prm_daily_sales``
(the demand the simulator replays) is not changed.
"""

from __future__ import annotations

import logging

import numpy as np
import pandas as pd

from orpr_kedro.core.params import DataQualityParams

logger = logging.getLogger(__name__)

QUALITY_COLUMNS = (
    "check",
    "lane_id",
    "sku_id",
    "dc_id",
    "first_date",
    "last_date",
    "days",
    "value",
    "threshold",
    "action",
)


class DataQualityError(ValueError):
    """Data-quality findings with ``data_quality.fail: true``: the run stops before forecasting."""


def _runs(lane: np.ndarray, flag: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Start and stop (exclusive) row positions of runs of ``flag`` within each lane (rows sorted by lane, date)."""
    edge = np.ones(len(flag) + 1, dtype=bool)
    edge[1:-1] = (flag[1:] != flag[:-1]) | (lane[1:] != lane[:-1])
    bounds = np.flatnonzero(edge)
    starts, stops = bounds[:-1], bounds[1:]
    true_run = flag[starts] if len(flag) else np.zeros(0, dtype=bool)
    return starts[true_run], stops[true_run]


def _rows(check: str, sales: pd.DataFrame, starts: np.ndarray, stops: np.ndarray, **columns) -> pd.DataFrame:
    """Findings for row ranges ``[start, stop)`` of ``sales``."""
    return pd.DataFrame(
        {
            "check": check,
            "lane_id": sales["lane_id"].to_numpy()[starts],
            "sku_id": sales["sku_id"].to_numpy()[starts],
            "dc_id": sales["dc_id"].to_numpy()[starts],
            "first_date": sales["date"].to_numpy()[starts],
            "last_date": sales["date"].to_numpy()[stops - 1],
            "days": (stops - starts).astype("int64"),
            **columns,
        }
    )


def _find(
    sales: pd.DataFrame, lanes: pd.DataFrame, params: DataQualityParams
) -> tuple[list[pd.DataFrame], np.ndarray, np.ndarray, np.ndarray]:
    """Findings per check, and per sales row: trimmed, outlier, outlier threshold."""
    lane = sales["lane_id"].to_numpy()
    units = sales["sales_units"].to_numpy(dtype="float64")
    positive = units > 0
    findings = []

    # zeros before the first sale: leading runs only
    seen = pd.Series(positive).groupby(lane).cummax().to_numpy()
    starts, stops = _runs(lane, ~seen)
    lead_days = stops - starts
    launch = lead_days >= params.leading_zero_min_days
    starts, stops = starts[launch], stops[launch]
    findings.append(
        _rows(
            "leading_zeros",
            sales,
            starts,
            stops,
            value=0.0,
            threshold=float(params.leading_zero_min_days),
            action="trimmed",
        )
    )
    trimmed = np.zeros(len(sales), dtype=bool)
    for start, stop in zip(starts, stops, strict=True):
        trimmed[start:stop] = True
    # a lane that never sold is reported as such, not as a launch
    never_sold = ~pd.Series(positive).groupby(lane).transform("any").to_numpy()
    trimmed &= ~never_sold
    findings[-1] = findings[-1][~np.isin(findings[-1]["lane_id"], np.unique(lane[never_sold]))]

    # long zero runs after the first sale
    starts, stops = _runs(lane, seen & ~positive)
    long = stops - starts >= params.long_zero_run_days
    findings.append(
        _rows(
            "long_zero_run",
            sales,
            starts[long],
            stops[long],
            value=0.0,
            threshold=float(params.long_zero_run_days),
            action="kept",
        )
    )

    # outliers: far above the lane's median positive day
    median = pd.Series(np.where(positive, units, np.nan)).groupby(lane).transform("median").to_numpy()
    limit = np.maximum(params.outlier_ratio * np.nan_to_num(median, nan=0.0), params.outlier_min_units)
    outlier = positive & (units > limit)
    rows = np.flatnonzero(outlier)
    findings.append(
        _rows(
            "outlier",
            sales,
            rows,
            rows + 1,
            value=units[rows],
            threshold=np.floor(limit[rows]),
            action="capped" if params.outlier_action == "cap" else "kept",
        )
    )

    # non-finite prices
    price = sales["price"].to_numpy(dtype="float64")
    starts, stops = _runs(lane, ~np.isfinite(price))
    findings.append(_rows("non_finite_price", sales, starts, stops, value=np.nan, threshold=np.nan, action="filled"))

    # lanes without any sale
    totals = pd.Series(units).groupby(lane).sum()
    silent = lanes[~lanes["lane_id"].isin(totals[totals > 0].index)]
    rows_per_lane = pd.Series(lane).value_counts()
    findings.append(
        pd.DataFrame(
            {
                "check": "no_sales",
                "lane_id": silent["lane_id"].to_numpy(),
                "sku_id": silent["sku_id"].to_numpy(),
                "dc_id": silent["dc_id"].to_numpy(),
                "first_date": pd.NaT,
                "last_date": pd.NaT,
                "days": rows_per_lane.reindex(silent["lane_id"]).fillna(0).to_numpy().astype("int64"),
                "value": 0.0,
                "threshold": np.nan,
                "action": "kept",
            }
        )
    )

    return findings, trimmed, outlier, limit


def assess_sales(
    daily_sales: pd.DataFrame, lanes: pd.DataFrame, params: DataQualityParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Find the data-quality issues of the daily sales and treat them.

    Args:
        daily_sales: ``prm_daily_sales`` (lane_id, sku_id, dc_id, date, sales_units,
            price, promo_flag), sorted by lane and date.
        lanes: ``prm_lanes``.
        params: thresholds and actions.

    Returns:
        (treated sales with the same columns, findings with :data:`QUALITY_COLUMNS`:
        one row per finding, ``days`` the lane-days it covers, ``value`` the units
        (the largest day for an outlier, the total for the others), ``threshold``
        the limit that flagged it, ``action`` one of kept, trimmed, capped, filled).

    Raises:
        DataQualityError: on any finding when ``params.fail`` is true.
    """
    treated, report = treat_sales(daily_sales, lanes, params)
    report_findings(report, params)
    return treated, report


def treat_sales(
    daily_sales: pd.DataFrame, lanes: pd.DataFrame, params: DataQualityParams
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """:func:`assess_sales` without the summary: every check is per lane, so it runs on any lane block."""
    sales = daily_sales.sort_values(["lane_id", "date"], kind="stable").reset_index(drop=True)
    findings, trimmed, outlier, limit = _find(sales, lanes, params)
    report = pd.concat([frame for frame in findings if len(frame)] or [findings[0]], ignore_index=True)
    report = report.reindex(columns=list(QUALITY_COLUMNS))
    report["first_date"] = pd.to_datetime(report["first_date"])
    report["last_date"] = pd.to_datetime(report["last_date"])
    report = report.astype({"lane_id": "int64", "days": "int64", "value": "float64", "threshold": "float64"})

    treated = sales[~trimmed].copy()
    units = sales["sales_units"].to_numpy(dtype="float64")
    price = sales["price"].to_numpy(dtype="float64")
    kept_units = units[~trimmed]
    if params.outlier_action == "cap":
        capped = outlier[~trimmed]
        kept_units = np.where(capped, np.floor(limit[~trimmed]), kept_units)
    treated["sales_units"] = kept_units.astype(sales["sales_units"].dtype)
    treated["price"] = np.where(np.isfinite(price[~trimmed]), price[~trimmed], np.nan)
    return treated.reset_index(drop=True), report


def report_findings(report: pd.DataFrame, params: DataQualityParams) -> None:
    """One WARNING line summarising the findings (of every lane block), or stop when ``params.fail``.

    Raises:
        DataQualityError: on any finding when ``params.fail`` is true.
    """
    summary = summarise(report)
    if len(report) and params.fail:
        raise DataQualityError(
            f"Data quality: {summary}; data_quality.fail is true, so the run stops before forecasting. "
            f"First findings:\n{report.head(10).to_string(index=False)}"
        )
    if len(report):
        logger.warning("Data quality: %s (rpt_data_quality)", summary)
    else:
        logger.info("Data quality: no findings")


def summarise(report: pd.DataFrame) -> str:
    """One line: findings and lane-days per check and action."""
    if report.empty:
        return "no findings"
    grouped = report.groupby(["check", "action"], sort=False).agg(findings=("lane_id", "size"), days=("days", "sum"))
    return ", ".join(
        f"{row.findings} {check} ({action}, {row.days:,} lane-days)" for (check, action), row in grouped.iterrows()
    )
