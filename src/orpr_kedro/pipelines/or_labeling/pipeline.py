"""The or_labeling pipeline."""

from kedro.pipeline import Node, Pipeline

from . import nodes

_PARAMS = "params:or_labeling"


def create_pipeline(**kwargs) -> Pipeline:
    """Forecasts and lanes -> the training lanes -> OR labels per lane and decision date -> validation KPI check."""
    return Pipeline(
        [
            Node(
                func=nodes.sample_training_lanes,
                inputs=[
                    "prm_lanes",
                    "prm_daily_sales",
                    "ftr_demand_forecast",
                    "mi_decision_features",
                    "params:execution",
                    "params:seed",
                ],
                outputs=["mi_training_lanes", "mi_training_sales", "mi_training_forecast", "mi_training_features"],
                name="sample_training_lanes",
            ),
            Node(
                func=nodes.calibrate_scenarios,
                inputs=["mi_training_lanes", "mi_training_sales", "mi_training_forecast", "time_splits", _PARAMS],
                outputs="mi_scenario_calibration",
                name="calibrate_scenarios",
            ),
            Node(
                func=nodes.create_or_labels,
                inputs=[
                    "mi_training_lanes",
                    "mi_training_sales",
                    "mi_training_forecast",
                    "time_splits",
                    "mi_scenario_calibration",
                    "gurobi_licence",
                    _PARAMS,
                    "params:execution",
                    "params:seed",
                ],
                outputs=["mi_or_labels", "rpt_or_solver_log", "mi_or_candidates", "mi_or_review_labels"],
                name="create_or_labels",
            ),
            Node(
                func=nodes.check_or_policy,
                inputs=[
                    "mi_or_labels",
                    "mi_training_lanes",
                    "mi_training_sales",
                    "mi_training_forecast",
                    "time_splits",
                    _PARAMS,
                    "params:seed",
                ],
                outputs="rpt_or_validation_kpis",
                name="check_or_policy",
            ),
        ]
    )
