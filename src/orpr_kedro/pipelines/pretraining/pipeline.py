"""The pretraining pipeline."""

from kedro.pipeline import Node, Pipeline

from . import nodes

_PARAMS = "params:pretraining"
_GRID = "params:or_labeling"


def create_pipeline(**kwargs) -> Pipeline:
    """Features and OR labels -> samples -> foundation model and baseline -> validation report."""
    return Pipeline(
        [
            Node(
                func=nodes.build_pretraining_samples,
                inputs=[
                    "mi_training_features",
                    "mi_or_labels",
                    "mi_or_review_labels",
                    "mi_training_sales",
                    _PARAMS,
                    _GRID,
                ],
                outputs="mi_pretraining_samples",
                name="build_pretraining_samples",
            ),
            Node(
                func=nodes.train_foundation_model,
                inputs=["mi_pretraining_samples", _PARAMS, _GRID, "params:seed"],
                outputs=["mdl_foundation_model", "rpt_pretraining_history"],
                name="train_foundation_model",
            ),
            Node(
                func=nodes.train_baseline_learner,
                inputs=["mi_pretraining_samples", _PARAMS, _GRID, "params:seed"],
                outputs="mdl_baseline_learner",
                name="train_baseline_learner",
            ),
            Node(
                func=nodes.plot_training_curves,
                inputs="rpt_pretraining_history",
                outputs="plt_pretraining_curves",
                name="plot_training_curves",
            ),
            Node(
                func=nodes.decide_sample_dates,
                inputs=["mdl_foundation_model", "mdl_baseline_learner", "mi_pretraining_samples", _PARAMS],
                outputs="mo_pretraining_decisions",
                name="decide_sample_dates",
            ),
            Node(
                func=nodes.report_decision_accuracy,
                inputs="mo_pretraining_decisions",
                outputs="rpt_pretraining_accuracy",
                name="report_decision_accuracy",
            ),
            Node(
                func=nodes.report_forecast_accuracy,
                inputs=["mdl_foundation_model", "mi_pretraining_samples", _PARAMS],
                outputs="rpt_pretraining_forecast_accuracy",
                name="report_forecast_accuracy",
            ),
            Node(
                func=nodes.simulate_validation_kpis,
                inputs=[
                    "mo_pretraining_decisions",
                    "mi_training_lanes",
                    "mi_training_sales",
                    "mi_training_forecast",
                    "time_splits",
                    _GRID,
                    "params:seed",
                ],
                outputs="rpt_pretraining_validation_kpis",
                name="simulate_validation_kpis",
            ),
        ]
    )
