"""The recommendation table's columns, the two policy labels, and the decimals the CSV rounds to.

:data:`RECOMMENDATION_COLUMNS` is every column of one run (units, days, money in ``currency``);
:data:`ORDER_COLUMNS` what a buyer acts on.
"""

from __future__ import annotations

# ORPR: the network rl_alignment deployed (mdl_orpr_policy: aligned or pretrained)
ORPR, INCUMBENT_FALLBACK = "orpr", "incumbent_fallback"
RECOMMENDATION_COLUMNS = (
    "sku_id",
    "dc_id",
    "category",
    "as_of_date",
    "review_date",
    "reason_code",
    "order_units",
    "order_value",
    "currency",
    "expected_arrival_date",
    "earliest_arrival_date",
    "latest_arrival_date",
    "projected_on_hand_at_arrival",
    "next_review_date",
    "projected_on_hand_at_next_review",
    "stockout_risk",
    "override_units",
    "approved",
    "policy_used",
    "cold_start",
    "history_days",
    "coverage_days",
    "incumbent_coverage_days",
    "forecast_daily_mean",
    "forecast_to_review_units",
    "order_up_to_units",
    "on_hand",
    "on_order",
    "inventory_position",
    "raw_order_units",
    "case_pack",
    "moq",
    "unit_cost",
    "lead_time_mean",
    "lead_time_std",
    "review_period",
    "promo_days_ahead",
    "expert_coverage_days_ahead",
    "reason",
)
# What a buyer acts on: the orders only, largest value first.
ORDER_COLUMNS = (
    "sku_id",
    "dc_id",
    "category",
    "review_date",
    "order_units",
    "order_value",
    "currency",
    "expected_arrival_date",
    "earliest_arrival_date",
    "latest_arrival_date",
    "projected_on_hand_at_arrival",
    "projected_on_hand_at_next_review",
    "stockout_risk",
    "reason_code",
    "override_units",
    "approved",
    "coverage_days",
    "on_hand",
    "on_order",
    "case_pack",
    "moq",
    "unit_cost",
    "reason",
)

# Decimals of the fractional columns in the CSV (the reason is worded from the unrounded values).
_DECIMALS = {
    "forecast_daily_mean": 3,
    "forecast_to_review_units": 2,
    "order_up_to_units": 2,
    "inventory_position": 2,
    "raw_order_units": 2,
    "order_value": 2,
    "projected_on_hand_at_arrival": 2,
    "projected_on_hand_at_next_review": 2,
    "stockout_risk": 3,
}
