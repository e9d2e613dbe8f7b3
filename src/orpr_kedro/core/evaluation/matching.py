"""Field-test units: treated selection, propensity-score matching and covariate balance.

The first half of the field-test design of the ORPR paper: a manager picks the SKU-DC
pairs (units) to switch to the new policy (:func:`select_treated`), comparable
control units are found by propensity-score matching (:func:`propensity_match`) and
the match is judged by standardised mean differences (:func:`balance_table`). The
effect is then estimated by difference-in-differences in
:mod:`orpr_kedro.core.evaluation.did`, which also re-exports these functions.

``units``: one row per unit, a ``unit_id`` column (or another ``unit``) and numeric
covariates (volume in units per day, lead-time coefficient of variation, ...).
"""

from __future__ import annotations

from typing import Any, Literal

import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.preprocessing import StandardScaler

__all__ = ["balance_table", "propensity_match", "propensity_scores", "select_treated"]


# --------------------------------------------------------------------------- checks
def _require_columns(frame: pd.DataFrame, columns: list[str], what: str) -> None:
    if not isinstance(frame, pd.DataFrame):
        raise ValueError(f"{what} must be a pandas DataFrame, got {type(frame).__name__}")
    missing = [c for c in columns if c not in frame.columns]
    if missing:
        raise ValueError(f"{what} is missing column(s) {missing}; it has {list(frame.columns)}")


def _finite_numeric(frame: pd.DataFrame, column: str, what: str) -> np.ndarray:
    values = frame[column]
    if not (pd.api.types.is_numeric_dtype(values) or pd.api.types.is_bool_dtype(values)):
        raise ValueError(f"{what} column {column!r} must be numeric, got dtype {values.dtype}")
    out = values.to_numpy(dtype=np.float64, na_value=np.nan)
    if not np.all(np.isfinite(out)):
        raise ValueError(f"{what} column {column!r} has {int((~np.isfinite(out)).sum())} missing or infinite value(s)")
    return out


def _binary(values: Any, name: str) -> np.ndarray:
    """0/1 or boolean values as a bool array; ValueError naming ``name`` otherwise."""
    arr = np.asarray(values)
    if arr.dtype == bool:
        return arr
    if not np.issubdtype(arr.dtype, np.number):
        raise ValueError(f"{name} must be boolean or 0/1, got dtype {arr.dtype}")
    if not np.all(np.isin(arr, (0, 1))):
        bad = arr[~np.isin(arr, (0, 1))][:5]
        raise ValueError(f"{name} must be boolean or 0/1, found values such as {bad.tolist()}")
    return arr.astype(bool)


# ------------------------------------------------------------------ treated units
def select_treated(
    units: pd.DataFrame,
    share: float,
    *,
    volume_column: str = "mean_demand",
    stability_column: str = "lead_time_cv",
    min_volume_quantile: float = 0.5,
    max_stability_quantile: float = 0.5,
) -> np.ndarray:
    """Manager-like choice of the treated units (SKU-DC pairs) of a field test.

    A unit is eligible when its volume (``volume_column``, e.g. mean daily demand in
    units) is at or above the ``min_volume_quantile`` quantile of all units AND its
    supply variability (``stability_column``, e.g. coefficient of variation of the
    lead time, dimensionless) is at or below the ``max_stability_quantile`` quantile.
    Among eligible units the ``round(share * len(units))`` (at least 1) with the
    largest volume are chosen; if fewer are eligible, all eligible ones are chosen.
    Quantiles use numpy's linear interpolation. Ties in volume are broken by the row
    order of ``units`` (earlier rows first), so the result is deterministic.

    Returns a boolean mask aligned with the rows of ``units``. Raises ValueError when
    a column is missing or non-finite, ``share`` is not in (0, 1], a quantile is not
    in [0, 1], or no unit is eligible.

    Selection on volume and supply stability is what makes treated units differ from
    the rest, hence the propensity matching (:func:`propensity_match`).
    """
    _require_columns(units, [volume_column, stability_column], "units")
    if not 0.0 < float(share) <= 1.0:
        raise ValueError(f"share must be in (0, 1], got {share}")
    for name, q in (("min_volume_quantile", min_volume_quantile), ("max_stability_quantile", max_stability_quantile)):
        if not 0.0 <= float(q) <= 1.0:
            raise ValueError(f"{name} must be in [0, 1], got {q}")
    if len(units) == 0:
        raise ValueError("units is empty")
    volume = _finite_numeric(units, volume_column, "units")
    stability = _finite_numeric(units, stability_column, "units")

    eligible = (volume >= np.quantile(volume, min_volume_quantile)) & (
        stability <= np.quantile(stability, max_stability_quantile)
    )
    if not eligible.any():
        raise ValueError(
            f"no unit is eligible: none has {volume_column} >= its {min_volume_quantile} quantile "
            f"and {stability_column} <= its {max_stability_quantile} quantile; relax the quantiles"
        )
    n_target = max(1, int(np.floor(share * len(units) + 0.5)))
    candidates = np.flatnonzero(eligible)
    # stable sort on -volume keeps frame order among ties
    ranked = candidates[np.argsort(-volume[candidates], kind="stable")]
    chosen = np.zeros(len(units), dtype=bool)
    chosen[ranked[:n_target]] = True
    return chosen


# ------------------------------------------------------------ propensity matching
def propensity_scores(
    units: pd.DataFrame,
    treated: np.ndarray,
    covariates: list[str],
    *,
    regularization: float = 1.0,
    seed: int = 0,
) -> np.ndarray:
    """Propensity scores P(treated | covariates) per row of ``units`` (probabilities).

    Logistic regression (scikit-learn, L2 penalty with inverse strength
    ``regularization`` on covariates standardised to mean 0 and standard deviation
    1, lbfgs solver, so deterministic). The mild penalty keeps the scores finite when
    the covariates nearly separate the groups.
    """
    features, is_treated = _matching_inputs(units, treated, covariates)
    return _fit_propensity(features, is_treated, regularization, seed)[0]


def _matching_inputs(units: pd.DataFrame, treated: np.ndarray, covariates: list[str]) -> tuple[np.ndarray, np.ndarray]:
    if isinstance(covariates, str) or len(covariates) == 0:
        raise ValueError(f"covariates must be a non-empty list of column names, got {covariates!r}")
    _require_columns(units, list(covariates), "units")
    is_treated = _binary(treated, "treated")
    if is_treated.shape != (len(units),):
        raise ValueError(f"treated must have one entry per row of units ({len(units)}), got shape {is_treated.shape}")
    if is_treated.all() or not is_treated.any():
        raise ValueError("treated must contain both treated and control units")
    features = np.column_stack([_finite_numeric(units, c, "units") for c in covariates])
    return features, is_treated


def _fit_propensity(
    features: np.ndarray, is_treated: np.ndarray, regularization: float, seed: int
) -> tuple[np.ndarray, np.ndarray]:
    """(scores, logits) of a standardised L2 logistic regression."""
    if not float(regularization) > 0.0:
        raise ValueError(f"regularization must be > 0, got {regularization}")
    scaled = StandardScaler().fit_transform(features)
    model = LogisticRegression(C=float(regularization), solver="lbfgs", max_iter=10_000, random_state=seed)
    model.fit(scaled, is_treated.astype(int))
    logit = model.decision_function(scaled)
    return 1.0 / (1.0 + np.exp(-logit)), logit


def propensity_match(
    units: pd.DataFrame,
    treated: np.ndarray,
    covariates: list[str],
    *,
    caliper: float | None = 0.2,
    seed: int = 0,
    unit: str = "unit_id",
    order: Literal["largest", "random"] = "largest",
    regularization: float = 1.0,
) -> pd.DataFrame:
    """1:1 nearest-neighbour propensity-score matching without replacement.

    Scores come from :func:`propensity_scores`. Treated units are matched greedily,
    in decreasing order of their score (``order="largest"``, the hardest to match
    first) or in an order shuffled with ``seed`` (``order="random"``), each to the
    nearest still-unused control on the logit of the score (ties: the control earlier
    in ``units``). A match is kept only when the logit distance is at most
    ``caliper`` standard deviations of the logit over all units (Austin 2011
    recommends 0.2); ``caliper=None`` matches without a caliper. Treated units without
    a control inside the caliper are dropped.

    Returns one row per matched pair, in the row order of the treated units:
    ``treated_id, control_id`` (values of ``unit``), ``treated_score, control_score``
    (probabilities) and ``distance`` (absolute logit difference). ``frame.attrs``
    holds ``n_treated``, ``n_matched``, ``n_unmatched_treated``,
    ``unmatched_treated_ids`` and ``caliper_logit`` (the caliper in logit units).
    The matched pairs estimate the effect on the treated (ATT) population that
    remains after dropping; report ``n_unmatched_treated``.
    """
    _require_columns(units, [unit], "units")
    if caliper is not None and not float(caliper) > 0.0:
        raise ValueError(f"caliper must be > 0 (standard deviations of the logit) or None, got {caliper}")
    if order not in ("largest", "random"):
        raise ValueError(f"order must be 'largest' or 'random', got {order!r}")
    ids = units[unit].to_numpy()
    if units[unit].duplicated().any():
        raise ValueError(f"units column {unit!r} has duplicated ids; expected one row per unit")
    features, is_treated = _matching_inputs(units, treated, covariates)
    score, logit = _fit_propensity(features, is_treated, regularization, seed)

    caliper_logit = np.inf if caliper is None else float(caliper) * float(np.std(logit, ddof=1))
    treated_rows = np.flatnonzero(is_treated)
    control_rows = np.flatnonzero(~is_treated)
    control_logit = logit[control_rows]
    if order == "largest":
        sequence = treated_rows[np.argsort(-logit[treated_rows], kind="stable")]
    else:
        sequence = np.random.default_rng(seed).permutation(treated_rows)

    # Greedy matching is sequential by nature: one pass per treated unit, vectorised
    # over the controls.
    used = np.zeros(len(control_rows), dtype=bool)
    match_of = np.full(len(units), -1, dtype=np.int64)
    for row in sequence:
        distance = np.abs(control_logit - logit[row])
        distance[used] = np.inf
        best = int(np.argmin(distance))
        if distance[best] <= caliper_logit:
            used[best] = True
            match_of[row] = control_rows[best]

    matched = treated_rows[match_of[treated_rows] >= 0]
    partner = match_of[matched]
    pairs = pd.DataFrame(
        {
            "treated_id": ids[matched],
            "control_id": ids[partner],
            "treated_score": score[matched],
            "control_score": score[partner],
            "distance": np.abs(logit[matched] - logit[partner]),
        }
    )
    unmatched = treated_rows[match_of[treated_rows] < 0]
    pairs.attrs.update(
        n_treated=len(treated_rows),
        n_matched=len(matched),
        n_unmatched_treated=len(unmatched),
        unmatched_treated_ids=ids[unmatched].tolist(),
        caliper_logit=caliper_logit,
    )
    return pairs


def balance_table(
    units: pd.DataFrame,
    treated_ids: Any,
    control_ids: Any,
    covariates: list[str],
    *,
    all_treated: np.ndarray | None = None,
    unit: str = "unit_id",
    threshold: float = 0.1,
) -> pd.DataFrame:
    """Covariate balance before and after matching: standardised mean differences.

    ``SMD = (mean_treated - mean_control) / sqrt((var_treated + var_control) / 2)``
    with sample variances (ddof=1). The denominator is always the one of the sample
    BEFORE matching (Stuart 2010), so a smaller SMD after matching reflects closer
    means, not a changed spread. "Before" compares all treated units (``all_treated``:
    a boolean mask over the rows of ``units`` or a list of ids; default
    ``treated_ids``) with all other units; "after" compares ``treated_ids`` with
    ``control_ids`` (repeated ids count repeatedly). The usual rule: |SMD| < 0.1 after
    matching.

    Returns one row per covariate: ``covariate, mean_treated_before,
    mean_control_before, smd_before, mean_treated_after, mean_control_after,
    smd_after, balanced`` (``|smd_after| < threshold``).
    """
    if isinstance(covariates, str) or len(covariates) == 0:
        raise ValueError(f"covariates must be a non-empty list of column names, got {covariates!r}")
    _require_columns(units, [unit, *covariates], "units")
    if units[unit].duplicated().any():
        raise ValueError(f"units column {unit!r} has duplicated ids; expected one row per unit")
    index = pd.Index(units[unit])

    def rows_of(ids: Any, name: str) -> np.ndarray:
        ids = np.asarray(ids)
        rows = index.get_indexer(ids)
        if (rows < 0).any():
            raise ValueError(f"{name} has ids not in units[{unit!r}]: {ids[rows < 0][:5].tolist()}")
        if len(rows) == 0:
            raise ValueError(f"{name} is empty")
        return rows

    treated_rows = rows_of(treated_ids, "treated_ids")
    control_rows = rows_of(control_ids, "control_ids")
    if all_treated is None:
        before = np.zeros(len(units), dtype=bool)
        before[treated_rows] = True
    elif np.asarray(all_treated).dtype == bool:
        before = np.asarray(all_treated)
        if before.shape != (len(units),):
            raise ValueError(f"all_treated mask must have one entry per row of units ({len(units)})")
    else:
        before = np.zeros(len(units), dtype=bool)
        before[rows_of(all_treated, "all_treated")] = True
    if before.all():
        raise ValueError("all_treated covers every unit; no control units before matching")

    values = np.column_stack([_finite_numeric(units, c, "units") for c in covariates])
    mean_t0, mean_c0 = values[before].mean(axis=0), values[~before].mean(axis=0)
    var_t0 = values[before].var(axis=0, ddof=1) if before.sum() > 1 else np.zeros(len(covariates))
    var_c0 = values[~before].var(axis=0, ddof=1) if (~before).sum() > 1 else np.zeros(len(covariates))
    scale = np.sqrt((var_t0 + var_c0) / 2.0)
    mean_t1, mean_c1 = values[treated_rows].mean(axis=0), values[control_rows].mean(axis=0)

    def smd(diff: np.ndarray) -> np.ndarray:
        with np.errstate(divide="ignore", invalid="ignore"):
            out = diff / scale
        return np.where(scale > 0, out, np.where(diff == 0, 0.0, np.sign(diff) * np.inf))

    smd_after = smd(mean_t1 - mean_c1)
    return pd.DataFrame(
        {
            "covariate": list(covariates),
            "mean_treated_before": mean_t0,
            "mean_control_before": mean_c0,
            "smd_before": smd(mean_t0 - mean_c0),
            "mean_treated_after": mean_t1,
            "mean_control_after": mean_c1,
            "smd_after": smd_after,
            "balanced": np.abs(smd_after) < threshold,
        }
    )
