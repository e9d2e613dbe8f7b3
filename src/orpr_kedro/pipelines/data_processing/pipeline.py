"""The data_processing pipeline."""

from kedro.pipeline import Node, Pipeline

from . import nodes

_PARAMS = "params:data_processing"
_EXECUTION = "params:execution"
# the forecaster and the model input read the sales after the data-quality treatment
_PRIMARY = ["prm_forecast_sales", "prm_promotion_days", "prm_lanes", "time_splits", _PARAMS, _EXECUTION]


def create_pipeline(**kwargs) -> Pipeline:
    """Raw data -> validated tables -> primary tables -> forecasts -> model input."""
    return Pipeline(
        [
            Node(
                func=nodes.validate_raw_data,
                inputs=[
                    "raw_sales",
                    "raw_sku_master",
                    "raw_sku_dc_master",
                    "raw_promotions",
                    "raw_category_targets",
                    _PARAMS,
                    "params:execution",
                ],
                outputs=["int_sales", "int_sku_master", "int_sku_dc_master", "int_promotions", "int_category_targets"],
                name="validate_raw_data",
            ),
            Node(
                func=nodes.create_lanes,
                inputs=["int_sku_master", "int_sku_dc_master", "int_category_targets", _PARAMS],
                outputs="prm_lanes",
                name="create_lanes",
            ),
            Node(
                func=nodes.create_daily_sales,
                inputs=["int_sales", "prm_lanes", _EXECUTION],
                outputs="prm_daily_sales",
                name="create_daily_sales",
            ),
            Node(
                func=nodes.create_promotion_days,
                inputs=["int_promotions", "prm_lanes", _EXECUTION],
                outputs="prm_promotion_days",
                name="create_promotion_days",
            ),
            Node(
                func=nodes.define_time_splits,
                inputs=["prm_daily_sales", "prm_lanes", _PARAMS],
                outputs="time_splits",
                name="define_time_splits",
            ),
            Node(
                func=nodes.assess_data_quality,
                inputs=["prm_daily_sales", "prm_lanes", "time_splits", _PARAMS, _EXECUTION],
                outputs=["prm_forecast_sales", "rpt_data_quality"],
                name="assess_data_quality",
            ),
            Node(
                func=nodes.fit_demand_forecaster,
                inputs=["raw_forecast", *_PRIMARY, "params:seed"],
                outputs="ftr_demand_forecaster",
                name="fit_demand_forecaster",
            ),
            Node(
                func=nodes.forecast_demand,
                inputs=["ftr_demand_forecaster", *_PRIMARY],
                outputs="ftr_demand_forecast",
                name="forecast_demand",
            ),
            Node(
                func=nodes.evaluate_forecast,
                inputs=["ftr_demand_forecast", *_PRIMARY],
                outputs="rpt_forecast_accuracy",
                name="evaluate_forecast",
            ),
            Node(
                func=nodes.collect_forecast_errors,
                inputs=["ftr_demand_forecast", *_PRIMARY],
                outputs="mi_forecast_errors",
                name="collect_forecast_errors",
            ),
            Node(
                func=nodes.build_model_input,
                inputs=["ftr_demand_forecast", *_PRIMARY],
                outputs="mi_decision_features",
                name="build_model_input",
            ),
        ]
    )
