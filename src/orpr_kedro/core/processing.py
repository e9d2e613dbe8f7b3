"""The data_processing stage over lane blocks: what each node of the pipeline does, one block at a time.

Every step after validation is per lane, except three things that need every lane and
are gathered from small per-block results: the date range of the sales (time splits),
the forecaster's training sample (bounded by ``max_training_rows``, drawn block by
block in lane order) and the category totals behind ``category_sales_share``. So a
worker holds one block's panels, forecasts and features at a time, and the main
process the lanes table, the fitted forecaster and the per-block summaries.

On a table that fits in one block (the demo) every function here gives exactly what
the whole-table functions give; on several blocks the outputs are the same rows cut
into blocks (and the forecaster the same model when ``lanes_per_block`` is a multiple
of 512).
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any, TypeAlias

import numpy as np
import pandas as pd

from orpr_kedro.core.data import preparation
from orpr_kedro.core.data.blocks import BlockResults, LaneBlocks, as_blocks, map_blocks, n_blocks_for, spill_folder
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.forecasting import accuracy
from orpr_kedro.core.forecasting import model as forecasting
from orpr_kedro.core.forecasting.panels import DemandPanels, build_demand_panels
from orpr_kedro.core.forecasting.quality import report_findings, treat_sales
from orpr_kedro.core.learning import features
from orpr_kedro.core.params import DataQualityParams, ExecutionParams, FeatureParams

Table: TypeAlias = pd.DataFrame | LaneBlocks


class BlockedStage:
    """The lanes, cut into blocks, with the executor and spill folder a stage maps over them with.

    Use it as a context manager: the executor (local processes or a Dask cluster) lives
    as long as the ``with`` block.
    """

    def __init__(self, lanes: pd.DataFrame, execution: ExecutionParams, progress: bool = True) -> None:
        """Cut ``lanes`` (``prm_lanes``) into blocks of ``execution.lanes_per_block``."""
        self.execution = execution
        self.n_lanes = len(lanes)
        self.lanes = LaneBlocks.from_frame(
            lanes, execution.lanes_per_block, n_blocks_for(len(lanes), execution.lanes_per_block)
        )
        self.spill = spill_folder(execution.spill_dir)
        self._executor = TaskExecutor(execution.executor, progress=progress)

    def __enter__(self) -> BlockedStage:
        self._executor.__enter__()
        return self

    def __exit__(self, *exc_info: object) -> None:
        self._executor.__exit__(*exc_info)

    def blocks(self, table: Table) -> LaneBlocks:
        """A table keyed by ``lane_id`` cut like the lanes."""
        return as_blocks(table, self.execution.lanes_per_block, self.n_lanes)

    def map(
        self,
        function: Any,
        blocked: dict[str, Table],
        shared: dict[str, Any] | None = None,
        outputs: tuple[str, ...] = (),
        description: str = "lane blocks",
    ) -> BlockResults:
        """:func:`~orpr_kedro.core.data.blocks.map_blocks` with the lanes as input ``lanes``."""
        tables = {"lanes": self.lanes, **{name: self.blocks(table) for name, table in blocked.items()}}
        return map_blocks(
            function,
            blocked=tables,
            shared=shared,
            outputs=outputs,
            executor=self._executor,
            spill=self.spill,
            description=description,
        )


# ------------------------------------------------------------------ per block


def _daily_sales(lanes: pd.DataFrame, sales: pd.DataFrame) -> dict[str, Any]:
    # the block's lane numbers come from the lanes block (the sales' own were only for the cut)
    return {"daily_sales": preparation.build_daily_sales(sales.drop(columns="lane_id"), lanes)}


def _promotion_days(lanes: pd.DataFrame, promotions: pd.DataFrame) -> dict[str, Any]:
    return {"promotion_days": preparation.build_promotion_days(promotions, lanes)}


def _quality(lanes: pd.DataFrame, daily_sales: pd.DataFrame, params: DataQualityParams) -> dict[str, Any]:
    treated, report = treat_sales(daily_sales, lanes, params)
    return {"forecast_sales": treated, "report": report}


def _panels(
    lanes: pd.DataFrame, sales: pd.DataFrame, promotion_days: pd.DataFrame, splits: TimeSplits, horizon_days: int
) -> DemandPanels:
    return build_demand_panels(
        sales, promotion_days, lanes, splits.data_end, horizon_days, data_start=splits.data_start
    )


def _forecast(
    lanes: pd.DataFrame,
    sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    forecaster: forecasting.Forecaster,
    splits: TimeSplits,
    horizon_days: int,
) -> dict[str, Any]:
    panels = _panels(lanes, sales, promotion_days, splits, horizon_days)
    return {"forecast": forecasting.forecast_table(forecaster, panels, splits)}


def _accuracy(
    lanes: pd.DataFrame,
    sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    forecast: pd.DataFrame,
    splits: TimeSplits,
    horizon_days: int,
    quantiles: list[float],
) -> dict[str, Any]:
    panels = _panels(lanes, sales, promotion_days, splits, horizon_days)
    return {"sums": accuracy.accuracy_sums(forecast, panels, splits, lanes, quantiles)}


def _errors(
    lanes: pd.DataFrame,
    sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    forecast: pd.DataFrame,
    splits: TimeSplits,
    horizon_days: int,
) -> dict[str, Any]:
    panels = _panels(lanes, sales, promotion_days, splits, horizon_days)
    return {"errors": accuracy.forecast_errors(forecast, panels, splits, lanes)}


def _recent(
    lanes: pd.DataFrame,
    sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    splits: TimeSplits,
    horizon_days: int,
    params: FeatureParams,
) -> dict[str, Any]:
    panels = _panels(lanes, sales, promotion_days, splits, horizon_days)
    return {"recent": features.recent_sales(panels, splits, params)}


def _features(
    lanes: pd.DataFrame,
    sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    forecast: pd.DataFrame,
    splits: TimeSplits,
    horizon_days: int,
    params: FeatureParams,
    category_sums: np.ndarray,
) -> dict[str, Any]:
    panels = _panels(lanes, sales, promotion_days, splits, horizon_days)
    return {"features": features.build_decision_features(forecast, panels, lanes, splits, params, category_sums)}


# ------------------------------------------------------------------ the stage's steps


def sales_with_lanes(sales: pd.DataFrame, lanes: pd.DataFrame) -> pd.DataFrame:
    """Typed raw sales with each row's ``lane_id`` (rows of unknown lanes dropped; validation reported them)."""
    if "lane_id" in sales.columns:
        return sales
    return sales.merge(lanes[["sku_id", "dc_id", "lane_id"]], on=["sku_id", "dc_id"], how="inner")


def daily_sales(stage: BlockedStage, sales: Table) -> LaneBlocks:
    """``prm_daily_sales`` block by block."""
    if isinstance(sales, pd.DataFrame):
        sales = sales_with_lanes(sales, stage.lanes.concat())
    return stage.map(_daily_sales, {"sales": sales}, outputs=("daily_sales",), description="daily sales").tables[
        "daily_sales"
    ]


def promotion_days(stage: BlockedStage, promotions: pd.DataFrame) -> LaneBlocks:
    """``prm_promotion_days`` block by block (the promotion calendar is small and goes to every block)."""
    result = stage.map(
        _promotion_days, {}, shared={"promotions": promotions}, outputs=("promotion_days",), description="promotions"
    )
    return result.tables["promotion_days"]


def sales_date_range(daily_sales: Table) -> tuple[pd.Timestamp, pd.Timestamp]:
    """First and last sales date over every block (only the date column is read)."""
    if isinstance(daily_sales, pd.DataFrame):
        return daily_sales["date"].min(), daily_sales["date"].max()
    firsts, lasts = [], []
    for block in daily_sales.block_ids():
        dates = daily_sales.load(block, ["date"])["date"]
        if len(dates):
            firsts.append(dates.min())
            lasts.append(dates.max())
    return (min(firsts) if firsts else pd.NaT), (max(lasts) if lasts else pd.NaT)


def data_quality(stage: BlockedStage, daily_sales: Table, params: DataQualityParams) -> tuple[LaneBlocks, pd.DataFrame]:
    """Treated sales block by block and the findings of every block (one summary line, or the stop)."""
    result = stage.map(
        _quality,
        {"daily_sales": daily_sales},
        shared={"params": params},
        outputs=("forecast_sales",),
        description="data quality",
    )
    report = result.gathered("report")
    report_findings(report, params)
    return result.tables["forecast_sales"], report


def panel_blocks(
    stage: BlockedStage, sales: Table, promotion_days: Table, splits: TimeSplits, horizon_days: int
) -> Iterator[tuple[int, DemandPanels]]:
    """``(first lane, panels)`` of each block in lane order, one block in memory at a time."""
    sales_blocks, promo_blocks = stage.blocks(sales), stage.blocks(promotion_days)
    for block in stage.lanes.block_ids():
        start, _ = stage.lanes.lane_range(block)
        lanes = _local(stage.lanes.load(block), start)
        yield (
            start,
            _panels(
                lanes,
                _local(sales_blocks.load(block), start),
                _local(promo_blocks.load(block), start),
                splits,
                horizon_days,
            ),
        )


def whole_panels(
    stage: BlockedStage, sales: Table, promotion_days: Table, splits: TimeSplits, horizon_days: int
) -> DemandPanels:
    """The panels of every lane at once (the planners' own forecast is read whole)."""
    lanes = stage.lanes.concat()
    return _panels(lanes, stage.blocks(sales).concat(), stage.blocks(promotion_days).concat(), splits, horizon_days)


def _local(frame: pd.DataFrame, start: int) -> pd.DataFrame:
    if start and "lane_id" in frame.columns:
        frame = frame.assign(lane_id=frame["lane_id"].to_numpy() - start)
    return frame


def forecasts(
    stage: BlockedStage,
    forecaster: forecasting.Forecaster,
    sales: Table,
    promotion_days: Table,
    splits: TimeSplits,
    horizon_days: int,
) -> LaneBlocks:
    """``ftr_demand_forecast`` block by block (the forecaster's per-lane state is sliced per block)."""
    result = stage.map(
        _forecast,
        {"sales": sales, "promotion_days": promotion_days},
        shared={"forecaster": forecaster, "splits": splits, "horizon_days": horizon_days},
        outputs=("forecast",),
        description="forecasts",
    )
    return result.tables["forecast"]


def forecast_accuracy(
    stage: BlockedStage,
    forecast: Table,
    sales: Table,
    promotion_days: Table,
    splits: TimeSplits,
    horizon_days: int,
    quantiles: list[float],
) -> pd.DataFrame:
    """``rpt_forecast_accuracy`` from sums added over the blocks."""
    result = stage.map(
        _accuracy,
        {"sales": sales, "promotion_days": promotion_days, "forecast": forecast},
        shared={"splits": splits, "horizon_days": horizon_days, "quantiles": list(quantiles)},
        description="forecast accuracy",
    )
    return accuracy.accuracy_from_sums(result.gathered("sums"), list(quantiles))


def forecast_errors(
    stage: BlockedStage, forecast: Table, sales: Table, promotion_days: Table, splits: TimeSplits, horizon_days: int
) -> LaneBlocks:
    """``mi_forecast_errors`` (validation period) block by block."""
    result = stage.map(
        _errors,
        {"sales": sales, "promotion_days": promotion_days, "forecast": forecast},
        shared={"splits": splits, "horizon_days": horizon_days},
        outputs=("errors",),
        description="forecast errors",
    )
    return result.tables["errors"]


def decision_features(
    stage: BlockedStage,
    forecast: Table,
    sales: Table,
    promotion_days: Table,
    splits: TimeSplits,
    horizon_days: int,
    params: FeatureParams,
) -> LaneBlocks:
    """``mi_decision_features`` block by block, with the category totals of every lane.

    A first pass gathers each lane's recent sales (one number per lane and decision
    date) and sums them per category in lane order; the second builds the features.
    """
    blocked = {"sales": sales, "promotion_days": promotion_days}
    shared = {"splits": splits, "horizon_days": horizon_days}
    recent = stage.map(_recent, blocked, shared={**shared, "params": params}, description="category totals")
    codes = stage.lanes.concat(["category_code"])["category_code"].to_numpy()
    rows = np.concatenate([summary["recent"] for summary in recent.summaries], axis=0)
    category_sums = features.category_totals(rows, codes)
    result = stage.map(
        _features,
        {**blocked, "forecast": forecast},
        shared={**shared, "params": params, "category_sums": category_sums},
        outputs=("features",),
        description="decision features",
    )
    return result.tables["features"]
