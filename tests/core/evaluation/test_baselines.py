"""Tuned base-stock: the service level chosen per group by simulation on actual demand."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.evaluation.baselines import NEWSVENDOR, base_stock_policy, tune_base_stock
from orpr_kedro.core.simulation.period import Period as LabelingData

WEEKS = 10
HORIZON = 21


def _data(demand: np.ndarray, lost_sale_cost: list[float], dispersion: list[float]) -> LabelingData:
    n_lanes = demand.shape[0]
    dates = pd.date_range("2025-01-06", periods=demand.shape[1], freq="D")
    decision_dates = dates[::7][:WEEKS]
    lanes = pd.DataFrame(
        {
            "lane_id": np.arange(n_lanes),
            "category": [f"c{i}" for i in range(n_lanes)],
            "review_period": 7,
            "case_pack": 1,
            "moq": 0,
            "holding_cost": 0.1,
            "lost_sale_cost": lost_sale_cost,
            "order_cost": 0.0,
            "lead_time_mean": 2.0,
            "lead_time_std": 0.0,
            "initial_on_hand": 100.0,
        }
    )
    mean = demand.mean(axis=1)
    cube = np.broadcast_to(mean[:, None, None], (n_lanes, len(decision_dates), HORIZON)).copy()
    return LabelingData(lanes, dates, demand, decision_dates, cube, np.asarray(dispersion), 0)


def test_exact_constant_demand_needs_no_safety_stock() -> None:
    """Constant demand forecast exactly: z = 0 (service 0.5) is cheapest, nothing is lost."""
    data = _data(np.full((1, 7 * WEEKS), 10.0), [5.0], [0.2])
    tuning = tune_base_stock(
        data,
        data.decision_dates[4],
        data.decision_dates[-1] + pd.Timedelta(days=7),
        service_levels=[0.5, 0.9, 0.99],
        seed=1,
        max_lead_time=10,
    )
    table = tuning.table.set_index("candidate")
    assert list(table.index) == [NEWSVENDOR, "0.5", "0.9", "0.99"]
    assert tuning.choices()["candidate"].tolist() == ["0.5"]
    assert tuning.service_level.tolist() == [0.5]
    assert table.loc["0.5", "lost_sales_cost"] == 0.0
    assert table.loc["0.5", "in_stock_rate"] == 1.0
    # 6 scored weeks; order-up-to 90 = 9 days x 10 with a 2-day lead time: on hand runs 20 -> 0 over the
    # 2 days before each arrival and 70 -> 10 after it; end-of-day stock sums to 10+0+60+50+40+30+20 = 210
    # per week, at 0.1 per unit-day
    assert table.loc["0.5", "holding_cost"] == pytest.approx(6 * 210 * 0.1)
    holding = table.loc[["0.5", "0.9", "0.99"], "holding_cost"].to_numpy()
    assert np.all(np.diff(holding) > 0)


def test_noisy_demand_with_dear_lost_sales_tunes_high() -> None:
    """Negative-binomial demand and a lost sale worth 1,000 days of holding: a high fractile wins."""
    rng = np.random.default_rng(3)
    demand = rng.negative_binomial(2, 2 / (2 + 10.0), size=(1, 7 * WEEKS)).astype(np.float64)
    data = _data(demand, [100.0], [0.5])
    tuning = tune_base_stock(
        data,
        data.decision_dates[2],
        data.decision_dates[-1] + pd.Timedelta(days=7),
        service_levels=[0.5, 0.8, 0.99],
        seed=1,
        max_lead_time=10,
    )
    assert tuning.choices()["candidate"].tolist() == ["0.99"]
    policy = tuning.policy(data.lane_arrays, data.dispersion)
    assert policy.critical_fractile.tolist() == [0.99]


def test_newsvendor_lanes_keep_their_own_fractile() -> None:
    data = _data(np.full((2, 7 * WEEKS), 10.0), [5.0, 1.0], [0.2, 0.2])
    own = base_stock_policy(data.lane_arrays, data.dispersion).critical_fractile
    mixed = base_stock_policy(data.lane_arrays, data.dispersion, np.array([np.nan, 0.9])).critical_fractile
    assert mixed.tolist() == [own[0], 0.9]
    # newsvendor fractile p / (p + h x review): 5 / (5 + 0.7)
    assert own[0] == pytest.approx(5.0 / 5.7)


@pytest.mark.parametrize("levels", [[], [0.0], [1.0]])
def test_rejects_bad_service_levels(levels) -> None:
    data = _data(np.full((1, 7 * WEEKS), 10.0), [5.0], [0.2])
    with pytest.raises(ValueError, match="service_levels"):
        tune_base_stock(
            data, data.decision_dates[4], data.decision_dates[-1], service_levels=levels, seed=1, max_lead_time=10
        )
