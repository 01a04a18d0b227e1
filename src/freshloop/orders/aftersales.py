"""After-sales cases (售后工单): a buyer reports a problem with some units of a paid order — kind,
reason, description and up to six photos — and customer service approves it (a refund request
for those units is created and linked) or rejects it with a note.

Photos are checked and cut into sizes by `core.images` before anything is written; if the case
cannot be saved, the files written for it are removed again.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import IO, Any

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.core.ids import new_id
from freshloop.core.images import StoredImage, image_check, image_delete, image_store
from freshloop.identity.models import Person
from freshloop.orders import events
from freshloop.orders.errors import (
    AfterSalesAlreadyOpen,
    AfterSalesInvalid,
    OrderNotFound,
    OrderStateInvalid,
)
from freshloop.orders.locks import aftersales_case_lock, order_lock
from freshloop.orders.models import (
    AfterSalesCase,
    AfterSalesKind,
    AfterSalesPhoto,
    AfterSalesReason,
    AfterSalesStatus,
    Order,
    OrderStatus,
)
from freshloop.orders.refunds import order_refund_request, refund_request_approve
from freshloop.orders.state import REFUNDABLE
from freshloop.orders.timeline import event_base, timeline_add

MAX_PHOTOS = 6
MAX_DESCRIPTION = 500
# Paid or later, and not waiting on another refund decision.
AFTERSALES_OPEN_STATUSES = REFUNDABLE | {OrderStatus.PARTIALLY_REFUNDED}


def _checked_lines(order: Order, lines: Sequence[dict[str, Any]]) -> list[dict[str, int]]:
    """The units asked about, each within what its line bought and has not had refunded."""
    if not lines:
        raise AfterSalesInvalid.for_fields([("lines", "请选择需要售后的商品和数量")])
    by_id = {line.pk: line for line in order.lines.all()}
    chosen: dict[int, int] = {}
    for index, item in enumerate(lines):
        line_id = item.get("line_id") if isinstance(item, dict) else None
        quantity = item.get("quantity") if isinstance(item, dict) else None
        if isinstance(line_id, bool) or not isinstance(line_id, int) or line_id not in by_id:
            raise AfterSalesInvalid.for_fields([(f"lines.{index}", "售后商品不属于这个订单")])
        if isinstance(quantity, bool) or not isinstance(quantity, int) or quantity < 1:
            raise AfterSalesInvalid.for_fields([(f"lines.{index}", "售后数量至少为 1")])
        line = by_id[line_id]
        left = line.quantity - line.refunded_quantity
        if chosen.get(line_id, 0) + quantity > left:
            raise AfterSalesInvalid.for_fields(
                [(f"lines.{index}", f"{line.product_name} 最多可申请 {left} 件")]
            )
        chosen[line_id] = chosen.get(line_id, 0) + quantity
    return [{"line_id": line_id, "quantity": quantity} for line_id, quantity in chosen.items()]


def _check_choices(kind: str, reason: str, description: str) -> None:
    problems = []
    if kind not in AfterSalesKind.values:
        problems.append(("kind", "请选择售后类型（仅退款或退货退款）"))
    if reason not in AfterSalesReason.values:
        problems.append(("reason", "请选择售后原因"))
    if len(description) > MAX_DESCRIPTION:
        problems.append(("description", f"问题描述不能超过 {MAX_DESCRIPTION} 个字"))
    if reason == AfterSalesReason.OTHER and not description.strip():
        problems.append(("description", "选择“其他”时请描述遇到的问题"))
    if problems:
        raise AfterSalesInvalid.for_fields(problems)


def aftersales_case_open(
    *,
    person: Person,
    order_no: str,
    kind: str,
    reason: str,
    description: str,
    lines: Sequence[dict[str, Any]],
    photos: Sequence[IO[bytes] | bytes] = (),
) -> AfterSalesCase:
    """Open a case on the buyer's own paid order. Another person's order is not found; an
    unpaid one, or one with a case still waiting, is refused. Photos (≤ 6) must be real
    JPEG/PNG/WebP pictures (`ImageRejected` otherwise)."""
    description = description.strip()
    _check_choices(kind, reason, description)
    if len(photos) > MAX_PHOTOS:
        raise AfterSalesInvalid.for_fields([("photos", f"最多上传 {MAX_PHOTOS} 张照片")])
    for photo in photos:  # every picture is checked before any file is written
        image_check(photo)
    stored: list[StoredImage] = []
    try:
        for photo in photos:
            stored.append(image_store(file=photo, folder=f"aftersales/{order_no[-12:]}"))
        return _open(
            person=person,
            order_no=order_no,
            kind=kind,
            reason=reason,
            description=description,
            lines=lines,
            stored=stored,
        )
    except BaseException:
        for image in stored:
            image_delete(image)
        raise


@transaction.atomic
def _open(
    *,
    person: Person,
    order_no: str,
    kind: str,
    reason: str,
    description: str,
    lines: Sequence[dict[str, Any]],
    stored: list[StoredImage],
) -> AfterSalesCase:
    order = order_lock(order_no)
    if order.person_id != person.pk:
        raise OrderNotFound(detail={"order_no": order_no})
    if order.status not in AFTERSALES_OPEN_STATUSES:
        message = (
            "订单支付后才能申请售后"
            if order.status == OrderStatus.PENDING_PAYMENT
            else f"订单{order.get_status_display()}，暂不能申请售后"
        )
        raise OrderStateInvalid(message, detail={"status": order.status})
    if order.aftersales_cases.filter(status=AfterSalesStatus.SUBMITTED).exists():
        raise AfterSalesAlreadyOpen(detail={"order_no": order_no})
    checked = _checked_lines(order, lines)
    try:
        with transaction.atomic():
            case = AfterSalesCase.objects.create(
                case_no=new_id("AS"),
                order=order,
                person=person,
                kind=kind,
                reason=reason,
                description=description,
                lines=checked,
                created_at=clock.now(),
            )
    except IntegrityError:  # a second tab opened one at the same moment
        raise AfterSalesAlreadyOpen(detail={"order_no": order_no}) from None
    AfterSalesPhoto.objects.bulk_create(
        AfterSalesPhoto(
            case=case,
            sort_order=index,
            original=image.original,
            webp_400=image.webp_400,
            webp_1080=image.webp_1080,
            jpeg_1080=image.jpeg_1080,
            width=image.width,
            height=image.height,
        )
        for index, image in enumerate(stored)
    )
    actor = Actor.consumer(person.one_id)
    timeline_add(
        order,
        order.status,
        note=f"申请售后（{case.get_kind_display()}）：{case.get_reason_display()}",
        actor=actor.label,
    )
    audit_record(
        actor=actor,
        action="orders.aftersales_open",
        target=case,
        after={"order_no": order_no, "kind": kind, "reason": reason, "lines": checked},
    )
    publish(
        events.AfterSalesCaseOpened(
            **event_base(order), case_no=case.case_no, kind=kind, reason=reason
        )
    )
    return case


@transaction.atomic
def aftersales_case_approve(*, case_id: int, actor: Actor, note: str = "") -> AfterSalesCase:
    """Agree to the case: a refund request for its units is created and linked to the case.

    仅退款: agreeing is the refund decision too, so the refund is approved in the same step and
    paid back at once (one click for customer service, as in Youzan's 售后 queue). 退货退款:
    the refund waits in the refund queue until the goods are back (the fulfillment issue's
    return shipment will approve it on receipt)."""
    case = aftersales_case_lock(case_id)
    if case.status != AfterSalesStatus.SUBMITTED:
        raise OrderStateInvalid("该售后工单已处理", detail={"status": case.status})
    refund = order_refund_request(
        order_no=case.order.order_no,
        reason=f"售后{case.case_no}：{case.get_reason_display()}"[:200],
        actor=actor,
        lines=case.lines,
    )
    case.status = AfterSalesStatus.APPROVED
    case.refund = refund
    case.decided_by = actor.label[:64]
    case.decision_note = note.strip()[:200]
    case.decided_at = clock.now()
    case.save(update_fields=["status", "refund", "decided_by", "decision_note", "decided_at"])
    audit_record(
        actor=actor,
        action="orders.aftersales_approve",
        target=case,
        before={"status": AfterSalesStatus.SUBMITTED},
        after={"status": case.status, "refund_no": refund.refund_no, "note": case.decision_note},
    )
    publish(
        events.AfterSalesCaseApproved(
            **event_base(case.order), case_no=case.case_no, refund_no=refund.refund_no
        )
    )
    if case.kind == AfterSalesKind.REFUND_ONLY:
        case.refund = refund_request_approve(
            refund_no=refund.refund_no, actor=actor, note=f"售后{case.case_no}同意仅退款"
        )
    return case


@transaction.atomic
def aftersales_case_reject(*, case_id: int, actor: Actor, note: str) -> AfterSalesCase:
    """Refuse the case with a note the buyer reads on the order page."""
    if not note.strip():
        raise AfterSalesInvalid.for_fields([("note", "请填写拒绝原因")])
    case = aftersales_case_lock(case_id)
    if case.status != AfterSalesStatus.SUBMITTED:
        raise OrderStateInvalid("该售后工单已处理", detail={"status": case.status})
    case.status = AfterSalesStatus.REJECTED
    case.decided_by = actor.label[:64]
    case.decision_note = note.strip()[:200]
    case.decided_at = clock.now()
    case.save(update_fields=["status", "decided_by", "decision_note", "decided_at"])
    order = case.order
    timeline_add(order, order.status, note=f"售后被拒绝：{case.decision_note}", actor=actor.label)
    audit_record(
        actor=actor,
        action="orders.aftersales_reject",
        target=case,
        before={"status": AfterSalesStatus.SUBMITTED},
        after={"status": case.status, "note": case.decision_note},
    )
    publish(
        events.AfterSalesCaseRejected(
            **event_base(order), case_no=case.case_no, note=case.decision_note
        )
    )
    return case
