"""Lane-blocked tables and the block map (orpr_kedro.core.data.blocks)."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.data.blocks import LaneBlocks, as_blocks, as_frame, map_blocks, n_blocks_for, spill_folder
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.params import ExecutorParams


def _table() -> pd.DataFrame:
    return pd.DataFrame({"lane_id": [4, 0, 1, 4, 2], "units": [10.0, 1.0, 2.0, 11.0, 3.0]})


def test_blocks_cut_by_lane_and_keep_row_order():
    blocks = LaneBlocks.from_frame(_table(), lanes_per_block=2, n_blocks=3)
    assert blocks.block_ids() == [0, 1, 2]
    assert blocks.load(0)["units"].tolist() == [1.0, 2.0]
    assert blocks.load(1)["lane_id"].tolist() == [2]
    assert blocks.load(2)["units"].tolist() == [10.0, 11.0]
    assert blocks.lane_range(2) == (4, 6)
    # the whole table again, in block order
    assert as_frame(blocks)["lane_id"].tolist() == [0, 1, 2, 4, 4]


def test_empty_blocks_keep_the_schema():
    blocks = as_blocks(pd.DataFrame({"lane_id": [0], "units": [1.0]}), lanes_per_block=1, n_lanes=3)
    assert blocks.n_blocks == 3
    assert list(blocks.load(2).columns) == ["lane_id", "units"] and blocks.load(2).empty
    assert n_blocks_for(0, 5) == 1 and n_blocks_for(10, 5) == 2 and n_blocks_for(11, 5) == 3


def test_lane_ids_outside_the_blocks_are_refused():
    with pytest.raises(ValueError, match="outside the 1 block"):
        LaneBlocks.from_frame(_table(), lanes_per_block=2, n_blocks=1)


def test_a_table_cut_otherwise_is_refused():
    blocks = LaneBlocks.from_frame(_table(), lanes_per_block=2, n_blocks=3)
    with pytest.raises(ValueError, match="blocks of 2 lanes, the run uses 4"):
        as_blocks(blocks, lanes_per_block=4, n_lanes=5)


@dataclass(frozen=True)
class _PerLane:
    """A shared input with per-lane state."""

    factor: np.ndarray

    def lane_slice(self, start: int, stop: int) -> _PerLane:
        return _PerLane(self.factor[start:stop])


def _scale(sales: pd.DataFrame, per_lane: _PerLane, offset: float) -> dict:
    # inside the block lanes count from 0: the per-lane state lines up with them
    scaled = sales.assign(units=sales["units"] * per_lane.factor[sales["lane_id"].to_numpy()] + offset)
    return {"scaled": scaled, "lanes_seen": sorted(sales["lane_id"].unique().tolist()), "total": scaled["units"].sum()}


@pytest.mark.parametrize("kind", ["serial", "processes"])
def test_map_blocks_renumbers_lanes_and_gives_the_whole_table_result(kind, tmp_path):
    blocks = LaneBlocks.from_frame(_table(), lanes_per_block=2, n_blocks=3)
    per_lane = _PerLane(np.array([1.0, 2.0, 3.0, 4.0, 5.0, 6.0]))
    with TaskExecutor(ExecutorParams(kind=kind, n_workers=2), progress=False) as executor:
        result = map_blocks(
            _scale,
            blocked={"sales": blocks},
            shared={"per_lane": per_lane, "offset": 0.5},
            outputs=("scaled",),
            executor=executor,
            spill=spill_folder(str(tmp_path / "spill")),
        )
    scaled = result.tables["scaled"]
    assert scaled.spilled and scaled.n_blocks == 3
    # lane 4 has factor 5, lane 0 factor 1, ...; lane numbers are the universe's again
    assert as_frame(scaled).to_dict("list") == {
        "lane_id": [0, 1, 2, 4, 4],
        "units": [1.5, 4.5, 9.5, 50.5, 55.5],
    }
    assert [summary["lanes_seen"] for summary in result.summaries] == [[0, 1], [0], [0]]
    assert [summary["total"] for summary in result.summaries] == [6.0, 9.5, 106.0]
    # the same numbers as the function on the whole table
    whole = _scale(_table(), per_lane, 0.5)["scaled"].sort_values("lane_id", kind="stable")
    assert whole["units"].tolist() == [1.5, 4.5, 9.5, 50.5, 55.5]


def _with_report(sales: pd.DataFrame) -> dict:
    return {"kept": sales, "report": sales[sales["units"] > 5].assign(note="big")}


def test_frame_summaries_come_back_with_universe_lane_numbers(tmp_path):
    blocks = LaneBlocks.from_frame(_table(), lanes_per_block=2, n_blocks=3)
    with TaskExecutor(ExecutorParams(kind="serial"), progress=False) as executor:
        result = map_blocks(
            _with_report,
            blocked={"sales": blocks},
            outputs=("kept",),
            executor=executor,
            spill=spill_folder(str(tmp_path / "spill")),
        )
    assert result.gathered("report")["lane_id"].tolist() == [4, 4]


def test_inputs_cut_differently_are_refused(tmp_path):
    with pytest.raises(ValueError, match="cut differently"):
        map_blocks(
            _with_report,
            blocked={
                "a": LaneBlocks.from_frame(_table(), 2, 3),
                "b": LaneBlocks.from_frame(_table(), 5, 1),
            },
            executor=None,
            spill=spill_folder(str(tmp_path / "spill")),
        )
