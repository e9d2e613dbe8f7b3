"""Field-test statistics: treated selection, propensity matching, DiD and pre-trends.

The ORPR paper evaluates the policy in a field test: a manager picks SKU-DC pairs to
switch to the new policy, comparable pairs are found by propensity-score matching, and
the effect on a KPI (turnover days, in-stock rate, holding cost, ...) is estimated by
difference-in-differences (DiD). This module is the estimator layer of that analysis:
the DiD, the pre-trend test and the simulated true effect here, the treated selection,
matching and balance in :mod:`orpr_kedro.core.evaluation.matching` (re-exported, so
``did.select_treated`` and friends keep working); the simulated panel comes from
elsewhere.

Tables
------
* ``units``: one row per unit (SKU-DC pair), a ``unit_id`` column and covariates.
* ``panel``: one row per (unit, period) with the outcome, a unit-level 0/1 ``treated``
  indicator and a period-level 0/1 ``post`` indicator (common adoption date: every
  unit switches at the same period, so ``post`` is constant within a period). Panels
  may be unbalanced (units missing some periods); a (unit, period) pair appears at
  most once. Outcomes are in their own units (days, currency, share).

Model
-----
``y_it = a_i + l_t + beta * treated_i * post_t + e_it`` (two-way fixed effects),
estimated with pyfixest's ``feols`` (the Python port of R's fixest: both sets of
fixed effects absorbed by alternating projections, no dummy matrix, so memory is
O(rows)). Standard errors are clustered by unit (arbitrary serial correlation within a unit,
independence across units), with the small-sample correction of a regression on
the full set of dummies (see :func:`did_estimate`); inference uses Student t with
``G - 1`` degrees of freedom, ``G`` the number of clusters (units).

Identification assumes parallel trends (without treatment, treated and control units
would have moved alike after the adoption date), no anticipation and no spill-over
between units; :func:`pre_trend_test` checks the first on the pre-period data.

The fixed-effects regression itself is in :mod:`orpr_kedro.core.evaluation.fixed_effects`.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Literal

import numpy as np
import pandas as pd
from scipy import stats

from orpr_kedro.core.evaluation.fixed_effects import (
    DfCorrection,
    _check_alpha,
    _check_df_correction,
    _fit_clustered,
    _prepare_panel,
    _t_inference,
)
from orpr_kedro.core.evaluation.matching import (
    _binary,
    _finite_numeric,
    _require_columns,
    balance_table,
    propensity_match,
    propensity_scores,
    select_treated,
)

__all__ = [
    "DiDResult",
    "PreTrendResult",
    "balance_table",
    "did_estimate",
    "pre_trend_test",
    "propensity_match",
    "propensity_scores",
    "select_treated",
    "true_effect",
]


@dataclass(frozen=True)
class DiDResult:
    """Difference-in-differences estimate of one outcome (outcome units per period).

    ``effect`` is beta of ``y_it = a_i + l_t + beta * treated_i * post_t + e_it``;
    ``std_error`` is clustered by unit; ``ci_low``/``ci_high`` the ``1 - alpha``
    confidence interval and ``p_value`` the two-sided p-value, both from Student t
    with ``t_df = n_units - 1`` degrees of freedom.
    """

    outcome: str
    effect: float
    std_error: float
    ci_low: float
    ci_high: float
    p_value: float
    n_units: int
    n_treated: int
    n_periods: int
    n_obs: int
    n_post_periods: int = 0
    t_df: int = 0
    alpha: float = 0.05
    df_correction: str = "dummies"

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict of all fields (JSON-serialisable)."""
        return asdict(self)


def did_estimate(
    panel: pd.DataFrame,
    outcome: str,
    *,
    unit: str = "unit_id",
    time: str = "period",
    treated: str = "treated",
    post: str = "post",
    alpha: float = 0.05,
    df_correction: DfCorrection = "dummies",
) -> DiDResult:
    """Two-way fixed-effects DiD with standard errors clustered by unit.

    Model: ``y_it = a_i + l_t + beta * (treated_i * post_t) + e_it``, with unit
    effects ``a_i``, period effects ``l_t``, ``treated_i`` the unit's 0/1 treatment
    group and ``post_t`` the period's 0/1 after-adoption indicator (common adoption
    date). ``beta`` is the average effect on the treated in outcome units, identified
    under parallel trends and no anticipation. Balanced and unbalanced panels are both
    handled (the fixed effects are absorbed by pyfixest to a tolerance of 1e-12; a
    panel split into several disconnected unit-period groups is handled too).

    Standard errors: ``V = c * G^-1 (sum_g s_g s_g') G^-1`` with ``G = X~'X~``,
    ``s_g = X~_g' e_g`` the score of unit ``g`` (``X~`` the regressor after removing
    both fixed effects, ``e`` the residuals) and
    ``c = G/(G-1) * (N-1)/(N-K)`` for ``G`` clusters (units) and ``N`` rows. With
    ``df_correction="dummies"`` (default) ``K`` counts every fixed effect as a
    parameter (``K = n_units + n_periods - n_components + 1``): the within estimate
    then has exactly the standard error of OLS on the full dummy set with
    statsmodels' ``cov_type="cluster"`` (and Stata's ``areg``). Omitting the absorbed
    unit effects from ``K`` would understate the SE by ``sqrt((N-K_all)/(N-K))``,
    which matters for short panels. ``df_correction="nested"`` instead drops the unit
    effects from ``K`` because they are nested in the clusters (Stata ``xtreg, fe`` /
    ``reghdfe``; Cameron and Miller 2015); it is slightly less conservative. The
    confidence interval and p-value use Student t with ``G - 1`` degrees of freedom.

    Raises ValueError naming the column when a column is missing, the outcome is
    non-numeric or non-finite, ``treated`` varies within a unit, ``post`` varies
    within a period, a (unit, period) pair repeats, or there is no treated unit,
    control unit, pre period or post period.

    Cost: O(rows) time and memory in pyfixest's compiled demeaner (900k rows of an
    unbalanced panel over 50 periods: about 3 s on one core).
    """
    _check_alpha(alpha)
    _check_df_correction(df_correction)
    data = _prepare_panel(panel, outcome, unit=unit, time=time, treated=treated, post=post)
    if data.unit_treated.all() or not data.unit_treated.any():
        raise ValueError(f"panel column {treated!r} must mark both treated and control units")
    if data.period_post.all() or not data.period_post.any():
        raise ValueError(f"panel column {post!r} must mark both pre and post periods")

    exposed = data.unit_treated[data.unit_codes] & data.period_post[data.time_codes]
    fit = _fit_clustered(data, {f"{treated} x {post}": exposed}, df_correction)

    effect = float(fit.coef[0])
    std_error = float(fit.std_errors[0])
    t_df = fit.n_clusters - 1
    ci_low, ci_high, p_value = _t_inference(effect, std_error, t_df, alpha)
    return DiDResult(
        outcome=outcome,
        effect=effect,
        std_error=std_error,
        ci_low=float(ci_low),
        ci_high=float(ci_high),
        p_value=p_value,
        n_units=data.n_units,
        n_treated=int(data.unit_treated.sum()),
        n_periods=data.n_periods,
        n_obs=fit.n_obs,
        n_post_periods=int(data.period_post.sum()),
        t_df=t_df,
        alpha=float(alpha),
        df_correction=df_correction,
    )


@dataclass(frozen=True)
class PreTrendResult:
    """Joint test that treated and control units trended alike before adoption.

    ``statistic`` is a Wald F statistic (``W / df_num``) with the unit-clustered
    covariance, referred to F(``df_num``, ``df_denom = n_units - 1``).
    ``coefficients`` are the treated-by-period differences relative to
    ``reference_period`` (``method="event_study"``, one per ``periods`` entry) or the
    treated-minus-control slope per period (``method="linear_trend"``), in outcome
    units; ``std_errors`` their clustered standard errors.
    """

    outcome: str
    method: str
    statistic: float
    df_num: int
    df_denom: int
    p_value: float
    alpha: float
    parallel_trends_plausible: bool
    coefficients: tuple[float, ...]
    std_errors: tuple[float, ...]
    periods: tuple[Any, ...]
    reference_period: Any
    n_pre_periods: int
    n_units: int
    n_treated: int
    n_obs: int

    def to_dict(self) -> dict[str, Any]:
        """Plain-Python dict (tuples as lists, timestamps as ISO strings)."""

        def plain(value: Any) -> Any:
            if isinstance(value, pd.Timestamp | np.datetime64):
                return pd.Timestamp(value).isoformat()
            return value.item() if isinstance(value, np.generic) else value

        out = asdict(self)
        out["periods"] = [plain(p) for p in self.periods]
        out["reference_period"] = plain(self.reference_period)
        out["coefficients"] = list(self.coefficients)
        out["std_errors"] = list(self.std_errors)
        return out


def pre_trend_test(
    panel: pd.DataFrame,
    outcome: str,
    *,
    unit: str = "unit_id",
    time: str = "period",
    treated: str = "treated",
    post: str = "post",
    alpha: float = 0.05,
    method: Literal["event_study", "linear_trend"] = "event_study",
    df_correction: DfCorrection = "dummies",
) -> PreTrendResult:
    """Test of parallel pre-trends on the pre-period rows (``post == 0``) only.

    ``method="event_study"`` (default): fit
    ``y_it = a_i + l_t + sum_{s != ref} g_s * treated_i * 1[t = s] + e_it`` with the
    last pre period as reference and test ``g_s = 0`` for all ``s`` jointly (needs
    fewer pre periods than units). ``method="linear_trend"``: fit
    ``y_it = a_i + l_t + g * treated_i * r_t + e_it`` with ``r_t`` the rank of the
    period (0, 1, ...; assumes equally spaced periods) and test ``g = 0``; more power
    against a steady drift, none against a non-linear one. Both use the unit-clustered
    covariance and correction of :func:`did_estimate` and an F(q, G - 1) reference
    distribution. ``parallel_trends_plausible`` is ``p_value >= alpha``: failing to
    reject is evidence of absence only when the test has power (enough units and
    pre periods).

    Raises ValueError as :func:`did_estimate` does, and when pre and post periods
    interleave, there are fewer than 2 pre periods, or the number of restrictions is
    not below the number of units.
    """
    _check_alpha(alpha)
    _check_df_correction(df_correction)
    if method not in ("event_study", "linear_trend"):
        raise ValueError(f"method must be 'event_study' or 'linear_trend', got {method!r}")
    full = _prepare_panel(panel, outcome, unit=unit, time=time, treated=treated, post=post)
    if np.any(np.diff(full.period_post.astype(int)) < 0):
        raise ValueError(
            f"panel column {post!r} must switch once from 0 to 1 over time; pre and post periods interleave"
        )
    pre_rows = np.flatnonzero(~full.period_post[full.time_codes])
    if len(pre_rows) == 0:
        raise ValueError(f"panel has no pre-period rows ({post!r} == 0)")
    data = _prepare_panel(panel, outcome, unit=unit, time=time, treated=treated, post=post, rows=pre_rows)
    if data.n_periods < 2:
        raise ValueError(f"pre-trend test needs at least 2 pre periods, got {data.n_periods}")
    if data.unit_treated.all() or not data.unit_treated.any():
        raise ValueError(f"panel column {treated!r} must mark both treated and control units in the pre periods")

    n_obs = len(data.y)
    is_treated = data.unit_treated[data.unit_codes]
    reference = data.n_periods - 1
    regressors: dict[str, np.ndarray] = {}
    labels: list[Any] = []
    if method == "event_study":
        # pre periods other than the reference with treated rows, one indicator each
        for s in np.unique(data.time_codes[is_treated & (data.time_codes != reference)]):
            labels.append(data.periods[s])
            regressors[f"{treated} x {time}={data.periods[s]}"] = is_treated & (data.time_codes == s)
    else:
        regressors[f"{treated} x linear trend"] = np.where(is_treated, data.time_codes, 0).astype(np.float64)
    q = len(regressors)
    if q == 0:
        raise ValueError("no treated rows outside the reference period; nothing to test")
    if q >= data.n_units:
        raise ValueError(
            f"{q} restrictions need more than {q} units for a clustered Wald test, got {data.n_units}; "
            "use method='linear_trend'"
        )
    fit = _fit_clustered(data, regressors, df_correction)
    df_denom = fit.n_clusters - 1
    statistic = fit.wald / q
    p_value = float(stats.f.sf(statistic, q, df_denom))
    return PreTrendResult(
        outcome=outcome,
        method=method,
        statistic=statistic,
        df_num=q,
        df_denom=df_denom,
        p_value=p_value,
        alpha=float(alpha),
        parallel_trends_plausible=bool(p_value >= alpha),
        coefficients=tuple(float(c) for c in fit.coef),
        std_errors=tuple(float(s) for s in fit.std_errors),
        periods=tuple(labels),
        reference_period=data.periods[reference],
        n_pre_periods=data.n_periods,
        n_units=data.n_units,
        n_treated=int(data.unit_treated.sum()),
        n_obs=n_obs,
    )


def true_effect(
    observed: pd.DataFrame,
    counterfactual: pd.DataFrame,
    outcome: str,
    *,
    unit: str = "unit_id",
    time: str = "period",
    treated: str = "treated",
    post: str = "post",
) -> float:
    """True average effect on the treated (ATT) from the two simulated worlds.

    Mean of ``observed - counterfactual`` outcome over the treated units' post-period
    rows of ``observed`` (each unit-period weighs the same, as in the DiD), in outcome
    units. ``counterfactual`` is the same panel simulated without treatment and needs
    ``unit``, ``time`` and ``outcome`` for every one of those rows.
    """
    _require_columns(observed, [unit, time, treated, post, outcome], "observed")
    _require_columns(counterfactual, [unit, time, outcome], "counterfactual")
    is_treated = _binary(observed[treated].to_numpy(), f"observed column {treated!r}")
    is_post = _binary(observed[post].to_numpy(), f"observed column {post!r}")
    target = observed.loc[is_treated & is_post, [unit, time, outcome]]
    if target.empty:
        raise ValueError(f"observed has no rows with {treated!r} == 1 and {post!r} == 1")
    if counterfactual.duplicated([unit, time]).any():
        raise ValueError(f"counterfactual has duplicated ({unit!r}, {time!r}) rows")
    if target.duplicated([unit, time]).any():
        raise ValueError(f"observed has duplicated ({unit!r}, {time!r}) rows")
    merged = target.merge(
        counterfactual[[unit, time, outcome]], on=[unit, time], how="left", suffixes=("_obs", "_cf"), indicator=True
    )
    missing = int((merged["_merge"] != "both").sum())
    if missing:
        raise ValueError(f"counterfactual lacks {missing} of the {len(target)} treated post-period rows of observed")
    observed_y = _finite_numeric(merged, f"{outcome}_obs", "observed")
    counterfactual_y = _finite_numeric(merged, f"{outcome}_cf", "counterfactual")
    return float(np.mean(observed_y - counterfactual_y))
