"""Parameters of the data_processing pipeline: time splits, forecast, data quality, features, costs.

Windows and horizons are in days; cost rates are per unit-day as a share of unit cost.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from orpr_kedro.core.params.base import DailyRate, StrictModel


class SplitParams(StrictModel):
    """Time splits, counted back from the last date in the sales data."""

    decision_weekday: int = Field(0, ge=0, le=6, description="0 = Monday: weekday of decision dates")
    test_weeks: int = Field(8, ge=1, description="weeks at the end of the data held out for testing")
    validation_weeks: int = Field(8, ge=1, description="weeks before the test period used for validation")
    warmup_days: int = Field(91, ge=28, description="history (days) required before the first decision date")
    holdout_categories: list[str] = Field(
        default_factory=list, description="categories kept out of training, for transfer tests"
    )


class ForecastBoundsParams(StrictModel):
    """Sanity bounds of the global forecaster: a lane's forecast never exceeds the larger cap."""

    history_max_multiple: float = Field(
        5.0, gt=0, description="cap: this multiple of the lane's largest daily sales before the origin"
    )
    level_multiple: float = Field(20.0, gt=0, description="cap: at least this multiple of the lane's 91-day level")


class DataQualityParams(StrictModel):
    """Checks of the daily sales before forecasting (rpt_data_quality) and what is done with each finding."""

    leading_zero_min_days: int = Field(
        91, ge=1, description="zero-sales days before a lane's first sale that mean 'not yet launched' (trimmed)"
    )
    long_zero_run_days: int = Field(56, ge=2, description="zero-sales days in a row after launch that are reported")
    outlier_ratio: float = Field(
        50.0, gt=1, description="a day above this multiple of the lane's median positive sales is an outlier"
    )
    outlier_min_units: float = Field(20.0, ge=0, description="days at or below this many units are never outliers")
    outlier_action: Literal["cap", "keep"] = Field("cap", description="cap: outliers are cut to the threshold")
    fail: bool = Field(False, description="stop the run on any finding instead of treating it")


class ForecastParams(StrictModel):
    """Global demand forecast (gradient boosting) with a negative-binomial spread."""

    model: Literal["hist_gradient_boosting", "lightgbm"] = Field(
        "hist_gradient_boosting", description="the global model; a raw_forecast table replaces it when present"
    )
    objective: Literal["poisson", "tweedie"] = Field("poisson", description="LightGBM objective")
    tweedie_variance_power: float = Field(1.5, gt=1, lt=2, description="LightGBM Tweedie variance power")
    bounds: ForecastBoundsParams = Field(default_factory=ForecastBoundsParams)

    horizon_days: int = Field(42, ge=7, le=365, description="days forecast from each decision date")
    quantiles: list[float] = Field(default_factory=lambda: [0.1, 0.5, 0.9])
    max_training_rows: int = Field(250_000, ge=1_000)
    learning_rate: float = Field(0.08, gt=0, le=1)
    max_iter: int = Field(200, ge=10)
    max_leaf_nodes: int = Field(31, ge=2)
    min_samples_leaf: int = Field(40, ge=1)
    l2_regularization: float = Field(1.0, ge=0)
    dispersion_prior_weight: float = Field(
        30.0, ge=0, description="pseudo-observations pulling each lane's dispersion to the global one"
    )
    ensemble_size: int = Field(
        1,
        ge=1,
        le=10,
        description="global models averaged, each fitted on its own sample of max_training_rows rows "
        "(seeds seed + k); 1: one model. Only a panel with more rows than max_training_rows gives different models",
    )

    @model_validator(mode="after")
    def _quantiles_in_unit_interval(self) -> ForecastParams:
        if not self.quantiles or any(not 0 < q < 1 for q in self.quantiles):
            raise ValueError("quantiles must be a non-empty list of levels strictly between 0 and 1")
        if sorted(self.quantiles) != list(self.quantiles):
            raise ValueError("quantiles must be sorted in increasing order")
        return self


class FeatureParams(StrictModel):
    """Model-input feature windows (days)."""

    history_days: int = Field(28, ge=7, le=364)
    forecast_days: int = Field(28, ge=1)


class CostParams(StrictModel):
    """Cost parameters every later stage reads (through the lanes table)."""

    holding_rate_per_day: float = Field(
        0.0008, gt=0, lt=1, description="holding cost per unit-day as a fraction of unit cost"
    )
    holding_rate_by_category: dict[str, DailyRate] = Field(
        default_factory=dict, description="category -> holding rate per unit-day, overriding holding_rate_per_day"
    )
    lost_sale_penalty: Literal["margin", "cost_multiple"] = Field(
        "margin", description="margin: unit price - unit cost; cost_multiple: multiple x unit cost"
    )
    lost_sale_cost_multiple: float = Field(1.0, gt=0)
    order_cost: float = Field(5.0, ge=0, description="fixed cost per order placed (currency)")


class ValidationParams(StrictModel):
    """How raw-data problems are reported."""

    max_example_rows: int = Field(5, ge=1, le=100)


class DataProcessingParams(StrictModel):
    """Parameters of the data_processing pipeline."""

    raw_files: dict[str, str] = Field(
        default_factory=dict, description="dataset name -> file, quoted in validation errors"
    )
    date_formats: dict[str, str] = Field(
        default_factory=dict,
        description="raw dataset name -> strftime format of its date columns, e.g. '%d/%m/%Y'; "
        "tables not named are read as ISO 8601 (2025-01-31)",
    )
    splits: SplitParams = Field(default_factory=SplitParams)
    forecast: ForecastParams = Field(default_factory=ForecastParams)
    data_quality: DataQualityParams = Field(default_factory=DataQualityParams)
    features: FeatureParams = Field(default_factory=FeatureParams)
    costs: CostParams = Field(default_factory=CostParams)
    validation: ValidationParams = Field(default_factory=ValidationParams)

    @field_validator("date_formats")
    @classmethod
    def _formats_of_raw_tables(cls, formats: dict[str, str]) -> dict[str, str]:
        # the contract module imports this one, so the raw table names are listed here
        known = {"raw_sales", "raw_promotions", "raw_inventory_state"}
        for name, date_format in formats.items():
            if name not in known:
                raise ValueError(f"date_formats names {name!r}; tables with dates: {sorted(known)}")
            if not {"%d", "%m"} <= set(_directives(date_format)) and "%j" not in date_format:
                raise ValueError(
                    f"date_formats.{name} = {date_format!r} is not a day-level strftime format "
                    "(it needs %d and %m, or %j), e.g. '%d/%m/%Y'"
                )
        return formats

    @model_validator(mode="after")
    def _feature_window_within_forecast(self) -> DataProcessingParams:
        if self.features.forecast_days > self.forecast.horizon_days:
            raise ValueError(
                f"features.forecast_days ({self.features.forecast_days}) must not exceed "
                f"forecast.horizon_days ({self.forecast.horizon_days})"
            )
        return self


def _directives(date_format: str) -> list[str]:
    return [date_format[i : i + 2] for i in range(len(date_format) - 1) if date_format[i] == "%"]
