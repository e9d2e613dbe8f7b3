"""The two-way fixed-effects regression under the DiD: panel preparation, the clustered fit, t inference.

``y_it = a_i + l_t + x_it' b + e_it``, fitted with pyfixest's ``feols`` (both sets of fixed
effects absorbed by alternating projections to the tolerance :data:`_FIXEF_TOL`), standard
errors clustered by unit with the small-sample correction ``df_correction`` names, and
Student t with ``G - 1`` degrees of freedom (``G`` clusters). See
:mod:`orpr_kedro.core.evaluation.did` for the tables and model.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd
from scipy import sparse, stats
from scipy.sparse.csgraph import connected_components

from orpr_kedro.core.evaluation.matching import (
    _binary,
    _finite_numeric,
    _require_columns,
)

DfCorrection = Literal["dummies", "nested"]
_DF_CORRECTIONS = ("dummies", "nested")
# Convergence tolerance of the alternating projections that absorb the fixed effects
# (exact in one sweep on a balanced panel; unbalanced panels iterate to it).
_FIXEF_TOL = 1e-12


def _check_alpha(alpha: float) -> None:
    if not 0.0 < float(alpha) < 1.0:
        raise ValueError(f"alpha must be in (0, 1), got {alpha}")


def _check_df_correction(df_correction: str) -> None:
    if df_correction not in _DF_CORRECTIONS:
        raise ValueError(f"df_correction must be one of {_DF_CORRECTIONS}, got {df_correction!r}")


@dataclass(frozen=True)
class _FixedEffectsFit:
    coef: np.ndarray  # (k,)
    std_errors: np.ndarray  # (k,), clustered, corrected
    wald: float  # b' V^-1 b over all k coefficients, V clustered and corrected
    n_obs: int
    n_clusters: int


def _fixed_effect_rank(unit_codes: np.ndarray, time_codes: np.ndarray, n_units: int, n_periods: int) -> int:
    """Number of linearly independent unit and period dummies (with an intercept).

    ``n_units + n_periods`` minus the number of connected components of the
    unit-period graph: one dummy is redundant per component, so a panel split into
    groups observed in disjoint periods loses one more rank per extra group.
    """
    ones = np.ones(len(unit_codes))
    size = n_units + n_periods
    graph = sparse.csr_matrix((ones, (unit_codes, n_units + time_codes)), shape=(size, size))
    return size - int(connected_components(graph, directed=False)[0])


def _fit_clustered(data: _Panel, regressors: dict[str, np.ndarray], df_correction: str) -> _FixedEffectsFit:
    """OLS of the outcome on ``regressors`` and both fixed effects, clustered by unit.

    The estimate is pyfixest's ``feols`` (``y ~ x... | unit + period``, unit and period
    effects absorbed by alternating projections to a tolerance of 1e-12, singletons
    kept) with its CRV1 covariance taken without small-sample factors; the factor
    ``G/(G-1) * (N-1)/(N-K)`` is then applied here with ``K`` counted exactly as
    ``df_correction`` says (see :func:`did_estimate`), including the rank lost to
    disconnected unit-period groups.
    """
    import pyfixest as pf
    from pyfixest.demeaners import MapDemeaner

    n_obs, n_clusters = len(data.y), data.n_units
    if n_clusters < 2:
        raise ValueError("clustered standard errors need at least 2 units")
    names = list(regressors)
    columns = [f"x{j}" for j in range(len(names))]
    frame = pd.DataFrame(
        {"y": data.y, "unit": data.unit_codes, "period": data.time_codes}
        | {column: values.astype(np.float64) for column, values in zip(columns, regressors.values(), strict=True)}
    )

    def not_identified(bad: list[str]) -> ValueError:
        return ValueError(
            f"{bad} has no variation left after unit and period fixed effects; "
            "it needs treated and control units observed in the periods it compares"
        )

    try:
        # pyfixest warns when it drops a collinear column (handled below); its t statistics and
        # R-squared, unused here, divide by zero on an outcome the fixed effects explain fully
        with warnings.catch_warnings(), np.errstate(divide="ignore", invalid="ignore"):
            warnings.simplefilter("ignore", UserWarning)
            fit = pf.feols(
                f"y ~ {' + '.join(columns)} | unit + period",
                data=frame,
                vcov={"CRV1": "unit"},
                ssc=pf.ssc(k_adj=False, G_adj=False),
                fixef_rm="none",
                demeaner=MapDemeaner(fixef_tol=_FIXEF_TOL),
            )
            coef, raw_se = fit.coef(), fit.se()
            raw_wald = float(fit.wald_test(distribution="chi2")["statistic"]) if coef.index.tolist() == columns else 0.0
    except ValueError as err:  # every regressor collinear with the fixed effects
        if "collinear" not in str(err):
            raise
        raise not_identified(names) from err
    if coef.index.tolist() != columns:
        raise not_identified([name for name, column in zip(names, columns, strict=True) if column not in coef.index])
    fe_rank = _fixed_effect_rank(data.unit_codes, data.time_codes, data.n_units, data.n_periods)
    # "dummies": every fixed effect counts as a parameter; "nested": unit effects are
    # nested in the unit clusters and do not count (they are absorbed by the cluster
    # structure); the intercept and independent period effects do.
    k = len(columns)
    n_params = fe_rank + k if df_correction == "dummies" else fe_rank - data.n_units + 1 + k
    if n_obs <= n_params:
        raise ValueError(f"{n_obs} observations cannot identify {n_params} parameters")
    factor = n_clusters / (n_clusters - 1.0) * (n_obs - 1.0) / (n_obs - n_params)
    return _FixedEffectsFit(
        coef=coef.to_numpy(dtype=np.float64),
        std_errors=np.sqrt(factor) * raw_se.to_numpy(dtype=np.float64),
        wald=raw_wald / factor,
        n_obs=n_obs,
        n_clusters=n_clusters,
    )


@dataclass(frozen=True)
class _Panel:
    y: np.ndarray
    unit_codes: np.ndarray
    time_codes: np.ndarray
    periods: np.ndarray  # sorted period labels
    unit_treated: np.ndarray  # (n_units,) bool
    period_post: np.ndarray  # (n_periods,) bool

    @property
    def n_units(self) -> int:
        return len(self.unit_treated)

    @property
    def n_periods(self) -> int:
        return len(self.period_post)


def _prepare_panel(
    panel: pd.DataFrame,
    outcome: str,
    *,
    unit: str,
    time: str,
    treated: str,
    post: str,
    rows: np.ndarray | None = None,
) -> _Panel:
    """Validated codes and indicators of a DiD panel (optionally a subset of rows)."""
    _require_columns(panel, [unit, time, treated, post, outcome], "panel")
    if len(panel) == 0:
        raise ValueError("panel is empty")
    for column in (unit, time):
        if panel[column].isna().any():
            raise ValueError(f"panel column {column!r} has missing values")
    y_all = _finite_numeric(panel, outcome, "panel")
    treated_all = _binary(panel[treated].to_numpy(), f"panel column {treated!r}")
    post_all = _binary(panel[post].to_numpy(), f"panel column {post!r}")
    unit_codes, _ = pd.factorize(panel[unit], sort=False)
    try:
        time_codes, periods = pd.factorize(panel[time], sort=True)
    except TypeError as err:
        raise ValueError(f"panel column {time!r} must hold sortable period labels") from err
    if pd.Series(unit_codes.astype(np.int64) * len(periods) + time_codes).duplicated().any():
        raise ValueError(
            f"panel has duplicated ({unit!r}, {time!r}) rows; expected at most one row per unit and period"
        )
    if rows is not None:
        y_all, treated_all, post_all = y_all[rows], treated_all[rows], post_all[rows]
        unit_codes, time_codes = unit_codes[rows], time_codes[rows]
        if len(y_all) == 0:
            raise ValueError("no rows left in the selected part of the panel")
    unit_codes, unit_index = pd.factorize(unit_codes, sort=True)
    time_codes, time_index = pd.factorize(time_codes, sort=True)
    periods = np.asarray(periods)[np.asarray(time_index)]
    n_units, n_periods = len(unit_index), len(time_index)

    treated_count = np.bincount(unit_codes, weights=treated_all, minlength=n_units)
    unit_size = np.bincount(unit_codes, minlength=n_units)
    if np.any((treated_count > 0) & (treated_count < unit_size)):
        raise ValueError(f"panel column {treated!r} must be constant within each unit (a unit is treated or not)")
    post_count = np.bincount(time_codes, weights=post_all, minlength=n_periods)
    period_size = np.bincount(time_codes, minlength=n_periods)
    if np.any((post_count > 0) & (post_count < period_size)):
        raise ValueError(
            f"panel column {post!r} must be constant within each period (common adoption date); "
            "staggered adoption is not supported"
        )
    return _Panel(
        y=y_all,
        unit_codes=unit_codes,
        time_codes=time_codes,
        periods=periods,
        unit_treated=treated_count > 0,
        period_post=post_count > 0,
    )


def _t_inference(effect: float, std_error: float, df: int, alpha: float) -> tuple[float, float, float]:
    """(ci_low, ci_high, two-sided p-value) from Student t with ``df`` degrees of freedom."""
    half = stats.t.ppf(1.0 - alpha / 2.0, df) * std_error
    if std_error > 0:
        p_value = float(2.0 * stats.t.sf(abs(effect / std_error), df))
    else:  # a perfect fit: any non-zero effect is certain, a zero one undefined
        p_value = 0.0 if effect != 0 else float("nan")
    return effect - half, effect + half, p_value
