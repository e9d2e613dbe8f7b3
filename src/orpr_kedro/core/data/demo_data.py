"""Seeded, vectorised generator of e-commerce replenishment data.

Writes exactly the raw data contract (:mod:`orpr_kedro.core.data.contract`): daily
sales per SKU-DC, the SKU and SKU-DC masters, the promotion calendar, the
category targets and an inventory snapshot on the last sales day. Daily demand of a lane (SKU-DC pair) is negative-binomial
around a mean that multiplies

* a base level drawn from a heavy-tailed distribution (a long tail of slow,
  intermittent SKUs and a few fast movers),
* a per-SKU trend,
* weekly seasonality (per category) and yearly seasonality,
* the platform festivals of Chinese e-commerce (618 in June, Double 11 in
  November), which appear in the promotion calendar as category events,
* the price response to permanent list-price changes (constant elasticity),
* SKU promotions (a discount plus a promotion lift) followed by a post-promotion
  dip while customers' pantries empty.

Sales equal demand: the history is not censored by stock-outs. A few lanes are
launched mid-history and report sales only from their launch day on.

The inventory snapshot (closing stock and open orders of every lane on the last
sales day) is drawn last, from the same generator, so it leaves every other table
exactly as it was before the snapshot existed.

Nothing here loops over SKU-days: every component is an array over
``[lane, day]`` built by broadcasting or by difference arrays. Those arrays take
about 200 bytes per lane-day: one pass peaks at 1.8 GB on staging's 10,000 lanes
over two years and would need well over 10 GB at 100,000. With ``sku_block_size``
set, the SKUs are generated in blocks, each from its own random stream (a child
of ``SeedSequence(seed)``), so memory follows the block size, and
:func:`stream_demo_data` hands the sales over block by block. The categories
(profiles, weekly shapes, festivals) and the lane set (which SKU is stocked in
which DC) are drawn once for all blocks; the lane set does not depend on the
block size. With ``sku_block_size`` null (every shipped environment but
``scale``) everything is drawn in one pass from one stream, as always.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace

import numpy as np
import pandas as pd

from orpr_kedro.core.params import DemoDataConfig

# name, unit cost level (currency), unit volume (litres), weekly swing, yearly swing,
# yearly peak day-of-year, target turnover (days), alpha
_CATEGORY_PROFILES = [
    ("snacks", 6.0, 0.4, 0.18, 0.15, 30, 25.0, 0.98),
    ("beverages", 4.0, 1.2, 0.12, 0.30, 200, 20.0, 0.98),
    ("dairy", 5.0, 1.0, 0.10, 0.08, 15, 12.0, 0.99),
    ("personal_care", 15.0, 0.3, 0.08, 0.05, 330, 35.0, 0.97),
    ("household", 12.0, 1.5, 0.10, 0.06, 90, 35.0, 0.97),
    ("baby", 25.0, 0.8, 0.06, 0.04, 300, 30.0, 0.985),
    ("pet", 18.0, 2.0, 0.08, 0.05, 270, 30.0, 0.975),
    ("small_appliances", 80.0, 6.0, 0.15, 0.20, 320, 45.0, 0.96),
]

# Platform festivals: (month, first day, peak day, peak uplift)
_FESTIVALS = [(6, 1, 18, 1.6), (11, 1, 11, 2.2)]


@dataclass(frozen=True)
class DemoData:
    """The six raw tables of the data contract."""

    sales: pd.DataFrame
    sku_master: pd.DataFrame
    sku_dc_master: pd.DataFrame
    promotions: pd.DataFrame
    category_targets: pd.DataFrame
    inventory_state: pd.DataFrame

    def as_catalog_entries(self) -> dict[str, pd.DataFrame]:
        """Tables keyed by their raw catalog dataset names."""
        return {
            "raw_sales": self.sales,
            "raw_sku_master": self.sku_master,
            "raw_sku_dc_master": self.sku_dc_master,
            "raw_promotions": self.promotions,
            "raw_category_targets": self.category_targets,
            "raw_inventory_state": self.inventory_state,
        }


def _category_table(n_categories: int, rng: np.random.Generator) -> pd.DataFrame:
    rows = []
    for index in range(n_categories):
        if index < len(_CATEGORY_PROFILES):
            rows.append(_CATEGORY_PROFILES[index])
        else:
            base = _CATEGORY_PROFILES[index % len(_CATEGORY_PROFILES)]
            rows.append((f"category_{index + 1:02d}", *base[1:5], int(rng.integers(1, 365)), *base[6:]))
    return pd.DataFrame(
        rows,
        columns=[
            "category",
            "cost_level",
            "volume_level",
            "weekly_swing",
            "yearly_swing",
            "yearly_peak_doy",
            "target_turnover_days",
            "alpha",
        ],
    )


def _category_index(n_skus: int, weights: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """The category of each SKU, sorted (SKUs are numbered category by category)."""
    category_index = np.sort(rng.choice(len(weights), size=n_skus, p=weights))
    # every category gets at least one SKU when there are enough SKUs
    if n_skus >= len(weights):
        category_index[: len(weights)] = np.arange(len(weights))
        category_index = np.sort(category_index)
    return category_index


def _skus(categories: pd.DataFrame, category_index: np.ndarray, first: int, rng: np.random.Generator) -> pd.DataFrame:
    """SKUs number ``first + 1`` on, one per entry of ``category_index``."""
    n = len(category_index)
    profile = categories.iloc[category_index].reset_index(drop=True)
    unit_cost = np.round(profile["cost_level"].to_numpy() * rng.lognormal(0.0, 0.55, n), 2).clip(0.2)
    unit_price = np.round(unit_cost * rng.uniform(1.15, 1.65, n), 2)
    unit_volume = np.round(profile["volume_level"].to_numpy() * rng.lognormal(0.0, 0.5, n), 3).clip(0.01)
    case_pack = np.where(
        unit_volume < 0.5,
        rng.choice([12, 24], n),
        np.where(unit_volume < 2.0, rng.choice([4, 6, 12], n), rng.choice([1, 2], n)),
    )
    moq = case_pack * rng.choice([1, 1, 2, 4], n)
    return pd.DataFrame(
        {
            "sku_id": [f"SKU{first + i + 1:05d}" for i in range(n)],
            "category": profile["category"].to_numpy(),
            "unit_cost": unit_cost,
            "unit_price": unit_price,
            "case_pack": case_pack.astype("int64"),
            "moq": moq.astype("int64"),
            "unit_volume": unit_volume,
            "_category_index": category_index,
        }
    )


def _dc_weight(n_dcs: int) -> np.ndarray:
    return np.linspace(1.4, 0.6, n_dcs) if n_dcs > 1 else np.ones(1)


def _stocked(config: DemoDataConfig, n_skus: int, rng: np.random.Generator) -> np.ndarray:
    """[SKU, DC] true where the SKU is stocked: the lanes."""
    dcs_per_sku = np.clip(rng.poisson(config.mean_dcs_per_sku - 1, n_skus) + 1, 1, config.n_dcs)
    # each SKU is stocked in its dcs_per_sku most likely DCs, order drawn by DC weight
    keys = rng.random((n_skus, config.n_dcs)) ** (1.0 / _dc_weight(config.n_dcs))
    rank = np.argsort(-keys, axis=1).argsort(axis=1)
    return rank < dcs_per_sku[:, None]


def _lanes(config: DemoDataConfig, skus: pd.DataFrame, stocked: np.ndarray, rng: np.random.Generator) -> pd.DataFrame:
    n_skus, n_dcs = len(skus), config.n_dcs
    dc_weight = _dc_weight(n_dcs)
    sku_index, dc_index = np.nonzero(stocked)
    n_lanes = len(sku_index)
    vendor_lead = rng.choice([2.0, 3.0, 4.0, 5.0, 7.0, 10.0, 14.0], n_skus, p=[0.1, 0.2, 0.2, 0.2, 0.15, 0.1, 0.05])
    lead_time_mean = np.round(vendor_lead[sku_index] * rng.uniform(0.85, 1.2, n_lanes), 1)
    lead_time_std = np.round(lead_time_mean * rng.uniform(0.1, 0.4, n_lanes), 2)
    review_period = rng.choice([1, 2, 3, 7], n_lanes, p=[0.25, 0.25, 0.2, 0.3])
    return pd.DataFrame(
        {
            "sku_index": sku_index,
            "dc_index": dc_index,
            "sku_id": skus["sku_id"].to_numpy()[sku_index],
            "dc_id": np.array([f"DC{j + 1:02d}" for j in range(n_dcs)])[dc_index],
            "lead_time_mean": lead_time_mean,
            "lead_time_std": lead_time_std,
            "review_period": review_period.astype("int64"),
            "_dc_weight": dc_weight[dc_index],
        }
    )


def _interval_mask(starts: np.ndarray, ends: np.ndarray, rows: np.ndarray, n_rows: int, n_days: int) -> np.ndarray:
    """Count of intervals [start, end] (day indices, inclusive) covering each [row, day]."""
    diff = np.zeros((n_rows, n_days + 1), dtype=np.int32)
    starts = np.clip(starts, 0, n_days)
    ends = np.clip(ends + 1, 0, n_days)
    np.add.at(diff, (rows, starts), 1)
    np.add.at(diff, (rows, ends), -1)
    return np.cumsum(diff[:, :n_days], axis=1)


def _inventory_state(
    lanes: pd.DataFrame, case_pack: np.ndarray, mean_daily: np.ndarray, as_of: pd.Timestamp, rng: np.random.Generator
) -> pd.DataFrame:
    """Closing stock and open orders of every lane on ``as_of``, in line with its recent demand.

    On hand: between a fifth of and about one and a half times the demand over lead
    time + review period + 5 days, zero for about one lane in twenty (a stock-out).
    On order: for about three lanes in five, one open order of the demand over a
    review period plus part of the lead time, in whole cases.
    """
    n = len(lanes)
    cycle = lanes["lead_time_mean"].to_numpy() + lanes["review_period"].to_numpy() + 5.0
    on_hand = np.round(mean_daily * cycle * rng.uniform(0.2, 1.5, n))
    on_hand[rng.random(n) < 0.05] = 0.0
    open_order = rng.random(n) < 0.6
    ordered = mean_daily * (
        lanes["review_period"].to_numpy() + lanes["lead_time_mean"].to_numpy() * rng.uniform(0.0, 1.0, n)
    )
    on_order = np.where(open_order, np.ceil(ordered / case_pack) * case_pack, 0.0)
    return pd.DataFrame(
        {
            "sku_id": lanes["sku_id"].to_numpy(),
            "dc_id": lanes["dc_id"].to_numpy(),
            "as_of_date": as_of,
            "on_hand": on_hand.astype("int64"),
            "on_order": on_order.astype("int64"),
        }
    )


def _dc_or_none(dc_index: np.ndarray, n_dcs: int) -> np.ndarray:
    """DC names for indices >= 0, None (every DC) for -1."""
    names = np.array([f"DC{j + 1:02d}" for j in range(n_dcs)], dtype=object)[np.maximum(dc_index, 0)]
    names[dc_index < 0] = None
    return names


@dataclass(frozen=True)
class _Block:
    """The tables of one set of SKUs, before the promotions are numbered and the snapshot drawn."""

    sales: pd.DataFrame
    sku_master: pd.DataFrame
    sku_dc_master: pd.DataFrame
    sku_events: pd.DataFrame
    festival_events: pd.DataFrame
    lanes: pd.DataFrame
    case_pack_of_lane: np.ndarray
    mean_daily: np.ndarray
    last_day: pd.Timestamp


def _block(  # noqa: PLR0915 - one random stream, drawn in a fixed order
    config: DemoDataConfig,
    categories: pd.DataFrame,
    skus: pd.DataFrame,
    lanes: pd.DataFrame,
    rng: np.random.Generator,
    category_rng: np.random.Generator,
) -> _Block:
    """Sales, masters and promotion events of ``skus`` and their ``lanes``.

    ``category_rng`` draws what belongs to the categories (weekly shapes, festival
    uplifts), ``rng`` everything of the SKUs and lanes; the one-pass generator
    passes the same generator as both.
    """
    n_days, n_skus, n_lanes = config.n_days, len(skus), len(lanes)
    dates = pd.date_range(pd.Timestamp(config.start_date), periods=n_days, freq="D")
    day = np.arange(n_days)
    doy = dates.dayofyear.to_numpy()
    dow = dates.dayofweek.to_numpy()
    sku_of_lane = lanes["sku_index"].to_numpy()
    category_of_sku = skus["_category_index"].to_numpy()
    category_of_lane = category_of_sku[sku_of_lane]

    # --- base level: heavy tail, an intermittent share well below one unit a day
    intermittent = rng.random(n_skus) < config.intermittent_share
    sku_level = np.where(
        intermittent, rng.lognormal(np.log(0.25), 0.7, n_skus), rng.lognormal(np.log(6.0), 1.1, n_skus)
    )
    level = sku_level[sku_of_lane] * lanes["_dc_weight"].to_numpy() * rng.lognormal(0.0, 0.25, n_lanes)

    # --- trend (per SKU), weekly (per category) and yearly seasonality
    growth = rng.normal(0.0, 0.25, n_skus)[sku_of_lane]
    trend = np.exp(growth[:, None] * day[None, :] / 365.0)
    weekly_shape = category_rng.normal(0.0, 1.0, (len(categories), 7))
    weekly_shape[:, 5:] += 0.8  # weekend orders in e-commerce
    weekly = np.exp(categories["weekly_swing"].to_numpy()[:, None] * weekly_shape)
    weekly /= weekly.mean(axis=1, keepdims=True)
    yearly = 1.0 + categories["yearly_swing"].to_numpy()[:, None] * np.cos(
        2 * np.pi * (doy[None, :] - categories["yearly_peak_doy"].to_numpy()[:, None]) / 365.25
    )
    seasonal = weekly[category_of_lane][:, dow] * yearly[category_of_lane]

    # --- list price with permanent changes and constant-elasticity response (per SKU)
    elasticity = rng.uniform(-2.5, -0.8, n_skus)
    n_changes = rng.poisson(config.price_changes_per_sku_year * n_days / 365.0, n_skus)
    change_sku = np.repeat(np.arange(n_skus), n_changes)
    change_day = rng.integers(1, n_days, len(change_sku))
    log_step = np.log(rng.uniform(0.88, 1.1, len(change_sku)))
    log_price_diff = np.zeros((n_skus, n_days + 1))
    np.add.at(log_price_diff, (change_sku, change_day), log_step)
    list_price = skus["unit_price"].to_numpy()[:, None] * np.exp(np.cumsum(log_price_diff[:, :n_days], axis=1))

    # --- SKU promotions: discount + lift, then a post-promotion dip
    n_promos = rng.poisson(config.promotions_per_sku_year * n_days / 365.0, n_skus)
    promo_sku = np.repeat(np.arange(n_skus), n_promos)
    n_sku_promos = len(promo_sku)
    promo_len = rng.integers(3, 11, n_sku_promos)
    promo_start = rng.integers(0, max(n_days - 3, 1), n_sku_promos)
    promo_end = np.minimum(promo_start + promo_len - 1, n_days - 1)
    discount = rng.uniform(0.1, 0.35, n_sku_promos)
    lift = rng.uniform(1.2, 1.8, n_sku_promos)
    # promotions in one DC only for a third of the events
    single_dc = rng.random(n_sku_promos) < 1 / 3
    promo_dc = np.where(single_dc, rng.integers(0, config.n_dcs, n_sku_promos), -1)
    true_uplift = (1 - discount) ** elasticity[promo_sku] * lift
    # overlapping promotions of one SKU: the later one wins (a sorted, stable overwrite)
    order = np.argsort(promo_start, kind="stable")
    discount_by_sku = np.zeros((n_skus, n_days))
    uplift_by_sku = np.ones((n_skus, n_days))
    dip_by_sku = np.zeros((n_skus, n_days + 1))
    sku_promo_days = np.zeros((n_skus, n_days), dtype=bool)
    dc_of_promo_day = np.full((n_skus, n_days), -1, dtype=np.int16)
    for event in order:  # loop over events (hundreds), not over SKU-days
        sku, start, end = promo_sku[event], promo_start[event], promo_end[event] + 1
        discount_by_sku[sku, start:end] = discount[event]
        uplift_by_sku[sku, start:end] = true_uplift[event]
        sku_promo_days[sku, start:end] = True
        dc_of_promo_day[sku, start:end] = promo_dc[event]
        dip_stop = min(end + 7, n_days)
        dip_by_sku[sku, end:dip_stop] = np.maximum(
            dip_by_sku[sku, end:dip_stop], 0.3 * np.exp(-np.arange(dip_stop - end) / 3.0)
        )
    lane_dc = lanes["dc_index"].to_numpy()
    promo_applies = sku_promo_days[sku_of_lane] & (
        (dc_of_promo_day[sku_of_lane] < 0) | (dc_of_promo_day[sku_of_lane] == lane_dc[:, None])
    )
    promo_effect = np.where(promo_applies, uplift_by_sku[sku_of_lane], 1.0) * (
        1.0 - np.where(promo_applies, 0.0, dip_by_sku[sku_of_lane, :n_days])
    )
    price = list_price[sku_of_lane] * (1.0 - np.where(promo_applies, discount_by_sku[sku_of_lane], 0.0))

    # --- platform festivals as category events
    festival_rows = []
    festival_effect = np.ones((len(categories), n_days))
    for year in sorted(set(dates.year)):
        for month, first, peak, uplift in _FESTIVALS:
            start = pd.Timestamp(year, month, first)
            end = pd.Timestamp(year, month, peak)
            if end < dates[0] or start > dates[-1]:
                continue
            start_index = max(int((start - dates[0]).days), 0)
            end_index = min(int((end - dates[0]).days), n_days - 1)
            ramp = np.linspace(0.25, 1.0, end_index - start_index + 1) ** 2
            category_uplift = uplift * category_rng.uniform(0.6, 1.2, len(categories))
            festival_effect[:, start_index : end_index + 1] *= 1.0 + category_uplift[:, None] * ramp[None, :]
            for c, category in enumerate(categories["category"]):
                festival_rows.append(
                    {
                        "sku_id": None,
                        "category": category,
                        "dc_id": None,
                        "start_date": dates[start_index],
                        "end_date": dates[end_index],
                        "expected_uplift": float(
                            np.round(category_uplift[c] * ramp.mean() * category_rng.lognormal(0, 0.15), 2)
                        ),
                        "_category_index": c,
                    }
                )
    festival_days = festival_effect > 1.0

    # --- demand and sales
    mean = level[:, None] * trend * seasonal * promo_effect * festival_effect[category_of_lane]
    mean *= (list_price[sku_of_lane] / skus["unit_price"].to_numpy()[sku_of_lane, None]) ** elasticity[
        sku_of_lane, None
    ]
    dispersion = rng.uniform(1.0, 8.0, n_lanes)[:, None]
    demand = rng.poisson(rng.gamma(dispersion, mean / dispersion))
    promo_flag = promo_applies | festival_days[category_of_lane]

    launch = np.where(rng.random(n_lanes) < config.launch_share, rng.integers(n_days // 3, n_days - 90, n_lanes), 0)
    alive = day[None, :] >= launch[:, None]
    lane_rows, day_cols = np.nonzero(alive)
    sales = pd.DataFrame(
        {
            "sku_id": lanes["sku_id"].to_numpy()[lane_rows],
            "dc_id": lanes["dc_id"].to_numpy()[lane_rows],
            "date": dates[day_cols],
            "sales_units": demand[lane_rows, day_cols].astype("int64"),
            "price": np.round(price[lane_rows, day_cols], 2),
            "promo_flag": promo_flag[lane_rows, day_cols],
        }
    )

    # --- masters
    mean_daily = mean[:, -91:].mean(axis=1)
    initial_on_hand = np.round(
        mean_daily * (lanes["lead_time_mean"].to_numpy() + lanes["review_period"].to_numpy() + 5)
    ).astype("int64")
    sku_dc_master = lanes[["sku_id", "dc_id", "lead_time_mean", "lead_time_std", "review_period"]].assign(
        initial_on_hand=initial_on_hand
    )
    sku_events = pd.DataFrame(
        {
            "sku_id": skus["sku_id"].to_numpy()[promo_sku],
            "category": None,
            "dc_id": _dc_or_none(promo_dc, config.n_dcs),
            "start_date": dates[promo_start],
            "end_date": dates[promo_end],
            "expected_uplift": np.round((true_uplift - 1.0) * rng.lognormal(0.0, 0.2, n_sku_promos), 2),
        }
    )
    return _Block(
        sales=sales,
        sku_master=skus.drop(columns="_category_index"),
        sku_dc_master=sku_dc_master,
        sku_events=sku_events,
        festival_events=pd.DataFrame(festival_rows).drop(columns="_category_index", errors="ignore"),
        lanes=lanes,
        case_pack_of_lane=skus["case_pack"].to_numpy()[sku_of_lane],
        mean_daily=mean_daily,
        last_day=dates[-1],
    )


def _numbered(events: pd.DataFrame) -> pd.DataFrame:
    """Promotion events in date order, numbered P00001, ..."""
    promotions = events.sort_values(["start_date", "sku_id", "category"], na_position="last", kind="stable")
    promotions.insert(0, "promo_id", [f"P{i + 1:05d}" for i in range(len(promotions))])
    return promotions


def _with_cover(promotions: pd.DataFrame, base_cover: np.ndarray) -> pd.DataFrame:
    """The planners' expert coverage: more cover going into a bigger event."""
    promotions["expert_coverage_days"] = np.round(
        base_cover * (1.0 + 0.5 * promotions["expected_uplift"].clip(lower=0)), 1
    )
    for column in ("sku_id", "category", "dc_id"):
        promotions[column] = promotions[column].astype("string")
    return promotions.reset_index(drop=True)


def _base_cover(n_events: int, rng: np.random.Generator) -> np.ndarray:
    return 10.0 + 5.0 * rng.random(n_events)


def _one_pass(config: DemoDataConfig, seed: int) -> DemoData:
    """Every table from one random stream (``sku_block_size`` null)."""
    rng = np.random.default_rng(seed)
    categories = _category_table(config.n_categories, rng)
    weights = rng.dirichlet(np.full(len(categories), 4.0))
    skus = _skus(categories, _category_index(config.n_skus, weights, rng), 0, rng)
    lanes = _lanes(config, skus, _stocked(config, len(skus), rng), rng)
    block = _block(config, categories, skus, lanes, rng, rng)
    promotions = _numbered(pd.concat([block.sku_events, block.festival_events], ignore_index=True))
    promotions = _with_cover(promotions, _base_cover(len(promotions), rng))
    # drawn last: the other tables do not depend on it
    inventory_state = _inventory_state(block.lanes, block.case_pack_of_lane, block.mean_daily, block.last_day, rng)
    return DemoData(
        sales=block.sales,
        sku_master=block.sku_master,
        sku_dc_master=block.sku_dc_master.reset_index(drop=True),
        promotions=promotions,
        category_targets=categories[["category", "target_turnover_days", "alpha"]].copy(),
        inventory_state=inventory_state,
    )


def _in_blocks(
    config: DemoDataConfig, seed: int, block_size: int, write_sales: Callable[[pd.DataFrame], None]
) -> DemoData:
    """SKUs in blocks of ``block_size``, each from its own random stream; the sales go to ``write_sales``.

    Streams (children of ``SeedSequence(seed)``): 0 the category table, the
    category mix and the festivals' expert cover; 1 the SKUs' categories and the
    lanes, drawn for every SKU at once (a vector per SKU), so the lane set does not
    depend on the block size; 2 the weekly shapes and festival uplifts, replayed
    identically for every block; 3 + b everything else of block b.
    """
    n_blocks = -(-config.n_skus // block_size)
    streams = np.random.SeedSequence(seed).spawn(3 + n_blocks)
    category_rng = np.random.default_rng(streams[0])
    categories = _category_table(config.n_categories, category_rng)
    weights = category_rng.dirichlet(np.full(len(categories), 4.0))
    layout_rng = np.random.default_rng(streams[1])
    category_index = _category_index(config.n_skus, weights, layout_rng)
    stocked = _stocked(config, config.n_skus, layout_rng)
    sku_masters, lane_masters, events, inventory = [], [], [], []
    festival_events, no_sales = pd.DataFrame(), pd.DataFrame()
    for index, first in enumerate(range(0, config.n_skus, block_size)):
        rng = np.random.default_rng(streams[3 + index])
        stop = min(first + block_size, config.n_skus)
        skus = _skus(categories, category_index[first:stop], first, rng)
        lanes = _lanes(config, skus, stocked[first:stop], rng)
        block = _block(config, categories, skus, lanes, rng, np.random.default_rng(streams[2]))
        write_sales(block.sales)
        if index == 0:  # the same in every block
            festival_events, no_sales = block.festival_events, block.sales.iloc[:0]
        events.append(block.sku_events.assign(_base_cover=_base_cover(len(block.sku_events), rng)))
        inventory.append(_inventory_state(block.lanes, block.case_pack_of_lane, block.mean_daily, block.last_day, rng))
        sku_masters.append(block.sku_master)
        lane_masters.append(block.sku_dc_master)
        del block
    events.append(festival_events.assign(_base_cover=_base_cover(len(festival_events), category_rng)))
    promotions = _numbered(pd.concat(events, ignore_index=True))
    promotions = _with_cover(promotions.drop(columns="_base_cover"), promotions["_base_cover"].to_numpy())
    return DemoData(
        sales=no_sales,
        sku_master=pd.concat(sku_masters, ignore_index=True),
        sku_dc_master=pd.concat(lane_masters, ignore_index=True),
        promotions=promotions,
        category_targets=categories[["category", "target_turnover_days", "alpha"]].copy(),
        inventory_state=pd.concat(inventory, ignore_index=True),
    )


def stream_demo_data(config: DemoDataConfig, seed: int, write_sales: Callable[[pd.DataFrame], None]) -> DemoData:
    """Generate the demo raw tables, handing the sales to ``write_sales`` as they are made.

    With ``config.sku_block_size`` null, the sales are one table, written once, and
    every table is that of :func:`generate_demo_data`. With a block size, the SKUs
    are generated in blocks: ``write_sales`` receives the sales of each block in
    turn (every DC and day of its SKUs, SKUs in order), and only one block's
    ``[lane, day]`` arrays are held at a time.

    Returns:
        The five other tables in full; ``sales`` holds no rows (they went to ``write_sales``).
    """
    if config.sku_block_size is None:
        data = _one_pass(config, seed)
        write_sales(data.sales)
        return replace(data, sales=data.sales.iloc[:0])
    return _in_blocks(config, seed, config.sku_block_size, write_sales)


def generate_demo_data(config: DemoDataConfig, seed: int) -> DemoData:
    """Generate the demo raw tables.

    Args:
        config: sizes and shape of the data set.
        seed: random seed; the same seed and config give identical tables.

    Returns:
        The six raw tables, exactly in the contract's columns and types (the sales
        of every block concatenated when ``config.sku_block_size`` is set).
    """
    if config.sku_block_size is None:
        return _one_pass(config, seed)
    parts: list[pd.DataFrame] = []
    data = _in_blocks(config, seed, config.sku_block_size, parts.append)
    return replace(data, sales=pd.concat(parts, ignore_index=True))
