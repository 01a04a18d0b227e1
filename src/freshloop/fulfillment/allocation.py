"""Allocation as an optimisation problem, with no database in sight (SPEC FF-1).

The problem: paid orders (lines of SKU, units, storage class, unit weight; a destination
province; maybe a promised number of days), warehouses (which storage classes they keep, how
many units of each SKU they may give this batch — only units fresh enough for the orders'
channel), carriers (which storage classes they keep cold, how fast, what they charge). The
answer: for each order, its parcels — each from one warehouse, by one carrier, in ONE storage
class (a chilled item never rides in an ambient parcel) — at least cost, where cost is what
carriers charge plus a penalty per parcel beyond one per storage class, plus a heavy penalty
per day late when no plan keeps the promise (then the fastest feasible plan wins and the
decision says so).

Why plans ("columns"): an order's storage classes ship in separate parcels anyway, so each
(order, storage class) is an independent *job*; a job's sensible ways to ship are few — whole
from one of a handful of warehouses, or split over two — and each way's best carrier does not
depend on any other order. Enumerating them here leaves the solver (`fulfillment.solver`) a
small choice per job under shared stock. Jobs that look alike (same destination, lines,
promise) are one class with a count, which is what makes a flash sale's 500 orders of one SKU
a problem of a few dozen integer variables.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from freshloop.fulfillment import geo

AMBIENT, CHILLED, FROZEN = "ambient", "chilled", "frozen"
COLD = frozenset({CHILLED, FROZEN})
PARCEL_PENALTY_FEN = 500
"""Cost of each parcel beyond the first of a storage class: packing, a second delivery, a
customer who receives half an order. Splitting must save more than this to be chosen."""
LATE_PENALTY_FEN_PER_DAY = 100_000
UNSERVED_PENALTY_FEN = 10_000_000
MAX_SPLIT_LINES = 4


@dataclass(frozen=True)
class Line:
    sku: int
    quantity: int
    storage: str
    weight_g: int
    """Weight of ONE unit, packed."""


@dataclass(frozen=True)
class OrderSpec:
    id: int
    province: str
    lines: tuple[Line, ...]
    max_days: int | None = None


@dataclass(frozen=True)
class Rate:
    first_fee_fen: int
    first_weight_g: int = 1000
    extra_per_kg_fen: int = 0
    cold_surcharge_fen: int = 0
    zone: str = ""
    destination: str = ""

    def price(self, weight_g: int, storage: str) -> int:
        extra_kg = max(0, math.ceil((weight_g - self.first_weight_g) / 1000))
        cold = self.cold_surcharge_fen if storage in COLD else 0
        return self.first_fee_fen + extra_kg * self.extra_per_kg_fen + cold


@dataclass(frozen=True)
class CarrierSpec:
    id: int
    name: str
    storages: frozenset[str]
    rates: tuple[Rate, ...]
    speed_factor: float = 1.0
    days_offset: int = 0

    def rate_for(self, zone: str, destination: str) -> Rate | None:
        """The most specific rate: province over region over default, then zone over any."""
        province = geo.province_short(destination)
        region = geo.region_of(destination)
        best: tuple[int, Rate] | None = None
        for rate in self.rates:
            if rate.zone and rate.zone != zone:
                continue
            if rate.destination and rate.destination not in (province, region):
                continue
            rank = (2 if rate.destination == province else 1 if rate.destination else 0) * 2 + (
                1 if rate.zone else 0
            )
            if best is None or rank > best[0]:
                best = (rank, rate)
        return best[1] if best else None


@dataclass(frozen=True)
class WarehouseSpec:
    id: int
    name: str
    province: str
    storages: frozenset[str]
    stock: Mapping[int, int]
    city: str = ""


@dataclass(frozen=True)
class Problem:
    orders: Sequence[OrderSpec]
    warehouses: Sequence[WarehouseSpec]
    carriers: Sequence[CarrierSpec]
    parcel_penalty_fen: int = PARCEL_PENALTY_FEN


@dataclass(frozen=True)
class Parcel:
    warehouse: int
    carrier: int
    storage: str
    lines: tuple[tuple[int, int], ...]
    """(sku, units) in this parcel."""
    weight_g: int
    cost_fen: int
    days: int


@dataclass(frozen=True)
class Plan:
    parcels: tuple[Parcel, ...]
    cost_fen: int
    """Objective: carrier cost + extra-parcel and lateness penalties."""
    carrier_cost_fen: int
    days: int
    late_days: int = 0

    @property
    def served(self) -> bool:
        return bool(self.parcels)

    @property
    def money_fen(self) -> int:
        """What the plan really costs: carrier charges plus the extra-parcel penalty (the
        lateness penalty only steers the choice)."""
        return self.cost_fen - LATE_PENALTY_FEN_PER_DAY * self.late_days

    def usage(self) -> dict[tuple[int, int], int]:
        used: dict[tuple[int, int], int] = {}
        for parcel in self.parcels:
            for sku, units in parcel.lines:
                used[(parcel.warehouse, sku)] = used.get((parcel.warehouse, sku), 0) + units
        return used


UNSERVED = Plan(parcels=(), cost_fen=UNSERVED_PENALTY_FEN, carrier_cost_fen=0, days=0)


@dataclass
class Job:
    """One storage class of one order (or of several alike orders: `order_ids`)."""

    key: tuple[object, ...]
    storage: str
    province: str
    lines: tuple[Line, ...]
    max_days: int | None
    order_ids: list[int] = field(default_factory=list)
    plans: list[Plan] = field(default_factory=list)

    @property
    def count(self) -> int:
        return len(self.order_ids)


@dataclass
class Solution:
    plans: dict[int, list[Plan]]
    """By order id: one plan per storage class of the order (UNSERVED when none could)."""
    cost_fen: int
    method: str = ""
    notes: dict[int, str] = field(default_factory=dict)

    def order_cost(self, order_id: int) -> int:
        return sum(plan.cost_fen for plan in self.plans[order_id])


def jobs_of(orders: Sequence[OrderSpec]) -> list[Job]:
    """Split orders into jobs by storage class and merge alike jobs into classes."""
    jobs: dict[tuple[object, ...], Job] = {}
    for order in orders:
        by_storage: dict[str, dict[int, Line]] = {}
        for line in order.lines:
            group = by_storage.setdefault(line.storage, {})
            if line.sku in group:  # the same SKU twice: one line
                old = group[line.sku]
                line = Line(line.sku, old.quantity + line.quantity, line.storage, line.weight_g)
            group[line.sku] = line
        for storage, lines_by_sku in sorted(by_storage.items()):
            lines = tuple(sorted(lines_by_sku.values(), key=lambda line: line.sku))
            key = (geo.province_short(order.province), storage, lines, order.max_days)
            job = jobs.get(key)
            if job is None:
                job = jobs[key] = Job(key, storage, order.province, lines, order.max_days)
            job.order_ids.append(order.id)
    return list(jobs.values())


class PlanMaker:
    """Builds each job's candidate plans; remembers the best carrier per (warehouse,
    destination, storage, weight, promise), which thousands of orders share."""

    def __init__(self, problem: Problem) -> None:
        self.problem = problem
        self._carrier_cache: dict[tuple[object, ...], tuple[int, int, int, int] | None] = {}

    def best_carrier(
        self,
        warehouse: WarehouseSpec,
        province: str,
        storage: str,
        weight_g: int,
        max_days: int | None,
    ) -> tuple[int, int, int, int] | None:
        """(carrier id, cost, days, days late) — the cheapest carrier within the promise, else
        the fastest (late); None when no carrier keeps this storage class."""
        key = (warehouse.id, province, storage, weight_g, max_days)
        if key in self._carrier_cache:
            return self._carrier_cache[key]
        base = geo.base_days(warehouse.province, province, warehouse.city)
        zone = geo.zone_of(warehouse.province, province)
        options = []
        for carrier in self.problem.carriers:
            if storage not in carrier.storages:
                continue
            rate = carrier.rate_for(zone, province)
            if rate is None:
                continue
            days = geo.carrier_days(
                base, speed_factor=carrier.speed_factor, days_offset=carrier.days_offset
            )
            late = max(0, days - max_days) if max_days else 0
            options.append((late, rate.price(weight_g, storage), days, carrier.id))
        found = None
        if options:
            late, cost, days, carrier_id = min(options)
            found = (carrier_id, cost, days, late)
        self._carrier_cache[key] = found
        return found

    def parcel(
        self, warehouse: WarehouseSpec, job: Job, lines: Sequence[tuple[Line, int]]
    ) -> tuple[Parcel, int] | None:
        weight = sum(line.weight_g * units for line, units in lines)
        best = self.best_carrier(warehouse, job.province, job.storage, weight, job.max_days)
        if best is None:
            return None
        carrier_id, cost, days, late = best
        parcel = Parcel(
            warehouse=warehouse.id,
            carrier=carrier_id,
            storage=job.storage,
            lines=tuple((line.sku, units) for line, units in lines),
            weight_g=weight,
            cost_fen=cost,
            days=days,
        )
        return parcel, late

    def plan(self, parcels: Sequence[tuple[Parcel, int]]) -> Plan:
        carrier_cost = sum(parcel.cost_fen for parcel, _ in parcels)
        late = max(late for _, late in parcels)
        cost = (
            carrier_cost
            + self.problem.parcel_penalty_fen * (len(parcels) - 1)
            + LATE_PENALTY_FEN_PER_DAY * late
        )
        return Plan(
            parcels=tuple(parcel for parcel, _ in parcels),
            cost_fen=cost,
            carrier_cost_fen=carrier_cost,
            days=max(parcel.days for parcel, _ in parcels),
            late_days=late,
        )

    def plans_for(self, job: Job) -> list[Plan]:
        """Whole from each warehouse that keeps the class and holds the units; split over two
        warehouses by lines (up to MAX_SPLIT_LINES lines) or, for a line no warehouse holds
        whole, by units; never from a warehouse or with a carrier that cannot keep the class."""
        able = [w for w in self.problem.warehouses if job.storage in w.storages]
        plans: list[Plan] = []
        for warehouse in able:
            if all(warehouse.stock.get(line.sku, 0) >= line.quantity for line in job.lines):
                made = self.parcel(warehouse, job, [(line, line.quantity) for line in job.lines])
                if made:
                    plans.append(self.plan([made]))
        if 2 <= len(job.lines) <= MAX_SPLIT_LINES:
            for first, second in itertools.permutations(able, 2):
                for size in range(1, len(job.lines)):
                    for part in itertools.combinations(job.lines, size):
                        if job.lines[0] not in part and first.id < second.id:
                            continue  # each partition once per ordered pair
                        rest = [line for line in job.lines if line not in part]
                        if not all(first.stock.get(ln.sku, 0) >= ln.quantity for ln in part):
                            continue
                        if not all(second.stock.get(ln.sku, 0) >= ln.quantity for ln in rest):
                            continue
                        a = self.parcel(first, job, [(ln, ln.quantity) for ln in part])
                        b = self.parcel(second, job, [(ln, ln.quantity) for ln in rest])
                        if a and b:
                            plans.append(self.plan([a, b]))
        stock = {w.id: w.stock for w in able}
        for first, second in itertools.permutations(able, 2):
            # by units: as much as `first` holds of a line it cannot give whole, the rest
            # from `second` (line partitions above cover the lines it holds whole or not at all)
            if not any(0 < first.stock.get(ln.sku, 0) < ln.quantity for ln in job.lines):
                continue
            plan = self.fill(job, [first, second], stock)
            if plan is not None and len(plan.parcels) == 2:
                plans.append(plan)
        if not plans:
            plan = self.fill(job, self.by_cost(job, able), stock)
            if plan is not None:
                plans.append(plan)
        plans.sort(key=lambda plan: plan.cost_fen)
        return _undominated(plans)

    def by_cost(self, job: Job, able: Sequence[WarehouseSpec]) -> list[WarehouseSpec]:
        """Warehouses in the order of what the whole job would cost from each."""

        def cost(warehouse: WarehouseSpec) -> float:
            made = self.parcel(warehouse, job, [(ln, ln.quantity) for ln in job.lines])
            return made[0].cost_fen if made else math.inf

        return sorted(able, key=cost)

    def fill(
        self, job: Job, order: Sequence[WarehouseSpec], stock: Mapping[int, Mapping[int, int]]
    ) -> Plan | None:
        """Line by line from the warehouses in `order`, as many units as each still has
        (`stock`, by warehouse id), as many parcels as it takes; None when they fall short."""
        left = {line.sku: line.quantity for line in job.lines}
        per_warehouse: list[tuple[WarehouseSpec, list[tuple[Line, int]]]] = []
        for warehouse in order:
            take = []
            for line in job.lines:
                units = min(left[line.sku], stock.get(warehouse.id, {}).get(line.sku, 0))
                if units > 0:
                    take.append((line, units))
                    left[line.sku] -= units
            if take:
                per_warehouse.append((warehouse, take))
        if any(left.values()) or not per_warehouse:
            return None
        parcels = [self.parcel(w, job, take) for w, take in per_warehouse]
        if any(p is None for p in parcels):
            return None
        return self.plan([p for p in parcels if p is not None])


def _undominated(plans: list[Plan]) -> list[Plan]:
    """Drop a plan when a cheaper (or equal) one uses the same stock: it can never be
    better. Plans arrive sorted by cost."""
    kept: list[Plan] = []
    seen: set[frozenset[tuple[tuple[int, int], int]]] = set()
    for plan in plans:
        signature = frozenset(plan.usage().items())
        if signature in seen:
            continue
        seen.add(signature)
        kept.append(plan)
    return kept


def build_jobs(problem: Problem) -> list[Job]:
    maker = PlanMaker(problem)
    jobs = jobs_of(problem.orders)
    for job in jobs:
        job.plans = maker.plans_for(job)
    return jobs


def solution_from(jobs: Sequence[Job], chosen: Mapping[int, list[Plan]], method: str) -> Solution:
    """Per order its plans, from each job's list of plans for its orders in order."""
    plans: dict[int, list[Plan]] = {}
    for index, job in enumerate(jobs):
        for order_id, plan in zip(job.order_ids, chosen[index], strict=True):
            plans.setdefault(order_id, []).append(plan)
    cost = sum(plan.cost_fen for order_plans in plans.values() for plan in order_plans)
    return Solution(plans=plans, cost_fen=cost, method=method)


def greedy(problem: Problem) -> Solution:
    """The baseline, today's rule (`inventory.stock_reserve`): orders one by one in payment
    order, each line whole from the nearest warehouse that keeps its storage class and still
    holds its units (a line no warehouse holds whole is taken nearest-first); lines from the
    same warehouse in the same class share a parcel; the cheapest carrier within the promise.
    Stock runs down as it goes — which is why the first buyers empty the nearest warehouse."""
    maker = PlanMaker(problem)
    stock = {w.id: dict(w.stock) for w in problem.warehouses}
    by_id = {w.id: w for w in problem.warehouses}
    chosen_by_order: dict[int, list[Plan]] = {}
    for order in problem.orders:
        plans: list[Plan] = []
        for job in jobs_of([order]):
            able = sorted(
                (w for w in problem.warehouses if job.storage in w.storages),
                key=lambda w: (geo.distance_km(w.province, job.province, w.city), w.id),
            )
            parcels: dict[int, list[tuple[Line, int]]] = {}
            short = False
            for line in job.lines:
                whole = next(
                    (w for w in able if stock[w.id].get(line.sku, 0) >= line.quantity), None
                )
                takes = [(whole, line.quantity)] if whole else []
                if whole is None:
                    left = line.quantity
                    for w in able:
                        units = min(left, stock[w.id].get(line.sku, 0))
                        if units > 0:
                            takes.append((w, units))
                            left -= units
                        if left == 0:
                            break
                    short = left > 0
                if short:
                    break
                for w, units in takes:
                    assert w is not None
                    parcels.setdefault(w.id, []).append((line, units))
                    stock[w.id][line.sku] -= units
            made = [maker.parcel(by_id[wid], job, take) for wid, take in parcels.items()]
            if short or not made or any(m is None for m in made):
                for wid, take in parcels.items():  # give back what this job took
                    for line, units in take:
                        stock[wid][line.sku] += units
                plans.append(UNSERVED)
                continue
            plans.append(maker.plan([m for m in made if m is not None]))
        chosen_by_order[order.id] = plans
    cost = sum(p.cost_fen for plans in chosen_by_order.values() for p in plans)
    return Solution(plans=chosen_by_order, cost_fen=cost, method="greedy")


def check(problem: Problem, solution: Solution) -> list[str]:
    """Every constraint, checked from scratch: stock per warehouse, storage class of
    warehouse, carrier and parcel, each order's units. Returns what is wrong (empty: fine)."""
    problems: list[str] = []
    warehouses = {w.id: w for w in problem.warehouses}
    carriers = {c.id: c for c in problem.carriers}
    used: dict[tuple[int, int], int] = {}
    storage_of = {ln.sku: ln.storage for o in problem.orders for ln in o.lines}
    for order in problem.orders:
        shipped: dict[int, int] = {}
        for plan in solution.plans.get(order.id, []):
            for parcel in plan.parcels:
                if parcel.storage not in warehouses[parcel.warehouse].storages:
                    problems.append(
                        f"order {order.id}: {parcel.storage} from a warehouse without it"
                    )
                if parcel.storage not in carriers[parcel.carrier].storages:
                    problems.append(f"order {order.id}: {parcel.storage} with a carrier without it")
                for sku, units in parcel.lines:
                    if storage_of[sku] != parcel.storage:
                        problems.append(
                            f"order {order.id}: {storage_of[sku]} item in a {parcel.storage} parcel"
                        )
                    shipped[sku] = shipped.get(sku, 0) + units
                    key = (parcel.warehouse, sku)
                    used[key] = used.get(key, 0) + units
        served = all(plan.served for plan in solution.plans.get(order.id, []))
        wanted: dict[int, int] = {}
        for line in order.lines:
            wanted[line.sku] = wanted.get(line.sku, 0) + line.quantity
        if served and shipped != wanted:
            problems.append(f"order {order.id}: ships {shipped}, ordered {wanted}")
    for (warehouse_id, sku), units in used.items():
        if units > warehouses[warehouse_id].stock.get(sku, 0):
            problems.append(f"warehouse {warehouse_id} sku {sku}: {units} > stock")
    return problems
