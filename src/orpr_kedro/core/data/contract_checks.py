"""The checking engine of the raw data contract: column coercion, per-table rules, links, date gaps.

Each check adds its problems to a collector and never raises itself, so one run reports
every broken rule; the messages name the column, the rule and a hint at the likely fix.
"""

from __future__ import annotations

import difflib
from collections.abc import Iterable

import numpy as np
import pandas as pd

from orpr_kedro.core.data.contract_problems import Problem, _Collector
from orpr_kedro.core.data.contract_tables import ISO_DATE, Column, TableContract

EMPTY_TABLE_RULE = "the table has no rows (a file with only its header line?); it needs at least one row"
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
        collector.whole(name, "*", EMPTY_TABLE_RULE)
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


def _has(frame: pd.DataFrame | None, *columns: str) -> bool:
    return frame is not None and all(column in frame.columns for column in columns)


def _check_sales_links(
    sales: pd.DataFrame,
    original: pd.DataFrame,
    known_skus: set[str] | frozenset[str] | None,
    lanes: pd.MultiIndex | None,
    known_dcs: Iterable[str],
    collector: _Collector,
    *,
    all_lanes_known: bool = False,
) -> None:
    """Sales rows of SKUs not in the SKU master, and of SKU-DC pairs not in the lanes.

    ``known_skus`` is None without a usable SKU master, ``lanes`` (the master's
    ``(sku_id, dc_id)`` pairs) None without a usable SKU-DC master. ``all_lanes_known``:
    every row is of a lane (a lane block), so the pair check finds nothing without looking.
    """
    if known_skus is None or not _has(sales, "sku_id"):
        return
    unknown = ~sales["sku_id"].isin(known_skus).to_numpy()
    rule = _unknown_rule("unknown SKU (not in raw_sku_master)", sales["sku_id"], unknown, known_skus, "raw_sku_master")
    collector.add("raw_sales", "sku_id", rule, original, unknown)
    if _has(sales, "dc_id") and lanes is not None:
        if all_lanes_known:
            unknown_lane = np.zeros(len(sales), dtype=bool)
        else:
            unknown_lane = ~unknown & ~_lane_index(sales).isin(lanes)
        collector.add(
            "raw_sales",
            "sku_id, dc_id",
            _unknown_rule(
                "unknown SKU-DC pair (not in raw_sku_dc_master)",
                sales["dc_id"],
                unknown_lane,
                known_dcs,
                "raw_sku_dc_master",
            ),
            original,
            unknown_lane,
        )


def _check_master_links(
    tables: dict[str, pd.DataFrame], originals: dict[str, pd.DataFrame], collector: _Collector
) -> None:
    """Rules that involve more than one of the master tables (the SKU, SKU-DC, promotion and target tables)."""
    skus, lanes = tables["raw_sku_master"], tables["raw_sku_dc_master"]
    promotions, targets = tables["raw_promotions"], tables["raw_category_targets"]
    has = _has
    known_skus = set(skus["sku_id"].dropna()) if has(skus, "sku_id") else None
    known_categories = set(targets["category"].dropna()) if has(targets, "category") else None
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


def lanes_without_sales_warning(lanes: pd.DataFrame, silent: np.ndarray) -> str | None:
    """The warning for lanes in the master without a sales row (``silent``: a mask over the master's rows).

    They are kept (no history, zero demand), but said out loud.
    """
    silent = np.asarray(silent, dtype=bool)
    if not silent.any():
        return None
    shown = ", ".join(f"({sku}, {dc})" for sku, dc in lanes.loc[silent, ["sku_id", "dc_id"]].head(5).to_numpy())
    more = ", ..." if silent.sum() > 5 else ""
    return (
        f"raw_sku_dc_master: {int(silent.sum())} SKU-DC pair(s) have master data but no row in raw_sales "
        f"({shown}{more}); they stay in the lanes without history (no demand to forecast, a cold start for "
        "recommend). Remove them from raw_sku_dc_master if they are no longer stocked."
    )


GAP_COLUMNS = ("sku_id", "dc_id", "row", "missing", "listed")


def no_date_gaps() -> pd.DataFrame:
    """The :func:`date_gap_lanes` of a part without gaps."""
    return pd.DataFrame({column: pd.Series(dtype="object") for column in GAP_COLUMNS})


def date_gap_lanes(sales: pd.DataFrame, rows: np.ndarray, end: pd.Timestamp, shown: int) -> pd.DataFrame:
    """The lanes of ``sales`` (typed) that miss days between their first date and the data end ``end``.

    Every lane must report every day from its first date to the last date of the data.
    ``rows`` maps the rows of ``sales`` to positions in the whole table. One row per such
    lane, ordered by its first row: ``sku_id``, ``dc_id``, ``row`` (its first row),
    ``missing`` (days) and ``listed`` (the missing days as text; for the first
    ``shown`` lanes only).
    """
    valid = sales.dropna(subset=["sku_id", "dc_id", "date"])
    empty = no_date_gaps()
    if valid.empty:
        return empty
    span = valid.groupby(["sku_id", "dc_id"], sort=False)["date"].agg(["min", "max", "nunique"])
    expected_days = (end - span["min"]).dt.days + 1
    gappy = span.index[(span["nunique"] < expected_days).to_numpy()]
    if not len(gappy):
        return empty
    # the first row of each lane with missing days, so the message points at it
    first_rows = valid.assign(_row=valid.index).groupby(["sku_id", "dc_id"], sort=False)["_row"].min()
    listed = _missing_days(valid, gappy[:shown], end) + [""] * max(0, len(gappy) - shown)
    return pd.DataFrame(
        {
            "sku_id": gappy.get_level_values(0).to_numpy(dtype=object),
            "dc_id": gappy.get_level_values(1).to_numpy(dtype=object),
            "row": rows[first_rows.loc[gappy].to_numpy(dtype="int64")],
            "missing": (expected_days - span["nunique"]).loc[gappy].to_numpy(dtype="int64"),
            "listed": listed,
        }
    )


def date_gap_problem(gaps: pd.DataFrame, examples: pd.DataFrame, end: pd.Timestamp, max_examples: int) -> Problem:
    """The date-gap problem of the gappy lanes of :func:`date_gap_lanes` (of one or several parts).

    ``examples``: the raw rows at (at least the first ``max_examples`` of) the lanes'
    first rows, indexed by row.
    """
    gaps = gaps.sort_values("row", kind="stable")
    rows = gaps["row"].to_numpy(dtype="int64")
    rule = (
        f"date gaps: {len(gaps)} SKU-DC pair(s) miss {int(gaps['missing'].sum())} day(s) between their "
        f"first date and the data end {end.date()} (report zero-sales days as rows with sales_units 0); "
        f"missing days: {'; '.join(gaps['listed'].iloc[:max_examples])}; "
        "showing each pair's first row"
    )
    return Problem("raw_sales", "date", rule, rows, examples.sort_index(kind="stable").loc[rows[:max_examples]])


def _missing_days(sales: pd.DataFrame, lanes: pd.Index, end: pd.Timestamp, shown: int = 5) -> list[str]:
    """'(S1, D1): 2025-03-04, 2025-03-05' for each of a few gappy lanes."""
    parts = []
    dates = sales.set_index(["sku_id", "dc_id"])["date"]
    for sku_id, dc_id in lanes:
        present = pd.DatetimeIndex(dates.loc[[(sku_id, dc_id)]].unique())
        absent = pd.date_range(present.min(), end, freq="D").difference(present)
        listed = ", ".join(str(day.date()) for day in absent[:shown])
        more = f" and {len(absent) - shown} more" if len(absent) > shown else ""
        parts.append(f"({sku_id}, {dc_id}): {listed}{more}")
    return parts
