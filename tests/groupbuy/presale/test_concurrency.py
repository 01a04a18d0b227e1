"""Presale deposits under real concurrency (PostgreSQL: threads on their own connections, the
presale's row lock deciding): never oversold, the per-person limit holds, one key one order."""

from __future__ import annotations

import pytest
from django.db import connection
from django.db.models import Sum

from freshloop.core import clock
from freshloop.groupbuy.presale.errors import PresaleLimitExceeded, PresaleSoldOut
from freshloop.groupbuy.presale.models import Presale, PresalePurchase
from freshloop.groupbuy.presale.services import presale_deposit_pay
from freshloop.inventory.models import Reservation, ReservationStatus
from freshloop.orders.models import Order
from tests.concurrency import errors_of, run_at_once, values_of
from tests.factories import ADDRESS, make_person
from tests.groupbuy.presale.helpers import IN_DEPOSIT, make_presale

pytestmark = [
    pytest.mark.django_db(transaction=True),
    pytest.mark.skipif("connection.vendor != 'postgresql'", reason="row locks under real threads"),
]


def _deposit(presale_id: int, person_id: int, quantity: int, key: str) -> str:
    from freshloop.identity.models import Person

    result = presale_deposit_pay(
        presale=Presale.objects.get(pk=presale_id),
        person=Person.objects.get(pk=person_id),
        quantity=quantity,
        address=dict(ADDRESS),
        idempotency_key=key,
    )
    return result.order.order_no


class TestPresaleDepositPayConcurrency:
    def test_many_buyers_at_once_never_oversell(self) -> None:
        # given a presale of 5 units and 12 buyers asking for 1 each at the same instant
        assert connection.vendor == "postgresql"
        presale = make_presale(quantity=5)
        buyers = [make_person() for _ in range(12)]
        with clock.frozen(IN_DEPOSIT):
            outcomes = run_at_once(
                [lambda b=buyer: _deposit(presale.pk, b.pk, 1, f"k-{b.pk}") for buyer in buyers]
            )
        # then exactly 5 deposits exist, the others were told it is sold out
        assert len(values_of(outcomes)) == 5
        assert {type(e) for e in errors_of(outcomes)} == {PresaleSoldOut}
        assert Presale.objects.get(pk=presale.pk).units_taken == 5
        assert PresalePurchase.objects.filter(presale=presale).count() == 5
        assert Order.objects.filter(source_ref=presale.presale_no).count() == 5
        held = Reservation.objects.filter(
            stock__sku_id=presale.sku_id, status=ReservationStatus.ACTIVE, is_block=False
        ).aggregate(units=Sum("quantity"))["units"]
        assert held == 5

    def test_one_buyer_at_once_stays_within_the_limit(self) -> None:
        presale = make_presale(quantity=10, per_person_limit=2)
        buyer = make_person()
        with clock.frozen(IN_DEPOSIT):
            outcomes = run_at_once(
                [lambda i=i: _deposit(presale.pk, buyer.pk, 1, f"tap-{i}") for i in range(5)]
            )
        assert len(values_of(outcomes)) == 2
        assert {type(e) for e in errors_of(outcomes)} == {PresaleLimitExceeded}
        assert Presale.objects.get(pk=presale.pk).units_taken == 2

    def test_racing_retries_under_one_key_make_one_purchase(self) -> None:
        presale = make_presale(quantity=10)
        buyer = make_person()
        with clock.frozen(IN_DEPOSIT):
            outcomes = run_at_once(
                [lambda: _deposit(presale.pk, buyer.pk, 1, "same-intent") for _ in range(4)]
            )
        assert errors_of(outcomes) == []
        assert len(set(values_of(outcomes))) == 1
        assert PresalePurchase.objects.count() == 1
        assert Presale.objects.get(pk=presale.pk).units_taken == 1
