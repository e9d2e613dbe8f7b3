"""Global demand forecast with uncertainty, and its accuracy metrics.

From every decision date (the *origin*), the forecaster predicts daily demand of
every lane for the next ``horizon_days`` days (horizon 0 = the decision date
itself, whose sales are not yet known when the order is placed). One global
scikit-learn ``HistGradientBoostingRegressor`` (Poisson loss) serves all lanes;
it learns demand relative to the lane's recent level from

* calendar features of the target day (weekday, day of year, horizon),
* lagged sales known at the origin (7/28/91-day means, same weekday over the last
  four weeks, the same days one year earlier),
* price of the target day relative to the recent price,
* the promotion calendar (planned uplift, days after a promotion ends),
* the category and price level of the SKU.

Uncertainty: demand on a lane-day is negative binomial with the forecast as mean
and variance ``mu + phi * mu**2``; ``phi`` is estimated per lane from training
residuals and shrunk towards the global value. Quantiles and demand scenarios
come from that distribution.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from numba import njit, prange
from scipy import stats
from sklearn.ensemble import HistGradientBoostingRegressor

from orpr_kedro.core.data.preparation import to_panel
from orpr_kedro.core.data.splits import TimeSplits
from orpr_kedro.core.params import ForecastParams

logger = logging.getLogger(__name__)

FEATURE_NAMES = (
    "horizon",
    "weekday",
    "doy_sin",
    "doy_cos",
    "category_code",
    "log_unit_price",
    "log_scale",
    "mean_7",
    "mean_28",
    "same_weekday_4w",
    "last_year_same_week",
    "last_year_level_28",
    "zero_share_91",
    "history_days",
    "price_ratio",
    "promo_uplift",
    "promo_active",
    "days_after_promo",
    "promo_share_28",
)
_MIN_SCALE = 0.05
_LANE_CHUNK = 512
# feature rows (lane x origin x horizon) per block when forecasting: bounds memory; the
# forecast is row-wise, so any block size gives the same numbers
_PREDICT_ROWS = 100_000
# Days before an origin that the features read: the longest window is last year's
# 28-day level (days o - 364 - 28 .. o - 365). History older than this changes no forecast.
LOOKBACK_DAYS = 364 + 28


@dataclass
class DemandPanels:
    """Dense ``[lane, day]`` arrays over the history plus the forecast horizon.

    ``sales`` is NaN before a lane's launch and after the data end; prices are
    carried forward past the data end; promotions come from the calendar, which
    is known in advance.
    """

    dates: pd.DatetimeIndex
    n_history_days: int
    sales: np.ndarray
    price: np.ndarray
    promo_uplift: np.ndarray
    promo_active: np.ndarray
    days_after_promo: np.ndarray
    expert_coverage: np.ndarray
    category_code: np.ndarray
    log_unit_price: np.ndarray
    _cumsum: np.ndarray = field(init=False, repr=False)
    _count: np.ndarray = field(init=False, repr=False)
    price_cumsum: np.ndarray = field(init=False, repr=False)

    def __post_init__(self) -> None:
        self._cumsum, self._count, self.price_cumsum = _panel_cumsums(
            np.ascontiguousarray(self.sales, dtype=np.float64), np.ascontiguousarray(self.price, dtype=np.float64)
        )

    @property
    def n_lanes(self) -> int:
        """Number of lanes."""
        return self.sales.shape[0]

    def day_index(self, dates: pd.DatetimeIndex | pd.Series) -> np.ndarray:
        """Column index of each date in the panels."""
        return ((pd.DatetimeIndex(dates) - self.dates[0]) // pd.Timedelta(days=1)).to_numpy().astype("int64")

    def window_mean(self, lanes: np.ndarray, start: np.ndarray, stop: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Mean of observed sales over days [start, stop) and the number of observed days.

        ``start``/``stop`` broadcast against ``lanes[:, None]``; out-of-range
        windows are clipped, and an empty window gives NaN.
        """
        last = self._cumsum.shape[1] - 1
        start, stop = np.clip(start, 0, last), np.clip(stop, 0, last)
        rows = lanes[:, None] if np.ndim(start) == 2 else lanes.reshape((-1,) + (1,) * (np.ndim(start) - 1))
        total = self._cumsum[rows, stop] - self._cumsum[rows, start]
        count = self._count[rows, stop] - self._count[rows, start]
        with np.errstate(invalid="ignore", divide="ignore"):
            return np.where(count > 0, total / np.maximum(count, 1), np.nan), count


@njit(parallel=True, cache=True)
def _panel_cumsums(sales: np.ndarray, price: np.ndarray) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Running totals along days with a leading 0, ``[lane, day + 1]``: observed sales, observed days, price.

    One pass over the panels, lanes in parallel; each total adds the days in order,
    as ``np.cumsum`` does, so the sums are the same to the last bit.
    """
    n_lanes, n_days = sales.shape
    sales_total = np.empty((n_lanes, n_days + 1))
    observed_days = np.empty((n_lanes, n_days + 1))
    price_total = np.empty((n_lanes, n_days + 1))
    for lane in prange(n_lanes):
        units, days, money = 0.0, 0.0, 0.0
        sales_total[lane, 0] = observed_days[lane, 0] = price_total[lane, 0] = 0.0
        for day in range(n_days):
            value = sales[lane, day]
            if not np.isnan(value):
                units += value
                days += 1.0
            money += price[lane, day]
            sales_total[lane, day + 1] = units
            observed_days[lane, day + 1] = days
            price_total[lane, day + 1] = money
    return sales_total, observed_days, price_total


@njit(parallel=True, cache=True)
def _fill_prices(price: np.ndarray, unit_price: np.ndarray) -> np.ndarray:
    """Fill the days without a price in place: the last known price, before the first one the first one.

    A lane without any price gets its master ``unit_price`` on every day.
    """
    n_lanes, n_days = price.shape
    for lane in prange(n_lanes):
        last = np.nan
        for day in range(n_days):
            if np.isnan(price[lane, day]):
                price[lane, day] = last
            else:
                last = price[lane, day]
        first = unit_price[lane]
        for day in range(n_days):
            if not np.isnan(price[lane, day]):
                first = price[lane, day]
                break
        for day in range(n_days):
            if not np.isnan(price[lane, day]):
                break
            price[lane, day] = first
    return price


@njit(parallel=True, cache=True)
def _days_after_promotion(active: np.ndarray) -> np.ndarray:
    """Days since the last promoted day, counted 1..7 after a promotion ends, else 0, ``[lane, day]``."""
    n_lanes, n_days = active.shape
    out = np.zeros((n_lanes, n_days))
    for lane in prange(n_lanes):
        last = -10_000
        for day in range(n_days):
            if active[lane, day] > 0:
                last = day
            elif 1 <= day - last <= 7:
                out[lane, day] = day - last
    return out


def build_demand_panels(
    daily_sales: pd.DataFrame,
    promotion_days: pd.DataFrame,
    lanes: pd.DataFrame,
    data_end: pd.Timestamp,
    horizon_days: int,
) -> DemandPanels:
    """Assemble the dense arrays the forecaster and the features read."""
    data_start = daily_sales["date"].min()
    dates = pd.date_range(data_start, pd.Timestamp(data_end) + pd.Timedelta(days=horizon_days), freq="D")
    n_lanes = len(lanes)
    n_history = int((pd.Timestamp(data_end) - data_start).days) + 1
    sales = to_panel(daily_sales, "sales_units", n_lanes, dates)
    price = _fill_prices(to_panel(daily_sales, "price", n_lanes, dates), lanes["unit_price"].to_numpy(dtype="float64"))
    uplift = to_panel(promotion_days, "expected_uplift", n_lanes, dates, fill=0.0)
    active = to_panel(promotion_days.assign(one=1.0), "one", n_lanes, dates, fill=0.0)
    return DemandPanels(
        dates=dates,
        n_history_days=n_history,
        sales=sales,
        price=price,
        promo_uplift=uplift,
        promo_active=active,
        days_after_promo=_days_after_promotion(active),
        expert_coverage=to_panel(promotion_days, "expert_coverage_days", n_lanes, dates, fill=0.0),
        category_code=lanes["category_code"].to_numpy().astype("float64"),
        log_unit_price=np.log(lanes["unit_price"].to_numpy().astype("float64")),
    )


def _features(
    panels: DemandPanels, lanes: np.ndarray, origins: np.ndarray, horizon: int
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Feature matrix for every (lane, origin, horizon) of a lane chunk.

    Returns:
        (features [rows, F] float32, scale [rows], target-day index [rows]); rows
        in (lane, origin, horizon) order.
    """
    n_l, n_o = len(lanes), len(origins)
    o = np.broadcast_to(origins[None, :], (n_l, n_o))
    mean_7, _ = panels.window_mean(lanes, o - 7, o)
    mean_28, _ = panels.window_mean(lanes, o - 28, o)
    mean_91, history_days = panels.window_mean(lanes, o - 91, o)
    scale = np.maximum(np.nan_to_num(mean_91, nan=0.0), _MIN_SCALE)
    level_ly, _ = panels.window_mean(lanes, o - 364 - 28, o - 364)
    clipped_o = np.clip(o, 0, panels.sales.shape[1] - 1)
    # cumulative sums over the chunk's lanes only (over every lane they cost O(lanes^2) per call)
    local = np.arange(n_l)[:, None]
    chunk_sales = panels.sales[lanes]
    sales_window = np.where(np.isnan(chunk_sales), 1.0, chunk_sales)
    zero_cum = np.concatenate([np.zeros((n_l, 1)), np.cumsum(sales_window == 0, axis=1)], axis=1)
    zero_share = (zero_cum[local, clipped_o] - zero_cum[local, np.clip(o - 91, 0, None)]) / np.maximum(history_days, 1)
    promo_cum = np.concatenate([np.zeros((n_l, 1)), np.cumsum(panels.promo_active[lanes], axis=1)], axis=1)
    promo_share = (promo_cum[local, clipped_o] - promo_cum[local, np.clip(o - 28, 0, None)]) / 28.0
    price_cum = panels.price_cumsum
    price_ref = (
        price_cum[lanes[:, None], clipped_o] - price_cum[lanes[:, None], np.clip(o - 28, 0, None)]
    ) / np.maximum(clipped_o - np.clip(o - 28, 0, None), 1)
    price_ref = np.where(price_ref > 0, price_ref, panels.price[lanes[:, None], clipped_o])

    h = np.arange(horizon)
    d = o[:, :, None] + h[None, None, :]  # [l, o, h]
    lane3 = lanes[:, None, None]
    k0 = h // 7 + 1
    same_weekday = np.stack([panels.sales[lane3, np.clip(d - 7 * (k0 + j), 0, None)] for j in range(4)], axis=-1)
    same_weekday = np.where((d[..., None] - 7 * (k0[None, None, :, None] + np.arange(4))) >= 0, same_weekday, np.nan)
    observed = ~np.isnan(same_weekday)
    with np.errstate(invalid="ignore", divide="ignore"):
        same_weekday_mean = np.where(observed, same_weekday, 0.0).sum(axis=-1) / observed.sum(axis=-1)
    last_year, _ = panels.window_mean(lanes, d - 367, d - 360)
    target_dates = panels.dates[np.clip(d, 0, len(panels.dates) - 1).ravel()]
    doy = target_dates.dayofyear.to_numpy().reshape(d.shape)
    scale3 = np.broadcast_to(scale[:, :, None], d.shape)

    def per_origin(values: np.ndarray) -> np.ndarray:
        return np.broadcast_to(values[:, :, None], d.shape)

    columns = {
        "horizon": np.broadcast_to(h, d.shape),
        "weekday": target_dates.dayofweek.to_numpy().reshape(d.shape),
        "doy_sin": np.sin(2 * np.pi * doy / 365.25),
        "doy_cos": np.cos(2 * np.pi * doy / 365.25),
        "category_code": np.broadcast_to(panels.category_code[lanes][:, None, None], d.shape),
        "log_unit_price": np.broadcast_to(panels.log_unit_price[lanes][:, None, None], d.shape),
        "log_scale": np.log(scale3),
        "mean_7": per_origin(mean_7) / scale3,
        "mean_28": per_origin(mean_28) / scale3,
        "same_weekday_4w": same_weekday_mean / scale3,
        "last_year_same_week": last_year / scale3,
        "last_year_level_28": per_origin(level_ly) / scale3,
        "zero_share_91": per_origin(zero_share),
        "history_days": per_origin(history_days),
        "price_ratio": panels.price[lane3, np.clip(d, 0, panels.price.shape[1] - 1)] / per_origin(price_ref),
        "promo_uplift": panels.promo_uplift[lane3, np.clip(d, 0, panels.price.shape[1] - 1)],
        "promo_active": panels.promo_active[lane3, np.clip(d, 0, panels.price.shape[1] - 1)],
        "days_after_promo": panels.days_after_promo[lane3, np.clip(d, 0, panels.price.shape[1] - 1)],
        "promo_share_28": per_origin(promo_share),
    }
    matrix = np.stack([np.asarray(columns[name], dtype="float32").ravel() for name in FEATURE_NAMES], axis=1)
    return matrix, scale3.ravel(), d.ravel()


# --------------------------------------------------------------------------- compiled trees
@dataclass(frozen=True)
class _FlatForest:
    """The regressor's trees as flat node arrays for :func:`_forest_raw_predict`.

    Node ``k`` of every tree sits at ``offset[tree] + local index``; children point at
    flat indices. A categorical split keeps a 256-entry go-left row (``category_left``)
    that folds sklearn's bitsets of the left categories and of the known ones.
    """

    model: HistGradientBoostingRegressor
    feature: np.ndarray
    threshold: np.ndarray
    missing_left: np.ndarray
    left: np.ndarray
    right: np.ndarray
    leaf: np.ndarray
    value: np.ndarray
    offsets: np.ndarray
    category_row: np.ndarray
    category_left: np.ndarray

    @classmethod
    def of(cls, model: HistGradientBoostingRegressor) -> _FlatForest | None:
        """Flatten a fitted single-output regressor; None for anything else (sklearn then predicts)."""
        predictors = getattr(model, "_predictors", None)
        if not predictors or any(len(trees) != 1 for trees in predictors):
            return None
        trees = [trees[0] for trees in predictors]
        sizes = np.array([len(tree.nodes) for tree in trees])
        offsets = np.concatenate([[0], np.cumsum(sizes)]).astype(np.int64)
        nodes = np.concatenate([tree.nodes for tree in trees])
        base = np.repeat(offsets[:-1], sizes)
        leaf = nodes["is_leaf"].astype(np.bool_)
        categorical = np.flatnonzero(nodes["is_categorical"].astype(bool) & ~leaf)
        category_row = np.full(len(nodes), -1, dtype=np.int64)
        category_row[categorical] = np.arange(len(categorical))
        category_left = np.zeros((max(len(categorical), 1), 256), dtype=np.bool_)
        if len(categorical):
            known, feature_map = model._bin_mapper.make_known_categories_bitsets()
            codes = np.arange(256)
            tree_of = np.searchsorted(offsets, categorical, side="right") - 1
            for row, (node, tree) in enumerate(zip(categorical, tree_of, strict=True)):
                bits = trees[tree].raw_left_cat_bitsets[nodes["bitset_idx"][node]]
                known_bits = known[feature_map[nodes["feature_idx"][node]]]
                goes_left = (bits[codes // 32] >> (codes % 32)) & 1 == 1
                is_known = (known_bits[codes // 32] >> (codes % 32)) & 1 == 1
                # sklearn: left categories go left, other known ones right, unknown ones as missing values
                category_left[row] = goes_left | (~is_known & bool(nodes["missing_go_to_left"][node]))
        return cls(
            model=model,
            feature=nodes["feature_idx"].astype(np.int64),
            threshold=nodes["num_threshold"].astype(np.float64),
            missing_left=nodes["missing_go_to_left"].astype(np.bool_),
            left=base + nodes["left"].astype(np.int64),
            right=base + nodes["right"].astype(np.int64),
            leaf=leaf,
            value=nodes["value"].astype(np.float64),
            offsets=offsets,
            category_row=category_row,
            category_left=category_left,
        )

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Exactly ``model.predict(features)``: same trees, same order of summation, same link."""
        data = np.ascontiguousarray(self.model._preprocess_X(features, reset=False), dtype=np.float64)
        raw = _forest_raw_predict(
            data,
            float(self.model._baseline_prediction[0, 0]),
            self.feature,
            self.threshold,
            self.missing_left,
            self.left,
            self.right,
            self.leaf,
            self.value,
            self.offsets,
            self.category_row,
            self.category_left,
        )
        return self.model._loss.link.inverse(raw)


@njit(parallel=True, cache=True)
def _forest_raw_predict(
    data, baseline, feature, threshold, missing_left, left, right, leaf, value, offsets, category_row, category_left
):  # noqa: PLR0913, PLR0917 (flat arrays of one forest)
    """Baseline plus every tree's leaf value per row, trees in order (sklearn's raw prediction).

    One row at a time through all trees keeps the row's features in cache; sklearn
    runs each tree over all rows, a parallel region per tree.
    """
    out = np.empty(data.shape[0])
    n_trees = offsets.shape[0] - 1
    for row in prange(data.shape[0]):
        raw = baseline
        for tree in range(n_trees):
            node = offsets[tree]
            while not leaf[node]:
                x = data[row, feature[node]]
                if np.isnan(x):
                    go_left = missing_left[node]
                elif category_row[node] >= 0:
                    go_left = missing_left[node] if x < 0 or x >= 256 else category_left[category_row[node], int(x)]
                else:
                    go_left = x <= threshold[node]
                node = left[node] if go_left else right[node]
            raw += value[node]
        out[row] = raw
    return out


@dataclass
class DemandForecaster:
    """A fitted global forecaster with per-lane negative-binomial dispersion."""

    model: HistGradientBoostingRegressor
    dispersion: np.ndarray
    global_dispersion: float
    horizon_days: int
    quantiles: tuple[float, ...]
    unobserved_features: np.ndarray
    feature_names: tuple[str, ...] = FEATURE_NAMES

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
        """
        lanes = np.arange(panels.n_lanes) if lanes is None else np.asarray(lanes)
        horizon = self.horizon_days if horizon_days is None else int(horizon_days)
        if not 1 <= horizon <= self.horizon_days:
            raise ValueError(
                f"horizon_days must be between 1 and the fitted horizon {self.horizon_days}, got {horizon}"
            )
        out = np.zeros((len(lanes), len(origins), horizon))
        forest = _FlatForest.of(self.model)
        predict = self.model.predict if forest is None else forest.predict
        block = max(1, _PREDICT_ROWS // max(1, len(origins) * horizon))
        for start in range(0, len(lanes), block):
            chunk = lanes[start : start + block]
            features, scale, _ = _features(panels, chunk, origins, horizon)
            features[:, self.unobserved_features] = 0.0
            history = features[:, FEATURE_NAMES.index("history_days")]
            mean = predict(features) * scale
            out[start : start + len(chunk)] = np.where(history > 0, mean, 0.0).reshape(
                len(chunk), len(origins), horizon
            )
        return out

    def std(self, mean: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        """Standard deviation of daily demand given means shaped ``[lane, ...]``."""
        phi = self.dispersion[lanes].reshape((-1,) + (1,) * (mean.ndim - 1))
        return np.sqrt(mean + phi * mean**2)

    def quantile(self, level: float, mean: np.ndarray, lanes: np.ndarray) -> np.ndarray:
        """Negative-binomial quantile of daily demand (units)."""
        return negative_binomial_quantile(level, mean, self.dispersion[lanes].reshape((-1,) + (1,) * (mean.ndim - 1)))


def negative_binomial_quantile(level: float, mean: np.ndarray, phi: np.ndarray) -> np.ndarray:
    """Quantile of NB(mean, variance = mean + phi * mean**2); 0 where the mean is 0.

    The smallest integer k with CDF(k) >= level, found by stepping from a
    normal-approximation start (a few CDF evaluations instead of a full search).
    """
    mean = np.asarray(mean, dtype="float64")
    phi = np.broadcast_to(np.maximum(phi, 1e-6), mean.shape).astype("float64")
    flat_mean, flat_phi = mean.ravel(), phi.ravel()
    size = 1.0 / flat_phi
    prob = size / (size + np.maximum(flat_mean, 1e-12))
    sd = np.sqrt(flat_mean + flat_phi * flat_mean**2)
    k = np.maximum(np.floor(flat_mean + stats.norm.ppf(level) * sd), 0.0)
    active = np.flatnonzero(flat_mean > 0)
    while active.size:  # step up while CDF(k) < level
        below = stats.nbinom.cdf(k[active], size[active], prob[active]) < level
        active = active[below]
        k[active] += 1
    active = np.flatnonzero((flat_mean > 0) & (k > 0))
    while active.size:  # step down while CDF(k - 1) >= level
        above = stats.nbinom.cdf(k[active] - 1, size[active], prob[active]) >= level
        active = active[above]
        k[active] -= 1
        active = active[k[active] > 0]
    return np.where(flat_mean > 0, k, 0.0).reshape(mean.shape)


def sample_demand(mean: np.ndarray, phi: np.ndarray, n_scenarios: int, rng: np.random.Generator) -> np.ndarray:
    """Demand scenarios ``[scenario, *mean.shape]`` from the negative-binomial forecast (gamma-Poisson)."""
    phi = np.broadcast_to(np.maximum(phi, 1e-6), mean.shape)
    shape = 1.0 / phi
    rate_draws = rng.gamma(
        np.broadcast_to(shape, (n_scenarios, *mean.shape)), np.broadcast_to(mean * phi, (n_scenarios, *mean.shape))
    )
    return rng.poisson(rate_draws).astype("float64")


def fit_forecaster(panels: DemandPanels, splits: TimeSplits, params: ForecastParams, seed: int) -> DemandForecaster:
    """Fit the global model on training origins whose targets fall before validation.

    At most ``max_training_rows`` (lane, origin, horizon) rows are sampled, evenly
    over lane chunks. Dispersion is then estimated per lane from the residuals on
    the same rows.
    """
    rng = np.random.default_rng(seed)
    train_dates = splits.decision_dates(end=splits.validation_start - pd.Timedelta(days=1))
    origins = panels.day_index(train_dates)
    cutoff = int(panels.day_index(pd.DatetimeIndex([splits.validation_start]))[0])
    matrices, targets, scales, row_lanes = [], [], [], []
    per_chunk = max(params.max_training_rows // max(1, -(-panels.n_lanes // _LANE_CHUNK)), 1)
    for start in range(0, panels.n_lanes, _LANE_CHUNK):
        chunk = np.arange(start, min(start + _LANE_CHUNK, panels.n_lanes))
        features, scale, day = _features(panels, chunk, origins, params.horizon_days)
        lane_of_row = np.repeat(chunk, len(origins) * params.horizon_days)
        y = panels.sales[lane_of_row, np.clip(day, 0, panels.sales.shape[1] - 1)]
        keep = (day < cutoff) & ~np.isnan(y) & (features[:, FEATURE_NAMES.index("history_days")] > 0)
        rows = np.flatnonzero(keep)
        if len(rows) > per_chunk:
            rows = np.sort(rng.choice(rows, per_chunk, replace=False))
        matrices.append(features[rows])
        targets.append(y[rows])
        scales.append(scale[rows])
        row_lanes.append(lane_of_row[rows])
    features, actual = np.concatenate(matrices), np.concatenate(targets)
    scale, lane_of_row = np.concatenate(scales), np.concatenate(row_lanes)
    logger.info("Fitting the demand forecaster on %s rows x %s features", f"{len(actual):,}", features.shape[1])
    model = HistGradientBoostingRegressor(
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
    # A feature with no observed value (e.g. last year's sales in a short history)
    # carries no information; it is zeroed in training and prediction alike.
    unobserved = np.isnan(features).all(axis=0)
    features[:, unobserved] = 0.0
    model.fit(features, actual / scale)
    dispersion, pooled = estimate_dispersion(
        actual, model.predict(features) * scale, lane_of_row, panels.n_lanes, params.dispersion_prior_weight
    )
    return DemandForecaster(
        model=model,
        dispersion=dispersion,
        global_dispersion=pooled,
        horizon_days=params.horizon_days,
        quantiles=tuple(params.quantiles),
        unobserved_features=unobserved,
    )


def estimate_dispersion(
    actual: np.ndarray, mean: np.ndarray, lane: np.ndarray, n_lanes: int, prior_weight: float
) -> tuple[np.ndarray, float]:
    """Negative-binomial dispersion ``phi`` per lane by the method of moments.

    ``phi_i = sum((y - mu)^2 - mu) / sum(mu^2)`` over the lane's rows, shrunk
    towards the pooled value with ``prior_weight`` pseudo-rows and clipped to
    [0.001, 10].

    Returns:
        (phi per lane [n_lanes], pooled phi).
    """
    excess = np.bincount(lane, weights=(actual - mean) ** 2 - mean, minlength=n_lanes)
    mean_sq = np.bincount(lane, weights=mean**2, minlength=n_lanes)
    count = np.bincount(lane, minlength=n_lanes)
    pooled = float(np.clip(excess.sum() / max(mean_sq.sum(), 1e-9), 1e-3, 10.0))
    per_lane = np.clip(np.where(mean_sq > 0, excess / np.maximum(mean_sq, 1e-9), pooled), 1e-3, 10.0)
    return (count * per_lane + prior_weight * pooled) / (count + prior_weight), pooled


def forecast_table(
    forecaster: DemandForecaster,
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
    """
    decision_dates = splits.decision_dates()
    origins = panels.day_index(decision_dates)
    mean = forecaster.predict_mean(panels, origins, horizon_days=horizon_days)
    lanes = np.arange(panels.n_lanes)
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
        table[quantile_column(level)] = forecaster.quantile(level, mean, lanes).ravel().astype("float32")
    return table


def quantile_column(level: float) -> str:
    """Column name of a forecast quantile, e.g. ``q0.9``."""
    return f"q{level:g}"


def seasonal_naive(panels: DemandPanels, origins: np.ndarray, horizon: int) -> np.ndarray:
    """Seasonal-naive forecast ``[lane, origin, horizon]``: the same weekday in the last week before the origin."""
    h = np.arange(horizon)
    day = origins[None, :, None] + h[None, None, :] - 7 * (h // 7 + 1)[None, None, :]
    values = panels.sales[np.arange(panels.n_lanes)[:, None, None], np.clip(day, 0, None)]
    return np.where(day >= 0, values, np.nan)


def wape(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Weighted absolute percentage error: sum |actual - forecast| / sum actual."""
    return float(np.abs(actual - forecast).sum() / max(actual.sum(), 1e-12))


def bias(actual: np.ndarray, forecast: np.ndarray) -> float:
    """Relative bias: sum (forecast - actual) / sum actual (positive = over-forecast)."""
    return float((forecast - actual).sum() / max(actual.sum(), 1e-12))


def pinball_loss(actual: np.ndarray, quantile_forecast: np.ndarray, level: float) -> float:
    """Mean pinball (quantile) loss of a quantile forecast at ``level`` (units)."""
    error = actual - quantile_forecast
    return float(np.mean(np.maximum(level * error, (level - 1.0) * error)))


def forecast_accuracy(
    forecasts: pd.DataFrame,
    panels: DemandPanels,
    splits: TimeSplits,
    lanes: pd.DataFrame,
    quantiles: list[float],
) -> pd.DataFrame:
    """Accuracy on the test period of the model and of the seasonal-naive benchmark.

    Scored rows: decision dates in the test period, target days in the test
    period with known sales. The seasonal-naive forecast is a point forecast, so
    its pinball losses treat that point as every quantile.

    Returns:
        One row per (model, scope) where scope is ``all`` or a category:
        wape, bias, pinball losses per quantile and their mean, rows, actual units.
    """
    test = forecasts[
        (forecasts["decision_date"] >= splits.test_start) & (forecasts["target_date"] >= splits.test_start)
    ]
    day = panels.day_index(test["target_date"])
    actual = panels.sales[test["lane_id"].to_numpy(), np.clip(day, 0, panels.sales.shape[1] - 1)]
    origins = panels.day_index(test["decision_date"])
    h = test["horizon"].to_numpy().astype("int64")
    naive_day = origins + h - 7 * (h // 7 + 1)
    naive = panels.sales[test["lane_id"].to_numpy(), np.clip(naive_day, 0, None)]
    usable = ~np.isnan(actual) & ~np.isnan(naive) & (day < panels.n_history_days)
    category = lanes["category"].to_numpy()[test["lane_id"].to_numpy()]
    models = {
        "forecast": (
            test["forecast_mean"].to_numpy(dtype="float64"),
            {q: test[quantile_column(q)].to_numpy(dtype="float64") for q in quantiles},
        ),
        "seasonal_naive": (naive, dict.fromkeys(quantiles, naive)),
    }
    rows = []
    scopes = [("all", usable)] + [(name, usable & (category == name)) for name in sorted(set(category))]
    for model_name, (point, quantile_values) in models.items():
        for scope, mask in scopes:
            if not mask.any():
                continue
            row = {
                "model": model_name,
                "scope": scope,
                "wape": wape(actual[mask], point[mask]),
                "bias": bias(actual[mask], point[mask]),
            }
            losses = [pinball_loss(actual[mask], quantile_values[q][mask], q) for q in quantiles]
            row.update({f"pinball_{quantile_column(q)}": loss for q, loss in zip(quantiles, losses, strict=True)})
            row["mean_pinball"] = float(np.mean(losses))
            row["n_rows"] = int(mask.sum())
            row["actual_units"] = float(actual[mask].sum())
            rows.append(row)
    return pd.DataFrame(rows)
