"""Pantry (FD-2): items from delivered orders (lot → expiry), by scan (EAN-13) or typed, and
用完了 / 扔掉了 with the waste-avoided counter."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.catalog.models import Batch
from freshloop.core import clock
from freshloop.food.errors import PantryInputInvalid, PantryItemClosed, PantryItemNotFound
from freshloop.food.models import PantryBarcode, PantryItem, PantrySource, PantryStatus
from freshloop.food.selectors import pantry_items_for_person, pantry_waste_stats
from freshloop.food.services import (
    PantryItemInput,
    ean13_valid,
    pantry_add_from_order,
    pantry_item_add,
    pantry_item_close,
)
from freshloop.fulfillment.services import shipment_advance
from freshloop.orders.models import OrderStatus
from freshloop.orders.services import order_allocate, order_deliver, order_ship
from tests.factories import make_person, make_sku
from tests.fulfillment.factories import OPERATOR, make_parcel_order, paid_order

pytestmark = pytest.mark.django_db


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], AbstractContextManager[Any]]:
    """`with committed():` runs what the block queued for after commit (durable handlers)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def today() -> dt.date:
    return clock.to_shanghai(clock.now()).date()


class TestPantryFromDeliveredOrder:
    def test_delivered_parcel_puts_its_lot_with_its_expiry_in_the_pantry(
        self, committed: Callable[[], AbstractContextManager[Any]]
    ) -> None:
        # given a paid order whose parcel carries a lot expiring in 7 days
        parcels = make_parcel_order(storage="chilled", sku_name="鲜牛奶")
        line = parcels.shipment.lines.get()
        lot = Batch.objects.get(pk=line.batch_id)
        moment = clock.now()
        shipment_advance(
            shipment_id=parcels.shipment.pk,
            status="handed_over",
            source="t",
            occurred_at=moment,
            external_id="h",
        )
        # when the carrier reports it delivered (and the commit runs the handlers)
        with committed():
            shipment_advance(
                shipment_id=parcels.shipment.pk,
                status="delivered",
                source="t",
                occurred_at=moment + dt.timedelta(seconds=1),
                external_id="d",
            )
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.DELIVERED
        # then the buyer's pantry holds it, dated by the lot
        items = pantry_items_for_person(person_id=parcels.order.person_id)
        assert len(items) == 1
        item = items[0]
        assert item.batch_id == lot.pk
        assert item.expires_on == lot.expires_on
        assert not item.expiry_estimated
        assert item.storage == "chilled"
        assert item.source == PantrySource.ORDER
        assert item.order_no == parcels.order.order_no
        assert item.name.startswith("鲜牛奶")

    def test_the_delivery_handled_twice_adds_nothing_more(
        self, committed: Callable[[], AbstractContextManager[Any]]
    ) -> None:
        # given an order already in the pantry
        parcels = make_parcel_order()
        moment = clock.now()
        shipment_advance(
            shipment_id=parcels.shipment.pk,
            status="handed_over",
            source="t",
            occurred_at=moment,
            external_id="h",
        )
        with committed():
            shipment_advance(
                shipment_id=parcels.shipment.pk,
                status="delivered",
                source="t",
                occurred_at=moment + dt.timedelta(seconds=1),
                external_id="d",
            )
        # when the event is delivered again (at-least-once)
        again = pantry_add_from_order(order_id=parcels.order.pk)
        # then no item is added
        assert again == []
        assert PantryItem.objects.filter(person_id=parcels.order.person_id).count() == 1

    def test_a_line_without_a_recorded_lot_gets_an_estimated_date(
        self, committed: Callable[[], AbstractContextManager[Any]]
    ) -> None:
        # given an order delivered with no parcel recording its lot (shelf life 7 days)
        person = make_person()
        sku = make_sku(stock=10, storage="frozen", name="速冻水饺")
        order = paid_order(person, (sku, 2))
        order_allocate(order_no=order.order_no, actor=OPERATOR)
        order_ship(order_no=order.order_no, carrier="顺丰", tracking_no="SF1", actor=OPERATOR)
        # when it is delivered
        with committed():
            order_deliver(order_no=order.order_no, actor=OPERATOR)
        # then the item is dated delivery day + shelf life, marked estimated
        item = PantryItem.objects.get(person=person)
        assert item.expires_on == today() + dt.timedelta(days=7)
        assert item.expiry_estimated
        assert item.quantity == 2
        assert item.storage == "frozen"


class TestEan13:
    @pytest.mark.parametrize("code", ["4006381333931", "6901234567892", "0000000000000"])
    def test_valid_codes(self, code: str) -> None:
        assert ean13_valid(code)

    @pytest.mark.parametrize(
        "code",
        [
            "4006381333932",  # wrong check digit
            "400638133393",  # 12 digits
            "40063813339311",  # 14 digits
            "40063813339a1",
            "４００６３８１３３３９３１",  # full-width digits
            "",
        ],
    )
    def test_invalid_codes(self, code: str) -> None:
        assert not ean13_valid(code)


class TestPantryItemAdd:
    def test_a_registered_barcode_names_the_item(self) -> None:
        # given a SKU whose barcode is registered
        sku = make_sku(name="有机酸奶", storage="chilled")
        PantryBarcode.objects.create(ean="6901234567892", sku=sku)
        person = make_person()
        # when the person scans it with a date
        item = pantry_item_add(
            person_id=person.pk,
            data=PantryItemInput(barcode="6901234567892", expires_on=today()),
        )
        # then name, storage and SKU come from the catalog
        assert item.sku_id == sku.pk
        assert item.name.startswith("有机酸奶")
        assert item.storage == "chilled"
        assert item.source == PantrySource.SCAN

    def test_an_unknown_barcode_needs_a_name_and_storage(self) -> None:
        person = make_person()
        with pytest.raises(PantryInputInvalid) as refused:
            pantry_item_add(
                person_id=person.pk,
                data=PantryItemInput(barcode="4006381333931", expires_on=today()),
            )
        fields = {problem["field"] for problem in refused.value.detail}
        assert fields == {"name", "storage"}
        assert not PantryItem.objects.exists()

    def test_a_bad_check_digit_is_refused_and_nothing_written(self) -> None:
        person = make_person()
        with pytest.raises(PantryInputInvalid) as refused:
            pantry_item_add(
                person_id=person.pk,
                data=PantryItemInput(
                    barcode="4006381333932", name="饼干", storage="ambient", expires_on=today()
                ),
            )
        assert refused.value.detail[0]["field"] == "barcode"
        assert not PantryItem.objects.exists()

    def test_typed_item(self) -> None:
        person = make_person()
        item = pantry_item_add(
            person_id=person.pk,
            data=PantryItemInput(name="鸡蛋", storage="chilled", expires_on=today(), quantity=6),
        )
        assert item.source == PantrySource.TYPED
        assert item.quantity == 6
        assert item.sku_id is None

    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"storage": "warm"}, "storage"),
            ({"quantity": 0}, "quantity"),
            ({"expires_on": dt.date(2099, 1, 1)}, "expires_on"),
            ({"name": "长" * 129}, "name"),
        ],
    )
    def test_bad_fields_are_named(self, changes: dict[str, Any], field: str) -> None:
        data: dict[str, Any] = {"name": "鸡蛋", "storage": "chilled", "expires_on": today()}
        data.update(changes)
        with pytest.raises(PantryInputInvalid) as refused:
            pantry_item_add(person_id=make_person().pk, data=PantryItemInput(**data))
        assert [p["field"] for p in refused.value.detail] == [field]


def _item(person_id: int, expires_on: dt.date, name: str = "鸡蛋") -> PantryItem:
    return pantry_item_add(
        person_id=person_id,
        data=PantryItemInput(name=name, storage="chilled", expires_on=expires_on),
    )


class TestPantryItemClose:
    def test_used_before_expiry_counts_as_saved_and_thrown_as_waste(self) -> None:
        # given three items, one past its date
        person = make_person()
        fresh = _item(person.pk, today() + dt.timedelta(days=3))
        expired = _item(person.pk, today() - dt.timedelta(days=1))
        spoiled = _item(person.pk, today() + dt.timedelta(days=1))
        # when one is used in time, one used late, one thrown away
        pantry_item_close(person_id=person.pk, item_id=fresh.pk, outcome=PantryStatus.USED)
        pantry_item_close(person_id=person.pk, item_id=expired.pk, outcome=PantryStatus.USED)
        pantry_item_close(person_id=person.pk, item_id=spoiled.pk, outcome=PantryStatus.THROWN)
        # then the counter says so, and the pantry list is empty
        stats = pantry_waste_stats(person_id=person.pk)
        assert (stats.saved, stats.used_late, stats.thrown) == (1, 1, 1)
        assert stats.saved_rate == 67
        assert pantry_items_for_person(person_id=person.pk) == []
        assert len(pantry_items_for_person(person_id=person.pk, include_closed=True)) == 3

    def test_a_double_tap_counts_once(self) -> None:
        person = make_person()
        item = _item(person.pk, today())
        pantry_item_close(person_id=person.pk, item_id=item.pk, outcome=PantryStatus.USED)
        with pytest.raises(PantryItemClosed):
            pantry_item_close(person_id=person.pk, item_id=item.pk, outcome=PantryStatus.THROWN)
        stats = pantry_waste_stats(person_id=person.pk)
        assert (stats.saved, stats.thrown) == (1, 0)

    def test_another_persons_item_is_not_found(self) -> None:
        owner, other = make_person(), make_person()
        item = _item(owner.pk, today())
        with pytest.raises(PantryItemNotFound):
            pantry_item_close(person_id=other.pk, item_id=item.pk, outcome=PantryStatus.USED)
        item.refresh_from_db()
        assert item.status == PantryStatus.ACTIVE

    def test_an_unknown_outcome_is_refused(self) -> None:
        person = make_person()
        item = _item(person.pk, today())
        with pytest.raises(PantryInputInvalid):
            pantry_item_close(person_id=person.pk, item_id=item.pk, outcome="eaten")


class TestPantryFollowsThePerson:
    def test_merge_moves_items_and_erasure_deletes_them(
        self, committed: Callable[[], AbstractContextManager[Any]]
    ) -> None:
        from freshloop.core.events import publish
        from freshloop.identity.events import IdentityMerged, PersonErased

        # given two people, one with an item
        merged, survivor = make_person(), make_person()
        item = _item(merged.pk, today())
        # when the first is merged into the second
        with committed():
            publish(
                IdentityMerged(
                    from_person_id=merged.pk,
                    into_person_id=survivor.pk,
                    from_one_id=merged.one_id,
                    into_one_id=survivor.one_id,
                    reason="test",
                )
            )
        # then the item is the survivor's
        item.refresh_from_db()
        assert item.person_id == survivor.pk
        # when the survivor is erased, then the pantry is gone
        with committed():
            publish(PersonErased(person_id=survivor.pk, one_id=survivor.one_id))
        assert not PantryItem.objects.filter(pk=item.pk).exists()
