"""Calibrated demand scenarios: forecast error measured out of sample, sampled per scenario."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from orpr_kedro.core.optimization.scenarios import fit_forecast_errors, sample_calibrated_demand

H = 10


def _cube(values: list[float], n_windows: int) -> np.ndarray:
    return np.broadcast_to(np.asarray(values, dtype=np.float64)[:, None, None], (len(values), n_windows, 14)).copy()


def test_a_biased_forecast_gives_its_ratio_and_no_level_error() -> None:
    """Actual = 1.25 x forecast on every day: bias 1.25, nothing left for a level error."""
    cube = _cube([10.0, 4.0], 2)
    demand = np.tile(np.array([[12.5], [5.0]]), (1, 40))
    errors = fit_forecast_errors(
        cube,
        demand,
        np.array([0, 7]),
        np.array([0, 1]),
        np.full(2, 1e-6),
        np.array(["a", "b"]),
        horizon_days=H,
        min_rows=1,
    )
    table = errors.table.set_index("category")
    assert table.loc["__all__", "bias"] == pytest.approx(1.25)
    assert table.loc["a", "level_sd"] == 0.0
    assert table.loc["b", "n_origins"] == 2
    bias, level_sd = errors.lane_arrays(pd.DataFrame({"category": ["b", "unseen"]}))
    assert bias.tolist() == pytest.approx([1.25, 1.25])
    assert level_sd.tolist() == [0.0, 0.0]


def test_level_error_is_the_spread_the_daily_noise_does_not_explain() -> None:
    """Totals 0.8 and 1.2 x a forecast of 100: var(ratio) 0.04, Poisson part 1/100, level var 0.03."""
    cube = _cube([10.0], 2)
    # origin 0: days 0-9 at 8/day (total 80); origin 1 (day 10): days 10-19 at 12/day (total 120)
    demand = np.zeros((1, 30))
    demand[0, :10] = 8.0
    demand[0, 10:20] = 12.0
    errors = fit_forecast_errors(
        cube, demand, np.array([0, 10]), np.array([0, 1]), np.zeros(1), np.array(["a"]), horizon_days=H, min_rows=1
    )
    row = errors.table.set_index("category").loc["a"]
    assert row["bias"] == pytest.approx(1.0)
    nb_relative = (100 + 1e-6 * 10 * 100) / 100**2
    assert row["level_sd"] == pytest.approx(np.sqrt(np.log1p(0.04 - nb_relative)))
    # |z| of each total under Poisson noise alone: 20 / sqrt(100 + 1e-3) = 2.0 > 1.28: both outside
    assert row["coverage80_nb"] == 0.0
    assert row["z_std_nb"] == pytest.approx(20 / np.sqrt(100.001))


def test_small_groups_take_the_pooled_estimate() -> None:
    cube = _cube([10.0, 10.0], 1)
    demand = np.vstack([np.full(20, 10.0), np.full(20, 20.0)])
    errors = fit_forecast_errors(
        cube, demand, np.array([0]), np.array([0]), np.full(2, 1e-6), np.array(["a", "b"]), horizon_days=H, min_rows=2
    )
    table = errors.table.set_index("category")
    assert table.loc["a", "pooled"] and table.loc["b", "pooled"]
    assert table.loc["a", "bias"] == table.loc["__all__", "bias"] == pytest.approx(1.5)


def test_rejects_origins_without_a_full_horizon() -> None:
    with pytest.raises(ValueError, match="horizon_days of actual demand"):
        fit_forecast_errors(
            _cube([1.0], 1), np.ones((1, 5)), np.array([0]), np.array([0]), np.ones(1), np.array(["a"]), horizon_days=H
        )


def test_calibrated_scenarios_have_the_bias_and_the_extra_spread() -> None:
    rng = np.random.default_rng(11)
    mean = np.full((2, H), 10.0)
    plain = sample_calibrated_demand(mean, np.full(2, 0.1), np.ones(2), np.zeros(2), 4000, rng)
    calibrated = sample_calibrated_demand(mean, np.full(2, 0.1), np.array([1.0, 1.2]), np.array([0.0, 0.3]), 4000, rng)
    totals_plain, totals = plain.sum(axis=2), calibrated.sum(axis=2)
    assert calibrated.shape == (4000, 2, H)
    assert totals_plain.mean(axis=0) == pytest.approx([100.0, 100.0], rel=0.01)
    assert totals.mean(axis=0) == pytest.approx([100.0, 120.0], rel=0.01)
    # daily NB variance 10 + 0.1 x 100 = 20 per day, 200 per total. With a level factor e (mean 1.2,
    # E[e^2] = 1.44 e^0.09): E[100 e + 100 e^2] + Var(100 e) = 120 + 144 e^0.09 + 14400 (e^0.09 - 1)
    assert totals_plain.var(axis=0) == pytest.approx([200.0, 200.0], rel=0.1)
    expected = 120 + 144 * np.exp(0.09) + 14400 * (np.exp(0.09) - 1)
    assert totals[:, 1].var() == pytest.approx(expected, rel=0.1)


def test_per_lane_windows_measure_the_error_of_each_lanes_own_window() -> None:
    """Lane a sums 2 days, lane b 5; a pair whose window runs past the demand is left out.

    Forecast 100/day. Lane a: days 0-1 at 80 (total 160 vs 200), days 7-8 at 120 (240 vs 200):
    ratios 0.8 and 1.2. Lane b's window from origin 7 ends on day 12, past the 10 days of demand.
    """
    cube = _cube([100.0, 100.0], 2)
    demand = np.zeros((2, 10))
    demand[0, 0:2], demand[0, 7:9] = 80.0, 120.0
    demand[1, :] = 100.0
    errors = fit_forecast_errors(
        cube,
        demand,
        np.array([0, 7]),
        np.array([0, 1]),
        np.zeros(2),
        np.array(["a", "b"]),
        horizon_days=H,
        window_days=np.array([2, 5]),
        min_rows=1,
    )
    table = errors.table.set_index("category")
    assert table.loc["a", "n_origins"] == 2 and table.loc["b", "n_origins"] == 1
    assert table.loc["a", "bias"] == pytest.approx(1.0)
    nb_relative = (200 + 1e-6 * 2 * 100**2) / 200**2  # Poisson part of a 2-day total of 200
    assert table.loc["a", "level_sd"] == pytest.approx(np.sqrt(np.log1p(0.04 - nb_relative)))
    assert table.loc["b", "bias"] == pytest.approx(1.0) and table.loc["b", "level_sd"] == 0.0
    assert set(table["window"]) == {"per_lane"}
