"""The host's side of a live session (SPEC LV-3): going live and ending, pinning products, coupon
drops, lucky draws among commenters, and moderation (mute, ban, delete a comment).

Every service runs in one transaction, writes an audit record and tells the room what changed
through `room_publish` (delivered after commit, so nobody sees a change that rolled back).
Flash sales are started and ended by `live.flash_sale.services`; ending a session ends its
running sales.

Who may act: the session's host or an admin (`selectors.host_session_require`). The services trust their
caller on that; the API and the console check it first.
"""

from __future__ import annotations

import datetime as dt
import secrets
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.core.events import publish
from freshloop.live import events
from freshloop.live.flash_sale.services import flash_sale_end
from freshloop.live.host.errors import (
    CouponNotInSession,
    LiveStateInvalid,
    NoDrawCandidates,
    ProductNotInSession,
    ViewerNotInSession,
)
from freshloop.live.host.selectors import draw_candidates, draw_winners, pinned_card
from freshloop.live.locks import (
    live_comment_lock,
    live_products_lock,
    live_session_lock,
    live_viewer_lock,
)
from freshloop.live.models import (
    FlashSale,
    FlashSaleStatus,
    LiveComment,
    LiveProduct,
    LiveSession,
    LiveStatus,
    LiveViewer,
    LuckyDraw,
)
from freshloop.live.room.errors import LiveSessionNotLive
from freshloop.live.room.services import room_publish
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.selectors import coupon_value_text

MAX_MUTE_MINUTES = 24 * 60
MAX_DRAW_WINNERS = 100
MAX_PRIZE_CHARS = 64


# --- the session's state --------------------------------------------------------------------


def _status_payload(session: LiveSession) -> dict[str, Any]:
    return {
        "status": session.status,
        "status_label": LiveStatus(session.status).label,
        "started_at": session.started_at.isoformat() if session.started_at else None,
        "ended_at": session.ended_at.isoformat() if session.ended_at else None,
        "replay_url": session.replay_url,
    }


def _session_move(
    session: LiveSession,
    *,
    actor: Actor,
    allowed_from: LiveStatus,
    to_status: LiveStatus,
    refusal: str,
    action: str,
    stamp_now: str = "",
    values: dict[str, Any] | None = None,
) -> LiveSession:
    """Lock the session, check its status is `allowed_from`, move it to `to_status` (with
    `stamp_now` set to now and `values` set), and audit the move. Returns the locked row."""
    locked = live_session_lock(session.pk)
    if locked.status != allowed_from:
        raise LiveStateInvalid(refusal, detail={"status": locked.status})
    now = clock.now()
    changes: dict[str, Any] = {"status": to_status, "updated_at": now, **(values or {})}
    if stamp_now:
        changes[stamp_now] = now
    for field, value in changes.items():
        setattr(locked, field, value)
    locked.save(update_fields=list(changes))
    audit_record(
        actor=actor,
        action=action,
        target=locked,
        before={"status": allowed_from},
        after={"status": to_status, **(values or {})},
    )
    return locked


def _status_announce(session: LiveSession, locked: LiveSession) -> LiveSession:
    """Tell the room the new status, and copy the locked row's state back onto the caller's
    instance so it is not stale."""
    room_publish(session_code=locked.code, event="status", data=_status_payload(locked))
    for field in ("status", "started_at", "ended_at", "replay_url", "updated_at"):
        setattr(session, field, getattr(locked, field))
    return session


# --- the session's state --------------------------------------------------------------------


@transaction.atomic
def live_session_start(*, session: LiveSession, actor: Actor) -> LiveSession:
    """scheduled → live."""
    locked = _session_move(
        session,
        actor=actor,
        allowed_from=LiveStatus.SCHEDULED,
        to_status=LiveStatus.LIVE,
        refusal="只有预告中的直播可以开播",
        action="live.session_start",
        stamp_now="started_at",
    )
    publish(events.LiveSessionStarted(session_code=locked.code))
    return _status_announce(session, locked)


@transaction.atomic
def live_session_end(*, session: LiveSession, actor: Actor) -> LiveSession:
    """live → ended; the running flash sales end with it (their unpaid claims keep their
    payment window, handled by the flash-sale services)."""
    locked = _session_move(
        session,
        actor=actor,
        allowed_from=LiveStatus.LIVE,
        to_status=LiveStatus.ENDED,
        refusal="只有直播中的场次可以结束",
        action="live.session_end",
        stamp_now="ended_at",
    )
    running = FlashSale.objects.filter(session=locked, status=FlashSaleStatus.RUNNING)
    for sale in running.order_by("pk"):
        flash_sale_end(flash_sale=sale, actor=actor)
    publish(events.LiveSessionEnded(session_code=locked.code))
    return _status_announce(session, locked)


def _clean_replay_url(replay_url: str) -> str:
    url = (replay_url or "").strip()
    if not url or len(url) > 300 or not url.startswith(("https://", "http://", "/")):
        raise InvalidInput.for_fields(
            [("replay_url", "回放地址须为 http(s):// 或 / 开头、不超过 300 个字符")]
        )
    return url


@transaction.atomic
def live_session_replay(*, session: LiveSession, replay_url: str, actor: Actor) -> LiveSession:
    """ended → replay: the room plays `replay_url` from now on."""
    url = _clean_replay_url(replay_url)
    locked = _session_move(
        session,
        actor=actor,
        allowed_from=LiveStatus.ENDED,
        to_status=LiveStatus.REPLAY,
        refusal="只有已结束的直播可以开放回放",
        action="live.session_replay",
        values={"replay_url": url},
    )
    return _status_announce(session, locked)


# --- products -------------------------------------------------------------------------------


def _open_for_selling(session: LiveSession) -> None:
    if session.status not in {LiveStatus.SCHEDULED, LiveStatus.LIVE}:
        raise LiveStateInvalid("直播已结束，不能再置顶商品", detail={"status": session.status})


@transaction.atomic
def product_pin(*, session: LiveSession, sku_id: int, actor: Actor) -> LiveProduct:
    """Pin one of the session's products; the product pinned before is unpinned."""
    locked = live_session_lock(session.pk)
    _open_for_selling(locked)
    products = live_products_lock(locked.pk)
    target = next((p for p in products if p.sku_id == sku_id), None)
    if target is None:
        raise ProductNotInSession(detail={"sku_id": sku_id})
    now = clock.now()
    previous = [p.sku_id for p in products if p.pinned_at is not None and p.pk != target.pk]
    LiveProduct.objects.filter(session=locked, pinned_at__isnull=False).exclude(
        pk=target.pk
    ).update(pinned_at=None)
    target.pinned_at = now
    target.save(update_fields=["pinned_at"])
    audit_record(
        actor=actor,
        action="live.product_pin",
        target=locked,
        before={"pinned_sku_ids": previous},
        after={"pinned_sku_ids": [sku_id]},
    )
    room_publish(session_code=locked.code, event="pin", data=pinned_card(target))
    return target


@transaction.atomic
def product_unpin(*, session: LiveSession, actor: Actor) -> LiveProduct | None:
    """Take the pinned product down; nothing pinned is not an error (returns None)."""
    locked = live_session_lock(session.pk)
    products = live_products_lock(locked.pk)
    pinned = next((p for p in products if p.pinned_at is not None), None)
    if pinned is None:
        return None
    LiveProduct.objects.filter(session=locked, pinned_at__isnull=False).update(pinned_at=None)
    pinned.pinned_at = None
    audit_record(
        actor=actor,
        action="live.product_unpin",
        target=locked,
        before={"pinned_sku_ids": [pinned.sku_id]},
        after={"pinned_sku_ids": []},
    )
    room_publish(session_code=locked.code, event="unpin", data=pinned_card(pinned))
    return pinned


# --- coupons --------------------------------------------------------------------------------


@transaction.atomic
def coupon_drop(*, session: LiveSession, template: CouponTemplate, actor: Actor) -> None:
    """Announce one of the session's live-only coupons; viewers claim it themselves (the
    viewer API issues it with `promotions.services.coupon_issue_in_live`)."""
    if session.status != LiveStatus.LIVE:
        raise LiveSessionNotLive("直播开始后才能发券")
    in_session = session.coupon_templates.filter(pk=template.pk).exists()
    if (
        not in_session
        or not template.live_only
        or template.live_session_id not in {"", session.code}
    ):
        raise CouponNotInSession(detail={"template_id": template.pk})
    if not template.is_active:
        raise CouponNotInSession("这张券已停用", detail={"template_id": template.pk})
    audit_record(
        actor=actor,
        action="live.coupon_drop",
        target=session,
        after={"template_id": template.pk, "template": template.code},
    )
    room_publish(
        session_code=session.code,
        event="coupon_drop",
        data={
            "template_id": template.pk,
            "name": template.name,
            "value": coupon_value_text(template),
        },
    )


# --- lucky draw -----------------------------------------------------------------------------


def _winner_names(viewer_ids: list[int]) -> list[str]:
    names = dict(LiveViewer.objects.filter(pk__in=viewer_ids).values_list("pk", "nickname"))
    return [names.get(viewer_id, "") for viewer_id in viewer_ids]


@transaction.atomic
def lucky_draw(*, session: LiveSession, prize: str, winners_count: int, actor: Actor) -> LuckyDraw:
    """Draw `winners_count` winners among the commenters (all of them when fewer): the seed is
    fresh randomness, the sorted candidates and the seed are stored, so the result can be
    recomputed by anyone (`lucky_draw_verify`)."""
    prize = (prize or "").strip()
    if not 1 <= len(prize) <= MAX_PRIZE_CHARS:
        raise InvalidInput.for_fields([("prize", f"奖品名称需为 1 到 {MAX_PRIZE_CHARS} 个字")])
    if (
        isinstance(winners_count, bool)
        or not isinstance(winners_count, int)
        or not 1 <= winners_count <= MAX_DRAW_WINNERS
    ):
        raise InvalidInput.for_fields([("winners_count", f"中奖人数需为 1 到 {MAX_DRAW_WINNERS}")])
    locked = live_session_lock(session.pk)
    if locked.status not in {LiveStatus.LIVE, LiveStatus.ENDED}:
        raise LiveStateInvalid("直播开始后才能抽奖", detail={"status": locked.status})
    candidates = draw_candidates(session=locked)
    if not candidates:
        raise NoDrawCandidates()
    seed = secrets.token_hex(16)
    k = min(winners_count, len(candidates))
    winners = draw_winners(seed, candidates, k)
    draw = LuckyDraw.objects.create(
        session=locked,
        prize=prize,
        winners_count=k,
        seed=seed,
        candidates=candidates,
        winners=winners,
        actor=actor.label[:64],
        created_at=clock.now(),
    )
    audit_record(
        actor=actor,
        action="live.lucky_draw",
        target=draw,
        after={
            "session": locked.code,
            "prize": prize,
            "seed": seed,
            "candidates": len(candidates),
            "winners": winners,
        },
    )
    room_publish(
        session_code=locked.code,
        event="draw",
        data={
            "id": draw.pk,
            "prize": prize,
            "winners": _winner_names(winners),
            "candidates": len(candidates),
            "seed": seed,
        },
    )
    return draw


# --- moderation -----------------------------------------------------------------------------


def _locked_viewer(session: LiveSession, person_id: int) -> LiveViewer:
    viewer = live_viewer_lock(session_id=session.pk, person_id=person_id, with_person=True)
    if viewer is None:
        raise ViewerNotInSession(detail={"person_id": person_id})
    return viewer


def _viewer_payload(viewer: LiveViewer) -> dict[str, Any]:
    # one_id lets the affected viewer's page recognise itself (the room knows its own OneID).
    return {"viewer_id": viewer.pk, "one_id": viewer.person.one_id, "nickname": viewer.nickname}


def _moderation_audit(
    actor: Actor, action: str, viewer: LiveViewer, before: dict[str, Any], after: dict[str, Any]
) -> None:
    audit_record(
        actor=actor,
        action=action,
        target=viewer,
        before={"session": viewer.session_id, **before},
        after=after,
    )


@transaction.atomic
def viewer_mute(*, session: LiveSession, person_id: int, minutes: int, actor: Actor) -> LiveViewer:
    """No comments from this viewer for `minutes` (1 minute to 24 hours); muting again sets
    a new end, shorter or longer."""
    if isinstance(minutes, bool) or not isinstance(minutes, int):
        raise InvalidInput.for_fields([("minutes", "禁言时长不正确")])
    if not 1 <= minutes <= MAX_MUTE_MINUTES:
        raise InvalidInput.for_fields([("minutes", f"禁言时长需为 1 到 {MAX_MUTE_MINUTES} 分钟")])
    viewer = _locked_viewer(session, person_id)
    before = viewer.muted_until
    viewer.muted_until = clock.now() + dt.timedelta(minutes=minutes)
    viewer.save(update_fields=["muted_until"])
    _moderation_audit(
        actor,
        "live.viewer_mute",
        viewer,
        {"muted_until": before},
        {"muted_until": viewer.muted_until},
    )
    room_publish(
        session_code=session.code,
        event="viewer_muted",
        data={**_viewer_payload(viewer), "muted_until": viewer.muted_until.isoformat()},
    )
    return viewer


@transaction.atomic
def viewer_unmute(*, session: LiveSession, person_id: int, actor: Actor) -> LiveViewer:
    viewer = _locked_viewer(session, person_id)
    if viewer.muted_until is None:
        return viewer
    before = viewer.muted_until
    viewer.muted_until = None
    viewer.save(update_fields=["muted_until"])
    _moderation_audit(actor, "live.viewer_unmute", viewer, {"muted_until": before}, {})
    room_publish(session_code=session.code, event="viewer_unmuted", data=_viewer_payload(viewer))
    return viewer


@transaction.atomic
def viewer_ban(*, session: LiveSession, person_id: int, actor: Actor) -> LiveViewer:
    """Out of the room for this session: cannot join or comment again (the viewer services
    refuse), drops out of lucky draws; their page leaves on the "viewer_banned" event."""
    viewer = _locked_viewer(session, person_id)
    if viewer.banned:
        return viewer
    viewer.banned = True
    viewer.save(update_fields=["banned"])
    _moderation_audit(actor, "live.viewer_ban", viewer, {"banned": False}, {"banned": True})
    room_publish(session_code=session.code, event="viewer_banned", data=_viewer_payload(viewer))
    return viewer


@transaction.atomic
def viewer_unban(*, session: LiveSession, person_id: int, actor: Actor) -> LiveViewer:
    viewer = _locked_viewer(session, person_id)
    if not viewer.banned:
        return viewer
    viewer.banned = False
    viewer.save(update_fields=["banned"])
    _moderation_audit(actor, "live.viewer_unban", viewer, {"banned": True}, {"banned": False})
    return viewer


@transaction.atomic
def comment_delete(*, comment: LiveComment, actor: Actor) -> LiveComment:
    """Hide a comment (soft delete: kept for the audit trail); deleting twice is harmless."""
    locked = live_comment_lock(comment.pk)
    if locked.deleted_at is not None:
        return locked
    locked.deleted_at = clock.now()
    locked.deleted_by = actor.label[:64]
    locked.save(update_fields=["deleted_at", "deleted_by"])
    audit_record(
        actor=actor,
        action="live.comment_delete",
        target=locked,
        before={"text": locked.text, "viewer": locked.viewer_id},
        after={"deleted_at": locked.deleted_at},
    )
    room_publish(session_code=locked.session.code, event="comment_deleted", data={"id": locked.pk})
    comment.deleted_at, comment.deleted_by = locked.deleted_at, locked.deleted_by
    return locked
