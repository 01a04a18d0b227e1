"""Orders follow OneID: merges move orders and carts, PIPL export lists them, erasure removes
the delivery addresses."""

from __future__ import annotations

from typing import Any

import pytest

from freshloop.core.audit import Actor
from freshloop.identity.privacy import person_erase, person_export
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.orders.models import Order
from freshloop.orders.selectors import cart_items_for_person
from freshloop.orders.services import cart_item_set
from tests.factories import make_sku
from tests.orders.helpers import buy

pytestmark = pytest.mark.django_db
CS = Actor(type="user", id="3", label="客服")


class TestOrdersFollowMerge:
    def test_a_guests_orders_and_cart_move_to_the_phone_oneid(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a guest known by a device who ordered and has a cart, and a phone customer with a cart
        milk, eggs = make_sku(stock=10), make_sku(stock=10, name="鸡蛋")
        guest = identify(
            identifiers=[IdentifierInput(type="device_id", value="dev-1")], source="live"
        ).person
        phone_person = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138000", verified=True)],
            source="shop",
        ).person
        order = buy(guest, (milk, 1))
        cart_item_set(person=guest, sku_id=milk.pk, quantity=2)
        cart_item_set(person=guest, sku_id=eggs.pk, quantity=1)
        cart_item_set(person=phone_person, sku_id=milk.pk, quantity=1)
        # when the guest logs in with the phone on that device
        with django_capture_on_commit_callbacks(execute=True):
            result = identify(
                identifiers=[
                    IdentifierInput(type="phone", value="13800138000", verified=True),
                    IdentifierInput(type="device_id", value="dev-1"),
                ],
                source="live",
            )
        # then one OneID remains, holding the order and both carts' lines
        survivor = result.person
        assert result.merged_from, result
        assert Order.objects.get(pk=order.pk).person_id == survivor.pk
        lines = {item.sku_id: item.quantity for item in cart_items_for_person(person=survivor)}
        assert lines == {milk.pk: 3, eggs.pk: 1}


class TestOrdersPrivacy:
    def test_export_lists_orders_and_erasure_removes_addresses(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        person = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138000", verified=True)],
            source="shop",
        ).person
        order = buy(person, (make_sku(stock=5), 1))
        document = person_export(actor=CS, one_id=person.one_id)
        assert document["sections"]["orders"][0]["order_no"] == order.order_no
        assert document["sections"]["orders"][0]["address"]["detail"] == "张江路 1 号"
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=CS, one_id=person.one_id, reason="用户申请注销")
        erased = Order.objects.get(pk=order.pk)
        assert erased.address == {}
        assert erased.total_fen == order.total_fen  # the sale itself stays, anonymously
