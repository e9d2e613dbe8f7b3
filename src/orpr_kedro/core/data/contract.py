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
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

ColumnKind = Literal["string", "int", "float", "date", "bool"]


@dataclass(frozen=True)
class Column:
    """One column of a raw table."""

    name: str
    kind: ColumnKind
    description: str
    nullable: bool = False
    minimum: float | None = None
    maximum: float | None = None
    exclusive_minimum: bool = False


@dataclass(frozen=True)
class TableContract:
    """Columns and key of one raw table."""

    name: str
    description: str
    columns: tuple[Column, ...]
    key: tuple[str, ...]

    @property
    def column_names(self) -> list[str]:
        """Contract column names in order."""
        return [column.name for column in self.columns]


RAW_CONTRACTS: dict[str, TableContract] = {
    "raw_sales": TableContract(
        name="raw_sales",
        description="Daily sales per SKU-DC: one row per SKU, DC and day, zero-sales days included.",
        key=("sku_id", "dc_id", "date"),
        columns=(
            Column("sku_id", "string", "SKU identifier"),
            Column("dc_id", "string", "distribution centre identifier"),
            Column("date", "date", "calendar day"),
            Column("sales_units", "int", "units sold that day (units)", minimum=0),
            Column("price", "float", "selling price that day (currency per unit)", minimum=0, exclusive_minimum=True),
            Column("promo_flag", "bool", "true when the SKU was on promotion that day"),
        ),
    ),
    "raw_sku_master": TableContract(
        name="raw_sku_master",
        description="One row per SKU.",
        key=("sku_id",),
        columns=(
            Column("sku_id", "string", "SKU identifier"),
            Column("category", "string", "product category (must have a row in raw_category_targets)"),
            Column("unit_cost", "float", "purchase cost (currency per unit)", minimum=0, exclusive_minimum=True),
            Column(
                "unit_price", "float", "regular selling price (currency per unit)", minimum=0, exclusive_minimum=True
            ),
            Column("case_pack", "int", "units per case; orders are whole cases", minimum=1),
            Column("moq", "int", "minimum order quantity (units); 0 = none", minimum=0),
            Column("unit_volume", "float", "volume of one unit (litres)", minimum=0, exclusive_minimum=True),
        ),
    ),
    "raw_sku_dc_master": TableContract(
        name="raw_sku_dc_master",
        description="One row per SKU-DC pair (a lane).",
        key=("sku_id", "dc_id"),
        columns=(
            Column("sku_id", "string", "SKU identifier (must be in raw_sku_master)"),
            Column("dc_id", "string", "distribution centre identifier"),
            Column("lead_time_mean", "float", "mean vendor lead time (days)", minimum=0, exclusive_minimum=True),
            Column("lead_time_std", "float", "standard deviation of the vendor lead time (days)", minimum=0),
            Column("review_period", "int", "days between order reviews", minimum=1),
            Column("initial_on_hand", "int", "units on hand when a simulation starts without a known state", minimum=0),
        ),
    ),
    "raw_promotions": TableContract(
        name="raw_promotions",
        description=(
            "Promotion calendar: one row per event, for one SKU or a whole category, "
            "in one DC or (dc_id empty) in every DC."
        ),
        key=("promo_id",),
        columns=(
            Column("promo_id", "string", "event identifier"),
            Column("sku_id", "string", "SKU on promotion (empty for a category event)", nullable=True),
            Column("category", "string", "category on promotion (empty for a SKU event)", nullable=True),
            Column("dc_id", "string", "DC of the event (empty = every DC)", nullable=True),
            Column("start_date", "date", "first day of the event"),
            Column("end_date", "date", "last day of the event (inclusive)"),
            Column(
                "expected_uplift",
                "float",
                "planned relative uplift of demand (0.8 = +80%)",
                minimum=-1,
                exclusive_minimum=True,
            ),
            Column(
                "expert_coverage_days", "float", "coverage the planners want going into the event (days)", minimum=0
            ),
        ),
    ),
    "raw_category_targets": TableContract(
        name="raw_category_targets",
        description="Business targets per category.",
        key=("category",),
        columns=(
            Column("category", "string", "product category"),
            Column(
                "target_turnover_days",
                "float",
                "target turnover (days of sales held)",
                minimum=0,
                exclusive_minimum=True,
            ),
            Column(
                "alpha",
                "float",
                "service target: lost sales may be at most (1 - alpha) of sales",
                minimum=0,
                maximum=1,
                exclusive_minimum=True,
            ),
        ),
    ),
    "raw_inventory_state": TableContract(
        name="raw_inventory_state",
        description=(
            "Inventory snapshot: one row per SKU-DC pair with its closing stock on one day "
            "(the same as_of_date in every row), read by the recommend pipeline."
        ),
        key=("sku_id", "dc_id"),
        columns=(
            Column("sku_id", "string", "SKU identifier (the pair must be in raw_sku_dc_master)"),
            Column("dc_id", "string", "distribution centre identifier"),
            Column("as_of_date", "date", "day of the snapshot; raw_sales must reach this day"),
            Column(
                "on_hand", "int", "units on hand at the end of as_of_date (after its sales and receipts)", minimum=0
            ),
            Column(
                "on_order",
                "int",
                "units ordered from the vendor and not yet received, all open orders (units)",
                minimum=0,
            ),
        ),
    ),
}

# The tables data_processing validates together (the state is validated by recommend).
HISTORY_TABLES = ("raw_sales", "raw_sku_master", "raw_sku_dc_master", "raw_promotions", "raw_category_targets")


@dataclass(frozen=True)
class Problem:
    """One broken rule in one column of one raw table."""

    dataset: str
    column: str
    rule: str
    rows: np.ndarray
    examples: pd.DataFrame = field(repr=False)

    def describe(self, source: str | None) -> str:
        """Human-readable paragraph naming file, column, rule and example rows."""
        where = f"{self.dataset} ({source})" if source else self.dataset
        shown = ", ".join(str(row) for row in self.rows[: len(self.examples)])
        more = "" if len(self.rows) <= len(self.examples) else ", ..."
        table = self.examples.to_string(max_colwidth=40)
        indented = "\n".join("      " + line for line in table.splitlines())
        return (
            f"  - {where}: column '{self.column}': {self.rule}: "
            f"{len(self.rows)} row(s) (rows {shown}{more})\n{indented}"
        )


class DataContractError(ValueError):
    """Raw data broke the contract. Nothing downstream has been written."""

    def __init__(self, problems: list[Problem], sources: Mapping[str, str] | None = None):
        self.problems = problems
        self.sources = dict(sources or {})
        lines = [
            f"Raw data failed validation with {len(problems)} problem(s); "
            "no output was written. Fix the file(s) and run again."
        ]
        lines += [problem.describe(self.sources.get(problem.dataset)) for problem in problems]
        super().__init__("\n".join(lines))


class _Collector:
    """Accumulates problems with a bounded number of example rows each."""

    def __init__(self, max_examples: int):
        self.max_examples = max_examples
        self.problems: list[Problem] = []

    def add(self, dataset: str, column: str, rule: str, frame: pd.DataFrame, mask: np.ndarray | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        self.problems.append(Problem(dataset, column, rule, rows, frame.iloc[rows[: self.max_examples]]))


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _coerce_column(raw: pd.Series, column: Column) -> tuple[pd.Series, np.ndarray]:
    """Convert a raw column to the contract type; return it and a mask of unparseable values."""
    present = raw.notna().to_numpy()
    if column.kind == "string":
        text = raw.astype("string").str.strip()
        blank = (text == "").fillna(False).to_numpy()
        return text.mask(blank), np.zeros(len(raw), dtype=bool)
    if column.kind in ("int", "float"):
        numbers = pd.to_numeric(raw, errors="coerce")
        bad = present & numbers.isna().to_numpy()
        if column.kind == "int":
            fractional = numbers.notna().to_numpy() & (numbers.fillna(0) % 1 != 0).to_numpy()
            bad |= fractional
            numbers = numbers.where(~fractional)
        return numbers.astype("float64"), bad
    if column.kind == "date":
        dates = pd.to_datetime(raw, errors="coerce")
        if getattr(dates.dt, "tz", None) is not None:
            dates = dates.dt.tz_localize(None)
        return dates.dt.normalize(), present & dates.isna().to_numpy()
    # bool
    if pd.api.types.is_bool_dtype(raw):
        return raw.astype("boolean"), np.zeros(len(raw), dtype=bool)
    text = raw.astype("string").str.strip().str.lower()
    truthy = text.isin(_TRUE).fillna(False).to_numpy()
    falsy = text.isin(_FALSE).fillna(False).to_numpy()
    values = pd.Series(pd.array(np.where(truthy, True, False), dtype="boolean"), index=raw.index)
    values[~(truthy | falsy)] = pd.NA
    return values, present & ~(truthy | falsy)


def _finalise_column(values: pd.Series, column: Column) -> pd.Series:
    if column.kind == "int":
        return values.astype("Int64") if column.nullable else values.fillna(0).astype("int64")
    if column.kind == "bool" and not column.nullable:
        return values.fillna(False).astype(bool)
    return values


def check_table(frame: pd.DataFrame, contract: TableContract, collector: _Collector) -> pd.DataFrame:
    """Check columns, types, nulls, bounds and key of one table; return it typed.

    Problems go to ``collector``; the returned frame holds the contract columns
    (typed) in contract order, with extra columns dropped.
    """
    name = contract.name
    frame = frame.reset_index(drop=True)
    typed = pd.DataFrame(index=frame.index)
    for column in contract.columns:
        if column.name not in frame.columns:
            collector.problems.append(
                Problem(
                    name,
                    column.name,
                    f"required column is missing (columns found: {', '.join(map(str, frame.columns))})",
                    np.arange(len(frame)),
                    frame.head(0),
                )
            )
            continue
        values, unparseable = _coerce_column(frame[column.name], column)
        collector.add(name, column.name, f"value is not a valid {column.kind}", frame, unparseable)
        if not column.nullable:
            collector.add(name, column.name, "value is missing", frame, values.isna().to_numpy() & ~unparseable)
        if column.minimum is not None:
            below = values < column.minimum if not column.exclusive_minimum else values <= column.minimum
            sign = ">" if column.exclusive_minimum else ">="
            collector.add(
                name, column.name, f"must be {sign} {column.minimum:g}", frame, below.fillna(False).to_numpy()
            )
        if column.maximum is not None:
            collector.add(
                name,
                column.name,
                f"must be <= {column.maximum:g}",
                frame,
                (values > column.maximum).fillna(False).to_numpy(),
            )
        typed[column.name] = values
    if all(key in typed.columns for key in contract.key):
        duplicated = typed.duplicated(list(contract.key), keep=False).to_numpy()
        collector.add(name, ", ".join(contract.key), "key must be unique (duplicate rows)", frame, duplicated)
    for column in contract.columns:
        if column.name in typed.columns:
            typed[column.name] = _finalise_column(typed[column.name], column)
    return typed


def _lane_index(frame: pd.DataFrame) -> pd.MultiIndex:
    return pd.MultiIndex.from_frame(frame[["sku_id", "dc_id"]])


def _check_links(tables: dict[str, pd.DataFrame], originals: dict[str, pd.DataFrame], collector: _Collector) -> None:
    """Rules that involve more than one table."""
    sales, skus, lanes = tables["raw_sales"], tables["raw_sku_master"], tables["raw_sku_dc_master"]
    promotions, targets = tables["raw_promotions"], tables["raw_category_targets"]

    def has(frame: pd.DataFrame, *columns: str) -> bool:
        return all(column in frame.columns for column in columns)

    known_skus = set(skus["sku_id"].dropna()) if has(skus, "sku_id") else None
    known_categories = set(targets["category"].dropna()) if has(targets, "category") else None
    if known_skus is not None and has(sales, "sku_id"):
        unknown = ~sales["sku_id"].isin(known_skus).to_numpy()
        collector.add("raw_sales", "sku_id", "unknown SKU (not in raw_sku_master)", originals["raw_sales"], unknown)
        if has(sales, "dc_id") and has(lanes, "sku_id", "dc_id"):
            unknown_lane = ~unknown & ~_lane_index(sales).isin(_lane_index(lanes))
            collector.add(
                "raw_sales",
                "sku_id, dc_id",
                "unknown SKU-DC pair (not in raw_sku_dc_master)",
                originals["raw_sales"],
                unknown_lane,
            )
    if known_skus is not None and has(lanes, "sku_id"):
        collector.add(
            "raw_sku_dc_master",
            "sku_id",
            "unknown SKU (not in raw_sku_master)",
            originals["raw_sku_dc_master"],
            ~lanes["sku_id"].isin(known_skus).to_numpy(),
        )
    if known_categories is not None and has(skus, "category"):
        collector.add(
            "raw_sku_master",
            "category",
            "unknown category (not in raw_category_targets)",
            originals["raw_sku_master"],
            ~skus["category"].isin(known_categories).to_numpy(),
        )
    if has(promotions, "start_date", "end_date"):
        collector.add(
            "raw_promotions",
            "end_date",
            "promotion ends before it starts",
            originals["raw_promotions"],
            (promotions["end_date"] < promotions["start_date"]).fillna(False).to_numpy(),
        )
    if has(promotions, "sku_id", "category"):
        both_or_none = promotions["sku_id"].notna().to_numpy() == promotions["category"].notna().to_numpy()
        collector.add(
            "raw_promotions",
            "sku_id, category",
            "exactly one of sku_id and category must be given",
            originals["raw_promotions"],
            both_or_none,
        )
        if known_skus is not None:
            collector.add(
                "raw_promotions",
                "sku_id",
                "unknown SKU (not in raw_sku_master)",
                originals["raw_promotions"],
                (promotions["sku_id"].notna() & ~promotions["sku_id"].isin(known_skus)).to_numpy(),
            )
        if known_categories is not None:
            collector.add(
                "raw_promotions",
                "category",
                "unknown category (not in raw_category_targets)",
                originals["raw_promotions"],
                (promotions["category"].notna() & ~promotions["category"].isin(known_categories)).to_numpy(),
            )
    if has(promotions, "dc_id") and has(lanes, "dc_id"):
        collector.add(
            "raw_promotions",
            "dc_id",
            "unknown DC (not in raw_sku_dc_master)",
            originals["raw_promotions"],
            (promotions["dc_id"].notna() & ~promotions["dc_id"].isin(set(lanes["dc_id"]))).to_numpy(),
        )
    if has(sales, "sku_id", "dc_id", "date"):
        # rows of unknown lanes are reported above; gaps are checked on the others
        known = (
            _lane_index(sales).isin(_lane_index(lanes)) if has(lanes, "sku_id", "dc_id") else np.ones(len(sales), bool)
        )
        _check_date_gaps(sales[known], originals["raw_sales"], collector)


def _check_date_gaps(sales: pd.DataFrame, original: pd.DataFrame, collector: _Collector) -> None:
    """Every lane reports every day from its first date to the last date of the data."""
    valid = sales.dropna(subset=["sku_id", "dc_id", "date"])
    if valid.empty:
        return
    span = valid.groupby(["sku_id", "dc_id"], sort=False)["date"].agg(["min", "max", "nunique"])
    end = valid["date"].max()
    expected_days = (end - span["min"]).dt.days + 1
    gappy = span.index[(span["nunique"] < expected_days).to_numpy()]
    if len(gappy):
        # Flag the first row of each lane with missing days, so the message points at it.
        first_rows = valid.assign(_row=valid.index).groupby(["sku_id", "dc_id"], sort=False)["_row"].min()
        mask = np.zeros(len(original), dtype=bool)
        mask[first_rows.loc[gappy].to_numpy()] = True
        missing = (expected_days - span["nunique"]).loc[gappy]
        collector.add(
            "raw_sales",
            "date",
            f"date gaps: {len(gappy)} SKU-DC pair(s) miss {int(missing.sum())} day(s) between their "
            f"first date and the data end {end.date()} (report zero-sales days as rows with sales_units 0); "
            "showing each pair's first row",
            original,
            mask,
        )


def validate_raw_tables(
    tables: Mapping[str, pd.DataFrame],
    sources: Mapping[str, str] | None = None,
    max_examples: int = 5,
) -> dict[str, pd.DataFrame]:
    """Validate the five history tables against :data:`RAW_CONTRACTS` and each other.

    Args:
        tables: dataset name -> raw frame, for every name in :data:`HISTORY_TABLES`
            (other entries are ignored).
        sources: dataset name -> file path or URI, quoted in error messages.
        max_examples: example rows shown per problem.

    Returns:
        dataset name -> typed frame with exactly the contract columns.

    Raises:
        DataContractError: listing every problem found (not only the first).
    """
    collector = _Collector(max_examples)
    originals = {name: tables[name].reset_index(drop=True) for name in HISTORY_TABLES}
    typed = {name: check_table(originals[name], RAW_CONTRACTS[name], collector) for name in HISTORY_TABLES}
    _check_links(typed, originals, collector)
    if collector.problems:
        raise DataContractError(collector.problems, sources)
    return typed


def validate_inventory_state(
    state: pd.DataFrame,
    lanes: pd.DataFrame,
    sales_end: pd.Timestamp,
    sources: Mapping[str, str] | None = None,
    max_examples: int = 5,
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

    Returns:
        The state with exactly the contract columns, typed.

    Raises:
        DataContractError: listing every problem found.
    """
    name = "raw_inventory_state"
    collector = _Collector(max_examples)
    original = state.reset_index(drop=True)
    typed = check_table(original, RAW_CONTRACTS[name], collector)
    if {"sku_id", "dc_id"} <= set(typed.columns):
        present = typed[["sku_id", "dc_id"]].notna().all(axis=1).to_numpy()
        unknown = present & ~_lane_index(typed).isin(_lane_index(lanes))
        collector.add(name, "sku_id, dc_id", "unknown SKU-DC pair (not in raw_sku_dc_master)", original, unknown)
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
