"""Many orders in one transaction (`orders_create_many`, a subscription run's orders): each
request answered as `order_create` answers it — same prices, same reservations, same timeline
and events, the same refusals and retries — with the reads shared and the writes in bulk."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from freshloop.catalog.models import Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError, NotFound
from freshloop.core.models import OutboxMessage
from freshloop.identity.models import Person
from freshloop.inventory.errors import OutOfStock
from freshloop.inventory.models import Reservation, StockLevel, StockMovement
from freshloop.inventory.services import stock_receive
from freshloop.orders import batch as batch_module
from freshloop.orders.errors import AddressInvalid, IdempotencyKeyReused
from freshloop.orders.models import Order, OrderEvent
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    OrderCreateResult,
    order_create,
    orders_create_many,
)
from tests.concurrency import errors_of, run_at_once, values_of
from tests.factories import ADDRESS, give_coupon, make_person, make_sku, make_warehouse
from tests.orders.helpers import coupon_template

pytestmark = pytest.mark.django_db
OPERATOR = Actor(type="user", id="1", label="仓管小李")


def ask(person: Person, *lines: tuple[Sku, int], key: str = "", **extra: Any) -> CheckoutRequest:
    return CheckoutRequest(
        person=person,
        items=[CheckoutItem(sku_id=sku.pk, quantity=quantity) for sku, quantity in lines],
        address=dict(extra.pop("address", ADDRESS)),
        idempotency_key=key or f"k-{person.pk}",
        **extra,
    )


def created(outcome: OrderCreateResult | DomainError) -> Order:
    assert isinstance(outcome, OrderCreateResult), outcome
    assert outcome.created
    return outcome.order


def shape(order: Order) -> dict[str, Any]:
    """What a buyer and the warehouse see of an order, without its number and ids."""
    return {
        "money": (order.subtotal_fen, order.discount_fen, order.shipping_fen, order.total_fen),
        "explained": order.price_explanation,
        "address": order.address,
        "expires_in": order.expires_at - order.created_at if order.expires_at else None,
        "lines": sorted(
            order.lines.values_list("sku_id", "unit_price_fen", "quantity", "total_fen")
        ),
        "timeline": list(order.timeline.values_list("from_status", "to_status", "note", "actor")),
        "reserved": sorted(
            Reservation.objects.filter(order_ref=order.order_no).values_list(
                "stock__warehouse__code", "stock__sku_id", "quantity"
            )
        ),
        "movements": StockMovement.objects.filter(ref=order.order_no).count(),
    }


class TestSameAnswersAsOneByOne:
    def test_prices_reservations_timeline_and_events_match_order_create(self) -> None:
        # given two SKUs in stock and two buyers asking for the same basket
        milk, yogurt = make_sku(price_fen=5990, stock=50), make_sku(price_fen=1290, stock=50)
        alone, batched = make_person(), make_person()
        window = dt.timedelta(hours=12)
        # when one order is placed alone and the other in a batch
        single = order_create(
            request=ask(alone, (milk, 2), (yogurt, 1), payment_window=window)
        ).order
        outbox_before = OutboxMessage.objects.count()
        [outcome] = orders_create_many(
            requests=[ask(batched, (milk, 2), (yogurt, 1), payment_window=window)]
        )
        # then the two orders are the same but for their buyer and number
        order = created(outcome)
        assert shape(order) == shape(single)
        assert order.person_id == batched.pk
        assert order.idempotency_key == f"k-{batched.pk}"
        # and the stock counts both
        assert sorted(StockLevel.objects.values_list("reserved", flat=True)) == [2, 4]
        # and OrderCreated was published for it as for the single one (its durable effects)
        assert OutboxMessage.objects.count() - outbox_before == outbox_before

    def test_a_batch_reads_and_writes_in_bulk(self) -> None:
        # given 30 buyers of the same two SKUs
        milk, yogurt = make_sku(stock=500), make_sku(stock=500)
        requests = [ask(make_person(), (milk, 1), (yogurt, 2)) for _ in range(30)]
        # when they are ordered in one batch
        with CaptureQueriesContext(connection) as queries:
            outcomes = orders_create_many(requests=requests)
        # then all are placed, with far fewer statements than 30 checkouts would take
        assert len({created(o).order_no for o in outcomes}) == 30
        assert len(queries.captured_queries) < 30 * 3


class TestRefusals:
    def test_out_of_stock_refuses_only_the_orders_that_cannot_be_served(self) -> None:
        # given 5 units and three buyers of 2 each
        milk = make_sku(stock=5)
        people = [make_person() for _ in range(3)]
        # when they are ordered in one batch
        outcomes = orders_create_many(requests=[ask(p, (milk, 2)) for p in people])
        # then the first two are placed and the third is refused, naming the SKU
        created(outcomes[0]), created(outcomes[1])
        assert isinstance(outcomes[2], OutOfStock)
        assert outcomes[2].detail == {"skus": [{"sku_id": milk.pk, "name": str(milk)}]}
        # and nothing was written for it
        assert Order.objects.count() == 2
        assert StockLevel.objects.get(sku=milk).reserved == 4

    def test_each_request_gets_its_own_refusal_and_the_others_are_placed(self) -> None:
        milk = make_sku(stock=10)
        good, unknown, no_address = make_person(), make_person(), make_person()
        outcomes = orders_create_many(
            requests=[
                ask(good, (milk, 1)),
                CheckoutRequest(
                    person=unknown,
                    items=[CheckoutItem(sku_id=999_999, quantity=1)],
                    address=dict(ADDRESS),
                    idempotency_key="k-unknown",
                ),
                ask(no_address, (milk, 1), address={"name": "王小明"}),
            ]
        )
        assert created(outcomes[0]).person_id == good.pk
        assert isinstance(outcomes[1], NotFound)
        assert isinstance(outcomes[2], AddressInvalid)
        assert Order.objects.count() == 1

    def test_only_fresh_enough_units_count(self) -> None:
        # given 5 units of which only 3 are fresh enough for the shop (a 7-day product with 4
        # days left is too short for the shop's 2/3)
        with clock.frozen(dt.datetime(2026, 12, 1, 2, tzinfo=dt.UTC)):
            milk, warehouse = make_sku(), make_warehouse()
            for number, (days, units) in enumerate([(4, 2), (6, 3)]):
                expires = dt.date(2026, 12, 1) + dt.timedelta(days=days)
                lot = batch_register(
                    sku=milk, batch_no=f"L{number}", produced_on=expires, expires_on=expires
                )
                stock_receive(
                    sku=milk, warehouse=warehouse, quantity=units, actor=OPERATOR, batch=lot
                )
            outcomes = orders_create_many(
                requests=[ask(make_person(), (milk, 2)), ask(make_person(), (milk, 2))]
            )
        created(outcomes[0])
        assert isinstance(outcomes[1], OutOfStock)

    def test_the_buyers_province_is_served_first(self) -> None:
        # given a SKU in a Shanghai and a Guangdong warehouse, most units in Shanghai
        milk = make_sku(stock=50, warehouse=make_warehouse("sh", province="上海"))
        stock_receive(
            sku=milk, warehouse=make_warehouse("gd", province="广东"), quantity=5, actor=OPERATOR
        )
        canton = {**ADDRESS, "province": "广东", "city": "广州"}
        outcomes = orders_create_many(
            requests=[ask(make_person(), (milk, 1), address=canton), ask(make_person(), (milk, 1))]
        )
        codes = [
            Reservation.objects.get(order_ref=created(o).order_no).stock.warehouse.code
            for o in outcomes
        ]
        assert codes == ["gd", "sh"]


class TestRetries:
    def test_a_rerun_answers_the_orders_already_placed(self) -> None:
        milk = make_sku(stock=10)
        people = [make_person() for _ in range(3)]
        first = orders_create_many(requests=[ask(p, (milk, 1)) for p in people])
        again = orders_create_many(requests=[ask(p, (milk, 1)) for p in people])
        assert [o.order.order_no for o in again if isinstance(o, OrderCreateResult)] == [
            created(o).order_no for o in first
        ]
        assert all(isinstance(o, OrderCreateResult) and not o.created for o in again)
        assert Order.objects.count() == 3
        assert StockLevel.objects.get(sku=milk).reserved == 3

    def test_a_key_reused_with_other_content_is_refused(self) -> None:
        milk = make_sku(stock=10)
        person = make_person()
        orders_create_many(requests=[ask(person, (milk, 1))])
        [outcome] = orders_create_many(requests=[ask(person, (milk, 2))])
        assert isinstance(outcome, IdempotencyKeyReused)

    def test_the_same_key_twice_in_one_batch_places_one_order(self) -> None:
        milk = make_sku(stock=10)
        person = make_person()
        first, second = orders_create_many(requests=[ask(person, (milk, 1))] * 2)
        assert created(first).order_no == second.order.order_no  # type: ignore[union-attr]
        assert Order.objects.count() == 1


class TestOneByOne:
    def test_a_request_with_a_coupon_goes_through_order_create(self) -> None:
        milk = make_sku(price_fen=10000, stock=10)
        person = make_person()
        coupon = give_coupon(person, coupon_template("minus20"))
        [outcome] = orders_create_many(requests=[ask(person, (milk, 1), coupon_ids=[coupon.pk])])
        assert created(outcome).discount_fen == 2000

    def test_units_taken_after_the_plan_send_the_batch_one_by_one(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given 4 units and two buyers of 2, and another checkout that takes 2 units after the
        # batch planned its reservations (a race the guarded UPDATE catches)
        milk = make_sku(stock=4)
        real_plan = batch_module.stock_plan_many

        def plan_then_race(orders: Any) -> Any:
            plan = real_plan(orders)
            order_create(request=ask(make_person(), (milk, 2), key="racer"))
            return plan

        monkeypatch.setattr(batch_module, "stock_plan_many", plan_then_race)
        outcomes = orders_create_many(
            requests=[ask(make_person(), (milk, 2)), ask(make_person(), (milk, 2))]
        )
        # then the batch fell back to one by one: the first is placed, the second is refused
        created(outcomes[0])
        assert isinstance(outcomes[1], OutOfStock)
        assert StockLevel.objects.get(sku=milk).reserved == 4
        assert Order.objects.count() == 2  # the racer's and the first's
        assert OrderEvent.objects.count() == 2


@pytest.mark.django_db(transaction=True)
@pytest.mark.skipif("connection.vendor != 'postgresql'", reason="SQLite has one writer at a time")
class TestBatchBesideCheckouts:
    def test_a_batch_and_single_checkouts_at_once_never_oversell(self) -> None:
        # given 10 units, a batch of 6 buyers and 6 single checkouts at the same instant
        milk = make_sku(stock=10)
        batch = [ask(make_person(), (milk, 1)) for _ in range(6)]
        singles = [ask(make_person(), (milk, 1)) for _ in range(6)]

        def one(request: CheckoutRequest) -> Any:
            return lambda: order_create(request=request)

        outcomes = run_at_once([lambda: orders_create_many(requests=batch), *map(one, singles)])
        # then nothing failed unexpectedly, and exactly the 10 units were sold
        placed = [o for o in values_of(outcomes)[1:] if isinstance(o, OrderCreateResult)]
        refused = [e for e in errors_of(outcomes) if isinstance(e, OutOfStock)]
        assert len(refused) == len(errors_of(outcomes))
        batch_outcomes = outcomes[0].value
        assert batch_outcomes is not None
        batch_placed = [o for o in batch_outcomes if isinstance(o, OrderCreateResult)]
        assert all(isinstance(o, OrderCreateResult | OutOfStock) for o in batch_outcomes)
        assert len(placed) + len(batch_placed) == 10 == Order.objects.count()
        level = StockLevel.objects.get(sku=milk)
        assert level.reserved == level.on_hand == 10
