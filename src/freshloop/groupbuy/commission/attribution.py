"""Order attribution and pickup (GB-2): a paid order of a leader's customer becomes that
leader's order to hand out at their pickup point, and earns commission.

Rules chosen (docs/groupbuy-commission.md)
- Any channel counts: a customer attached to a leader is that leader's customer whether they
  buy in the group-buying page, the shop or the live room (the leader brought them).
- The leader is the one the customer was attached to when the order was paid (the last
  LeaderAttachmentLog row at or before `paid_at`), and must be active when the payment is
  handled. The attribution window only decides when a customer may switch (GB-1); a customer
  stays attributed to their leader after it, until they switch.
- The order carries a snapshot of the pickup point (name, address, hours) as it was at
  payment, and an 8-digit pickup code drawn with `secrets`, unique per leader.
- GMV = paid − shipping. One attribution per order (idempotent: a repeated OrderPaid finds it).
"""

from __future__ import annotations

import datetime as dt
import secrets
from decimal import Decimal

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.money import multiply_fen
from freshloop.groupbuy.commission.accruals import commission_accrue, commission_reverse
from freshloop.groupbuy.commission.errors import (
    PickupAlreadyDone,
    PickupCodeUnknown,
    PickupOrderClosed,
)
from freshloop.groupbuy.commission.locks import (
    leader_order_lock_by_code,
    leader_order_lock_of_order,
)
from freshloop.groupbuy.commission.models import LeaderOrder, PickupStatus
from freshloop.groupbuy.models import GroupLeader, LeaderAttachmentLog, LeaderStatus
from freshloop.orders.models import Order, OrderStatus

PICKUP_CODE_DIGITS = 8
"""10^8 codes per leader: a leader holds a few hundred open orders, and only the leader can
try a code (another leader's code answers like an unknown one)."""
CLOSED_ORDER_STATUSES = (OrderStatus.CANCELLED, OrderStatus.REFUNDED)
PAID_AT_RESOLUTION = dt.timedelta(seconds=1)


def pickup_code_new() -> str:
    return f"{secrets.randbelow(10**PICKUP_CODE_DIGITS):0{PICKUP_CODE_DIGITS}d}"


def pickup_code_normalise(raw: str) -> str:
    """Digits only: a code read aloud or scanned may carry spaces or dashes."""
    return "".join(ch for ch in raw if ch.isdigit()) if raw else ""


def leader_at(person_id: int, moment: dt.datetime) -> GroupLeader | None:
    """The leader the person was attached to at `moment` (their attachment log)."""
    last = (
        LeaderAttachmentLog.objects.filter(person_id=person_id, at__lte=moment)
        .order_by("-at", "-pk")
        .select_related("to_leader")
        .first()
    )
    return last.to_leader if last is not None else None


def order_attribute(*, order_id: int) -> LeaderOrder | None:
    """Attribute a paid order to the buyer's leader and accrue its commission (the OrderPaid
    subscriber). None when the buyer had no active leader. Idempotent."""
    existing = LeaderOrder.objects.filter(order_id=order_id).first()
    if existing is not None:
        return existing
    order = Order.objects.filter(pk=order_id).first()
    if order is None or order.paid_at is None:
        return None
    # Providers report whole seconds: an attachment in the same second as the payment (a
    # customer who follows a leader's link and pays at once) was before it.
    leader = leader_at(order.person_id, order.paid_at + PAID_AT_RESOLUTION)
    if (
        leader is None
        or leader.status != LeaderStatus.ACTIVE
        or leader.person_id == order.person_id
    ):
        return None
    try:
        with transaction.atomic():
            return _attribute(order, leader, order.paid_at)
    except IntegrityError:
        # The same event handled twice at once: the other delivery's row stands.
        return LeaderOrder.objects.filter(order_id=order_id).first()


def _attribute(order: Order, leader: GroupLeader, paid_at: dt.datetime) -> LeaderOrder:
    paid = order.paid_fen
    gmv = max(paid - order.shipping_fen, 0)
    for attempt in range(5):
        try:
            with transaction.atomic():
                leader_order = LeaderOrder(
                    order=order,
                    order_no=order.order_no,
                    leader=leader,
                    person_id=order.person_id,
                    channel=order.channel,
                    paid_at=paid_at,
                    paid_fen=paid,
                    shipping_fen=order.shipping_fen,
                    gmv_fen=gmv,
                    pickup_code=pickup_code_new(),
                    pickup_name=leader.pickup_name,
                    pickup_hours=leader.pickup_hours,
                    attributed_at=clock.now(),
                )
                leader_order.pickup_address = dict(leader.pickup_address or {})
                leader_order.save(force_insert=True)
            break
        except IntegrityError:
            if attempt == 4 or LeaderOrder.objects.filter(order_id=order.pk).exists():
                raise
            continue  # the drawn code is taken at this leader: draw again
    accruals = commission_accrue(leader_order=leader_order)
    audit_record(
        actor=Actor.system("groupbuy.order_attribute"),
        action="groupbuy.order.attribute",
        target=leader_order,
        after={
            "order_no": order.order_no,
            "leader_no": leader.leader_no,
            "gmv_fen": gmv,
            "commission": [
                {"depth": a.depth, "leader_id": a.beneficiary_id, "amount_fen": a.amount_fen}
                for a in accruals
            ],
        },
    )
    return leader_order


def order_refund_attributed(
    *, order_id: int, refund_no: str, amount_fen: int, fully: bool
) -> LeaderOrder | None:
    """Follow a refund (the OrderRefunded subscriber): the order's refunded GMV and its
    commission, pro rata. Idempotent per refund number."""
    with transaction.atomic():
        leader_order = leader_order_lock_of_order(order_id)
        if leader_order is None or refund_no in leader_order.refund_nos:
            return leader_order
        refunded = min(leader_order.refunded_fen + amount_fen, leader_order.paid_fen)
        fully = fully or refunded >= leader_order.paid_fen
        leader_order.refunded_fen = refunded
        leader_order.refund_nos = [*leader_order.refund_nos, refund_no]
        leader_order.gmv_refunded_fen = (
            leader_order.gmv_fen
            if fully
            else multiply_fen(leader_order.gmv_fen, _share(refunded, leader_order.paid_fen))
        )
        if fully and leader_order.pickup_status == PickupStatus.AWAITING:
            leader_order.pickup_status = PickupStatus.REFUNDED
        leader_order.save(
            update_fields=["refunded_fen", "refund_nos", "gmv_refunded_fen", "pickup_status"]
        )
        reversed_fen = commission_reverse(
            leader_order=leader_order,
            refund_no=refund_no,
            refunded_total_fen=refunded,
            fully=fully,
        )
        audit_record(
            actor=Actor.system("groupbuy.order_refund"),
            action="groupbuy.order.refund",
            target=leader_order,
            after={"refund_no": refund_no, "amount_fen": amount_fen, "reversed_fen": reversed_fen},
        )
    return leader_order


def _share(part: int, whole: int) -> Decimal:
    return Decimal(part) / Decimal(whole) if whole else Decimal(0)


def pickup_confirm(*, leader: GroupLeader, pickup_code: str) -> LeaderOrder:
    """The leader hands the goods over against the buyer's code. Only the leader's own
    orders are found: another leader's code is a 404 like an unknown one. Twice is a 409, so
    is an order cancelled or refunded."""
    code = pickup_code_normalise(pickup_code) if isinstance(pickup_code, str) else ""
    with transaction.atomic():
        leader_order = (
            leader_order_lock_by_code(leader, code) if len(code) == PICKUP_CODE_DIGITS else None
        )
        if leader_order is None:
            raise PickupCodeUnknown()
        if leader_order.pickup_status == PickupStatus.PICKED_UP:
            raise PickupAlreadyDone(
                detail={
                    "order_no": leader_order.order_no,
                    "picked_up_at": leader_order.picked_up_at.isoformat()
                    if leader_order.picked_up_at
                    else None,
                }
            )
        order_status = Order.objects.filter(pk=leader_order.order_id).values_list(
            "status", flat=True
        )[0]
        if (
            leader_order.pickup_status == PickupStatus.REFUNDED
            or order_status in CLOSED_ORDER_STATUSES
        ):
            raise PickupOrderClosed(detail={"order_no": leader_order.order_no})
        leader_order.pickup_status = PickupStatus.PICKED_UP
        leader_order.picked_up_at = clock.now()
        leader_order.save(update_fields=["pickup_status", "picked_up_at"])
        audit_record(
            actor=Actor.consumer(leader.person.one_id),
            action="groupbuy.order.pickup",
            target=leader_order,
            after={"order_no": leader_order.order_no, "leader_no": leader.leader_no},
        )
    return leader_order
