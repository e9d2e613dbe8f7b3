"""The training lanes: every lane, or a sample stratified by category (orpr_kedro.core.data.sample)."""

from __future__ import annotations

import numpy as np
import pandas as pd

from orpr_kedro.core.data.blocks import LaneBlocks, as_frame
from orpr_kedro.core.data.sample import sample_lanes, training_world


def _lanes() -> pd.DataFrame:
    # 6 snacks, 3 dairy, 1 pet
    return pd.DataFrame(
        {
            "lane_id": np.arange(10),
            "sku_id": [f"S{k}" for k in range(10)],
            "dc_id": "DC1",
            "category": ["snacks"] * 6 + ["dairy"] * 3 + ["pet"],
        }
    )


def test_no_limit_is_every_lane_unchanged():
    lanes = _lanes()
    sales = pd.DataFrame({"lane_id": [0, 9], "units": [1.0, 2.0]})
    chosen, tables = training_world(lanes, {"sales": sales}, None, seed=1, lanes_per_block=4)
    assert chosen is lanes and tables["sales"] is sales
    assert sample_lanes(lanes, 50, seed=1).tolist() == list(range(10))


def test_a_limit_keeps_each_category_share_and_is_reproducible():
    lanes = _lanes()
    chosen = sample_lanes(lanes, 5, seed=3)
    categories = lanes.set_index("lane_id").loc[chosen, "category"]
    # 5 x (0.6, 0.3, 0.1) = 3, 1.5, 0.5: floors 3, 1, 0 -> pet's minimum of one, dairy keeps 1
    assert categories.value_counts().to_dict() == {"snacks": 3, "dairy": 1, "pet": 1}
    assert chosen.tolist() == sorted(chosen.tolist())
    assert sample_lanes(lanes, 5, seed=3).tolist() == chosen.tolist()


def test_the_sample_is_renumbered_and_says_which_lane_it_is():
    lanes = _lanes()
    sales = pd.DataFrame({"lane_id": np.repeat(np.arange(10), 2), "units": np.arange(20.0)})
    blocks = LaneBlocks.from_frame(sales, lanes_per_block=4, n_blocks=3)
    chosen, tables = training_world(lanes, {"sales": blocks}, 5, seed=3, lanes_per_block=2)
    ids = sample_lanes(lanes, 5, seed=3)
    assert chosen["lane_id"].tolist() == [0, 1, 2, 3, 4]
    assert chosen["universe_lane_id"].tolist() == ids.tolist()
    assert chosen["sku_id"].tolist() == [f"S{k}" for k in ids]
    sampled = tables["sales"]
    assert sampled.lanes_per_block == 2 and sampled.n_blocks == 3
    frame = as_frame(sampled)
    # each sampled lane's two rows, under its new number
    assert frame["lane_id"].tolist() == [0, 0, 1, 1, 2, 2, 3, 3, 4, 4]
    assert frame["units"].tolist() == [float(v) for k in ids for v in (2 * k, 2 * k + 1)]


def test_a_sample_table_gets_the_universe_numbers_back():
    from orpr_kedro.core.data.sample import universe_lane_ids

    lanes = _lanes()
    labels = pd.DataFrame({"lane_id": [0, 1, 1], "sku_id": ["S7", "S2", "S2"], "dc_id": "DC1", "cover": [3, 4, 5]})
    restored = universe_lane_ids(labels, lanes)
    assert restored[["lane_id", "cover"]].to_dict("list") == {"lane_id": [7, 2, 2], "cover": [3, 4, 5]}
