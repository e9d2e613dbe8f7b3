"""Recommendations: order arithmetic, review date, features as in training, cold start, the state contract."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
import torch
from scipy import stats

from orpr_kedro.core.data.contract import DataContractError, validate_inventory_state
from orpr_kedro.core.forecasting.model import build_demand_panels
from orpr_kedro.core.learning.features import build_decision_features
from orpr_kedro.core.learning.inputs import DecisionInputs, Normalisation
from orpr_kedro.core.learning.policy import FoundationPolicy
from orpr_kedro.core.learning.pretraining import build_model, model_config
from orpr_kedro.core.order_list import (
    REASON_CODES,
    arrival_days,
    label_history,
    projected_on_hand,
    reason_codes,
    stockout_risk,
)
from orpr_kedro.core.params import ParameterError, PretrainingParams, RecommendParams, parse_currency
from orpr_kedro.core.recommend import (
    INCUMBENT_FALLBACK,
    ORDER_COLUMNS,
    RECOMMENDATION_COLUMNS,
    next_review_date,
    next_review_days,
    order_arithmetic,
    orders_only,
    recommend_orders,
    summarise_by_dc_category,
    summarise_recommendations,
)
from orpr_kedro.core.simulation.actions import ActionGrid
from orpr_kedro.core.simulation.kernel import round_order_quantity

GRID = np.arange(0.0, 31.0, 2.0)
NETWORK = PretrainingParams.model_validate(
    {
        "forecast_head": {"horizon_days": 7},
        "network": {"d_model": 16, "n_heads": 2, "n_layers": 1, "ff_dim": 32, "head_hidden": 32},
    }
)
SOURCES = {"raw_inventory_state": "data/01_raw/inventory_state.csv"}


# --------------------------------------------------------------------------- order arithmetic
def test_each_lane_orders_for_its_own_next_review():
    # anchor Monday 6 January 2025; snapshot Monday 27 January (closing stock): origin Tuesday 28th, 22 days on
    anchor, as_of = pd.Timestamp("2025-01-06"), pd.Timestamp("2025-01-27")
    days = next_review_days(as_of, np.array([1, 2, 3, 7]), anchor)
    np.testing.assert_array_equal(days, [0, 0, 2, 6])  # 22 % 2 = 0; 22 % 3 = 1 -> 2 more; next Monday in 6
    # before the anchor every lane waits for it
    np.testing.assert_array_equal(next_review_days(pd.Timestamp("2025-01-01"), np.array([1, 7]), anchor), [4, 4])


@pytest.mark.parametrize(
    ("level", "on_hand", "on_order", "to_review", "case_pack", "moq", "position", "raw", "order"),
    [
        (120.4, 60, 24, 0.0, 12, 24, 84.0, 36.4, 48),  # 36.4 -> 4 cases of 12
        (36.0, 0, 0, 0.0, 12, 0, 0.0, 36.0, 36),  # an exact multiple stays
        (50.0, 10, 0, 0.0, 6, 48, 10.0, 40.0, 48),  # 40 -> 42 (7 cases) < MOQ 48 -> 48
        (20.0, 0, 0, 0.0, 12, 30, 0.0, 20.0, 36),  # 24 < MOQ 30 -> MOQ in whole cases: 36
        (10.2, 0, 0, 0.0, 1, 0, 0.0, 10.2, 11),  # single units round up
        (30.0, 40, 0, 0.0, 6, 12, 40.0, -10.0, 0),  # position above the level: no order
        (30.0, 20, 10, 0.0, 6, 12, 30.0, 0.0, 0),  # position at the level: no order, MOQ does not apply
        (50.0, 20, 10, 12.5, 1, 0, 17.5, 32.5, 33),  # position projected over the days to the review
        (50.0, 20, 10, 35.0, 5, 0, 0.0, 50.0, 50),  # projected position floored at 0
    ],
)
def test_order_quantity_after_case_pack_and_moq(
    level, on_hand, on_order, to_review, case_pack, moq, position, raw, order
):
    result = order_arithmetic([level], [on_hand], [on_order], [to_review], [case_pack], [moq])
    assert result.inventory_position[0] == pytest.approx(position)
    assert result.raw_order_units[0] == pytest.approx(raw)
    assert result.order_units[0] == order


@pytest.mark.parametrize(
    ("as_of", "weekday", "review"),
    [
        ("2025-12-28", 0, "2025-12-29"),  # Sunday close, Monday decisions: the next day
        ("2025-12-29", 0, "2026-01-05"),  # Monday close: that morning's order is placed, next Monday
        ("2025-12-31", 0, "2026-01-05"),  # Wednesday close: the next Monday
        ("2025-12-30", 2, "2025-12-31"),  # Wednesday decisions
    ],
)
def test_review_date_is_the_first_decision_weekday_after_the_snapshot(as_of, weekday, review):
    assert next_review_date(pd.Timestamp(as_of), weekday) == pd.Timestamp(review)


# --------------------------------------------------------------------------- the order list
# Three lanes, 3 units a day, position 10 on the review date, an order of 24:
#   lane 0: arrives on day 4 (mean 4.4), next review on day 7: the order lands inside the window;
#   lane 1: arrives on day 4, next review on day 3: the window closes before the order lands;
#   lane 2: arrives on day 9, next review on day 7.
PATH = np.full((3, 14), 3.0)
POSITION, ORDER = np.array([10.0, 10.0, 10.0]), np.array([24, 24, 24])
ARRIVAL, REVIEW_PERIOD = np.array([4, 4, 9]), np.array([7, 3, 7])


def test_arrival_day_and_its_range():
    days = arrival_days([4.4, 2.0, 9.0, 0.2], [1.0, 0.0, 2.0, 0.5], level=0.9)  # z = 1.645
    assert days.expected.tolist() == [4, 2, 9, 1]  # rint(mean), at least one day as the simulator
    assert days.earliest.tolist() == [3, 2, 6, 1]  # rint(4.4 - 1.645) = 3, rint(9 - 3.29) = 6
    assert days.latest.tolist() == [6, 2, 12, 1]  # rint(6.045) = 6, rint(12.29) = 12


def test_projected_on_hand_at_arrival_and_next_review():
    at_arrival, at_next_review = projected_on_hand(POSITION, ORDER, PATH, ARRIVAL, REVIEW_PERIOD)
    # 10 - 4 x 3 < 0 before the order lands; then 0 + 24 - 3 x 3 = 15 on day 7 (lane 0);
    # lanes 1 and 2 review before the order lands: 10 - 9 = 1 and max(10 - 21, 0) = 0
    assert at_arrival.tolist() == [0.0, 0.0, 0.0]
    assert at_next_review.tolist() == [15.0, 1.0, 0.0]


def test_stockout_risk_until_the_next_review():
    risk = stockout_risk(POSITION, ORDER, PATH, [0.1, 0.1, 0.1], ARRIVAL, REVIEW_PERIOD)

    def at_most(stock, days):  # the summed daily NB(3, phi 0.1) matched on mean and variance
        mean, variance = 3.0 * days, 3.0 * days + 0.1 * 9.0 * days
        size = mean**2 / (variance - mean)
        return stats.nbinom.cdf(stock, size, size / (size + mean))

    # lane 0: no loss iff D[0,4) <= 10 and D[0,7) <= 34; lanes 1 and 2: D[0,r) <= 10
    expected = [1 - at_most(10, 4) * at_most(34, 7), 1 - at_most(10, 3), 1 - at_most(10, 7)]
    np.testing.assert_allclose(risk, expected, rtol=1e-12)
    np.testing.assert_allclose(risk, [0.629281, 0.307900, 0.986834], atol=5e-7)
    # no demand, no risk; a day's demand of 3 against no stock and no order in the window
    assert stockout_risk([0.0], [0], np.zeros((1, 7)), [0.1], [2], [7]).tolist() == [0.0]
    np.testing.assert_allclose(
        stockout_risk([0.0], [0], np.full((1, 7), 3.0), [0.1], [5], [1]), 1 - stats.nbinom.pmf(0, 10, 10 / 13)
    )


def test_reason_codes_in_order_of_precedence():
    codes = reason_codes(
        has_state=[False, True, True, True, True],
        cold_start=[False, True, False, False, False],
        coverage_days=[np.nan, 20.0, 0.0, 6.0, 6.0],
        order_units=[0, 12, 0, 0, 24],
    )
    assert codes.tolist() == ["no_state", "cold_start", "no_order_zero_cover", "no_order_enough_stock", "order"]
    assert set(codes) == set(REASON_CODES)


def test_label_history_counts_zero_labels_per_lane():
    labels = pd.DataFrame({"lane_id": [0, 0, 0, 1, 1], "coverage_days": [0.0, 0.0, 6.0, 8.0, 10.0]})
    history = label_history(labels, np.array([1, 0, 5]))
    assert history.dates.tolist() == [2, 3, 0] and history.zero_dates.tolist() == [0, 2, 0]
    np.testing.assert_array_equal(history.median_days, [9.0, 0.0, np.nan])


def test_currency_is_an_iso_code():
    assert parse_currency("EUR") == "EUR"
    with pytest.raises(ParameterError, match=r"parameter 'currency': expected a three-letter ISO 4217 code.*'eur'"):
        parse_currency("eur")


def _tiny_orders() -> pd.DataFrame:
    """Five lanes over two DCs; the columns the summaries do not read are 0."""
    columns = dict.fromkeys(ORDER_COLUMNS, 0)
    columns.update(
        sku_id=["A", "B", "C", "D", "E"],
        dc_id=["DC1", "DC1", "DC1", "DC2", "DC2"],
        category=["snacks", "snacks", "dairy", "dairy", "dairy"],
        reason_code=["order", "order", "no_order_zero_cover", "order", "no_state"],
        order_units=[12, 48, 0, 6, 0],
        order_value=[30.0, 96.0, 0.0, 96.0, 0.0],
        currency="EUR",
        stockout_risk=[0.1, 0.0, 0.5, 0.2, np.nan],
    )
    return pd.DataFrame(columns)


def test_orders_only_sorted_by_value():
    orders = orders_only(_tiny_orders())
    assert list(orders.columns) == list(ORDER_COLUMNS)
    assert orders[["sku_id", "order_value"]].values.tolist() == [["B", 96.0], ["D", 96.0], ["A", 30.0]]


def test_summary_per_dc_and_category():
    summary = summarise_by_dc_category(_tiny_orders()).set_index(["dc_id", "category"])
    assert summary.index.tolist() == [
        ("DC1", "dairy"),
        ("DC1", "snacks"),
        ("DC1", "all"),
        ("DC2", "dairy"),
        ("DC2", "all"),
        ("all", "all"),
    ]
    assert summary.loc[("DC1", "snacks"), ["lanes", "orders", "order_units", "order_value"]].tolist() == [
        2,
        2,
        60,
        126.0,
    ]
    assert summary.loc[("DC2", "all"), ["orders", "order", "no_state", "mean_stockout_risk"]].tolist() == [1, 1, 1, 0.2]
    total = summary.loc[("all", "all")]
    assert (total["lanes"], total["order_value"], total["currency"], total["max_stockout_risk"]) == (
        5,
        222.0,
        "EUR",
        0.5,
    )


# --------------------------------------------------------------------------- recommend_orders
def random_policy(features: pd.DataFrame) -> FoundationPolicy:
    """A freshly initialised network with the tiny windows (weights do not matter here)."""
    inputs = DecisionInputs.from_frame(features, on_hand=np.zeros(len(features)), on_order=np.zeros(len(features)))
    normalisation = Normalisation.fit(inputs, n_categories=int(features["category_code"].max()) + 1)
    torch.manual_seed(0)
    model = build_model(model_config(normalisation, GRID, NETWORK), NETWORK)
    return FoundationPolicy(model, normalisation, batch_size=7)


class RecordingPolicy:
    """Stands in for the policy: remembers its inputs, decides a fixed coverage."""

    coverage_grid = GRID
    action_grid = ActionGrid("coverage_days", GRID)

    def __init__(self, coverage: float) -> None:
        self.coverage = coverage
        self.inputs: DecisionInputs | None = None

    def decide_index(self, inputs: DecisionInputs) -> np.ndarray:
        self.inputs = inputs
        return np.full(len(inputs), int(np.flatnonzero(GRID == self.coverage)[0]))


@pytest.fixture(scope="module")
def setting(tiny_processed, tiny_data, fast_params):
    lanes, sales = tiny_processed["lanes"], tiny_processed["daily_sales"]
    splits = tiny_processed["splits"]
    panels = build_demand_panels(
        sales, tiny_processed["promotion_days"], lanes, splits.data_end, fast_params.forecast.horizon_days
    )
    features = build_decision_features(tiny_processed["forecasts"], panels, lanes, splits, fast_params.features)
    return {
        "lanes": lanes,
        "sales": sales,
        "promotion_days": tiny_processed["promotion_days"],
        "forecaster": tiny_processed["forecaster"],
        "features": features,
        "splits": splits,
        "state": tiny_data.inventory_state,
        "params": fast_params,
    }


def _recommend(setting, policy, state=None, sales=None, min_history_days=14) -> pd.DataFrame:
    return recommend_orders(
        setting["state"] if state is None else state,
        setting["lanes"],
        setting["sales"] if sales is None else sales,
        setting["promotion_days"],
        setting["forecaster"],
        policy,
        setting["params"].features,
        setting["params"].splits.decision_weekday,
        RecommendParams(min_history_days=min_history_days),
    )


def test_features_are_the_training_features_of_that_date(setting):
    """A snapshot the day before a decision date sees exactly that date's model input."""
    decision_date = setting["splits"].decision_dates()[-3]
    state = setting["state"].assign(as_of_date=decision_date - pd.Timedelta(days=1))
    policy = RecordingPolicy(6.0)
    result = _recommend(setting, policy, state=state)
    assert (result["review_date"] == decision_date).all()

    training = setting["features"]
    rows = training[training["decision_date"] == decision_date].sort_values("lane_id")
    expected = DecisionInputs.from_frame(rows, on_hand=np.zeros(len(rows)), on_order=np.zeros(len(rows)))
    seen = policy.inputs
    for name in ("history", "attributes", "targets", "promotions", "history_days_available", "category_code"):
        np.testing.assert_array_equal(getattr(seen, name), getattr(expected, name), err_msg=name)
    # the forecast differs only where a price after the snapshot was not known yet
    np.testing.assert_allclose(seen.forecast, expected.forecast, rtol=1e-6)
    np.testing.assert_array_equal(seen.on_hand, state["on_hand"].to_numpy(float))
    np.testing.assert_array_equal(seen.on_order, state["on_order"].to_numpy(float))
    # no days to project: position = on hand + on order, level = 6 days of the forecast
    np.testing.assert_allclose(result["inventory_position"], state["on_hand"] + state["on_order"], atol=0.005)
    np.testing.assert_allclose(result["order_up_to_units"], seen.forecast[:, :6].sum(axis=1), atol=0.005)


def test_cold_start_falls_back_to_the_incumbent_rule_and_is_flagged(setting):
    """One lane launched 5 days before the snapshot, one never sold: both incumbent, flagged."""
    sales, state = setting["sales"], setting["state"]
    as_of = state["as_of_date"].iloc[0]
    launched, never_sold = (0, 3)
    keep = ~sales["lane_id"].isin([launched, never_sold]) | (
        (sales["lane_id"] == launched) & (sales["date"] > as_of - pd.Timedelta(days=5))
    )
    result = _recommend(setting, random_policy(setting["features"]), sales=sales[keep].reset_index(drop=True))

    assert list(result.columns) == list(RECOMMENDATION_COLUMNS)
    assert len(result) == len(state)
    cold = result[result["cold_start"]]
    lanes = setting["lanes"].set_index(["sku_id", "dc_id"])
    assert set(zip(cold["sku_id"], cold["dc_id"], strict=True)) == {
        tuple(setting["lanes"].loc[i, ["sku_id", "dc_id"]]) for i in (launched, never_sold)
    }
    assert (cold["policy_used"] == INCUMBENT_FALLBACK).all()
    np.testing.assert_array_equal(
        cold["coverage_days"], lanes.loc[list(zip(cold["sku_id"], cold["dc_id"], strict=True)), "target_turnover_days"]
    )
    assert sorted(cold["history_days"]) == [0, 5]
    short, empty = cold.sort_values("history_days", ascending=False).itertuples()
    assert short.reason.startswith("cold start (5 of 14 history days): incumbent rule")
    assert empty.reason.startswith("cold start (no sales history, zero forecast")
    assert empty.order_up_to_units == 0 and empty.order_units == 0

    warm = result[~result["cold_start"]]
    assert (warm["policy_used"] == "orpr").all() and warm["history_days"].ge(14).all()
    assert set(warm["coverage_days"]) <= set(GRID)
    assert warm["reason"].str.startswith("aligned policy: ").all()
    # the order follows from the printed level and position (rounded to cents in the file)
    expected = round_order_quantity(
        result["order_up_to_units"] - result["inventory_position"], result["case_pack"], result["moq"]
    )
    mismatch = result["order_units"] != expected
    assert (result.loc[mismatch, "raw_order_units"].abs() < 0.02).all()
    ordered = result[result["order_units"] > 0]
    assert (ordered["order_units"] % ordered["case_pack"] == 0).all() and (
        ordered["order_units"] >= ordered["moq"]
    ).all()

    summary = summarise_recommendations(result, n_lanes=len(setting["lanes"]) + 2).set_index("metric")["value"]
    assert summary["incumbent_fallback"] == "2" and summary["orpr"] == str(len(result) - 2)
    assert summary["lanes_without_state"] == "2"


def test_every_lane_gets_a_row_a_reason_code_and_the_planner_columns(setting):
    """Lane 0 has no snapshot row; a zero cover is explained by the lane's OR labels."""
    lanes = setting["lanes"]
    labels = pd.DataFrame({"lane_id": [1, 1, 1, 2, 2], "coverage_days": [0.0, 0.0, 4.0, 6.0, 8.0]})
    result = recommend_orders(
        setting["state"].iloc[1:],
        lanes,
        setting["sales"],
        setting["promotion_days"],
        setting["forecaster"],
        RecordingPolicy(0.0),
        setting["params"].features,
        setting["params"].splits.decision_weekday,
        RecommendParams(min_history_days=14),
        or_labels=labels,
        currency="USD",
    )
    assert list(result.columns) == list(RECOMMENDATION_COLUMNS) and len(result) == len(lanes)
    assert result["sku_id"].tolist() == lanes["sku_id"].tolist()
    no_state, half_zero, never_zero, unlabelled = result.iloc[0], result.iloc[1], result.iloc[2], result.iloc[3]
    assert no_state.reason_code == "no_state" and no_state.order_units == 0 and pd.isna(no_state.on_hand)
    assert no_state.reason.startswith("no state: the lane has no row in raw_inventory_state")
    assert set(result["reason_code"].iloc[1:]) == {"no_order_zero_cover"}
    assert "zero cover chosen (the OR labels gave this lane 0 d on 2 of 3 dates: no stock was" in half_zero.reason
    assert "0 d on none of 2 dates (median 7 d): the policy departs from them" in never_zero.reason
    assert "no OR labels for this lane to compare with" in unlabelled.reason
    assert set(result["currency"]) == {"USD"}
    assert result["override_units"].isna().all() and result["approved"].isna().all()
    # arrival: the review date + rint(mean lead time); next review: + the lane's review period
    review = result["review_date"]
    lead_days = pd.to_timedelta(np.maximum(np.rint(lanes["lead_time_mean"]), 1), unit="D")
    assert (result["expected_arrival_date"].iloc[1:] == (review + lead_days).iloc[1:]).all()
    assert (result["earliest_arrival_date"] <= result["expected_arrival_date"]).iloc[1:].all()
    assert (result["latest_arrival_date"] >= result["expected_arrival_date"]).iloc[1:].all()
    assert (
        result["next_review_date"].iloc[1:] == (review + pd.to_timedelta(lanes["review_period"], unit="D")).iloc[1:]
    ).all()
    # no order: the stock only falls, and the risk is a probability
    stated = result.iloc[1:]
    assert (stated["projected_on_hand_at_arrival"] <= stated["inventory_position"] + 0.005).all()
    assert stated["stockout_risk"].between(0, 1).all()


def test_a_snapshot_needs_one_date_and_sales_up_to_it(setting):
    state = setting["state"].copy()
    state.loc[0, "as_of_date"] -= pd.Timedelta(days=1)
    with pytest.raises(ValueError, match="one as_of_date"):
        _recommend(setting, RecordingPolicy(4.0), state=state)
    early = setting["state"].assign(as_of_date=pd.Timestamp("2020-01-01"))
    with pytest.raises(ValueError, match="no sales in the 392 days up to the snapshot day 2020-01-01"):
        _recommend(setting, RecordingPolicy(4.0), state=early)


# --------------------------------------------------------------------------- the state contract
@pytest.fixture()
def raw_state(tiny_data) -> pd.DataFrame:
    return tiny_data.inventory_state.copy()


def _state_error(state, lanes, sales_end) -> DataContractError:
    with pytest.raises(DataContractError) as caught:
        validate_inventory_state(state, lanes, sales_end, sources=SOURCES, max_examples=3)
    return caught.value


def test_valid_state_comes_back_typed(raw_state, tiny_data):
    csv_like = raw_state.astype(str)
    typed = validate_inventory_state(csv_like, tiny_data.sku_dc_master, raw_state["as_of_date"].max())
    assert typed["on_hand"].dtype == "int64" and typed["as_of_date"].dtype == "datetime64[ns]"
    assert list(typed.columns) == ["sku_id", "dc_id", "as_of_date", "on_hand", "on_order"]


def test_unknown_lane_names_file_column_and_rows(raw_state, tiny_data):
    raw_state.loc[[2, 4], "dc_id"] = "DC99"
    error = _state_error(raw_state, tiny_data.sku_dc_master, raw_state["as_of_date"].max())
    [problem] = error.problems
    assert (problem.dataset, problem.column, problem.rule, list(problem.rows)) == (
        "raw_inventory_state",
        "sku_id, dc_id",
        "unknown SKU-DC pair (not in raw_sku_dc_master)",
        [2, 4],
    )
    message = str(error)
    assert (
        "raw_inventory_state (data/01_raw/inventory_state.csv): column 'sku_id, dc_id': unknown SKU-DC pair" in message
    )
    assert "2 row(s) (rows 2, 4)" in message and "DC99" in message


def test_negative_stock_and_missing_column(raw_state, tiny_data):
    raw_state.loc[1, "on_hand"] = -4
    error = _state_error(raw_state.drop(columns="on_order"), tiny_data.sku_dc_master, raw_state["as_of_date"].max())
    rules = {(p.column, p.rule, tuple(p.rows[:1])) for p in error.problems}
    assert ("on_hand", "must be >= 0", (1,)) in rules
    assert any(column == "on_order" and rule.startswith("required column is missing") for column, rule, _ in rules)


def test_one_snapshot_date_not_after_the_sales(raw_state, tiny_data):
    sales_end = raw_state["as_of_date"].max()
    raw_state.loc[5, "as_of_date"] = sales_end + pd.Timedelta(days=1)
    error = _state_error(raw_state, tiny_data.sku_dc_master, sales_end)
    rules = {(p.column, p.rule.split(";")[0].split(" (")[0], tuple(p.rows)) for p in error.problems}
    assert (
        "as_of_date",
        "every row must have the same as_of_date",
        tuple(i for i in range(len(raw_state)) if i != 5),
    ) in rules
    assert ("as_of_date", f"after the last sales date {sales_end.date()} in raw_sales", (5,)) in rules
    assert "raw_inventory_state (data/01_raw/inventory_state.csv): column 'as_of_date'" in str(error)


class SharePolicy:
    """Stands in for the policy: a coverage that moves with every digit of the category sales share."""

    coverage_grid = GRID
    action_grid = ActionGrid("coverage_days", GRID)

    def decide_index(self, inputs: DecisionInputs) -> np.ndarray:
        share = inputs.targets[:, 0]
        return (np.floor(share * 1e6).astype("int64") % len(GRID)).astype(np.int64)


@pytest.mark.parametrize("kind", ["serial", "processes"])
def test_recommendations_in_lane_blocks_are_the_whole_tables(setting, tmp_path, kind):
    """Blocks of 5 lanes give the whole table's rows: category shares of every lane, one day numbering."""
    from orpr_kedro.core.params import ExecutionParams
    from orpr_kedro.core.recommend import recommend_in_blocks

    state = setting["state"].iloc[[1, 2, 3, 4, 12, 13, 14]]  # no lane of block 1 (lanes 5-9) in the snapshot
    params = RecommendParams(min_history_days=14)
    arguments = (setting["forecaster"], SharePolicy(), setting["params"].features, 0, params)
    labels = pd.DataFrame({"lane_id": [1, 1, 12], "coverage_days": [0.0, 6.0, 0.0]})
    whole = recommend_orders(
        state, setting["lanes"], setting["sales"], setting["promotion_days"], *arguments, or_labels=labels
    )
    execution = ExecutionParams.model_validate(
        {"lanes_per_block": 5, "executor": {"kind": kind, "n_workers": 2}, "spill_dir": str(tmp_path)}
    )
    blocked = recommend_in_blocks(
        state, setting["lanes"], setting["sales"], setting["promotion_days"], *arguments, execution, or_labels=labels
    )
    assert whole["coverage_days"].nunique() > 3  # the shares tell the lanes apart
    assert (whole["reason_code"] == "no_state").sum() == len(setting["lanes"]) - len(state)
    pd.testing.assert_frame_equal(blocked, whole)  # per-block category totals would move shares and covers
    assert not list(tmp_path.glob("orpr-blocks-*/*/block-*.parquet"))
