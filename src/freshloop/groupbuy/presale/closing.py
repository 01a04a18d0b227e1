"""Presales through their windows (GB-4): opening, balance reminders, closing — driven by the
periodic job `groupbuy.presales_advance`; every step is harmless to repeat.

- A presale opens for deposits at its deposit start, for balances at its balance start.
- **Reminders** (in-app, transactional: the buyer owes a payment they chose to make) go to
  each buyer whose deposit is paid and balance not: one when the balance window opens, one
  in its last 24 hours. Each once: its dedupe key is (purchase, which reminder), and the
  messaging outbox writes a key once however often the job asks.
- **Closing**, at the end of the balance window (or at once when an operator cancels):
  each purchase on its own transaction — its unpaid orders cancelled first (orders' own
  lock, before the purchase's: the order handlers take them in that order), then a paid
  deposit without a paid balance is **forfeited** (定金不退, the default) or, when the
  presale's deposit is refundable or the presale was cancelled, **refunded**: the decision and
  a durable effect (`groupbuy.presale_deposit_refund`) commit together, and the effect's
  consumer files the refund request and approves it as the system, in one transaction,
  idempotently (a crash anywhere repeats it; the refund exists once). The deposit's units go
  back into the block, then the block is closed: everything not in a paid balance order goes
  back to the shelf.
"""

from __future__ import annotations

import contextlib
import datetime as dt
import logging
from dataclasses import dataclass, field
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.effects import effect_consumer, effect_enqueue
from freshloop.groupbuy.presale.buying import yuan
from freshloop.groupbuy.presale.locks import presale_lock, purchase_lock
from freshloop.groupbuy.presale.models import (
    PRESALE_RUNNING,
    Presale,
    PresalePurchase,
    PresaleStatus,
    PurchaseStatus,
)
from freshloop.inventory.services import reservations_release, stock_block_close
from freshloop.messaging.services import TransactionalSend, transactional_send_many
from freshloop.orders.errors import OrderStateInvalid
from freshloop.orders.models import Order, OrderStatus, RefundRequest, RefundStatus
from freshloop.orders.services import order_cancel, order_refund_request, refund_request_approve

logger = logging.getLogger(__name__)

SYSTEM = Actor.system("groupbuy.presale")
REFUND_EFFECT = "groupbuy.presale_deposit_refund"
SETTLE_EFFECT = "groupbuy.presale_settle"
MESSAGE_CHANNEL = "in_app"
DUE_SOON = dt.timedelta(hours=24)
UNSETTLED = (PurchaseStatus.DEPOSIT_PENDING, PurchaseStatus.DEPOSIT_PAID)


@dataclass
class AdvanceResult:
    opened: list[str] = field(default_factory=list)
    balance_opened: list[str] = field(default_factory=list)
    reminded: int = 0
    closed: list[str] = field(default_factory=list)


def presales_advance(*, now: dt.datetime | None = None) -> AdvanceResult:
    """Move every presale along its windows (see the module docstring)."""
    moment = now or clock.now()
    result = AdvanceResult()
    for presale in Presale.objects.filter(
        status=PresaleStatus.DRAFT, deposit_starts_at__lte=moment, balance_starts_at__gt=moment
    ).order_by("pk"):
        if Presale.objects.filter(pk=presale.pk, status=PresaleStatus.DRAFT).update(
            status=PresaleStatus.DEPOSIT_OPEN, updated_at=moment
        ):
            result.opened.append(presale.presale_no)
    for presale in Presale.objects.filter(
        status__in=(PresaleStatus.DRAFT, PresaleStatus.DEPOSIT_OPEN),
        balance_starts_at__lte=moment,
        balance_ends_at__gt=moment,
    ).order_by("pk"):
        if Presale.objects.filter(pk=presale.pk, status=presale.status).update(
            status=PresaleStatus.BALANCE_OPEN, updated_at=moment
        ):
            result.balance_opened.append(presale.presale_no)
    for presale in Presale.objects.filter(
        status=PresaleStatus.BALANCE_OPEN, balance_ends_at__gt=moment
    ).order_by("pk"):
        result.reminded += balance_reminders_send(presale=presale, now=moment)
    for presale_no in Presale.objects.filter(
        status__in=PRESALE_RUNNING, balance_ends_at__lte=moment
    ).values_list("presale_no", flat=True):
        if presale_close(presale_no=presale_no, now=moment):
            result.closed.append(presale_no)
    # Ended or cancelled but not settled: a crash (or a cancel) left work; finish it.
    for presale_id in Presale.objects.filter(
        status__in=(PresaleStatus.ENDED, PresaleStatus.CANCELLED), settled_at__isnull=True
    ).values_list("pk", flat=True):
        presale_purchases_settle(presale_id=presale_id)
    return result


# --- reminders --------------------------------------------------------------------------------


def _reminder(presale: Presale, purchase: PresalePurchase, *, due: bool) -> TransactionalSend:
    ends = clock.to_shanghai(presale.balance_ends_at)
    amount = yuan(purchase.balance_unit_fen * purchase.quantity)
    if due:
        title, kind = "预售尾款即将截止", "due"
        body = f"「{presale.name}」尾款 ¥{amount} 将于 {ends:%m-%d %H:%M} 截止，逾期"
        body += "定金将原路退回。" if presale.deposit_refundable else "定金不退。"
    else:
        title, kind = "预售尾款开始支付", "open"
        body = (
            f"「{presale.name}」可以支付尾款了：¥{amount}（定金已抵 "
            f"¥{yuan(purchase.worth_unit_fen * purchase.quantity)}），{ends:%m-%d %H:%M} 前有效。"
        )
    return TransactionalSend(
        person_id=purchase.person_id,
        payload={"title": title, "body": body, "url": f"/m/groupbuy/presales/{presale.presale_no}"},
        purpose=f"groupbuy_presale_balance_{kind}",
        source=f"presale:{presale.presale_no}",
        dedupe_key=f"groupbuy.presale.balance_{kind}:{purchase.purchase_no}",
    )


def balance_reminders_send(*, presale: Presale, now: dt.datetime) -> int:
    """Remind every buyer of `presale` with a paid deposit and no paid balance: the "open"
    reminder while more than 24 h are left, the "due" one in the last 24 h. Returns how many
    were asked for (the outbox writes each key once)."""
    if not presale.balance_starts_at <= now < presale.balance_ends_at:
        return 0
    due = now >= presale.balance_ends_at - DUE_SOON
    sends = [
        _reminder(presale, purchase, due=due)
        for purchase in PresalePurchase.objects.filter(
            presale=presale, status=PurchaseStatus.DEPOSIT_PAID
        ).order_by("pk")
    ]
    if sends:
        transactional_send_many(channel=MESSAGE_CHANNEL, sends=sends)
    return len(sends)


# --- closing ----------------------------------------------------------------------------------


def presale_close(*, presale_no: str, now: dt.datetime | None = None) -> bool:
    """End a presale whose balance window is over and settle its purchases. False when it
    was not running (ended, cancelled) or its window is not over."""
    moment = now or clock.now()
    with transaction.atomic():
        presale = presale_lock(presale_no)
        if presale.status not in PRESALE_RUNNING or moment < presale.balance_ends_at:
            return False
        presale.status = PresaleStatus.ENDED
        presale.ended_at = presale.updated_at = moment
        presale.save(update_fields=["status", "ended_at", "updated_at"])
        audit_record(
            actor=SYSTEM,
            action="groupbuy.presale.end",
            target=presale,
            after={"units_taken": presale.units_taken, "quantity": presale.quantity},
        )
    presale_purchases_settle(presale_id=presale.pk)
    return True


def _cancel_unpaid(order_no: str, reason: str) -> None:
    if not order_no:
        return
    status = Order.objects.filter(order_no=order_no).values_list("status", flat=True).first()
    if status != OrderStatus.PENDING_PAYMENT:
        return
    # Paid at this very moment: OrderStateInvalid, and the purchase's state says it is kept.
    with contextlib.suppress(OrderStateInvalid):
        order_cancel(order_no=order_no, reason=reason, actor=SYSTEM)


def purchase_settle(*, purchase_no: str, refund: bool) -> PresalePurchase:
    """Settle one purchase of an ended or cancelled presale (module docstring). Idempotent:
    a purchase that is already settled (or whose balance got paid) is left as it is."""
    current = PresalePurchase.objects.select_related("presale").get(purchase_no=purchase_no)
    if current.status not in UNSETTLED:
        return current
    cancelled = current.presale.status == PresaleStatus.CANCELLED
    reason = "预售已取消" if cancelled else "预售尾款支付已截止"
    if current.status == PurchaseStatus.DEPOSIT_PENDING:
        _cancel_unpaid(current.deposit_order_no, reason)  # its handler cancels the purchase
    _cancel_unpaid(current.balance_order_no, reason)
    with transaction.atomic():
        purchase = purchase_lock(purchase_no)
        if purchase.status != PurchaseStatus.DEPOSIT_PAID:
            return purchase  # cancelled with its order, or the balance was paid meanwhile
        now = clock.now()
        # Its units back into the block (closed next: then to the shelf). Released already if
        # a balance attempt took them over; that attempt's cancellation gave them back.
        reservations_release(order_ref=purchase.deposit_order_no, note=reason)
        purchase.status = PurchaseStatus.REFUNDED if refund else PurchaseStatus.FORFEITED
        purchase.closed_at = now
        purchase.save(update_fields=["status", "closed_at"])
        audit_record(
            actor=SYSTEM,
            action=f"groupbuy.presale.deposit_{'refund' if refund else 'forfeit'}",
            target=purchase,
            after={"deposit_order_no": purchase.deposit_order_no, "reason": reason},
        )
        if refund:
            effect_enqueue(
                name=REFUND_EFFECT,
                payload={"purchase_no": purchase.purchase_no},
                dedupe_key=f"{REFUND_EFFECT}:{purchase.purchase_no}",
            )
        transactional_send_many(
            channel=MESSAGE_CHANNEL, sends=[_settled_notice(purchase, refund=refund, why=reason)]
        )
        return purchase


def _settled_notice(purchase: PresalePurchase, *, refund: bool, why: str) -> TransactionalSend:
    deposit = yuan(purchase.deposit_unit_fen * purchase.quantity)
    name = purchase.presale.name
    body = (
        f"「{name}」{why}，定金 ¥{deposit} 将原路退回。"
        if refund
        else f"「{name}」{why}，您未支付尾款，定金 ¥{deposit} 按活动规则不予退还。"
    )
    return TransactionalSend(
        person_id=purchase.person_id,
        payload={
            "title": "预售定金结算",
            "body": body,
            "url": f"/m/orders/{purchase.deposit_order_no}",
        },
        purpose="groupbuy_presale_settled",
        source=f"presale:{purchase.presale.presale_no}",
        dedupe_key=f"groupbuy.presale.settled:{purchase.purchase_no}",
    )


def presale_purchases_settle(*, presale_id: int) -> int:
    """Settle every open purchase of an ended or cancelled presale, then close its stock
    block and mark it settled. Returns how many purchases were settled now."""
    presale = Presale.objects.get(pk=presale_id)
    if presale.status not in (PresaleStatus.ENDED, PresaleStatus.CANCELLED):
        return 0
    # The merchant cancelled: every deposit goes back, whatever the presale said.
    refund = presale.deposit_refundable or presale.status == PresaleStatus.CANCELLED
    settled = 0
    for purchase_no in (
        PresalePurchase.objects.filter(presale_id=presale_id, status__in=UNSETTLED)
        .order_by("pk")
        .values_list("purchase_no", flat=True)
    ):
        purchase_settle(purchase_no=purchase_no, refund=refund)
        settled += 1
    with transaction.atomic():
        if PresalePurchase.objects.filter(presale_id=presale_id, status__in=UNSETTLED).exists():
            return settled  # an order paid at the last instant: the next run finishes
        given_back = stock_block_close(block_ref=presale.block_ref, actor=SYSTEM)
        if Presale.objects.filter(pk=presale_id, settled_at__isnull=True).update(
            settled_at=clock.now()
        ):
            audit_record(
                actor=SYSTEM,
                action="groupbuy.presale.settle",
                target=presale,
                after={"block_given_back": given_back, "purchases_settled": settled},
            )
    return settled


# --- the refund of a deposit ------------------------------------------------------------------


def _refund_reason(purchase_no: str) -> str:
    return f"预售定金退回（{purchase_no}）"


def presale_deposit_refund(*, purchase_no: str) -> str | None:
    """File and approve, as the system, the refund of a refunded purchase's deposit order; the
    payments module then pays it back through the original payment. Idempotent: the request
    is found again by its reason; an approved one is left alone. Returns the refund number,
    or None when nothing is left to refund (customer service already refunded it)."""
    purchase = PresalePurchase.objects.get(purchase_no=purchase_no)
    if purchase.status != PurchaseStatus.REFUNDED:
        return None
    reason = _refund_reason(purchase_no)
    with transaction.atomic():
        order = Order.objects.get(order_no=purchase.deposit_order_no)
        refund = RefundRequest.objects.filter(order=order, reason=reason).order_by("pk").first()
        if refund is None:
            left = order.paid_fen - order.refunded_fen
            if left <= 0:
                return None
            refund = order_refund_request(
                order_no=order.order_no, reason=reason, actor=SYSTEM, amount_fen=left
            )
        if refund.status == RefundStatus.REQUESTED:
            refund = refund_request_approve(
                refund_no=refund.refund_no, actor=SYSTEM, note="预售定金按规则自动退回"
            )
        return refund.refund_no


@effect_consumer(REFUND_EFFECT)
def _deposit_refund_effect(payload: dict[str, Any]) -> None:
    presale_deposit_refund(purchase_no=str(payload["purchase_no"]))


@effect_consumer(SETTLE_EFFECT)
def _settle_effect(payload: dict[str, Any]) -> None:
    presale_purchases_settle(presale_id=int(payload["presale_id"]))
