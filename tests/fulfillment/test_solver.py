"""The allocation problem and its solver, with no database: hand-made cases whose optimum is
known, and random small problems where every constraint must hold and the solver is never
worse than the greedy nearest-warehouse rule."""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from freshloop.fulfillment.allocation import (
    AMBIENT,
    CHILLED,
    FROZEN,
    LATE_PENALTY_FEN_PER_DAY,
    PARCEL_PENALTY_FEN,
    CarrierSpec,
    Line,
    OrderSpec,
    Problem,
    Rate,
    WarehouseSpec,
    check,
    greedy,
)
from freshloop.fulfillment.solver import lp_bound, solve

ALL = frozenset({AMBIENT, CHILLED, FROZEN})
COLD = frozenset({CHILLED, FROZEN})


def by_zone(local: int, regional: int, national: int, *, cold: int = 0) -> tuple[Rate, ...]:
    return (
        Rate(first_fee_fen=national, cold_surcharge_fen=cold, extra_per_kg_fen=200),
        Rate(first_fee_fen=local, cold_surcharge_fen=cold, extra_per_kg_fen=200, zone="local"),
        Rate(
            first_fee_fen=regional, cold_surcharge_fen=cold, extra_per_kg_fen=200, zone="regional"
        ),
    )


COLD_CARRIER = CarrierSpec(
    1, "顺丰冷运", ALL, by_zone(1000, 1500, 2000, cold=800), speed_factor=0.6
)
AMBIENT_CARRIER = CarrierSpec(2, "中通快递", frozenset({AMBIENT}), by_zone(500, 800, 1200))


def shanghai(stock: dict[int, int], storages: frozenset[str] = ALL) -> WarehouseSpec:
    return WarehouseSpec(1, "上海青浦冷链仓", "上海", storages, stock)


def beijing(stock: dict[int, int], storages: frozenset[str] = ALL) -> WarehouseSpec:
    return WarehouseSpec(2, "北京顺义仓", "北京", storages, stock)


def milk(quantity: int = 1) -> Line:
    return Line(sku=10, quantity=quantity, storage=CHILLED, weight_g=1000)


def rice(quantity: int = 1, sku: int = 20) -> Line:
    return Line(sku=sku, quantity=quantity, storage=AMBIENT, weight_g=1000)


class TestOneOrder:
    def test_a_chilled_item_ships_from_the_chilled_warehouse_with_a_cold_carrier(self) -> None:
        # given a nearer warehouse without chilled storage, and an ambient-only cheap carrier
        problem = Problem(
            orders=[OrderSpec(1, "江苏", (milk(),))],
            warehouses=[
                WarehouseSpec(3, "南京常温仓", "江苏", frozenset({AMBIENT}), {10: 5}),
                beijing({10: 5}, frozenset({AMBIENT, CHILLED})),
            ],
            carriers=[AMBIENT_CARRIER, COLD_CARRIER],
        )
        # when solved
        solution = solve(problem)
        # then the milk rides chilled, from 北京, with 顺丰冷运: national 2000 + cold 800
        (plan,) = solution.plans[1]
        (parcel,) = plan.parcels
        assert (parcel.warehouse, parcel.carrier, parcel.storage) == (2, 1, CHILLED)
        assert plan.cost_fen == 2800
        assert check(problem, solution) == []

    def test_no_cold_carrier_means_unserved_not_ambient(self) -> None:
        problem = Problem(
            orders=[OrderSpec(1, "上海", (milk(),))],
            warehouses=[shanghai({10: 5})],
            carriers=[AMBIENT_CARRIER],
        )
        solution = solve(problem)
        assert not solution.plans[1][0].served
        assert not greedy(problem).plans[1][0].served

    def test_storage_classes_travel_in_separate_parcels(self) -> None:
        problem = Problem(
            orders=[OrderSpec(1, "上海", (milk(), rice(), Line(30, 1, FROZEN, 500)))],
            warehouses=[shanghai({10: 5, 20: 5, 30: 5})],
            carriers=[COLD_CARRIER, AMBIENT_CARRIER],
        )
        solution = solve(problem)
        storages = sorted(p.storage for plan in solution.plans[1] for p in plan.parcels)
        assert storages == [AMBIENT, CHILLED, FROZEN]
        # the rice goes with the cheap ambient carrier, the cold goods with the cold one
        carriers = {p.storage: p.carrier for plan in solution.plans[1] for p in plan.parcels}
        assert carriers == {AMBIENT: 2, CHILLED: 1, FROZEN: 1}
        assert check(problem, solution) == []

    def test_an_order_splits_when_no_warehouse_holds_it_all(self) -> None:
        problem = Problem(
            orders=[OrderSpec(1, "上海", (rice(sku=20), rice(sku=21)))],
            warehouses=[shanghai({20: 1}), beijing({21: 1})],
            carriers=[AMBIENT_CARRIER],
        )
        solution = solve(problem)
        (plan,) = solution.plans[1]
        assert sorted(p.warehouse for p in plan.parcels) == [1, 2]
        # local 500 + national 1200 + one extra parcel
        assert plan.cost_fen == 500 + 1200 + PARCEL_PENALTY_FEN

    def test_a_line_no_warehouse_holds_whole_is_split_by_units(self) -> None:
        problem = Problem(
            orders=[OrderSpec(1, "上海", (rice(3),))],
            warehouses=[shanghai({20: 2}), beijing({20: 2})],
            carriers=[AMBIENT_CARRIER],
        )
        solution = solve(problem)
        (plan,) = solution.plans[1]
        assert {p.warehouse: p.lines for p in plan.parcels} == {1: ((20, 2),), 2: ((20, 1),)}
        assert check(problem, solution) == []

    def test_the_promise_picks_the_faster_carrier(self) -> None:
        # given 北京 → 上海 is 3 days by road; 顺丰 (×0.6) makes it 2, a slow cold carrier 3
        slow = CarrierSpec(3, "慢冷运", COLD, by_zone(600, 700, 800, cold=100))
        problem = Problem(
            orders=[OrderSpec(1, "上海", (milk(),), max_days=2), OrderSpec(2, "上海", (milk(),))],
            warehouses=[beijing({10: 5})],
            carriers=[slow, COLD_CARRIER],
        )
        solution = solve(problem)
        # then the promised order goes 顺丰 in 2 days, the other the cheap slow way
        assert solution.plans[1][0].parcels[0].carrier == 1
        assert solution.plans[1][0].days == 2
        assert solution.plans[2][0].parcels[0].carrier == 3

    def test_an_impossible_promise_takes_the_fastest_and_says_late(self) -> None:
        problem = Problem(
            orders=[OrderSpec(1, "上海", (milk(),), max_days=1)],
            warehouses=[beijing({10: 5})],
            carriers=[COLD_CARRIER],
        )
        (plan,) = solve(problem).plans[1]
        assert plan.served
        assert plan.days == 2
        assert plan.late_days == 1
        assert plan.cost_fen == 2800 + LATE_PENALTY_FEN_PER_DAY


class TestBatch:
    def test_scarce_stock_goes_to_the_order_it_saves_most_on(self) -> None:
        # given one unit in 上海 and one in 北京; the 江苏 buyer paid first, then the 上海 one
        problem = Problem(
            orders=[OrderSpec(1, "江苏", (rice(),)), OrderSpec(2, "上海", (rice(),))],
            warehouses=[shanghai({20: 1}), beijing({20: 1})],
            carriers=[AMBIENT_CARRIER],
        )
        # when allocated greedily the first buyer empties 上海 (regional 800) and the 上海
        # buyer's parcel crosses the country (national 1200)
        assert greedy(problem).cost_fen == 800 + 1200
        # the batch gives 上海's unit to the 上海 buyer (local 500) and 江苏 ships from 北京
        solution = solve(problem)
        assert solution.cost_fen == 500 + 1200
        assert solution.plans[2][0].parcels[0].warehouse == 1
        assert solution.plans[1][0].parcels[0].warehouse == 2
        assert lp_bound(problem) <= solution.cost_fen + 1e-6

    def test_a_flash_sale_of_alike_orders_is_split_over_the_warehouses_by_distance(self) -> None:
        orders = [OrderSpec(i, "上海" if i % 2 else "北京", (rice(),)) for i in range(1, 501)]
        problem = Problem(
            orders=orders,
            warehouses=[shanghai({20: 250}), beijing({20: 250})],
            carriers=[AMBIENT_CARRIER],
        )
        solution = solve(problem)
        # every buyer gets a unit from their own city's warehouse: 500 local parcels
        assert solution.cost_fen == 500 * 500
        assert check(problem, solution) == []

    def test_more_orders_than_stock_leaves_the_last_payers_unserved(self) -> None:
        problem = Problem(
            orders=[OrderSpec(i, "上海", (rice(),)) for i in (1, 2, 3)],
            warehouses=[shanghai({20: 2})],
            carriers=[AMBIENT_CARRIER],
        )
        solution = solve(problem)
        served = [order_id for order_id, plans in solution.plans.items() if plans[0].served]
        assert sorted(served) == [1, 2]  # alike orders: the earlier payers are served


# --- random small problems ------------------------------------------------------------------

PROVINCES = ["上海", "江苏", "北京", "广东", "四川", "新疆", "黑龙江"]
storages = st.sampled_from([AMBIENT, CHILLED, FROZEN])


@st.composite
def problems(draw: st.DrawFn) -> Problem:
    skus = {sku: draw(storages) for sku in range(1, draw(st.integers(1, 4)) + 1)}
    warehouses = []
    for wid in range(1, draw(st.integers(1, 3)) + 1):
        able = frozenset([*draw(st.lists(storages, min_size=1, max_size=3, unique=True)), AMBIENT])
        stock = {sku: draw(st.integers(0, 4)) for sku in skus}
        warehouses.append(
            WarehouseSpec(wid, f"仓{wid}", draw(st.sampled_from(PROVINCES)), able, stock)
        )
    carriers = [
        CarrierSpec(
            cid,
            f"承运商{cid}",
            frozenset(draw(st.lists(storages, min_size=1, max_size=3, unique=True))),
            by_zone(
                *sorted(draw(st.lists(st.integers(300, 2000), min_size=3, max_size=3))),
                cold=draw(st.integers(0, 800)),
            ),
            speed_factor=draw(st.sampled_from([0.6, 1.0])),
        )
        for cid in range(1, draw(st.integers(1, 3)) + 1)
    ]
    orders = []
    for oid in range(1, draw(st.integers(1, 6)) + 1):
        chosen = draw(st.lists(st.sampled_from(sorted(skus)), min_size=1, max_size=3, unique=True))
        lines = tuple(
            Line(sku, draw(st.integers(1, 3)), skus[sku], draw(st.sampled_from([300, 1500])))
            for sku in chosen
        )
        max_days = draw(st.sampled_from([None, 2, 3]))
        orders.append(OrderSpec(oid, draw(st.sampled_from(PROVINCES)), lines, max_days))
    return Problem(orders=orders, warehouses=warehouses, carriers=carriers)


class TestRandomProblems:
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(problems())
    def test_every_constraint_holds_and_the_solver_never_loses_to_greedy(
        self, problem: Problem
    ) -> None:
        solution = solve(problem)
        # no cold item in an ambient parcel, no class a warehouse or carrier cannot keep,
        # no warehouse gives more than it has, every served order gets exactly its units
        assert check(problem, solution) == []
        baseline = greedy(problem)
        assert check(problem, baseline) == []
        assert solution.cost_fen <= baseline.cost_fen * 1.002 + 1
        assert lp_bound(problem) <= solution.cost_fen + 1e-6
