"""The evaluation pipeline."""

from kedro.pipeline import Node, Pipeline

from . import nodes

_PARAMS = "params:evaluation"
_TABLES = [
    "mi_training_features",
    "mi_or_labels",
    "mi_training_lanes",
    "mi_training_sales",
    "mi_training_forecast",
    "time_splits",
]
_SETTINGS = [_PARAMS, "params:or_labeling", "params:rl_alignment", "params:seed"]
# the nodes that solve OR models, on the executor of every stage
_OR_SETTINGS = [_PARAMS, "params:or_labeling", "params:rl_alignment", "params:execution", "params:seed"]


def create_pipeline(**kwargs) -> Pipeline:
    """All policies on the test period -> KPI tables with intervals, transfer, trade-off, field test -> the report.

    The report also summarises the recommend pipeline's orders (``rpt_recommend_summary``,
    ``rpt_recommend_by_dc_category``): ``kedro run`` runs recommend before it, and this
    pipeline alone reads them from an earlier run (``kedro run --pipelines
    evaluation,recommend`` writes both).
    """
    return Pipeline(
        [
            Node(
                func=nodes.evaluate_policies,
                inputs=[
                    "mdl_foundation_model",
                    "mdl_orpr_policy",
                    "mdl_aligned_policy",
                    "mdl_baseline_learner",
                    "gurobi_licence",
                    "mi_scenario_calibration",
                    *_TABLES,
                    *_OR_SETTINGS,
                ],
                outputs=[
                    "mo_evaluation_decisions",
                    "mo_evaluation_lane_kpis",
                    "mo_evaluation_trajectories",
                    "rpt_evaluation_decision_time",
                    "rpt_evaluation_solver_log",
                    "rpt_tuned_base_stock",
                    "rpt_or_calibration",
                ],
                name="evaluate_policies",
            ),
            Node(
                func=nodes.summarise_kpis,
                inputs=["mo_evaluation_lane_kpis", "rpt_evaluation_decision_time", _PARAMS, "params:seed"],
                outputs=["rpt_evaluation_kpis", "rpt_evaluation_kpi_intervals"],
                name="summarise_kpis",
            ),
            Node(
                func=nodes.check_targets,
                inputs=["rpt_evaluation_kpis", "rpt_evaluation_decision_time", _PARAMS],
                outputs="rpt_evaluation_targets",
                name="check_targets",
            ),
            Node(
                func=nodes.report_transfer,
                inputs=["mo_evaluation_lane_kpis", "time_splits"],
                outputs="rpt_evaluation_transfer",
                name="report_transfer",
            ),
            Node(
                func=nodes.sweep_service_level,
                inputs=["gurobi_licence", "mi_scenario_calibration", *_TABLES, *_OR_SETTINGS],
                outputs="rpt_evaluation_tradeoff",
                name="sweep_service_level",
            ),
            Node(
                func=nodes.simulate_field_test,
                inputs=["mdl_orpr_policy", *_TABLES, *_SETTINGS],
                outputs="mo_field_test_daily",
                name="simulate_field_test",
            ),
            Node(
                func=nodes.match_field_test_units,
                inputs=["mo_field_test_daily", "mi_training_lanes", "time_splits", _PARAMS, "params:seed"],
                outputs=["mo_field_test_units", "rpt_field_test_balance"],
                name="match_field_test_units",
            ),
            Node(
                func=nodes.estimate_field_test,
                inputs=["mo_field_test_daily", "mo_field_test_units", "time_splits", _PARAMS, "params:currency"],
                outputs=["mo_field_test_panel", "rpt_field_test_did"],
                name="estimate_field_test",
            ),
            Node(
                func=nodes.plot_report_figures,
                inputs=[
                    "rpt_evaluation_kpis",
                    "rpt_evaluation_tradeoff",
                    "mo_evaluation_trajectories",
                    "mi_training_lanes",
                    "mo_field_test_panel",
                    "rpt_field_test_did",
                    "rpt_rl_training_curves",
                    "params:currency",
                ],
                outputs=["rpt_report_figures", "rpt_report_images"],
                name="plot_report_figures",
            ),
            Node(
                func=nodes.write_report,
                inputs=[
                    "rpt_evaluation_kpis",
                    "rpt_evaluation_targets",
                    "rpt_evaluation_decision_time",
                    "rpt_evaluation_transfer",
                    "rpt_evaluation_tradeoff",
                    "rpt_field_test_did",
                    "rpt_field_test_balance",
                    "mo_field_test_units",
                    "rpt_rl_alignment_summary",
                    "mo_evaluation_lane_kpis",
                    "rpt_tuned_base_stock",
                    "mi_scenario_calibration",
                    "rpt_or_calibration",
                    "mi_training_lanes",
                    "time_splits",
                    "rpt_report_images",
                    "rpt_recommend_summary",
                    "rpt_recommend_by_dc_category",
                    "params:data_is_demo",
                    "params:currency",
                    _PARAMS,
                ],
                outputs=["rpt_report_markdown", "rpt_report_html"],
                name="write_report",
            ),
        ]
    )
