"""Mass messages (企业群发, SC-1): compose, schedule, cancel and send to a data hub segment.

A mass message goes to each customer of its audience who is an active WeCom contact, from
that customer's own 跟进人, as a 1:1 WeCom message through the marketing policy
(`messaging.services.marketing_send_many`): consent, frequency caps, quiet hours (a send at
23:00 is held to 08:00) and WeCom's own per-customer limit decide each one. The send runs as
the huey task `scrm.broadcast_send` at the scheduled time (and the minute job
`scrm.broadcasts_due` picks up any it missed); each recipient's decision has the dedupe key
`mass:<id>:<person>`, so a send run twice — a retried task, two workers — sends nothing
twice. The reads (preview counts, results, attribution) are in `broadcast_results.py`.
A message marked 智能发送 is sent recipient by recipient at its planned hours instead
(`smart_send.py`); any change to it here clears its plan.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q

from freshloop.catalog.selectors import product_get_for_channel
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.datahub.segments.errors import SegmentNotFound
from freshloop.datahub.segments.selectors import segment_get
from freshloop.messaging.services import (
    WECOM_CHANNEL,
    MarketingSend,
    marketing_send_many,
    wecom_payload,
)
from freshloop.scrm.broadcast_results import (
    TRACKING_PREFIX,
    audience_contacts,
    audience_person_ids,
    source_of,
)
from freshloop.scrm.errors import BroadcastInvalid, BroadcastNotEditable
from freshloop.scrm.locks import broadcast_lock
from freshloop.scrm.models import (
    Broadcast,
    BroadcastClick,
    BroadcastKind,
    BroadcastStatus,
    SmartSendSlot,
    SmartSlotStatus,
)

MAX_TITLE_CHARS = 64
MAX_TEXT_BYTES = 4000  # add_msg_template: text.content at most 4,000 bytes (WeCom's docs)
MAX_AHEAD = dt.timedelta(days=30)
PAST_GRACE = dt.timedelta(minutes=1)  # a time picked "now" in the form is a minute old
SEND_BATCH = 1000
SHOP_CHANNEL = "shop"
ALL_CONTACTS_LABEL = "全部企业微信好友"
EDITABLE = (BroadcastStatus.DRAFT, BroadcastStatus.SCHEDULED)


@dataclass(frozen=True)
class BroadcastDraft:
    """What the composer sends; `check` turns it into the model's fields or BroadcastInvalid."""

    title: str
    kind: str
    text: str = ""
    image_url: str = ""
    product_id: int | None = None
    miniprogram: dict[str, str] | None = None
    segment_id: int | None = None
    scheduled_at: dt.datetime | None = None  # None: now


def _url_ok(value: str) -> bool:
    return value.startswith(("https://", "http://")) and len(value) <= 500 and " " not in value


def _miniprogram(value: dict[str, str] | None, problems: list[tuple[str, str]]) -> dict[str, str]:
    card = {key: str((value or {}).get(key, "")).strip() for key in MINIPROGRAM_FIELDS}
    for key, (label, limit) in MINIPROGRAM_FIELDS.items():
        if not card[key] or len(card[key]) > limit:
            problems.append((f"miniprogram.{key}", f"请填写{label}（最多 {limit} 字符）"))
    return card


MINIPROGRAM_FIELDS = {
    "title": ("小程序卡片标题", 64),
    "appid": ("小程序 AppID", 64),
    "page": ("小程序页面路径", 256),
    "pic_media_id": ("封面图 media_id", 128),
}


def broadcast_check(draft: BroadcastDraft, *, now: dt.datetime) -> dict[str, Any]:
    """The draft as the model's fields, or BroadcastInvalid naming every wrong field."""
    problems: list[tuple[str, str]] = []
    title = draft.title.strip()
    if not title or len(title) > MAX_TITLE_CHARS:
        problems.append(("title", f"请填写群发名称（最多 {MAX_TITLE_CHARS} 字）"))
    kind = draft.kind
    if kind not in BroadcastKind.values:
        problems.append(("kind", "内容类型只能是文字、图片、小程序卡片或商品链接"))
    text = draft.text.strip()
    if len(text.encode()) > MAX_TEXT_BYTES:
        problems.append(
            ("text", f"文字内容超过企业微信的上限 {MAX_TEXT_BYTES} 字节（约 1333 个汉字）")
        )
    elif kind == BroadcastKind.TEXT and not text:
        problems.append(("text", "请填写群发的文字内容"))
    fields: dict[str, Any] = {
        "title": title,
        "kind": kind,
        "text": text,
        "image_url": "",
        "product_id": None,
        "miniprogram": {},
    }
    if kind == BroadcastKind.IMAGE:
        if not _url_ok(draft.image_url.strip()):
            problems.append(("image_url", "请填写以 https:// 开头的图片地址"))
        fields["image_url"] = draft.image_url.strip()
    elif kind == BroadcastKind.PRODUCT:
        try:
            product_get_for_channel(product_id=draft.product_id or 0, channel=SHOP_CHANNEL)
        except DomainError:
            problems.append(("product_id", "请选择在商城销售中的商品"))
        fields["product_id"] = draft.product_id
    elif kind == BroadcastKind.MINIPROGRAM:
        fields["miniprogram"] = _miniprogram(draft.miniprogram, problems)
    label = ALL_CONTACTS_LABEL
    if draft.segment_id is not None:
        try:
            label = segment_get(segment_id=draft.segment_id).name
        except SegmentNotFound:
            problems.append(("segment_id", "人群不存在"))
    fields["segment_id"] = draft.segment_id
    fields["audience_label"] = label[:64]
    at = draft.scheduled_at or now
    if at.tzinfo is None:
        problems.append(("scheduled_at", "发送时间需要带时区"))
    elif at < now - PAST_GRACE:
        problems.append(("scheduled_at", "发送时间不能早于现在"))
    elif at > now + MAX_AHEAD:
        problems.append(("scheduled_at", "发送时间最多安排在 30 天内"))
    fields["scheduled_at"] = max(at, now) if at.tzinfo is not None else now
    if problems:
        raise BroadcastInvalid.for_fields(problems)
    return fields


def broadcast_create(*, draft: BroadcastDraft, actor: Actor) -> Broadcast:
    """A new mass message, as a draft: nothing is sent until it is scheduled."""
    now = clock.now()
    fields = broadcast_check(draft, now=now)
    with transaction.atomic():
        broadcast = Broadcast.objects.create(
            **fields, created_by=actor.label[:64], created_at=now, updated_at=now
        )
        audit_record(
            actor=actor, action="scrm.broadcast_create", target=broadcast, after=_snapshot(fields)
        )
    return broadcast


def _snapshot(fields: dict[str, Any]) -> dict[str, Any]:
    return {
        key: value.isoformat() if isinstance(value, dt.datetime) else value
        for key, value in fields.items()
        if key != "text"
    }


def _smart_plan_clear(broadcast: Broadcast) -> None:
    """A changed mass message's smart-send plan no longer holds (another audience, another
    time): its slots go, and the send plans it again if nobody does before."""
    SmartSendSlot.objects.filter(broadcast=broadcast).delete()
    broadcast.smart_planned_at = None


def _editable(broadcast_id: int) -> Broadcast:
    broadcast = broadcast_lock(broadcast_id=broadcast_id)
    if broadcast.status not in EDITABLE:
        raise BroadcastNotEditable(detail={"status": broadcast.status})
    return broadcast


def broadcast_update(*, broadcast: Broadcast, draft: BroadcastDraft, actor: Actor) -> Broadcast:
    """Change a draft or a scheduled mass message (a scheduled one keeps its place, at its
    new time); one that started sending, was sent or cancelled is 409."""
    now = clock.now()
    fields = broadcast_check(draft, now=now)
    with transaction.atomic():
        locked = _editable(broadcast.pk)
        for key, value in fields.items():
            setattr(locked, key, value)
        _smart_plan_clear(locked)
        locked.updated_at = now
        locked.save()
        audit_record(
            actor=actor, action="scrm.broadcast_update", target=locked, after=_snapshot(fields)
        )
    _send_when_due(locked)
    return locked


def broadcast_schedule(*, broadcast: Broadcast, actor: Actor, send_now: bool = False) -> Broadcast:
    """Put a draft on the schedule (or move a scheduled one to now with `send_now`). It is sent
    at `scheduled_at` by the task queued here; a time already past refuses (422)."""
    now = clock.now()
    with transaction.atomic():
        locked = _editable(broadcast.pk)
        if send_now:
            locked.scheduled_at = now
        elif locked.scheduled_at < now - PAST_GRACE:
            raise BroadcastInvalid.for_fields([("scheduled_at", "发送时间已过，请重新选择")])
        before = locked.status
        locked.status = BroadcastStatus.SCHEDULED
        _smart_plan_clear(locked)
        locked.updated_at = now
        locked.save(update_fields=["scheduled_at", "status", "updated_at", "smart_planned_at"])
        audit_record(
            actor=actor,
            action="scrm.broadcast_schedule",
            target=locked,
            before={"status": before},
            after={"status": locked.status, "scheduled_at": locked.scheduled_at.isoformat()},
        )
    _send_when_due(locked)
    return locked


def broadcast_cancel(*, broadcast: Broadcast, actor: Actor) -> Broadcast:
    """Cancel a draft or a scheduled mass message; one already sending or sent is 409."""
    with transaction.atomic():
        locked = _editable(broadcast.pk)
        before = locked.status
        locked.status = BroadcastStatus.CANCELLED
        _smart_plan_clear(locked)
        locked.updated_at = clock.now()
        locked.save(update_fields=["status", "updated_at", "smart_planned_at"])
        audit_record(
            actor=actor,
            action="scrm.broadcast_cancel",
            target=locked,
            before={"status": before},
            after={"status": locked.status},
        )
    return locked


def _send_when_due(broadcast: Broadcast) -> None:
    """Queue the send task for the scheduled time, after commit (huey's `eta`)."""
    if broadcast.status != BroadcastStatus.SCHEDULED:
        return
    from freshloop.scrm.tasks import broadcast_send_task

    broadcast_id, at = broadcast.pk, broadcast.scheduled_at
    transaction.on_commit(lambda: broadcast_send_task.schedule((broadcast_id,), eta=at))


# --- sending ------------------------------------------------------------------------------


def tracking_url(broadcast: Broadcast) -> str:
    """The product link of a mass message, carrying its tracking code (`?src=bc-<id>`)."""
    base = settings.FRESHLOOP.public_base_url
    return f"{base}/m/products/{broadcast.product_id}?src={broadcast.tracking_code}"


def _product_link(broadcast: Broadcast) -> list[dict[str, str]]:
    if broadcast.kind != BroadcastKind.PRODUCT or broadcast.product_id is None:
        return []
    try:
        product = product_get_for_channel(product_id=broadcast.product_id, channel=SHOP_CHANNEL)
    except DomainError:
        return []  # taken off the shop since: the text goes without the card
    sku = product.skus.order_by("pk").first()
    desc = f"{sku.spec} · ¥{sku.price_fen / 100:.2f}" if sku is not None else ""
    return [{"title": product.name, "desc": desc, "url": tracking_url(broadcast)}]


def broadcast_payload(broadcast: Broadcast, *, sender: str) -> dict[str, Any]:
    """The channel "wecom" payload one customer's 跟进人 sends."""
    return wecom_payload(
        sender=sender,
        text=broadcast.text,
        links=_product_link(broadcast),
        images=[broadcast.image_url] if broadcast.kind == BroadcastKind.IMAGE else None,
        miniprograms=[broadcast.miniprogram]
        if broadcast.kind == BroadcastKind.MINIPROGRAM
        else None,
    )


def _payload_for(
    payloads: dict[str, dict[str, Any]], broadcast: Broadcast, sender: str
) -> dict[str, Any]:
    if not payloads:
        payloads[""] = broadcast_payload(broadcast, sender="")
    if sender not in payloads:
        payloads[sender] = {**payloads[""], "sender": sender}
    return payloads[sender]


@dataclass(frozen=True)
class SendOutcome:
    broadcast_id: int
    started: bool  # False: not due, or not scheduled / sending
    recipients: int  # sends passed to the policy (active WeCom contacts)
    no_contact: int


def broadcast_send(*, broadcast_id: int, now: dt.datetime | None = None) -> SendOutcome:
    """Send a due mass message: claim it (scheduled → sending), then pass the sends to the
    policy in batches of 1,000, each batch in its own transaction, and mark it sent.

    Exactly once per customer: every send's dedupe key is `mass:<id>:<person>`, so a run
    that crashed half way and is run again (`sending` is resumed) decides only the rest."""
    moment = now or clock.now()
    with transaction.atomic():
        broadcast = broadcast_lock(broadcast_id=broadcast_id)
        # Read under the lock: the flag changes only while the message is editable, so a
        # message marked 智能发送 a moment before its time never goes to everyone at once.
        smart = broadcast.smart_send
        due = broadcast.status == BroadcastStatus.SCHEDULED and broadcast.scheduled_at <= moment
        if not smart:
            if not (due or broadcast.status == BroadcastStatus.SENDING):
                return SendOutcome(broadcast_id, started=False, recipients=0, no_contact=0)
            if due:
                broadcast.status = BroadcastStatus.SENDING
                broadcast.started_at = moment
                broadcast.save(update_fields=["status", "started_at"])
    if smart:
        from freshloop.scrm.smart_send import smart_broadcast_send  # it builds on this file

        return smart_broadcast_send(broadcast_id=broadcast_id, now=moment)
    people = audience_person_ids(segment_id=broadcast.segment_id)
    contacts = audience_contacts(people)
    recipients = [person_id for person_id in people if person_id in contacts]
    source = source_of(broadcast.pk)
    payloads: dict[str, dict[str, Any]] = {}  # per sender: the product is read once
    for start in range(0, len(recipients), SEND_BATCH):
        batch = recipients[start : start + SEND_BATCH]
        sends = [
            MarketingSend(
                person_id=person_id,
                payload=_payload_for(payloads, broadcast, contacts[person_id].follow_userid),
                purpose="mass_message",
                source=source,
                dedupe_key=f"{source}:{person_id}",
                destination=contacts[person_id].external_userid,
            )
            for person_id in batch
        ]
        with transaction.atomic():
            marketing_send_many(channel=WECOM_CHANNEL, sends=sends, now=moment)
    Broadcast.objects.filter(pk=broadcast.pk, status=BroadcastStatus.SENDING).update(
        status=BroadcastStatus.SENT,
        sent_at=clock.now(),
        audience_size=len(people),
        no_contact=len(people) - len(recipients),
    )
    return SendOutcome(
        broadcast.pk,
        started=True,
        recipients=len(recipients),
        no_contact=len(people) - len(recipients),
    )


def broadcasts_due_ids(*, now: dt.datetime | None = None) -> list[int]:
    """The mass messages whose time has come and that were not sent (their task lost, the
    worker down at the time), and the sends interrupted half way: the minute job's list."""
    moment = now or clock.now()
    planned = SmartSendSlot.objects.filter(broadcast=OuterRef("pk"), status=SmartSlotStatus.PLANNED)
    return list(
        Broadcast.objects.filter(
            status__in=[BroadcastStatus.SCHEDULED, BroadcastStatus.SENDING],
            scheduled_at__lte=moment,
        )
        # A smart-send message stays sending for days: it is due only when one of its
        # recipients' hours has come, or when none is left (to mark it sent), so it does not
        # hold one of the 20 places every minute.
        .filter(
            Q(smart_send=False)
            | Q(status=BroadcastStatus.SCHEDULED)
            | Exists(planned.filter(send_at__lte=moment))
            | ~Exists(planned)
        )
        .order_by("scheduled_at", "pk")
        .values_list("pk", flat=True)[:20]
    )


def broadcast_id_from_code(code: str) -> int | None:
    """`bc-7` → 7; anything else (a journey's code, garbage) → None."""
    if not code.startswith(TRACKING_PREFIX):
        return None
    number = code[len(TRACKING_PREFIX) :]
    if not number.isdigit() or len(number) > 12:
        return None
    return int(number)


def broadcast_click_record(*, tracking_code: str, visitor: str, person_id: int | None) -> bool:
    """Someone opened a mass message's product link (`?src=bc-<id>`): counted once per
    visitor. Returns whether it was a new click; unknown codes are ignored."""
    broadcast_id = broadcast_id_from_code(tracking_code)
    if broadcast_id is None or not visitor:
        return False
    if not Broadcast.objects.filter(
        pk=broadcast_id, status__in=[BroadcastStatus.SENDING, BroadcastStatus.SENT]
    ).exists():
        return False
    try:
        with transaction.atomic():
            BroadcastClick.objects.create(
                broadcast_id=broadcast_id,
                visitor=visitor[:64],
                person_id=person_id,
                clicked_at=clock.now(),
            )
    except IntegrityError:
        return False
    return True
