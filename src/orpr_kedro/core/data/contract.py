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

import difflib
import logging
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

logger = logging.getLogger(__name__)

ColumnKind = Literal["string", "int", "float", "date", "bool"]

# Dates are read in ISO 8601 (2025-01-31) unless a table's format is configured
# (data_processing.date_formats): 05/01/2025 is 5 January in one country and 1 May in
# another, so a guess can silently shift a promotion by months.
ISO_DATE = "ISO8601"


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
    may_be_empty: bool = False

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
        may_be_empty=True,
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
        """Human-readable paragraph naming file, column, rule and example rows.

        A problem of the whole column or table (a missing column, an empty table)
        has no rows and prints no example frame.
        """
        where = f"{self.dataset} ({source})" if source else self.dataset
        if not len(self.rows):
            return f"  - {where}: column '{self.column}': {self.rule}"
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
        self.warnings: list[str] = []

    def whole(self, dataset: str, column: str, rule: str) -> None:
        """A problem of a whole column or table (no rows to show)."""
        self.problems.append(Problem(dataset, column, rule, np.arange(0), pd.DataFrame()))

    def add(self, dataset: str, column: str, rule: str, frame: pd.DataFrame, mask: np.ndarray | pd.Series) -> None:
        mask = np.asarray(mask, dtype=bool)
        if not mask.any():
            return
        rows = np.flatnonzero(mask)
        self.problems.append(Problem(dataset, column, rule, rows, frame.iloc[rows[: self.max_examples]]))


_TRUE = {"true", "t", "yes", "y", "1", "1.0"}
_FALSE = {"false", "f", "no", "n", "0", "0.0"}


def _parse_dates(raw: pd.Series, date_format: str | None) -> pd.Series:
    """Dates in ``date_format`` (ISO 8601 when None); values in another format become NaT."""
    if pd.api.types.is_datetime64_any_dtype(raw):
        return raw  # typed by the file (Parquet) or by the catalog's load_args (parse_dates + date_format)
    try:
        return pd.to_datetime(raw, errors="coerce", format=date_format or ISO_DATE)
    except (TypeError, ValueError):  # mixed time zones
        return pd.to_datetime(raw, errors="coerce", format=date_format or ISO_DATE, utc=True)


def _date_rule(raw: pd.Series, bad: np.ndarray, table: str, date_format: str | None) -> str:
    example = raw[bad].iloc[0]
    if date_format:
        return f"value is not a date in the configured format '{date_format}' (e.g. {example!r})"
    return (
        f"value is not an ISO 8601 date YYYY-MM-DD (e.g. {example!r}); dates in another format are never guessed "
        f"(05/01/2025 can be 5 January or 1 May): name the format in data_processing.date_formats.{table}, "
        "e.g. '%d/%m/%Y' (day first) or '%m/%d/%Y' (month first)"
    )


def _coerce_column(raw: pd.Series, column: Column, date_format: str | None = None) -> tuple[pd.Series, np.ndarray]:
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
        dates = _parse_dates(raw, date_format)
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


def _missing_column_rule(column: str, found: list[str]) -> str:
    shown = ", ".join(found) if found else "none"
    rule = f"required column is missing (columns found: {shown})"
    closest = difflib.get_close_matches(column, found, n=1, cutoff=0.6) or [
        name for name in found if name.strip().lower() == column
    ]
    if closest:
        rule += f"; did you mean {closest[0]!r}? Rename it to {column!r}"
    return rule


def check_table(
    frame: pd.DataFrame, contract: TableContract, collector: _Collector, date_format: str | None = None
) -> pd.DataFrame:
    """Check columns, types, nulls, bounds and key of one table; return it typed.

    Problems go to ``collector``; the returned frame holds the contract columns
    (typed) in contract order, with extra columns dropped. Dates are parsed in
    ``date_format`` (a ``strftime`` pattern), ISO 8601 when it is None.
    """
    name = contract.name
    frame = frame.reset_index(drop=True)
    typed = pd.DataFrame(index=frame.index)
    if frame.empty and not contract.may_be_empty:
        collector.whole(
            name, "*", "the table has no rows (a file with only its header line?); it needs at least one row"
        )
    for column in contract.columns:
        if column.name not in frame.columns:
            collector.whole(name, column.name, _missing_column_rule(column.name, [str(c) for c in frame.columns]))
            continue
        values, unparseable = _coerce_column(frame[column.name], column, date_format)
        if column.kind == "date" and unparseable.any():
            rule = _date_rule(frame[column.name], unparseable, name, date_format)
        else:
            rule = f"value is not a valid {column.kind}"
        collector.add(name, column.name, rule, frame, unparseable)
        if column.kind == "float":
            infinite = np.isinf(values.to_numpy(dtype="float64", na_value=np.nan))
            collector.add(name, column.name, "value must be finite (got inf)", frame, infinite)
            values, unparseable = values.mask(infinite), unparseable | infinite
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


def _without_leading_zeros(value: str) -> str:
    return value.lstrip("0") or "0"


def _id_hint(unknown: Iterable[str], known: Iterable[str], column: str, where: str) -> str:
    """A hint when unknown IDs match known ones but for leading zeros ('1' versus '001')."""
    by_digits = {_without_leading_zeros(str(value)): str(value) for value in known}
    for value in unknown:
        match = by_digits.get(_without_leading_zeros(str(value)))
        if match is not None and match != str(value):
            return (
                f"; IDs differ only by leading zeros ({str(value)!r} here, {match!r} in {where}): a file read "
                f"them as numbers; read {column} as text in both (catalog load_args: dtype: {{{column}: str}}, "
                "or store it as a string column in Parquet)"
            )
    return ""


def _unknown_rule(rule: str, values: pd.Series, mask: np.ndarray, known: Iterable[str], where: str) -> str:
    if not mask.any():
        return rule
    return rule + _id_hint(values[mask].dropna().unique()[:1000], known, str(values.name), where)


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
        rule = _unknown_rule(
            "unknown SKU (not in raw_sku_master)", sales["sku_id"], unknown, known_skus, "raw_sku_master"
        )
        collector.add("raw_sales", "sku_id", rule, originals["raw_sales"], unknown)
        if has(sales, "dc_id") and has(lanes, "sku_id", "dc_id"):
            unknown_lane = ~unknown & ~_lane_index(sales).isin(_lane_index(lanes))
            collector.add(
                "raw_sales",
                "sku_id, dc_id",
                _unknown_rule(
                    "unknown SKU-DC pair (not in raw_sku_dc_master)",
                    sales["dc_id"],
                    unknown_lane,
                    lanes["dc_id"].dropna().unique(),
                    "raw_sku_dc_master",
                ),
                originals["raw_sales"],
                unknown_lane,
            )
    if known_skus is not None and has(lanes, "sku_id"):
        unknown = ~lanes["sku_id"].isin(known_skus).to_numpy()
        collector.add(
            "raw_sku_dc_master",
            "sku_id",
            _unknown_rule(
                "unknown SKU (not in raw_sku_master)", lanes["sku_id"], unknown, known_skus, "raw_sku_master"
            ),
            originals["raw_sku_dc_master"],
            unknown,
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
            unknown = (promotions["sku_id"].notna() & ~promotions["sku_id"].isin(known_skus)).to_numpy()
            collector.add(
                "raw_promotions",
                "sku_id",
                _unknown_rule(
                    "unknown SKU (not in raw_sku_master)", promotions["sku_id"], unknown, known_skus, "raw_sku_master"
                ),
                originals["raw_promotions"],
                unknown,
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
        if has(lanes, "sku_id", "dc_id"):
            _warn_lanes_without_sales(lanes, sales, collector)


def _warn_lanes_without_sales(lanes: pd.DataFrame, sales: pd.DataFrame, collector: _Collector) -> None:
    """Lanes in the master without a sales row: kept (no history, zero demand), but said out loud."""
    silent = ~_lane_index(lanes).isin(_lane_index(sales))
    if silent.any():
        shown = ", ".join(f"({sku}, {dc})" for sku, dc in lanes.loc[silent, ["sku_id", "dc_id"]].head(5).to_numpy())
        more = ", ..." if silent.sum() > 5 else ""
        collector.warnings.append(
            f"raw_sku_dc_master: {int(silent.sum())} SKU-DC pair(s) have master data but no row in raw_sales "
            f"({shown}{more}); they stay in the lanes without history (no demand to forecast, a cold start for "
            "recommend). Remove them from raw_sku_dc_master if they are no longer stocked."
        )


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
            f"missing days: {_missing_days(valid, gappy[: collector.max_examples], end)}; "
            "showing each pair's first row",
            original,
            mask,
        )


def _missing_days(sales: pd.DataFrame, lanes: pd.Index, end: pd.Timestamp, shown: int = 5) -> str:
    """'(S1, D1): 2025-03-04, 2025-03-05; (S2, D1): ...' for a few gappy lanes."""
    parts = []
    dates = sales.set_index(["sku_id", "dc_id"])["date"]
    for sku_id, dc_id in lanes:
        present = pd.DatetimeIndex(dates.loc[[(sku_id, dc_id)]].unique())
        absent = pd.date_range(present.min(), end, freq="D").difference(present)
        listed = ", ".join(str(day.date()) for day in absent[:shown])
        more = f" and {len(absent) - shown} more" if len(absent) > shown else ""
        parts.append(f"({sku_id}, {dc_id}): {listed}{more}")
    return "; ".join(parts)


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
