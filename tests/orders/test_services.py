"""Cart, checkout and the order life cycle, through the real services of every module."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.events import subscribe, unsubscribe
from freshloop.core.models import AuditLog
from freshloop.inventory.errors import OutOfStock
from freshloop.inventory.models import Reservation, ReservationStatus, StockLevel
from freshloop.membership.models import Membership, PointsEntry
from freshloop.membership.services import points_adjust
from freshloop.orders import events
from freshloop.orders.errors import (
    AddressInvalid,
    CartEmpty,
    IdempotencyKeyReused,
    OrderStateInvalid,
    PaymentAmountMismatch,
    RefundInvalid,
)
from freshloop.orders.models import Order, OrderStatus, RefundRequest, RefundStatus
from freshloop.orders.selectors import (
    cart_items_for_person,
    order_get_for_person,
    shipping_rule_for,
)
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    cart_item_add,
    cart_item_set,
    checkout_preview,
    order_allocate,
    order_cancel,
    order_complete,
    order_create,
    order_deliver,
    order_payment_succeeded,
    order_refund_request,
    order_refund_succeeded,
    order_ship,
    orders_expire_unpaid,
    refund_request_approve,
    refund_request_reject,
)
from freshloop.promotions.errors import CouponUnavailable
from freshloop.promotions.models import Coupon, CouponStatus
from freshloop.promotions.services import CampaignSpec, campaign_create
from tests.concurrency import run_at_once
from tests.factories import ADDRESS, give_coupon, make_person, make_sku
from tests.orders.helpers import MARKETER, buy, coupon_template, pay

pytestmark = pytest.mark.django_db
OPERATOR = Actor(type="user", id="2", label="客服小陈")


def reserved(sku_id: int) -> int:
    return StockLevel.objects.get(sku_id=sku_id).reserved


def balance(person_id: int) -> int:
    return Membership.objects.get(person_id=person_id).points_balance


class TestCart:
    def test_set_add_and_remove(self) -> None:
        person, milk = make_person(), make_sku(stock=10)
        cart_item_add(person=person, sku_id=milk.pk, quantity=2)
        cart_item_add(person=person, sku_id=milk.pk, quantity=1)
        assert [(i.sku_id, i.quantity) for i in cart_items_for_person(person=person)] == [
            (milk.pk, 3)
        ]
        cart_item_set(person=person, sku_id=milk.pk, quantity=0)
        assert cart_items_for_person(person=person) == []

    def test_unknown_or_unlisted_sku_refused(self) -> None:
        person = make_person()
        with pytest.raises(NotFound):
            cart_item_set(person=person, sku_id=999_999, quantity=1)
        live_only = make_sku(channels=("live",))
        with pytest.raises(NotFound):
            cart_item_set(person=person, sku_id=live_only.pk, quantity=1, channel="shop")

    @pytest.mark.parametrize("quantity", [-1, 100, True])
    def test_bad_quantity_refused(self, quantity: int) -> None:
        with pytest.raises(InvalidInput):
            cart_item_set(person=make_person(), sku_id=make_sku().pk, quantity=quantity)


class TestCheckoutPreview:
    def test_price_is_explained_line_by_line(self) -> None:
        # given ¥60 milk ×2 (chilled → ¥15 cold-chain shipping, but ¥120 ≥ ¥99 ships free)
        # and a 满99减20 coupon
        person = make_person()
        milk = make_sku(price_fen=6000, stock=10)
        coupon = give_coupon(person, coupon_template())
        quote = checkout_preview(
            request=CheckoutRequest(
                person=person, items=[_item(milk, 2)], coupon_ids=[coupon.pk], address=ADDRESS
            )
        )
        rows = {row["code"]: row["amount_fen"] for row in quote.explanation()}
        assert rows["subtotal"] == 12000
        assert rows["shipping"] == 1500
        assert rows["coupon"] == -2000
        assert rows["total"] == 10000
        assert sum(row["amount_fen"] for row in quote.explanation()[:-1]) == quote.total_fen
        # and the discount is spread over the lines so each knows what it paid
        assert sum(line.total_fen for line in quote.lines) == 10000

    def test_small_ambient_order_pays_shipping(self) -> None:
        rice = make_sku(price_fen=3000, storage="ambient", stock=5)
        quote = checkout_preview(
            request=CheckoutRequest(person=make_person(), items=[_item(rice, 1)])
        )
        assert (quote.subtotal_fen, quote.shipping_fen, quote.total_fen) == (3000, 800, 3800)

    def test_empty_cart_refused(self) -> None:
        with pytest.raises(CartEmpty):
            checkout_preview(request=CheckoutRequest(person=make_person()))


def _item(sku, quantity):  # type: ignore[no-untyped-def]
    from freshloop.orders.services import CheckoutItem

    return CheckoutItem(sku_id=sku.pk, quantity=quantity)


class TestOrderCreate:
    def test_order_reserves_stock_locks_coupon_spends_points_in_one_go(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        person = make_person()
        milk = make_sku(price_fen=6000, stock=10)
        coupon = give_coupon(person, coupon_template())
        points_adjust(person_id=person.pk, delta=500, reason="测试", actor=MARKETER)
        published: list[events.OrderCreated] = []
        subscribe(events.OrderCreated)(published.append)
        try:
            with django_capture_on_commit_callbacks(execute=True):
                order = buy(person, (milk, 2), coupons=[coupon.pk], points=300)
        finally:
            unsubscribe(events.OrderCreated, published.append)
        assert order.status == OrderStatus.PENDING_PAYMENT
        assert order.total_fen == 12000 - 2000 - 300
        assert order.points_used == 300
        assert reserved(milk.pk) == 2
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.LOCKED
        assert balance(person.pk) == 200
        assert order.address["detail"] == "张江路 1 号"
        assert [e.order_no for e in published] == [order.order_no]
        assert order.timeline.get().to_status == OrderStatus.PENDING_PAYMENT

    def test_out_of_stock_leaves_nothing_behind(self) -> None:
        person = make_person()
        milk, eggs = make_sku(stock=10), make_sku(stock=1, name="鸡蛋")
        coupon = give_coupon(
            person, coupon_template(threshold_fen=0, kind="fixed", amount_off_fen=100)
        )
        with pytest.raises(OutOfStock):
            buy(person, (milk, 2), (eggs, 2), coupons=[coupon.pk])
        assert not Order.objects.exists()
        assert reserved(milk.pk) == 0
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.AVAILABLE

    def test_a_coupon_that_does_not_apply_is_an_error_at_order_time(self) -> None:
        person = make_person()
        cheap = make_sku(price_fen=1000, stock=10)
        coupon = give_coupon(person, coupon_template())
        with pytest.raises(CouponUnavailable, match="99"):
            buy(person, (cheap, 1), coupons=[coupon.pk])
        assert not Order.objects.exists()

    def test_a_new_customer_coupon_is_refused_to_a_buyer_who_has_paid_before(self) -> None:
        # given a buyer with a paid order and a new-customer coupon
        person = make_person()
        milk = make_sku(price_fen=1000, stock=10)
        pay(buy(person, (milk, 1)))
        coupon = give_coupon(person, _new_customer_coupon())
        # when they order with it, then it is refused as new-customer only
        with pytest.raises(CouponUnavailable, match="新客"):
            buy(person, (milk, 1), coupons=[coupon.pk])

    def test_a_new_customer_coupon_applies_to_a_first_order(self) -> None:
        person = make_person()
        milk = make_sku(price_fen=1000, stock=10)
        coupon = give_coupon(person, _new_customer_coupon())
        order = buy(person, (milk, 1), coupons=[coupon.pk])
        assert order.coupon_ids == [coupon.pk]

    def test_missing_address_refused(self) -> None:
        with pytest.raises(AddressInvalid):
            order_create(
                request=CheckoutRequest(person=make_person(), items=[_item(make_sku(stock=1), 1)])
            )

    def test_retry_with_the_same_key_returns_the_same_order(self) -> None:
        person, milk = make_person(), make_sku(stock=10)
        first = buy(person, (milk, 1), key="k-1")
        again = buy(person, (milk, 1), key="k-1")
        assert again.pk == first.pk
        assert Order.objects.count() == 1
        assert reserved(milk.pk) == 1

    def test_a_retry_after_the_stock_ran_out_answers_the_order(self) -> None:
        # given the last unit bought under a key
        person, milk = make_person(), make_sku(stock=1)
        first = buy(person, (milk, 1), key="k-last")
        # when the request comes again, then it is answered with that order, not OutOfStock
        assert buy(person, (milk, 1), key="k-last").pk == first.pk
        assert Order.objects.count() == 1

    def test_says_whether_it_created_the_order_or_answered_a_retry(self) -> None:
        # given a first request under a key
        person, milk = make_person(), make_sku(stock=10)
        request = CheckoutRequest(
            person=person, items=[_item(milk, 1)], address=ADDRESS, idempotency_key="k-2"
        )
        # when it is sent twice
        first, created = order_create(request=request)
        again, created_again = order_create(request=request)
        # then the first created the order and the retry answered it
        assert (created, created_again) == (True, False)
        assert again.pk == first.pk

    def test_same_key_different_content_refused(self) -> None:
        person, milk = make_person(), make_sku(stock=10)
        buy(person, (milk, 1), key="k-1")
        with pytest.raises(IdempotencyKeyReused):
            buy(person, (milk, 2), key="k-1")

    def test_a_cart_checkout_retried_after_the_cart_was_emptied_answers_the_order(self) -> None:
        # given a whole-cart order (it took the bought lines out of the cart)
        person, milk = make_person(), make_sku(stock=10)
        cart_item_set(person=person, sku_id=milk.pk, quantity=2)
        request = CheckoutRequest(person=person, address=ADDRESS, idempotency_key="cart-k")
        first, _ = order_create(request=request)
        # when the same request comes again
        again, created = order_create(request=request)
        # then it is answered with that order, not CartEmpty
        assert (again.pk, created) == (first.pk, False)
        assert reserved(milk.pk) == 2

    def test_a_cart_checkout_retried_with_other_coupons_is_refused(self) -> None:
        person, milk = make_person(), make_sku(price_fen=6000, stock=10)
        coupon = give_coupon(person, coupon_template())
        cart_item_set(person=person, sku_id=milk.pk, quantity=2)
        order_create(request=CheckoutRequest(person=person, address=ADDRESS, idempotency_key="c"))
        with pytest.raises(IdempotencyKeyReused):
            order_create(
                request=CheckoutRequest(
                    person=person, address=ADDRESS, idempotency_key="c", coupon_ids=[coupon.pk]
                )
            )

    def test_cart_checkout_empties_the_bought_lines(self) -> None:
        person, milk = make_person(), make_sku(stock=10)
        cart_item_set(person=person, sku_id=milk.pk, quantity=2)
        order, _ = order_create(request=CheckoutRequest(person=person, address=ADDRESS))
        assert order.lines.get().quantity == 2
        assert cart_items_for_person(person=person) == []

    def test_campaigns_price_the_order_and_charge_their_budget_until_cancelled(self) -> None:
        # given a flash price ¥50 (list ¥60) in the live room and a 满100减10 campaign
        person, milk = make_person(), make_sku(price_fen=6000, stock=10)
        flash = campaign_create(
            actor=MARKETER,
            spec=CampaignSpec(
                code="flash",
                name="直播秒杀",
                kind="flash_price",
                starts_at=clock.now() - dt.timedelta(hours=1),
                ends_at=clock.now() + dt.timedelta(hours=1),
                channels=["live"],
                prices={milk.pk: 5000},
                budget_fen=100_000,
            ),
        )
        campaign_create(
            actor=MARKETER,
            spec=CampaignSpec(
                code="tiers",
                name="双十二满减",
                kind="tiered",
                starts_at=clock.now() - dt.timedelta(hours=1),
                ends_at=clock.now() + dt.timedelta(hours=1),
                channels=["live", "shop"],
                tiers=[{"threshold_fen": 10000, "off_fen": 1000}],
            ),
        )
        # when they buy two in the live room
        order = buy(person, (milk, 2), channel="live", source_ref="LIVE-1")
        # then ¥120 - ¥20 flash - ¥10 tier = ¥90, below ¥99 so cold-chain shipping ¥15 applies
        rows = {row["code"]: row["amount_fen"] for row in order.price_explanation}
        assert rows["flash_price"] == -2000
        assert rows["tiered"] == -1000
        assert order.total_fen == 9000 + 1500
        flash.refresh_from_db()
        assert flash.spent_fen == 2000
        order_cancel(order_no=order.order_no, reason="x", actor=OPERATOR)
        flash.refresh_from_db()
        assert flash.spent_fen == 0

    def test_source_channel_is_recorded(self) -> None:
        order = buy(make_person(), (make_sku(stock=1), 1), channel="live", source_ref="LIVE-42")
        assert (order.channel, order.source_ref) == ("live", "LIVE-42")


# Statements one order_create sends today, written down in docs/commerce.md; a change that
# adds one fails here. Reads: the SKUs (one query for all lines), the member's level (one,
# membership's), the running campaigns, the stock levels (one for all lines). Writes: the
# order, its lines (one insert), the conditional stock UPDATE (one for all lines), the
# reservations and the stock movements (one insert each; on PostgreSQL written by the stock
# UPDATE's statement), the timeline row, the data hub's buffer row (on PostgreSQL through its
# own binary cursor, which the capture does not see); and the transaction's BEGIN and COMMIT.
# Read only when needed: the idempotency key (when the attempt fails), whether the buyer paid
# before (when a chosen coupon is for new customers).
ORDER_CREATE_STATEMENTS_ONE_LINE = {"sqlite": 13, "postgresql": 10}


@pytest.mark.django_db
class TestOrderCreateOnWritten:
    def test_the_callers_rows_commit_with_the_order(self) -> None:
        milk = make_sku(price_fen=6000, stock=10)
        seen: list[str] = []
        order, _ = order_create(
            request=CheckoutRequest(
                person=make_person(),
                items=[CheckoutItem(sku_id=milk.pk, quantity=1)],
                address=dict(ADDRESS),
                on_written=lambda written: seen.append(written.order_no),
            )
        )
        assert seen == [order.order_no]

    def test_a_refusal_from_the_caller_leaves_no_order_and_no_reservation(self) -> None:
        milk = make_sku(price_fen=6000, stock=10)

        def refuse(order: Order) -> None:
            raise InvalidInput("该团已满")

        with pytest.raises(InvalidInput):
            order_create(
                request=CheckoutRequest(
                    person=make_person(),
                    items=[CheckoutItem(sku_id=milk.pk, quantity=1)],
                    address=dict(ADDRESS),
                    on_written=refuse,
                )
            )
        assert not Order.objects.exists()
        assert reserved(milk.pk) == 0


class TestOrderCreateQueryCount:
    @pytest.fixture(autouse=True)
    def _shipping_rules_read(self) -> None:
        # Each process reads the shipping rules once every few seconds, not once per order.
        shipping_rule_for("")

    def _order(self, person: Any, skus: list[Any], key: str) -> None:
        order_create(
            request=CheckoutRequest(
                person=person,
                items=[CheckoutItem(sku_id=sku.pk, quantity=1) for sku in skus],
                address=dict(ADDRESS),
                idempotency_key=key,
            )
        )

    def test_one_line_costs_a_fixed_number_of_statements(
        self, django_assert_max_num_queries: Any
    ) -> None:
        sku, buyer = make_sku(stock=10), make_person()
        with django_assert_max_num_queries(ORDER_CREATE_STATEMENTS_ONE_LINE[connection.vendor]):
            self._order(buyer, [sku], "k-1")

    def test_more_lines_cost_no_more_statements(self) -> None:
        # given three SKUs in stock
        skus = [make_sku(stock=10, price_fen=1000 + n) for n in range(3)]
        counts = []
        for lines in (1, 3):
            buyer = make_person()
            with CaptureQueriesContext(connection) as captured:
                self._order(buyer, skus[:lines], f"k-{lines}")
            counts.append(len(captured.captured_queries))
        # then two more lines cost nothing more: reads and the stock UPDATE are batched
        assert counts[1] == counts[0]


@pytest.mark.django_db(transaction=True)
class TestOrderCreateConcurrency:
    def _race(self, calls: int, run: Callable[[], str]) -> list[str]:
        return [outcome.label for outcome in run_at_once([run] * calls)]

    def test_one_per_user_coupon_used_twice_at_once_succeeds_once(self) -> None:
        person = make_person()
        milk = make_sku(price_fen=6000, stock=10)
        coupon = give_coupon(person, coupon_template())
        outcomes = self._race(4, lambda: buy(person, (milk, 2), coupons=[coupon.pk]).order_no)
        assert len([o for o in outcomes if o.startswith("O_")]) == 1, outcomes
        assert all(o == "CouponUnavailable" for o in outcomes if not o.startswith("O_")), outcomes
        assert Order.objects.count() == 1
        assert reserved(milk.pk) == 2

    def test_same_idempotency_key_at_once_makes_one_order(self) -> None:
        person, milk = make_person(), make_sku(stock=10)
        outcomes = self._race(4, lambda: buy(person, (milk, 1), key="same").order_no)
        assert len(set(outcomes)) == 1, outcomes
        assert outcomes[0].startswith("O_"), outcomes
        assert Order.objects.count() == 1
        assert reserved(milk.pk) == 1

    def test_same_idempotency_key_at_once_says_created_once(self) -> None:
        # The API answers 201 for `created` and 200 for a retry: racing retries must not all
        # claim to have created the order.
        person, milk = make_person(), make_sku(stock=10)
        request = CheckoutRequest(
            person=person, items=[_item(milk, 1)], address=ADDRESS, idempotency_key="same"
        )

        def place() -> str:
            return "created" if order_create(request=request).created else "retry"

        outcomes = self._race(4, place)
        assert sorted(outcomes) == ["created", "retry", "retry", "retry"], outcomes


class TestOrderPaymentSucceeded:
    def test_payment_confirms_stock_uses_coupon_earns_points(self) -> None:
        person = make_person()
        milk = make_sku(price_fen=6000, stock=10)
        coupon = give_coupon(person, coupon_template())
        order = pay(buy(person, (milk, 2), coupons=[coupon.pk]))
        assert order.status == OrderStatus.PAID
        assert order.paid_fen == 10000
        assert Reservation.objects.get(order_ref=order.order_no).expires_at is None
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.USED
        assert balance(person.pk) == 100  # one point per yuan paid

    @pytest.mark.parametrize(
        ("provider", "note"),
        [
            ("wechatpay", "支付成功（微信支付）"),
            ("alipay", "支付成功（支付宝）"),
            ("sandbox", "支付成功（沙箱支付）"),
        ],
    )
    def test_timeline_names_the_provider_in_chinese(self, provider: str, note: str) -> None:
        # given an unpaid order
        order = buy(make_person(), (make_sku(stock=5), 1))
        # when the provider confirms the payment
        order_payment_succeeded(
            order_no=order.order_no,
            amount_fen=order.total_fen,
            provider=provider,
            transaction_id="T1",
            paid_at=clock.now(),
        )
        # then the buyer's timeline names it as people call it
        paid = order.timeline.get(to_status=OrderStatus.PAID)
        assert paid.note == note
        assert paid.actor == note[5:-1]
        assert Order.objects.get(pk=order.pk).get_payment_provider_display() == note[5:-1]

    def test_replayed_confirmation_changes_nothing(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        pay(order, transaction_id="T1")
        again = pay(order, transaction_id="T1")
        assert again.status == OrderStatus.PAID
        assert again.timeline.filter(to_status=OrderStatus.PAID).count() == 1
        assert PointsEntry.objects.filter(kind="earn").count() == 1

    def test_amount_mismatch_refused(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        with pytest.raises(PaymentAmountMismatch):
            pay(order, amount_fen=order.total_fen - 1)
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PENDING_PAYMENT

    def test_second_transaction_for_a_paid_order_refused(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)), transaction_id="T1")
        with pytest.raises(OrderStateInvalid):
            pay(order, transaction_id="T2")

    def test_money_for_a_cancelled_order_refused(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        order_cancel(order_no=order.order_no, reason="不要了", actor=OPERATOR)
        with pytest.raises(OrderStateInvalid):
            pay(order)


class TestOrderCancel:
    def test_cancel_gives_back_stock_coupon_and_points(self) -> None:
        person = make_person()
        milk = make_sku(price_fen=6000, stock=10)
        coupon = give_coupon(person, coupon_template())
        points_adjust(person_id=person.pk, delta=500, reason="测试", actor=MARKETER)
        order = buy(person, (milk, 2), coupons=[coupon.pk], points=300)
        order_cancel(order_no=order.order_no, reason="顾客取消", actor=OPERATOR)
        assert Order.objects.get(pk=order.pk).status == OrderStatus.CANCELLED
        assert reserved(milk.pk) == 0
        assert Coupon.objects.get(pk=coupon.pk).status == CouponStatus.AVAILABLE
        assert balance(person.pk) == 500

    def test_paid_orders_cannot_be_cancelled_only_refunded(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        with pytest.raises(OrderStateInvalid):
            order_cancel(order_no=order.order_no, reason="x", actor=OPERATOR)


class TestOrdersExpireUnpaid:
    def test_unpaid_orders_past_the_deadline_release_their_units(self) -> None:
        milk = make_sku(stock=3)
        late = buy(make_person(), (milk, 2))
        paid = pay(buy(make_person(), (milk, 1)))
        cancelled = orders_expire_unpaid(now=clock.now() + dt.timedelta(minutes=16))
        assert cancelled == [late.order_no]
        assert Order.objects.get(pk=late.pk).status == OrderStatus.CANCELLED
        assert Order.objects.get(pk=paid.pk).status == OrderStatus.PAID
        assert reserved(milk.pk) == 1
        assert Reservation.objects.get(order_ref=late.order_no).status == ReservationStatus.RELEASED

    def test_nothing_due_before_the_deadline(self) -> None:
        buy(make_person(), (make_sku(stock=3), 1))
        assert orders_expire_unpaid(now=clock.now() + dt.timedelta(minutes=14)) == []


class TestFulfilmentSteps:
    def test_paid_order_walks_to_completed_and_ships_its_stock(self) -> None:
        milk = make_sku(stock=5)
        order = pay(buy(make_person(), (milk, 2)))
        order_allocate(order_no=order.order_no, actor=OPERATOR)
        order_ship(order_no=order.order_no, carrier="顺丰冷运", tracking_no="SF123", actor=OPERATOR)
        stock = StockLevel.objects.get(sku_id=milk.pk)
        assert (stock.on_hand, stock.reserved) == (3, 0)
        order_deliver(order_no=order.order_no, actor=OPERATOR)
        order_complete(order_no=order.order_no, actor=OPERATOR)
        timeline = [e.to_status for e in Order.objects.get(pk=order.pk).timeline.all()]
        assert timeline == [
            "pending_payment",
            "paid",
            "allocated",
            "shipped",
            "delivered",
            "completed",
        ]

    def test_steps_out_of_order_refused(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        with pytest.raises(OrderStateInvalid):
            order_ship(order_no=order.order_no, carrier="顺丰", tracking_no="1", actor=OPERATOR)
        with pytest.raises(OrderStateInvalid):
            order_allocate(order_no=order.order_no, actor=OPERATOR)


class TestRefunds:
    def test_full_refund_before_shipping_returns_stock_and_reverses_points(self) -> None:
        person, milk = make_person(), make_sku(price_fen=6000, stock=5)
        order = pay(buy(person, (milk, 2)))
        assert balance(person.pk) == 120 - 0  # ¥120 paid (free shipping)
        line = order.lines.get()
        refund = order_refund_request(
            order_no=order.order_no,
            reason="买多了",
            actor=OPERATOR,
            lines=[{"line_id": line.pk, "quantity": 2}],
        )
        assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUND_REQUESTED
        refund_request_approve(refund_no=refund.refund_no, actor=OPERATOR)
        order_refund_succeeded(
            order_no=order.order_no,
            refund_no=refund.refund_no,
            amount_fen=refund.amount_fen,
            refunded_at=clock.now(),
        )
        order.refresh_from_db()
        assert (order.status, order.refunded_fen) == (OrderStatus.REFUNDED, 12000)
        assert reserved(milk.pk) == 0
        assert balance(person.pk) == 0

    def test_partial_refund_of_one_unit_then_the_rest_ships(self) -> None:
        person, milk = make_person(), make_sku(price_fen=6000, stock=5)
        order = pay(buy(person, (milk, 2)))
        line = order.lines.get()
        refund = order_refund_request(
            order_no=order.order_no,
            reason="坏了一盒",
            actor=OPERATOR,
            lines=[{"line_id": line.pk, "quantity": 1}],
        )
        assert refund.amount_fen == 6000
        refund_request_approve(refund_no=refund.refund_no, actor=OPERATOR)
        order_refund_succeeded(
            order_no=order.order_no,
            refund_no=refund.refund_no,
            amount_fen=6000,
            refunded_at=clock.now(),
        )
        order.refresh_from_db()
        assert order.status == OrderStatus.PARTIALLY_REFUNDED
        assert reserved(milk.pk) == 1
        assert balance(person.pk) == 60
        # the rest of the order continues
        order_allocate(order_no=order.order_no, actor=OPERATOR)
        assert Order.objects.get(pk=order.pk).status == OrderStatus.ALLOCATED

    def test_refund_confirmation_replayed_is_harmless(self) -> None:
        order = pay(buy(make_person(), (make_sku(price_fen=6000, stock=5), 2)))
        refund = order_refund_request(
            order_no=order.order_no, reason="x", actor=OPERATOR, amount_fen=1000
        )
        refund_request_approve(refund_no=refund.refund_no, actor=OPERATOR)
        for _ in range(2):
            order_refund_succeeded(
                order_no=order.order_no,
                refund_no=refund.refund_no,
                amount_fen=1000,
                refunded_at=clock.now(),
            )
        assert Order.objects.get(pk=order.pk).refunded_fen == 1000

    def test_rejected_request_returns_the_order_where_it_was(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        refund = order_refund_request(
            order_no=order.order_no, reason="x", actor=OPERATOR, amount_fen=100
        )
        refund_request_reject(refund_no=refund.refund_no, actor=OPERATOR, note="已发货，请走售后")
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PAID
        assert type(refund).objects.get(pk=refund.pk).status == RefundStatus.REJECTED

    @pytest.mark.parametrize("amount", [0, -5, 10**9])
    def test_amount_outside_what_was_paid_refused(self, amount: int) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        with pytest.raises(RefundInvalid):
            order_refund_request(
                order_no=order.order_no, reason="x", actor=OPERATOR, amount_fen=amount
            )

    def test_unpaid_orders_cannot_be_refunded(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        with pytest.raises(OrderStateInvalid):
            order_refund_request(order_no=order.order_no, reason="x", actor=OPERATOR, amount_fen=1)

    def test_unapproved_refund_cannot_be_paid_out(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        refund = order_refund_request(
            order_no=order.order_no, reason="x", actor=OPERATOR, amount_fen=100
        )
        with pytest.raises(OrderStateInvalid):
            order_refund_succeeded(
                order_no=order.order_no,
                refund_no=refund.refund_no,
                amount_fen=100,
                refunded_at=clock.now(),
            )


class TestRefundRequestReject:
    def _requested(self, order: Order, amount_fen: int = 100) -> RefundRequest:
        return order_refund_request(
            order_no=order.order_no, reason="不想要了", actor=OPERATOR, amount_fen=amount_fen
        )

    def test_rejection_returns_the_order_through_the_state_machine_and_announces_it(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given an allocated order with a refund request waiting
        person = make_person()
        order = pay(buy(person, (make_sku(price_fen=6000, stock=5), 1)))
        order_allocate(order_no=order.order_no, actor=OPERATOR)
        refund = self._requested(order, amount_fen=2500)
        published: list[events.OrderRefundRejected] = []
        subscribe(events.OrderRefundRejected)(published.append)
        # when customer service rejects it
        try:
            with django_capture_on_commit_callbacks(execute=True):
                refund_request_reject(
                    refund_no=refund.refund_no, actor=OPERATOR, note="已分拣出库，请签收后申请"
                )
        finally:
            unsubscribe(events.OrderRefundRejected, published.append)
        # then the order is allocated again, with the step on its timeline
        order.refresh_from_db()
        assert order.status == OrderStatus.ALLOCATED
        last = order.timeline.order_by("pk").last()
        assert last is not None
        assert (last.from_status, last.to_status, last.actor) == (
            OrderStatus.REFUND_REQUESTED,
            OrderStatus.ALLOCATED,
            OPERATOR.label,
        )
        assert "已分拣出库" in last.note
        # and the decision is on the request and in the audit log
        refund.refresh_from_db()
        assert (refund.status, refund.decided_by) == (RefundStatus.REJECTED, OPERATOR.label)
        audit = AuditLog.objects.get(action="orders.refund_reject", target_id=str(refund.pk))
        assert audit.before == {
            "status": RefundStatus.REQUESTED,
            "order_status": OrderStatus.REFUND_REQUESTED,
        }
        assert audit.after["order_status"] == OrderStatus.ALLOCATED
        # and one OrderRefundRejected went out after commit
        assert [(e.order_no, e.refund_no, e.amount_fen, e.person_id) for e in published] == [
            (order.order_no, refund.refund_no, 2500, person.pk)
        ]
        assert published[0].reason == "已分拣出库，请签收后申请"

    def test_after_an_earlier_partial_refund_the_order_is_partially_refunded_again(self) -> None:
        # given an order that already got one unit's money back, and a second request
        milk = make_sku(price_fen=6000, stock=5)
        order = pay(buy(make_person(), (milk, 2)))
        first = order_refund_request(
            order_no=order.order_no,
            reason="坏了一盒",
            actor=OPERATOR,
            lines=[{"line_id": order.lines.get().pk, "quantity": 1}],
        )
        refund_request_approve(refund_no=first.refund_no, actor=OPERATOR)
        order_refund_succeeded(
            order_no=order.order_no,
            refund_no=first.refund_no,
            amount_fen=first.amount_fen,
            refunded_at=clock.now(),
        )
        second = self._requested(order)
        # when the second request is rejected
        refund_request_reject(refund_no=second.refund_no, actor=OPERATOR, note="不符合退款条件")
        # then the order is partially refunded again and the rest still ships
        assert Order.objects.get(pk=order.pk).status == OrderStatus.PARTIALLY_REFUNDED
        order_allocate(order_no=order.order_no, actor=OPERATOR)
        assert Order.objects.get(pk=order.pk).status == OrderStatus.ALLOCATED

    def test_an_order_not_waiting_on_the_request_is_refused_and_nothing_changes(
        self, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a request whose order another path left in a status the request cannot leave
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        refund = self._requested(order)
        Order.objects.filter(pk=order.pk).update(status=OrderStatus.REFUNDED)
        timeline_before = order.timeline.count()
        published: list[events.OrderRefundRejected] = []
        subscribe(events.OrderRefundRejected)(published.append)
        # when the request is rejected
        try:
            with (
                django_capture_on_commit_callbacks(execute=True),
                pytest.raises(OrderStateInvalid),
            ):
                refund_request_reject(refund_no=refund.refund_no, actor=OPERATOR, note="拒绝")
        finally:
            unsubscribe(events.OrderRefundRejected, published.append)
        # then the state machine refused it: no status, timeline, decision, audit or event
        assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUNDED
        assert order.timeline.count() == timeline_before
        assert type(refund).objects.get(pk=refund.pk).status == RefundStatus.REQUESTED
        assert not AuditLog.objects.filter(action="orders.refund_reject").exists()
        assert published == []

    def test_a_decided_request_cannot_be_rejected(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        refund = self._requested(order)
        refund_request_approve(refund_no=refund.refund_no, actor=OPERATOR)
        with pytest.raises(OrderStateInvalid):
            refund_request_reject(refund_no=refund.refund_no, actor=OPERATOR, note="拒绝")
        assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUND_REQUESTED
        assert type(refund).objects.get(pk=refund.pk).status == RefundStatus.APPROVED

    def test_a_rejection_needs_a_reason(self) -> None:
        order = pay(buy(make_person(), (make_sku(stock=5), 1)))
        refund = self._requested(order)
        with pytest.raises(RefundInvalid):
            refund_request_reject(refund_no=refund.refund_no, actor=OPERATOR, note="  ")
        assert Order.objects.get(pk=order.pk).status == OrderStatus.REFUND_REQUESTED


class TestOrderGetForPerson:
    def test_another_buyers_order_is_not_found(self) -> None:
        order = buy(make_person(), (make_sku(stock=5), 1))
        with pytest.raises(NotFound):
            order_get_for_person(person=make_person(), order_no=order.order_no)


class TestOrdersImportHistory:
    def _record(self, person, sku, number: str, discount: int = 0):  # type: ignore[no-untyped-def]
        from freshloop.orders.services import HistoricalLine, HistoricalOrder

        return HistoricalOrder(
            order_no=f"H_{number}",
            person=person,
            channel="live",
            source_ref="LIVE-20250103",
            lines=[HistoricalLine(sku=sku, quantity=2, unit_price_fen=1000)],
            discount_fen=discount,
            shipping_fen=800,
            created_at=clock.now() - dt.timedelta(days=200),
            province="上海",
        )

    def test_imported_orders_are_completed_facts_and_reimport_skips_them(self) -> None:
        from freshloop.orders.services import orders_import_history

        person, milk = make_person(), make_sku(stock=5)
        records = [self._record(person, milk, "1", discount=500), self._record(person, milk, "2")]
        assert orders_import_history(records=records, actor=OPERATOR) == 2
        assert orders_import_history(records=records, actor=OPERATOR) == 0
        first = Order.objects.get(order_no="H_1")
        assert (first.status, first.total_fen, first.paid_fen) == (
            OrderStatus.COMPLETED,
            2300,
            2300,
        )
        assert first.lines.get().total_fen == 1500
        assert [e.to_status for e in first.timeline.all()][-1] == OrderStatus.COMPLETED
        assert reserved(milk.pk) == 0  # history moves no stock

    def test_discount_above_the_goods_refused_and_nothing_written(self) -> None:
        from freshloop.orders.services import orders_import_history

        person, milk = make_person(), make_sku(stock=5)
        with pytest.raises(InvalidInput):
            orders_import_history(
                records=[
                    self._record(person, milk, "1"),
                    self._record(person, milk, "2", discount=99_999),
                ],
                actor=OPERATOR,
            )
        assert not Order.objects.exists()


def _new_customer_coupon() -> Any:
    """A ¥1 coupon for buyers who have never paid for an order."""
    return coupon_template(
        code="newbie", threshold_fen=0, kind="fixed", amount_off_fen=100, new_customer_only=True
    )
