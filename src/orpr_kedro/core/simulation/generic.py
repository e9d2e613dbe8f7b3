"""The generic simulation path: a day loop in which any policy decides.

Same conventions as :mod:`orpr_kedro.core.simulation.kernel` (receipts, review-day
orders rounded to case packs / MOQ, lost sales, end-of-day holding cost); for
order-up-to policies it gives results identical to the fast path.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from orpr_kedro.core.simulation.kernel import (
    ACCUMULATOR_FIELDS,
    SimulationResult,
    Trajectories,
    _checked_demand,
    _checked_lead_times,
    _initial_state,
    _ring_size,
)
from orpr_kedro.core.simulation.lanes import LaneParams, review_mask, round_order_quantity

__all__ = ["PolicyState", "simulate_policy"]


# ------------------------------------------------------------------ generic path
@dataclass
class PolicyState:
    """What a policy sees at step (2) of day ``t`` (after receipts, before ordering).

    Arrays are ``[N]`` (units unless stated): ``on_hand``, ``on_order`` (all
    outstanding orders), ``inventory_position = on_hand + on_order``, ``is_review``
    (bool), ``lead_time`` (days the order placed today would take), ``pipeline``
    ``[N, R-1]`` (column ``k``: units due at the start of day ``t + 1 + k``).
    ``forecast`` is whatever was passed to :func:`simulate_policy` (by convention the
    ``[N, F]`` forecast path from day 0), ``lanes`` the lane parameters. Policies
    needing more inputs can hold them themselves (e.g. a callable object).
    """

    t: int
    on_hand: np.ndarray
    on_order: np.ndarray
    inventory_position: np.ndarray
    is_review: np.ndarray
    lead_time: np.ndarray
    pipeline: np.ndarray
    lanes: LaneParams
    forecast: np.ndarray | None = None


def simulate_policy(  # noqa: PLR0917, PLR0915 (documented signature; one day loop)
    demand,
    lanes: LaneParams,
    lead_times,
    policy: Callable[[PolicyState], np.ndarray],
    initial_on_hand,
    initial_pipeline=None,
    forecast=None,
    *,
    record_trajectories: bool = False,
) -> SimulationResult:
    """Simulate any policy over ``[N, T]`` demand with a day loop (generic path).

    ``policy(state)`` returns raw order quantities ``[N]`` (units); the simulator
    orders only on review days and rounds with :func:`round_order_quantity`.
    ``lead_times`` is int ``[N, T]``, ``initial_on_hand`` ``[N]``,
    ``initial_pipeline`` optional ``[N, P]``. Accumulators of the result are ``[N]``;
    trajectories ``[N, T]`` when requested; ``final_pipeline`` ``[N, R]`` always.
    Same conventions and arithmetic as :func:`simulate_order_up_to`.
    """
    d = _checked_demand(demand, lanes, batched=False)
    n_lanes, n_days = d.shape
    lt = _checked_lead_times(lead_times, d.shape).astype(np.int64)
    oh0, oo0, pipe0 = _initial_state(initial_on_hand, initial_pipeline, 1, 1, n_lanes)
    on_hand, on_order, pipe0 = oh0[0, 0].copy(), oo0[0, 0].copy(), pipe0[0, 0]
    ring_size = _ring_size(lt, pipe0.shape[1])
    ring = np.zeros((n_lanes, ring_size))
    ring[:, : pipe0.shape[1]] = pipe0
    lane_idx = np.arange(n_lanes)
    reviews = review_mask(lanes, n_days)

    zeros_f = np.zeros(n_lanes)
    zeros_i = np.zeros(n_lanes, dtype=np.int64)
    acc: dict[str, np.ndarray] = {name: zeros_f.copy() for name in ACCUMULATOR_FIELDS}
    acc["n_orders"] = zeros_i.copy()
    acc["in_stock_days"] = zeros_i.copy()
    traj_shape = (n_lanes, n_days) if record_trajectories else (0, 0)
    traj = {k: np.zeros(traj_shape) for k in Trajectories.__dataclass_fields__}

    for t in range(n_days):
        slot = t % ring_size
        # (1) receipts due today
        arrived = ring[:, slot].copy()
        ring[:, slot] = 0.0
        on_hand = on_hand + arrived
        on_order = on_order - arrived
        # (2) review and order
        is_review = reviews[:, t]
        order_slots = (slot + 1 + np.arange(ring_size - 1)) % ring_size
        state = PolicyState(
            t=t,
            on_hand=on_hand.copy(),
            on_order=on_order.copy(),
            inventory_position=on_hand + on_order,
            is_review=is_review.copy(),
            lead_time=lt[:, t].copy(),
            pipeline=ring[:, order_slots],
            lanes=lanes,
            forecast=forecast,
        )
        raw = np.asarray(policy(state), dtype=np.float64)
        if raw.shape != (n_lanes,):
            raise ValueError(f"policy returned shape {raw.shape}, expected ({n_lanes},)")
        if np.any(np.isinf(raw) & is_review):
            raise ValueError(f"policy returned an infinite order quantity on day {t}")
        q = np.where(is_review, round_order_quantity(raw, lanes.case_pack, lanes.moq), 0.0)
        placed = q > 0.0
        acc["n_orders"] += placed
        acc["order_cost"] += np.where(placed, lanes.order_cost, 0.0)
        acc["ordered_units"] += q
        now = placed & (lt[:, t] == 0)
        later = placed & ~now
        on_hand = np.where(now, on_hand + q, on_hand)
        arrived = np.where(now, arrived + q, arrived)
        dest = (slot + lt[:, t]) % ring_size
        ring[lane_idx[later], dest[later]] += q[later]
        on_order = np.where(later, on_order + q, on_order)
        acc["in_stock_days"] += on_hand > 0.0
        # (3) demand, lost sales
        dem = d[:, t]
        sold = np.minimum(on_hand, dem)
        lost = dem - sold
        start = on_hand
        on_hand = on_hand - sold
        # (4) costs on end-of-day on-hand
        acc["holding_cost"] += lanes.holding_cost * on_hand
        acc["sum_end_on_hand"] += on_hand
        acc["lost_units"] += lost
        acc["lost_sales_cost"] += lanes.lost_sale_cost * lost
        acc["demand_units"] += dem
        acc["sales_units"] += sold
        if record_trajectories:
            traj["on_hand_start"][:, t] = start
            traj["on_hand_end"][:, t] = on_hand
            traj["orders"][:, t] = q
            traj["arrivals"][:, t] = arrived
            traj["lost"][:, t] = lost

    acc["n_days"] = np.broadcast_to(np.int64(n_days), (n_lanes,))
    final_slots = (n_days + np.arange(ring_size)) % ring_size
    return SimulationResult(
        **acc,
        final_on_hand=on_hand,
        final_on_order=on_order,
        final_pipeline=ring[:, final_slots],
        trajectories=Trajectories(**traj) if record_trajectories else None,
    )
