"""The raw data contract as data: per table its columns, their types and bounds, and the key.

:data:`RAW_CONTRACTS` holds the six raw tables, :data:`HISTORY_TABLES` the five that
``data_processing`` validates together. Dates are ISO 8601 unless a table's format is configured.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

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
