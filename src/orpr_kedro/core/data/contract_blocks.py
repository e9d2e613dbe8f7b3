"""The raw sales checked in lane blocks: cut them by lane without holding them whole, check each part.

:func:`partition_sales` reads the raw sales (a frame, or a :class:`ParquetSource` in
record batches), reads ``sku_id`` and ``dc_id`` as the contract does, numbers each
row's lane as :func:`~orpr_kedro.core.data.preparation.lane_order` numbers the lanes and
writes the rows, untouched, to one part per lane block; rows of no lane (unknown
SKU-DC pairs, missing IDs) go to the *remainder*, cut by a hash of the pair so the
rows of one pair stay together. Each row keeps its position in the table as loaded
(the row number of every message).

:func:`check_sales_part` runs the contract's checks of the sales on one part (a lane
block or a piece of the remainder): the table checks of
:func:`~orpr_kedro.core.data.contract_checks.check_table`, the links to the masters and
the date gaps against the data end of the whole table. It gives back the typed rows
and the problems with their rows in the whole table;
:func:`~orpr_kedro.core.data.contract_problems.merge_problems` joins the parts' problems
into what the whole table gives.
"""

from __future__ import annotations

import dataclasses
import posixpath
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import fsspec
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

from orpr_kedro.core.data.blocks import LANE, LaneBlocks, SpillFolder, n_blocks_for
from orpr_kedro.core.data.contract_checks import (
    _check_sales_links,
    _coerce_column,
    _has,
    check_table,
    date_gap_lanes,
    no_date_gaps,
)
from orpr_kedro.core.data.contract_problems import Problem, _Collector
from orpr_kedro.core.data.contract_tables import RAW_CONTRACTS
from orpr_kedro.core.data.preparation import LANE_KEY, lane_order
from orpr_kedro.core.data.sources import ParquetSource

ROW = "_orpr_row"  # a row's position in the raw table as loaded, carried through the parts
SALES = RAW_CONTRACTS["raw_sales"]
# an empty part is no problem: only an empty table is (checked on the whole table's row count)
SALES_PART = dataclasses.replace(SALES, may_be_empty=True)
_COLUMNS = {column.name: column for column in SALES.columns}
_PAIR = "\x1f"


def _pair_keys(sku: pd.Series, dc: pd.Series) -> np.ndarray:
    """One text per (sku_id, dc_id) pair of typed IDs; missing where either is missing."""
    return sku.astype("string").str.cat(dc.astype("string"), sep=_PAIR).to_numpy(dtype=object, na_value=None)


@dataclass(frozen=True)
class LaneNumbering:
    """The lanes of the typed SKU-DC master: ``lane_id`` = position in lane order."""

    n_lanes: int
    master_rows: np.ndarray  # lane_id -> row of the master
    keys: pd.Index  # pair text of each usable lane (unique, IDs present)
    key_lanes: np.ndarray  # the lane of each key

    @classmethod
    def of(cls, sku_dc_master: pd.DataFrame) -> LaneNumbering | None:
        """The numbering of a typed master; None when it lacks ``sku_id`` or ``dc_id``."""
        if not _has(sku_dc_master, *LANE_KEY):
            return None
        order = lane_order(sku_dc_master)
        ordered = sku_dc_master.iloc[order]
        keys = pd.Series(_pair_keys(ordered["sku_id"], ordered["dc_id"]), dtype=object)
        usable = (keys.notna() & ~keys.duplicated()).to_numpy()
        return cls(
            n_lanes=len(order),
            master_rows=order,
            keys=pd.Index(keys[usable].to_numpy(dtype=object)),
            key_lanes=np.flatnonzero(usable).astype("int64"),
        )

    def lanes_of(self, keys: np.ndarray) -> np.ndarray:
        """The lane of each pair text; -1 for a pair that is not a lane."""
        found = self.keys.get_indexer(keys)
        return np.where(found >= 0, self.key_lanes[found], -1)


@dataclass
class SalesPartition:
    """The raw sales cut into lane blocks and remainder pieces (frames, or Parquet folders in the spill folder)."""

    blocks: LaneBlocks
    remainder: list[pd.DataFrame | str]
    n_rows: int
    data_end: pd.Timestamp | None  # last date of the rows whose date gaps are checked
    folder: str | None = None  # the spill folder of the parts, removed by :meth:`remove`
    storage_options: dict[str, Any] = field(default_factory=dict)

    def remove(self) -> None:
        """Delete the parts written to the spill folder."""
        if self.folder is not None:
            fs, path = fsspec.core.url_to_fs(self.folder, **self.storage_options)
            if fs.exists(path):
                fs.rm(path, recursive=True)


def _assign(
    frame: pd.DataFrame, numbering: LaneNumbering | None, lanes_per_block: int, n_blocks: int, date_format: str | None
) -> tuple[np.ndarray, np.ndarray, pd.Timestamp | None]:
    """Lane (-1: none) and part (blocks 0..n-1, remainder pieces n..2n-1) of each row, and the rows' gap-checked end.

    ``frame`` holds the raw ``sku_id``, ``dc_id`` and ``date`` columns it has.
    """
    n_rows = len(frame)
    lanes = np.full(n_rows, -1, dtype="int64")
    if not _has(frame, *LANE_KEY):  # nothing to number lanes by (nor a key to keep together): spread the rows
        return lanes, n_blocks + np.arange(n_rows, dtype="int64") % n_blocks, None
    sku, _ = _coerce_column(frame["sku_id"], _COLUMNS["sku_id"])
    dc, _ = _coerce_column(frame["dc_id"], _COLUMNS["dc_id"])
    keys = _pair_keys(sku, dc)
    if numbering is not None:
        lanes = numbering.lanes_of(keys)
        gap_checked = lanes >= 0
    else:  # without lanes the whole table is gap-checked, as in the contract
        gap_checked = sku.notna().to_numpy() & dc.notna().to_numpy()
    hashed = pd.util.hash_array(np.where(pd.isna(keys), "", keys).astype(object)) % np.uint64(n_blocks)
    parts = np.where(lanes >= 0, lanes // lanes_per_block, n_blocks + hashed.astype("int64"))
    end = None
    if "date" in frame.columns:
        dates, _ = _coerce_column(frame["date"], _COLUMNS["date"], date_format)
        checked = dates[gap_checked]
        end = checked.max() if checked.notna().any() else None
    return lanes, parts, end


def _later(first: pd.Timestamp | None, second: pd.Timestamp | None) -> pd.Timestamp | None:
    if first is None:
        return second
    return first if second is None else max(first, second)


def _frame_batches(frame: pd.DataFrame, rows: int) -> Iterator[pd.DataFrame]:
    for start in range(0, max(len(frame), 1), rows):
        yield frame.iloc[start : start + rows]


def partition_sales(
    sales: pd.DataFrame | ParquetSource,
    numbering: LaneNumbering | None,
    n_lanes: int,
    lanes_per_block: int,
    spill: SpillFolder,
    date_format: str | None = None,
) -> SalesPartition:
    """Cut the raw sales into lane blocks and the remainder, rows untouched, each with its row number.

    ``n_lanes`` (the rows of the SKU-DC master) sets the number of blocks, and of
    remainder pieces: as many, so even a table of no known lane is checked in pieces
    of about a block's size. A frame is cut in memory (its parts are frames); a
    :class:`ParquetSource` is read batch by batch and each batch's rows of a part are
    written as one Parquet piece of that part's folder in ``spill``, so no more than a
    batch is held at a time.
    """
    n_blocks = n_blocks_for(n_lanes, lanes_per_block)
    key_columns = [name for name in ("sku_id", "dc_id", "date") if name in _column_names(sales)]
    if isinstance(sales, pd.DataFrame):
        lanes, parts, end = _assign(sales[key_columns], numbering, lanes_per_block, n_blocks, date_format)
        order = np.argsort(parts, kind="stable")
        bounds = np.searchsorted(parts[order], np.arange(2 * n_blocks + 1))
        pieces = {part: _piece(sales, order[bounds[part] : bounds[part + 1]], lanes) for part in range(2 * n_blocks)}
        blocks = LaneBlocks(
            lanes_per_block=lanes_per_block,
            parts={block: pieces[block] for block in range(n_blocks)},
            schema=_piece(sales, np.arange(0), lanes),
        )
        remainder: list[pd.DataFrame | str] = [
            piece for part, piece in pieces.items() if part >= n_blocks and len(piece)
        ]
        return SalesPartition(blocks, remainder, len(sales), end)

    folder = spill.table_url("raw_sales")
    fs, root = fsspec.core.url_to_fs(folder, **spill.storage_options)
    written: set[int] = set()
    n_rows, end = 0, None
    schema: pa.Schema | None = None
    for number, batch in enumerate(sales.batches()):
        table = pa.Table.from_batches([batch])
        table = table.drop_columns([name for name in (ROW, LANE) if name in table.column_names])
        lanes, parts, batch_end = _assign(
            table.select(key_columns).to_pandas(), numbering, lanes_per_block, n_blocks, date_format
        )
        end = _later(end, batch_end)
        table = table.append_column(ROW, pa.array(np.arange(n_rows, n_rows + len(lanes), dtype="int64")))
        table = table.append_column(LANE, pa.array(lanes))
        schema = table.schema
        n_rows += len(lanes)
        order = np.argsort(parts, kind="stable")
        bounds = np.searchsorted(parts[order], np.arange(2 * n_blocks + 1))
        for part in np.unique(parts):
            piece = table.take(pa.array(order[bounds[part] : bounds[part + 1]]))
            path = f"{root}/part-{int(part):05d}"
            fs.makedirs(path, exist_ok=True)
            with fs.open(f"{path}/piece-{number:06d}.parquet", "wb") as handle:
                pq.write_table(piece, handle)
            written.add(int(part))
    if schema is None:
        schema = sales.schema
        schema = pa.schema(
            [item for item in schema if item.name not in (ROW, LANE)] + [(ROW, pa.int64()), (LANE, pa.int64())],
            metadata=schema.metadata,
        )
    empty = schema.empty_table().to_pandas()

    def url(part: int) -> str:
        return posixpath.join(folder, f"part-{part:05d}")

    blocks = LaneBlocks(
        lanes_per_block=lanes_per_block,
        parts={block: url(block) if block in written else empty for block in range(n_blocks)},
        schema=empty,
        storage_options=dict(spill.storage_options),
    )
    remainder = [url(part) for part in sorted(written) if part >= n_blocks]
    return SalesPartition(blocks, remainder, n_rows, end, folder, dict(spill.storage_options))


def _piece(sales: pd.DataFrame, rows: np.ndarray, lanes: np.ndarray) -> pd.DataFrame:
    """The raw rows ``rows`` (positions, ascending) with their row number and lane (one copy of the rows)."""
    piece = sales.take(rows)
    piece.index = pd.RangeIndex(len(piece))
    if ROW in piece.columns or LANE in piece.columns:
        piece = piece.drop(columns=[name for name in (ROW, LANE) if name in piece.columns])
    piece[ROW] = rows.astype("int64")
    piece[LANE] = lanes[rows]
    return piece


def _column_names(sales: pd.DataFrame | ParquetSource) -> list[str]:
    return [str(name) for name in sales.columns] if isinstance(sales, pd.DataFrame) else list(sales.schema.names)


@dataclass(frozen=True)
class SalesRules:
    """What every part of the sales is checked against: small, so it goes to every task."""

    known_skus: frozenset[str] | None  # None without a usable SKU master
    lanes: pd.MultiIndex | None  # the SKU-DC master's pairs; None without a usable one
    known_dcs: tuple[str, ...]
    data_end: pd.Timestamp | None
    date_format: str | None
    max_examples: int


@dataclass
class PartResult:
    """One part's findings, rows numbered in the whole table."""

    table_problems: list[tuple[int, Problem]]
    link_problems: list[tuple[int, Problem]]
    gaps: pd.DataFrame  # contract_checks.date_gap_lanes
    gap_examples: pd.DataFrame  # raw rows at the first gappy lanes' first rows, indexed by row
    n_rows: int
    first_date: pd.Timestamp | None
    last_date: pd.Timestamp | None


def check_sales_part(
    part: pd.DataFrame | str,
    rules: SalesRules,
    *,
    lanes_known: bool,
    check_gaps: bool,
    storage_options: dict[str, Any] | None = None,
) -> tuple[pd.DataFrame, PartResult]:
    """The sales checks of the contract on one part; the part's typed rows (with ``lane_id``) and findings.

    Args:
        part: a part of :func:`partition_sales` (a frame, or the URL of its folder).
        rules: the masters' side of the checks and the whole table's data end.
        lanes_known: every row is of a lane (a lane block).
        check_gaps: check the date gaps of the part's pairs.
        storage_options: of a part's URL.
    """
    if isinstance(part, str):
        part = pd.read_parquet(part, storage_options=storage_options or None)
    if not part[ROW].is_monotonic_increasing:  # pieces of a folder, in the table's order
        part = part.sort_values(ROW, kind="stable")
    if not part.index.equals(pd.RangeIndex(len(part))):
        part = part.reset_index(drop=True)
    rows = part[ROW].to_numpy(dtype="int64")
    original = part.drop(columns=[ROW, LANE])
    table = _Collector(rules.max_examples)
    typed = check_table(original, SALES_PART, table, rules.date_format)
    links = _Collector(rules.max_examples)
    _check_sales_links(
        typed, original, rules.known_skus, rules.lanes, rules.known_dcs, links, all_lanes_known=lanes_known
    )
    gaps = no_date_gaps()
    if check_gaps and rules.data_end is not None and _has(typed, "sku_id", "dc_id", "date"):
        gaps = date_gap_lanes(typed, rows, rules.data_end, rules.max_examples)
    first = np.searchsorted(rows, gaps["row"].to_numpy(dtype="int64")[: rules.max_examples])
    gap_examples = original.iloc[first].set_axis(rows[first])
    dates = typed["date"].dropna() if "date" in typed.columns else pd.Series(dtype="datetime64[ns]")
    typed[LANE] = part[LANE].to_numpy(dtype="int64")
    return typed, PartResult(
        table_problems=table.slotted(rows),
        link_problems=links.slotted(rows),
        gaps=gaps,
        gap_examples=gap_examples,
        n_rows=len(part),
        first_date=dates.min() if len(dates) else None,
        last_date=dates.max() if len(dates) else None,
    )


@dataclass(frozen=True)
class BlockLanes:
    """How many lanes a lane block has (the last block may have fewer); sliced per block by the block map."""

    n_lanes: int

    def lane_slice(self, start: int, stop: int) -> BlockLanes:
        """The lanes of block ``[start, stop)``."""
        return BlockLanes(max(0, min(stop, self.n_lanes) - start))


def check_lane_block(sales: pd.DataFrame, lanes: BlockLanes, rules: SalesRules) -> dict[str, Any]:
    """One lane block (for :func:`~orpr_kedro.core.data.blocks.map_blocks`): typed rows, findings, lanes without sales."""
    typed, result = check_sales_part(sales, rules, lanes_known=True, check_gaps=True)
    silent = np.setdiff1d(np.arange(lanes.n_lanes), typed[LANE].to_numpy())
    return {"typed": typed, "result": result, "silent": pd.DataFrame({LANE: silent.astype("int64")})}


@dataclass(frozen=True)
class RemainderTask:
    """One remainder piece to check (picklable, for the task executor)."""

    part: pd.DataFrame | str
    rules: SalesRules
    check_gaps: bool
    storage_options: dict[str, Any] = field(default_factory=dict)


def check_remainder(task: RemainderTask) -> PartResult:
    """The findings of one remainder piece (its rows are never an output: each is a problem)."""
    _, result = check_sales_part(
        task.part, task.rules, lanes_known=False, check_gaps=task.check_gaps, storage_options=task.storage_options
    )
    return result
