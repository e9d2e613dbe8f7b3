"""Size and shape of the generated demo data set (``conf/<env>/demo_data.yml``)."""

from __future__ import annotations

import datetime as dt

from pydantic import Field

from orpr_kedro.core.params.base import StrictModel


class DemoDataConfig(StrictModel):
    """Size and shape of the generated demo data set (``conf/<env>/demo_data.yml``)."""

    enabled: bool = Field(
        False, description="true only in demo environments; an environment opts in in its own demo_data.yml"
    )
    start_date: dt.date = dt.date(2024, 1, 1)
    n_days: int = Field(731, ge=120)
    n_skus: int = Field(150, ge=2)
    n_dcs: int = Field(3, ge=1, le=50)
    n_categories: int = Field(8, ge=1)
    mean_dcs_per_sku: float = Field(2.0, ge=1)
    intermittent_share: float = Field(0.35, ge=0, le=1)
    launch_share: float = Field(0.03, ge=0, le=0.5, description="share of lanes launched mid-history")
    promotions_per_sku_year: float = Field(2.0, ge=0)
    price_changes_per_sku_year: float = Field(0.8, ge=0)
    sku_block_size: int | None = Field(
        None,
        ge=1,
        description=(
            "null: every table in one pass over all SKUs (memory grows with the lanes); "
            "a number: SKUs generated in blocks of this many, each block from its own random stream, "
            "and raw_sales written as a folder of Parquet files, one per block"
        ),
    )
