"""Buying a presale (GB-4): the deposit order, then the balance order — both on the one order
path (`orders.services.order_create`, channel `groupbuy`, the presale's price as a trusted
`SpecialPrice` of kind PRESALE, `source_ref` = the presale number).

How stock is held once, never twice:
- The presale's units sit in one stock block from creation (`Presale.block_ref`). The block,
  not the shelf, is what its orders draw from (`CheckoutRequest.stock_blocks`), so they never
  compete with the shop for the shelf and no stock level is written per order.
- How many units deposits hold is the presale's own counter `units_taken`, raised by one
  conditional UPDATE per deposit (`locks.presale_units_take`, `units_taken + q <= quantity`,
  the presale's row locked to the commit): that is what makes overselling impossible, on
  SQLite and PostgreSQL alike. (The block lets its owner draw freely; the counter is the cap.)
- The deposit order draws `q` units from the block: its reservation is the buyer's units.
- Placing the balance order hands those units over in ONE transaction: the deposit order's
  reservation is released (back into the block, which still covers them) and the balance
  order draws the same `q` from the block. At no instant are the units held twice, and a
  crash in between rolls both back. A balance order left unpaid is cancelled by orders and
  its units go back into the block (still counted for the buyer); the next attempt draws
  them again.
- The goods ship with the balance order. (A deposit order has the SKU as its line because
  the order path needs one — see docs/groupbuy-presale.md, "Next", on holding it back
  from fulfilment.)

Idempotency: a deposit is one purchase intent under the buyer's key; a replay (racing ones
included) answers the same purchase. The balance has no key of its own: the purchase row is
locked and its current unpaid or paid balance order is answered again.
"""

from __future__ import annotations

import datetime as dt
from typing import Any, NamedTuple

from django.db import transaction
from django.db.models import Sum

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.ids import new_id
from freshloop.groupbuy.presale.errors import (
    PresaleBalanceClosed,
    PresaleDepositClosed,
    PresaleDepositUnpaid,
    PresaleLimitExceeded,
    PresalePurchaseClosed,
    PresalePurchaseNotFound,
    PresaleQuantityInvalid,
    PresaleSoldOut,
)
from freshloop.groupbuy.presale.locks import presale_units_take, purchase_lock
from freshloop.groupbuy.presale.models import (
    PURCHASE_COUNTED,
    Presale,
    PresalePurchase,
    PresaleStatus,
    PurchaseStatus,
)
from freshloop.identity.models import Person
from freshloop.inventory.services import reservations_release
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.selectors import order_for_idempotency_key
from freshloop.orders.services import (
    PAYMENT_WINDOW,
    CheckoutItem,
    CheckoutRequest,
    SpecialPrice,
    order_create,
)
from freshloop.promotions.pricing import SpecialPriceKind

CHANNEL = "groupbuy"
DEPOSIT_LABEL = "预售定金"


def yuan(fen: int) -> str:
    return f"{fen / 100:.2f}".rstrip("0").rstrip(".")


def balance_label(worth_unit_fen: int) -> str:
    return f"预售尾款（定金抵 ¥{yuan(worth_unit_fen)}）"


class PurchaseResult(NamedTuple):
    purchase: PresalePurchase
    order: Order
    created: bool
    """False when the request repeated an earlier one (same key, or an open balance order)."""


class _Replayed(Exception):
    def __init__(self, purchase: PresalePurchase) -> None:
        self.purchase = purchase
        super().__init__(purchase.purchase_no)


def _deposit_window_check(presale: Presale, now: dt.datetime) -> None:
    window = {
        "deposit_starts_at": presale.deposit_starts_at.isoformat(),
        "deposit_ends_at": presale.deposit_ends_at.isoformat(),
    }
    if presale.status not in (PresaleStatus.DRAFT, PresaleStatus.DEPOSIT_OPEN):
        raise PresaleDepositClosed("预售已结束或已取消", detail=window)
    if now < presale.deposit_starts_at:
        raise PresaleDepositClosed("定金支付尚未开始", detail=window)
    if now >= presale.deposit_ends_at:
        raise PresaleDepositClosed("定金支付已截止", detail=window)


def _units_held(presale_id: int, person: Person) -> int:
    return (
        PresalePurchase.objects.filter(
            presale_id=presale_id, person=person, status__in=PURCHASE_COUNTED
        ).aggregate(units=Sum("quantity"))["units"]
        or 0
    )


def _limit_exceeded(presale: Presale, held: int) -> PresaleLimitExceeded:
    already = f"，您已预订 {held} 件" if held else ""
    return PresaleLimitExceeded(
        f"每人限购 {presale.per_person_limit} 件{already}",
        detail={"held": held, "per_person_limit": presale.per_person_limit},
    )


def _replay(presale: Presale, person: Person, idempotency_key: str) -> PresalePurchase | None:
    # Only this presale's purchase is a replay; a key used for anything else goes on to
    # order_create, whose rule answers a reused key with its own error.
    order = order_for_idempotency_key(person=person, idempotency_key=idempotency_key)
    if order is None:
        return None
    return PresalePurchase.objects.filter(
        deposit_order_no=order.order_no, presale_id=presale.pk
    ).first()


def presale_deposit_pay(
    *,
    presale: Presale,
    person: Person,
    quantity: int,
    address: dict[str, Any],
    address_id: int | None = None,
    idempotency_key: str,
) -> PurchaseResult:
    """Place the deposit order of `quantity` units (unpaid; the cashier collects it). A retry
    under the same key answers the same purchase and order with `created` False."""
    replayed = _replay(presale, person, idempotency_key)
    if replayed is not None:
        return _answer(replayed, created=False)
    if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
        raise PresaleQuantityInvalid("购买件数须为正整数", detail={"quantity": quantity})
    if quantity > presale.per_person_limit:
        raise _limit_exceeded(presale, 0)
    now = clock.now()
    _deposit_window_check(presale, now)
    if presale.units_taken + quantity > presale.quantity:  # early answer; decided below
        raise PresaleSoldOut(detail={"remaining": max(0, presale.quantity - presale.units_taken)})
    purchase_no = new_id("PP")
    try:
        with transaction.atomic():
            order, created = order_create(
                request=CheckoutRequest(
                    person=person,
                    channel=CHANNEL,
                    source_ref=presale.presale_no,
                    items=[CheckoutItem(sku_id=presale.sku_id, quantity=quantity)],
                    address=dict(address),
                    address_id=address_id,
                    idempotency_key=idempotency_key,
                    special_prices={
                        presale.sku_id: SpecialPrice(
                            unit_price_fen=presale.deposit_fen,
                            label=DEPOSIT_LABEL,
                            ref=purchase_no,
                            max_quantity=quantity,
                            kind=SpecialPriceKind.PRESALE,
                        )
                    },
                    stock_blocks={presale.sku_id: presale.block_ref},
                    # Unpaid deposits give their units back by the end of the window at the latest.
                    payment_window=min(PAYMENT_WINDOW, presale.deposit_ends_at - now),
                    # Money only: no shipping fee, never allocated; the balance order ships.
                    ships=False,
                )
            )
            if not created:
                racing = PresalePurchase.objects.filter(deposit_order_no=order.order_no).first()
                if racing is not None:
                    raise _Replayed(racing)  # a concurrent retry with the same key won
            purchase = PresalePurchase.objects.create(
                purchase_no=purchase_no,
                presale=presale,
                person=person,
                quantity=quantity,
                deposit_unit_fen=presale.deposit_fen,
                worth_unit_fen=presale.deposit_worth_fen,
                balance_unit_fen=presale.balance_unit_fen,
                deposit_order_no=order.order_no,
                created_at=now,
            )
            audit_record(
                actor=Actor.consumer(person.one_id),
                action="groupbuy.presale.deposit",
                target=purchase,
                after={
                    "presale_no": presale.presale_no,
                    "quantity": quantity,
                    "order_no": order.order_no,
                    "deposit_total_fen": order.total_fen,
                },
            )
            # The presale's row last (see `locks`): held from here to the commit only.
            if not presale_units_take(presale_id=presale.pk, quantity=quantity):
                current = Presale.objects.get(pk=presale.pk)
                _deposit_window_check(current, now)
                raise PresaleSoldOut(
                    detail={"remaining": max(0, current.quantity - current.units_taken)}
                )
            # Under that lock the buyer's units are summed afresh (this purchase included):
            # two deposits of one buyer at once cannot both pass the limit.
            held = _units_held(presale.pk, person)
            if held > presale.per_person_limit:
                raise _limit_exceeded(presale, held - quantity)
    except _Replayed as replay:
        return _answer(replay.purchase, created=False)
    return PurchaseResult(purchase, order, created=True)


def _answer(purchase: PresalePurchase, *, created: bool, balance: bool = False) -> PurchaseResult:
    order_no = purchase.balance_order_no if balance else purchase.deposit_order_no
    return PurchaseResult(purchase, Order.objects.get(order_no=order_no), created=created)


def _balance_window_check(presale: Presale, now: dt.datetime) -> None:
    window = {
        "balance_starts_at": presale.balance_starts_at.isoformat(),
        "balance_ends_at": presale.balance_ends_at.isoformat(),
    }
    if presale.status in (PresaleStatus.ENDED, PresaleStatus.CANCELLED):
        raise PresaleBalanceClosed("预售已结束或已取消", detail=window)
    if now < presale.balance_starts_at:
        raise PresaleBalanceClosed("尾款支付尚未开始", detail=window)
    if now >= presale.balance_ends_at:
        raise PresaleBalanceClosed("尾款支付已截止", detail=window)


@transaction.atomic
def presale_balance_pay(
    *, purchase_no: str, person: Person, address: dict[str, Any] | None = None
) -> PurchaseResult:
    """Place (or answer again) the balance order of a paid deposit, in the balance window.
    `address` defaults to the deposit order's. See the module docstring for the units."""
    purchase = purchase_lock(purchase_no)
    if purchase.person_id != person.pk:
        raise PresalePurchaseNotFound(detail={"purchase_no": purchase_no})
    if purchase.balance_order_no:
        current = Order.objects.get(order_no=purchase.balance_order_no)
        if current.status != OrderStatus.CANCELLED:
            return PurchaseResult(purchase, current, created=False)
    if purchase.status == PurchaseStatus.DEPOSIT_PENDING:
        raise PresaleDepositUnpaid(detail={"deposit_order_no": purchase.deposit_order_no})
    if purchase.status != PurchaseStatus.DEPOSIT_PAID:
        raise PresalePurchaseClosed(detail={"status": purchase.status})
    presale = purchase.presale
    now = clock.now()
    _balance_window_check(presale, now)
    deposit_order = Order.objects.get(order_no=purchase.deposit_order_no)
    # One order per attempt: the locked purchase row, not a key, keeps attempts apart.
    key = f"presale-balance:{new_id('PB')}"
    # The hand-over (module docstring): the deposit's units back into the block, then drawn
    # by the balance order — both in this transaction.
    reservations_release(order_ref=purchase.deposit_order_no, note="转入预售尾款订单")
    order, _ = order_create(
        request=CheckoutRequest(
            person=person,
            channel=CHANNEL,
            source_ref=presale.presale_no,
            items=[CheckoutItem(sku_id=presale.sku_id, quantity=purchase.quantity)],
            address=dict(address) if address else dict(deposit_order.address or {}),
            idempotency_key=key,
            special_prices={
                presale.sku_id: SpecialPrice(
                    unit_price_fen=purchase.balance_unit_fen,
                    label=balance_label(purchase.worth_unit_fen),
                    ref=purchase.purchase_no,
                    max_quantity=purchase.quantity,
                    kind=SpecialPriceKind.PRESALE,
                )
            },
            stock_blocks={presale.sku_id: presale.block_ref},
            # Unpaid, it is cancelled by the end of the balance window at the latest.
            payment_window=min(PAYMENT_WINDOW, presale.balance_ends_at - now),
        )
    )
    purchase.balance_order_no = order.order_no
    purchase.save(update_fields=["balance_order_no"])
    audit_record(
        actor=Actor.consumer(person.one_id),
        action="groupbuy.presale.balance",
        target=purchase,
        after={
            "order_no": order.order_no,
            "balance_total_fen": order.total_fen,
            "deposit_order_no": purchase.deposit_order_no,
        },
    )
    return PurchaseResult(purchase, order, created=True)
