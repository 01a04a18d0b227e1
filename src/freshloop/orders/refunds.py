"""Order refunds: a buyer's request (whole order or some lines), an operator's decision, and
the money coming back (stock, coupons, points and membership follow). The provider side of a
refund is the payments module's, started by the approval's durable event."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence

from django.db import transaction
from django.db.models import F

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.core.ids import new_id
from freshloop.core.money import allocate
from freshloop.inventory.services import (
    reservation_reduce,
    reservations_release,
)
from freshloop.membership import services as membership
from freshloop.orders import events
from freshloop.orders.errors import (
    OrderStateInvalid,
    PaymentAmountMismatch,
    RefundInvalid,
)
from freshloop.orders.locks import order_lock, refund_request_lock
from freshloop.orders.models import (
    Order,
    OrderLine,
    OrderStatus,
    RefundRequest,
    RefundStatus,
)
from freshloop.orders.state import NOT_YET_SHIPPED, REFUNDABLE, effective_status
from freshloop.orders.timeline import event_base, status_set, timeline_add


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
    order = order_lock(order_no)
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
    status_set(
        order,
        OrderStatus.REFUND_REQUESTED,
        note=f"申请退款 {amount / 100:.2f} 元：{reason}"[:200],
        actor=actor.label,
        status_before_refund=before,
    )
    publish(
        events.OrderRefundRequested(
            **event_base(order), refund_no=refund.refund_no, amount_fen=amount
        )
    )
    return refund


@transaction.atomic
def refund_request_approve(*, refund_no: str, actor: Actor, note: str = "") -> RefundRequest:
    refund = refund_request_lock(refund_no)
    if refund.status != RefundStatus.REQUESTED:
        raise OrderStateInvalid("该退款申请已处理", detail={"status": refund.status})
    refund.status = RefundStatus.APPROVED
    refund.decided_by = actor.label[:64]
    refund.decision_note = note[:200]
    refund.decided_at = clock.now()
    refund.save(update_fields=["status", "decided_by", "decision_note", "decided_at"])
    order = refund.order
    timeline_add(order, order.status, note="退款已同意，原路退回中", actor=actor.label)
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
    refund = refund_request_lock(refund_no)
    if refund.status != RefundStatus.REQUESTED:
        raise OrderStateInvalid("该退款申请已处理", detail={"status": refund.status})
    order = order_lock(refund.order.order_no)
    from_status = order.status
    back = OrderStatus.PARTIALLY_REFUNDED if order.refunded_fen else effective_status(order)
    status_set(order, back, note=f"退款被拒绝：{note}"[:200], actor=actor.label)
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
            **event_base(order),
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
    refund = refund_request_lock(refund_no)
    order = order_lock(order_no)
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
    status_set(
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
            **event_base(order), refund_no=refund_no, amount_fen=amount_fen, fully=fully
        )
    )
    return order


def _release_refunded_units(order: Order, lines: list[dict[str, int]]) -> None:
    by_id = {line.pk: line for line in order.lines.all()}
    for item in lines:
        line = by_id[item["line_id"]]
        reservation_reduce(order_ref=order.order_no, sku_id=line.sku_id, quantity=item["quantity"])
