"""inventory.lots.lot_book_out: a lot's units leave stock for good (员工内购 / 报损) — the lot's
count and the warehouse's on hand drop together, once per key, never below what orders hold."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.db import transaction

from freshloop.catalog.models import Batch, Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.models import AuditLog
from freshloop.inventory.errors import LotOnHold, LotUnitsShort, StockPromised
from freshloop.inventory.models import (
    BatchStock,
    MovementKind,
    StockLevel,
    StockMovement,
    Warehouse,
)
from freshloop.inventory.services import (
    ReservationRequest,
    lot_book_out,
    lot_hold,
    stock_receive,
    stock_reserve,
)
from tests.concurrency import run_at_once
from tests.factories import make_sku, make_warehouse

OPERATOR = Actor(type="user", id="1", label="仓管小李")
REF = "near-expiry:write_off:lot"


class Shelf:
    """Milk in Shanghai: lot OLD with 3 units, lot NEW with 7 (10 on hand)."""

    def __init__(self) -> None:
        self.where: Warehouse = make_warehouse()
        self.sku: Sku = make_sku()
        self.old = self._lot("OLD", dt.date(2026, 11, 26), 3)
        self.new = self._lot("NEW", dt.date(2026, 11, 27), 7)

    def _lot(self, no: str, produced: dt.date, units: int) -> Batch:
        batch = batch_register(sku=self.sku, batch_no=no, produced_on=produced)
        stock_receive(
            sku=self.sku, warehouse=self.where, quantity=units, actor=OPERATOR, batch=batch
        )
        return batch

    def book_out(
        self, units: int, *, ref: str = REF, write_off: bool = True, lot: Batch | None = None
    ):  # type: ignore[no-untyped-def]
        return lot_book_out(
            batch_id=(lot or self.old).pk,
            warehouse_id=self.where.pk,
            units=units,
            reason="报损 批次 OLD",
            ref=ref,
            actor=OPERATOR,
            write_off=write_off,
        )

    def lot_units(self, lot: Batch | None = None) -> int:
        return BatchStock.objects.get(batch=lot or self.old, warehouse=self.where).quantity

    def level(self) -> StockLevel:
        return StockLevel.objects.get(sku=self.sku, warehouse=self.where)


@pytest.fixture(autouse=True)
def _frozen() -> Iterator[None]:
    # both lots fresh enough for any order on this day
    with clock.frozen(dt.datetime(2026, 11, 28, 2, tzinfo=dt.UTC)):
        yield


@pytest.fixture
def shelf() -> Shelf:
    return Shelf()


@pytest.mark.django_db
class TestLotBookOut:
    def test_lowers_the_lot_and_the_level_alike_with_a_movement_and_an_audit(
        self, shelf: Shelf
    ) -> None:
        # when
        result = shelf.book_out(2)
        # then
        assert shelf.lot_units() == 1
        assert shelf.lot_units(shelf.new) == 7
        assert shelf.level().on_hand == 8
        movement = StockMovement.objects.get(ref=REF)
        assert movement.kind == MovementKind.ADJUST
        assert movement.on_hand_delta == -2
        assert movement.note == "报损 批次 OLD"
        assert movement.actor == "仓管小李"
        audit = AuditLog.objects.get(action="inventory.lot_book_out")
        assert audit.before == {"on_hand": 10, "lot_quantity": 3}
        assert audit.after["on_hand"] == 8
        assert audit.after["lot_quantity"] == 1
        assert (result.units, result.already_done, result.lot_quantity, result.on_hand) == (
            2,
            False,
            1,
            8,
        )

    def test_a_replay_with_the_same_key_books_nothing_more(self, shelf: Shelf) -> None:
        # given
        first = shelf.book_out(3)
        # when
        again = shelf.book_out(3)
        # then
        assert again.already_done
        assert again.movement_id == first.movement_id
        assert again.units == 3
        assert shelf.lot_units() == 0
        assert shelf.level().on_hand == 7
        assert StockMovement.objects.filter(ref=REF).count() == 1
        assert AuditLog.objects.filter(action="inventory.lot_book_out").count() == 1

    def test_more_than_the_lot_holds_is_refused_and_nothing_changes(self, shelf: Shelf) -> None:
        # when: OLD has 3, the level 10 — the level could give 4, the lot cannot
        with pytest.raises(LotUnitsShort) as refused:
            shelf.book_out(4)
        # then
        assert refused.value.status == 409
        assert "只有 3 件" in refused.value.text
        assert shelf.lot_units() == 3
        assert shelf.level().on_hand == 10
        assert not StockMovement.objects.filter(kind=MovementKind.ADJUST).exists()
        assert not AuditLog.objects.filter(action="inventory.lot_book_out").exists()

    def test_units_promised_to_orders_are_not_booked_out(self, shelf: Shelf) -> None:
        # given an order holding 8 of the 10 units
        with transaction.atomic():
            stock_reserve(
                order_ref="O1",
                requests=[ReservationRequest(sku=shelf.sku, quantity=8)],
                expires_at=clock.now() + dt.timedelta(minutes=15),
            )
        # when 3 would leave 7 on hand for 8 promised
        with pytest.raises(StockPromised) as refused:
            shelf.book_out(3)
        # then
        assert refused.value.status == 409
        assert refused.value.detail == {"on_hand": 10, "reserved": 8, "units": 3}
        assert shelf.lot_units() == 3
        assert shelf.level().on_hand == 10
        # and what is not promised may still go
        assert shelf.book_out(2).units == 2
        assert shelf.level().on_hand == 8

    def test_a_held_lot_may_be_written_off_but_not_sold_to_staff(self, shelf: Shelf) -> None:
        # given OLD recalled
        lot_hold(batch_id=shelf.old.pk, reason="召回：抽检不合格", actor=OPERATOR)
        # when it is handed out to staff
        with pytest.raises(LotOnHold) as refused:
            shelf.book_out(3, ref="near-expiry:staff_sale:lot", write_off=False)
        # then nothing moved
        assert refused.value.status == 409
        assert "冻结" in refused.value.text
        assert shelf.lot_units() == 3
        assert shelf.level().on_hand == 10
        # when it is written off
        result = shelf.book_out(3)
        # then its units are gone
        assert result.units == 3
        assert shelf.lot_units() == 0
        assert shelf.level().on_hand == 7

    def test_a_lot_the_warehouse_never_held_is_not_found(self, shelf: Shelf) -> None:
        # when
        with pytest.raises(NotFound):
            lot_book_out(
                batch_id=shelf.old.pk,
                warehouse_id=make_warehouse("bj", province="北京").pk,
                units=1,
                reason="报损",
                ref=REF,
                actor=OPERATOR,
            )
        # then
        assert shelf.level().on_hand == 10

    @pytest.mark.parametrize(
        ("units", "reason", "ref", "field"),
        [
            (0, "报损", REF, "units"),
            (True, "报损", REF, "units"),
            (-1, "报损", REF, "units"),
            (1, "  ", REF, "reason"),
            (1, "报损", "", "ref"),
            (1, "报损", "x" * 65, "ref"),
        ],
    )
    def test_bad_input_names_the_field(
        self, shelf: Shelf, units: int, reason: str, ref: str, field: str
    ) -> None:
        # when
        with pytest.raises(InvalidInput) as refused:
            lot_book_out(
                batch_id=shelf.old.pk,
                warehouse_id=shelf.where.pk,
                units=units,
                reason=reason,
                ref=ref,
                actor=OPERATOR,
            )
        # then
        assert refused.value.status == 422
        assert [problem["field"] for problem in refused.value.detail] == [field]
        assert shelf.level().on_hand == 10


@pytest.mark.django_db(transaction=True)
class TestLotBookOutConcurrently:
    def test_two_calls_at_once_with_one_key_book_the_units_out_once(self) -> None:
        # given
        shelf = Shelf()
        # when two clicks book the lot out at the same instant
        outcomes = run_at_once([lambda: shelf.book_out(3), lambda: shelf.book_out(3)])
        # then one booked, the other found it done; the units went once
        assert [outcome.error for outcome in outcomes] == [None, None]
        assert sorted(outcome.value.already_done for outcome in outcomes) == [False, True]  # type: ignore[union-attr]
        assert StockMovement.objects.filter(ref=REF).count() == 1
        assert shelf.lot_units() == 0
        assert shelf.level().on_hand == 7

    def test_two_keys_at_once_cannot_take_more_than_the_lot_holds(self) -> None:
        # given
        shelf = Shelf()
        # when two different book-outs of 2 of OLD's 3 units race
        outcomes = run_at_once(
            [lambda: shelf.book_out(2, ref="a"), lambda: shelf.book_out(2, ref="b")]
        )
        # then exactly one got them, the other was refused
        assert sorted(outcome.label for outcome in outcomes)[-1] == "LotUnitsShort"
        assert sum(outcome.error is None for outcome in outcomes) == 1
        assert shelf.lot_units() == 1
        assert shelf.level().on_hand == 8
