"""Replay policies over consecutive decision windows on the same demand.

Forecasts are refreshed once per decision window (weekly): on the days of window
``k`` a policy orders up to a level computed from the forecast made on that
window's decision date. Every policy sees the same demand and the same
lead-time draws (common random numbers), so differences in KPIs come from the
policies alone.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.optimization.labeling import LabelingData, initial_state
from orpr_kedro.core.simulation.kernel import (
    LaneParams,
    SimulationResult,
    coverage_levels,
    draw_lead_times,
    simulate_order_up_to,
)
from orpr_kedro.core.simulation.kpi import aggregate_kpis, lane_kpi_frame
from orpr_kedro.core.simulation.policies import BaseStock

# A level rule: (window index, forecast path [N, F], days) -> order-up-to levels [N, days]
LevelRule = Callable[[int, np.ndarray, int], np.ndarray]


def coverage_rule(coverage: np.ndarray) -> LevelRule:
    """Level rule of a coverage policy; ``coverage`` is ``[N]`` or ``[N, W]`` days."""
    coverage = np.asarray(coverage, dtype="float64")

    def rule(window: int, forecast_path: np.ndarray, n_days: int) -> np.ndarray:
        per_lane = coverage if coverage.ndim == 1 else coverage[:, window]
        return coverage_levels(forecast_path, per_lane[None, :], n_days)[0]

    return rule


def window_levels(rules: Mapping[str, LevelRule], forecast_cube: np.ndarray, window_days: int = 7) -> np.ndarray:
    """Order-up-to levels ``[P, N, W * window_days]`` of each policy over the windows.

    Args:
        rules: policy name -> level rule.
        forecast_cube: ``[N, W, F]`` forecasts made on each window's decision date.
        window_days: days between decision dates.
    """
    n_lanes, n_windows, _ = forecast_cube.shape
    levels = np.empty((len(rules), n_lanes, n_windows * window_days))
    for window in range(n_windows):  # loop over windows and policies, vectorised over lanes
        days = slice(window * window_days, (window + 1) * window_days)
        for index, rule in enumerate(rules.values()):
            levels[index, :, days] = rule(window, forecast_cube[:, window, :], window_days)
    return levels


@dataclass
class BacktestResult:
    """Simulation of several policies on the same demand."""

    policies: list[str]
    result: SimulationResult

    def lane_kpis(self, lanes: pd.DataFrame) -> pd.DataFrame:
        """KPIs per (policy, lane) with the lane's identifiers and category."""
        frame = lane_kpi_frame(self.result, lane_ids=lanes["lane_id"].to_numpy(), candidate_labels=self.policies)
        frame = frame.rename(columns={"candidate": "policy", "lane": "lane_id"})
        return frame.merge(lanes[["lane_id", "sku_id", "dc_id", "category"]], on="lane_id", how="left")

    def kpi_table(self, lanes: pd.DataFrame) -> pd.DataFrame:
        """KPIs per policy, overall (``scope = all``) and per category."""
        per_lane = self.lane_kpis(lanes)
        overall = aggregate_kpis(per_lane, by="policy").assign(scope="all")
        by_category = aggregate_kpis(per_lane, by=["policy", "category"]).rename(columns={"category": "scope"})
        table = pd.concat([overall, by_category], ignore_index=True)
        table["policy"] = pd.Categorical(table["policy"], categories=self.policies, ordered=True)
        table["scope_order"] = table["scope"].ne("all")
        table = table.sort_values(["scope_order", "scope", "policy"]).drop(columns="scope_order")
        table["policy"] = table["policy"].astype(str)
        return table[["policy", "scope", *[c for c in table.columns if c not in ("policy", "scope")]]].reset_index(
            drop=True
        )


def run_backtest(
    rules: Mapping[str, LevelRule],
    forecast_cube: np.ndarray,
    demand: np.ndarray,
    lead_times: np.ndarray,
    lanes: LaneParams,
    initial_on_hand: np.ndarray,
    initial_pipeline: np.ndarray | None = None,
    window_days: int = 7,
) -> BacktestResult:
    """Simulate every policy over ``W`` windows of actual demand ``[N, W * window_days]``."""
    levels = window_levels(rules, forecast_cube, window_days)
    result = simulate_order_up_to(demand[None], levels, lead_times[None], lanes, initial_on_hand, initial_pipeline)
    return BacktestResult(policies=list(rules), result=result)


def base_stock_rule(lanes: pd.DataFrame, lane_params: LaneParams, dispersion: np.ndarray) -> LevelRule:
    """Level rule of the forecast base-stock policy (critical fractile over lead time + review)."""
    policy = BaseStock(
        lane_params,
        lead_time_mean=lanes["lead_time_mean"].to_numpy(),
        nb_dispersion=1.0 / np.maximum(dispersion, 1e-6),
        lead_time_std=lanes["lead_time_std"].to_numpy(),
    )

    def rule(window: int, forecast_path: np.ndarray, n_days: int) -> np.ndarray:
        return policy.levels(forecast_path, n_days)

    return rule


def coverage_schedule(table: pd.DataFrame, lanes: pd.DataFrame, dates: pd.DatetimeIndex, name: str) -> np.ndarray:
    """Coverage ``[N, W]`` (days) of a policy from a long table (lane_id, decision_date, coverage_days)."""
    wide = table.pivot(index="lane_id", columns="decision_date", values="coverage_days").reindex(
        index=lanes["lane_id"], columns=dates
    )
    if wide.isna().any().any():
        missing = [str(d.date()) for d in wide.columns[wide.isna().any()]]
        raise ValueError(f"{name}: coverage is missing for some lanes on decision dates {missing}")
    return wide.to_numpy(dtype="float64")


def compare_on_period(
    data: LabelingData,
    schedules: Mapping[str, pd.DataFrame],
    start: pd.Timestamp,
    end: pd.Timestamp,
    seed: int,
    max_lead_time: int,
) -> BacktestResult:
    """Coverage schedules, the incumbent rule and forecast base-stock on the actual demand of [start, end).

    Args:
        schedules: policy name -> table with ``lane_id``, ``decision_date`` and
            ``coverage_days`` for every lane and decision date of the period (OR
            labels, a learned policy's decisions, ...).

    All policies start from the SKU-DC master's ``initial_on_hand`` with nothing on
    order and share one set of lead-time draws.
    """
    lanes = data.lanes
    windows = np.flatnonzero((data.decision_dates >= start) & (data.decision_dates < end))
    if len(windows) == 0:
        raise ValueError(f"no decision dates between {start.date()} and {end.date()}")
    dates = data.decision_dates[windows]
    first = data.day(dates[0])
    n_days = len(windows) * 7
    params_at_start = data.lane_params_at(dates[0])
    rules: dict[str, LevelRule] = {
        name: coverage_rule(coverage_schedule(table, lanes, dates, name)) for name, table in schedules.items()
    }
    rules["incumbent"] = coverage_rule(lanes["target_turnover_days"].to_numpy())
    rules["base_stock"] = base_stock_rule(lanes, params_at_start, data.dispersion)
    rng = np.random.default_rng(np.random.SeedSequence([seed, first]))
    lead_times = draw_lead_times(
        lanes["lead_time_mean"].to_numpy(), lanes["lead_time_std"].to_numpy(), n_days, rng, max_lead_time=max_lead_time
    )
    demand = data.demand[:, first : first + n_days]
    if demand.shape[1] < n_days:
        raise ValueError(
            f"the period from {dates[0].date()} needs {n_days} days of actual demand, the data has {demand.shape[1]}"
        )
    return run_backtest(
        rules,
        data.forecast_cube[:, windows, :],
        demand,
        lead_times,
        params_at_start,
        initial_state(lanes).on_hand,
    )
