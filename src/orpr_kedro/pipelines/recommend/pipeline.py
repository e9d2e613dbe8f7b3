"""The recommend pipeline."""

from kedro.pipeline import Node, Pipeline

from . import nodes


def create_pipeline(**kwargs) -> Pipeline:
    """Inventory snapshot + aligned policy -> every lane's order for the next review -> orders only, summaries."""
    return Pipeline(
        [
            Node(
                func=nodes.validate_inventory_state,
                inputs=["raw_inventory_state", "prm_lanes", "prm_daily_sales", "params:data_processing"],
                outputs="prm_inventory_state",
                name="validate_inventory_state",
            ),
            Node(
                func=nodes.recommend_orders,
                inputs=[
                    "prm_inventory_state",
                    "prm_lanes",
                    "prm_daily_sales",
                    "prm_promotion_days",
                    "ftr_demand_forecaster",
                    "mdl_orpr_policy",
                    "mi_or_labels",
                    "time_splits",
                    "params:data_processing",
                    "params:recommend",
                    "params:execution",
                    "params:currency",
                ],
                outputs="mo_recommendations",
                name="recommend_orders",
            ),
            Node(
                func=nodes.list_orders,
                inputs="mo_recommendations",
                outputs="mo_orders",
                name="list_orders",
            ),
            Node(
                func=nodes.summarise_recommendations,
                inputs=["mo_recommendations", "prm_lanes"],
                outputs="rpt_recommend_summary",
                name="summarise_recommendations",
            ),
            Node(
                func=nodes.summarise_by_dc_category,
                inputs="mo_recommendations",
                outputs="rpt_recommend_by_dc_category",
                name="summarise_by_dc_category",
            ),
        ]
    )
