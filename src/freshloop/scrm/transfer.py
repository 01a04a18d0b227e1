"""Staff transfer (客户继承): a leaving staff member's customers (离职继承) or a staff member's
customers given to colleagues while in service (在职继承), through WeCom's transfer APIs.

`contacts_transfer` asks WeCom (≤ 100 customers a call, one call per takeover staff member)
and records one `ContactTransfer` per customer; the leaver's open staff tasks move to the
takers at once. WeCom decides later: `transfers_poll` (the `scrm.transfers_poll` job) reads
`transfer_result` and, when a customer is taken over, makes the taker the contact's 跟进人; the
`transfer_fail` callback (`transfer_fail_record`) ends a transfer the customer refused or the
taker had no room for.
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.messaging.errors import WecomError
from freshloop.messaging.wecom import (
    TRANSFER_MAX_CUSTOMERS,
    TRANSFER_SUCCESS_MSG_MAX,
    WecomClient,
    wecom_client,
)
from freshloop.scrm.errors import ContactTransferInvalid, ContactTransferUnavailable
from freshloop.scrm.models import (
    ContactStatus,
    ContactTransfer,
    StaffTask,
    TaskStatus,
    TransferKind,
    TransferStatus,
    WecomContact,
)

# transfer_result's status → ours (2 等待接替 keeps waiting).
RESULT_STATUS = {
    1: TransferStatus.DONE,
    3: TransferStatus.REFUSED,
    4: TransferStatus.TAKER_FULL,
    5: TransferStatus.NO_RECORD,
}
FAIL_REASONS = {
    "customer_refused": TransferStatus.REFUSED,
    "customer_limit_exceed": TransferStatus.TAKER_FULL,
}


@dataclasses.dataclass(frozen=True)
class TransferOutcome:
    waiting: int  # accepted by WeCom, waiting for the takeover
    rejected: int  # refused by WeCom for that customer (errcode kept on the row)
    skipped: int  # already waiting for an earlier transfer
    tasks_moved: int
    transfers: list[ContactTransfer]


def _assign(
    external_userids: list[str], takeovers: list[str], assignments: dict[str, str]
) -> dict[str, list[str]]:
    """Per taker, their customers: the chosen ones first, the rest round-robin in id order."""
    plan: dict[str, list[str]] = defaultdict(list)
    turn = 0
    for external_userid in sorted(external_userids):
        chosen = assignments.get(external_userid)
        if chosen is None:
            chosen = takeovers[turn % len(takeovers)]
            turn += 1
        plan[chosen].append(external_userid)
    return plan


def _check(
    *,
    handover_userid: str,
    takeover_userids: list[str],
    external_userids: list[str] | None,
    assignments: dict[str, str],
    kind: str,
    transfer_success_msg: str,
    client: WecomClient,
) -> list[WecomContact]:
    problems: list[dict[str, str]] = []
    if kind not in TransferKind.values:
        problems.append({"field": "kind", "message": "继承方式应为离职继承或在职继承"})
    takers = list(dict.fromkeys(takeover_userids))
    if not takers:
        problems.append({"field": "takeover_userids", "message": "请选择接替的员工"})
    if handover_userid in takers:
        problems.append({"field": "takeover_userids", "message": "接替员工不能是原跟进人"})
    try:
        staff = set(client.follow_user_list())
    except WecomError as error:
        raise ContactTransferUnavailable(
            detail={"errcode": error.errcode, "errmsg": error.errmsg[:200]}
        ) from error
    unknown = [userid for userid in takers if userid not in staff]
    if unknown:
        problems.append(
            {
                "field": "takeover_userids",
                "message": f"这些员工不存在或已离职：{'、'.join(unknown)}",
            }
        )
    if kind == TransferKind.IN_SERVICE and handover_userid not in staff:
        problems.append({"field": "handover_userid", "message": "在职继承的原跟进人应在职"})
    if kind == TransferKind.RESIGNED and handover_userid in staff:
        problems.append({"field": "handover_userid", "message": "该员工尚未离职，请用在职继承"})
    if len(transfer_success_msg) > TRANSFER_SUCCESS_MSG_MAX:
        problems.append(
            {
                "field": "transfer_success_msg",
                "message": f"转接提示不能超过 {TRANSFER_SUCCESS_MSG_MAX} 字",
            }
        )
    if external_userids is not None and not 1 <= len(external_userids) <= TRANSFER_MAX_CUSTOMERS:
        problems.append(
            {
                "field": "external_userids",
                "message": f"一次最多转接 {TRANSFER_MAX_CUSTOMERS} 位客户（不填则转接全部）",
            }
        )
    stray = sorted({taker for taker in assignments.values() if taker not in takers})
    if stray:
        problems.append({"field": "assignments", "message": "指定的接替员工不在接替名单中"})
    contacts = list(
        WecomContact.objects.filter(follow_userid=handover_userid, status=ContactStatus.ACTIVE)
    )
    mine = {contact.external_userid: contact for contact in contacts}
    if external_userids is not None:
        foreign = sorted(set(external_userids) - set(mine))
        if foreign:
            problems.append(
                {
                    "field": "external_userids",
                    "message": f"这些客户不是该员工的好友：{'、'.join(foreign[:10])}",
                }
            )
        contacts = [mine[userid] for userid in dict.fromkeys(external_userids) if userid in mine]
    if not problems and not contacts:
        problems.append({"field": "handover_userid", "message": "该员工没有可转接的客户"})
    if problems:
        raise ContactTransferInvalid(detail=problems)
    return contacts


def contacts_transfer(
    *,
    handover_userid: str,
    takeover_userids: list[str],
    kind: str,
    actor: Actor,
    external_userids: list[str] | None = None,
    assignments: dict[str, str] | None = None,
    transfer_success_msg: str = "",
    client: WecomClient | None = None,
) -> TransferOutcome:
    """Hand the leaver's customers (all active ones, or the ≤ 100 named) to the takers:
    `assignments` names a taker per customer, the rest go round-robin. Customers already
    waiting for a transfer are skipped; the leaver's open tasks for the transferred customers
    follow them to their taker (离职继承: all their open tasks, round-robin)."""
    client = client or wecom_client()
    assignments = dict(assignments or {})
    contacts = _check(
        handover_userid=handover_userid,
        takeover_userids=takeover_userids,
        external_userids=external_userids,
        assignments=assignments,
        kind=kind,
        transfer_success_msg=transfer_success_msg,
        client=client,
    )
    takers = list(dict.fromkeys(takeover_userids))
    waiting = set(
        ContactTransfer.objects.filter(
            contact__in=contacts, status=TransferStatus.WAITING
        ).values_list("contact_id", flat=True)
    )
    by_id = {contact.external_userid: contact for contact in contacts}
    plan = _assign(
        [c.external_userid for c in contacts if c.pk not in waiting], takers, assignments
    )
    answers: dict[str, tuple[str, int]] = {}  # external_userid → (taker, errcode)
    for taker, customers in plan.items():
        for start in range(0, len(customers), TRANSFER_MAX_CUSTOMERS):
            chunk = customers[start : start + TRANSFER_MAX_CUSTOMERS]
            try:
                result = client.transfer_customer(
                    handover_userid=handover_userid,
                    takeover_userid=taker,
                    external_userids=chunk,
                    transfer_success_msg=transfer_success_msg,
                    resigned=kind == TransferKind.RESIGNED,
                )
            except WecomError as error:
                if not answers:  # nothing asked yet: refuse the whole request
                    raise ContactTransferUnavailable(
                        detail={"errcode": error.errcode, "errmsg": error.errmsg[:200]}
                    ) from error
                answers.update({userid: (taker, error.errcode or -1) for userid in chunk})
                continue
            codes = {item.external_userid: item.errcode for item in result}
            answers.update({userid: (taker, codes.get(userid, 0)) for userid in chunk})
    now = clock.now()
    with transaction.atomic():
        rows = ContactTransfer.objects.bulk_create(
            [
                ContactTransfer(
                    contact=by_id[userid],
                    kind=kind,
                    handover_userid=handover_userid,
                    takeover_userid=taker,
                    status=TransferStatus.WAITING if errcode == 0 else TransferStatus.REJECTED,
                    errcode=errcode,
                    requested_by=actor.label[:64],
                    requested_at=now,
                    finished_at=None if errcode == 0 else now,
                )
                for userid, (taker, errcode) in sorted(answers.items())
            ]
        )
        moved = _tasks_move(
            handover_userid=handover_userid,
            takers=takers,
            person_taker={
                by_id[userid].person_id: taker
                for userid, (taker, errcode) in answers.items()
                if errcode == 0
            },
            all_open=kind == TransferKind.RESIGNED,
        )
        accepted = sum(1 for _, errcode in answers.values() if errcode == 0)
        audit_record(
            actor=actor,
            action="scrm.contacts_transfer",
            target=rows[0] if rows else contacts[0],
            after={
                "kind": kind,
                "handover_userid": handover_userid,
                "takeover_userids": takers,
                "waiting": accepted,
                "rejected": len(answers) - accepted,
                "skipped": len(waiting),
                "tasks_moved": moved,
                "external_userids": sorted(answers)[:100],
            },
        )
    return TransferOutcome(
        waiting=accepted,
        rejected=len(answers) - accepted,
        skipped=len(waiting),
        tasks_moved=moved,
        transfers=rows,
    )


def _tasks_move(
    *, handover_userid: str, takers: list[str], person_taker: dict[int, str], all_open: bool
) -> int:
    moved = 0
    tasks = StaffTask.objects.filter(assignee=handover_userid, status=TaskStatus.OPEN).order_by(
        "pk"
    )
    turn = 0
    for task in tasks:
        taker = person_taker.get(task.person_id)
        if taker is None:
            if not all_open:
                continue
            taker = takers[turn % len(takers)]
            turn += 1
        StaffTask.objects.filter(pk=task.pk, status=TaskStatus.OPEN).update(assignee=taker)
        moved += 1
    return moved


def transfers_poll(*, client: WecomClient | None = None) -> int:
    """Read WeCom's transfer results for every waiting transfer; a taken-over customer gets
    the taker as 跟进人. Returns how many transfers ended. Idempotent."""
    client = client or wecom_client()
    pairs = (
        ContactTransfer.objects.filter(status=TransferStatus.WAITING)
        .values_list("handover_userid", "takeover_userid", "kind")
        .distinct()
    )
    ended = 0
    for handover, takeover, kind in sorted(set(pairs)):
        statuses: dict[str, int] = {}
        cursor = ""
        while True:
            page = client.transfer_result(
                handover_userid=handover,
                takeover_userid=takeover,
                cursor=cursor,
                resigned=kind == TransferKind.RESIGNED,
            )
            statuses.update({item.external_userid: item.status for item in page.customers})
            cursor = page.next_cursor
            if not cursor:
                break
        waiting = ContactTransfer.objects.filter(
            status=TransferStatus.WAITING,
            handover_userid=handover,
            takeover_userid=takeover,
            kind=kind,
        ).select_related("contact")
        for row in waiting:
            status = RESULT_STATUS.get(statuses.get(row.contact.external_userid, 2))
            if status is not None:
                ended += _finish(row, status)
    return ended


def _finish(row: ContactTransfer, status: str, fail_reason: str = "") -> int:
    now = clock.now()
    with transaction.atomic():
        changed = ContactTransfer.objects.filter(pk=row.pk, status=TransferStatus.WAITING).update(
            status=status, fail_reason=fail_reason[:64], finished_at=now
        )
        if changed and status == TransferStatus.DONE:
            WecomContact.objects.filter(pk=row.contact_id).update(
                follow_userid=row.takeover_userid, status=ContactStatus.ACTIVE, updated_at=now
            )
    return changed


def transfer_fail_record(*, external_userid: str, takeover_userid: str, fail_reason: str) -> int:
    """WeCom's transfer_fail callback: the customer refused, or the taker is full. Ends the
    waiting transfer of that customer to that taker (idempotent)."""
    status = FAIL_REASONS.get(fail_reason, TransferStatus.REFUSED)
    rows = ContactTransfer.objects.filter(
        contact__external_userid=external_userid,
        status=TransferStatus.WAITING,
        **({"takeover_userid": takeover_userid} if takeover_userid else {}),
    )
    return sum(_finish(row, status, fail_reason or "unknown") for row in rows)
