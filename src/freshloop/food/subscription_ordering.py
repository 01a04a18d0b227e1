"""The subscription job (FD-1): reminders, orders placed ahead of the delivery date, retries.

`subscriptions_run(today)` is what the periodic job calls (food.tasks); it is safe to run any
number of times a day and after a crash at any instant:

- **Reminder** on the local day before the order is placed (delivery − ORDER_LEAD_DAYS − 1),
  in-app, deduplicated per (subscription, delivery date): "明天为您下单…可跳过".
- **Ordering**: each due subscription is one transaction — lock the subscription, write the
  (subscription, delivery date) row (unique), place the order through
  `orders.services.order_create` with the idempotency key `sub-<id>-<yyyymmdd>-<attempt>`, move
  `next_delivery_date` on, queue the pay-now message. A crash rolls all of it back; the rerun
  does it once. Nothing is ordered twice: the delivery row is unique and the key is
  idempotent in orders.
- **Price**: orders' own pricing; the operator's subscription discount enters as a special
  price of kind "subscription" (so, as for every special price, no campaign also prices that
  SKU; member discount, coupons-if-stackable and shipping apply as at checkout).
- **Payment**: pay-now, or by contract (subscription_charging.py: the order's transaction
  writes the durable charge effect; a refused charge falls back to pay-now). A pay-now order
  waits SUBSCRIPTION_PAYMENT_WINDOW for payment (orders' `payment_window`); the customer gets
  an in-app message linking to /m/orders/<no>. An order
  that expires unpaid, or a checkout refused (out of stock…), is tried again on the next run
  with the next attempt's key, up to `FOOD_SUBSCRIPTION_CHARGE_ATTEMPTS`; then the subscription
  is paused and the customer told. An unpaid order is never allocated (orders' state machine:
  only a paid order moves to allocated), so nothing ships unpaid.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field

from django.conf import settings
from django.db import transaction

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.core.money import percent_off
from freshloop.food.locks import subscription_lock, subscriptions_lock
from freshloop.food.models import (
    Subscription,
    SubscriptionDelivery,
    SubscriptionDeliveryStatus,
    SubscriptionDiscount,
    SubscriptionStatus,
)
from freshloop.food.subscription_charging import (
    CONTRACT_PAYMENT_WINDOW,
    charges_by_contract,
    contract_charge_schedule,
)
from freshloop.food.subscriptions import (
    ORDER_LEAD_DAYS,
    subscription_cadence,
    subscription_reactivate,
)
from freshloop.messaging.services import (
    TransactionalSend,
    transactional_send,
    transactional_send_many,
)
from freshloop.orders.models import Order, OrderEvent, OrderStatus
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    OrderCreateResult,
    order_create,
    orders_create_many,
)
from freshloop.promotions.pricing import SpecialPrice, SpecialPriceKind

SUBSCRIPTION_PAYMENT_WINDOW = dt.timedelta(hours=12)
SUBSCRIPTION_LABEL = "订阅价"
EXPIRED_BY = "orders.expire"  # the actor label orders' expiry job cancels with
MESSAGE_CHANNEL = "in_app"
ACTOR = Actor.system("food.subscriptions")


def charge_attempts() -> int:
    return int(getattr(settings, "FOOD_SUBSCRIPTION_CHARGE_ATTEMPTS", 3))


@dataclass
class RunOutcome:
    reminded: int = 0
    placed: list[str] = field(default_factory=list)
    failed: int = 0
    gave_up: int = 0
    resumed: int = 0


BATCH_SIZE = 200
"""Subscriptions ordered in one transaction by the job: large enough that the shared reads and
the bulk writes outweigh the per-order work, small enough that a batch holds its stock levels'
locks only briefly and a crash loses little work (it is redone, once, by the next run)."""


def subscriptions_run(*, today: dt.date, limit: int = 100_000) -> RunOutcome:
    """One pass of the job for local day `today` (see the module docstring)."""
    outcome = RunOutcome()
    outcome.resumed = _resume_paused(today)
    outcome.reminded = reminders_send(today=today)
    due = list(
        Subscription.objects.filter(
            status=SubscriptionStatus.ACTIVE,
            next_delivery_date__lte=today + dt.timedelta(days=ORDER_LEAD_DAYS),
        )
        .order_by("pk")
        .values_list("pk", flat=True)[:limit]
    )
    tried_now: set[int] = set()
    for start in range(0, len(due), BATCH_SIZE):
        for delivery in subscriptions_order_batch(
            subscription_ids=due[start : start + BATCH_SIZE], today=today
        ):
            _count(outcome, delivery)
            tried_now.add(delivery.pk)
    # A retry waits for the next run: trying again a moment after a refusal changes nothing.
    for delivery_id in sorted(set(_retryable(today)) - tried_now):
        _count(outcome, subscription_order_retry(delivery_id=delivery_id, today=today))
    return outcome


def _count(outcome: RunOutcome, delivery: SubscriptionDelivery | None) -> None:
    if delivery is None:
        return
    if delivery.status == SubscriptionDeliveryStatus.PLACED:
        outcome.placed.append(delivery.order_no)
    elif delivery.status == SubscriptionDeliveryStatus.FAILED:
        outcome.failed += 1
    elif delivery.status == SubscriptionDeliveryStatus.GAVE_UP:
        outcome.gave_up += 1


def _resume_paused(today: dt.date) -> int:
    ids = Subscription.objects.filter(
        status=SubscriptionStatus.PAUSED, paused_until__lt=today
    ).values_list("pk", flat=True)
    resumed = 0
    for subscription_id in ids:
        with transaction.atomic():
            subscription = subscription_lock(subscription_id)
            if (
                subscription.status != SubscriptionStatus.PAUSED
                or subscription.paused_until is None
            ):
                continue
            subscription_reactivate(subscription, today=today)
            subscription.updated_at = clock.now()
            subscription.save()
            resumed += 1
    return resumed


def reminders_send(*, today: dt.date) -> int:
    """The notice the day before an order is placed, once per (subscription, date)."""
    delivery_day = today + dt.timedelta(days=ORDER_LEAD_DAYS + 1)
    due = Subscription.objects.filter(
        status=SubscriptionStatus.ACTIVE, next_delivery_date=delivery_day
    ).order_by("pk")
    sends = [
        TransactionalSend(
            person_id=subscription.person_id,
            payload={
                "title": "订阅配送提醒",
                "body": (
                    f"您订阅的{subscription.title}将于 {delivery_day.month} 月 {delivery_day.day} 日"
                    "配送，明天为您下单并提醒付款。不需要这一次？可在订阅页跳过。"
                ),
                "url": "/m/subscriptions",
            },
            purpose="food_subscription_reminder",
            source=f"subscription:{subscription.subscription_no}",
            dedupe_key=f"food.sub.remind:{subscription.pk}:{delivery_day.isoformat()}",
        )
        for subscription in due.only("pk", "person_id", "title", "subscription_no").iterator()
    ]
    for start in range(0, len(sends), 1000):
        transactional_send_many(channel=MESSAGE_CHANNEL, sends=sends[start : start + 1000])
    return len(sends)


def _special_prices(subscriptions: list[Subscription]) -> dict[int, dict[int, SpecialPrice]]:
    """Each subscription's subscription prices (by subscription id, then SKU id): the SKUs and
    the operators' discounts read once for all of them."""
    sku_ids = {int(line["sku_id"]) for sub in subscriptions for line in sub.items}
    skus = {
        sku.pk: sku
        for sku in Sku.objects.filter(pk__in=sku_ids).only("pk", "price_fen", "product_id")
    }
    percents = dict(
        SubscriptionDiscount.objects.filter(
            product_id__in={sku.product_id for sku in skus.values()}
        ).values_list("product_id", "percent_off")
    )
    prices: dict[int, dict[int, SpecialPrice]] = {}
    for subscription in subscriptions:
        mine = prices.setdefault(subscription.pk, {})
        for line in subscription.items:
            sku = skus.get(int(line["sku_id"]))
            percent = percents.get(sku.product_id, 0) if sku is not None else 0
            if sku is not None and percent:
                mine[sku.pk] = SpecialPrice(
                    unit_price_fen=sku.price_fen - percent_off(sku.price_fen, percent),
                    label=SUBSCRIPTION_LABEL,
                    ref=f"subscription:{subscription.subscription_no}",
                    kind=SpecialPriceKind.SUBSCRIPTION,
                )
    return prices


def _attempt_request(
    subscription: Subscription, delivery: SubscriptionDelivery, prices: dict[int, SpecialPrice]
) -> CheckoutRequest:
    """The checkout of the delivery's next attempt (its own idempotency key); counts it."""
    attempt = delivery.attempts + 1
    delivery.attempts = attempt
    delivery.updated_at = clock.now()
    return CheckoutRequest(
        person=subscription.person,
        channel="shop",
        source_ref=f"subscription:{subscription.subscription_no}",
        items=[
            CheckoutItem(sku_id=int(line["sku_id"]), quantity=int(line["quantity"]))
            for line in subscription.items
        ],
        address=dict(subscription.address),
        idempotency_key=f"sub-{subscription.pk}-{delivery.delivery_date:%Y%m%d}-{attempt}",
        special_prices=prices,
        payment_window=(
            CONTRACT_PAYMENT_WINDOW
            if charges_by_contract(subscription)
            else SUBSCRIPTION_PAYMENT_WINDOW
        ),
    )


def _attempt_outcome(
    subscription: Subscription,
    delivery: SubscriptionDelivery,
    outcome: OrderCreateResult | DomainError,
) -> TransactionalSend | None:
    """Record what the attempt's checkout answered; the pay-now message to send, if placed."""
    if isinstance(outcome, DomainError):
        delivery.last_error = outcome.text[:200]
        if delivery.attempts >= charge_attempts():
            _give_up(subscription, delivery)
        else:
            delivery.status = SubscriptionDeliveryStatus.FAILED
        return None
    order = outcome.order
    delivery.status = SubscriptionDeliveryStatus.PLACED
    delivery.order_no = order.order_no
    delivery.last_error = ""
    if charges_by_contract(subscription):
        return contract_charge_schedule(subscription, order)
    day = delivery.delivery_date
    return TransactionalSend(
        person_id=subscription.person_id,
        payload={
            "title": "订阅订单待付款",
            "body": (
                f"您订阅的{subscription.title}（{day.month} 月 {day.day} 日配送）已下单，"
                f"应付 ¥{order.total_fen / 100:.2f}，请在 12 小时内付款，付款后发货。"
            ),
            "url": f"/m/orders/{order.order_no}",
        },
        purpose="food_subscription_pay",
        source=f"subscription:{subscription.subscription_no}",
        dedupe_key=f"food.sub.pay:{order.order_no}",
    )


def _attempt(subscription: Subscription, delivery: SubscriptionDelivery) -> None:
    """Place one attempt's order for `delivery` (caller holds the subscription lock, saves)."""
    request = _attempt_request(
        subscription, delivery, _special_prices([subscription])[subscription.pk]
    )
    outcome: OrderCreateResult | DomainError
    try:
        with transaction.atomic():  # a refusal undoes the checkout, not our bookkeeping
            outcome = order_create(request=request)
    except DomainError as error:
        outcome = error
    message = _attempt_outcome(subscription, delivery, outcome)
    if message is not None:
        transactional_send_many(channel=MESSAGE_CHANNEL, sends=[message])


def _give_up(subscription: Subscription, delivery: SubscriptionDelivery) -> None:
    delivery.status = SubscriptionDeliveryStatus.GAVE_UP
    subscription.status = SubscriptionStatus.PAUSED
    subscription.paused_until = None
    subscription.pause_reason = f"{delivery.attempts} 次下单或付款未成功，已自动暂停"
    subscription.updated_at = clock.now()
    subscription.save()
    audit_record(
        actor=ACTOR,
        action="food.subscription.auto_pause",
        target=subscription,
        after={"delivery_date": delivery.delivery_date.isoformat(), "error": delivery.last_error},
    )
    transactional_send(
        person_id=subscription.person_id,
        channel=MESSAGE_CHANNEL,
        payload={
            "title": "订阅已暂停",
            "body": f"您订阅的{subscription.title}多次未能下单或付款，已为您暂停，可随时恢复。",
            "url": "/m/subscriptions",
        },
        purpose="food_subscription_paused",
        source=f"subscription:{subscription.subscription_no}",
        dedupe_key=f"food.sub.paused:{subscription.pk}:{delivery.delivery_date.isoformat()}",
    )


def subscription_order_place(
    *, subscription_id: int, today: dt.date
) -> SubscriptionDelivery | None:
    """Order the subscription's next delivery if it is due (one transaction, idempotent)."""
    with transaction.atomic():
        subscription = subscription_lock(subscription_id)
        if (
            subscription.status != SubscriptionStatus.ACTIVE
            or subscription.next_delivery_date > today + dt.timedelta(days=ORDER_LEAD_DAYS)
        ):
            return None
        cadence = subscription_cadence(subscription)
        day = subscription.next_delivery_date
        now = clock.now()
        delivery, created = SubscriptionDelivery.objects.get_or_create(
            subscription=subscription,
            delivery_date=day,
            defaults={
                "status": SubscriptionDeliveryStatus.FAILED,
                "created_at": now,
                "updated_at": now,
            },
        )
        if created and day <= today:
            # The job did not run in time for this date: too late to deliver, skipped.
            delivery.status = SubscriptionDeliveryStatus.SKIPPED
            delivery.last_error = "错过下单时间，已跳过"
        elif created:
            _attempt(subscription, delivery)
        delivery.save()
        subscription.next_delivery_date = cadence.after(day)
        subscription.updated_at = now
        subscription.save(update_fields=["next_delivery_date", "updated_at"])
        return delivery


def subscriptions_order_batch(
    *, subscription_ids: list[int], today: dt.date
) -> list[SubscriptionDelivery]:
    """`subscription_order_place` for a batch, in one transaction: the subscriptions locked in
    id order, the deliveries and the orders written together (`orders_create_many`), the
    pay-now messages in bulk. Returns the deliveries it created (a rerun creates none)."""
    with transaction.atomic():
        horizon = today + dt.timedelta(days=ORDER_LEAD_DAYS)
        due = [
            sub
            for sub in subscriptions_lock(subscription_ids)
            if sub.status == SubscriptionStatus.ACTIVE and sub.next_delivery_date <= horizon
        ]
        existing = set(
            SubscriptionDelivery.objects.filter(
                subscription__in=due, delivery_date__in={sub.next_delivery_date for sub in due}
            ).values_list("subscription_id", "delivery_date")
        )
        now = clock.now()
        created: list[SubscriptionDelivery] = []
        to_order: list[tuple[Subscription, SubscriptionDelivery]] = []
        for sub in due:
            day = sub.next_delivery_date
            if (sub.pk, day) not in existing:
                delivery = SubscriptionDelivery(
                    subscription=sub,
                    delivery_date=day,
                    status=SubscriptionDeliveryStatus.FAILED,
                    created_at=now,
                    updated_at=now,
                )
                if day <= today:
                    # The job did not run in time for this date: too late to deliver, skipped.
                    delivery.status = SubscriptionDeliveryStatus.SKIPPED
                    delivery.last_error = "错过下单时间，已跳过"
                else:
                    to_order.append((sub, delivery))
                created.append(delivery)
            sub.next_delivery_date = subscription_cadence(sub).after(day)
            sub.updated_at = now
        prices = _special_prices([sub for sub, _ in to_order])
        outcomes = orders_create_many(
            requests=[_attempt_request(sub, dlv, prices[sub.pk]) for sub, dlv in to_order]
        )
        messages = [
            message
            for (sub, delivery), outcome in zip(to_order, outcomes, strict=True)
            if (message := _attempt_outcome(sub, delivery, outcome)) is not None
        ]
        SubscriptionDelivery.objects.bulk_create(created, batch_size=1000)
        Subscription.objects.bulk_update(due, ["next_delivery_date", "updated_at"], batch_size=500)
        transactional_send_many(channel=MESSAGE_CHANNEL, sends=messages)
        return created


def _retryable(today: dt.date) -> list[int]:
    """Deliveries still worth another attempt: a refused checkout, or an order its buyer let
    expire unpaid (not one they cancelled themselves), while the delivery date is ahead."""
    failed = list(
        SubscriptionDelivery.objects.filter(
            status=SubscriptionDeliveryStatus.FAILED, delivery_date__gt=today
        ).values_list("pk", flat=True)
    )
    placed = dict(
        SubscriptionDelivery.objects.filter(
            status=SubscriptionDeliveryStatus.PLACED, delivery_date__gte=today
        ).values_list("order_no", "pk")
    )
    expired = set(
        OrderEvent.objects.filter(
            order__order_no__in=list(placed),
            order__status=OrderStatus.CANCELLED,
            to_status=OrderStatus.CANCELLED,
            actor=EXPIRED_BY,
        ).values_list("order__order_no", flat=True)
    )
    return sorted(failed + [placed[order_no] for order_no in expired])


def subscription_order_retry(*, delivery_id: int, today: dt.date) -> SubscriptionDelivery | None:
    with transaction.atomic():
        subscription_id = (
            SubscriptionDelivery.objects.filter(pk=delivery_id)
            .values_list("subscription_id", flat=True)
            .first()
        )
        if subscription_id is None:
            return None
        subscription = subscription_lock(subscription_id)
        delivery = SubscriptionDelivery.objects.get(pk=delivery_id)
        if subscription.status != SubscriptionStatus.ACTIVE or delivery.status not in (
            SubscriptionDeliveryStatus.FAILED,
            SubscriptionDeliveryStatus.PLACED,
        ):
            return None
        if (
            delivery.status == SubscriptionDeliveryStatus.PLACED
            and not Order.objects.filter(
                order_no=delivery.order_no, status=OrderStatus.CANCELLED
            ).exists()
        ):
            return None
        if delivery.attempts >= charge_attempts():
            _give_up(subscription, delivery)
        else:
            _attempt(subscription, delivery)
        delivery.save()
        return delivery
