"""The demo generator in blocks of SKUs (``sku_block_size``), and its one pass left as it was."""

import hashlib

import pandas as pd
import pytest
import yaml

from orpr_kedro.core.data.contract import RAW_CONTRACTS, validate_inventory_state, validate_raw_tables
from orpr_kedro.core.data.demo_data import generate_demo_data, stream_demo_data
from orpr_kedro.core.params import DemoDataConfig
from tests.conftest import PROJECT_ROOT, TINY

SEED = 20251219  # conf/base/parameters.yml


def _digest(table: pd.DataFrame) -> str:
    """A hash of a table's values, index and column types."""
    digest = hashlib.sha256(pd.util.hash_pandas_object(table, index=True).to_numpy().tobytes())
    digest.update(repr([(column, str(dtype)) for column, dtype in table.dtypes.items()]).encode())
    return digest.hexdigest()[:16]


def _environment_config(env: str) -> DemoDataConfig:
    values = yaml.safe_load((PROJECT_ROOT / "conf/base/demo_data.yml").read_text())
    if env != "base":
        values.update(yaml.safe_load((PROJECT_ROOT / f"conf/{env}/demo_data.yml").read_text()))
    return DemoDataConfig.model_validate(values)


# The tables of the generator before sku_block_size existed (one pass, one stream), hashed.
ONE_PASS_DIGESTS = {
    "test": {
        "raw_sales": "0854d9761269f417",
        "raw_sku_master": "16acf0d79052f483",
        "raw_sku_dc_master": "546ecb248ac7eb1d",
        "raw_promotions": "43838f43c3425f1f",
        "raw_category_targets": "5ca2ff697be30b6f",
        "raw_inventory_state": "2b2801948a69db4f",
    },
    "base": {
        "raw_sales": "3ceecbee369573d6",
        "raw_sku_master": "1ad442046633b839",
        "raw_sku_dc_master": "353c48a8079e97f8",
        "raw_promotions": "a15282d1c801d545",
        "raw_category_targets": "730fc8271a62ba36",
        "raw_inventory_state": "aac885c3817df4ac",
    },
}


@pytest.mark.parametrize("env", ["test", "base"])
def test_without_a_block_size_the_tables_are_those_of_before(env):
    config = _environment_config(env)
    assert config.sku_block_size is None
    data = generate_demo_data(config, seed=SEED)
    assert {name: _digest(table) for name, table in data.as_catalog_entries().items()} == ONE_PASS_DIGESTS[env]


def test_streaming_without_a_block_size_hands_over_the_one_pass_sales_once():
    parts: list[pd.DataFrame] = []
    rest = stream_demo_data(TINY, 7, parts.append)
    whole = generate_demo_data(TINY, seed=7)
    assert len(parts) == 1
    pd.testing.assert_frame_equal(parts[0], whole.sales)
    assert rest.sales.empty and list(rest.sales.columns) == list(whole.sales.columns)
    pd.testing.assert_frame_equal(rest.promotions, whole.promotions)
    pd.testing.assert_frame_equal(rest.inventory_state, whole.inventory_state)


BLOCKED = TINY.model_copy(update={"sku_block_size": 5})  # 16 SKUs: blocks of 5, 5, 5 and 1


def _parts(config: DemoDataConfig, seed: int) -> tuple[list[pd.DataFrame], dict[str, pd.DataFrame]]:
    parts: list[pd.DataFrame] = []
    rest = stream_demo_data(config, seed, parts.append)
    return parts, rest.as_catalog_entries()


def test_blocks_hold_complete_skus_in_order():
    parts, tables = _parts(BLOCKED, 7)
    assert [sorted(part["sku_id"].unique()) for part in parts] == [
        [f"SKU{i:05d}" for i in range(1, 6)],
        [f"SKU{i:05d}" for i in range(6, 11)],
        [f"SKU{i:05d}" for i in range(11, 16)],
        ["SKU00016"],
    ]
    lanes = tables["raw_sku_dc_master"]
    for part in parts:
        of_part = lanes[lanes["sku_id"].isin(part["sku_id"].unique())]
        # every DC of the part's SKUs, every day (no launches in TINY)
        assert part.groupby(["sku_id", "dc_id"]).ngroups == len(of_part)
        assert len(part) == len(of_part) * TINY.n_days
    assert [len(part) for part in parts] == [2100, 2100, 2700, 600]


def test_blocked_tables_follow_the_contract_with_the_one_pass_types():
    parts, tables = _parts(BLOCKED, 7)
    tables["raw_sales"] = pd.concat(parts, ignore_index=True)
    one_pass = generate_demo_data(TINY, seed=7).as_catalog_entries()
    for name, table in tables.items():
        assert list(table.columns) == RAW_CONTRACTS[name].column_names, name
        assert table.dtypes.to_dict() == one_pass[name].dtypes.to_dict(), name
    validated = validate_raw_tables(tables)
    validate_inventory_state(
        tables["raw_inventory_state"], validated["raw_sku_dc_master"], tables["raw_sales"]["date"].max()
    )
    assert tables["raw_promotions"]["promo_id"].tolist() == [f"P{i:05d}" for i in range(1, 23)]
    assert tables["raw_promotions"]["start_date"].is_monotonic_increasing


def test_blocked_generation_is_deterministic_and_concatenates_to_generate_demo_data():
    first, second = generate_demo_data(BLOCKED, seed=7), generate_demo_data(BLOCKED, seed=7)
    for name, table in first.as_catalog_entries().items():
        pd.testing.assert_frame_equal(table, second.as_catalog_entries()[name])
    parts, _ = _parts(BLOCKED, 7)
    pd.testing.assert_frame_equal(pd.concat(parts, ignore_index=True), first.sales)
    other = generate_demo_data(BLOCKED, seed=8)
    assert not other.sales["sales_units"].equals(first.sales["sales_units"])


# The lane set of TINY, seed 7, in blocks: the same for every block size.
TINY_LANES = {
    "SKU00001": "DC01,DC02",
    "SKU00002": "DC02",
    "SKU00003": "DC01,DC02",
    "SKU00004": "DC01",
    "SKU00005": "DC02",
    "SKU00006": "DC01,DC02",
    "SKU00007": "DC01",
    "SKU00008": "DC01,DC02",
    "SKU00009": "DC01",
    "SKU00010": "DC02",
    "SKU00011": "DC02",
    "SKU00012": "DC01,DC02",
    "SKU00013": "DC01,DC02",
    "SKU00014": "DC01,DC02",
    "SKU00015": "DC01,DC02",
    "SKU00016": "DC01,DC02",
}
TINY_CATEGORIES = ["snacks"] * 2 + ["beverages"] * 4 + ["dairy"] * 7 + ["personal_care"] * 3


@pytest.mark.parametrize("block_size", [1, 3, 5, 16, 100])
def test_the_block_size_keeps_the_lanes_and_the_categories(block_size):
    data = generate_demo_data(TINY.model_copy(update={"sku_block_size": block_size}), seed=7)
    assert data.sku_dc_master.groupby("sku_id")["dc_id"].agg(",".join).to_dict() == TINY_LANES
    assert data.sku_master["category"].tolist() == TINY_CATEGORIES
    assert data.inventory_state[["sku_id", "dc_id"]].equals(data.sku_dc_master[["sku_id", "dc_id"]])
    # category events: once per category and festival (June only in 300 days from January), whatever the blocks
    festivals = data.promotions[data.promotions["category"].notna()]
    assert festivals[["category", "expected_uplift", "expert_coverage_days"]].values.tolist() == [
        ["beverages", 0.69, 15.5],
        ["dairy", 0.5, 15.9],
        ["personal_care", 0.78, 19.8],
        ["snacks", 0.53, 13.0],
    ]
    assert (festivals["start_date"] == pd.Timestamp("2025-06-01")).all()
