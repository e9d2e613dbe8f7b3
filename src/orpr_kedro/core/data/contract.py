"""The raw data contract and its validation.

Six raw tables feed the project (``docs/data_contract.md`` is the user-facing
version of this module): five history tables that ``data_processing`` reads
(:data:`HISTORY_TABLES`) and the inventory state that ``recommend`` reads.
:data:`RAW_CONTRACTS` states, per table, the columns, their types, bounds and the
key; :func:`validate_raw_tables` checks the history tables and the links between
them, :func:`validate_inventory_state` the state against the lanes and the sales.
Both collect *all* problems and raise one :class:`DataContractError` whose message
names, for each problem, the dataset and its file, the column, the rule and a few
offending rows.

Row numbers in messages are 0-based positions in the table as loaded (for a CSV
file with a header line, file line = row + 2).

The tables are defined in :mod:`~orpr_kedro.core.data.contract_tables`, the problems and
the error in :mod:`~orpr_kedro.core.data.contract_problems`, the checks in
:mod:`~orpr_kedro.core.data.contract_checks`; this module validates whole inputs.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping

import pandas as pd

from orpr_kedro.core.data.contract_checks import _check_links, _lane_index, _unknown_rule, check_table
from orpr_kedro.core.data.contract_problems import (
    DataContractError,
    Problem,
    _Collector,
)
from orpr_kedro.core.data.contract_tables import (
    HISTORY_TABLES,
    ISO_DATE,
    RAW_CONTRACTS,
    Column,
    ColumnKind,
    TableContract,
)

__all__ = [
    "HISTORY_TABLES",
    "ISO_DATE",
    "RAW_CONTRACTS",
    "Column",
    "ColumnKind",
    "DataContractError",
    "Problem",
    "TableContract",
    "check_table",
    "validate_inventory_state",
    "validate_raw_tables",
    "validate_table",
]

logger = logging.getLogger(__name__)


def validate_raw_tables(
    tables: Mapping[str, pd.DataFrame],
    sources: Mapping[str, str] | None = None,
    max_examples: int = 5,
    date_formats: Mapping[str, str] | None = None,
) -> dict[str, pd.DataFrame]:
    """Validate the five history tables against :data:`RAW_CONTRACTS` and each other.

    Findings that are not errors (lanes with master data but no sales) are logged
    as warnings.

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
    collector = _Collector(max_examples)
    originals = {name: tables[name].reset_index(drop=True) for name in HISTORY_TABLES}
    formats = dict(date_formats or {})
    typed = {
        name: check_table(originals[name], RAW_CONTRACTS[name], collector, formats.get(name)) for name in HISTORY_TABLES
    }
    _check_links(typed, originals, collector)
    if collector.problems:
        raise DataContractError(collector.problems, sources)
    for warning in collector.warnings:
        logger.warning(warning)
    return typed


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
