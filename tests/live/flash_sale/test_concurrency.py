"""Flash sales under real concurrency: threads on their own connections, on the database the
suite runs on (SQLite or PostgreSQL), embedded and with the Redis gate."""

from __future__ import annotations

from collections import Counter
from typing import Any

import pytest

from freshloop.inventory.models import Reservation, ReservationStatus, StockLevel
from freshloop.live.flash_sale.errors import FlashSaleLimitExceeded, FlashSaleSoldOut
from freshloop.live.flash_sale.redis_stock import flash_engine
from freshloop.live.flash_sale.services import flash_sale_buy
from freshloop.live.models import ClaimStatus, FlashSale, FlashSaleClaim
from freshloop.orders.models import Order
from tests.factories import ADDRESS, make_person
from tests.live.flash_sale.helpers import buy, make_flash_sale, run_concurrently, use_redis


@pytest.fixture(params=["embedded", "redis"])
def mode(request: pytest.FixtureRequest, settings: Any) -> str:
    if request.param == "redis":
        use_redis(settings, request.getfixturevalue("redis_url"))
    return str(request.param)


def _sold(sale: FlashSale) -> tuple[int, int, int]:
    """(claimed counter, units in held claims, units in orders) for the sale's SKU."""
    claims = FlashSaleClaim.objects.filter(flash_sale=sale, status=ClaimStatus.HELD)
    in_orders = sum(
        line.quantity
        for order in Order.objects.filter(source_ref=sale.session.code).prefetch_related("lines")
        for line in order.lines.all()
    )
    return (
        FlashSale.objects.get(pk=sale.pk).claimed,
        sum(claim.quantity for claim in claims),
        in_orders,
    )


@pytest.mark.django_db(transaction=True)
class TestFlashSaleBuyConcurrency:
    def test_racing_retries_under_one_key_create_one_order_and_say_so(self, mode: str) -> None:
        # given one buyer whose app sends the same buy three times at once (one Idempotency-Key)
        sale = make_flash_sale(units=10, per_user_limit=3)
        buyer = make_person()

        def purchase() -> tuple[str, bool]:
            order, created = flash_sale_buy(
                flash_sale=FlashSale.objects.select_related("session").get(pk=sale.pk),
                person=buyer,
                quantity=1,
                address=dict(ADDRESS),
                idempotency_key="tap-1",
            )
            return order.order_no, created

        results, errors = run_concurrently([purchase] * 3)
        # then one order, one unit sold — and exactly one call says it created it (the API's
        # one 201; the two retries answer 200 with the same order)
        assert errors == []
        assert len({order_no for order_no, _ in results}) == 1
        assert sorted(created for _, created in results) == [False, False, True]
        assert _sold(sale) == (1, 1, 1)

    def test_forty_buyers_on_ten_units_never_oversold(self, mode: str) -> None:
        # given 10 units, one per person, and 40 different buyers tapping at the same instant
        sale = make_flash_sale(units=10, per_user_limit=1)
        buyers = [make_person() for _ in range(40)]
        # when they all buy
        orders, errors = run_concurrently(
            [lambda person=person: buy(sale, person) for person in buyers]
        )
        # then exactly 10 are sold, each to a different person, and the rest are told sold out
        assert len(orders) == 10
        assert len({order.person_id for order in orders}) == 10
        assert [type(error) for error in errors] == [FlashSaleSoldOut] * 30
        assert _sold(sale) == (10, 10, 10)
        # and the shelf moved once, for the sale's block: the 10 orders were drawn from it
        assert StockLevel.objects.get(sku_id=sale.sku_id).reserved == 10
        drawn = Reservation.objects.filter(block__isnull=False, status=ReservationStatus.ACTIVE)
        assert sum(reservation.quantity for reservation in drawn) == 10
        if mode == "redis":
            engine = flash_engine()
            assert engine is not None
            assert engine.left(flash_sale_id=sale.pk) == 0
            assert engine.pending(flash_sale_id=sale.pk) == []

    def test_one_person_tapping_many_times_gets_at_most_the_limit(self, mode: str) -> None:
        # given 10 units, two per person
        sale = make_flash_sale(units=10, per_user_limit=2)
        greedy = make_person()
        others = [make_person() for _ in range(3)]
        # when one person taps 12 times at once, alongside three others buying two each
        calls = [lambda: buy(sale, greedy) for _ in range(12)]
        calls += [lambda person=person: buy(sale, person, 2) for person in others]
        orders, errors = run_concurrently(calls)
        # then the greedy person holds exactly two units and the others got theirs
        units = Counter()  # type: Counter[int]
        for claim in FlashSaleClaim.objects.filter(flash_sale=sale):
            units[claim.person_id] += claim.quantity
        assert units[greedy.pk] == 2
        assert all(units[person.pk] == 2 for person in others)
        assert {type(error) for error in errors} == {FlashSaleLimitExceeded}
        assert len(orders) == 5
        assert _sold(sale) == (8, 8, 8)
