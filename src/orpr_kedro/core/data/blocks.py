"""Tables stored and processed in lane blocks, so memory follows the block size, not the number of lanes.

Lanes are numbered ``lane_id`` 0..N-1 (:mod:`orpr_kedro.core.data.preparation`); block
``b`` holds lanes ``[b * lanes_per_block, (b + 1) * lanes_per_block)``. A
:class:`LaneBlocks` is one table cut that way: every block of the lane universe is
present (an empty frame where a table has no rows for those lanes), each either a
frame in memory or a Parquet file (a local path or an fsspec URL) read when asked.

:func:`map_blocks` runs a per-lane function block by block on a
:class:`~orpr_kedro.core.executor.TaskExecutor` (serial, local processes or Dask).
Each task reads its own blocks (a worker on another machine reads them from shared
storage), sees lanes numbered from 0 inside the block, writes its finished blocks to
the spill folder and returns only their addresses and whatever small summary the
function gives back. So the main process never holds more than the summaries, and a
worker never more than one block. The functions run unchanged on one block or on the
whole table: a per-lane computation gives the same numbers either way.
"""

from __future__ import annotations

import atexit
import dataclasses
import logging
import shutil
import tempfile
import uuid
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import fsspec
import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

LANE = "lane_id"
BLOCK_FILE = "block-{:05d}.parquet"


@runtime_checkable
class LaneSliceable(Protocol):
    """A shared input with per-lane state (e.g. a forecaster's dispersion per lane)."""

    def lane_slice(self, start: int, stop: int) -> Any:
        """The same object for lanes ``[start, stop)``, renumbered from 0."""
        ...


def n_blocks_for(n_lanes: int, lanes_per_block: int) -> int:
    """Blocks needed for ``n_lanes`` lanes (at least one, so an empty table still has a schema)."""
    return max(1, -(-int(n_lanes) // int(lanes_per_block)))


@dataclass
class LaneBlocks:
    """One table in lane blocks: ``parts[b]`` is block ``b``, a frame or the URL of a Parquet file.

    ``schema`` is an empty frame with the table's columns and dtypes (what an empty
    block loads as when its part is missing). ``spilled`` marks files in a spill folder
    that the catalog may move into place instead of copying them.
    """

    lanes_per_block: int
    parts: dict[int, pd.DataFrame | str]
    schema: pd.DataFrame | None = None
    storage_options: dict[str, Any] = field(default_factory=dict)
    spilled: bool = False

    @classmethod
    def from_frame(cls, frame: pd.DataFrame, lanes_per_block: int, n_blocks: int | None = None) -> LaneBlocks:
        """Cut a frame with a ``lane_id`` column into blocks (row order kept inside each block)."""
        block = frame[LANE].to_numpy(dtype="int64") // lanes_per_block
        count = n_blocks if n_blocks is not None else (int(block.max()) + 1 if len(block) else 1)
        if len(block) and (block.min() < 0 or block.max() >= count):
            raise ValueError(f"lane_id outside the {count} block(s) of {lanes_per_block} lanes")
        order = np.argsort(block, kind="stable")
        bounds = np.searchsorted(block[order], np.arange(count + 1))
        parts: dict[int, pd.DataFrame | str] = {}
        for b in range(count):
            rows = order[bounds[b] : bounds[b + 1]]
            parts[b] = frame.iloc[np.sort(rows)].reset_index(drop=True)
        return cls(lanes_per_block=lanes_per_block, parts=parts, schema=frame.iloc[:0].copy())

    @property
    def n_blocks(self) -> int:
        """Number of blocks."""
        return len(self.parts)

    def block_ids(self) -> list[int]:
        """Block numbers in order."""
        return sorted(self.parts)

    def lane_range(self, block: int) -> tuple[int, int]:
        """The lanes ``[start, stop)`` of a block (``stop`` may pass the last lane in the last block)."""
        return block * self.lanes_per_block, (block + 1) * self.lanes_per_block

    def load(self, block: int, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """Block ``block`` as a frame (its ``lane_id`` as stored: the lane universe's numbers)."""
        part = self.parts.get(block)
        if part is None:
            if self.schema is None:
                raise KeyError(f"block {block} is not part of this table ({self.n_blocks} blocks)")
            frame = self.schema
        elif isinstance(part, pd.DataFrame):
            frame = part
        else:
            return read_part(part, self.storage_options, columns)
        return frame if columns is None else frame[list(columns)]

    def __iter__(self) -> Iterator[tuple[int, pd.DataFrame]]:
        """``(block, frame)`` pairs in block order, one block in memory at a time."""
        for block in self.block_ids():
            yield block, self.load(block)

    def concat(self, columns: Sequence[str] | None = None) -> pd.DataFrame:
        """The whole table in one frame (for the stages that do not stream yet, and for small data)."""
        frames = [self.load(block, columns) for block in self.block_ids()]
        non_empty = [frame for frame in frames if len(frame)]
        if not non_empty:
            return frames[0].reset_index(drop=True) if frames else pd.DataFrame()
        return pd.concat(non_empty, ignore_index=True)

    def with_parts(self, parts: Mapping[int, pd.DataFrame | str]) -> LaneBlocks:
        """The same table with other parts (e.g. after they were moved into place)."""
        return dataclasses.replace(self, parts=dict(parts))


def as_frame(table: pd.DataFrame | LaneBlocks, columns: Sequence[str] | None = None) -> pd.DataFrame:
    """A frame, whether the table comes whole or in lane blocks."""
    if isinstance(table, LaneBlocks):
        return table.concat(columns)
    return table if columns is None else table[list(columns)]


def as_blocks(table: pd.DataFrame | LaneBlocks, lanes_per_block: int, n_lanes: int) -> LaneBlocks:
    """Lane blocks of ``lanes_per_block`` lanes over ``n_lanes`` lanes, whether the table comes whole or cut.

    Raises:
        ValueError: when a cut table has another block size than the one asked for.
    """
    n_blocks = n_blocks_for(n_lanes, lanes_per_block)
    if isinstance(table, LaneBlocks):
        if table.lanes_per_block != lanes_per_block:
            raise ValueError(
                f"table is stored in blocks of {table.lanes_per_block} lanes, the run uses {lanes_per_block} "
                "(execution.lanes_per_block): rerun the stage that wrote it"
            )
        return table
    return LaneBlocks.from_frame(table, lanes_per_block, n_blocks)


def read_part(url: str, storage_options: Mapping[str, Any] | None = None, columns: Sequence[str] | None = None):
    """One stored block."""
    return pd.read_parquet(
        url, columns=list(columns) if columns is not None else None, storage_options=storage_options or None
    )


def write_part(frame: pd.DataFrame, url: str, storage_options: Mapping[str, Any] | None = None) -> str:
    """Write one block (the folder is created as needed) and return its URL."""
    fs, path = fsspec.core.url_to_fs(url, **(storage_options or {}))
    fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
    frame.to_parquet(url, index=False, storage_options=storage_options or None)
    return url


def remove_parts(table: LaneBlocks) -> None:
    """Delete the files of a file-backed table (e.g. spilled blocks that were read and are no longer needed)."""
    for part in table.parts.values():
        if isinstance(part, str):
            fs, path = fsspec.core.url_to_fs(part, **table.storage_options)
            if fs.exists(path):
                fs.rm(path, recursive=True)


class SpillFolder:
    """Where the tasks of :func:`map_blocks` write finished blocks until the catalog saves them.

    Without a folder a temporary one is made and removed when the process exits. A
    folder that is given (``execution.spill_dir``) gets a subfolder per run of the
    process, removed at exit too.
    """

    def __init__(self, root: str | None = None, storage_options: Mapping[str, Any] | None = None) -> None:
        """Spill under ``root`` (local path or fsspec URL), or in a new temporary folder."""
        self.storage_options = dict(storage_options or {})
        if root is None:
            self.url = tempfile.mkdtemp(prefix="orpr-blocks-")
        else:
            self.url = f"{root.rstrip('/')}/orpr-blocks-{uuid.uuid4().hex[:12]}"
        self._fs, self._path = fsspec.core.url_to_fs(self.url, **self.storage_options)
        self._fs.makedirs(self._path, exist_ok=True)
        atexit.register(self.remove)

    def table_url(self, name: str) -> str:
        """A new, empty folder for one output table."""
        return f"{self.url}/{name}-{uuid.uuid4().hex[:8]}"

    def remove(self) -> None:
        """Delete the folder and what is left in it."""
        try:
            if self._fs.exists(self._path):
                if self._fs.protocol in ("file", ("file", "local")) or "file" in self._fs.protocol:
                    shutil.rmtree(self._path, ignore_errors=True)
                else:
                    self._fs.rm(self._path, recursive=True)
        except OSError:  # pragma: no cover - best effort at exit
            logger.debug("could not remove the spill folder %s", self.url)


_SPILL: dict[tuple[str | None, tuple[tuple[str, Any], ...]], SpillFolder] = {}


def spill_folder(root: str | None = None, storage_options: Mapping[str, Any] | None = None) -> SpillFolder:
    """The process's spill folder under ``root`` (one per root, made on first use)."""
    key = (root, tuple(sorted((storage_options or {}).items())))
    if key not in _SPILL:
        _SPILL[key] = SpillFolder(root, storage_options)
    return _SPILL[key]


def _shift_lanes(value: Any, offset: int) -> Any:
    """Renumber the lanes of a frame (``lane_id + offset``); anything else is returned as it is."""
    if offset and isinstance(value, pd.DataFrame) and LANE in value.columns:
        value = value.copy(deep=False)
        value[LANE] = (value[LANE].to_numpy() + offset).astype(value[LANE].dtype)
    return value


@dataclass(frozen=True)
class BlockTask:
    """Everything one block's task needs; picklable, so it can go to another process or machine."""

    function: Callable[..., Mapping[str, Any]]
    block: int
    start: int
    stop: int
    blocked: dict[str, pd.DataFrame | str]
    shared: dict[str, Any]
    outputs: tuple[str, ...]
    output_folders: dict[str, str]
    storage_options: dict[str, Any]


def run_block(task: BlockTask) -> tuple[dict[str, str], dict[str, Any]]:
    """Run one block: read its inputs, call the function on lanes numbered from 0, write its blocked outputs.

    Returns:
        (URL of each blocked output's block, the function's other results with the
        lanes numbered as in the lane universe again).
    """
    inputs: dict[str, Any] = {}
    for name, part in task.blocked.items():
        frame = part if isinstance(part, pd.DataFrame) else read_part(part, task.storage_options)
        inputs[name] = _shift_lanes(frame, -task.start)
    for name, value in task.shared.items():
        inputs[name] = value.lane_slice(task.start, task.stop) if isinstance(value, LaneSliceable) else value
    result = dict(task.function(**inputs))
    missing = [name for name in task.outputs if name not in result]
    if missing:
        raise KeyError(f"{getattr(task.function, '__name__', task.function)} returned no {missing}")
    urls = {}
    for name in task.outputs:
        frame = _shift_lanes(result.pop(name), task.start)
        urls[name] = write_part(
            frame, f"{task.output_folders[name]}/{BLOCK_FILE.format(task.block)}", task.storage_options
        )
    return urls, {name: _shift_lanes(value, task.start) for name, value in result.items()}


@dataclass
class BlockResults:
    """What :func:`map_blocks` gives back: the blocked outputs and each block's other results."""

    tables: dict[str, LaneBlocks]
    summaries: list[dict[str, Any]]

    def gathered(self, name: str) -> pd.DataFrame:
        """One frame-valued summary of every block, concatenated in block order."""
        frames = [summary[name] for summary in self.summaries]
        non_empty = [frame for frame in frames if len(frame)]
        return pd.concat(non_empty or frames[:1], ignore_index=True)


def map_blocks(
    function: Callable[..., Mapping[str, Any]],
    *,
    blocked: Mapping[str, LaneBlocks],
    shared: Mapping[str, Any] | None = None,
    outputs: Sequence[str] = (),
    executor: Any,
    spill: SpillFolder,
    description: str = "lane blocks",
) -> BlockResults:
    """Call ``function(**block_inputs, **shared)`` on every lane block.

    Args:
        function: a module-level function (it may go to another process) returning a
            mapping; the entries named in ``outputs`` are frames keyed by ``lane_id``
            (written block by block), the rest small summaries.
        blocked: tables cut into the same blocks; each call gets its block's frame, with
            ``lane_id`` counted from the block's first lane.
        shared: inputs every call gets whole; a :class:`LaneSliceable` one gets its
            slice for the block (``lane_slice``).
        outputs: the names of the blocked outputs.
        executor: a :class:`~orpr_kedro.core.executor.TaskExecutor`, entered.
        spill: where the finished blocks are written.
        description: what the progress bar says.

    Returns:
        The blocked outputs (file-backed :class:`LaneBlocks`) and the summaries in block order.

    Raises:
        ValueError: when the blocked inputs are not cut alike.
    """
    tables = list(blocked.values())
    if not tables:
        raise ValueError("map_blocks needs at least one blocked input")
    sizes = {(table.lanes_per_block, table.n_blocks) for table in tables}
    if len(sizes) != 1:
        raise ValueError(f"blocked inputs are cut differently (lanes per block, blocks): {sorted(sizes)}")
    lanes_per_block, n_blocks = sizes.pop()
    first = tables[0]
    folders = {name: spill.table_url(name) for name in outputs}
    tasks = []
    for block in first.block_ids():
        start, stop = first.lane_range(block)
        tasks.append(
            BlockTask(
                function=function,
                block=block,
                start=start,
                stop=stop,
                blocked={
                    name: table.parts[block] if block in table.parts else table.load(block)
                    for name, table in blocked.items()
                },
                shared=dict(shared or {}),
                outputs=tuple(outputs),
                output_folders=folders,
                storage_options=spill.storage_options,
            )
        )
    results = executor.map(run_block, tasks, description=description)
    out = {
        name: LaneBlocks(
            lanes_per_block=lanes_per_block,
            parts={task.block: urls[name] for task, (urls, _) in zip(tasks, results, strict=True)},
            storage_options=spill.storage_options,
            spilled=True,
        )
        for name in outputs
    }
    logger.debug("%s: %d block(s) of %d lanes", description, n_blocks, lanes_per_block)
    return BlockResults(tables=out, summaries=[summary for _, summary in results])
