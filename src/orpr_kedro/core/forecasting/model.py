"""The forecaster interface and the global gradient-boosting forecaster.

From every decision date (the *origin*), a forecaster predicts daily demand of
every lane for the next ``horizon_days`` days (horizon 0 = the decision date
itself, whose sales are not yet known when the order is placed), with a spread.
Every forecaster has the interface of :class:`Forecaster`; three exist:

* ``lightgbm``: one global LightGBM model (Poisson or Tweedie objective) over all
  lanes, on the features of :mod:`~orpr_kedro.core.forecasting.features`;
* ``hist_gradient_boosting``: the same global model with scikit-learn's
  ``HistGradientBoostingRegressor`` (Poisson loss), through its public API only;
* a forecast the planners bring (:mod:`~orpr_kedro.core.forecasting.provided`).

The global models predict demand relative to the lane's recent level and are
kept inside per-lane sanity bounds (:class:`DemandForecaster`); a forecast that is
not finite stops the run. Uncertainty: negative-binomial demand around the mean
with a per-lane dispersion (:mod:`~orpr_kedro.core.forecasting.uncertainty`).
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any, Protocol, runtime_checkable

import numpy as np
import pandas as pd
from sklearn.ensemble import HistGradientBoostingRegressor

from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.forecasting.accuracy import (
    bias,
    forecast_accuracy,
    forecast_errors,
    pinball_loss,
    seasonal_naive,
    wape,
)
from orpr_kedro.core.forecasting.features import FEATURE_NAMES, LOOKBACK_DAYS, build_features
from orpr_kedro.core.forecasting.panels import DemandPanels, build_demand_panels
from orpr_kedro.core.forecasting.uncertainty import (
    estimate_dispersion,
    negative_binomial_quantile,
    quantile_column,
    sample_demand,
)
from orpr_kedro.core.params import ForecastParams

__all__ = [
    "AveragedRegressor",
    "FEATURE_NAMES",
    "LOOKBACK_DAYS",
    "DemandForecaster",
    "DemandPanels",
    "Forecaster",
    "NonFiniteForecastError",
    "bias",
    "build_demand_panels",
    "estimate_dispersion",
    "fit_forecaster",
    "forecast_accuracy",
    "forecast_errors",
    "forecast_table",
    "negative_binomial_quantile",
    "pinball_loss",
    "quantile_column",
    "sample_demand",
    "seasonal_naive",
    "wape",
]

logger = logging.getLogger(__name__)

_LANE_CHUNK = 512
# feature rows (lane x origin x horizon) per block when forecasting: bounds memory; the
# forecast is row-wise, so any block size gives the same numbers
_PREDICT_ROWS = 100_000


class NonFiniteForecastError(ValueError):
    """The forecaster produced NaN or infinite demand: nothing downstream may use it."""


@runtime_checkable
class Forecaster(Protocol):
    """What every later stage reads from a forecaster.

    ``dispersion`` is the negative-binomial ``phi`` per lane (variance
    ``mu + phi * mu**2``); ``horizon_days`` the days forecast from each origin;
    ``quantiles`` the levels of the forecast table.
    """

    dispersion: np.ndarray
    horizon_days: int
    quantiles: tuple[float, ...]

    def predict_mean(
        self,
        panels: DemandPanels,
        origins: np.ndarray,
        lanes: np.ndarray | None = None,
        horizon_days: int | None = None,
    ) -> np.ndarray:
        """Forecast means ``[lane, origin, horizon]`` (units per day) for origin day indices of ``panels``."""
        ...

    def std(self, mean: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        """Standard deviation of daily demand given means shaped ``[lane, ...]``."""
        ...

    def quantile(
        self,
        level: float,
        mean: np.ndarray,
        lanes: np.ndarray,
        panels: DemandPanels | None = None,
        origins: np.ndarray | None = None,
    ) -> np.ndarray:
        """Quantile ``level`` of daily demand, shaped like ``mean`` (``[lane, origin, horizon]``)."""
        ...


class NegativeBinomialSpread:
    """Spread of a forecaster with a per-lane ``dispersion``: standard deviations and quantiles."""

    dispersion: np.ndarray

    def std(self, mean: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        """Standard deviation of daily demand given means shaped ``[lane, ...]``."""
        phi = self.dispersion[lanes].reshape((-1,) + (1,) * (mean.ndim - 1))
        return np.sqrt(mean + phi * mean**2)

    def quantile(
        self,
        level: float,
        mean: np.ndarray,
        lanes: np.ndarray,
        panels: DemandPanels | None = None,
        origins: np.ndarray | None = None,
    ) -> np.ndarray:
        """Negative-binomial quantile of daily demand (units); ``panels`` and ``origins`` are not needed."""
        return negative_binomial_quantile(level, mean, self.dispersion[lanes].reshape((-1,) + (1,) * (mean.ndim - 1)))


def check_finite(mean: np.ndarray, lanes: np.ndarray, what: str) -> None:
    """Raise :class:`NonFiniteForecastError` naming the lanes when ``mean`` holds NaN or infinity.

    ``mean`` is ``[lane, ...]`` with rows in the order of ``lanes``.
    """
    bad = ~np.isfinite(mean.reshape(len(lanes), -1)).all(axis=1)
    if bad.any():
        shown = ", ".join(str(lane) for lane in lanes[bad][:10])
        raise NonFiniteForecastError(
            f"{what}: the forecast is not finite (NaN or infinite) on {int(bad.sum())} lane(s) "
            f"(lane_id {shown}{', ...' if bad.sum() > 10 else ''}); check rpt_data_quality and the sales of "
            "these lanes, or the forecaster's parameters"
        )


@dataclass
class DemandForecaster(NegativeBinomialSpread):
    """A fitted global model with per-lane negative-binomial dispersion and sanity bounds.

    ``model`` is any fitted regressor with a public ``predict(features)`` that returns
    demand relative to the lane's level (LightGBM or scikit-learn). Each predicted
    mean is capped at ``max(cap_history_multiple * the lane's largest daily sales
    before the origin, cap_level_multiple * the lane's 91-day level)``; the caps
    applied by the last :meth:`predict_mean` are in ``last_capped``.
    """

    model: Any
    dispersion: np.ndarray
    global_dispersion: float
    horizon_days: int
    quantiles: tuple[float, ...]
    unobserved_features: np.ndarray
    feature_names: tuple[str, ...] = FEATURE_NAMES
    kind: str = "hist_gradient_boosting"
    cap_history_multiple: float = 5.0
    cap_level_multiple: float = 20.0
    last_capped: int = 0

    def predict_mean(
        self,
        panels: DemandPanels,
        origins: np.ndarray,
        lanes: np.ndarray | None = None,
        horizon_days: int | None = None,
    ) -> np.ndarray:
        """Forecast means ``[lane, origin, horizon]`` (units per day) for origin day indices.

        ``horizon_days`` (at most the fitted horizon) limits the forecast to the first
        days; their values are those of the full forecast.

        Raises:
            NonFiniteForecastError: when the model predicts NaN or infinity.
        """
        lanes = np.arange(panels.n_lanes) if lanes is None else np.asarray(lanes)
        origins = np.asarray(origins)
        horizon = self.horizon_days if horizon_days is None else int(horizon_days)
        if not 1 <= horizon <= self.horizon_days:
            raise ValueError(
                f"horizon_days must be between 1 and the fitted horizon {self.horizon_days}, got {horizon}"
            )
        out = np.zeros((len(lanes), len(origins), horizon))
        capped = 0
        block = max(1, _PREDICT_ROWS // max(1, len(origins) * horizon))
        for start in range(0, len(lanes), block):
            chunk = lanes[start : start + block]
            features, scale, _ = build_features(panels, chunk, origins, horizon)
            features[:, self.unobserved_features] = 0.0
            history = features[:, FEATURE_NAMES.index("history_days")]
            with np.errstate(over="ignore", invalid="ignore"):
                mean = np.where(history > 0, self.model.predict(features) * scale, 0.0)
            mean = mean.reshape(len(chunk), len(origins), horizon)
            check_finite(mean, chunk, f"{self.kind} forecaster")
            limit = np.maximum(
                self.cap_history_multiple * panels.history_max(chunk, origins)[:, :, None],
                self.cap_level_multiple * scale.reshape(mean.shape),
            )
            over = mean > limit
            capped += int(over.sum())
            out[start : start + len(chunk)] = np.where(over, limit, mean)
        self.last_capped = capped
        if capped:
            logger.warning(
                "Forecast sanity bounds: capped %s of %s forecast values (a lane's cap: %g x its largest daily "
                "sales before the origin, at least %g x its 91-day level)",
                f"{capped:,}",
                f"{out.size:,}",
                self.cap_history_multiple,
                self.cap_level_multiple,
            )
        return out

    def lane_slice(self, start: int, stop: int) -> DemandForecaster:
        """The forecaster for lanes ``[start, stop)`` renumbered from 0 (a lane block)."""
        return dataclasses.replace(self, dispersion=self.dispersion[start:stop])


@dataclass
class AveragedRegressor:
    """Mean prediction of several fitted regressors (seed bagging: each fitted on its own row sample)."""

    members: list[Any]

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Average of the members' public ``predict``, in member order."""
        total = np.asarray(self.members[0].predict(features), dtype="float64")
        for member in self.members[1:]:
            total = total + member.predict(features)
        return total / len(self.members)


def _regressor(params: ForecastParams, seed: int) -> Any:
    """The unfitted global model named by ``params.model``."""
    if params.model == "lightgbm":
        from lightgbm import LGBMRegressor

        extra: dict[str, Any] = (
            {"tweedie_variance_power": params.tweedie_variance_power} if params.objective == "tweedie" else {}
        )
        return LGBMRegressor(
            objective=params.objective,
            learning_rate=params.learning_rate,
            n_estimators=params.max_iter,
            num_leaves=params.max_leaf_nodes,
            min_child_samples=params.min_samples_leaf,
            reg_lambda=params.l2_regularization,
            subsample_for_bin=200_000,
            random_state=seed % (2**31),
            deterministic=True,
            force_row_wise=True,
            verbose=-1,
            **extra,
        )
    return HistGradientBoostingRegressor(
        loss="poisson",
        learning_rate=params.learning_rate,
        max_iter=params.max_iter,
        max_leaf_nodes=params.max_leaf_nodes,
        min_samples_leaf=params.min_samples_leaf,
        l2_regularization=params.l2_regularization,
        categorical_features=[FEATURE_NAMES.index("category_code")],
        early_stopping=False,
        random_state=seed % (2**32),
    )


def fit_forecaster(panels: DemandPanels, splits: TimeSplits, params: ForecastParams, seed: int) -> DemandForecaster:
    """Fit the global model (``params.model``) on training origins whose targets fall before validation.

    At most ``max_training_rows`` (lane, origin, horizon) rows are sampled, evenly
    over lane chunks. With ``ensemble_size`` k > 1, k models are fitted, each on its
    own row sample (seeds ``seed``, ``seed + 1``, ...), and their predictions are
    averaged (:class:`AveragedRegressor`). Dispersion is then estimated per lane
    from the residuals on the first model's rows.
    """
    return fit_forecaster_blocks([(0, panels)], panels.n_lanes, splits, params, seed)


def fit_forecaster_blocks(
    panel_blocks: Iterable[tuple[int, DemandPanels]],
    n_lanes: int,
    splits: TimeSplits,
    params: ForecastParams,
    seed: int,
) -> DemandForecaster:
    """:func:`fit_forecaster` on panels that come in lane blocks ``(first lane, panels of the block)``.

    Only one block's panels and the bounded training sample are held at a time. The
    sample is drawn chunk by chunk of 512 lanes in lane order, so blocks whose sizes
    are multiples of 512 give exactly the sample (and the model) of one whole panel.
    """
    # member k samples its rows with seed + k; member 0 is the single model of ensemble_size 1
    rngs = [np.random.default_rng(seed + k) for k in range(params.ensemble_size)]
    train_dates = splits.decision_dates(end=splits.validation_start - pd.Timedelta(days=1))
    samples: list[list[tuple[np.ndarray, np.ndarray, np.ndarray, np.ndarray]]] = [[] for _ in rngs]
    per_chunk = max(params.max_training_rows // max(1, -(-n_lanes // _LANE_CHUNK)), 1)
    for offset, panels in panel_blocks:
        origins = panels.day_index(train_dates)
        cutoff = int(panels.day_index(pd.DatetimeIndex([splits.validation_start]))[0])
        for start in range(0, panels.n_lanes, _LANE_CHUNK):
            chunk = np.arange(start, min(start + _LANE_CHUNK, panels.n_lanes))
            features, scale, day = build_features(panels, chunk, origins, params.horizon_days)
            lane_of_row = np.repeat(chunk, len(origins) * params.horizon_days)
            y = panels.sales[lane_of_row, np.clip(day, 0, panels.sales.shape[1] - 1)]
            keep = (day < cutoff) & ~np.isnan(y) & (features[:, FEATURE_NAMES.index("history_days")] > 0)
            candidates = np.flatnonzero(keep)
            for rng, sample in zip(rngs, samples, strict=True):
                rows = candidates
                if len(rows) > per_chunk:
                    rows = np.sort(rng.choice(rows, per_chunk, replace=False))
                sample.append((features[rows], y[rows], scale[rows], lane_of_row[rows] + offset))
    members_data = [tuple(np.concatenate(part) for part in zip(*sample, strict=True)) for sample in samples]
    features, actual, scale, lane_of_row = members_data[0]
    if not len(actual):
        raise ValueError(
            "no training rows for the demand forecaster: no lane has sales before the validation period "
            f"({splits.validation_start.date()})"
        )
    logger.info(
        "Fitting the %s demand forecaster on %s rows x %s features%s",
        params.model,
        f"{len(actual):,}",
        features.shape[1],
        f" ({params.ensemble_size} models averaged)" if params.ensemble_size > 1 else "",
    )
    # A feature with no observed value (e.g. last year's sales in a short history)
    # carries no information; it is zeroed in training and prediction alike.
    unobserved = np.isnan(features).all(axis=0)
    members = []
    for k, (member_features, member_actual, member_scale, _) in enumerate(members_data):
        member_features[:, unobserved] = 0.0
        member = _regressor(params, seed + k)
        if params.model == "lightgbm":
            member.fit(
                member_features,
                member_actual / member_scale,
                categorical_feature=[FEATURE_NAMES.index("category_code")],
            )
        else:
            member.fit(member_features, member_actual / member_scale)
        members.append(member)
    model = members[0] if len(members) == 1 else AveragedRegressor(members)
    fitted = model.predict(features) * scale
    if not np.isfinite(fitted).all():
        raise NonFiniteForecastError(
            f"the {params.model} forecaster fitted to non-finite values on its training rows; check rpt_data_quality"
        )
    dispersion, pooled = estimate_dispersion(actual, fitted, lane_of_row, n_lanes, params.dispersion_prior_weight)
    return DemandForecaster(
        model=model,
        dispersion=dispersion,
        global_dispersion=pooled,
        horizon_days=params.horizon_days,
        quantiles=tuple(params.quantiles),
        unobserved_features=unobserved,
        kind=params.model,
        cap_history_multiple=params.bounds.history_max_multiple,
        cap_level_multiple=params.bounds.level_multiple,
    )


def forecast_table(
    forecaster: Forecaster,
    panels: DemandPanels,
    splits: TimeSplits,
    quantiles: bool = True,
    horizon_days: int | None = None,
) -> pd.DataFrame:
    """Forecasts from every decision date: one row per (lane, decision date, horizon day).

    Columns: lane_id, decision_date, target_date, horizon (days after the decision
    date, 0-based), forecast_mean and forecast_std (units per day), dispersion
    (``phi``), and one ``q<level>`` column per configured quantile (left out when
    ``quantiles`` is false: they cost more than the means). ``horizon_days`` limits
    the table to the first days of the forecaster's horizon.

    Raises:
        NonFiniteForecastError: when a forecast mean is NaN or infinite.
    """
    decision_dates = splits.decision_dates()
    origins = panels.day_index(decision_dates)
    mean = forecaster.predict_mean(panels, origins, horizon_days=horizon_days)
    lanes = np.arange(panels.n_lanes)
    check_finite(mean, lanes, "forecast_table")
    n_o, horizon = len(origins), mean.shape[2]
    lane_id = np.repeat(lanes, n_o * horizon)
    decision = np.tile(np.repeat(decision_dates.to_numpy(), horizon), panels.n_lanes)
    h = np.tile(np.arange(horizon), panels.n_lanes * n_o)
    table = pd.DataFrame(
        {
            "lane_id": lane_id.astype("int32"),
            "decision_date": decision,
            "target_date": decision + h.astype("timedelta64[D]"),
            "horizon": h.astype("int16"),
            "forecast_mean": mean.ravel().astype("float32"),
            "forecast_std": forecaster.std(mean, lanes).ravel().astype("float32"),
            "dispersion": np.repeat(forecaster.dispersion, n_o * horizon).astype("float32"),
        }
    )
    for level in forecaster.quantiles if quantiles else ():
        values = forecaster.quantile(level, mean, lanes, panels=panels, origins=origins)
        table[quantile_column(level)] = values.ravel().astype("float32")
    return table
