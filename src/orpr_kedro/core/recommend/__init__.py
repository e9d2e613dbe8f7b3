"""Today's orders: the aligned policy's decision for the next review of every lane.

Timing (the conventions ``docs/pipelines.md`` states for users):

* The inventory snapshot (``raw_inventory_state``) is the closing stock of
  ``as_of_date``: the sales up to and including that day are known.
* The forecast *origin* is the next day, ``as_of_date + 1``, the first day whose
  sales are unknown. The persisted demand forecaster forecasts from it and the
  model-input features are built for it by the builders the training data came
  from (:func:`~orpr_kedro.core.learning.features.build_decision_features`): history = the
  days before the origin, forecast from the origin, attributes, targets and the
  promotion calendar ahead. Prices after ``as_of_date`` are unknown and carried
  forward, as at the end of the data in ``data_processing``.
* The *review date* is each lane's own next review (:func:`next_review_days`): a
  lane reviews every ``review_period`` days counted from the training data's first
  decision date, so a daily lane orders for the origin itself and a weekly lane for
  the next decision weekday (1 to 7 days later, :func:`next_review_date`). A
  snapshot taken the day before a lane's review makes the review date the origin. Otherwise the inventory position is projected to the review date by taking
  off the forecast demand of the days in between (floored at 0), and the
  order-up-to level counts the coverage from the review date.

Decision per lane:

* **aligned**: the aligned policy's action from the origin's features and the
  snapshot state (on hand, on order): a coverage (days of forecast demand) or the
  lane's base-stock level at a service level
  (:class:`~orpr_kedro.core.simulation.actions.ActionGrid`);
* **incumbent_fallback** (``cold_start``): a lane with fewer than
  ``min_history_days`` days of sales up to ``as_of_date`` gets the incumbent rule,
  its category's target turnover days; a lane with no sales at all has a zero
  forecast and so no order (its launch quantity is the planners' call).

Order (units): level = forecast summed over the coverage from the review date (the
simulator's :class:`~orpr_kedro.core.simulation.policies.CoveragePolicy`), or the
base-stock level of the chosen service level on that day; raw = level -
projected position; order = :func:`~orpr_kedro.core.simulation.kernel.round_order_quantity`
(whole cases, then the MOQ), exactly as the simulator orders.

Next to each order (:mod:`orpr_kedro.core.order_list`): its value and currency, the
expected arrival date and its range, the projected on hand at arrival and at the
lane's next review, the stock-out risk until that review, a reason code and empty
``override_units`` / ``approved`` columns for the planner. Lanes of ``prm_lanes``
without a snapshot row get a ``no_state`` row and no order.

Memory: :func:`recommend_in_blocks` computes the lanes block by block
(:mod:`~orpr_kedro.core.recommend.blocks`); only ``category_sales_share`` needs every
lane, and its category totals are gathered in a first pass.

The modules: :mod:`~orpr_kedro.core.recommend.orders` (:func:`recommend_orders`),
:mod:`~orpr_kedro.core.recommend.blocks` (:func:`recommend_in_blocks`),
:mod:`~orpr_kedro.core.recommend.arithmetic` (review date and order quantities),
:mod:`~orpr_kedro.core.recommend.reasons` (the reason sentence),
:mod:`~orpr_kedro.core.recommend.columns` (the table's columns) and
:mod:`~orpr_kedro.core.recommend.summaries` (counts, the orders only, per DC and category).
"""

from orpr_kedro.core.recommend.arithmetic import OrderArithmetic, next_review_date, next_review_days, order_arithmetic
from orpr_kedro.core.recommend.blocks import recommend_in_blocks
from orpr_kedro.core.recommend.columns import INCUMBENT_FALLBACK, ORDER_COLUMNS, ORPR, RECOMMENDATION_COLUMNS
from orpr_kedro.core.recommend.orders import recommend_orders
from orpr_kedro.core.recommend.summaries import orders_only, summarise_by_dc_category, summarise_recommendations

__all__ = [
    "INCUMBENT_FALLBACK",
    "ORPR",
    "ORDER_COLUMNS",
    "RECOMMENDATION_COLUMNS",
    "OrderArithmetic",
    "next_review_date",
    "next_review_days",
    "order_arithmetic",
    "orders_only",
    "recommend_in_blocks",
    "recommend_orders",
    "summarise_by_dc_category",
    "summarise_recommendations",
]
