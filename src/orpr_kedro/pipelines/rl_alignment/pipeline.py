"""The rl_alignment pipeline."""

from kedro.pipeline import Node, Pipeline

from . import nodes

_PARAMS = "params:rl_alignment"
_OR = "params:or_labeling"
_TABLES = [
    "mi_training_features",
    "mi_or_labels",
    "mi_training_lanes",
    "mi_training_sales",
    "mi_training_forecast",
    "time_splits",
]


def create_pipeline(**kwargs) -> Pipeline:
    """Foundation model + simulator -> aligned policy -> training curves and closed-loop validation report."""
    return Pipeline(
        [
            Node(
                func=nodes.train_aligned_policy,
                inputs=["mdl_foundation_model", *_TABLES, _PARAMS, _OR, "params:seed", "mi_scenario_calibration"],
                outputs=["mdl_aligned_policy", "rpt_rl_training_curves"],
                name="train_aligned_policy",
            ),
            Node(
                func=nodes.plot_rl_training_curves,
                inputs="rpt_rl_training_curves",
                outputs="plt_rl_training_curves",
                name="plot_rl_training_curves",
            ),
            Node(
                func=nodes.validate_aligned_policy,
                inputs=[
                    "mdl_foundation_model",
                    "mdl_aligned_policy",
                    *_TABLES,
                    _PARAMS,
                    _OR,
                    "params:evaluation",
                    "params:seed",
                ],
                outputs=["mo_rl_validation_decisions", "rpt_rl_validation_kpis", "mdl_orpr_policy"],
                name="validate_aligned_policy",
            ),
            Node(
                func=nodes.summarise_alignment,
                inputs=[
                    "mo_rl_validation_decisions",
                    "rpt_rl_validation_kpis",
                    "rpt_rl_training_curves",
                    "mdl_aligned_policy",
                    "mdl_orpr_policy",
                ],
                outputs="rpt_rl_alignment_summary",
                name="summarise_alignment",
            ),
        ]
    )
