"""Tests of orpr_kedro.core.evaluation.did: selection, matching, DiD, pre-trends, true effect."""

from __future__ import annotations

import json

import numpy as np
import pandas as pd
import pytest
import statsmodels.api as sm

from orpr_kedro.core.evaluation.did import (
    DiDResult,
    PreTrendResult,
    balance_table,
    did_estimate,
    pre_trend_test,
    propensity_match,
    propensity_scores,
    select_treated,
    true_effect,
)


def make_panel(
    n_units: int,
    n_periods: int,
    *,
    effect: float = 0.0,
    pre_trend: float = 0.0,
    treated_share: float = 0.4,
    seed: int = 0,
    rho: float = 0.0,
) -> pd.DataFrame:
    """Panel with unit and period effects, a treated level shift and a planted effect.

    Treated units get ``effect`` in post periods (the second half) and a differential
    trend ``pre_trend * period`` in all periods. Errors are AR(1) with coefficient
    ``rho`` within each unit, so clustering matters when ``rho > 0``.
    """
    rng = np.random.default_rng(seed)
    unit = np.repeat(np.arange(n_units), n_periods)
    period = np.tile(np.arange(n_periods), n_units)
    is_treated_unit = rng.random(n_units) < treated_share
    is_treated_unit[:2] = [True, False]  # both groups always present
    treated = is_treated_unit[unit]
    post = period >= n_periods // 2
    shocks = rng.normal(0.0, 1.0, (n_units, n_periods))
    errors = np.empty_like(shocks)
    errors[:, 0] = shocks[:, 0]
    for t in range(1, n_periods):  # AR(1) over a few periods, vectorised over units
        errors[:, t] = rho * errors[:, t - 1] + np.sqrt(1 - rho**2) * shocks[:, t]
    y = (
        rng.normal(10.0, 3.0, n_units)[unit]
        + rng.normal(0.0, 2.0, n_periods)[period]
        + 1.5 * treated
        + effect * (treated & post)
        + pre_trend * treated * period
        + errors.ravel()
    )
    return pd.DataFrame(
        {"unit_id": unit, "period": period, "treated": treated.astype(int), "post": post.astype(int), "y": y}
    )


def statsmodels_dummies_fit(panel: pd.DataFrame):
    """OLS of y on intercept, unit and period dummies (first dropped) and treated x post."""
    design = pd.get_dummies(panel[["unit_id", "period"]].astype(str), drop_first=True).astype(float)
    design["d"] = (panel["treated"] * panel["post"]).astype(float).to_numpy()
    return sm.OLS(panel["y"].to_numpy(), sm.add_constant(design)).fit(
        cov_type="cluster", cov_kwds={"groups": panel["unit_id"].to_numpy()}, use_t=True
    )


# ------------------------------------------------------------------------- DiD
def test_planted_effect_is_recovered():
    panel = make_panel(300, 12, effect=-2.0, seed=1, rho=0.5)
    result = did_estimate(panel, "y")
    assert result.ci_low < -2.0 < result.ci_high
    assert result.ci_high < 0.0
    assert result.p_value < 1e-6
    assert abs(result.effect + 2.0) < 3 * result.std_error
    assert (result.n_units, result.n_periods, result.n_obs, result.n_post_periods) == (300, 12, 3600, 6)
    assert result.n_treated == panel.groupby("unit_id")["treated"].first().sum()
    assert result.t_df == 299


def test_placebo_interval_contains_zero():
    panel = make_panel(300, 12, effect=0.0, seed=2, rho=0.5)
    result = did_estimate(panel, "y")
    assert result.ci_low < 0.0 < result.ci_high
    assert result.p_value > 0.2  # far from the 5% boundary for this seed


def test_placebo_rejection_rate_is_nominal_with_serial_correlation():
    # 300 placebo panels with strongly autocorrelated errors: clustered SEs keep the
    # 5% test near 5% (unclustered ones reject far more often here).
    p_values = np.array([did_estimate(make_panel(40, 10, seed=s, rho=0.8), "y").p_value for s in range(300)])
    assert 0.01 <= np.mean(p_values < 0.05) <= 0.10


def test_two_by_two_equals_difference_of_cell_means():
    # treated A: 10 -> 7, B: 12 -> 8 (means 11 -> 7.5); control C: 5 -> 6, D: 9 -> 9
    # (means 7 -> 7.5). DiD = (7.5 - 11) - (7.5 - 7) = -4.0.
    panel = pd.DataFrame(
        {
            "unit_id": ["A", "A", "B", "B", "C", "C", "D", "D"],
            "period": [1, 2] * 4,
            "treated": [1, 1, 1, 1, 0, 0, 0, 0],
            "post": [0, 1] * 4,
            "y": [10.0, 7.0, 12.0, 8.0, 5.0, 6.0, 9.0, 9.0],
        }
    )
    result = did_estimate(panel, "y")
    assert result.effect == pytest.approx(-4.0, abs=1e-12)
    assert (result.n_units, result.n_treated, result.n_periods, result.n_obs) == (4, 2, 2, 8)


def test_balanced_effect_equals_cell_means_with_many_periods():
    panel = make_panel(50, 6, effect=1.0, seed=3)
    cell = panel.groupby(["treated", "post"])["y"].mean()
    expected = (cell[1, 1] - cell[1, 0]) - (cell[0, 1] - cell[0, 0])
    assert did_estimate(panel, "y").effect == pytest.approx(expected, abs=1e-10)


@pytest.mark.parametrize("drop_share", [0.0, 0.25])
def test_clustered_se_matches_statsmodels_dummy_regression(drop_share):
    panel = make_panel(25, 6, effect=-1.0, seed=4, rho=0.4)
    if drop_share:  # unbalanced: drop a quarter of the rows at random
        panel = panel[np.random.default_rng(5).random(len(panel)) > drop_share].reset_index(drop=True)
    result = did_estimate(panel, "y", alpha=0.1)
    reference = statsmodels_dummies_fit(panel)
    assert result.effect == pytest.approx(reference.params["d"], rel=1e-10)
    assert result.std_error == pytest.approx(reference.bse["d"], rel=1e-8)
    low, high = reference.conf_int(alpha=0.1).loc["d"]
    assert (result.ci_low, result.ci_high) == (pytest.approx(low, rel=1e-8), pytest.approx(high, rel=1e-8))
    assert result.p_value == pytest.approx(reference.pvalues["d"], rel=1e-6)


def test_nested_correction_drops_unit_effects_from_parameter_count():
    panel = make_panel(25, 4, effect=-1.0, seed=6)
    dummies = did_estimate(panel, "y")
    nested = did_estimate(panel, "y", df_correction="nested")
    n_obs, k_dummies, k_nested = 100, 25 + 4 - 1 + 1, 4 + 1
    assert nested.effect == dummies.effect
    assert nested.std_error / dummies.std_error == pytest.approx(
        np.sqrt((n_obs - k_dummies) / (n_obs - k_nested)), rel=1e-12
    )


@pytest.mark.filterwarnings("ignore:The design matrix is rank-deficient")
def test_disconnected_panel_counts_fixed_effect_rank():
    # Two groups of units observed in disjoint periods: the unit-period graph has two
    # components, so the dummy design loses one more rank than a connected panel.
    first = make_panel(12, 4, effect=-1.0, seed=7)
    second = make_panel(12, 4, effect=-1.0, seed=8)
    second["unit_id"] += 100
    second["period"] += 10
    panel = pd.concat([first, second], ignore_index=True)
    result = did_estimate(panel, "y")

    design = pd.get_dummies(panel[["unit_id", "period"]].astype(str)).astype(float)  # all dummies
    design["d"] = (panel["treated"] * panel["post"]).astype(float).to_numpy()
    design = sm.add_constant(design)
    rank = np.linalg.matrix_rank(design.to_numpy())
    assert rank == 24 + 8 - 2 + 1
    reference = sm.OLS(panel["y"].to_numpy(), design).fit(
        cov_type="cluster", cov_kwds={"groups": panel["unit_id"].to_numpy()}
    )
    n_obs = len(panel)
    # statsmodels counts columns, not rank, in its (N-1)/(N-K) factor
    expected_se = reference.bse["d"] * np.sqrt((n_obs - design.shape[1]) / (n_obs - rank))
    assert result.effect == pytest.approx(reference.params["d"], rel=1e-9)
    assert result.std_error == pytest.approx(expected_se, rel=1e-8)


def test_result_is_frozen_and_serialisable():
    result = did_estimate(make_panel(20, 4, seed=9), "y")
    assert isinstance(result, DiDResult)
    with pytest.raises(AttributeError):
        result.effect = 0.0  # type: ignore[misc]
    as_dict = json.loads(json.dumps(result.to_dict()))
    assert as_dict["effect"] == result.effect
    assert {"outcome", "effect", "std_error", "ci_low", "ci_high", "p_value", "n_units", "n_treated",
            "n_periods", "n_obs"} <= set(as_dict)  # fmt: skip


def test_did_is_invariant_to_row_order_and_labels():
    panel = make_panel(30, 6, effect=0.5, seed=10)
    shuffled = panel.sample(frac=1.0, random_state=0)
    shuffled["unit_id"] = "sku-" + shuffled["unit_id"].astype(str)
    shuffled["period"] = pd.Timestamp("2024-01-01") + pd.to_timedelta(7 * shuffled["period"], unit="D")
    a, b = did_estimate(panel, "y"), did_estimate(shuffled, "y")
    assert b.effect == pytest.approx(a.effect, rel=1e-10)
    assert b.std_error == pytest.approx(a.std_error, rel=1e-10)


@pytest.mark.parametrize(
    ("mutate", "match"),
    [
        (lambda p: p.drop(columns="post"), r"missing column\(s\) \['post'\]"),
        (lambda p: p.drop(columns="y"), r"missing column\(s\) \['y'\]"),
        (lambda p: p.assign(y="a"), "'y' must be numeric"),
        (lambda p: p.assign(y=np.where(p.index == 3, np.nan, p["y"])), "'y' has 1 missing"),
        (
            lambda p: p.assign(treated=np.where(p.index == 0, 1 - p["treated"], p["treated"])),
            "constant within each unit",
        ),
        (lambda p: p.assign(post=np.where(p.index == 0, 1 - p["post"], p["post"])), "constant within each period"),
        (lambda p: p.assign(treated=2), "boolean or 0/1"),
        (lambda p: pd.concat([p, p.iloc[:1]]), "duplicated"),
        (lambda p: p.assign(treated=1), "both treated and control"),
        (lambda p: p.assign(post=0), "both pre and post"),
    ],
)
def test_did_rejects_bad_panels(mutate, match):
    panel = make_panel(10, 4, seed=11)
    with pytest.raises(ValueError, match=match):
        did_estimate(mutate(panel), "y")


def test_did_rejects_bad_options():
    panel = make_panel(10, 4, seed=11)
    with pytest.raises(ValueError, match="alpha"):
        did_estimate(panel, "y", alpha=1.5)
    with pytest.raises(ValueError, match="df_correction"):
        did_estimate(panel, "y", df_correction="stata")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="missing column"):
        did_estimate(panel, "y", unit="sku_dc")


def test_treatment_without_post_observations_is_not_identified():
    panel = make_panel(10, 4, seed=12)
    panel = panel[~((panel["treated"] == 1) & (panel["post"] == 1))]
    with pytest.raises(ValueError, match="no variation left"):
        did_estimate(panel, "y")


# ------------------------------------------------------------------ pre-trends
def test_event_study_names_a_period_without_controls():
    # period 1 has treated rows only: its treated x period indicator equals the period
    # dummy there, so nothing is left to compare and the error names that regressor
    panel = make_panel(20, 8, seed=12)
    panel = panel[~((panel["treated"] == 0) & (panel["period"] == 1))]
    with pytest.raises(ValueError, match=r"\['treated x period=1'\] has no variation left"):
        pre_trend_test(panel, "y")


@pytest.mark.parametrize("method", ["event_study", "linear_trend"])
def test_pre_trend_flags_differential_trend(method):
    panel = make_panel(200, 12, effect=-2.0, pre_trend=0.3, seed=13, rho=0.3)
    result = pre_trend_test(panel, "y", method=method)
    assert isinstance(result, PreTrendResult)
    assert not result.parallel_trends_plausible
    assert result.p_value < 1e-4
    assert result.n_pre_periods == 6
    assert result.n_obs == 200 * 6
    if method == "linear_trend":
        assert result.coefficients[0] == pytest.approx(0.3, abs=0.1)


@pytest.mark.parametrize("method", ["event_study", "linear_trend"])
def test_pre_trend_passes_parallel_trends(method):
    panel = make_panel(200, 12, effect=-2.0, seed=14, rho=0.3)
    result = pre_trend_test(panel, "y", method=method)
    assert result.parallel_trends_plausible
    assert result.p_value > 0.2  # far from the 5% boundary for this seed


def test_event_study_coefficients_are_relative_to_last_pre_period():
    panel = make_panel(1000, 8, pre_trend=0.5, seed=15)
    result = pre_trend_test(panel, "y")
    assert result.reference_period == 3
    assert result.periods == (0, 1, 2)
    assert (result.df_num, result.df_denom) == (3, 999)
    # differential trend 0.5 per period: -1.5, -1.0, -0.5 relative to period 3
    deviation = np.abs(np.array(result.coefficients) - [-1.5, -1.0, -0.5])
    assert np.all(deviation < 3 * np.array(result.std_errors))
    assert json.loads(json.dumps(result.to_dict()))["periods"] == [0, 1, 2]


def test_pre_trend_wald_matches_statsmodels_on_event_study_dummies():
    panel = make_panel(30, 8, pre_trend=0.2, seed=16, rho=0.3)
    pre = panel[panel["post"] == 0].reset_index(drop=True)
    design = pd.get_dummies(pre[["unit_id", "period"]].astype(str), drop_first=True).astype(float)
    for s in range(3):
        design[f"g{s}"] = ((pre["treated"] == 1) & (pre["period"] == s)).astype(float)
    reference = sm.OLS(pre["y"].to_numpy(), sm.add_constant(design)).fit(
        cov_type="cluster", cov_kwds={"groups": pre["unit_id"].to_numpy()}, use_t=True
    )
    wald = reference.wald_test("g0 = 0, g1 = 0, g2 = 0", use_f=True, scalar=True)
    result = pre_trend_test(panel, "y")
    assert result.statistic == pytest.approx(float(wald.statistic), rel=1e-8)
    assert result.p_value == pytest.approx(float(wald.pvalue), rel=1e-6)


def test_pre_trend_rejects_bad_inputs():
    panel = make_panel(10, 6, seed=17)
    with pytest.raises(ValueError, match="method"):
        pre_trend_test(panel, "y", method="quadratic")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="at least 2 pre periods"):
        pre_trend_test(panel[panel["period"] >= 2], "y")
    interleaved = panel.assign(post=np.where(panel["period"] == 0, 1, panel["post"]))
    with pytest.raises(ValueError, match="interleave"):
        pre_trend_test(interleaved, "y")
    with pytest.raises(ValueError, match="restrictions"):
        pre_trend_test(make_panel(3, 12, seed=18), "y")
    with pytest.raises(ValueError, match=r"missing column\(s\) \['treated'\]"):
        pre_trend_test(panel.drop(columns="treated"), "y")


# ------------------------------------------------------------------- true effect
def test_true_effect_is_mean_over_treated_post_rows():
    observed = pd.DataFrame(
        {
            "unit_id": [1, 1, 2, 2, 3, 3],
            "period": [0, 1, 0, 1, 0, 1],
            "treated": [1, 1, 1, 1, 0, 0],
            "post": [0, 1, 0, 1, 0, 1],
            "cost": [5.0, 3.0, 6.0, 1.0, 4.0, 4.0],
        }
    )
    counterfactual = observed.assign(cost=[5.0, 4.0, 6.0, 4.0, 4.0, 9.0]).drop(columns=["treated", "post"])
    # treated post rows: (3 - 4) and (1 - 4) -> mean -2.0; control and pre rows ignored
    assert true_effect(observed, counterfactual, "cost") == pytest.approx(-2.0, abs=1e-12)
    with pytest.raises(ValueError, match="lacks 1 of the 2"):
        true_effect(observed, counterfactual.iloc[[0, 2, 3, 4, 5]], "cost")
    with pytest.raises(ValueError, match=r"counterfactual is missing column\(s\) \['cost'\]"):
        true_effect(observed, counterfactual.drop(columns="cost"), "cost")


def test_did_recovers_true_effect_of_simulated_worlds():
    counterfactual = make_panel(300, 10, seed=19, rho=0.3)
    observed = counterfactual.assign(y=counterfactual["y"] - 1.2 * counterfactual["treated"] * counterfactual["post"])
    truth = true_effect(observed, counterfactual, "y")
    assert truth == pytest.approx(-1.2, abs=1e-12)
    result = did_estimate(observed, "y")
    assert result.ci_low < truth < result.ci_high


# ------------------------------------------------------------- treated selection
def test_select_treated_hand_made_frame():
    units = pd.DataFrame(
        {
            "unit_id": list("abcdefgh"),
            "mean_demand": [10.0, 50.0, 40.0, 40.0, 5.0, 60.0, 45.0, 20.0],
            "lead_time_cv": [0.1, 0.2, 0.1, 0.1, 0.05, 0.9, 0.3, 0.2],
        }
    )
    # volume median 40 -> b, c, d, f, g; cv median 0.15 -> a, c, d, e.
    # eligible: c, d (both 40, tie); share 0.25 of 8 units -> 2 chosen.
    mask = select_treated(units, 0.25)
    assert mask.dtype == bool
    assert mask.tolist() == [False, False, True, True, False, False, False, False]
    # share 1/8 -> one unit; tie on volume broken by frame order -> c
    assert select_treated(units, 0.125).tolist() == [False, False, True] + [False] * 5
    # looser stability rule: cv <= 0.2 -> b, c, d eligible; top 2 by volume: b, c
    loose = select_treated(units, 0.25, max_stability_quantile=0.75)
    assert units["unit_id"][loose].tolist() == ["b", "c"]
    # boundaries are inclusive: equal supply variability everywhere keeps all eligible
    flat = units.assign(lead_time_cv=0.1)
    assert units["unit_id"][select_treated(flat, 0.25)].tolist() == ["b", "f"]


def test_select_treated_errors():
    units = pd.DataFrame({"unit_id": [1, 2], "mean_demand": [1.0, 2.0], "lead_time_cv": [0.1, 0.9]})
    with pytest.raises(ValueError, match="no unit is eligible"):
        select_treated(units, 0.5, min_volume_quantile=1.0, max_stability_quantile=0.0)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['lead_time_cv'\]"):
        select_treated(units.drop(columns="lead_time_cv"), 0.5)
    with pytest.raises(ValueError, match="share"):
        select_treated(units, 0.0)
    with pytest.raises(ValueError, match="min_volume_quantile"):
        select_treated(units, 0.5, min_volume_quantile=1.5)
    with pytest.raises(ValueError, match="missing or infinite"):
        select_treated(units.assign(mean_demand=[1.0, np.nan]), 0.5)


# ----------------------------------------------------------- propensity matching
def confounded_units(n: int = 2000, seed: int = 20) -> tuple[pd.DataFrame, np.ndarray]:
    rng = np.random.default_rng(seed)
    units = pd.DataFrame(
        {
            "unit_id": [f"sku{i}" for i in range(n)],
            "mean_demand": rng.lognormal(2.0, 0.5, n),
            "lead_time_cv": rng.uniform(0.05, 0.6, n),
            "price": rng.normal(20.0, 5.0, n),
        }
    )
    logit = -1.8 + 1.2 * (np.log(units["mean_demand"]) - 2.0) / 0.5 - 0.8 * (units["lead_time_cv"] - 0.3) / 0.15
    treated = rng.random(n) < 1.0 / (1.0 + np.exp(-logit))
    return units, treated


def test_propensity_matching_recovers_balance():
    units, treated = confounded_units()
    covariates = ["mean_demand", "lead_time_cv", "price"]
    pairs = propensity_match(units, treated, covariates, caliper=0.2, seed=0)
    assert list(pairs.columns) == ["treated_id", "control_id", "treated_score", "control_score", "distance"]
    assert pairs["control_id"].is_unique and pairs["treated_id"].is_unique
    treated_ids = set(units["unit_id"][treated])
    assert set(pairs["treated_id"]) <= treated_ids and not set(pairs["control_id"]) & treated_ids
    assert (pairs["distance"] <= pairs.attrs["caliper_logit"]).all()
    assert pairs.attrs["n_matched"] + pairs.attrs["n_unmatched_treated"] == treated.sum()
    assert pairs.attrs["n_matched"] == len(pairs) >= 0.8 * treated.sum()

    table = balance_table(units, pairs["treated_id"], pairs["control_id"], covariates, all_treated=treated)
    by_cov = table.set_index("covariate")
    assert by_cov.loc["mean_demand", "smd_before"] > 0.5  # confounded before matching
    assert abs(by_cov.loc["lead_time_cv", "smd_before"]) > 0.3
    assert (table["smd_after"].abs() < table["smd_before"].abs()).loc[[0, 1]].all()
    assert (table["smd_after"].abs() < 0.1).all() and table["balanced"].all()


def test_propensity_matching_is_deterministic_and_caliper_drops():
    units, treated = confounded_units(600, seed=21)
    covariates = ["mean_demand", "lead_time_cv"]
    a = propensity_match(units, treated, covariates, seed=3)
    b = propensity_match(units, treated, covariates, seed=3)
    pd.testing.assert_frame_equal(a, b)
    tight = propensity_match(units, treated, covariates, caliper=1e-4)
    assert tight.attrs["n_unmatched_treated"] > a.attrs["n_unmatched_treated"]
    assert len(tight.attrs["unmatched_treated_ids"]) == tight.attrs["n_unmatched_treated"]
    shuffled = propensity_match(units, treated, covariates, order="random", seed=3)
    assert shuffled["control_id"].is_unique
    scores = propensity_scores(units, treated, covariates)
    assert np.all((scores > 0) & (scores < 1))
    assert scores[treated].mean() > scores[~treated].mean()


def test_balance_table_hand_values():
    units = pd.DataFrame({"unit_id": [1, 2, 3, 4], "x": [0.0, 2.0, 1.0, 3.0]})
    # before: treated {1, 2} mean 1, var 2; controls {3, 4} mean 2, var 2 -> SMD -1/sqrt(2)
    table = balance_table(units, [1, 2], [3, 4], ["x"])
    assert table.loc[0, "smd_before"] == pytest.approx(-1.0 / np.sqrt(2.0))
    # after (treated 2 vs control 3): (2 - 1) / sqrt(2), same denominator
    table = balance_table(units, [2], [3], ["x"], all_treated=np.array([True, True, False, False]))
    assert table.loc[0, "smd_after"] == pytest.approx(1.0 / np.sqrt(2.0))
    assert not table.loc[0, "balanced"]


def test_matching_errors():
    units, treated = confounded_units(100, seed=22)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['price2'\]"):
        propensity_match(units, treated, ["price2"])
    with pytest.raises(ValueError, match="one entry per row"):
        propensity_match(units, treated[:-1], ["price"])
    with pytest.raises(ValueError, match="both treated and control"):
        propensity_match(units, np.ones(len(units), dtype=bool), ["price"])
    with pytest.raises(ValueError, match="caliper"):
        propensity_match(units, treated, ["price"], caliper=-1.0)
    with pytest.raises(ValueError, match=r"missing column\(s\) \['unit_id'\]"):
        propensity_match(units.drop(columns="unit_id"), treated, ["price"])
    with pytest.raises(ValueError, match="not in units"):
        balance_table(units, ["nope"], ["sku1"], ["price"])
    with pytest.raises(ValueError, match="non-empty list"):
        balance_table(units, ["sku0"], ["sku1"], "price")  # type: ignore[arg-type]
