"""Forecast metrics, the negative-binomial spread and the global forecaster."""

import re
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from scipy import stats

from orpr_kedro.core.data.contract import validate_raw_tables
from orpr_kedro.core.data.preparation import build_daily_sales, build_lanes, build_promotion_days
from orpr_kedro.core.data.splits import make_time_splits
from orpr_kedro.core.forecasting import model as fc


def test_wape_bias_pinball_on_a_hand_computed_case():
    actual = np.array([10.0, 0.0, 5.0])
    forecast = np.array([8.0, 1.0, 5.0])
    assert fc.wape(actual, forecast) == pytest.approx(3.0 / 15.0)
    assert fc.bias(actual, forecast) == pytest.approx(-1.0 / 15.0)
    # errors y - q = (2, -1, 0): level 0.9 -> (1.8, 0.1, 0) / 3
    assert fc.pinball_loss(actual, forecast, 0.9) == pytest.approx(1.9 / 3)
    # at the median the pinball loss is half the mean absolute error
    assert fc.pinball_loss(actual, forecast, 0.5) == pytest.approx(0.5 * 3.0 / 3)


@pytest.mark.parametrize("level", [0.1, 0.5, 0.9, 0.99])
def test_negative_binomial_quantile_matches_scipy(level):
    rng = np.random.default_rng(0)
    mean = np.concatenate([[0.0, 0.01, 0.3], rng.gamma(1.0, 20.0, 500)])
    phi = rng.uniform(0.01, 3.0, mean.size)
    size = 1 / phi
    expected = np.where(mean > 0, stats.nbinom.ppf(level, size, size / (size + np.maximum(mean, 1e-12))), 0.0)
    np.testing.assert_array_equal(fc.negative_binomial_quantile(level, mean, phi), expected)


def test_dispersion_estimate_recovers_the_truth():
    rng = np.random.default_rng(1)
    n_lanes, rows = 3, 40_000
    true_phi = np.array([0.05, 0.5, 2.0])
    lane = np.repeat(np.arange(n_lanes), rows)
    mean = rng.uniform(2, 20, lane.size)
    actual = fc.sample_demand(mean, true_phi[lane], 1, rng)[0]
    phi, pooled = fc.estimate_dispersion(actual, mean, lane, n_lanes, prior_weight=0.0)
    np.testing.assert_allclose(phi, true_phi, rtol=0.1)
    assert true_phi.min() < pooled < true_phi.max()


def test_sample_demand_moments():
    rng = np.random.default_rng(2)
    draws = fc.sample_demand(np.full(4, 8.0), np.full(4, 0.25), 50_000, rng)
    assert draws.shape == (50_000, 4)
    assert draws.mean() == pytest.approx(8.0, rel=0.02)
    assert draws.var() == pytest.approx(8.0 + 0.25 * 64.0, rel=0.05)


@pytest.fixture(scope="module")
def prepared(tiny_data, fast_params):
    tables = validate_raw_tables(tiny_data.as_catalog_entries())
    lanes = build_lanes(
        tables["raw_sku_master"], tables["raw_sku_dc_master"], tables["raw_category_targets"], fast_params.costs
    )
    sales = build_daily_sales(tables["raw_sales"], lanes)
    promotions = build_promotion_days(tables["raw_promotions"], lanes)
    splits = make_time_splits(
        sales["date"].min(), sales["date"].max(), fast_params.splits, sorted(lanes["category"].unique())
    )
    panels = fc.build_demand_panels(sales, promotions, lanes, splits.data_end, fast_params.forecast.horizon_days)
    return lanes, panels, splits


def test_seasonal_naive_is_last_weeks_same_weekday(prepared):
    _, panels, _ = prepared
    origins = np.array([100])
    naive = fc.seasonal_naive(panels, origins, 15)
    assert naive[0, 0, 0] == panels.sales[0, 93]
    assert naive[0, 0, 6] == panels.sales[0, 99]
    assert naive[0, 0, 7] == panels.sales[0, 93]  # two weeks back for horizons 7..13
    assert naive[0, 0, 14] == panels.sales[0, 93]


def test_forecaster_beats_seasonal_naive_and_is_deterministic(prepared, fast_params):
    lanes, panels, splits = prepared
    forecaster = fc.fit_forecaster(panels, splits, fast_params.forecast, seed=3)
    table = fc.forecast_table(forecaster, panels, splits)
    accuracy = fc.forecast_accuracy(table, panels, splits, lanes, fast_params.forecast.quantiles).set_index(
        ["model", "scope"]
    )
    assert accuracy.loc[("forecast", "all"), "wape"] < accuracy.loc[("seasonal_naive", "all"), "wape"]
    assert accuracy.loc[("forecast", "all"), "mean_pinball"] < accuracy.loc[("seasonal_naive", "all"), "mean_pinball"]
    # quantiles are ordered and bracket the mean on average
    assert (table["q0.1"] <= table["q0.5"]).all() and (table["q0.5"] <= table["q0.9"]).all()
    assert len(table) == panels.n_lanes * len(splits.decision_dates()) * fast_params.forecast.horizon_days
    again = fc.forecast_table(fc.fit_forecaster(panels, splits, fast_params.forecast, seed=3), panels, splits)
    pd.testing.assert_frame_equal(table, again)


def test_forecasting_uses_no_private_scikit_learn_names():
    """The forecaster reads scikit-learn and LightGBM only through their public APIs."""
    package = Path(fc.__file__).parent
    private = ("_predictors", "_bin_mapper", "_preprocess_X", "_baseline_prediction", "_loss")
    pattern = re.compile(r"(?<![A-Za-z0-9_])(" + "|".join(private) + r")\b")
    found = [
        f"{path.name}: {hit}" for path in sorted(package.glob("*.py")) for hit in pattern.findall(path.read_text())
    ]
    assert found == []


def test_negative_binomial_quantile_is_exact_and_fast_for_huge_means():
    """Bisection: the cost grows with log(mean), and the values are scipy's up to the float limit of integers."""
    mean = np.array([3.7, 1e3, 1e6, 1e8, 1e12])
    phi = np.array([0.5, 0.2, 0.1, 0.05, 0.01])
    size = 1 / phi
    for level in (0.1, 0.5, 0.9, 0.99):
        expected = stats.nbinom.ppf(level, size, size / (size + mean))
        np.testing.assert_array_equal(fc.negative_binomial_quantile(level, mean, phi), expected)
    # exact values at level 0.9 (scipy agrees above)
    np.testing.assert_array_equal(
        fc.negative_binomial_quantile(0.9, mean[:3], phi[:3]), np.array([8.0, 1600.0, 1420601.0])
    )
    started = time.perf_counter()
    huge = fc.negative_binomial_quantile(0.9, np.array([1e58]), np.array([0.1]))
    assert time.perf_counter() - started < 1.0
    assert huge[0] == pytest.approx(stats.nbinom.ppf(0.9, 10.0, 10.0 / (10.0 + 1e58)), rel=1e-12)
    with pytest.raises(ValueError, match="must be finite"):
        fc.negative_binomial_quantile(0.9, np.array([np.inf]), np.array([0.1]))


def _constant_forecaster(prepared, fast_params, log_constant: float) -> fc.DemandForecaster:
    """A forecaster whose scikit-learn model predicts ``exp(log_constant)`` x the lane's level on every row."""
    from sklearn.compose import TransformedTargetRegressor
    from sklearn.dummy import DummyRegressor

    _, panels, _ = prepared
    model = TransformedTargetRegressor(
        regressor=DummyRegressor(strategy="constant", constant=log_constant),
        func=np.log,
        inverse_func=np.exp,
        check_inverse=False,
    ).fit(np.zeros((2, len(fc.FEATURE_NAMES))), [1.0, 1.0])
    return fc.DemandForecaster(
        model=model,
        dispersion=np.full(panels.n_lanes, 0.1),
        global_dispersion=0.1,
        horizon_days=fast_params.forecast.horizon_days,
        quantiles=tuple(fast_params.forecast.quantiles),
        unobserved_features=np.zeros(len(fc.FEATURE_NAMES), dtype=bool),
    )


def test_runaway_forecasts_are_capped_per_lane_and_counted(prepared, fast_params, caplog):
    _, panels, splits = prepared
    forecaster = _constant_forecaster(prepared, fast_params, np.log(1e58))
    origins = panels.day_index(splits.decision_dates())
    mean = forecaster.predict_mean(panels, origins)
    lanes = np.arange(panels.n_lanes)
    level, _ = panels.window_mean(lanes, origins[None, :] - 91, origins[None, :])
    cap = np.maximum(5.0 * panels.history_max(lanes, origins), 20.0 * np.maximum(np.nan_to_num(level), 0.05))
    np.testing.assert_allclose(mean, np.broadcast_to(cap[:, :, None], mean.shape), rtol=1e-6)
    assert forecaster.last_capped == mean.size
    assert "capped 20,160 of 20,160 forecast values" in caplog.text
    table = fc.forecast_table(forecaster, panels, splits)
    assert np.isfinite(table[["forecast_mean", "forecast_std", "q0.9"]].to_numpy()).all()


def test_a_non_finite_forecast_stops_with_the_lanes(prepared, fast_params):
    _, panels, splits = prepared
    forecaster = _constant_forecaster(prepared, fast_params, 1000.0)  # exp overflows to inf
    with pytest.raises(fc.NonFiniteForecastError, match=r"not finite \(NaN or infinite\) on 24 lane\(s\)"):
        fc.forecast_table(forecaster, panels, splits)


@pytest.mark.parametrize("objective", ["poisson", "tweedie"])
def test_lightgbm_forecaster_beats_seasonal_naive_and_is_deterministic(prepared, fast_params, objective):
    lanes, panels, splits = prepared
    params = fast_params.forecast.model_copy(update={"model": "lightgbm", "objective": objective})
    forecaster = fc.fit_forecaster(panels, splits, params, seed=3)
    assert forecaster.kind == "lightgbm"
    table = fc.forecast_table(forecaster, panels, splits)
    accuracy = fc.forecast_accuracy(table, panels, splits, lanes, params.quantiles).set_index(["model", "scope"])
    assert accuracy.loc[("forecast", "all"), "wape"] < accuracy.loc[("seasonal_naive", "all"), "wape"]
    again = fc.forecast_table(fc.fit_forecaster(panels, splits, params, seed=3), panels, splits)
    pd.testing.assert_frame_equal(table, again)


def test_averaged_regressor_is_the_mean_of_its_members():
    from sklearn.dummy import DummyRegressor

    features = np.zeros((3, 2))
    members = [DummyRegressor(strategy="constant", constant=c).fit(features, [0.0, 0.0, 0.0]) for c in (1.0, 2.0, 6.0)]
    np.testing.assert_array_equal(fc.AveragedRegressor(members).predict(features), np.array([3.0, 3.0, 3.0]))
    np.testing.assert_array_equal(fc.AveragedRegressor(members[:1]).predict(features), np.array([1.0, 1.0, 1.0]))


def test_an_ensemble_averages_models_on_their_own_row_samples(prepared, fast_params):
    """ensemble_size k: k models (seeds seed .. seed + k - 1), the first one the single model of ensemble_size 1."""
    _, panels, splits = prepared
    # fewer rows than the panel has, so that each model gets its own sample (with every row, the models coincide)
    params = fast_params.forecast.model_copy(update={"model": "lightgbm", "max_training_rows": 5_000})
    single = fc.fit_forecaster(panels, splits, params, seed=3)
    assert params.ensemble_size == 1 and not isinstance(single.model, fc.AveragedRegressor)
    ensemble = fc.fit_forecaster(panels, splits, params.model_copy(update={"ensemble_size": 2}), seed=3)
    assert isinstance(ensemble.model, fc.AveragedRegressor) and len(ensemble.model.members) == 2
    origins = panels.day_index(splits.decision_dates())
    features, _, _ = fc.build_features(panels, np.arange(panels.n_lanes), origins, params.horizon_days)
    features[:, ensemble.unobserved_features] = 0.0
    first, second = (member.predict(features) for member in ensemble.model.members)
    np.testing.assert_array_equal(first, single.model.predict(features))
    assert not np.array_equal(first, second)  # another row sample, another model
    np.testing.assert_allclose(ensemble.model.predict(features), (first + second) / 2, rtol=1e-12)
    again = fc.fit_forecaster(panels, splits, params.model_copy(update={"ensemble_size": 2}), seed=3)
    pd.testing.assert_frame_equal(fc.forecast_table(ensemble, panels, splits), fc.forecast_table(again, panels, splits))
