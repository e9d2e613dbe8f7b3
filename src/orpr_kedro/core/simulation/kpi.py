"""Inventory KPIs: one definition each, computed from simulation accumulators.

Accumulators (see :class:`orpr_kedro.core.simulation.kernel.SimulationResult`) are additive
over lanes, scenarios, candidates and days; KPIs that are ratios are computed AFTER
summing the accumulators over the axes (or groups) the caller chooses, never by
averaging per-lane ratios.

Definitions (units)
-------------------
* ``turnover_days = sum_end_on_hand / sales_units`` (days of sales held in stock).
  Sales 0 with stock > 0 gives ``inf``; sales 0 and stock 0 gives ``nan``.
* ``in_stock_rate = in_stock_days / n_days`` (share of lane-days with on-hand > 0 at
  the start of the day after receipts); ``nan`` when ``n_days`` is 0.
* ``fill_rate = sales_units / demand_units``; ``nan`` when demand is 0.
* ``holding_cost``, ``lost_units``, ``lost_sales_cost``, ``order_cost`` are the
  accumulators themselves (currency, units, currency, currency).
* ``total_cost = holding_cost + lost_sales_cost + order_cost`` (currency).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
import pandas as pd

__all__ = [
    "ACCUMULATED_COLUMNS",
    "ADDITIVE_COLUMNS",
    "RATIO_COLUMNS",
    "aggregate_kpis",
    "fill_rate",
    "in_stock_rate",
    "kpis_from_accumulators",
    "lane_kpi_frame",
    "total_cost",
    "turnover_days",
]

# Additive quantities, summed before any ratio is formed.
ADDITIVE_COLUMNS = (
    "demand_units",
    "sales_units",
    "lost_units",
    "ordered_units",
    "n_orders",
    "sum_end_on_hand",
    "in_stock_days",
    "n_days",
    "holding_cost",
    "lost_sales_cost",
    "order_cost",
    "total_cost",
)
RATIO_COLUMNS = ("turnover_days", "in_stock_rate", "fill_rate")
# the additive columns that are accumulated (total cost is their sum): every KPI is formed from these sums
ACCUMULATED_COLUMNS = tuple(c for c in ADDITIVE_COLUMNS if c != "total_cost")


def _ratio(num, den, zero_num_value: float) -> np.ndarray:
    """``num / den``; where ``den == 0``: ``zero_num_value`` if ``num == 0`` else inf."""
    num = np.asarray(num, dtype=np.float64)
    den = np.asarray(den, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        out = np.true_divide(num, den)
    out = np.where(den == 0, np.where(num == 0, zero_num_value, np.inf), out)
    return out if out.ndim else out[()]


def turnover_days(sum_end_on_hand, sales_units):
    """Days of sales in stock: end-of-day on-hand unit-days / units sold.

    ``inf`` where nothing sold but stock was held, ``nan`` where neither.
    """
    return _ratio(sum_end_on_hand, sales_units, np.nan)


def in_stock_rate(in_stock_days, n_days):
    """Share of lane-days in stock (``nan`` where ``n_days`` is 0)."""
    return _ratio(in_stock_days, n_days, np.nan)


def fill_rate(sales_units, demand_units):
    """Share of demand served (``nan`` where demand is 0)."""
    return _ratio(sales_units, demand_units, np.nan)


def total_cost(holding_cost, lost_sales_cost, order_cost):
    """Holding + lost-sales + ordering cost (currency)."""
    return np.asarray(holding_cost) + np.asarray(lost_sales_cost) + np.asarray(order_cost)


def _accumulators(source) -> dict[str, np.ndarray]:
    if hasattr(source, "accumulators"):
        acc = source.accumulators()
    elif isinstance(source, Mapping):
        acc = dict(source)
    else:
        raise TypeError("expected a SimulationResult or a mapping of accumulators")
    missing = [k for k in ACCUMULATED_COLUMNS if k not in acc]
    if missing:
        raise KeyError(f"missing accumulators: {missing}")
    arrays = np.broadcast_arrays(*(np.asarray(acc[k]) for k in ACCUMULATED_COLUMNS))
    return dict(zip(ACCUMULATED_COLUMNS, arrays, strict=True))


def kpis_from_accumulators(source, axis: int | Sequence[int] | None = ()) -> dict:
    """All KPIs from a result (or mapping of accumulators), summing over ``axis`` first.

    ``axis=()`` (default) keeps the shape (per-element KPIs); ``axis=None`` sums
    everything; e.g. ``axis=(1, 2)`` on a ``[C, S, N]`` result gives one value per
    candidate. Returns a dict with the summed additive quantities (including
    ``total_cost``) and the ratio KPIs.
    """
    acc = _accumulators(source)
    if axis is None:
        acc = {k: v.sum() for k, v in acc.items()}
    else:
        axes = tuple(int(a) for a in np.atleast_1d(axis))
        if axes:
            acc = {k: v.sum(axis=axes) for k, v in acc.items()}
    out = dict(acc)
    out["total_cost"] = total_cost(acc["holding_cost"], acc["lost_sales_cost"], acc["order_cost"])
    out["turnover_days"] = turnover_days(acc["sum_end_on_hand"], acc["sales_units"])
    out["in_stock_rate"] = in_stock_rate(acc["in_stock_days"], acc["n_days"])
    out["fill_rate"] = fill_rate(acc["sales_units"], acc["demand_units"])
    return out


def lane_kpi_frame(
    result,
    lane_ids: Sequence | None = None,
    candidate_labels: Sequence | None = None,
    per_scenario: bool = False,
) -> pd.DataFrame:
    """KPIs per lane as a tidy DataFrame.

    A generic-path result (accumulators ``[N]``) gives one row per lane. A fast-path
    result (``[C, S, N]``) gives one row per (candidate, lane); the additive columns
    are then MEANS over scenarios (expected value per run of ``T`` days) and the ratios
    are formed from them, which equals forming them from the sums. With
    ``per_scenario=True`` there is one row per (candidate, scenario, lane) instead.
    Columns: the keys (``candidate``, ``scenario``, ``lane``), ``ADDITIVE_COLUMNS``
    and ``RATIO_COLUMNS``.
    """
    acc = _accumulators(result)
    shape = acc["holding_cost"].shape
    if len(shape) == 1:
        keys = {"lane": np.arange(shape[0]) if lane_ids is None else np.asarray(lane_ids)}
        if len(keys["lane"]) != shape[0]:
            raise ValueError("lane_ids must have one entry per lane")
    elif len(shape) == 3:
        n_c, n_s, n_l = shape
        lanes = np.arange(n_l) if lane_ids is None else np.asarray(lane_ids)
        cands = np.arange(n_c) if candidate_labels is None else np.asarray(candidate_labels)
        if len(lanes) != n_l or len(cands) != n_c:
            raise ValueError("lane_ids / candidate_labels do not match the result shape")
        if per_scenario:
            c_i, s_i, l_i = np.meshgrid(np.arange(n_c), np.arange(n_s), np.arange(n_l), indexing="ij")
            keys = {"candidate": cands[c_i.ravel()], "scenario": s_i.ravel(), "lane": lanes[l_i.ravel()]}
        else:
            acc = {k: v.mean(axis=1) for k, v in acc.items()}
            c_j, l_j = np.meshgrid(np.arange(n_c), np.arange(n_l), indexing="ij")
            keys = {"candidate": cands[c_j.ravel()], "lane": lanes[l_j.ravel()]}
    else:
        raise ValueError(f"expected accumulators [N] or [C, S, N], got shape {shape}")
    k = kpis_from_accumulators(acc)
    cols = {**keys}
    for name in ADDITIVE_COLUMNS + RATIO_COLUMNS:
        cols[name] = np.asarray(k[name]).ravel()
    return pd.DataFrame(cols)


def aggregate_kpis(frame: pd.DataFrame, by: str | Sequence[str] | None = None) -> pd.DataFrame:
    """Aggregate a KPI frame over groups: sum the additive columns, then form ratios.

    ``by`` names the grouping column(s) (e.g. ``"category"`` after merging lane
    attributes, plus ``"candidate"`` for fast-path frames); ``None`` aggregates all
    rows into one. Ratios of the input rows are ignored and recomputed.
    """
    base = list(ACCUMULATED_COLUMNS)
    if by is None:
        summed = frame[base].sum().to_frame().T
    else:
        by_list = [by] if isinstance(by, str) else list(by)
        summed = frame.groupby(by_list, sort=True, dropna=False)[base].sum().reset_index()
    k = kpis_from_accumulators({c: summed[c].to_numpy() for c in base})
    out = summed.copy()
    for name in ("total_cost",) + RATIO_COLUMNS:
        out[name] = np.asarray(k[name])
    keys = [c for c in out.columns if c not in ADDITIVE_COLUMNS + RATIO_COLUMNS]
    return out[keys + list(ADDITIVE_COLUMNS) + list(RATIO_COLUMNS)]
