"""Live sessions for viewers (SPEC LV-1, LV-2): scheduling, reservations and reminders, joining
the room bound to a OneID, heartbeats for dwell, comments with moderation, likes, and the
behaviour record behind the per-session funnel.

Everything the room shows live goes out through `room_publish` once the writing transaction
commits (the room's channel, `selectors.room_channel`); the host side is `live.host.services`.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Sequence
from typing import IO, Any

from django.contrib.auth.models import User
from django.core.files.storage import default_storage
from django.db import IntegrityError, transaction
from django.db.models import F
from django.utils.text import slugify

from freshloop.catalog.models import Sku
from freshloop.core import clock, realtime
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.events import publish
from freshloop.core.ids import new_id
from freshloop.core.images import image_store
from freshloop.core.models import AuditLog
from freshloop.core.ratelimit import rate_limit_hit
from freshloop.identity.models import Identifier, IdentifierType, Person, PersonStatus
from freshloop.identity.selectors import person_family_ids
from freshloop.identity.services import IdentifierInput, identify
from freshloop.live import events
from freshloop.live.config import live_config
from freshloop.live.locks import live_viewer_lock
from freshloop.live.models import (
    LiveAction,
    LiveActivity,
    LiveComment,
    LiveProduct,
    LiveReservation,
    LiveSession,
    LiveStatus,
    LiveViewer,
)
from freshloop.live.room.carts import cart_intent_record
from freshloop.live.room.errors import (
    CommentRefused,
    DeviceLoginRequired,
    LiveSessionNotLive,
    ViewerBanned,
    ViewerMuted,
)
from freshloop.live.room.selectors import HEARTBEAT_SECONDS, room_channel, viewers_online_count
from freshloop.messaging.services import sms_send
from freshloop.promotions.models import CouponTemplate

ERASED_NICKNAME = "已注销用户"
"""What an erased person's viewer rows are called from then on (PIPL erasure)."""
ERASED_BY = "PIPL 删除"
REMIND_BEFORE = dt.timedelta(minutes=10)
MAX_COMMENT_CHARS = 100
MAX_NICKNAME_CHARS = 16
# A heartbeat after a long silence (closed the app, lost signal) does not count the gap.
MAX_DWELL_STEP_SECONDS = 2 * HEARTBEAT_SECONDS


def room_publish(*, session_code: str, event: str, data: dict[str, Any]) -> None:
    """Push to everyone in the room (and the host console) once the transaction commits.

    Best effort: a broker that does not answer is logged, never a failed request — the
    comment, like or draw is committed and the pages read it again on their next load.
    """
    realtime.publish_on_commit(room_channel(code=session_code), event, data)


# --- scheduling ---------------------------------------------------------------------------------


@transaction.atomic
def live_session_create(
    *,
    title: str,
    host: User,
    scheduled_at: dt.datetime,
    sku_ids: Sequence[int],
    actor: Actor,
    description: str = "",
    cover_url: str = "",
    coupon_template_ids: Sequence[int] = (),
    members_only: bool = False,
) -> LiveSession:
    title = title.strip()
    if not 1 <= len(title) <= 64:
        raise InvalidInput("直播标题需为 1 到 64 个字", detail={"title": title[:80]})
    if scheduled_at.tzinfo is None:
        raise InvalidInput("开播时间需要带时区")
    skus = list(Sku.objects.filter(pk__in=sku_ids, is_active=True))
    if len(skus) != len(set(sku_ids)):
        raise InvalidInput("直播商品不存在或已下架", detail={"sku_ids": list(sku_ids)})
    templates = list(CouponTemplate.objects.filter(pk__in=coupon_template_ids))
    if any(not template.live_only for template in templates):
        raise InvalidInput(
            "直播间只能挂直播专享券", detail={"coupon_template_ids": list(coupon_template_ids)}
        )
    now = clock.now()
    code = new_id("L")
    session = LiveSession.objects.create(
        code=code,
        title=title,
        description=description[:300],
        cover_url=cover_url[:300],
        host=host,
        scheduled_at=scheduled_at,
        stream_name=slugify(code.lower()),
        members_only=members_only,
        created_at=now,
        updated_at=now,
    )
    session.coupon_templates.set(templates)
    LiveProduct.objects.bulk_create(
        LiveProduct(session=session, sku=sku, sort_order=index)
        for index, sku in enumerate(sorted(skus, key=lambda s: list(sku_ids).index(s.pk)))
    )
    audit_record(actor=actor, action="live.session_create", target=session, after={"title": title})
    return session


def live_session_cover_upload(
    *, session: LiveSession, file: IO[bytes] | bytes, actor: Actor
) -> LiveSession:
    """Store an uploaded cover picture (same checks as product images: core/images.py) and point
    `cover_url` at its 1080 px JPEG. The cover stays a plain address, so an operator can still
    paste a CDN link instead, and the room needs one size only."""
    stored = image_store(file=file, folder=f"live/{session.code}")
    before = session.cover_url
    session.cover_url = default_storage.url(stored.jpeg_1080)
    session.updated_at = clock.now()
    session.save(update_fields=["cover_url", "updated_at"])
    audit_record(
        actor=actor,
        action="live.session_cover_upload",
        target=session,
        before={"cover_url": before},
        after={"cover_url": session.cover_url},
    )
    return session


@transaction.atomic
def live_reserve(*, session: LiveSession, person: Person) -> LiveReservation:
    """Remind me before it starts (idempotent: reserving twice keeps one reservation)."""
    if session.status != LiveStatus.SCHEDULED:
        raise LiveSessionNotLive("直播已开始或已结束，无需预约")
    reservation, _ = LiveReservation.objects.get_or_create(
        session=session, person=person, defaults={"created_at": clock.now()}
    )
    return reservation


def live_reminders_send(*, now: dt.datetime | None = None) -> int:
    """Queue an SMS reminder for reservations of sessions starting within 10 minutes (job)."""
    moment = now or clock.now()
    due = LiveReservation.objects.select_related("session").filter(
        reminded_at__isnull=True,
        session__status=LiveStatus.SCHEDULED,
        session__scheduled_at__lte=moment + REMIND_BEFORE,
        session__scheduled_at__gt=moment - REMIND_BEFORE,
    )
    sent = 0
    for reservation in due.order_by("pk")[:1000]:
        with transaction.atomic():
            claimed = LiveReservation.objects.filter(
                pk=reservation.pk, reminded_at__isnull=True
            ).update(reminded_at=moment)
            if not claimed:
                continue
            phone = (
                Identifier.objects.filter(
                    person_id=reservation.person_id, type=IdentifierType.PHONE
                )
                .order_by("pk")
                .first()
            )
            if phone is None:
                continue  # nobody to text; the room still shows the reservation
            sms_send(
                phone_e164=phone.value,
                template="live_reminder",
                params={
                    "title": reservation.session.title,
                    "time": clock.to_shanghai(reservation.session.scheduled_at).strftime("%H:%M"),
                    "url": f"/m/live/{reservation.session.code}",
                },
                dedupe_key=f"live-remind:{reservation.pk}",
            )
            sent += 1
    return sent


# --- in the room -------------------------------------------------------------------------------


def activity_record(
    *,
    session: LiveSession,
    person: Person,
    action: str,
    sku_id: int | None = None,
    order_ref: str = "",
    amount_fen: int = 0,
    dwell_seconds: int = 0,
) -> None:
    """Record one behaviour for the funnel and announce it to the data hub (after commit)."""
    if action != LiveAction.HEARTBEAT:
        LiveActivity.objects.create(
            session=session,
            person=person,
            action=action,
            sku_id=sku_id,
            order_ref=order_ref,
            amount_fen=amount_fen,
            created_at=clock.now(),
        )
    publish(
        events.LiveViewerEvent(
            session_code=session.code,
            action=action,
            person_id=person.pk,
            one_id=person.one_id,
            sku_id=sku_id,
            order_no=order_ref,
            amount_fen=amount_fen,
            dwell_seconds=dwell_seconds,
        )
    )


def _nickname_for(person: Person, wanted: str) -> str:
    cleaned = re.sub(r"\s+", " ", wanted or "").strip()[:MAX_NICKNAME_CHARS]
    if cleaned:
        return cleaned
    if person.display_name:
        return person.display_name[:MAX_NICKNAME_CHARS]
    return f"鲜友{person.one_id[-4:]}"


@transaction.atomic
def viewer_join(*, session: LiveSession, person: Person, nickname: str = "") -> LiveViewer:
    if session.status not in {LiveStatus.LIVE, LiveStatus.SCHEDULED, LiveStatus.REPLAY}:
        raise LiveSessionNotLive()
    now = clock.now()
    try:
        with transaction.atomic():
            viewer, created = LiveViewer.objects.get_or_create(
                session=session,
                person=person,
                defaults={
                    "nickname": _nickname_for(person, nickname),
                    "first_seen_at": now,
                    "last_seen_at": now,
                },
            )
    except IntegrityError:  # the same person joined from two tabs at once
        viewer, created = LiveViewer.objects.get(session=session, person=person), False
    if viewer.banned:
        raise ViewerBanned()
    if not created:
        LiveViewer.objects.filter(pk=viewer.pk).update(last_seen_at=now)
    activity_record(session=session, person=person, action=LiveAction.JOIN)
    online = viewers_online_count(session=session, now=now)
    LiveSession.objects.filter(pk=session.pk, peak_viewers__lt=online).update(peak_viewers=online)
    room_publish(
        session_code=session.code,
        event="join",
        data={"nickname": viewer.nickname, "online": online},
    )
    return viewer


def _dwell_add(viewer: LiveViewer, now: dt.datetime) -> int:
    """Add the time since the viewer was last seen (capped: a gap longer than two beats was
    not watching) to their dwell; returns the seconds added."""
    step = int(min(max((now - viewer.last_seen_at).total_seconds(), 0), MAX_DWELL_STEP_SECONDS))
    LiveViewer.objects.filter(pk=viewer.pk).update(
        last_seen_at=now, dwell_seconds=F("dwell_seconds") + step
    )
    return step


def viewer_heartbeat(*, session: LiveSession, person: Person) -> int:
    """Every 30 s while watching: adds the time since the last beat (capped) to the dwell."""
    viewer = LiveViewer.objects.filter(session=session, person=person).first()
    if viewer is None:
        raise NotFound("请先进入直播间")
    step = _dwell_add(viewer, clock.now())
    activity_record(session=session, person=person, action=LiveAction.HEARTBEAT, dwell_seconds=step)
    return viewer.dwell_seconds + step


def viewer_leave(*, session: LiveSession, person: Person) -> None:
    """Leaving counts the time since the last beat too: a viewer who stays 20 s and leaves
    before the first heartbeat watched 20 s, not 0."""
    viewer = LiveViewer.objects.filter(session=session, person=person).first()
    if viewer is None:
        return
    step = _dwell_add(viewer, clock.now())
    activity_record(session=session, person=person, action=LiveAction.LEAVE, dwell_seconds=step)


def _check_words(text: str) -> None:
    for word in live_config().sensitive_words:
        if word and word.lower() in text.lower():
            raise CommentRefused("评论包含不当内容，请修改后再发", detail={"reason": "sensitive"})


def comment_text_check(text: str) -> str:
    """The comment as it will be stored — control characters out, trimmed — or CommentRefused
    (empty, over `MAX_COMMENT_CHARS`, a blocked word). The one place these rules live: the API
    runs it before touching the room, `comment_post` runs it for every other caller."""
    cleaned = re.sub(r"[\u0000-\u001f\u007f]", "", text or "").strip()
    if not cleaned:
        raise CommentRefused("评论不能为空")
    if len(cleaned) > MAX_COMMENT_CHARS:
        raise CommentRefused(
            f"评论不能超过 {MAX_COMMENT_CHARS} 个字", detail={"max_chars": MAX_COMMENT_CHARS}
        )
    _check_words(cleaned)
    return cleaned


@transaction.atomic
def comment_post(*, session: LiveSession, person: Person, text: str) -> LiveComment:
    """A viewer's comment: length-limited, word-filtered, rate-limited, refused when muted or
    banned. Stored as typed; every page renders it as text (never as HTML)."""
    if session.status != LiveStatus.LIVE:
        raise LiveSessionNotLive("直播未开始或已结束，暂不能评论")
    viewer = live_viewer_lock(session_id=session.pk, person_id=person.pk)
    if viewer is None:
        raise NotFound("请先进入直播间")
    if viewer.banned:
        raise ViewerBanned()
    now = clock.now()
    if viewer.muted_until and viewer.muted_until > now:
        raise ViewerMuted(detail={"muted_until": viewer.muted_until.isoformat()})
    cleaned = comment_text_check(text)
    config = live_config()
    rate_limit_hit(
        f"live-comment:{session.code}:{person.pk}",
        limit=config.comments_per_minute,
        window_seconds=60,
        message="发言太快了，请 {wait}后再发",
    )
    comment = LiveComment.objects.create(
        session=session, viewer=viewer, text=cleaned, created_at=now
    )
    activity_record(session=session, person=person, action=LiveAction.COMMENT)
    room_publish(
        session_code=session.code,
        event="comment",
        data={
            "id": comment.pk,
            "nickname": viewer.nickname,
            "text": cleaned,
            "at": now.isoformat(),
        },
    )
    return comment


def like(*, session: LiveSession, person: Person, count: int = 1) -> int:
    """Taps on the heart: counted per session (a burst of taps is one request with a count)."""
    if isinstance(count, bool) or not isinstance(count, int) or not 1 <= count <= 50:
        raise InvalidInput("点赞次数不正确", detail={"count": count})
    if session.status != LiveStatus.LIVE:
        raise LiveSessionNotLive()
    with transaction.atomic():
        LiveSession.objects.filter(pk=session.pk).update(likes=F("likes") + count)
        activity_record(session=session, person=person, action=LiveAction.LIKE)
        total = LiveSession.objects.values_list("likes", flat=True).get(pk=session.pk)
        room_publish(session_code=session.code, event="like", data={"likes": total})
    return int(total)


# --- who is watching ----------------------------------------------------------------------------


def guest_for_device(*, device_id: str) -> Person:
    """A viewer who has not logged in: their OneID is known by the device alone (weak).

    The device id is then the guest's only credential, so it stands for a guest and nobody
    else: once the device belongs to a person with anything more (a phone, a WeChat login —
    they logged in on it, and `viewer_device_link` linked it), an anonymous caller presenting
    it is refused with `DeviceLoginRequired` rather than answered with that person's OneID
    and nickname and let act in their name (the room page then starts a new device id).
    """
    person = identify(
        identifiers=[IdentifierInput(type=IdentifierType.DEVICE_ID, value=device_id)],
        source="live",
    ).person
    if Identifier.objects.filter(person=person).exclude(type=IdentifierType.DEVICE_ID).exists():
        raise DeviceLoginRequired()
    return person


def viewer_device_link(*, person: Person, device_id: str) -> Person:
    """A logged-in viewer's device joins their OneID: a guest who watched on this device is
    merged into them (OneID rules apply — a device shared by two verified phones is a conflict,
    not a merge) and their viewer rows follow through `IdentityMerged`."""
    phone = (
        Identifier.objects.filter(person=person, type=IdentifierType.PHONE).order_by("pk").first()
    )
    anchor = (
        IdentifierInput(type=IdentifierType.PHONE, value=phone.value, verified=phone.verified)
        if phone is not None
        else None
    )
    if anchor is None:
        return person  # nothing strong to anchor the device to (e.g. a WeChat-only login)
    return identify(
        identifiers=[anchor, IdentifierInput(type=IdentifierType.DEVICE_ID, value=device_id)],
        source="live",
    ).person


def product_action(*, session: LiveSession, person: Person, action: str, sku_id: int) -> None:
    if action not in {LiveAction.CLICK_PRODUCT, LiveAction.ADD_TO_CART}:
        raise InvalidInput("未知的行为", detail={"action": action})
    if not LiveProduct.objects.filter(session=session, sku_id=sku_id).exists():
        raise NotFound("该商品不在本场直播中", detail={"sku_id": sku_id})
    with transaction.atomic():
        activity_record(session=session, person=person, action=action, sku_id=sku_id)
        if action == LiveAction.ADD_TO_CART:
            cart_intent_record(session=session, person=person, sku_id=sku_id)


# --- PIPL erasure -------------------------------------------------------------------------------


def _replay_buffers_redact(
    session_codes: set[str], comment_ids: set[int], nicknames: set[str]
) -> None:
    """What the rooms' real-time replay buffers still carry of an erased person (their last
    day of comments and joins) is rewritten too: a page reconnecting with Last-Event-ID
    must not be handed the text or the name again."""

    def rewrite(event: str, data: dict[str, Any]) -> dict[str, Any] | None:
        changed = dict(data)
        if event == "comment" and data.get("id") in comment_ids:
            changed["text"] = ""
        if data.get("nickname") in nicknames:
            changed["nickname"] = ERASED_NICKNAME
        return changed if changed != data else None

    for code in sorted(session_codes):
        realtime.redact(room_channel(code=code), rewrite)


@transaction.atomic
def viewer_personal_data_erase(*, person_id: int) -> dict[str, int]:
    """Take what an erased person wrote or was called out of the room's records (PIPL).

    Kept, as a tombstone: every row and its person id — viewing, dwell, likes, the funnel,
    draws, claims — so the session's figures stay right. Removed: the text of their comments
    (now hidden like a moderated one, `deleted_by` "PIPL 删除"), their nickname in every
    session (`ERASED_NICKNAME`), and the comment text a moderator's deletion copied into the
    audit trail (who deleted which comment when stays). Idempotent: a redelivered erasure
    finds nothing left to change. Returns what was scrubbed, by kind.
    """
    person = Person.objects.filter(pk=person_id).first()
    if person is None or person.status != PersonStatus.ERASED:
        return {"comments": 0, "viewers": 0, "audit_records": 0}  # never for a live person
    family = person_family_ids(person_id)
    now = clock.now()
    comments = LiveComment.objects.filter(viewer__person_id__in=family)
    comment_ids = list(comments.values_list("pk", flat=True))
    shown = list(comments.filter(deleted_at__isnull=True).values_list("pk", "session__code"))
    scrubbed = comments.exclude(text="").update(text="")
    comments.filter(deleted_at__isnull=True).update(deleted_at=now, deleted_by=ERASED_BY)
    for comment_id, session_code in shown:
        # Open rooms drop them from the screen, as after a moderator's deletion.
        room_publish(session_code=session_code, event="comment_deleted", data={"id": comment_id})
    erased_viewers = LiveViewer.objects.filter(person_id__in=family)
    old_nicknames = set(erased_viewers.values_list("nickname", flat=True)) - {ERASED_NICKNAME, ""}
    session_codes = set(erased_viewers.values_list("session__code", flat=True))
    viewers = erased_viewers.exclude(nickname=ERASED_NICKNAME).update(nickname=ERASED_NICKNAME)
    _replay_buffers_redact(session_codes, set(comment_ids), old_nicknames)
    audits = 0
    for entry in AuditLog.objects.filter(
        action="live.comment_delete",
        target_type=LiveComment._meta.label,
        target_id__in=[str(pk) for pk in comment_ids],
    ):
        before = entry.before if isinstance(entry.before, dict) else {}
        if before.get("text"):
            # An update through the queryset: the audit trail has no other writer.
            AuditLog.objects.filter(pk=entry.pk).update(before={**before, "text": ""})
            audits += 1
    counts = {"comments": scrubbed, "viewers": viewers, "audit_records": audits}
    if any(counts.values()):
        audit_record(
            actor=Actor.system("live.person_erased"),
            action="live.viewer_erase",
            target=person,
            after=counts,
        )
    return counts
