"""Cart, checkout and the order life cycle (SPEC BM-3, BM-7) — one set of services for every
channel: the live room, the H5 shop, group buying and partner apps all call these.

Checkout is one transaction: price (promotions), reserve stock (inventory), lock coupons
(promotions), spend points (membership), write the order. Any refusal rolls all of it back.
Side effects — events, and through them points, payments and analytics — happen after commit.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F

from freshloop.catalog.models import SalesChannel, Sku
from freshloop.catalog.selectors import sku_get_sellable
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.db import retry_transient
from freshloop.core.errors import InvalidInput
from freshloop.core.events import publish
from freshloop.core.ids import new_id
from freshloop.core.money import allocate
from freshloop.identity.models import Person
from freshloop.inventory.services import (
    ReservationRequest,
    reservation_reduce,
    reservations_confirm,
    reservations_release,
    reservations_ship,
    stock_reserve,
)
from freshloop.membership import services as membership
from freshloop.orders import events
from freshloop.orders.errors import (
    AddressInvalid,
    CartEmpty,
    CartLimitExceeded,
    IdempotencyKeyReused,
    OrderNotFound,
    OrderStateInvalid,
    PaymentAmountMismatch,
    RefundInvalid,
    RefundNotFound,
)
from freshloop.orders.models import (
    Cart,
    CartItem,
    Order,
    OrderEvent,
    OrderLine,
    OrderStatus,
    RefundRequest,
    RefundStatus,
)
from freshloop.orders.pricing import (
    CheckoutQuote,
    checkout_coupon_choices,
    checkout_quote,
)
from freshloop.orders.state import NOT_YET_SHIPPED, REFUNDABLE, effective_status, ensure_transition
from freshloop.promotions import services as promotions
from freshloop.promotions.pricing import SpecialPrice  # re-exported: live grants flash prices
from freshloop.promotions.selectors import CouponUsability

PAYMENT_WINDOW = dt.timedelta(minutes=15)
MAX_LINES = 50
MAX_QUANTITY_PER_LINE = 99
ADDRESS_FIELDS = ("name", "phone", "province", "city", "district", "detail")


# --- cart -------------------------------------------------------------------------------------


def _cart_for(person: Person) -> Cart:
    cart, _ = Cart.objects.get_or_create(person=person, defaults={"updated_at": clock.now()})
    return cart


def _check_line_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput("数量必须是整数", detail={"quantity": quantity})
    if not 1 <= quantity <= MAX_QUANTITY_PER_LINE:
        raise InvalidInput(
            f"每件商品数量需在 1 到 {MAX_QUANTITY_PER_LINE} 之间", detail={"quantity": quantity}
        )


@transaction.atomic
def cart_item_set(*, person: Person, sku_id: int, quantity: int, channel: str = "shop") -> Cart:
    """Put `quantity` of a SKU in the cart (0 removes it). Setting, not adding, makes retries safe."""
    if quantity == 0:
        CartItem.objects.filter(cart__person=person, sku_id=sku_id).delete()
        return _cart_for(person)
    _check_line_quantity(quantity)
    sku = sku_get_sellable(sku_id=sku_id, channel=channel)
    cart = _cart_for(person)
    now = clock.now()
    updated = CartItem.objects.filter(cart=cart, sku=sku).update(quantity=quantity)
    if not updated:
        if cart.items.count() >= MAX_LINES:
            raise CartLimitExceeded(detail={"max_lines": MAX_LINES})
        CartItem.objects.create(cart=cart, sku=sku, quantity=quantity, added_at=now)
    Cart.objects.filter(pk=cart.pk).update(updated_at=now)
    return cart


def cart_item_add(*, person: Person, sku_id: int, quantity: int = 1, channel: str = "shop") -> Cart:
    _check_line_quantity(quantity)
    existing = CartItem.objects.filter(cart__person=person, sku_id=sku_id).first()
    total = quantity + (existing.quantity if existing else 0)
    return cart_item_set(
        person=person, sku_id=sku_id, quantity=min(total, MAX_QUANTITY_PER_LINE), channel=channel
    )


def cart_clear(*, person: Person) -> None:
    CartItem.objects.filter(cart__person=person).delete()


# --- checkout ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class CheckoutItem:
    sku_id: int
    quantity: int


@dataclass(frozen=True)
class CheckoutRequest:
    """What a buyer asks for. `items` None means "everything in my cart".

    `special_prices` (sku_id → SpecialPrice) is internal: set only by a module that has
    verified the buyer's right to that price (a live flash-sale claim), never from API input.
    """

    person: Person
    channel: str = SalesChannel.SHOP
    source_ref: str = ""
    items: Sequence[CheckoutItem] | None = None
    coupon_ids: Sequence[int] = ()
    points: int = 0
    address: dict[str, str] = field(default_factory=dict)
    idempotency_key: str = ""
    special_prices: Mapping[int, SpecialPrice] = field(default_factory=dict)


def _resolve_items(request: CheckoutRequest) -> list[tuple[Sku, int]]:
    if request.channel not in SalesChannel.values:
        raise InvalidInput("渠道不正确", detail={"channel": request.channel})
    if request.items is None:
        raw = [
            CheckoutItem(sku_id=item.sku_id, quantity=item.quantity)
            for item in CartItem.objects.filter(cart__person=request.person)
        ]
    else:
        raw = list(request.items)
    if not raw:
        raise CartEmpty()
    if len(raw) > MAX_LINES:
        raise CartLimitExceeded(detail={"max_lines": MAX_LINES})
    merged: dict[int, int] = {}
    for item in raw:
        _check_line_quantity(item.quantity)
        merged[item.sku_id] = merged.get(item.sku_id, 0) + item.quantity
    resolved = []
    for sku_id, quantity in merged.items():
        _check_line_quantity(quantity)
        resolved.append((sku_get_sellable(sku_id=sku_id, channel=request.channel), quantity))
    for sku_id, special in request.special_prices.items():
        if sku_id not in merged:
            raise InvalidInput("特价商品不在订单中", detail={"sku_id": sku_id})
        if merged[sku_id] > special.max_quantity:
            raise InvalidInput(
                f"该特价商品最多可买 {special.max_quantity} 件",
                detail={"sku_id": sku_id, "max_quantity": special.max_quantity},
            )
    return resolved


def checkout_preview(*, request: CheckoutRequest) -> CheckoutQuote:
    """The price the buyer would pay, explained line by line, without reserving anything."""
    return checkout_quote(
        person=request.person,
        items=_resolve_items(request),
        channel=request.channel,
        source_ref=request.source_ref,
        coupon_ids=list(request.coupon_ids),
        points=request.points,
        now=clock.now(),
        special_prices=request.special_prices,
    )


def checkout_coupons(*, request: CheckoutRequest) -> list[CouponUsability]:
    return checkout_coupon_choices(
        person=request.person,
        items=_resolve_items(request),
        channel=request.channel,
        source_ref=request.source_ref,
        now=clock.now(),
        special_prices=request.special_prices,
    )


def _clean_address(address: dict[str, Any]) -> dict[str, str]:
    if not isinstance(address, dict):
        raise AddressInvalid()
    cleaned = {key: str(address.get(key, "")).strip()[:120] for key in ADDRESS_FIELDS}
    missing = [key for key in ("name", "phone", "province", "city", "detail") if not cleaned[key]]
    if missing:
        raise AddressInvalid(detail={"missing": missing})
    return cleaned


def _request_fingerprint(items: list[tuple[Sku, int]], request: CheckoutRequest) -> str:
    body = {
        "items": sorted((sku.pk, quantity) for sku, quantity in items),
        "coupons": sorted(request.coupon_ids),
        "points": request.points,
        "channel": request.channel,
        "source": request.source_ref,
    }
    if request.special_prices:
        # The price, not the grant's ref: a retry under a new claim is still the same order.
        body["special"] = sorted(
            (sku_id, special.unit_price_fen) for sku_id, special in request.special_prices.items()
        )
    return hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:32]


def _existing_for_key(request: CheckoutRequest, fingerprint: str) -> Order | None:
    if not request.idempotency_key:
        return None
    order = Order.objects.filter(
        person=request.person, idempotency_key=request.idempotency_key
    ).first()
    if order is not None and order.request_fingerprint != fingerprint:
        raise IdempotencyKeyReused(detail={"order_no": order.order_no})
    return order


def _timeline(order: Order, to_status: str, *, note: str = "", actor: str = "") -> None:
    OrderEvent.objects.create(
        order=order,
        from_status=order.status if order.status != to_status else "",
        to_status=to_status,
        note=note[:200],
        actor=actor[:64],
        created_at=clock.now(),
    )


def _event_base(order: Order) -> dict[str, Any]:
    return {
        "order_id": order.pk,
        "order_no": order.order_no,
        "person_id": order.person_id,
        "channel": order.channel,
        "source_ref": order.source_ref,
    }


def order_create(*, request: CheckoutRequest) -> Order:
    """Price, reserve, lock coupons, spend points and write the order — all or nothing.

    With an idempotency key, a retried request (same key, same content) returns the first
    order instead of a second one, even when both arrive at the same moment.
    """
    if len(request.idempotency_key) > 64:
        raise InvalidInput("幂等键过长", detail={"max_length": 64})
    items = _resolve_items(request)
    fingerprint = _request_fingerprint(items, request)
    existing = _existing_for_key(request, fingerprint)
    if existing is not None:
        return existing
    address = _clean_address(request.address)
    try:
        return retry_transient(lambda: _order_create_atomic(request, items, address, fingerprint))
    except IntegrityError:
        # The same key won a race a moment ago: answer with its order.
        existing = _existing_for_key(request, fingerprint)
        if existing is None:
            raise
        return existing


@transaction.atomic
def _order_create_atomic(
    request: CheckoutRequest,
    items: list[tuple[Sku, int]],
    address: dict[str, str],
    fingerprint: str,
) -> Order:
    now = clock.now()
    quote = checkout_quote(
        person=request.person,
        items=items,
        channel=request.channel,
        source_ref=request.source_ref,
        coupon_ids=list(request.coupon_ids),
        points=request.points,
        now=now,
        special_prices=request.special_prices,
    )
    quote.raise_for_rejections()
    order = Order.objects.create(
        order_no=new_id("O"),
        person=request.person,
        channel=request.channel,
        source_ref=request.source_ref[:64],
        idempotency_key=request.idempotency_key,
        request_fingerprint=fingerprint,
        subtotal_fen=quote.subtotal_fen,
        discount_fen=quote.discount_fen,
        shipping_fen=quote.shipping_fen,
        total_fen=quote.total_fen,
        points_used=quote.points_used,
        coupon_ids=quote.applied_coupon_ids,
        price_explanation=quote.explanation(),
        address=address,  # type: ignore[misc]  # EncryptedJSONField stores a dict
        province=address["province"],
        created_at=now,
        expires_at=now + PAYMENT_WINDOW,
        updated_at=now,
    )
    OrderLine.objects.bulk_create(
        OrderLine(
            order=order,
            sku=line.sku,
            product_name=line.sku.product.name,
            spec=line.sku.spec,
            unit_price_fen=line.unit_price_fen,
            quantity=line.quantity,
            discount_fen=line.discount_fen,
            total_fen=line.total_fen,
        )
        for line in quote.lines
    )
    stock_reserve(
        order_ref=order.order_no,
        requests=[ReservationRequest(sku=sku, quantity=quantity) for sku, quantity in items],
        expires_at=order.expires_at,
        province=address["province"],
    )
    if quote.applied_coupon_ids:
        promotions.coupons_lock(
            person_id=request.person.pk,
            coupon_ids=quote.applied_coupon_ids,
            order_ref=order.order_no,
            discount_by_coupon=quote.discount_by_coupon,
        )
    if quote.campaign_charges:
        promotions.campaign_budget_charge(
            order_ref=order.order_no, discount_by_campaign=quote.campaign_charges
        )
    if quote.points_used:
        membership.points_spend(
            person_id=request.person.pk, points=quote.points_used, order_ref=order.order_no
        )
    _timeline(order, OrderStatus.PENDING_PAYMENT, note="下单成功，等待支付", actor="顾客")
    if request.items is None:
        CartItem.objects.filter(
            cart__person=request.person, sku_id__in=[sku.pk for sku, _ in items]
        ).delete()
    publish(events.OrderCreated(**_event_base(order), total_fen=order.total_fen))
    return order


# --- payment and cancellation -----------------------------------------------------------------


def _locked(order_no: str) -> Order:
    order = Order.objects.select_for_update().filter(order_no=order_no).first()
    if order is None:
        raise OrderNotFound(detail={"order_no": order_no})
    return order


def _set_status(order: Order, to_status: str, *, note: str, actor: str, **fields: Any) -> None:
    ensure_transition(order, to_status)
    _timeline(order, to_status, note=note, actor=actor)
    order.status = to_status
    for name, value in fields.items():
        setattr(order, name, value)
    order.updated_at = clock.now()
    order.save(update_fields=["status", "updated_at", *fields])


@transaction.atomic
def order_payment_succeeded(
    *, order_no: str, amount_fen: int, provider: str, transaction_id: str, paid_at: dt.datetime
) -> Order:
    """The payment provider confirmed the money arrived (called by the payments module).

    Idempotent for the same transaction id. A different amount, a second transaction for a
    paid order, or money for a cancelled order is refused; the payments module alerts and
    refunds those.
    """
    order = _locked(order_no)
    if order.status != OrderStatus.PENDING_PAYMENT and order.transaction_id == transaction_id:
        return order
    if amount_fen != order.total_fen:
        raise PaymentAmountMismatch(
            detail={"order_no": order_no, "expected": order.total_fen, "received": amount_fen}
        )
    if order.status != OrderStatus.PENDING_PAYMENT:
        raise OrderStateInvalid(
            "订单已取消或已由另一笔支付完成", detail={"order_no": order_no, "status": order.status}
        )
    _set_status(
        order,
        OrderStatus.PAID,
        note=f"支付成功（{provider}）",
        actor=provider,
        paid_fen=amount_fen,
        paid_at=paid_at,
        payment_provider=provider,
        transaction_id=transaction_id,
        expires_at=None,
    )
    reservations_confirm(order_ref=order_no)
    promotions.coupons_redeem(order_ref=order_no)
    membership.points_earn_for_order(
        person_id=order.person_id, order_ref=order_no, paid_amount_fen=amount_fen
    )
    audit_record(
        actor=Actor.system(f"payments.{provider}"),
        action="orders.paid",
        target=order,
        after={"amount_fen": amount_fen, "transaction_id": transaction_id},
    )
    publish(
        events.OrderPaid(
            **_event_base(order),
            paid_fen=amount_fen,
            provider=provider,
            transaction_id=transaction_id,
        )
    )
    return order


@transaction.atomic
def order_cancel(*, order_no: str, reason: str, actor: Actor) -> Order:
    """Cancel an unpaid order: stock, coupons and points go back to where they were."""
    order = _locked(order_no)
    if order.status == OrderStatus.CANCELLED:
        return order
    _set_status(order, OrderStatus.CANCELLED, note=reason, actor=actor.label, expires_at=None)
    reservations_release(order_ref=order_no, note=reason)
    promotions.coupons_release(order_ref=order_no)
    promotions.campaign_budget_release(order_ref=order_no)
    membership.points_spend_return(person_id=order.person_id, order_ref=order_no)
    audit_record(actor=actor, action="orders.cancel", target=order, after={"reason": reason})
    publish(events.OrderCancelled(**_event_base(order), reason=reason))
    return order


def orders_expire_unpaid(*, now: dt.datetime | None = None, limit: int = 500) -> list[str]:
    """Cancel orders whose payment deadline passed (the periodic job calls this)."""
    moment = now or clock.now()
    due = list(
        Order.objects.filter(status=OrderStatus.PENDING_PAYMENT, expires_at__lt=moment)
        .order_by("expires_at")
        .values_list("order_no", flat=True)[:limit]
    )
    cancelled = []
    for order_no in due:
        try:
            order_cancel(
                order_no=order_no,
                reason="超时未支付，已自动取消",
                actor=Actor.system("orders.expire"),
            )
        except OrderStateInvalid:
            continue  # paid in the meantime
        cancelled.append(order_no)
    return cancelled


# --- fulfilment steps -------------------------------------------------------------------------


@transaction.atomic
def order_allocate(*, order_no: str, actor: Actor, note: str = "") -> Order:
    order = _locked(order_no)
    _set_status(order, OrderStatus.ALLOCATED, note=note or "已分配仓库", actor=actor.label)
    publish(events.OrderAllocated(**_event_base(order)))
    return order


@transaction.atomic
def order_ship(*, order_no: str, carrier: str, tracking_no: str, actor: Actor) -> Order:
    if not carrier.strip() or not tracking_no.strip():
        raise InvalidInput("请填写承运商和运单号")
    order = _locked(order_no)
    _set_status(
        order, OrderStatus.SHIPPED, note=f"{carrier} {tracking_no}"[:200], actor=actor.label
    )
    reservations_ship(order_ref=order_no)
    audit_record(
        actor=actor,
        action="orders.ship",
        target=order,
        after={"carrier": carrier, "tracking_no": tracking_no},
    )
    publish(events.OrderShipped(**_event_base(order), carrier=carrier, tracking_no=tracking_no))
    return order


@transaction.atomic
def order_deliver(*, order_no: str, actor: Actor) -> Order:
    order = _locked(order_no)
    _set_status(order, OrderStatus.DELIVERED, note="已签收", actor=actor.label)
    publish(events.OrderDelivered(**_event_base(order)))
    return order


@transaction.atomic
def order_complete(*, order_no: str, actor: Actor) -> Order:
    order = _locked(order_no)
    _set_status(order, OrderStatus.COMPLETED, note="交易完成", actor=actor.label)
    publish(events.OrderCompleted(**_event_base(order)))
    return order


# --- refunds ----------------------------------------------------------------------------------


def _refundable_left(order: Order) -> int:
    pending = sum(
        refund.amount_fen
        for refund in order.refund_requests.filter(
            status__in=[RefundStatus.REQUESTED, RefundStatus.APPROVED]
        )
    )
    return order.paid_fen - order.refunded_fen - pending


def _amount_for_lines(order: Order, lines: Sequence[dict[str, int]]) -> int:
    """What the chosen units cost the buyer after discounts (each unit's share of its line)."""
    by_id = {line.pk: line for line in order.lines.all()}
    total = 0
    for item in lines:
        line = by_id.get(int(item.get("line_id", 0)))
        quantity = item.get("quantity")
        if line is None or not isinstance(quantity, int) or isinstance(quantity, bool):
            raise RefundInvalid("退款商品不正确", detail={"line": item})
        if not 1 <= quantity <= line.quantity - line.refunded_quantity:
            raise RefundInvalid("退款数量超出可退数量", detail={"line": item})
        shares = allocate(line.total_fen, [1] * line.quantity)
        start = line.refunded_quantity
        total += sum(shares[start : start + quantity])
    return total


@transaction.atomic
def order_refund_request(
    *,
    order_no: str,
    reason: str,
    actor: Actor,
    lines: Sequence[dict[str, int]] = (),
    amount_fen: int | None = None,
    include_shipping: bool = False,
) -> RefundRequest:
    """Ask for money back: by units (the buyer) or by amount (customer service)."""
    order = _locked(order_no)
    if not reason.strip():
        raise RefundInvalid("请填写退款原因")
    if order.status not in REFUNDABLE | {OrderStatus.PARTIALLY_REFUNDED}:
        raise OrderStateInvalid(detail={"status": order.status})
    if lines:
        amount = _amount_for_lines(order, lines)
        if include_shipping:
            amount += order.shipping_fen
    elif amount_fen is not None and not isinstance(amount_fen, bool):
        amount = int(amount_fen)
    else:
        raise RefundInvalid("请选择退款商品或填写退款金额")
    left = _refundable_left(order)
    if not 0 < amount <= left:
        raise RefundInvalid("退款金额超出可退金额", detail={"amount_fen": amount, "left": left})
    refund = RefundRequest.objects.create(
        refund_no=new_id("R"),
        order=order,
        amount_fen=amount,
        lines=[{"line_id": int(i["line_id"]), "quantity": int(i["quantity"])} for i in lines],
        reason=reason[:200],
        created_at=clock.now(),
    )
    before = effective_status(order)
    _set_status(
        order,
        OrderStatus.REFUND_REQUESTED,
        note=f"申请退款 {amount / 100:.2f} 元：{reason}"[:200],
        actor=actor.label,
        status_before_refund=before,
    )
    publish(
        events.OrderRefundRequested(
            **_event_base(order), refund_no=refund.refund_no, amount_fen=amount
        )
    )
    return refund


def _locked_refund(refund_no: str) -> RefundRequest:
    refund = RefundRequest.objects.select_for_update().filter(refund_no=refund_no).first()
    if refund is None:
        raise RefundNotFound(detail={"refund_no": refund_no})
    return refund


@transaction.atomic
def refund_request_approve(*, refund_no: str, actor: Actor, note: str = "") -> RefundRequest:
    refund = _locked_refund(refund_no)
    if refund.status != RefundStatus.REQUESTED:
        raise OrderStateInvalid("该退款申请已处理", detail={"status": refund.status})
    refund.status = RefundStatus.APPROVED
    refund.decided_by = actor.label[:64]
    refund.decision_note = note[:200]
    refund.decided_at = clock.now()
    refund.save(update_fields=["status", "decided_by", "decision_note", "decided_at"])
    order = refund.order
    _timeline(order, order.status, note="退款已同意，原路退回中", actor=actor.label)
    audit_record(
        actor=actor,
        action="orders.refund_approve",
        target=refund,
        after={"amount_fen": refund.amount_fen, "order_no": order.order_no},
    )
    publish(
        events.OrderRefundApproved(
            order_id=order.pk,
            order_no=order.order_no,
            refund_no=refund.refund_no,
            amount_fen=refund.amount_fen,
            reason=refund.reason,
        )
    )
    return refund


@transaction.atomic
def refund_request_reject(*, refund_no: str, actor: Actor, note: str) -> RefundRequest:
    """Refuse a refund request: the order goes back to where the request found it.

    That is `partially_refunded` when earlier refunds already paid money back, otherwise the
    fulfilment stage remembered in `status_before_refund`. The move goes through the state
    machine, so an order that is not waiting on this request is refused and nothing changes.
    """
    if not note.strip():
        raise RefundInvalid("请填写拒绝原因")
    refund = _locked_refund(refund_no)
    if refund.status != RefundStatus.REQUESTED:
        raise OrderStateInvalid("该退款申请已处理", detail={"status": refund.status})
    order = _locked(refund.order.order_no)
    from_status = order.status
    back = OrderStatus.PARTIALLY_REFUNDED if order.refunded_fen else effective_status(order)
    _set_status(order, back, note=f"退款被拒绝：{note}"[:200], actor=actor.label)
    refund.status = RefundStatus.REJECTED
    refund.decided_by = actor.label[:64]
    refund.decision_note = note[:200]
    refund.decided_at = clock.now()
    refund.save(update_fields=["status", "decided_by", "decision_note", "decided_at"])
    audit_record(
        actor=actor,
        action="orders.refund_reject",
        target=refund,
        before={"status": RefundStatus.REQUESTED, "order_status": from_status},
        after={
            "status": refund.status,
            "note": note[:200],
            "order_no": order.order_no,
            "order_status": back,
        },
    )
    publish(
        events.OrderRefundRejected(
            **_event_base(order),
            refund_no=refund.refund_no,
            amount_fen=refund.amount_fen,
            reason=refund.decision_note,
        )
    )
    return refund


@transaction.atomic
def order_refund_succeeded(
    *, order_no: str, refund_no: str, amount_fen: int, refunded_at: dt.datetime
) -> Order:
    """The provider paid the refund back (called by the payments module). Idempotent.

    Unshipped units go back to stock; points earned on the refunded share are reversed.
    Shipped fresh food is not restocked (it cannot be resold).
    """
    refund = _locked_refund(refund_no)
    order = _locked(order_no)
    if refund.order_id != order.pk:
        raise RefundInvalid("退款单与订单不匹配", detail={"refund_no": refund_no})
    if refund.status == RefundStatus.REFUNDED:
        return order
    if refund.status != RefundStatus.APPROVED:
        raise OrderStateInvalid("退款尚未同意", detail={"status": refund.status})
    if amount_fen != refund.amount_fen:
        raise PaymentAmountMismatch(
            detail={"refund_no": refund_no, "expected": refund.amount_fen, "received": amount_fen}
        )
    refund.status = RefundStatus.REFUNDED
    refund.refunded_at = refunded_at
    refund.save(update_fields=["status", "refunded_at"])
    for item in refund.lines:
        OrderLine.objects.filter(pk=item["line_id"], order=order).update(
            refunded_quantity=F("refunded_quantity") + item["quantity"]
        )
    refunded_total = order.refunded_fen + amount_fen
    fully = refunded_total >= order.paid_fen
    not_shipped = effective_status(order) in NOT_YET_SHIPPED
    if not_shipped and fully:
        reservations_release(order_ref=order_no, note="退款")
    elif not_shipped and refund.lines:
        _release_refunded_units(order, refund.lines)
    _set_status(
        order,
        OrderStatus.REFUNDED if fully else OrderStatus.PARTIALLY_REFUNDED,
        note=f"已退款 {amount_fen / 100:.2f} 元",
        actor="payments",
        refunded_fen=refunded_total,
    )
    membership.points_reverse_for_refund(
        person_id=order.person_id,
        order_ref=order_no,
        refund_ref=refund_no,
        refunded_fen=amount_fen,
        order_paid_fen=order.paid_fen,
    )
    audit_record(
        actor=Actor.system("payments.refund"),
        action="orders.refunded",
        target=order,
        after={"refund_no": refund_no, "amount_fen": amount_fen, "fully": fully},
    )
    publish(
        events.OrderRefunded(
            **_event_base(order), refund_no=refund_no, amount_fen=amount_fen, fully=fully
        )
    )
    return order


def _release_refunded_units(order: Order, lines: list[dict[str, int]]) -> None:
    by_id = {line.pk: line for line in order.lines.all()}
    for item in lines:
        line = by_id[item["line_id"]]
        reservation_reduce(order_ref=order.order_no, sku_id=line.sku_id, quantity=item["quantity"])


# --- history import ---------------------------------------------------------------------------


@dataclass(frozen=True)
class HistoricalLine:
    sku: Sku
    quantity: int
    unit_price_fen: int


@dataclass(frozen=True)
class HistoricalOrder:
    """A finished order from before FreshLoop (an export of the old shop, ERP or the demo)."""

    order_no: str
    person: Person
    channel: str
    source_ref: str
    lines: Sequence[HistoricalLine]
    discount_fen: int
    shipping_fen: int
    created_at: dt.datetime
    province: str


@transaction.atomic
def orders_import_history(*, records: Sequence[HistoricalOrder], actor: Actor) -> int:
    """Load completed historical orders as facts: no stock moves, no coupons, no payment.

    Idempotent by order number (already-imported numbers are skipped), so an interrupted import
    can simply be run again. Points for the imported spend are the caller's decision.
    """
    existing = set(
        Order.objects.filter(order_no__in=[r.order_no for r in records]).values_list(
            "order_no", flat=True
        )
    )
    fresh = [r for r in records if r.order_no not in existing]
    orders = []
    for record in fresh:
        subtotal = sum(line.unit_price_fen * line.quantity for line in record.lines)
        if not record.lines or not 0 <= record.discount_fen <= subtotal:
            raise InvalidInput("历史订单数据不正确", detail={"order_no": record.order_no})
        total = subtotal - record.discount_fen + record.shipping_fen
        explanation = [
            {"code": "subtotal", "label": "商品金额", "amount_fen": subtotal},
            {"code": "shipping", "label": "运费", "amount_fen": record.shipping_fen},
        ]
        if record.discount_fen:
            explanation.append(
                {"code": "import", "label": "历史订单优惠", "amount_fen": -record.discount_fen}
            )
        explanation.append({"code": "total", "label": "应付", "amount_fen": total})
        paid_at = record.created_at + dt.timedelta(minutes=3)
        orders.append(
            Order(
                order_no=record.order_no,
                person=record.person,
                channel=record.channel,
                source_ref=record.source_ref,
                status=OrderStatus.COMPLETED,
                subtotal_fen=subtotal,
                discount_fen=record.discount_fen,
                shipping_fen=record.shipping_fen,
                total_fen=total,
                paid_fen=total,
                price_explanation=explanation,
                province=record.province,
                payment_provider="import",
                transaction_id=f"IMPORT-{record.order_no}",
                created_at=record.created_at,
                paid_at=paid_at,
                updated_at=paid_at + dt.timedelta(days=3),
            )
        )
    Order.objects.bulk_create(orders, batch_size=500)
    saved = {o.order_no: o for o in Order.objects.filter(order_no__in=[r.order_no for r in fresh])}
    lines: list[OrderLine] = []
    timeline: list[OrderEvent] = []
    for record in fresh:
        order = saved[record.order_no]
        shares = allocate(
            record.discount_fen,
            [line.unit_price_fen * line.quantity for line in record.lines],
        )
        for line, share in zip(record.lines, shares, strict=True):
            lines.append(
                OrderLine(
                    order=order,
                    sku=line.sku,
                    product_name=line.sku.product.name,
                    spec=line.sku.spec,
                    unit_price_fen=line.unit_price_fen,
                    quantity=line.quantity,
                    discount_fen=share,
                    total_fen=line.unit_price_fen * line.quantity - share,
                )
            )
        steps = [
            ("", OrderStatus.PENDING_PAYMENT, "下单", dt.timedelta(0)),
            (OrderStatus.PENDING_PAYMENT, OrderStatus.PAID, "支付成功", dt.timedelta(minutes=3)),
            (OrderStatus.PAID, OrderStatus.SHIPPED, "已发货", dt.timedelta(hours=20)),
            (OrderStatus.SHIPPED, OrderStatus.DELIVERED, "已签收", dt.timedelta(days=2)),
            (OrderStatus.DELIVERED, OrderStatus.COMPLETED, "交易完成", dt.timedelta(days=3)),
        ]
        timeline += [
            OrderEvent(
                order=order,
                from_status=before,
                to_status=after,
                note=note,
                actor="import",
                created_at=record.created_at + offset,
            )
            for before, after, note, offset in steps
        ]
    OrderLine.objects.bulk_create(lines, batch_size=1000)
    OrderEvent.objects.bulk_create(timeline, batch_size=1000)
    audit_record(
        actor=actor,
        action="orders.import_history",
        target_type="orders.Order",
        target_id="",
        after={"imported": len(fresh), "skipped": len(existing)},
    )
    return len(fresh)
