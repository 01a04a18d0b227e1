"""Cart, checkout and the order life cycle (SPEC BM-3, BM-7) — one set of services for every
channel: the live room, the H5 shop, group buying and partner apps all call these.

Checkout is one transaction: price (promotions), reserve stock (inventory), lock coupons
(promotions), spend points (membership), write the order. Any refusal rolls all of it back.
Side effects — events, and through them points, payments and analytics — happen after commit."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import NamedTuple

from django.db import IntegrityError, transaction

from freshloop.catalog.models import SalesChannel, Sku
from freshloop.catalog.selectors import sku_get_sellable
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.db import retry_transient
from freshloop.core.errors import DomainError, InvalidInput
from freshloop.core.events import publish
from freshloop.core.ids import new_id
from freshloop.identity.models import Person
from freshloop.inventory.services import (
    ReservationRequest,
    reservations_confirm,
    reservations_release,
    stock_reserve,
)
from freshloop.membership import services as membership
from freshloop.orders import events
from freshloop.orders.addresses import (
    MAX_ADDRESSES,
    ParsedAddress,
    address_create,
    address_delete,
    address_parse,
    address_set_default,
    address_update,
    region_names,
)
from freshloop.orders.aftersales import (
    aftersales_case_approve,
    aftersales_case_open,
    aftersales_case_reject,
)
from freshloop.orders.checkout_checks import (
    _order_address,
    _preview_province,
    _replayed_quantities,
    _request_fingerprint,
)
from freshloop.orders.errors import (
    CartEmpty,
    CartLimitExceeded,
    IdempotencyKeyReused,
    OrderStateInvalid,
    PaymentAmountMismatch,
)
from freshloop.orders.history import HistoricalLine, HistoricalOrder, orders_import_history
from freshloop.orders.locks import order_lock
from freshloop.orders.models import (
    Cart,
    CartItem,
    Order,
    OrderLine,
    OrderStatus,
)
from freshloop.orders.pricing import (
    CheckoutQuote,
    checkout_coupon_choices,
    checkout_quote,
)
from freshloop.orders.refunds import (
    order_refund_request,
    order_refund_succeeded,
    refund_request_approve,
    refund_request_reject,
)
from freshloop.orders.selectors import (
    order_for_idempotency_key,
    payment_provider_label,
)
from freshloop.orders.shipping import shipping_rule_save, shipping_rules_forget
from freshloop.orders.timeline import (
    PLACED_BY,
    PLACED_NOTE,
    answer_from_written,
    event_base,
    status_set,
    timeline_add,
)
from freshloop.promotions import services as promotions
from freshloop.promotions.pricing import SpecialPrice  # re-exported: live grants flash prices
from freshloop.promotions.selectors import CouponUsability

# Written in refunds.py, aftersales.py and history.py, part of this module's public face.
__all__ = [
    "MAX_ADDRESSES",
    "HistoricalLine",
    "HistoricalOrder",
    "ParsedAddress",
    "address_create",
    "address_delete",
    "address_parse",
    "address_set_default",
    "address_update",
    "aftersales_case_approve",
    "aftersales_case_open",
    "aftersales_case_reject",
    "order_refund_request",
    "order_refund_succeeded",
    "orders_import_history",
    "refund_request_approve",
    "refund_request_reject",
    "region_names",
    "shipping_rule_save",
    "shipping_rules_forget",
]

PAYMENT_WINDOW = dt.timedelta(minutes=15)
MAX_LINES = 50
MAX_QUANTITY_PER_LINE = 99


# --- cart -------------------------------------------------------------------------------------


def _cart_for(person: Person) -> Cart:
    cart, _ = Cart.objects.get_or_create(person=person, defaults={"updated_at": clock.now()})
    return cart


def _check_line_quantity(quantity: int) -> None:
    if isinstance(quantity, bool) or not isinstance(quantity, int):
        raise InvalidInput.for_fields([("quantity", "购买数量应为整数")])
    if not 1 <= quantity <= MAX_QUANTITY_PER_LINE:
        raise InvalidInput.for_fields(
            [("quantity", f"购买数量需在 1 到 {MAX_QUANTITY_PER_LINE} 之间")]
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
    `stock_blocks` (sku_id → block ref, internal): the line's units come from a block the
    caller set aside, and its draws stay within it (`inventory.stock_block_reserve`).
    `payment_window` (internal): how long the order waits for payment — longer for a
    subscription's order, placed days ahead and paid from a reminder.
    `ships` (internal): False for an order that pays money but ships nothing itself (a
    presale deposit: its units are held for the balance order that ships them) — no shipping
    fee, and fulfilment never allocates it.
    `on_written` (internal): called with the new order inside the order's own transaction, last,
    so the caller's rows (a group-deal place) commit or roll back with the order while pricing
    still runs before the write transaction; whatever it raises refuses the order."""

    person: Person
    channel: str = SalesChannel.SHOP
    source_ref: str = ""
    items: Sequence[CheckoutItem] | None = None
    coupon_ids: Sequence[int] = ()
    points: int = 0
    address: dict[str, str] = field(default_factory=dict)
    address_id: int | None = None
    idempotency_key: str = ""
    special_prices: Mapping[int, SpecialPrice] = field(default_factory=dict)
    stock_blocks: Mapping[int, str] = field(default_factory=dict)
    payment_window: dt.timedelta = PAYMENT_WINDOW
    ships: bool = True
    on_written: Callable[[Order], None] | None = None


def _sellable_skus_read(sku_ids: list[int], channel: str) -> dict[int, Sku]:
    """The SKUs of `sku_ids` sellable on `channel`, by id, in one query."""
    return {
        sku.pk: sku
        for sku in Sku.objects.select_related("product").filter(pk__in=sku_ids, is_active=True)
        if sku.product.is_active and sku.product.sold_in(channel)
    }


def _sellable_skus(
    sku_ids: list[int], channel: str, known: Mapping[int, Sku] | None = None
) -> dict[int, Sku]:
    """The SKUs by id (from `known`, a batch's read, else one query); the first one not
    sellable is refused with catalog's answer (`sku_get_sellable`, asked for its error)."""
    found = (
        {i: known[i] for i in sku_ids if i in known}
        if known is not None
        else _sellable_skus_read(sku_ids, channel)
    )
    for sku_id in sku_ids:
        if sku_id not in found:
            found[sku_id] = sku_get_sellable(sku_id=sku_id, channel=channel)  # raises NotFound
    return found


def _resolve_items(
    request: CheckoutRequest, known: Mapping[int, Sku] | None = None
) -> list[tuple[Sku, int]]:
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
    for quantity in merged.values():
        _check_line_quantity(quantity)
    sellable = _sellable_skus(list(merged), request.channel, known)
    resolved = [(sellable[sku_id], quantity) for sku_id, quantity in merged.items()]
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
        ships=request.ships,
        province=_preview_province(request),
    )


def checkout_coupons(*, request: CheckoutRequest) -> list[CouponUsability]:
    return checkout_coupon_choices(
        person=request.person,
        items=_resolve_items(request),
        channel=request.channel,
        source_ref=request.source_ref,
        now=clock.now(),
        special_prices=request.special_prices,
        province=_preview_province(request),
    )


def _existing_for_key(request: CheckoutRequest) -> Order | None:
    """The order placed earlier under this request's key, if the request repeats it;
    `IdempotencyKeyReused` when the key comes back with other content."""
    order = order_for_idempotency_key(
        person=request.person, idempotency_key=request.idempotency_key
    )
    if order is not None and order.request_fingerprint != _request_fingerprint(
        _replayed_quantities(request, order), request
    ):
        raise IdempotencyKeyReused(detail={"order_no": order.order_no})
    return order


class OrderCreateResult(NamedTuple):
    order: Order
    created: bool
    """False when the request was a retry of an earlier one under the same idempotency key."""


def order_create(*, request: CheckoutRequest) -> OrderCreateResult:
    """Price, reserve, lock coupons, spend points and write the order — all or nothing.

    Returns `(order, created)`. This is the one place the idempotency rule lives: a retried
    request (same key, same content) answers the first order with `created=False` instead of
    writing a second one, even when both arrive at the same moment (the unique constraint on
    (person, key) decides the race); the same key with other content is `IdempotencyKeyReused`.
    """
    if len(request.idempotency_key) > 64:
        raise InvalidInput("幂等键过长", detail={"max_length": 64})
    try:
        items = _resolve_items(request)
        fingerprint = _request_fingerprint({sku.pk: quantity for sku, quantity in items}, request)
        address = _order_address(request)
        # Priced before the write transaction: pricing only reads, and on SQLite every order
        # holds the one write lock from BEGIN to COMMIT. What can change in between is checked
        # again under lock when it is written: stock (a conditional reservation), coupons
        # (`coupons_lock`), campaign budgets and points (their charges refuse an overdraft).
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
            need_balance=False,
            province=address["province"],
            ships=request.ships,
        )
        quote.raise_for_rejections()
        order = retry_transient(
            lambda: _order_create_atomic(request, items, address, fingerprint, quote, now)
        )
    except (DomainError, IntegrityError):
        # A retry is recognised when the attempt fails, not by a read before every order: it
        # fails for certain, on the unique (person, key) if nothing refused it earlier (the
        # same key may also have won a race a moment ago). What was bought stays bought even
        # when the cart is empty, the product left sale or the stock ran out since.
        existing = _existing_for_key(request)
        if existing is None:
            raise
        return OrderCreateResult(existing, created=False)
    return OrderCreateResult(order, created=True)


def order_row(
    request: CheckoutRequest,
    quote: CheckoutQuote,
    address: dict[str, str],
    fingerprint: str,
    *,
    order_no: str,
    now: dt.datetime,
) -> Order:
    """The order a priced request becomes, not saved yet (`orders_create_many` saves many)."""
    return Order(
        order_no=order_no,
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
        ships=request.ships,
        created_at=now,
        expires_at=now + request.payment_window,
        updated_at=now,
    )


def order_line_rows(order: Order, quote: CheckoutQuote) -> list[OrderLine]:
    """The order's lines as priced, not saved yet."""
    return [
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
    ]


@transaction.atomic
def _order_create_atomic(
    request: CheckoutRequest,
    items: list[tuple[Sku, int]],
    address: dict[str, str],
    fingerprint: str,
    quote: CheckoutQuote,
    now: dt.datetime,
) -> Order:
    order = order_row(request, quote, address, fingerprint, order_no=new_id("O"), now=now)
    order.save(force_insert=True)
    lines = OrderLine.objects.bulk_create(order_line_rows(order, quote))
    stock_reserve(
        order_ref=order.order_no,
        requests=[
            ReservationRequest(
                sku=sku, quantity=quantity, block_ref=request.stock_blocks.get(sku.pk, "")
            )
            for sku, quantity in items
        ],
        expires_at=order.expires_at,
        province=address["province"],
        channel=request.channel,
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
    placed = timeline_add(order, OrderStatus.PENDING_PAYMENT, note=PLACED_NOTE, actor=PLACED_BY)
    if request.items is None:
        CartItem.objects.filter(
            cart__person=request.person, sku_id__in=[sku.pk for sku, _ in items]
        ).delete()
    publish(events.OrderCreated(**event_base(order), total_fen=order.total_fen))
    answer_from_written(order, lines=lines, timeline=[placed])
    if request.on_written is not None:
        request.on_written(order)
    return order


# --- payment and cancellation -----------------------------------------------------------------


@transaction.atomic
def order_payment_succeeded(
    *, order_no: str, amount_fen: int, provider: str, transaction_id: str, paid_at: dt.datetime
) -> Order:
    """The payment provider confirmed the money arrived (called by the payments module).

    Idempotent for the same transaction id. A different amount, a second transaction for a
    paid order, or money for a cancelled order is refused; the payments module alerts and
    refunds those.
    """
    order = order_lock(order_no)
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
    status_set(
        order,
        OrderStatus.PAID,
        note=f"支付成功（{payment_provider_label(provider)}）",
        actor=payment_provider_label(provider),
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
            **event_base(order),
            paid_fen=amount_fen,
            provider=provider,
            transaction_id=transaction_id,
        )
    )
    return order


@transaction.atomic
def order_cancel(*, order_no: str, reason: str, actor: Actor) -> Order:
    """Cancel an unpaid order: stock, coupons and points go back to where they were."""
    order = order_lock(order_no)
    if order.status == OrderStatus.CANCELLED:
        return order
    status_set(order, OrderStatus.CANCELLED, note=reason, actor=actor.label, expires_at=None)
    reservations_release(order_ref=order_no, note=reason)
    promotions.coupons_release(order_ref=order_no)
    promotions.campaign_budget_release(order_ref=order_no)
    membership.points_spend_return(person_id=order.person_id, order_ref=order_no)
    audit_record(actor=actor, action="orders.cancel", target=order, after={"reason": reason})
    publish(events.OrderCancelled(**event_base(order), reason=reason))
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


# --- fulfilment steps (orders/fulfilment.py), many orders at once (orders/batch.py) -----------
from freshloop.orders.batch import orders_create_many  # noqa: E402, F401
from freshloop.orders.fulfilment import (  # noqa: E402, F401
    order_allocate,
    order_complete,
    order_deliver,
    order_ship,
)
