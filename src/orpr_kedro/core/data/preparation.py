"""Primary tables: lanes with costs and targets, daily sales, promotion days.

A *lane* is one SKU-DC pair. Lanes are numbered ``lane_id`` 0..N-1 in
(sku_id, dc_id) order; every later table and array uses that index, so
``panel[lane_id, day]`` arrays line up with the lanes table.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from orpr_kedro.core.data.blocks import LaneBlocks, as_frame
from orpr_kedro.core.data.contract_tables import RAW_CONTRACTS
from orpr_kedro.core.params import CostParams

LANE_KEY = ("sku_id", "dc_id")


def lane_order(sku_dc_master: pd.DataFrame) -> np.ndarray:
    """Row positions of the SKU-DC master in lane order: lane ``i`` is row ``lane_order(master)[i]``.

    Lanes are the master's rows sorted by (sku_id, dc_id) (a stable sort, missing IDs
    last); every table keyed by ``lane_id`` uses this numbering.

    >>> import pandas as pd
    >>> lane_order(pd.DataFrame({"sku_id": ["S2", "S1", "S1"], "dc_id": ["D1", "D2", "D1"]})).tolist()
    [2, 1, 0]
    """
    keys = sku_dc_master[list(LANE_KEY)].reset_index(drop=True)
    return keys.sort_values(list(LANE_KEY), kind="stable").index.to_numpy(dtype="int64")


def build_lanes(
    sku_master: pd.DataFrame,
    sku_dc_master: pd.DataFrame,
    category_targets: pd.DataFrame,
    costs: CostParams,
) -> pd.DataFrame:
    """One row per lane with its attributes, business targets and unit costs.

    Costs (all in the currency of the raw data):

    * ``holding_cost``: per unit per day = unit_cost x holding rate (per-category
      override when given);
    * ``lost_sale_cost``: per unit lost = unit_price - unit_cost (``margin``,
      floored at 0) or ``lost_sale_cost_multiple`` x unit_cost;
    * ``order_cost``: per order placed.
    """
    lanes = sku_dc_master.merge(sku_master, on="sku_id", how="left", validate="many_to_one").merge(
        category_targets, on="category", how="left", validate="many_to_one"
    )
    lanes = lanes.iloc[lane_order(lanes)].reset_index(drop=True)
    unknown = sorted(set(costs.holding_rate_by_category) - set(category_targets["category"]))
    if unknown:
        raise ValueError(f"data_processing.costs.holding_rate_by_category names unknown categories {unknown}")
    rate = lanes["category"].map(costs.holding_rate_by_category).fillna(costs.holding_rate_per_day)
    lanes["holding_cost"] = lanes["unit_cost"] * rate
    if costs.lost_sale_penalty == "margin":
        lanes["lost_sale_cost"] = (lanes["unit_price"] - lanes["unit_cost"]).clip(lower=0.0)
    else:
        lanes["lost_sale_cost"] = lanes["unit_cost"] * costs.lost_sale_cost_multiple
    lanes["order_cost"] = float(costs.order_cost)
    lanes.insert(0, "lane_id", np.arange(len(lanes), dtype="int64"))
    lanes["category_code"] = pd.Categorical(
        lanes["category"], categories=sorted(category_targets["category"])
    ).codes.astype("int16")
    return lanes


def build_daily_sales(sales: pd.DataFrame | LaneBlocks, lanes: pd.DataFrame) -> pd.DataFrame:
    """Sales with ``lane_id``, sorted by lane and date."""
    keyed = as_frame(sales, RAW_CONTRACTS["raw_sales"].column_names).merge(
        lanes[["sku_id", "dc_id", "lane_id"]], on=["sku_id", "dc_id"], how="inner", validate="many_to_one"
    )
    columns = ["lane_id", "sku_id", "dc_id", "date", "sales_units", "price", "promo_flag"]
    return keyed[columns].sort_values(["lane_id", "date"], kind="stable").reset_index(drop=True)


def build_promotion_days(promotions: pd.DataFrame, lanes: pd.DataFrame) -> pd.DataFrame:
    """Expand the promotion calendar to one row per lane and promoted day.

    A SKU event applies to the SKU's lanes, a category event to every lane of the
    category; an empty ``dc_id`` means every DC. Where events overlap on a lane-day
    the larger expected uplift (and its expert coverage) is kept.
    """
    columns = ["lane_id", "date", "promo_id", "expected_uplift", "expert_coverage_days"]
    if promotions.empty:
        return pd.DataFrame(
            {
                column: pd.Series(dtype=dtype)
                for column, dtype in zip(
                    columns, ["int64", "datetime64[ns]", "string", "float64", "float64"], strict=True
                )
            }
        )
    lane_keys = lanes[["lane_id", "sku_id", "dc_id", "category"]]
    by_sku = promotions[promotions["sku_id"].notna()].merge(lane_keys, on="sku_id", suffixes=("", "_lane"))
    by_category = promotions[promotions["category"].notna()].merge(lane_keys, on="category", suffixes=("", "_lane"))
    matched = pd.concat([by_sku, by_category], ignore_index=True)
    matched = matched[matched["dc_id"].isna() | (matched["dc_id"] == matched["dc_id_lane"])]
    length = (matched["end_date"] - matched["start_date"]).dt.days.to_numpy() + 1
    rows = np.repeat(np.arange(len(matched)), length)
    offsets = np.arange(len(rows)) - np.repeat(np.cumsum(length) - length, length)
    days = pd.DataFrame(
        {
            "lane_id": matched["lane_id"].to_numpy()[rows],
            "date": matched["start_date"].to_numpy()[rows] + offsets.astype("timedelta64[D]"),
            "promo_id": matched["promo_id"].to_numpy()[rows],
            "expected_uplift": matched["expected_uplift"].to_numpy()[rows],
            "expert_coverage_days": matched["expert_coverage_days"].to_numpy()[rows],
        }
    )
    days = days.sort_values(["lane_id", "date", "expected_uplift"], ascending=[True, True, False], kind="stable")
    return days.drop_duplicates(["lane_id", "date"]).reset_index(drop=True)[columns]


def to_panel(
    table: pd.DataFrame, column: str, n_lanes: int, dates: pd.DatetimeIndex, fill: float = np.nan
) -> np.ndarray:
    """Scatter a long (lane_id, date, value) table into a dense ``[lane, day]`` array.

    Days before ``dates[0]`` or after ``dates[-1]`` are dropped; missing cells get ``fill``.
    """
    panel = np.full((n_lanes, len(dates)), fill, dtype="float64")
    day = ((table["date"].to_numpy() - dates[0].to_datetime64()) // np.timedelta64(1, "D")).astype("int64")
    inside = (day >= 0) & (day < len(dates))
    panel[table["lane_id"].to_numpy()[inside], day[inside]] = table[column].to_numpy(dtype="float64")[inside]
    return panel
