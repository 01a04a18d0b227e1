"""Smart subscriptions (FD-1): a household's standing order of a SKU or a small basket.

What a customer does with a subscription — create, skip the next delivery, pause until a date,
change the cadence, cancel — is here, each one transaction with an audit row. The ordering job
(subscription_ordering.py) turns due subscriptions into orders through orders' checkout.

Invariants
- A subscription's `next_delivery_date` is the first delivery not yet ordered or skipped; the
  job moves it forward in the same transaction that records the date's delivery row.
- Only the owner sees or changes a subscription (other people's answer "not found").
- Pausing or cancelling never touches an order already placed: that order is paid or expires
  on its own (orders cancel unpaid orders at their deadline).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from django.db import transaction

from freshloop.catalog.models import Sku
from freshloop.catalog.selectors import sku_get_sellable
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.ids import new_id
from freshloop.food.cadence import (
    Cadence,
    CadenceInvalid,
    CadenceSuggestion,
    Purchase,
    cadence_suggest,
)
from freshloop.food.errors import (
    SubscriptionInvalid,
    SubscriptionLimitExceeded,
    SubscriptionNotFound,
    SubscriptionStateInvalid,
)
from freshloop.food.locks import subscription_lock
from freshloop.food.models import (
    Subscription,
    SubscriptionDelivery,
    SubscriptionDeliveryStatus,
    SubscriptionDiscount,
    SubscriptionPayment,
    SubscriptionStatus,
)
from freshloop.food.subscription_charging import payment_contract_resolve
from freshloop.identity.models import Person
from freshloop.orders.models import BOUGHT_STATUSES, OrderLine
from freshloop.orders.selectors import address_get_for_person

MAX_SUBSCRIPTIONS = 20
MAX_BASKET_LINES = 5
MAX_QUANTITY = 20
MAX_PAUSE_DAYS = 180
MAX_DISCOUNT_PERCENT = 50
ORDER_LEAD_DAYS = 2
"""Orders are placed this many (Asia/Shanghai) days before the delivery date."""
ADDRESS_KEYS = ("name", "phone", "province", "city", "district", "detail")


def local_today() -> dt.date:
    """Today in Asia/Shanghai: delivery dates are the customer's calendar dates."""
    return clock.to_shanghai(clock.now()).date()


def _invalid(field: str, message: str) -> SubscriptionInvalid:
    return SubscriptionInvalid(message, detail={"fields": [{"field": field, "message": message}]})


def _cadence(kind: str, value: int) -> Cadence:
    try:
        return Cadence.parse(kind, value)
    except CadenceInvalid as exc:
        raise _invalid("cadence", str(exc)) from None


def subscription_cadence(subscription: Subscription) -> Cadence:
    return Cadence.parse(subscription.cadence_kind, subscription.cadence_value)


@dataclass(frozen=True)
class SubscriptionLineIn:
    sku_id: int
    quantity: int


def _clean_items(items: Sequence[SubscriptionLineIn]) -> tuple[list[dict[str, int]], list[Sku]]:
    if not items:
        raise _invalid("items", "请选择要订阅的商品")
    if len(items) > MAX_BASKET_LINES:
        raise _invalid("items", f"一个订阅最多 {MAX_BASKET_LINES} 种商品")
    merged: dict[int, int] = {}
    for item in items:
        quantity = item.quantity
        if isinstance(quantity, bool) or not isinstance(quantity, int):
            raise _invalid("items.quantity", "数量应为整数")
        merged[item.sku_id] = merged.get(item.sku_id, 0) + quantity
    skus = []
    for sku_id, quantity in merged.items():
        if not 1 <= quantity <= MAX_QUANTITY:
            raise _invalid("items.quantity", f"每种商品每次 1 到 {MAX_QUANTITY} 件")
        skus.append(sku_get_sellable(sku_id=sku_id, channel="shop"))
    return [{"sku_id": s, "quantity": q} for s, q in merged.items()], skus


def _clean_address(
    person: Person, address: dict[str, Any] | None, address_id: int | None
) -> dict[str, str]:
    if address_id is not None:
        return dict(address_get_for_person(person=person, address_id=address_id).as_order_address())
    if not isinstance(address, dict):
        raise _invalid("address", "请填写收货地址")
    cleaned = {key: str(address.get(key, "")).strip()[:120] for key in ADDRESS_KEYS}
    for key, title in (
        ("name", "收货人"),
        ("phone", "手机号"),
        ("province", "省份"),
        ("city", "城市"),
        ("detail", "详细地址"),
    ):
        if not cleaned[key]:
            raise _invalid(f"address.{key}", f"请填写{title}")
    return cleaned


def _first_date(cadence: Cadence, start: dt.date | None) -> dt.date:
    earliest = local_today() + dt.timedelta(days=ORDER_LEAD_DAYS)
    if start is not None and start > earliest + dt.timedelta(days=MAX_PAUSE_DAYS):
        raise _invalid("first_delivery_date", "首次配送日期太远")
    return cadence.first_on_or_after(max(earliest, start or earliest))


def subscription_create(
    *,
    person: Person,
    items: Sequence[SubscriptionLineIn],
    cadence_kind: str,
    cadence_value: int,
    address: dict[str, Any] | None = None,
    address_id: int | None = None,
    first_delivery_date: dt.date | None = None,
    payment_method: str = SubscriptionPayment.PAY_NOW,
    contract_no: str | None = None,
) -> Subscription:
    """Subscribe `person` to a basket on a cadence; the first delivery is the first cadence
    date at least ORDER_LEAD_DAYS away (or on/after `first_delivery_date`). Paid by
    `payment_method`: pay-now, or under the customer's active payment contract."""
    cadence = _cadence(cadence_kind, cadence_value)
    contract = payment_contract_resolve(person, payment_method, contract_no)
    lines, skus = _clean_items(items)
    cleaned_address = _clean_address(person, address, address_id)
    first = _first_date(cadence, first_delivery_date)
    title = _title(skus)
    now = clock.now()
    with transaction.atomic():
        live = Subscription.objects.filter(person=person).exclude(
            status=SubscriptionStatus.CANCELLED
        )
        if live.count() >= MAX_SUBSCRIPTIONS:
            raise SubscriptionLimitExceeded(detail={"max": MAX_SUBSCRIPTIONS})
        subscription = Subscription.objects.create(
            subscription_no=new_id("SUB"),
            person=person,
            items=lines,
            title=title[:120],
            address=cleaned_address,  # type: ignore[misc]  # EncryptedJSONField stores a dict
            cadence_kind=cadence.kind,
            cadence_value=cadence.value,
            next_delivery_date=first,
            payment_method=payment_method,
            payment_contract=contract,
            created_at=now,
            updated_at=now,
        )
        audit_record(
            actor=Actor.consumer(person.one_id),
            action="food.subscription.create",
            target=subscription,
            after={"items": lines, "cadence": cadence.label, "first": first.isoformat()},
        )
    return subscription


def _owned(person: Person, subscription_no: str) -> Subscription:
    subscription = Subscription.objects.filter(
        subscription_no=subscription_no, person=person
    ).first()
    if subscription is None:
        raise SubscriptionNotFound(detail={"subscription_no": subscription_no})
    return subscription_lock(subscription.pk)


def _save(
    subscription: Subscription, person: Person, action: str, before: dict[str, Any]
) -> Subscription:
    subscription.updated_at = clock.now()
    subscription.save()
    audit_record(
        actor=Actor.consumer(person.one_id),
        action=f"food.subscription.{action}",
        target=subscription,
        before=before,
        after=_state(subscription),
    )
    return subscription


def _state(subscription: Subscription) -> dict[str, Any]:
    return {
        "status": subscription.status,
        "next": subscription.next_delivery_date.isoformat(),
        "cadence": f"{subscription.cadence_kind}:{subscription.cadence_value}",
        "paused_until": subscription.paused_until.isoformat()
        if subscription.paused_until
        else None,
    }


@transaction.atomic
def subscription_skip_next(*, person: Person, subscription_no: str) -> Subscription:
    """Skip the next delivery not ordered yet (one already ordered is the order's to cancel)."""
    subscription = _owned(person, subscription_no)
    if subscription.status != SubscriptionStatus.ACTIVE:
        raise SubscriptionStateInvalid("只有配送中的订阅可以跳过下一次")
    before = _state(subscription)
    skipped = subscription.next_delivery_date
    now = clock.now()
    # update_or_create: a cadence change may land the next date on one skipped before.
    SubscriptionDelivery.objects.update_or_create(
        subscription=subscription,
        delivery_date=skipped,
        defaults={
            "status": SubscriptionDeliveryStatus.SKIPPED,
            "last_error": "顾客跳过",
            "updated_at": now,
        },
        create_defaults={
            "status": SubscriptionDeliveryStatus.SKIPPED,
            "last_error": "顾客跳过",
            "created_at": now,
            "updated_at": now,
        },
    )
    subscription.next_delivery_date = subscription_cadence(subscription).after(skipped)
    return _save(subscription, person, "skip", before)


@transaction.atomic
def subscription_pause(*, person: Person, subscription_no: str, until: dt.date) -> Subscription:
    """Pause deliveries until `until` (inclusive): the first delivery afterwards is the first
    cadence date after it; the job resumes the subscription by itself."""
    today = local_today()
    if not isinstance(until, dt.date) or until <= today:
        raise _invalid("until", "暂停截止日期需晚于今天")
    if until > today + dt.timedelta(days=MAX_PAUSE_DAYS):
        raise _invalid("until", f"最长暂停 {MAX_PAUSE_DAYS} 天")
    subscription = _owned(person, subscription_no)
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise SubscriptionStateInvalid("订阅已取消")
    before = _state(subscription)
    subscription.status = SubscriptionStatus.PAUSED
    subscription.paused_until = until
    subscription.pause_reason = "顾客暂停"
    cadence = subscription_cadence(subscription)
    following = subscription.next_delivery_date
    while following <= until:  # stepping keeps an every-N-days rhythm
        following = cadence.after(following)
    subscription.next_delivery_date = following
    return _save(subscription, person, "pause", before)


@transaction.atomic
def subscription_resume(*, person: Person, subscription_no: str) -> Subscription:
    subscription = _owned(person, subscription_no)
    if subscription.status != SubscriptionStatus.PAUSED:
        raise SubscriptionStateInvalid("只有已暂停的订阅可以恢复")
    before = _state(subscription)
    subscription_reactivate(subscription, today=local_today())
    return _save(subscription, person, "resume", before)


def subscription_reactivate(subscription: Subscription, *, today: dt.date) -> None:
    """Active again, next delivery the first cadence date at least the lead time away (the
    caller holds the lock and saves)."""
    subscription.status = SubscriptionStatus.ACTIVE
    subscription.paused_until = None
    subscription.pause_reason = ""
    earliest = today + dt.timedelta(days=ORDER_LEAD_DAYS)
    subscription.next_delivery_date = subscription_cadence(subscription).first_on_or_after(
        max(subscription.next_delivery_date, earliest)
    )


@transaction.atomic
def subscription_cadence_change(
    *, person: Person, subscription_no: str, cadence_kind: str, cadence_value: int
) -> Subscription:
    cadence = _cadence(cadence_kind, cadence_value)
    subscription = _owned(person, subscription_no)
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise SubscriptionStateInvalid("订阅已取消")
    before = _state(subscription)
    subscription.cadence_kind = cadence.kind
    subscription.cadence_value = cadence.value
    earliest = local_today() + dt.timedelta(days=ORDER_LEAD_DAYS)
    subscription.next_delivery_date = cadence.first_on_or_after(
        max(earliest, subscription.next_delivery_date)
    )
    return _save(subscription, person, "cadence", before)


@transaction.atomic
def subscription_change(
    *,
    person: Person,
    subscription_no: str,
    items: Sequence[SubscriptionLineIn] | None = None,
    address: dict[str, Any] | None = None,
    address_id: int | None = None,
) -> Subscription:
    """Change the basket and/or the delivery address of a live subscription, checked as at
    creation. It applies from the next delivery not ordered yet: an order already placed keeps
    its own basket and address (it can be cancelled and paid or not as any order)."""
    subscription = _owned(person, subscription_no)
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise SubscriptionStateInvalid("订阅已取消")
    if items is None and address is None and address_id is None:
        raise _invalid("items", "请选择要修改的商品或收货地址")
    before = {**_state(subscription), "items": subscription.items, "title": subscription.title}
    if items is not None:
        lines, skus = _clean_items(items)
        subscription.items = lines
        subscription.title = _title(skus)[:120]
    if address is not None or address_id is not None:
        subscription.address = _clean_address(person, address, address_id)
    subscription.updated_at = clock.now()
    subscription.save()
    audit_record(
        actor=Actor.consumer(person.one_id),
        action="food.subscription.change",
        target=subscription,
        before=before,
        # the address itself is personal data: the audit says it changed, not what it is
        after={
            **_state(subscription),
            "items": subscription.items,
            "title": subscription.title,
            "address_changed": address is not None or address_id is not None,
        },
    )
    return subscription


@transaction.atomic
def subscription_payment_change(
    *, person: Person, subscription_no: str, payment_method: str, contract_no: str | None = None
) -> Subscription:
    """Pay the subscription's next orders by contract (自动扣款) or from the pay-now message.
    An order already placed keeps the way it was being paid."""
    subscription = _owned(person, subscription_no)
    if subscription.status == SubscriptionStatus.CANCELLED:
        raise SubscriptionStateInvalid("订阅已取消")
    before = {**_state(subscription), "payment_method": subscription.payment_method}
    contract = payment_contract_resolve(person, payment_method, contract_no)
    subscription.payment_method = payment_method
    subscription.payment_contract = contract
    subscription.updated_at = clock.now()
    subscription.save(update_fields=["payment_method", "payment_contract", "updated_at"])
    audit_record(
        actor=Actor.consumer(person.one_id),
        action="food.subscription.payment_change",
        target=subscription,
        before=before,
        after={
            **_state(subscription),
            "payment_method": payment_method,
            "contract_no": contract.contract_no if contract else None,
        },
    )
    return subscription


def _title(skus: Sequence[Sku]) -> str:
    """鲜牛奶 950ml, or 鲜牛奶 等 3 种 for a basket."""
    return skus[0].product.name + (f" 等 {len(skus)} 种" if len(skus) > 1 else f" {skus[0].spec}")


@transaction.atomic
def subscription_cancel(*, person: Person, subscription_no: str) -> Subscription:
    subscription = _owned(person, subscription_no)
    if subscription.status == SubscriptionStatus.CANCELLED:
        return subscription
    before = _state(subscription)
    subscription.status = SubscriptionStatus.CANCELLED
    return _save(subscription, person, "cancel", before)


@transaction.atomic
def subscription_discount_set(
    *, product_id: int, percent_off: int, actor: Actor
) -> SubscriptionDiscount | None:
    """Operators: the subscription price of a product as percent off (0 removes it)."""
    if (
        isinstance(percent_off, bool)
        or not isinstance(percent_off, int)
        or not 0 <= percent_off <= MAX_DISCOUNT_PERCENT
    ):
        raise _invalid("percent_off", f"订阅折扣需在 0 到 {MAX_DISCOUNT_PERCENT}% 之间")
    before = SubscriptionDiscount.objects.filter(product_id=product_id).first()
    audit_target: Any
    if percent_off == 0:
        SubscriptionDiscount.objects.filter(product_id=product_id).delete()
        discount = None
        audit_target = before
    else:
        discount, _ = SubscriptionDiscount.objects.update_or_create(
            product_id=product_id, defaults={"percent_off": percent_off, "updated_at": clock.now()}
        )
        audit_target = discount
    if audit_target is not None:
        audit_record(
            actor=actor,
            action="food.subscription.discount",
            target=audit_target,
            before={"percent_off": before.percent_off if before else 0},
            after={"percent_off": percent_off},
        )
    return discount


# --- reads --------------------------------------------------------------------------------------


def subscription_list_for_person(*, person: Person) -> list[Subscription]:
    return list(
        Subscription.objects.filter(person=person)
        .select_related("payment_contract")
        .order_by("status", "next_delivery_date")
    )


def subscription_get_for_person(*, person: Person, subscription_no: str) -> Subscription:
    subscription = (
        Subscription.objects.filter(subscription_no=subscription_no, person=person)
        .select_related("payment_contract")
        .first()
    )
    if subscription is None:
        raise SubscriptionNotFound(detail={"subscription_no": subscription_no})
    return subscription


def subscription_discount_percent(*, sku_id: int) -> int:
    """The operators' subscription discount (percent off) on this SKU's product, 0 if none."""
    found = (
        SubscriptionDiscount.objects.filter(product__skus__pk=sku_id)
        .values_list("percent_off", flat=True)
        .first()
    )
    return int(found or 0)


def purchase_history(*, person: Person, product_id: int) -> list[Purchase]:
    """What the household bought of the product (any SKU, paid and kept), by local day."""
    lines = (
        OrderLine.objects.filter(
            order__person=person, sku__product_id=product_id, order__status__in=BOUGHT_STATUSES
        )
        .values_list("order__created_at", "spec", "quantity")
        .order_by("order__created_at")
    )
    return [
        Purchase(day=clock.to_shanghai(created).date(), spec=spec, quantity=quantity)
        for created, spec, quantity in lines
    ]


def cadence_suggestion_for(*, person: Person, sku_id: int) -> CadenceSuggestion | None:
    """The cadence the household's own purchases of this SKU's product suggest."""
    sku = sku_get_sellable(sku_id=sku_id, channel="shop")
    word = "箱" if "×" in sku.spec or "x" in sku.spec.lower() else "份"
    return cadence_suggest(
        purchases=purchase_history(person=person, product_id=sku.product_id),
        pack_spec=sku.spec,
        pack_word=word,
    )
