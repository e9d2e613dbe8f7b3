"""The lanes the training stages work on: every lane, or a bounded sample of them.

The OR labels, the network, RL alignment and the evaluation need every lane's arrays at
once (the category budgets couple a category's lanes in one model per decision date),
so at scale they work on a random sample of ``execution.training_lanes`` lanes,
stratified by category (each category keeps its share of the lanes, at least one lane),
drawn from the seed. The sample's tables are renumbered ``lane_id`` 0..n-1 in universe
order, and ``universe_lane_id`` in the lanes table says which lane each one is; its
``sku_id`` and ``dc_id`` are those of the universe. Without a limit (the demo, staging)
the sample is every lane and the tables are the universe's, unchanged (no
``universe_lane_id`` column: the numbers are the universe's).
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping

import numpy as np
import pandas as pd

from orpr_kedro.core.data.blocks import LANE, LaneBlocks, n_blocks_for

UNIVERSE_LANE = "universe_lane_id"


def sample_lanes(lanes: pd.DataFrame, limit: int | None, seed: int) -> np.ndarray:
    """Universe ``lane_id``\\ s of the training lanes, sorted: all of them, or ``limit`` stratified by category.

    Each category gets ``round(limit * its share)`` lanes (at least one, at most all of
    them; the largest categories absorb the rounding), drawn without replacement.
    """
    ids = lanes[LANE].to_numpy(dtype="int64")
    if limit is None or limit >= len(lanes):
        return np.sort(ids)
    rng = np.random.default_rng([seed, 0x5A4D])  # a stream of its own: no other draw moves with it
    categories = lanes["category"].astype(str).to_numpy()
    names, counts = np.unique(categories, return_counts=True)
    exact = limit * counts / counts.sum()
    quota = np.minimum(np.maximum(np.floor(exact).astype(int), 1), counts)
    for index in np.argsort(-(exact - np.floor(exact)), kind="stable"):  # largest remainders first
        if quota.sum() >= limit:
            break
        quota[index] += quota[index] < counts[index]
    while quota.sum() > limit:  # the one-lane minimum overshot: the largest quota gives back
        quota[int(np.argmax(quota))] -= 1
    chosen = [
        rng.choice(ids[categories == name], size=int(k), replace=False) for name, k in zip(names, quota, strict=True)
    ]
    return np.sort(np.concatenate(chosen))


def sample_lanes_table(lanes: pd.DataFrame, lane_ids: np.ndarray) -> pd.DataFrame:
    """The lanes table of the sample: ``lane_id`` 0..n-1, ``universe_lane_id`` the lane it is."""
    chosen = lanes.set_index(LANE, drop=False).loc[lane_ids].reset_index(drop=True)
    chosen = chosen.rename(columns={LANE: UNIVERSE_LANE})
    chosen.insert(0, LANE, np.arange(len(chosen), dtype=lanes[LANE].dtype))
    return chosen


def sample_table(
    table: pd.DataFrame | LaneBlocks, lane_ids: np.ndarray, n_universe: int, lanes_per_block: int
) -> LaneBlocks:
    """The rows of the sampled lanes, renumbered, in blocks of ``lanes_per_block`` (only their blocks are read)."""
    position = np.full(n_universe, -1, dtype="int64")
    position[lane_ids] = np.arange(len(lane_ids))
    frames = []
    sources: Iterator[pd.DataFrame]
    if isinstance(table, LaneBlocks):
        wanted = np.unique(lane_ids // table.lanes_per_block)
        sources = (table.load(int(block)) for block in wanted)
    else:
        sources = iter([table])
    for frame in sources:
        new = position[frame[LANE].to_numpy(dtype="int64")]
        keep = new >= 0
        if keep.any():
            part = frame[keep].copy()
            part[LANE] = new[keep].astype(frame[LANE].dtype)
            frames.append(part)
    schema = table.load(table.block_ids()[0]).iloc[:0] if isinstance(table, LaneBlocks) else table.iloc[:0]
    whole = pd.concat(frames, ignore_index=True) if frames else schema
    return LaneBlocks.from_frame(whole, lanes_per_block, n_blocks_for(len(lane_ids), lanes_per_block))


def training_world(
    lanes: pd.DataFrame,
    tables: Mapping[str, pd.DataFrame | LaneBlocks],
    limit: int | None,
    seed: int,
    lanes_per_block: int,
) -> tuple[pd.DataFrame, dict[str, pd.DataFrame | LaneBlocks]]:
    """The training lanes and their tables: the universe's as they are, or the sample's renumbered."""
    lane_ids = sample_lanes(lanes, limit, seed)
    if len(lane_ids) == len(lanes):
        return lanes, dict(tables)
    chosen = sample_lanes_table(lanes, lane_ids)
    return chosen, {name: sample_table(table, lane_ids, len(lanes), lanes_per_block) for name, table in tables.items()}


def universe_lane_ids(frame: pd.DataFrame, lanes: pd.DataFrame) -> pd.DataFrame:
    """Rows of a training-stage table (``sku_id``, ``dc_id``, ...) with the universe's ``lane_id``.

    A table from the training lanes numbers them in the sample; ``lanes`` (``prm_lanes``)
    gives each SKU-DC its universe number. Rows of lanes not in ``lanes`` are dropped.
    """
    keyed = frame.drop(columns=[LANE, UNIVERSE_LANE], errors="ignore")
    return keyed.merge(lanes[["sku_id", "dc_id", LANE]], on=["sku_id", "dc_id"], how="inner")
