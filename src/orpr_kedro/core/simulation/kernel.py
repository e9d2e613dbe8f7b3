"""Daily lost-sales inventory simulation of replenishment lanes (one SKU-DC pair each).

Two entry points share one set of conventions:

* :func:`simulate_order_up_to` is the fast path: a fused numba kernel that simulates
  ``C`` candidate order-up-to schedules against ``S`` demand/lead-time scenarios for
  ``N`` lanes over ``T`` days, accumulating KPIs on the fly (memory does not grow with
  ``T`` unless trajectories are requested).
* :func:`simulate_policy` is the generic path: a day loop vectorised over lanes with
  numpy, in which any callable ``policy(state) -> raw order quantities`` decides. For
  order-up-to policies it gives results identical to the fast path.

Conventions (units: quantities in units, time in days, costs in currency)
------------------------------------------------------------------------
Days ``t = 0 .. T-1``. At the start of day ``t``:

1. Orders whose arrival day is ``t`` are added to on-hand.
2. If ``t`` is a review day of the lane, an order is placed. Its raw quantity is
   ``max(0, level - inventory_position)`` with ``inventory_position = on_hand +
   on_order`` (on-order = everything placed and not yet arrived, including orders due
   at or after ``T``). The raw quantity is rounded by :func:`round_order_quantity`
   (up to a case-pack multiple, then raised to the MOQ rounded up to a case-pack
   multiple). The order gets the lead time ``L = lead_times[..., t]`` and arrives at
   the start of day ``t + L``; ``L = 0`` means it is received at once and serves day
   ``t``. An order due at or after ``T`` stays on order and never arrives in the run.
3. Demand of day ``t`` is served from on-hand; unmet demand is lost (no backorders).
4. Holding cost ``holding_cost * on_hand_end`` is charged on END-of-day on-hand.

Review days: ``t >= review_offset and (t - review_offset) % review_period == 0``.
On non-review days no order is placed, whatever the level or policy says.
In-stock day: a lane-day whose on-hand at the start of the day after all receipts of
that day (step 1, plus step 2 receipts when ``L = 0``) is ``> 0``.
Costs: ``order_cost`` per order placed (quantity ``> 0``), ``lost_sale_cost`` per unit
of lost demand, ``holding_cost`` per unit per day of end-of-day on-hand.

Lead times are drawn by :func:`draw_lead_times` (rounded normal clipped to
``[1, max_lead_time]``) from a ``numpy.random.Generator``; the same draws are passed
to every candidate and policy (common random numbers).

Order-up-to levels expressed as coverage (days of forecast demand) are built by
:func:`coverage_levels`; beyond the end of the forecast the path is extended by
repeating its last 7 days cyclically (weekly pattern).

A run can be continued: pass ``final_on_hand`` and ``final_pipeline`` (requested with
``return_pipeline=True``) as the next run's initial state, with the lanes' review
calendar moved by :meth:`LaneParams.shift_review`. See ``docs/simulation.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numba
import numpy as np
from numba import njit, prange

from orpr_kedro.core.simulation.lanes import (
    LaneParams,
    _readonly,
    _round_order_scalar,
    review_mask,
    round_order_quantity,
)
from orpr_kedro.core.simulation.levels import (
    DEFAULT_MAX_LEAD_TIME,
    coverage_levels,
    draw_lead_times,
    extend_forecast,
    lane_coverage_levels,
)

__all__ = [
    "ACCUMULATOR_FIELDS",
    "DEFAULT_MAX_LEAD_TIME",
    "LaneParams",
    "SimulationResult",
    "Trajectories",
    "coverage_levels",
    "draw_lead_times",
    "extend_forecast",
    "lane_coverage_levels",
    "review_mask",
    "round_order_quantity",
    "simulate_order_up_to",
]


# Names of the KPI accumulators of a SimulationResult, in a fixed order.
ACCUMULATOR_FIELDS = (
    "holding_cost",
    "lost_units",
    "lost_sales_cost",
    "order_cost",
    "n_orders",
    "ordered_units",
    "demand_units",
    "sales_units",
    "sum_end_on_hand",
    "in_stock_days",
    "n_days",
)


# -------------------------------------------------------------------- results
@dataclass
class Trajectories:
    """Daily trajectories, each ``[..., T]`` (units): on-hand at the start of the day
    after receipts, on-hand at the end of the day, quantity ordered, quantity received
    and demand lost."""

    on_hand_start: np.ndarray
    on_hand_end: np.ndarray
    orders: np.ndarray
    arrivals: np.ndarray
    lost: np.ndarray


@dataclass
class SimulationResult:
    """KPI accumulators over the run plus the final state.

    Every accumulator has the batch shape: ``[C, S, N]`` from the fast path, ``[N]``
    from the generic path. Units: costs in currency, ``*_units`` in units,
    ``sum_end_on_hand`` in unit-days, ``in_stock_days``/``n_days`` in days,
    ``n_orders`` a count. ``n_days`` is a read-only broadcast of ``T``.
    ``final_on_order`` is everything still on order after day ``T-1`` (including
    orders due at or after ``T``); ``final_pipeline[..., k]`` (only when requested) is
    the quantity due at the start of day ``T + k``, a valid ``initial_pipeline`` for a
    continuation run.
    """

    holding_cost: np.ndarray
    lost_units: np.ndarray
    lost_sales_cost: np.ndarray
    order_cost: np.ndarray
    n_orders: np.ndarray
    ordered_units: np.ndarray
    demand_units: np.ndarray
    sales_units: np.ndarray
    sum_end_on_hand: np.ndarray
    in_stock_days: np.ndarray
    n_days: np.ndarray
    final_on_hand: np.ndarray
    final_on_order: np.ndarray
    final_pipeline: np.ndarray | None = None
    trajectories: Trajectories | None = None

    @property
    def shape(self) -> tuple[int, ...]:
        return self.holding_cost.shape

    @property
    def total_cost(self) -> np.ndarray:
        """Holding + lost-sales + ordering cost (currency)."""
        return self.holding_cost + self.lost_sales_cost + self.order_cost

    def accumulators(self) -> dict[str, np.ndarray]:
        """The KPI accumulators by name (see ``ACCUMULATOR_FIELDS``)."""
        return {name: getattr(self, name) for name in ACCUMULATOR_FIELDS}


# ------------------------------------------------------------------ fast kernel
@njit(parallel=True, cache=True, fastmath=False)
def _order_up_to_kernel(  # noqa: PLR0912, PLR0915, PLR0917 (one fused kernel)
    demand,  # float64 [S*N, T]
    levels,  # float64 [C*N, T]
    lead_times,  # int [S*N, T]
    review_period,  # int64 [N]
    review_offset,  # int64 [N]
    case_pack,  # int64 [N]
    moq,  # int64 [N]
    holding_cost,  # float64 [N]
    lost_sale_cost,  # float64 [N]
    order_cost,  # float64 [N]
    init_on_hand,  # float64 [C0, S0, N], C0 in {1, C}, S0 in {1, S}
    init_on_order,  # float64 [C0, S0, N]
    init_pipeline,  # float64 [C0, S0, N, P]
    n_candidates,
    ring_size,
    chunk,
    record,
    keep_pipeline,
    acc_f,  # float64 [10, C*S*N]: 8 accumulators, final on-hand, final on-order
    acc_i,  # int64 [2, C*S*N]
    final_pipe,  # float64 [C*S*N, ring_size] or [0, ring_size]
    tr_start,  # float64 [C*S*N, T] or [0, 0] (5 trajectory arrays)
    tr_end,
    tr_orders,
    tr_arrivals,
    tr_lost,
):
    n_sn, n_days = demand.shape
    n_lanes = review_period.shape[0]
    n_scen = n_sn // n_lanes
    total = n_candidates * n_sn
    n_pipe0 = init_pipeline.shape[3]
    multi_c0 = init_on_hand.shape[0] > 1
    multi_s0 = init_on_hand.shape[1] > 1
    n_chunks = (total + chunk - 1) // chunk
    # one pipeline ring per chunk, allocated here so that it is private to the chunk
    rings = np.zeros((n_chunks, ring_size))
    for k in prange(n_chunks):
        ring = rings[k]
        stop = min(total, (k + 1) * chunk)
        for i in range(k * chunk, stop):
            n = i % n_lanes
            cs = i // n_lanes
            s = cs % n_scen
            c = cs // n_scen
            sn = s * n_lanes + n
            cn = c * n_lanes + n
            c0 = c if multi_c0 else 0
            s0 = s if multi_s0 else 0
            # lane constants
            period = review_period[n]
            next_review = review_offset[n]
            cp = case_pack[n]
            mq = moq[n]
            h = holding_cost[n]
            p = lost_sale_cost[n]
            kc = order_cost[n]
            # state
            for j in range(ring_size):
                ring[j] = 0.0
            for j in range(n_pipe0):
                ring[j] = init_pipeline[c0, s0, n, j]
            on_hand = init_on_hand[c0, s0, n]
            on_order = init_on_order[c0, s0, n]
            # accumulators
            a_hold = 0.0
            a_lost = 0.0
            a_lost_cost = 0.0
            a_order_cost = 0.0
            a_ordered = 0.0
            a_demand = 0.0
            a_sales = 0.0
            a_end = 0.0
            a_orders = 0
            a_instock = 0
            slot = 0  # t % ring_size
            for t in range(n_days):
                # (1) receipts due today
                arrived = ring[slot]
                ring[slot] = 0.0
                on_hand = on_hand + arrived
                on_order = on_order - arrived
                # (2) review and order
                q = 0.0
                if t == next_review:
                    next_review += period
                    raw = levels[cn, t] - (on_hand + on_order)
                    q = _round_order_scalar(raw, cp, mq)
                    if q > 0.0:
                        a_orders += 1
                        a_order_cost += kc
                        a_ordered += q
                        lt = lead_times[sn, t]
                        if lt == 0:
                            on_hand = on_hand + q
                            arrived = arrived + q
                        else:
                            dest = slot + lt
                            if dest >= ring_size:
                                dest -= ring_size
                            ring[dest] = ring[dest] + q
                            on_order = on_order + q
                if on_hand > 0.0:
                    a_instock += 1
                # (3) demand, lost sales
                d = demand[sn, t]
                sold = min(on_hand, d)
                lost = d - sold
                start = on_hand
                on_hand = on_hand - sold
                # (4) costs on end-of-day on-hand
                a_hold += h * on_hand
                a_end += on_hand
                a_lost += lost
                a_lost_cost += p * lost
                a_demand += d
                a_sales += sold
                if record:
                    tr_start[i, t] = start
                    tr_end[i, t] = on_hand
                    tr_orders[i, t] = q
                    tr_arrivals[i, t] = arrived
                    tr_lost[i, t] = lost
                slot += 1
                if slot == ring_size:
                    slot = 0
            acc_f[0, i] = a_hold
            acc_f[1, i] = a_lost
            acc_f[2, i] = a_lost_cost
            acc_f[3, i] = a_order_cost
            acc_f[4, i] = a_ordered
            acc_f[5, i] = a_demand
            acc_f[6, i] = a_sales
            acc_f[7, i] = a_end
            acc_i[0, i] = a_orders
            acc_i[1, i] = a_instock
            if keep_pipeline:
                # slot now points at day T: final_pipe[i, j] = due at start of T + j
                for j in range(ring_size):
                    src = slot + j
                    if src >= ring_size:
                        src -= ring_size
                    final_pipe[i, j] = ring[src]
            acc_f[8, i] = on_hand
            acc_f[9, i] = on_order


def _checked_demand(demand, lanes: LaneParams, batched: bool) -> np.ndarray:
    """Demand as float64 ``[S, N, T]`` (batched; ``[N, T]`` gets ``S = 1``) or ``[N, T]``."""
    d = np.asarray(demand, dtype=np.float64)
    if batched and d.ndim == 2:
        d = d[None]
    want = 3 if batched else 2
    if d.ndim != want:
        raise ValueError(f"demand must be {'[S, N, T]' if batched else '[N, T]'}, got {d.shape}")
    if lanes.n_lanes != d.shape[-2]:
        raise ValueError(f"lanes has {lanes.n_lanes} lanes, demand has {d.shape[-2]}")
    if d.size and not d.min() >= 0:  # min is NaN if any NaN; no [S, N, T] temporary
        raise ValueError("demand must be non-negative and not NaN")
    return d


def _checked_lead_times(lead_times, shape: tuple[int, ...]) -> np.ndarray:
    """Integer lead times as int32 of ``shape``; ``[N, T]`` broadcasts over S."""
    lt = np.asarray(lead_times)
    if not np.issubdtype(lt.dtype, np.integer):
        if not np.array_equal(lt, np.round(lt)):
            raise ValueError("lead_times must be integers")
        lt = lt.astype(np.int64)
    if lt.size and (lt.min() < 0 or lt.max() > np.iinfo(np.int32).max):
        raise ValueError("lead_times must be >= 0 (and fit int32)")
    if lt.dtype != np.int32:
        lt = lt.astype(np.int32)  # draw_lead_times already returns int32: no copy then
    if lt.shape != shape:
        if lt.shape not in (shape[-2:], (1, *shape[-2:])):
            raise ValueError(f"lead_times must have the shape of demand {shape}, got {lt.shape}")
        lt = np.broadcast_to(lt, shape)
    return lt


def _initial_state(initial_on_hand, initial_pipeline, n_cand: int, n_scen: int, n_lanes: int):
    """Initial on-hand ``[C0, S0, N]``, on-order ``[C0, S0, N]`` and pipeline
    ``[C0, S0, N, P]`` with one common ``C0`` in {1, C} and ``S0`` in {1, S}."""
    oh = np.asarray(initial_on_hand, dtype=np.float64)
    if oh.ndim == 0:
        oh = np.broadcast_to(oh, (n_lanes,))
    if oh.ndim > 3 or oh.shape[-1] != n_lanes:
        raise ValueError(f"initial_on_hand has shape {oh.shape}; expected [N], [S, N] or [C, S, N]")
    oh = oh.reshape((1,) * (3 - oh.ndim) + oh.shape)
    if initial_pipeline is None:
        pipe = np.zeros((1, 1, n_lanes, 0))
    else:
        pipe = np.asarray(initial_pipeline, dtype=np.float64)
        if not 2 <= pipe.ndim <= 4 or pipe.shape[-2] != n_lanes:
            raise ValueError(f"initial_pipeline has shape {pipe.shape}; expected [N, P] (or [S, N, P], [C, S, N, P])")
        pipe = pipe.reshape((1,) * (4 - pipe.ndim) + pipe.shape)
    c0 = n_cand if n_cand in (oh.shape[0], pipe.shape[0]) and max(oh.shape[0], pipe.shape[0]) > 1 else 1
    s0 = n_scen if n_scen in (oh.shape[1], pipe.shape[1]) and max(oh.shape[1], pipe.shape[1]) > 1 else 1
    try:
        oh = np.ascontiguousarray(np.broadcast_to(oh, (c0, s0, n_lanes)))
        pipe = np.ascontiguousarray(np.broadcast_to(pipe, (c0, s0, n_lanes, pipe.shape[3])))
    except ValueError:
        raise ValueError(
            f"initial state shapes {np.shape(initial_on_hand)} / {np.shape(initial_pipeline)} "
            f"do not broadcast to [C={n_cand}, S={n_scen}, N={n_lanes}]"
        ) from None
    if oh.size and not oh.min() >= 0 or pipe.size and not pipe.min() >= 0:
        raise ValueError("initial on-hand and pipeline must be >= 0")
    return oh, pipe.sum(axis=3), pipe


def _ring_size(lead_times: np.ndarray, n_pipe0: int) -> int:
    max_lt = int(lead_times.max()) if lead_times.size else 0
    return max(max_lt + 1, n_pipe0, 1)


def _chunk_size(total: int) -> int:
    threads = max(1, numba.get_num_threads())
    return int(max(1, min(1024, -(-total // (8 * threads)))))


def simulate_order_up_to(  # noqa: PLR0917 (the documented positional signature)
    demand,
    levels,
    lead_times,
    lanes: LaneParams,
    initial_on_hand,
    initial_pipeline=None,
    *,
    record_trajectories: bool = False,
    return_pipeline: bool = False,
) -> SimulationResult:
    """Simulate order-up-to schedules for candidates x scenarios x lanes (fast path).

    Parameters
    ----------
    demand : float ``[S, N, T]`` daily demand (units) per scenario, lane and day.
    levels : float ``[C, N, T]`` order-up-to level (units) of each candidate; only
        read on review days. ``[N, T]`` is taken as ``C = 1``.
    lead_times : int ``[S, N, T]`` lead time (days, >= 0) an order placed that day
        gets; shared by all candidates (common random numbers). ``[N, T]`` is
        broadcast to all scenarios.
    lanes : :class:`LaneParams` of ``N`` lanes.
    initial_on_hand : ``[N]`` units on hand before day 0 (``[S, N]`` or ``[C, S, N]``
        also accepted, e.g. the final state of a previous run).
    initial_pipeline : optional ``[N, P]`` units due at the start of day ``p``
        (``[S, N, P]`` / ``[C, S, N, P]`` also accepted).
    record_trajectories : also return :class:`Trajectories` ``[C, S, N, T]``.
    return_pipeline : also return ``final_pipeline`` ``[C, S, N, R]``.

    Returns a :class:`SimulationResult` with accumulators ``[C, S, N]``. Without
    trajectories, memory is independent of ``T`` beyond the inputs.
    """
    d = _checked_demand(demand, lanes, batched=True)
    n_scen, n_lanes, n_days = d.shape
    lv = np.asarray(levels, dtype=np.float64)
    if lv.ndim == 2:
        lv = lv[None]
    if lv.ndim != 3 or lv.shape[1:] != (n_lanes, n_days):
        raise ValueError(f"levels must be [C, {n_lanes}, {n_days}], got {lv.shape}")
    if lv.size and not (np.isfinite(lv.max()) and np.isfinite(lv.min())):
        raise ValueError("levels must be finite")
    n_cand = lv.shape[0]
    lt = _checked_lead_times(lead_times, d.shape)

    on_hand0, on_order0, pipe = _initial_state(initial_on_hand, initial_pipeline, n_cand, n_scen, n_lanes)
    ring = _ring_size(lt, pipe.shape[3])

    total = n_cand * n_scen * n_lanes
    acc_f = np.empty((10, total))
    acc_i = np.empty((2, total), dtype=np.int64)
    final_pipe = np.empty((total if return_pipeline else 0, ring))
    tr_shape = (total, n_days) if record_trajectories else (0, 0)
    tr = [np.empty(tr_shape) for _ in range(5)]
    _order_up_to_kernel(
        _readonly(d.reshape(n_scen * n_lanes, n_days)),
        _readonly(lv.reshape(n_cand * n_lanes, n_days)),
        _readonly(lt.reshape(n_scen * n_lanes, n_days)),
        lanes.review_period,
        lanes.review_offset,
        lanes.case_pack,
        lanes.moq,
        lanes.holding_cost,
        lanes.lost_sale_cost,
        lanes.order_cost,
        _readonly(on_hand0),
        _readonly(on_order0),
        _readonly(pipe),
        n_cand,
        ring,
        _chunk_size(total),
        bool(record_trajectories),
        bool(return_pipeline),
        acc_f,
        acc_i,
        final_pipe,
        *tr,
    )
    shape = (n_cand, n_scen, n_lanes)
    trajectories = None
    if record_trajectories:
        trajectories = Trajectories(*(a.reshape(shape + (n_days,)) for a in tr))
    return SimulationResult(
        holding_cost=acc_f[0].reshape(shape),
        lost_units=acc_f[1].reshape(shape),
        lost_sales_cost=acc_f[2].reshape(shape),
        order_cost=acc_f[3].reshape(shape),
        n_orders=acc_i[0].reshape(shape),
        ordered_units=acc_f[4].reshape(shape),
        demand_units=acc_f[5].reshape(shape),
        sales_units=acc_f[6].reshape(shape),
        sum_end_on_hand=acc_f[7].reshape(shape),
        in_stock_days=acc_i[1].reshape(shape),
        n_days=np.broadcast_to(np.int64(n_days), shape),
        final_on_hand=acc_f[8].reshape(shape),
        final_on_order=acc_f[9].reshape(shape),
        final_pipeline=final_pipe.reshape(shape + (ring,)) if return_pipeline else None,
        trajectories=trajectories,
    )
