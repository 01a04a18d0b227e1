"""Stock: receive, adjust, stock-take, reserve, release, ship — and never oversell."""

from __future__ import annotations

import datetime as dt
import functools
from collections.abc import Iterator
from typing import Any

import pytest
from django.db import connection, transaction

from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import Conflict, InvalidInput
from freshloop.core.models import AuditLog
from freshloop.inventory import services
from freshloop.inventory.errors import OutOfStock
from freshloop.inventory.models import (
    BatchStock,
    MovementKind,
    Reservation,
    ReservationStatus,
    StockLevel,
    StockMovement,
)
from freshloop.inventory.selectors import batch_next_to_ship, stock_available_by_sku
from freshloop.inventory.services import (
    ReservationRequest,
    reservation_reduce,
    reservations_overdue,
    reservations_release,
    reservations_ship,
    stock_adjust,
    stock_block_close,
    stock_block_reserve,
    stock_receive,
    stock_reserve,
    stock_take,
)
from tests.concurrency import run_at_once
from tests.factories import make_sku, make_warehouse

pytestmark = pytest.mark.django_db
OPERATOR = Actor(type="user", id="1", label="仓管小李")


def level(sku_id: int) -> StockLevel:
    return StockLevel.objects.get(sku_id=sku_id)


def reserve(order_ref: str, sku, quantity: int, province: str = "") -> list[Reservation]:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        return stock_reserve(
            order_ref=order_ref,
            requests=[ReservationRequest(sku=sku, quantity=quantity)],
            expires_at=clock.now() + dt.timedelta(minutes=15),
            province=province,
        )


class TestStockReceive:
    def test_receive_adds_on_hand_records_movement_lot_and_audit(self) -> None:
        sku = make_sku()
        warehouse = make_warehouse()
        lot = batch_register(sku=sku, batch_no="B1", produced_on=dt.date(2026, 11, 20))
        stock_receive(sku=sku, warehouse=warehouse, quantity=30, actor=OPERATOR, batch=lot)
        assert level(sku.pk).on_hand == 30
        assert BatchStock.objects.get(batch=lot).quantity == 30
        assert StockMovement.objects.get().on_hand_delta == 30
        assert AuditLog.objects.filter(action="inventory.stock_receive").count() == 1

    def test_frozen_goods_refused_by_a_warehouse_without_freezers(self) -> None:
        sku = make_sku(storage="frozen")
        ambient_only = make_warehouse("gz", province="广东", chilled=False, frozen=False)
        with pytest.raises(InvalidInput, match="冷冻"):
            stock_receive(sku=sku, warehouse=ambient_only, quantity=5, actor=OPERATOR)
        assert not StockLevel.objects.filter(on_hand__gt=0).exists()

    @pytest.mark.parametrize("quantity", [0, -3, 2_000_000, True])
    def test_bad_quantities_refused(self, quantity: int) -> None:
        with pytest.raises(InvalidInput):
            stock_receive(
                sku=make_sku(), warehouse=make_warehouse(), quantity=quantity, actor=OPERATOR
            )


class TestStockAdjust:
    def test_adjust_down_is_audited_with_before_and_after(self) -> None:
        sku = make_sku(stock=10)
        stock_adjust(sku=sku, warehouse=make_warehouse(), delta=-2, reason="破损", actor=OPERATOR)
        assert level(sku.pk).on_hand == 8
        audit = AuditLog.objects.get(action="inventory.stock_adjust")
        assert audit.before == {"on_hand": 10}
        assert audit.after == {"on_hand": 8, "reason": "破损"}

    def test_cannot_adjust_below_what_is_promised_to_orders(self) -> None:
        sku = make_sku(stock=5)
        reserve("O-1", sku, 4)
        with pytest.raises(Conflict):
            stock_adjust(
                sku=sku, warehouse=make_warehouse(), delta=-2, reason="破损", actor=OPERATOR
            )
        assert level(sku.pk).on_hand == 5

    def test_reason_is_required(self) -> None:
        with pytest.raises(InvalidInput):
            stock_adjust(
                sku=make_sku(stock=1),
                warehouse=make_warehouse(),
                delta=1,
                reason=" ",
                actor=OPERATOR,
            )


class TestStockTake:
    def test_counts_replace_on_hand_and_differences_are_kept(self) -> None:
        milk, eggs = make_sku(stock=10), make_sku(stock=20, name="鸡蛋")
        take = stock_take(
            warehouse=make_warehouse(),
            counts={milk.pk: 9, eggs.pk: 20},
            actor=OPERATOR,
            note="月末盘点",
        )
        assert level(milk.pk).on_hand == 9
        assert level(eggs.pk).on_hand == 20
        assert {line["sku_id"]: line["diff"] for line in take.lines} == {milk.pk: -1, eggs.pk: 0}
        assert StockMovement.objects.filter(kind="stocktake").count() == 1

    def test_count_below_reserved_refuses_the_whole_take(self) -> None:
        milk, eggs = make_sku(stock=10), make_sku(stock=20, name="鸡蛋")
        reserve("O-1", milk, 6)
        with pytest.raises(Conflict):
            stock_take(warehouse=make_warehouse(), counts={milk.pk: 5, eggs.pk: 1}, actor=OPERATOR)
        assert level(eggs.pk).on_hand == 20

    def test_unknown_sku_refused(self) -> None:
        with pytest.raises(InvalidInput):
            stock_take(warehouse=make_warehouse(), counts={999_999: 1}, actor=OPERATOR)


class TestStockReserve:
    def test_reserve_moves_reserved_not_on_hand(self) -> None:
        sku = make_sku(stock=10)
        reserve("O-1", sku, 3)
        assert (level(sku.pk).on_hand, level(sku.pk).reserved) == (10, 3)
        assert stock_available_by_sku(sku_ids=[sku.pk]) == {sku.pk: 7}

    def test_not_enough_stock_raises_and_reserves_nothing(self) -> None:
        milk, eggs = make_sku(stock=10), make_sku(stock=1, name="鸡蛋")
        with pytest.raises(OutOfStock) as raised, transaction.atomic():
            stock_reserve(
                order_ref="O-1",
                requests=[
                    ReservationRequest(sku=milk, quantity=2),
                    ReservationRequest(sku=eggs, quantity=2),
                ],
                expires_at=None,
            )
        assert raised.value.detail["skus"][0]["sku_id"] == eggs.pk
        assert level(milk.pk).reserved == 0
        assert not Reservation.objects.exists()

    def test_same_province_warehouse_is_preferred(self) -> None:
        sku = make_sku()
        shanghai, beijing = (
            make_warehouse("sh", province="上海"),
            make_warehouse("bj", province="北京"),
        )
        stock_receive(sku=sku, warehouse=shanghai, quantity=50, actor=OPERATOR)
        stock_receive(sku=sku, warehouse=beijing, quantity=5, actor=OPERATOR)
        (reservation,) = reserve("O-1", sku, 2, province="北京")
        assert reservation.stock.warehouse == beijing

    def test_chilled_goods_never_reserved_in_an_ambient_warehouse(self) -> None:
        sku = make_sku(storage="chilled")
        ambient = make_warehouse("gz", province="广东", chilled=False, frozen=False)
        StockLevel.objects.create(sku=sku, warehouse=ambient, on_hand=100)
        with pytest.raises(OutOfStock):
            reserve("O-1", sku, 1, province="广东")

    def test_lines_reserve_in_one_statement(self, django_assert_num_queries: Any) -> None:
        # given three SKUs in stock
        skus = [make_sku(stock=10, name=f"商品{n}") for n in range(3)]
        # when one order reserves all three: the levels are read once and updated once, and
        # the reservations and the movements written (by the same statement on PostgreSQL)
        statements = 2 if connection.vendor == "postgresql" else 4
        with transaction.atomic(), django_assert_num_queries(statements):
            taken = stock_reserve(
                order_ref="O-1",
                requests=[ReservationRequest(sku=sku, quantity=2) for sku in skus],
                expires_at=None,
            )
        # then each level holds its two units, with a reservation and a movement saying so
        assert [level(sku.pk).reserved for sku in skus] == [2, 2, 2]
        stored = Reservation.objects.filter(order_ref="O-1")
        assert sorted(r.pk for r in taken) == sorted(r.pk for r in stored)
        assert sorted((r.stock.sku_id, r.quantity, r.status, r.is_block) for r in stored) == [
            (sku.pk, 2, ReservationStatus.ACTIVE, False) for sku in skus
        ]
        moves = StockMovement.objects.filter(ref="O-1")
        assert sorted(
            (m.stock.sku_id, m.kind, m.reserved_delta, m.on_hand_delta) for m in moves
        ) == [(sku.pk, MovementKind.RESERVE, 2, 0) for sku in skus]

    def test_first_choice_taken_since_the_read_falls_back_to_the_next_warehouse(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given milk in Beijing (nearest) and Shanghai, and eggs in Beijing
        milk, eggs = make_sku(name="牛奶"), make_sku(name="鸡蛋")
        shanghai, beijing = (
            make_warehouse("sh", province="上海"),
            make_warehouse("bj", province="北京"),
        )
        stock_receive(sku=milk, warehouse=shanghai, quantity=50, actor=OPERATOR)
        stock_receive(sku=milk, warehouse=beijing, quantity=60, actor=OPERATOR)
        stock_receive(sku=eggs, warehouse=beijing, quantity=5, actor=OPERATOR)
        beijing_milk = StockLevel.objects.get(sku=milk, warehouse=beijing)
        read_candidates = services._candidate_levels

        def candidates_then_a_rival_buys(*args: Any, **kwargs: Any) -> Any:
            found = read_candidates(*args, **kwargs)
            # another buyer takes Beijing's milk between this order's read and its UPDATE
            StockLevel.objects.filter(pk=beijing_milk.pk).update(reserved=59)
            return found

        monkeypatch.setattr(services, "_candidate_levels", candidates_then_a_rival_buys)
        # when an order in Beijing asks for 3 milk and 2 eggs
        with transaction.atomic():
            taken = stock_reserve(
                order_ref="O-1",
                requests=[
                    ReservationRequest(sku=milk, quantity=3),
                    ReservationRequest(sku=eggs, quantity=2),
                ],
                expires_at=None,
                province="北京",
            )
        # then the milk comes from Shanghai, the eggs from Beijing, and Beijing's milk is
        # not over-promised
        assert {(r.stock.sku_id, r.stock.warehouse_id) for r in taken} == {
            (milk.pk, shanghai.pk),
            (eggs.pk, beijing.pk),
        }
        assert StockLevel.objects.get(pk=beijing_milk.pk).reserved == 59
        assert StockLevel.objects.get(sku=milk, warehouse=shanghai).reserved == 3

    @pytest.mark.django_db(transaction=True)
    def test_must_run_inside_the_order_transaction(self) -> None:
        # (a plain django_db test already runs inside a transaction, hence transaction=True)
        with pytest.raises(RuntimeError):
            stock_reserve(order_ref="O", requests=[], expires_at=None)


class TestReservationsRelease:
    def test_release_gives_units_back_once(self) -> None:
        sku = make_sku(stock=5)
        reserve("O-1", sku, 5)
        assert reservations_release(order_ref="O-1") == 5
        assert reservations_release(order_ref="O-1") == 0
        assert level(sku.pk).reserved == 0
        assert Reservation.objects.get().status == ReservationStatus.RELEASED

    def test_reduce_gives_back_part_of_an_order(self) -> None:
        sku = make_sku(stock=5)
        reserve("O-1", sku, 4)
        assert reservation_reduce(order_ref="O-1", sku_id=sku.pk, quantity=1) == 1
        assert level(sku.pk).reserved == 3

    def test_overdue_lists_unpaid_reservations_past_deadline(self) -> None:
        sku = make_sku(stock=5)
        reserve("O-1", sku, 1)
        assert reservations_overdue(now=clock.now()) == []
        assert reservations_overdue(now=clock.now() + dt.timedelta(minutes=16)) == ["O-1"]


def draw(order_ref: str, sku, quantity: int, block_ref: str = "FS-1") -> Reservation:  # type: ignore[no-untyped-def]
    with transaction.atomic():
        (reservation,) = stock_reserve(
            order_ref=order_ref,
            requests=[ReservationRequest(sku=sku, quantity=quantity, block_ref=block_ref)],
            expires_at=clock.now() + dt.timedelta(minutes=15),
        )
    return reservation


class TestStockBlock:
    def test_block_sets_units_aside_once_and_draws_touch_no_stock_level(self) -> None:
        # given 10 on hand and a block of 6 for a sale
        sku = make_sku(stock=10)
        block = stock_block_reserve(block_ref="FS-1", sku=sku, quantity=6, actor=OPERATOR)
        assert block is not None
        assert block.is_block
        assert (level(sku.pk).on_hand, level(sku.pk).reserved) == (10, 6)
        assert stock_available_by_sku(sku_ids=[sku.pk]) == {sku.pk: 4}
        # when an order draws 2 from it
        drawn = draw("O-1", sku, 2)
        # then the order holds a reservation from the block and the level did not move
        assert (drawn.block_id, drawn.stock_id) == (block.pk, block.stock_id)
        assert level(sku.pk).reserved == 6
        assert not StockMovement.objects.filter(ref="O-1").exists()

    def test_released_draw_goes_back_to_the_open_block_then_closing_gives_back_the_rest(
        self,
    ) -> None:
        sku = make_sku(stock=10)
        stock_block_reserve(block_ref="FS-1", sku=sku, quantity=6, actor=OPERATOR)
        draw("O-1", sku, 2)
        draw("O-2", sku, 1)
        # a cancelled order's units are the block's again: the level stays at 6 reserved
        assert reservations_release(order_ref="O-2") == 1
        assert level(sku.pk).reserved == 6
        # closing gives back what is not drawn (6 - 2), once
        assert stock_block_close(block_ref="FS-1", actor=OPERATOR) == 4
        assert stock_block_close(block_ref="FS-1", actor=OPERATOR) == 0
        assert level(sku.pk).reserved == 2
        # after the close a drawn reservation is an ordinary one
        assert reservations_release(order_ref="O-1") == 2
        assert (level(sku.pk).on_hand, level(sku.pk).reserved) == (10, 0)
        assert AuditLog.objects.filter(action="inventory.block_close").count() == 1

    def test_shipping_a_draw_shrinks_the_open_block(self) -> None:
        sku = make_sku(stock=10)
        stock_block_reserve(block_ref="FS-1", sku=sku, quantity=6, actor=OPERATOR)
        draw("O-1", sku, 2)
        reservations_ship(order_ref="O-1")
        assert (level(sku.pk).on_hand, level(sku.pk).reserved) == (8, 4)
        assert stock_block_close(block_ref="FS-1", actor=OPERATOR) == 4
        assert (level(sku.pk).on_hand, level(sku.pk).reserved) == (8, 0)

    def test_reducing_a_draw_gives_the_units_to_the_block_while_it_is_open(self) -> None:
        sku = make_sku(stock=10)
        stock_block_reserve(block_ref="FS-1", sku=sku, quantity=6, actor=OPERATOR)
        draw("O-1", sku, 3)
        assert reservation_reduce(order_ref="O-1", sku_id=sku.pk, quantity=1) == 1
        assert level(sku.pk).reserved == 6
        assert stock_block_close(block_ref="FS-1", actor=OPERATOR) == 4
        assert reservation_reduce(order_ref="O-1", sku_id=sku.pk, quantity=1) == 1
        assert level(sku.pk).reserved == 1

    def test_no_single_warehouse_holding_all_means_no_block(self) -> None:
        sku = make_sku()
        stock_receive(sku=sku, warehouse=make_warehouse("sh"), quantity=3, actor=OPERATOR)
        stock_receive(
            sku=sku, warehouse=make_warehouse("bj", province="北京"), quantity=3, actor=OPERATOR
        )
        assert stock_block_reserve(block_ref="FS-1", sku=sku, quantity=5, actor=OPERATOR) is None
        assert StockLevel.objects.filter(reserved__gt=0).count() == 0
        # and a draw from a block that is not there reserves from the shelf as usual
        assert draw("O-1", sku, 2).block_id is None
        assert sum(level.reserved for level in StockLevel.objects.all()) == 2

    def test_a_closed_block_is_not_drawn_from(self) -> None:
        sku = make_sku(stock=10)
        stock_block_reserve(block_ref="FS-1", sku=sku, quantity=6, actor=OPERATOR)
        stock_block_close(block_ref="FS-1", actor=OPERATOR)
        assert draw("O-1", sku, 2).block_id is None
        assert level(sku.pk).reserved == 2


class TestReservationsShip:
    @pytest.fixture(autouse=True)
    def _before_the_lots_expire(self) -> Iterator[None]:
        # The lots below were made in November 2026 with a 7-day shelf life: shipping
        # refuses expired lots now (FEFO done right), so these tests run while they are fresh.
        with clock.frozen(dt.datetime(2026, 11, 19, 2, tzinfo=dt.UTC)):
            yield

    def test_shipping_takes_units_out_earliest_expiry_first(self) -> None:
        sku = make_sku()
        warehouse = make_warehouse()
        later = batch_register(sku=sku, batch_no="L", produced_on=dt.date(2026, 11, 22))
        sooner = batch_register(sku=sku, batch_no="S", produced_on=dt.date(2026, 11, 18))
        stock_receive(sku=sku, warehouse=warehouse, quantity=3, actor=OPERATOR, batch=later)
        stock_receive(sku=sku, warehouse=warehouse, quantity=2, actor=OPERATOR, batch=sooner)
        assert batch_next_to_ship(sku_id=sku.pk) == sooner
        reserve("O-1", sku, 3)
        reservations_ship(order_ref="O-1")
        assert (level(sku.pk).on_hand, level(sku.pk).reserved) == (2, 0)
        assert BatchStock.objects.get(batch=sooner).quantity == 0
        assert BatchStock.objects.get(batch=later).quantity == 2
        assert batch_next_to_ship(sku_id=sku.pk) == later
        # shipping twice ships nothing more
        assert reservations_ship(order_ref="O-1") == []


@pytest.mark.django_db(transaction=True)
class TestNeverOversold:
    def test_many_threads_buying_the_last_units(self) -> None:
        # given 5 units and 16 buyers who each want 1, all at the same instant
        sku = make_sku(stock=5)
        buyers = 16

        def buy(number: int) -> str:
            reserve(f"O-{number}", sku, 1)
            return "ok"

        answers = run_at_once([functools.partial(buy, n) for n in range(buyers)])
        outcomes = [
            "sold_out" if isinstance(answer.error, OutOfStock) else answer.label
            for answer in answers
        ]
        # then exactly 5 got one, the rest were told it is sold out, and nothing else happened
        assert sorted(outcomes).count("ok") == 5, outcomes
        assert outcomes.count("sold_out") == buyers - 5, outcomes
        stock = level(sku.pk)
        assert (stock.on_hand, stock.reserved) == (5, 5)
        assert Reservation.objects.filter(status=ReservationStatus.ACTIVE).count() == 5
