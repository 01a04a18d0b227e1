"""WeCom message budget optimiser (SC-3): who gets which mass message, on which day, at which hour.

Pure computation on numpy arrays; no database, no Django. The service that feeds it (audiences,
response profiles from the contact-hour model) and turns the plan into outbox rows lives
elsewhere.

Response model
--------------
Sending campaign k to customer c on day d at hour h is worth

    value = v[k] * a[c, k] * p[c, h] * day_factor[d]          (fen, expected)

where p[c, h] is the customer's probability of responding to a message sent at hour h, a[c, k]
the audience mask / affinity multiplier (0 = not in the audience) and v[k] the campaign's value
per response. `a * p * day_factor` is counted as the message's expected responses. Messages
are independent (no fatigue term): diminishing returns are expressed by the caps alone — with the
usual WeCom cap of one mass message per customer per day a second same-day message is simply not
allowed. When the daily cap is m > 1, one customer's messages on one day go out at distinct hours.

Because the value factorises, the best hour does not depend on the campaign or the day: the j-th
message of a customer's day goes at that customer's j-th best non-quiet hour ("slot" j; by the
rearrangement inequality the most valuable message of the day takes the best hour). Staff limits
are per day, not per hour, so the hour is free within the non-quiet hours. A customer's period
therefore reduces to a small bipartite matching: campaigns (each at most once) against
(day, slot) pairs (slot j of day d usable only inside the campaign's day window), with at most
`customer_period_cap` edges. That is never materialised as a customers × campaigns × days ×
hours tensor — only customers × campaigns × (days · daily cap) in chunks of a few ten thousand
customers.

Method: Lagrangian relaxation + greedy repair
---------------------------------------------
The per-staff daily limits are the only constraints that couple customers. They are moved into
the objective with a price λ[s, d] ≥ 0 per staff member and day. For fixed prices the problem
splits into one matching per customer with edge weights value − λ[staff(c), d], solved *exactly*
and vectorised over customers by successive longest augmenting paths (Bellman–Ford on the
residual graph, one relaxation round per matched campaign on the path); the matching weight of
each cardinality is concave in the cardinality, so stopping at the first non-positive gain or
at the period cap is optimal. Prices are set by a dozen projected subgradient steps with the
Polyak step size (target: the best feasible value found so far).

The primal plan is repaired from the customers' matchings under the prices whose trimmed plan
was worth most: every staff day over its limit keeps its most valuable messages. Then, in rounds,
a market for seats: a staff day with room costs nothing, a full one costs its least valuable
message. Customers who lost a message (in the first round, everyone) choose their best
*additional* matching at those seat prices — exact per customer, their planned messages kept —
and any staff day that overflows is trimmed again to its most valuable messages, so a better
proposal displaces the cheapest seat and its owner bids in the next round. Every round ends
with every cap holding and the plan's value strictly higher or unchanged, so the rounds settle;
the finished plan is maximal (no campaign can be added to any customer without breaking a cap)
and no single message can displace a cheaper one on a full staff day.

Why the upper bound is valid
----------------------------
For any prices λ ≥ 0 and any plan x that respects every cap, Σ value·x ≤ Σ (value − λ)·x +
Σ λ[s, d]·limit[s, d] (the staff usage is at most the limit), and the first sum is at most the
sum over customers of each customer's best matching under the prices, computed exactly above.
So every evaluated L(λ) = Σ_c best_c(λ) + Σ λ·limit is an upper bound on the optimum (weak
duality); λ = 0 is "each customer's best plan ignoring staff limits". `upper_bound` is the
smallest L(λ) evaluated, and `staff_free_bound` the λ = 0 one. Both carry a margin of
(2·campaigns + 2)·1e-9 fen per customer for the float tolerances of the matching (edges and
gains below 1e-9 are ignored) — a hundredth of a fen at a million customers. The bound covers
every plan in the model above: any hours, any days, as long as same-day messages of one
customer take distinct hours (the j-th best hours are then the best a day's messages can get).

Baseline (what an operator would do by hand): each customer gets the campaigns of their
audiences in campaign order, one a day at 10:00 (or the next hour that is not quiet), within the
same caps; a staff member's daily limit goes first come first served in customer id order.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import numpy.typing as npt

FloatArray = npt.NDArray[np.float64]
IntArray = npt.NDArray[np.int64]
BoolArray = npt.NDArray[np.bool_]

HOURS_PER_DAY = 24
DEFAULT_QUIET_HOURS: tuple[int, ...] = (22, 23, 0, 1, 2, 3, 4, 5, 6, 7)
BASELINE_HOUR = 10

METHOD_LAGRANGIAN = "lagrangian_relaxation+greedy_repair"
METHOD_BASELINE = "baseline_campaign_order_10am_fcfs"
BOUND_LAGRANGIAN = "lagrangian_dual"
BOUND_STAFF_FREE = "staff_limits_ignored"

# Customers per vectorised block: the matching works on block × campaigns × (days · daily cap)
# float64 arrays, a few tens of MB at this size whatever the total number of customers.
_CHUNK_CUSTOMERS = 32768
_SUBGRADIENT_ITERATIONS = 12
# Stop pricing once the best dual bound and the best repaired value are this close (relative).
_SUBGRADIENT_GAP = 0.002
_MAX_REPAIR_ROUNDS = 200
# Path values are sums of a handful of fen amounts; anything below this is rounding noise.
_EPSILON = 1e-9


class BudgetInvalid(ValueError):
    """A budget problem that cannot be planned as given (the message says which input, in
    Chinese); the service turns it into a typed 422."""


@dataclass(frozen=True, eq=False)
class BudgetProblem:
    """One budget period. Customers, campaigns, staff members and days are numbered from 0.

    response_by_hour     (customers, 24)  p[c, h], probability of responding at hour h
    audience_affinity    (customers, campaigns)  a[c, k] ≥ 0, 0 = not in the audience
    value_per_response_fen (campaigns,)  v[k] ≥ 0
    staff_of_customer    (customers,)  the staff member who sends to the customer
    staff_daily_limit    (staff,) or (staff, days)  messages a staff member may send per day
    campaign_first_day / campaign_last_day (campaigns,)  inclusive day window (default: all)
    day_factor           (days,)  response multiplier per day (default 1)
    """

    response_by_hour: Any
    audience_affinity: Any
    value_per_response_fen: Any
    staff_of_customer: Any
    staff_daily_limit: Any
    days: int
    campaign_first_day: Any = None
    campaign_last_day: Any = None
    day_factor: Any = None
    quiet_hours: Sequence[int] = DEFAULT_QUIET_HOURS
    customer_daily_cap: int = 1
    customer_period_cap: int | None = None
    campaign_names: Sequence[str] | None = None

    # Normalised copies, filled in by __post_init__ (validated, fixed dtypes and shapes).
    response: FloatArray = field(init=False, repr=False)
    affinity: FloatArray = field(init=False, repr=False)
    value_fen: FloatArray = field(init=False, repr=False)
    staff: IntArray = field(init=False, repr=False)
    limit: IntArray = field(init=False, repr=False)  # (staff, days)
    first_day: IntArray = field(init=False, repr=False)
    last_day: IntArray = field(init=False, repr=False)
    day_weight: FloatArray = field(init=False, repr=False)
    quiet: BoolArray = field(init=False, repr=False)  # (24,)
    names: tuple[str, ...] = field(init=False, repr=False)

    def __post_init__(self) -> None:
        for name, normalised in _validated(self).items():
            object.__setattr__(self, name, normalised)

    @property
    def n_customers(self) -> int:
        return int(self.response.shape[0])

    @property
    def n_campaigns(self) -> int:
        return int(self.value_fen.shape[0])

    @property
    def n_staff(self) -> int:
        return int(self.limit.shape[0])

    @property
    def period_cap(self) -> int:
        """The per-customer period cap, or what the other caps allow anyway when there is none."""
        most = min(self.n_campaigns, self.days * self.customer_daily_cap)
        cap = self.customer_period_cap
        return most if cap is None else min(cap, most)


@dataclass(frozen=True, eq=False)
class BudgetPlan:
    """One row per message: `customer[i]` gets `campaign[i]` on `day[i]` at `hour[i]`:00.

    `upper_bound` bounds the best possible total expected value (fen) from above (None for the
    baseline, which computes none); `upper_bound_kind` says which bound it is."""

    customer: IntArray
    campaign: IntArray
    day: IntArray
    hour: IntArray
    expected_value_fen: FloatArray
    expected_responses: FloatArray
    total_expected_value_fen: float
    total_expected_responses: float
    upper_bound: float | None
    upper_bound_kind: str | None
    staff_free_bound: float | None
    method: str
    iterations: int
    repair_rounds: int

    @property
    def messages(self) -> int:
        return int(self.customer.shape[0])


# --------------------------------------------------------------------------------------------
# Validation


def _float_array(raw: Any, label: str) -> FloatArray:
    try:
        array = np.asarray(raw, dtype=np.float64)
    except (TypeError, ValueError) as error:
        raise BudgetInvalid(f"{label}必须是数值") from error
    if not np.isfinite(array).all():
        raise BudgetInvalid(f"{label}含有缺失值（NaN）或无穷大")
    if (array < 0).any():
        raise BudgetInvalid(f"{label}不能为负数")
    return array


def _int_array(raw: Any, label: str) -> IntArray:
    array = np.asarray(raw)
    if array.dtype.kind not in "iu":
        raise BudgetInvalid(f"{label}必须是整数")
    return array.astype(np.int64, copy=False)


def _whole(raw: Any, label: str, low: int) -> int:
    if isinstance(raw, bool) or not isinstance(raw, int | np.integer) or raw < low:
        raise BudgetInvalid(f"{label}必须是不小于 {low} 的整数")
    return int(raw)


def _validated(problem: BudgetProblem) -> dict[str, Any]:
    days = _whole(problem.days, "计划天数", 1)
    response = _float_array(problem.response_by_hour, "各小时响应率")
    if response.ndim != 2 or response.shape[1] != HOURS_PER_DAY:
        raise BudgetInvalid("各小时响应率必须是 客户数 × 24 的矩阵")
    if (response > 1).any():
        raise BudgetInvalid("各小时响应率必须在 0 到 1 之间")
    customers = response.shape[0]

    value_fen = _float_array(problem.value_per_response_fen, "每次响应价值")
    if value_fen.ndim != 1:
        raise BudgetInvalid("每次响应价值必须是每个活动一个数")
    campaigns = value_fen.shape[0]
    affinity = _float_array(problem.audience_affinity, "人群系数")
    if affinity.shape != (customers, campaigns):
        raise BudgetInvalid(f"人群系数必须是 客户数 × 活动数（{customers} × {campaigns}）的矩阵")

    limit = _int_array(problem.staff_daily_limit, "导购每日额度")
    if limit.ndim == 1:
        limit = np.repeat(limit[:, None], days, axis=1)
    if limit.ndim != 2 or limit.shape[1] != days or limit.shape[0] == 0:
        raise BudgetInvalid("导购每日额度必须是每位导购一个数，或 导购数 × 天数 的矩阵")
    if (limit < 0).any():
        raise BudgetInvalid("导购每日额度不能为负数")
    staff = _int_array(problem.staff_of_customer, "客户所属导购")
    if staff.shape != (customers,):
        raise BudgetInvalid("客户所属导购必须是每位客户一个导购编号")
    if customers and (staff.min() < 0 or staff.max() >= limit.shape[0]):
        raise BudgetInvalid("客户所属导购编号超出导购名单范围")

    first_day = (
        np.zeros(campaigns, np.int64)
        if problem.campaign_first_day is None
        else _int_array(problem.campaign_first_day, "活动开始日")
    )
    last_day = (
        np.full(campaigns, days - 1, np.int64)
        if problem.campaign_last_day is None
        else _int_array(problem.campaign_last_day, "活动结束日")
    )
    if first_day.shape != (campaigns,) or last_day.shape != (campaigns,):
        raise BudgetInvalid("活动开始日和结束日必须每个活动一个")
    if campaigns and (
        min(first_day.min(), last_day.min()) < 0 or max(first_day.max(), last_day.max()) >= days
    ):
        raise BudgetInvalid(f"活动投放日期超出计划周期（第 1 到第 {days} 天）")
    if (first_day > last_day).any():
        raise BudgetInvalid("活动开始日不能晚于结束日")

    day_weight = (
        np.ones(days) if problem.day_factor is None else _float_array(problem.day_factor, "日系数")
    )
    if day_weight.shape != (days,):
        raise BudgetInvalid("日系数必须每天一个")

    try:
        quiet_hours = [int(hour) for hour in problem.quiet_hours]
    except (TypeError, ValueError) as error:
        raise BudgetInvalid("免打扰时段必须是 0 到 23 的小时") from error
    if any(not 0 <= hour < HOURS_PER_DAY for hour in quiet_hours):
        raise BudgetInvalid("免打扰时段必须是 0 到 23 的小时")
    quiet = np.zeros(HOURS_PER_DAY, np.bool_)
    quiet[quiet_hours] = True
    if quiet.all():
        raise BudgetInvalid("免打扰时段不能覆盖全天 24 小时")

    daily_cap = _whole(problem.customer_daily_cap, "每位客户每日上限", 1)
    if daily_cap > int((~quiet).sum()):
        raise BudgetInvalid("每位客户每日上限不能超过可发送的小时数（同一客户同一小时只发一条）")
    if problem.customer_period_cap is not None:
        _whole(problem.customer_period_cap, "每位客户本期上限", 0)

    if problem.campaign_names is None:
        names = tuple(f"活动{k + 1}" for k in range(campaigns))
    else:
        names = tuple(str(name) for name in problem.campaign_names)
        if len(names) != campaigns:
            raise BudgetInvalid("活动名称必须每个活动一个")

    return {
        "response": response,
        "affinity": affinity,
        "value_fen": value_fen,
        "staff": staff,
        "limit": limit,
        "first_day": first_day,
        "last_day": last_day,
        "day_weight": day_weight,
        "quiet": quiet,
        "names": names,
    }


# --------------------------------------------------------------------------------------------
# The per-customer model: campaigns against (day, slot) pairs


@dataclass(frozen=True)
class _Slots:
    """Right-hand nodes r = day * daily_cap + slot; slot j is the customer's j-th best hour."""

    hour: npt.NDArray[np.int8]  # (customers, daily_cap)
    probability: FloatArray  # (customers, daily_cap)
    window: BoolArray  # (campaigns, nodes): the node's day lies in the campaign's window
    day_of_node: IntArray  # (nodes,)
    per_day: int

    @property
    def nodes(self) -> int:
        return int(self.day_of_node.shape[0])


def _slots(problem: BudgetProblem) -> _Slots:
    per_day = problem.customer_daily_cap
    customers = problem.n_customers
    hour = np.zeros((customers, per_day), np.int8)
    probability = np.zeros((customers, per_day))
    for start in range(0, customers, _CHUNK_CUSTOMERS):
        block = problem.response[start : start + _CHUNK_CUSTOMERS].copy()
        # −1 ranks quiet hours below every probability, so they are never picked; argmax takes
        # the earliest of equally good hours.
        block[:, problem.quiet] = -1.0
        rows = np.arange(block.shape[0])
        for slot in range(per_day):
            best = block.argmax(axis=1)
            hour[start : start + block.shape[0], slot] = best
            probability[start : start + block.shape[0], slot] = block[rows, best]
            block[rows, best] = -2.0
    day_of_node = np.repeat(np.arange(problem.days, dtype=np.int64), per_day)
    window = (problem.first_day[:, None] <= day_of_node[None, :]) & (
        day_of_node[None, :] <= problem.last_day[:, None]
    )
    return _Slots(hour, probability, window, day_of_node, per_day)


def _edge_values(problem: BudgetProblem, slots: _Slots, rows: IntArray) -> FloatArray:
    """Expected value (fen) of each campaign × (day, slot) edge for the given customers, 0 where
    the campaign is outside its window."""
    alpha = problem.affinity[rows] * problem.value_fen[None, :]
    gain = (slots.probability[rows][:, None, :] * problem.day_weight[None, :, None]).reshape(
        rows.shape[0], slots.nodes
    )
    values = alpha[:, :, None] * gain[:, None, :]
    values *= slots.window[None, :, :]
    return values


def _max_weight_matchings(weights: FloatArray, cap: IntArray) -> tuple[IntArray, FloatArray]:
    """Exact maximum-weight matching of each customer's campaigns (axis 1) to nodes (axis 2)
    using at most `cap[c]` edges; −inf marks a missing edge. Returns the node of each campaign
    (−1 = unmatched) and each customer's matching weight.

    Successive longest augmenting paths: the i-th augmentation turns a best matching of size i
    into a best one of size i + 1 (no positive cycle in the residual graph), and the best weight
    is concave in the size, so stopping at the first gain ≤ 0 or at the cap is optimal.
    Longest paths by Bellman–Ford; predecessors change only on a strict improvement, so ties
    (zero-weight cycles) cannot loop the predecessor chain."""
    customers, campaigns, nodes = weights.shape
    node_of_campaign = np.full((customers, campaigns), -1, np.int64)
    live = np.flatnonzero((cap > 0) & np.isfinite(weights).reshape(customers, -1).any(axis=1))
    # Campaign-major copies: the relaxation loops over the few campaigns and works on
    # contiguous customers × nodes planes, several times faster than reducing over axis 1.
    edge = np.ascontiguousarray(weights[live].transpose(1, 0, 2))
    residual = edge.copy()  # forward edges; a matched edge is −inf here (it runs backwards)
    matched_node = np.full((campaigns, live.shape[0]), -1, np.int64)
    matched_campaign = np.full((live.shape[0], nodes), -1, np.int64)
    matched_weight = np.zeros((campaigns, live.shape[0]))
    count = np.zeros(live.shape[0], np.int64)
    limit = cap[live]
    for matched in range(min(campaigns, nodes)):
        if live.size == 0:
            break
        rows = np.arange(live.shape[0])
        to_campaign = np.where(matched_node < 0, 0.0, -np.inf)
        to_node = np.full((live.shape[0], nodes), -np.inf)
        predecessor = np.zeros((live.shape[0], nodes), np.int8)
        # A simple augmenting path passes through at most `matched` matched campaigns, so
        # matched + 1 relaxation rounds reach every longest path.
        for _ in range(matched + 1):
            improved = False
            for campaign in range(campaigns):
                candidate = residual[campaign] + to_campaign[campaign][:, None]
                better = candidate > to_node + _EPSILON
                if better.any():
                    improved = True
                    np.copyto(to_node, candidate, where=better)
                    np.putmask(predecessor, better, campaign)
            if not improved:
                break
            for campaign in range(campaigns):
                node = matched_node[campaign]
                is_matched = node >= 0
                back = to_node[rows, np.where(is_matched, node, 0)] - matched_weight[campaign]
                to_campaign[campaign] = np.where(is_matched, back, 0.0)
        gain_at_end = np.where(matched_campaign < 0, to_node, -np.inf)
        end = gain_at_end.argmax(axis=1)
        gain = gain_at_end[rows, end]
        grows = (gain > _EPSILON) & (count < limit)
        done = ~grows
        node_of_campaign[live[done]] = matched_node[:, done].T
        path_rows = np.flatnonzero(grows)
        node = end[path_rows]
        for _ in range(matched + 1):
            if path_rows.size == 0:
                break
            campaign = predecessor[path_rows, node].astype(np.int64)
            previous = matched_node[campaign, path_rows]
            matched_node[campaign, path_rows] = node
            matched_campaign[path_rows, node] = campaign
            matched_weight[campaign, path_rows] = edge[campaign, path_rows, node]
            residual[campaign, path_rows, node] = -np.inf
            moved = previous >= 0
            path_rows, campaign, previous = path_rows[moved], campaign[moved], previous[moved]
            residual[campaign, path_rows, previous] = edge[campaign, path_rows, previous]
            node = previous
        if path_rows.size:
            raise AssertionError("augmenting path longer than the matching allows")
        count += grows
        keep = np.flatnonzero(grows)
        live, count, limit = live[keep], count[keep], limit[keep]
        edge, residual = edge[:, keep], residual[:, keep]
        matched_node, matched_weight = matched_node[:, keep], matched_weight[:, keep]
        matched_campaign = matched_campaign[keep]
    node_of_campaign[live] = matched_node.T
    matched_now = node_of_campaign >= 0
    safe = np.where(matched_now, node_of_campaign, 0)
    chosen = np.take_along_axis(weights, safe[:, :, None], axis=2)[:, :, 0]
    totals = np.where(matched_now, chosen, 0.0).sum(axis=1)
    return node_of_campaign, totals


# --------------------------------------------------------------------------------------------
# The optimiser


@dataclass
class _State:
    """The plan being built: node_of[c, k] = node (day · daily_cap + slot) or −1."""

    node_of: npt.NDArray[np.int16]

    def messages(self) -> tuple[IntArray, IntArray, IntArray]:
        customer, campaign = np.nonzero(self.node_of >= 0)
        return (
            customer.astype(np.int64),
            campaign.astype(np.int64),
            self.node_of[customer, campaign].astype(np.int64),
        )


def _message_values(
    problem: BudgetProblem, slots: _Slots, customer: IntArray, campaign: IntArray, node: IntArray
) -> FloatArray:
    day, slot = np.divmod(node, slots.per_day)
    return (
        problem.value_fen[campaign]
        * problem.affinity[customer, campaign]
        * slots.probability[customer, slot]
        * problem.day_weight[day]
    )


def _solve(
    problem: BudgetProblem,
    slots: _Slots,
    rows: IntArray,
    price: FloatArray | None,
    state: _State | None,
) -> tuple[npt.NDArray[np.int16], FloatArray]:
    """Best matchings for `rows` (and their weights), chunk by chunk. With `price` (staff, days)
    each message pays its staff day's price (+inf closes the staff day). With `state`, the
    customers' planned messages stay and only additions are chosen (unused campaigns, unused
    nodes, within the period cap)."""
    result = np.full((rows.shape[0], problem.n_campaigns), -1, np.int16)
    totals = np.zeros(rows.shape[0])
    for start in range(0, rows.shape[0], _CHUNK_CUSTOMERS):
        block = rows[start : start + _CHUNK_CUSTOMERS]
        weights = _edge_values(problem, slots, block)
        if price is not None:
            staff_day = problem.staff[block][:, None] * problem.days + slots.day_of_node[None, :]
            weights -= price.reshape(-1)[staff_day][:, None, :]
        cap = np.full(block.shape[0], problem.period_cap, np.int64)
        if state is not None:
            planned = state.node_of[block].astype(np.int64)
            has = planned >= 0
            cap -= has.sum(axis=1)
            weights[has] = -np.inf
            block_rows, planned_campaign = np.nonzero(has)
            weights[block_rows, :, planned[block_rows, planned_campaign]] = -np.inf
        # Only strictly profitable edges: a best matching never needs an edge worth ≤ 0, and
        # dropping them keeps every planned message worth something.
        weights[weights <= _EPSILON] = -np.inf
        chosen, block_total = _max_weight_matchings(weights, cap)
        result[start : start + block.shape[0]] = chosen
        totals[start : start + block.shape[0]] = block_total
    return result, totals


def _staff_day_load(
    problem: BudgetProblem, slots: _Slots, customer: IntArray, node: IntArray
) -> IntArray:
    cell = problem.staff[customer] * problem.days + slots.day_of_node[node]
    return np.bincount(cell, minlength=problem.n_staff * problem.days).reshape(
        problem.n_staff, problem.days
    )


def _trim(problem: BudgetProblem, slots: _Slots, state: _State) -> IntArray:
    """Keep each overfull staff day's most valuable messages; return the customers who lost one."""
    customer, campaign, node = state.messages()
    cell = problem.staff[customer] * problem.days + slots.day_of_node[node]
    limit = problem.limit.reshape(-1)
    load = np.bincount(cell, minlength=limit.shape[0])
    over = np.flatnonzero(load[cell] > limit[cell])
    if over.size == 0:
        return np.zeros(0, np.int64)
    value = _message_values(problem, slots, customer[over], campaign[over], node[over])
    order = np.lexsort((-value, cell[over]))
    ordered_cell = cell[over][order]
    first_of_cell = np.searchsorted(ordered_cell, ordered_cell, side="left")
    rank = np.arange(order.shape[0]) - first_of_cell
    dropped = over[order[rank >= limit[ordered_cell]]]
    state.node_of[customer[dropped], campaign[dropped]] = -1
    return np.unique(customer[dropped])


def _seat_prices(problem: BudgetProblem, slots: _Slots, state: _State) -> FloatArray:
    """What a new message must be worth to get a seat on each staff day: 0 while the day has
    room, its least valuable planned message once full (+inf when the limit is 0)."""
    customer, campaign, node = state.messages()
    cell = problem.staff[customer] * problem.days + slots.day_of_node[node]
    limit = problem.limit.reshape(-1)
    lowest = np.full(limit.shape[0], np.inf)
    np.minimum.at(lowest, cell, _message_values(problem, slots, customer, campaign, node))
    full = np.bincount(cell, minlength=limit.shape[0]) >= limit
    return np.where(full, lowest, 0.0).reshape(problem.n_staff, problem.days)


def _plan_value(problem: BudgetProblem, slots: _Slots, state: _State) -> float:
    customer, campaign, node = state.messages()
    return float(_message_values(problem, slots, customer, campaign, node).sum())


def _best_hours_first(problem: BudgetProblem, slots: _Slots, state: _State) -> None:
    """Within each customer's day, give the most valuable campaign the best hour (rearrangement);
    repair can leave a better slot empty after trimming. Caps are per day, so none moves."""
    if slots.per_day == 1:
        return
    customer, campaign, node = state.messages()
    day = node // slots.per_day
    strength = problem.value_fen[campaign] * problem.affinity[customer, campaign]
    order = np.lexsort((-strength, day, customer))
    group = customer[order] * problem.days + day[order]
    rank = np.arange(order.shape[0]) - np.searchsorted(group, group, side="left")
    state.node_of[customer[order], campaign[order]] = day[order] * slots.per_day + rank


def budget_plan(problem: BudgetProblem) -> BudgetPlan:
    """Plan the period: Lagrangian prices on the staff days, then repair (see module doc)."""
    slots = _slots(problem)
    everyone = np.arange(problem.n_customers, dtype=np.int64)
    limit = problem.limit.astype(np.float64)
    price = np.zeros_like(limit)
    best_bound = math.inf
    staff_free_bound = math.inf
    best_feasible = -math.inf
    best_matching: npt.NDArray[np.int16] | None = None
    step_scale = 1.0
    iterations = 0
    matching = np.full((problem.n_customers, problem.n_campaigns), -1, np.int16)
    priced_value = np.zeros(problem.n_customers)
    # The prices each staff member's customers were last solved at (NaN: never). Prices of
    # staff whose limits never bind stay 0, so after the first pass only the customers of
    # staff whose prices moved are solved again — usually a minority.
    solved_at = np.full_like(limit, np.nan)
    # What the matching's float tolerances can leave out per customer (see the module doc).
    tolerance = problem.n_customers * (2 * problem.n_campaigns + 2) * _EPSILON
    for iteration in range(_SUBGRADIENT_ITERATIONS):
        iterations = iteration + 1
        stale_staff = (price != solved_at).any(axis=1)
        rows = np.flatnonzero(stale_staff[problem.staff])
        if rows.size:
            matching[rows], priced_value[rows] = _solve(problem, slots, rows, price, None)
        solved_at = price.copy()
        bound = float(priced_value.sum()) + float((price * limit).sum()) + tolerance
        if iteration == 0:
            staff_free_bound = bound
        if bound < best_bound - _EPSILON:
            best_bound = bound
        elif iteration:
            step_scale /= 2
        state = _State(matching.copy())
        customer, _, node = state.messages()
        load = _staff_day_load(problem, slots, customer, node)
        _trim(problem, slots, state)
        feasible = _plan_value(problem, slots, state)
        if feasible > best_feasible:
            best_feasible, best_matching = feasible, matching.copy()
        slope = (load - limit).astype(np.float64)
        slope[(price <= 0) & (slope < 0)] = 0.0
        norm = float((slope * slope).sum())
        if norm == 0.0 or best_bound - best_feasible <= _SUBGRADIENT_GAP * best_bound:
            break  # the priced plan is feasible and complementary-slack, or close enough
        price = np.maximum(0.0, price + step_scale * (bound - best_feasible) / norm * slope)

    assert best_matching is not None
    state = _State(best_matching)
    _trim(problem, slots, state)
    # Repair as a market for seats: a staff day with room costs nothing, a full one costs its
    # least valuable message, which a better proposal displaces (the trim keeps each staff
    # day's most valuable messages). Each round raises the plan's value strictly or changes
    # nothing, so it settles; customers who lost a message are the next round's bidders.
    candidates = everyone
    rounds = 0
    while candidates.size and rounds < _MAX_REPAIR_ROUNDS:
        rounds += 1
        additions, _ = _solve(
            problem, slots, candidates, _seat_prices(problem, slots, state), state
        )
        block_rows, campaign = np.nonzero(additions >= 0)
        state.node_of[candidates[block_rows], campaign] = additions[block_rows, campaign]
        candidates = _trim(problem, slots, state)
    _best_hours_first(problem, slots, state)

    customer, campaign, node = state.messages()
    plan_value = _plan_value(problem, slots, state)
    if plan_value > best_bound * (1 + 1e-9) + 1e-6:
        raise AssertionError("a feasible plan beat the dual bound: the bound would be invalid")
    # Equal up to float rounding when the prices are optimal and the plan hits the bound.
    upper_bound = max(best_bound, plan_value)
    kind = BOUND_STAFF_FREE if best_bound >= staff_free_bound else BOUND_LAGRANGIAN
    return _make_plan(
        problem,
        customer,
        campaign,
        node // slots.per_day,
        slots.hour[customer, node % slots.per_day].astype(np.int64),
        upper_bound=upper_bound,
        upper_bound_kind=kind,
        staff_free_bound=staff_free_bound,
        method=METHOD_LAGRANGIAN,
        iterations=iterations,
        repair_rounds=rounds,
    )


def _make_plan(
    problem: BudgetProblem,
    customer: IntArray,
    campaign: IntArray,
    day: IntArray,
    hour: IntArray,
    *,
    upper_bound: float | None,
    upper_bound_kind: str | None,
    staff_free_bound: float | None,
    method: str,
    iterations: int,
    repair_rounds: int,
) -> BudgetPlan:
    order = np.lexsort((hour, day, customer))
    customer, campaign, day, hour = customer[order], campaign[order], day[order], hour[order]
    responses = (
        problem.affinity[customer, campaign]
        * problem.response[customer, hour]
        * problem.day_weight[day]
    )
    value = problem.value_fen[campaign] * responses
    return BudgetPlan(
        customer=customer,
        campaign=campaign,
        day=day,
        hour=hour,
        expected_value_fen=value,
        expected_responses=responses,
        total_expected_value_fen=float(value.sum()),
        total_expected_responses=float(responses.sum()),
        upper_bound=upper_bound,
        upper_bound_kind=upper_bound_kind,
        staff_free_bound=staff_free_bound,
        method=method,
        iterations=iterations,
        repair_rounds=repair_rounds,
    )


def _baseline_hour(problem: BudgetProblem) -> int:
    for offset in range(HOURS_PER_DAY):
        hour = (BASELINE_HOUR + offset) % HOURS_PER_DAY
        if not problem.quiet[hour]:
            return hour
    raise AssertionError("validation guarantees a non-quiet hour")


def budget_baseline(problem: BudgetProblem) -> BudgetPlan:
    """Day by day, each customer's lowest-numbered campaign that is in their audience, not yet
    sent and open today is queued for 10:00; each staff member sends to the queue in customer id
    order until the day's limit, the rest wait for tomorrow. One message a day at most."""
    hour = _baseline_hour(problem)
    customers = problem.n_customers
    sent = np.zeros((customers, problem.n_campaigns), np.bool_)
    count = np.zeros(customers, np.int64)
    in_audience = problem.affinity > 0
    rows: list[tuple[IntArray, IntArray, int]] = []
    for day in range(problem.days):
        open_today = (problem.first_day <= day) & (day <= problem.last_day)
        wanted = in_audience & ~sent & open_today[None, :]
        wanted &= (count < problem.period_cap)[:, None]
        queued = np.flatnonzero(wanted.any(axis=1))
        campaign = wanted[queued].argmax(axis=1).astype(np.int64)
        staff = problem.staff[queued]
        by_staff = np.argsort(staff, kind="stable")  # customer id order within each staff
        ordered_staff = staff[by_staff]
        rank = np.empty_like(by_staff)
        rank[by_staff] = np.arange(by_staff.shape[0]) - np.searchsorted(
            ordered_staff, ordered_staff, side="left"
        )
        accepted = rank < problem.limit[staff, day]
        customer, campaign = queued[accepted], campaign[accepted]
        sent[customer, campaign] = True
        count[customer] += 1
        rows.append((customer.astype(np.int64), campaign, day))
    customer = np.concatenate([r[0] for r in rows])
    campaign = np.concatenate([r[1] for r in rows])
    day_array = np.concatenate([np.full(r[0].shape[0], r[2], np.int64) for r in rows])
    return _make_plan(
        problem,
        customer,
        campaign,
        day_array,
        np.full(customer.shape[0], hour, np.int64),
        upper_bound=None,
        upper_bound_kind=None,
        staff_free_bound=None,
        method=METHOD_BASELINE,
        iterations=0,
        repair_rounds=0,
    )


# --------------------------------------------------------------------------------------------
# Checking and explaining a plan


def _over(keys: IntArray, allowed: IntArray | int) -> tuple[IntArray, IntArray]:
    """Keys that occur more often than allowed (allowed: scalar, or indexed by key)."""
    unique, counts = np.unique(keys, return_counts=True)
    bound = allowed if isinstance(allowed, int) else allowed[unique]
    bad = counts > bound
    return unique[bad], counts[bad]


def plan_caps_violations(problem: BudgetProblem, plan: BudgetPlan) -> list[str]:
    """Every broken rule of the plan, one Chinese sentence each; empty when the plan is valid.
    Recomputes everything from the plan's rows and the problem, sharing nothing with the
    optimiser."""
    customer, campaign = np.asarray(plan.customer), np.asarray(plan.campaign)
    day, hour = np.asarray(plan.day), np.asarray(plan.hour)
    value = np.asarray(plan.expected_value_fen)
    lengths = {a.shape[0] for a in (customer, campaign, day, hour, value)}
    if len(lengths) != 1:
        return ["方案各列长度不一致"]
    problems: list[str] = []
    for label, column, size in (
        ("客户", customer, problem.n_customers),
        ("活动", campaign, problem.n_campaigns),
        ("日期", day, problem.days),
        ("小时", hour, HOURS_PER_DAY),
    ):
        bad = (column < 0) | (column >= size)
        problems += [
            f"第 {i + 1} 行的{label}编号 {column[i]} 超出范围" for i in np.flatnonzero(bad)
        ]
    if problems:
        return problems
    names = problem.names
    for i in np.flatnonzero(problem.quiet[hour]):
        problems.append(f"客户 {customer[i]} 第{day[i] + 1}天 {hour[i]:02d}:00 处于免打扰时段")
    outside = (day < problem.first_day[campaign]) | (day > problem.last_day[campaign])
    for i in np.flatnonzero(outside):
        problems.append(
            f"客户 {customer[i]} 第{day[i] + 1}天收到「{names[campaign[i]]}」，不在活动投放期内"
        )
    for i in np.flatnonzero(problem.affinity[customer, campaign] <= 0):
        problems.append(f"客户 {customer[i]} 不在「{names[campaign[i]]}」的人群内")
    keys, counts = _over(customer * problem.n_campaigns + campaign, 1)
    for key, n in zip(keys, counts, strict=True):
        c, k = divmod(int(key), problem.n_campaigns)
        problems.append(f"客户 {c} 收到「{names[k]}」{n} 次，同一活动只能发一次")
    keys, counts = _over((customer * problem.days + day) * HOURS_PER_DAY + hour, 1)
    for key, n in zip(keys, counts, strict=True):
        rest, h = divmod(int(key), HOURS_PER_DAY)
        c, d = divmod(rest, problem.days)
        problems.append(f"客户 {c} 第{d + 1}天 {h:02d}:00 收到 {n} 条，同一小时只能发一条")
    keys, counts = _over(customer * problem.days + day, problem.customer_daily_cap)
    for key, n in zip(keys, counts, strict=True):
        c, d = divmod(int(key), problem.days)
        problems.append(
            f"客户 {c} 第{d + 1}天收到 {n} 条，超过每日上限 {problem.customer_daily_cap} 条"
        )
    if problem.customer_period_cap is not None:
        keys, counts = _over(customer, problem.customer_period_cap)
        for key, n in zip(keys, counts, strict=True):
            problems.append(
                f"客户 {key} 本期收到 {n} 条，超过本期上限 {problem.customer_period_cap} 条"
            )
    staff_day = problem.staff[customer] * problem.days + day
    keys, counts = _over(staff_day, problem.limit.reshape(-1))
    for key, n in zip(keys, counts, strict=True):
        s, d = divmod(int(key), problem.days)
        problems.append(f"导购 {s} 第{d + 1}天发送 {n} 条，超过当日额度 {problem.limit[s, d]} 条")
    model = (
        problem.value_fen[campaign]
        * problem.affinity[customer, campaign]
        * problem.response[customer, hour]
        * problem.day_weight[day]
    )
    for i in np.flatnonzero(~np.isclose(value, model, rtol=1e-9, atol=1e-9)):
        problems.append(f"第 {i + 1} 行的预计价值 {value[i]:.4f} 与响应模型（{model[i]:.4f}）不符")
    return problems


def _percent(probability: float) -> str:
    percent = probability * 100
    return f"{percent:.0f}%" if percent >= 10 else f"{percent:.1f}%"


def _days_text(days: list[int]) -> str:
    return "、".join(f"第{d + 1}天" for d in days)


def plan_explain(problem: BudgetProblem, plan: BudgetPlan, customer: int) -> list[str]:
    """Why this customer gets what they get, in Chinese: one sentence per planned message, then
    one per campaign left out."""
    if not 0 <= customer < problem.n_customers:
        raise BudgetInvalid(f"客户编号 {customer} 超出范围")
    names = problem.names
    profile = problem.response[customer]
    allowed = np.flatnonzero(~problem.quiet)
    ranked_hours = allowed[np.argsort(-profile[allowed], kind="stable")]
    best_hour = int(ranked_hours[0])
    mine = np.flatnonzero(plan.customer == customer)
    baseline = plan.method == METHOD_BASELINE
    lines: list[str] = []
    for i in mine:
        d, h, k = int(plan.day[i]), int(plan.hour[i]), int(plan.campaign[i])
        value = f"预计价值 ¥{plan.expected_value_fen[i] / 100:.2f}"
        head = f"第{d + 1}天 {h:02d}:00 发送「{names[k]}」："
        if h == best_hour:
            reason = f"该客户 {h} 点响应率最高（{_percent(profile[h])}）"
        elif baseline:
            reason = (
                f"按固定时间 {h} 点发送（该时段响应率 {_percent(profile[h])}，"
                f"该客户 {best_hour} 点最高，为 {_percent(profile[best_hour])}）"
            )
        else:
            better = [
                names[int(plan.campaign[j])]
                for j in mine
                if int(plan.day[j]) == d and profile[int(plan.hour[j])] > profile[h]
            ]
            taken = f"，当天更好的时段已安排「{'」「'.join(better)}」" if better else ""
            reason = f"该客户 {h} 点响应率 {_percent(profile[h])}{taken}"
        lines.append(head + reason + "，" + value)

    planned = set(plan.campaign[mine].tolist())
    daily = np.bincount(plan.day[mine], minlength=problem.days)
    staff = int(problem.staff[customer])
    same_staff = problem.staff[plan.customer] == staff
    staff_load = np.bincount(plan.day[same_staff], minlength=problem.days)
    for k in range(problem.n_campaigns):
        if k in planned:
            continue
        head = f"「{names[k]}」未安排："
        if problem.affinity[customer, k] <= 0:
            lines.append(head + "不在人群内")
            continue
        window = range(int(problem.first_day[k]), int(problem.last_day[k]) + 1)
        worthless = problem.value_fen[k] <= 0 or profile[allowed].max() <= 0
        if worthless or all(problem.day_weight[d] <= 0 for d in window):
            lines.append(head + "预计价值为零")
            continue
        cap = problem.customer_period_cap
        if cap is not None and mine.size >= cap:
            lines.append(head + f"已达本期上限（{cap} 条）")
            continue
        customer_full = [d for d in window if daily[d] >= problem.customer_daily_cap]
        staff_full = [
            d for d in window if d not in customer_full and staff_load[d] >= problem.limit[staff, d]
        ]
        other = [d for d in window if d not in customer_full and d not in staff_full]
        parts = []
        if customer_full:
            parts.append(f"已达每日上限（{_days_text(customer_full)}）")
        if staff_full:
            parts.append(f"导购当日额度已满（{_days_text(staff_full)}）")
        if other:
            why = "按计划顺序每天只发一条，未轮到" if baseline else "预计价值不足以占用名额"
            parts.append(f"{why}（{_days_text(other)}）")
        lines.append(head + "；".join(parts))
    return lines
