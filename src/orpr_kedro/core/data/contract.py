"""The raw data contract and its validation.

Six raw tables feed the project (``docs/data_contract.md`` is the user-facing
version of this module): five history tables that ``data_processing`` reads
(:data:`HISTORY_TABLES`) and the inventory state that ``recommend`` reads.
:data:`RAW_CONTRACTS` states, per table, the columns, their types, bounds and the
key; :func:`validate_history` checks the history tables and the links between
them, the sales in lane blocks so they are never held whole (:func:`validate_raw_tables`
is it on one block, in memory), :func:`validate_inventory_state` the state against the
lanes and the sales. They collect *all* problems and raise one :class:`DataContractError` whose message
names, for each problem, the dataset and its file, the column, the rule and a few
offending rows.

Row numbers in messages are 0-based positions in the table as loaded (for a CSV
file with a header line, file line = row + 2).

The tables are defined in :mod:`~orpr_kedro.core.data.contract_tables`, the problems and
the error in :mod:`~orpr_kedro.core.data.contract_problems`, the checks in
:mod:`~orpr_kedro.core.data.contract_checks`, the sales' cut into lane blocks in
:mod:`~orpr_kedro.core.data.contract_blocks`; this module validates whole inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np
import pandas as pd

from orpr_kedro.core.data.blocks import LANE, LaneBlocks, SpillFolder, map_blocks, remove_parts, spill_folder
from orpr_kedro.core.data.contract_blocks import (
    BlockLanes,
    LaneNumbering,
    RemainderTask,
    SalesRules,
    check_lane_block,
    check_remainder,
    partition_sales,
)
from orpr_kedro.core.data.contract_checks import (
    EMPTY_TABLE_RULE,
    _check_master_links,
    _lane_index,
    _unknown_rule,
    check_table,
    date_gap_problem,
    lanes_without_sales_warning,
)
from orpr_kedro.core.data.contract_problems import (
    DataContractError,
    Problem,
    _Collector,
    merge_problems,
)
from orpr_kedro.core.data.contract_tables import (
    HISTORY_TABLES,
    ISO_DATE,
    RAW_CONTRACTS,
    Column,
    ColumnKind,
    TableContract,
)
from orpr_kedro.core.data.sources import ParquetSource
from orpr_kedro.core.executor import TaskExecutor
from orpr_kedro.core.params import ExecutorParams

__all__ = [
    "HISTORY_TABLES",
    "ISO_DATE",
    "RAW_CONTRACTS",
    "Column",
    "ColumnKind",
    "DataContractError",
    "Problem",
    "TableContract",
    "ValidatedSales",
    "check_table",
    "validate_inventory_state",
    "validate_history",
    "validate_raw_tables",
    "validate_table",
]

logger = logging.getLogger(__name__)


MASTER_TABLES = tuple(name for name in HISTORY_TABLES if name != "raw_sales")


@dataclass
class ValidatedSales:
    """The typed raw sales in lane blocks, and what the checks before the first write need of them."""

    blocks: LaneBlocks  # the contract columns, typed, and lane_id; rows in the table's order inside each block
    n_rows: int
    first_date: pd.Timestamp | None
    last_date: pd.Timestamp | None


def validate_history(
    sales: pd.DataFrame | ParquetSource,
    masters: Mapping[str, pd.DataFrame],
    *,
    executor: TaskExecutor,
    spill: SpillFolder,
    lanes_per_block: int | None = None,
    sources: Mapping[str, str] | None = None,
    max_examples: int = 5,
    date_formats: Mapping[str, str] | None = None,
) -> tuple[dict[str, pd.DataFrame], ValidatedSales]:
    """Validate the five history tables, the sales in lane blocks, so they are never held whole.

    The masters (every name of :data:`HISTORY_TABLES` but ``raw_sales``) are small
    and checked whole. The sales are cut into lane blocks (lanes numbered as
    :func:`~orpr_kedro.core.data.preparation.lane_order` does) and a remainder of the
    rows of no lane (:func:`~orpr_kedro.core.data.contract_blocks.partition_sales`);
    each part is checked on ``executor`` and the parts' problems are merged, so the
    error is the one the whole table gives: row numbers are positions in the table as
    loaded, date gaps are measured to the data end of the whole table, an empty table
    (not an empty block) is a problem. Findings that are not errors (lanes with master
    data but no sales) are logged as warnings.

    Args:
        sales: the raw sales, a frame or a Parquet source streamed in record batches.
        masters: dataset name -> raw frame of the four master tables.
        executor: the entered executor the blocks run on.
        spill: where the parts and the typed blocks are written.
        lanes_per_block: lanes per block; None: one block of every lane.
        sources: dataset name -> file path or URI, quoted in error messages.
        max_examples: example rows shown per problem.
        date_formats: dataset name -> ``strftime`` format of its date columns.

    Returns:
        The typed masters (dataset name -> frame), and the typed sales in lane blocks.

    Raises:
        DataContractError: listing every problem found (not only the first).
    """
    formats = dict(date_formats or {})
    originals = {name: masters[name].reset_index(drop=True) for name in MASTER_TABLES}
    table_checks = _Collector(max_examples)
    typed = {
        name: check_table(originals[name], RAW_CONTRACTS[name], table_checks, formats.get(name))
        for name in MASTER_TABLES
    }
    link_checks = _Collector(max_examples)
    _check_master_links(typed, originals, link_checks)

    lanes = typed["raw_sku_dc_master"]
    numbering = LaneNumbering.of(lanes)
    size = lanes_per_block or max(1, len(lanes))
    partition = partition_sales(sales, numbering, len(lanes), size, spill, formats.get("raw_sales"))
    skus = typed["raw_sku_master"]
    rules = SalesRules(
        known_skus=frozenset(skus["sku_id"].dropna()) if "sku_id" in skus.columns else None,
        lanes=_lane_index(lanes) if numbering is not None else None,
        known_dcs=tuple(lanes["dc_id"].dropna().unique()) if "dc_id" in lanes.columns else (),
        data_end=partition.data_end,
        date_format=formats.get("raw_sales"),
        max_examples=max_examples,
    )
    try:
        checked = map_blocks(
            check_lane_block,
            blocked={"sales": partition.blocks},
            shared={"lanes": BlockLanes(numbering.n_lanes if numbering is not None else 0), "rules": rules},
            outputs=("typed",),
            executor=executor,
            spill=spill,
            description="raw_sales lane blocks",
        )
        remainder = executor.map(
            check_remainder,
            [
                RemainderTask(part, rules, check_gaps=numbering is None, storage_options=partition.storage_options)
                for part in partition.remainder
            ],
            description="raw_sales rows of no lane",
        )
    finally:
        partition.remove()
    results = [summary["result"] for summary in checked.summaries] + list(remainder)

    problems: list[Problem] = []
    if partition.n_rows == 0 and not RAW_CONTRACTS["raw_sales"].may_be_empty:
        problems.append(Problem("raw_sales", "*", EMPTY_TABLE_RULE, np.arange(0), pd.DataFrame()))
    problems += merge_problems([result.table_problems for result in results], max_examples)
    problems += table_checks.problems
    problems += merge_problems([result.link_problems for result in results], max_examples)
    problems += link_checks.problems
    gap_parts = [result for result in results if len(result.gaps)]
    if gap_parts and partition.data_end is not None:
        problems.append(
            date_gap_problem(
                pd.concat([result.gaps for result in gap_parts], ignore_index=True),
                pd.concat([result.gap_examples for result in gap_parts]),
                partition.data_end,
                max_examples,
            )
        )
    if problems:
        raise DataContractError(problems, sources)
    for warning in table_checks.warnings + link_checks.warnings:
        logger.warning(warning)
    schema = partition.blocks.schema
    if numbering is not None and schema is not None and "date" in schema.columns:
        silent = np.zeros(len(lanes), dtype=bool)
        silent_lanes = checked.gathered("silent")[LANE].to_numpy(dtype="int64")
        silent[numbering.master_rows[silent_lanes]] = True
        silent_warning = lanes_without_sales_warning(lanes, silent)
        if silent_warning is not None:
            logger.warning(silent_warning)
    firsts = [result.first_date for result in results if result.first_date is not None]
    lasts = [result.last_date for result in results if result.last_date is not None]
    return typed, ValidatedSales(
        blocks=checked.tables["typed"],
        n_rows=partition.n_rows,
        first_date=min(firsts) if firsts else None,
        last_date=max(lasts) if lasts else None,
    )


def validate_raw_tables(
    tables: Mapping[str, pd.DataFrame],
    sources: Mapping[str, str] | None = None,
    max_examples: int = 5,
    date_formats: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Validate the five history tables against :data:`RAW_CONTRACTS` and each other, in memory.

    :func:`validate_history` on one lane block; findings that are not errors (lanes
    with master data but no sales) are logged as warnings.

    Args:
        tables: dataset name -> raw frame, for every name in :data:`HISTORY_TABLES`
            (other entries are ignored).
        sources: dataset name -> file path or URI, quoted in error messages.
        max_examples: example rows shown per problem.
        date_formats: dataset name -> ``strftime`` format of its date columns
            (e.g. ``"%d/%m/%Y"``); tables not named are read as ISO 8601.

    Returns:
        dataset name -> typed frame with exactly the contract columns.

    Raises:
        DataContractError: listing every problem found (not only the first).
    """
    with TaskExecutor(ExecutorParams(kind="serial"), progress=False) as executor:
        typed, sales = validate_history(
            tables["raw_sales"],
            {name: tables[name] for name in MASTER_TABLES},
            executor=executor,
            spill=spill_folder(),
            sources=sources,
            max_examples=max_examples,
            date_formats=date_formats,
        )
    frame = sales.blocks.concat().drop(columns=LANE)
    remove_parts(sales.blocks)
    return {"raw_sales": frame, **typed}


def validate_table(
    frame: pd.DataFrame,
    name: str,
    sources: Mapping[str, str] | None = None,
    max_examples: int = 5,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Check one raw table on its own (columns, types, emptiness, bounds, key); return it typed.

    For a run that reads ``name`` late (``kedro run`` reads the inventory snapshot in
    its last pipeline) this check runs before the first node; the rules across
    tables follow in the node that validates the table.

    Raises:
        DataContractError: listing every problem found.
    """
    collector = _Collector(max_examples)
    typed = check_table(frame, RAW_CONTRACTS[name], collector, date_format)
    if collector.problems:
        raise DataContractError(collector.problems, sources)
    return typed


def validate_inventory_state(
    state: pd.DataFrame,
    lanes: pd.DataFrame,
    sales_end: pd.Timestamp,
    sources: Mapping[str, str] | None = None,
    max_examples: int = 5,
    date_format: str | None = None,
) -> pd.DataFrame:
    """Validate ``raw_inventory_state`` against its contract, the lanes and the sales.

    Rules beyond the columns: every (sku_id, dc_id) pair is a lane of
    ``raw_sku_dc_master``; every row has the same ``as_of_date`` (a snapshot); that
    date is not after the last sales date (the forecast needs the sales up to it).
    Lanes without a state row are not an error: they get no recommendation.

    Args:
        state: the raw state table.
        lanes: the validated lanes (``sku_id``, ``dc_id``), e.g. ``prm_lanes``.
        sales_end: last date of ``raw_sales``.
        sources: dataset name -> file path or URI, quoted in error messages.
        max_examples: example rows shown per problem.
        date_format: ``strftime`` format of ``as_of_date``; None reads ISO 8601.

    Returns:
        The state with exactly the contract columns, typed.

    Raises:
        DataContractError: listing every problem found.
    """
    name = "raw_inventory_state"
    collector = _Collector(max_examples)
    original = state.reset_index(drop=True)
    typed = check_table(original, RAW_CONTRACTS[name], collector, date_format)
    if {"sku_id", "dc_id"} <= set(typed.columns):
        present = typed[["sku_id", "dc_id"]].notna().all(axis=1).to_numpy()
        unknown = present & ~_lane_index(typed).isin(_lane_index(lanes))
        rule = _unknown_rule(
            "unknown SKU-DC pair (not in raw_sku_dc_master)", typed["sku_id"], unknown, lanes["sku_id"], "the lanes"
        )
        collector.add(name, "sku_id, dc_id", rule, original, unknown)
    if "as_of_date" in typed.columns and typed["as_of_date"].notna().any():
        dates = typed["as_of_date"]
        snapshot = dates.max()
        if dates.nunique() > 1:
            found = ", ".join(str(day.date()) for day in sorted(dates.dropna().unique()))
            collector.add(
                name,
                "as_of_date",
                f"every row must have the same as_of_date (one snapshot); found {dates.nunique()} dates ({found}); "
                f"showing rows that differ from the latest, {snapshot.date()}",
                original,
                (dates.notna() & (dates != snapshot)).to_numpy(),
            )
        collector.add(
            name,
            "as_of_date",
            f"after the last sales date {pd.Timestamp(sales_end).date()} in raw_sales "
            "(the forecast needs the sales up to as_of_date)",
            original,
            (dates > pd.Timestamp(sales_end)).fillna(False).to_numpy(),
        )
    if collector.problems:
        raise DataContractError(collector.problems, sources)
    return typed
