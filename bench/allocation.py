"""Allocate 10,000 paid orders (3 warehouses, 4 carriers, ambient / chilled / frozen goods,
destinations spread by province population) with the solver and with the greedy
nearest-warehouse rule on the same orders and stock, and bound the optimum by the LP
relaxation. Prints one JSON line:

    orders, instances, seeds, seconds, orders_per_s, cost_per_order, greedy_cost_per_order,
    saving_pct (+ _min, _max, _by_seed), lower_bound_cost_per_order, gap_pct, violations,
    unserved, greedy_unserved, late, greedy_late

`orders` is the size of one batch; the batch is generated `--instances` times (5; 2 with
`--quick`) from seeds `--seed`, `--seed`+1, … and the money figures are pooled over all of
them (the per-seed savings are listed). Costs are in fen per order: carrier charges plus the
extra-parcel penalty (lateness only steers the choice). `seconds` is per batch and covers
building the plans and solving (what a batch run does besides the database). `--quick` runs
1,000 orders; `--orders N` any size.

Then one end-to-end pass through the database (`--db sqlite|postgres`, `--db none` to skip):
a fresh database, 3 warehouses, 4 carriers, a flash sale's 500 paid orders (100 with
`--quick`) placed and paid through the services (OrderPaid opens their allocations), and
`allocations_run` timed — shipments with lots, reservations moved, orders allocated. Second
JSON line: bench "allocation_db", db, orders, allocated, failed, seconds, orders_per_s.
"""

from __future__ import annotations

import argparse
import os
import random
import tempfile
import time
from dataclasses import dataclass

from _common import bench_database_url, emit, setup_django

POSTGRES_BENCH_DB = "freshloop_bench_allocation"


def _database(db: str) -> None:
    """A fresh database for the end-to-end pass, chosen before Django starts."""
    if db == "none":
        return
    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-allocation-")
    os.environ["FRESHLOOP_DATA_DIR"] = data_dir
    os.environ["DATABASE_URL"] = bench_database_url(db, data_dir, POSTGRES_BENCH_DB)
    os.environ["FRESHLOOP_LOG_LEVEL"] = "WARNING"


_parser = argparse.ArgumentParser()
_parser.add_argument("--quick", action="store_true")
_parser.add_argument("--orders", type=int, default=0)
_parser.add_argument("--seed", type=int, default=16)
_parser.add_argument("--instances", type=int, default=0)
_parser.add_argument("--db", choices=["sqlite", "postgres", "none"], default="sqlite")
ARGS = _parser.parse_args()
_database(ARGS.db)
setup_django()

from freshloop.fulfillment import geo  # noqa: E402
from freshloop.fulfillment.allocation import (  # noqa: E402
    AMBIENT,
    CHILLED,
    FROZEN,
    CarrierSpec,
    Line,
    OrderSpec,
    Problem,
    Rate,
    WarehouseSpec,
    build_jobs,
    check,
    greedy,
)
from freshloop.fulfillment.solver import lp_bound, solve  # noqa: E402

ALL = frozenset({AMBIENT, CHILLED, FROZEN})


def carriers() -> list[CarrierSpec]:
    def zones(
        local: int, regional: int, national: int, remote: int, extra: int, cold: int
    ) -> tuple[Rate, ...]:
        return (
            Rate(first_fee_fen=national, extra_per_kg_fen=extra, cold_surcharge_fen=cold),
            Rate(
                first_fee_fen=local,
                extra_per_kg_fen=extra // 2,
                cold_surcharge_fen=cold,
                zone="local",
            ),
            Rate(
                first_fee_fen=regional,
                extra_per_kg_fen=extra * 2 // 3,
                cold_surcharge_fen=cold,
                zone="regional",
            ),
            Rate(
                first_fee_fen=remote,
                extra_per_kg_fen=extra * 2,
                cold_surcharge_fen=cold * 2,
                zone="remote",
            ),
        )

    return [
        CarrierSpec(1, "顺丰冷运", ALL, zones(1200, 1500, 2000, 3200, 600, 800), speed_factor=0.6),
        CarrierSpec(
            2, "京东冷链", frozenset({CHILLED, FROZEN}), zones(1000, 1300, 1800, 3000, 500, 600)
        ),
        CarrierSpec(
            3, "中通快递", frozenset({AMBIENT}), zones(500, 600, 800, 1800, 300, 0), days_offset=1
        ),
        CarrierSpec(4, "德邦快递", frozenset({AMBIENT}), zones(700, 800, 1000, 1600, 150, 0)),
    ]


def skus(rng: random.Random) -> list[tuple[int, str, int]]:
    made = []
    for sku in range(1, 31):
        storage = AMBIENT if sku <= 12 else CHILLED if sku <= 24 else FROZEN
        made.append((sku, storage, rng.choice([300, 500, 800, 1200, 2000])))
    return made


def generate(n: int, seed: int) -> Problem:
    rng = random.Random(seed)
    catalogue = skus(rng)
    provinces = list(geo.PROVINCE_POPULATION)
    weights = [geo.PROVINCE_POPULATION[p] for p in provinces]
    popular = [1.0 / (rank + 1) ** 0.8 for rank in range(len(catalogue))]
    orders = []
    demand: dict[int, int] = {}
    for order_id in range(1, n + 1):
        province = rng.choices(provinces, weights)[0]
        size = rng.choices([1, 2, 3], [0.6, 0.3, 0.1])[0]
        picked = {}
        for sku, storage, weight in rng.choices(catalogue, popular, k=size):
            picked[sku] = Line(sku, rng.choices([1, 2, 3], [0.7, 0.2, 0.1])[0], storage, weight)
        lines = tuple(picked.values())
        cold = any(line.storage != AMBIENT for line in lines)
        max_days = 3 if cold and rng.random() < 0.5 else None
        orders.append(OrderSpec(order_id, province, lines, max_days))
        for line in lines:
            demand[line.sku] = demand.get(line.sku, 0) + line.quantity
    sites = [
        (1, "上海青浦冷链仓", "上海", ALL),
        (2, "广州白云仓", "广东", frozenset({AMBIENT, CHILLED})),
        (3, "北京顺义仓", "北京", frozenset({AMBIENT, FROZEN})),
    ]
    stock: dict[int, dict[int, int]] = {site[0]: {} for site in sites}
    for sku, storage, _ in catalogue:
        able = [site for site in sites if storage in site[3]]
        total = int(demand.get(sku, 0) * rng.uniform(1.05, 1.3)) + 2
        shares = [rng.random() + 0.2 for _ in able]
        for site, share in zip(able, shares, strict=True):
            stock[site[0]][sku] = int(total * share / sum(shares)) + 1
    warehouses = [
        WarehouseSpec(site[0], site[1], site[2], site[3], stock[site[0]]) for site in sites
    ]
    return Problem(orders=orders, warehouses=warehouses, carriers=carriers())


def end_to_end(n: int) -> dict[str, object]:
    """A flash sale's paid orders allocated through the services on a fresh database."""
    from django.core.management import call_command

    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.core import clock
    from freshloop.core.audit import Actor
    from freshloop.fulfillment.services import RateSpec, allocations_run, carrier_configure
    from freshloop.identity.models import IdentifierType
    from freshloop.identity.services import person_resolve_identifier
    from freshloop.inventory.services import stock_receive, warehouse_upsert
    from freshloop.orders.services import (
        CheckoutItem,
        CheckoutRequest,
        order_create,
        order_payment_succeeded,
    )

    call_command("migrate", verbosity=0)
    actor = Actor.system("bench")
    sites = [
        ("sh", "上海青浦冷链仓", "上海"),
        ("gz", "广州白云仓", "广东"),
        ("bj", "北京顺义仓", "北京"),
    ]
    warehouses = [
        warehouse_upsert(code=c, name=name, province=p, city=p, chilled=True, frozen=True)
        for c, name, p in sites
    ]
    for spec in carriers():
        carrier_configure(
            code=f"c{spec.id}",
            name=spec.name,
            chilled="chilled" in spec.storages,
            frozen="frozen" in spec.storages,
            rates=[RateSpec(**vars(rate)) for rate in spec.rates],
            speed_factor=spec.speed_factor,
            days_offset=spec.days_offset,
        )
    category = category_upsert(code="dairy", name="乳品")
    product = product_upsert(
        code="milk",
        name="鲜牛奶",
        category=category,
        storage=StorageCondition.CHILLED,
        shelf_life_days=15,
        channels=("live", "shop", "groupbuy"),
    )
    sku = sku_upsert(product=product, code="milk-950", spec="950ml", price_fen=1990)
    for warehouse in warehouses:
        stock_receive(sku=sku, warehouse=warehouse, quantity=n // 2, actor=actor)
    rng = random.Random(5)
    provinces = list(geo.PROVINCE_POPULATION)
    weights = [geo.PROVINCE_POPULATION[p] for p in provinces]
    for i in range(n):
        person = person_resolve_identifier(
            identifier_type=IdentifierType.PHONE,
            value=f"+86139{i:08d}",
            verified=True,
            source="bench",
        ).person
        province = rng.choices(provinces, weights)[0]
        order, _ = order_create(
            request=CheckoutRequest(
                person=person,
                channel="live",
                items=[CheckoutItem(sku_id=sku.pk, quantity=1)],
                address={
                    "name": "压测",
                    "phone": "13800000000",
                    "province": province,
                    "city": province,
                    "district": "",
                    "detail": "1 号",
                },
            )
        )
        order_payment_succeeded(
            order_no=order.order_no,
            amount_fen=order.total_fen,
            provider="sandbox",
            transaction_id=f"T{i}",
            paid_at=clock.now(),
        )
    started = time.perf_counter()
    result = allocations_run()
    seconds = time.perf_counter() - started
    return {
        "bench": "allocation_db",
        "db": ARGS.db,
        "orders": n,
        "allocated": len(result.allocated),
        "failed": len(result.failed),
        "seconds": round(seconds, 3),
        "orders_per_s": round(len(result.allocated) / seconds, 1),
    }


@dataclass
class Instance:
    """One generated problem solved both ways."""

    seed: int
    seconds: float
    cost_fen: int
    greedy_cost_fen: int
    bound_fen: float
    late_fen: int
    solution_fen: int
    violations: int
    unserved: int
    greedy_unserved: int
    late: int
    greedy_late: int
    jobs: int
    method: str

    @property
    def saving_pct(self) -> float:
        return 100 * (self.greedy_cost_fen - self.cost_fen) / self.greedy_cost_fen


def run_instance(n: int, seed: int) -> Instance:
    problem = generate(n, seed)
    started = time.perf_counter()
    jobs = build_jobs(problem)
    solution = solve(problem, jobs=jobs)
    seconds = time.perf_counter() - started
    baseline = greedy(problem)
    served = [p for plans in solution.plans.values() for p in plans]
    greedy_served = [p for plans in baseline.plans.values() for p in plans]
    return Instance(
        seed=seed,
        seconds=seconds,
        cost_fen=sum(p.money_fen for p in served),
        greedy_cost_fen=sum(p.money_fen for p in greedy_served),
        bound_fen=lp_bound(problem, jobs=jobs),
        late_fen=sum(p.cost_fen - p.money_fen for p in served),
        solution_fen=solution.cost_fen,
        violations=len(check(problem, solution)),
        unserved=sum(1 for plans in solution.plans.values() if any(not p.served for p in plans)),
        greedy_unserved=sum(
            1 for plans in baseline.plans.values() if any(not p.served for p in plans)
        ),
        late=sum(1 for p in served if p.late_days),
        greedy_late=sum(1 for p in greedy_served if p.late_days),
        jobs=len(jobs),
        method=solution.method,
    )


def main() -> None:
    args = ARGS
    n = args.orders or (1_000 if args.quick else 10_000)
    count = args.instances or (2 if args.quick else 5)
    # Several generated batches, not one: on a single batch the saving depends on how that
    # draw spread stock and demand (4.6–6.4 % over seeds 1–5 and 16–20 at 10,000 orders), so one seed
    # would measure the draw as much as the solver. The pooled figures are over all of them.
    runs = [run_instance(n, args.seed + offset) for offset in range(count)]
    orders = n * count
    cost = sum(r.cost_fen for r in runs)
    greedy_cost = sum(r.greedy_cost_fen for r in runs)
    bound = sum(r.bound_fen for r in runs)
    late_fen = sum(r.late_fen for r in runs)
    seconds = sum(r.seconds for r in runs)
    emit(
        {
            "bench": "allocation",
            "orders": n,
            "instances": count,
            "seeds": [r.seed for r in runs],
            "jobs": round(sum(r.jobs for r in runs) / count),
            "seconds": round(seconds / count, 3),
            "orders_per_s": round(orders / seconds, 1),
            "cost_per_order": round(cost / orders, 1),
            "greedy_cost_per_order": round(greedy_cost / orders, 1),
            "saving_pct": round(100 * (greedy_cost - cost) / greedy_cost, 2),
            "saving_pct_min": round(min(r.saving_pct for r in runs), 2),
            "saving_pct_max": round(max(r.saving_pct for r in runs), 2),
            "saving_pct_by_seed": [round(r.saving_pct, 2) for r in runs],
            "lower_bound_cost_per_order": round((bound - late_fen) / orders, 1),
            "gap_pct": round(
                100 * (sum(r.solution_fen for r in runs) - bound) / (bound - late_fen), 3
            ),
            "violations": sum(r.violations for r in runs),
            "unserved": sum(r.unserved for r in runs),
            "greedy_unserved": sum(r.greedy_unserved for r in runs),
            "late": sum(r.late for r in runs),
            "greedy_late": sum(r.greedy_late for r in runs),
            "method": "/".join(sorted({r.method for r in runs})),
        }
    )
    if args.db != "none":
        emit(end_to_end(100 if args.quick else 500))


if __name__ == "__main__":
    main()
