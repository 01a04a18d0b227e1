"""Schemas of the host console's API (`host.api`), and the builders that fill them."""

from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import MAX_ID, InputSchema
from freshloop.live.host.selectors import lucky_draw_verify
from freshloop.live.host.services import MAX_DRAW_WINNERS, MAX_MUTE_MINUTES
from freshloop.live.models import (
    FlashSale,
    LiveComment,
    LiveSession,
    LiveStatus,
    LiveViewer,
    LuckyDraw,
)

MAX_COMMENTS_LISTED = 200


class _In(InputSchema):
    """Request bodies of the console: strict, like every API's (core.schemas)."""


class ReplayIn(_In):
    replay_url: str = Field(
        ..., min_length=1, max_length=300, title="回放地址", description="回放地址"
    )


class PinIn(_In):
    sku_id: int = Field(..., ge=1, le=MAX_ID, title="商品规格", description="本场直播商品的 SKU")


class CouponDropIn(_In):
    template_id: int = Field(
        ..., ge=1, le=MAX_ID, title="优惠券模板", description="本场直播专享券模板"
    )


class DrawIn(_In):
    prize: str = Field(..., min_length=1, max_length=64, title="奖品名称", description="奖品")
    winners_count: int = Field(
        ..., ge=1, le=MAX_DRAW_WINNERS, title="中奖人数", description="中奖人数"
    )


class MuteIn(_In):
    minutes: int = Field(
        10, ge=1, le=MAX_MUTE_MINUTES, title="禁言时长（分钟）", description="禁言分钟数"
    )


class FlashSaleIn(_In):
    sku_id: int = Field(..., ge=1, le=MAX_ID, title="商品规格")
    price_fen: int = Field(
        ..., ge=1, le=100_000_000, title="秒杀价（分）", description="秒杀价（分）"
    )
    quantity: int = Field(..., ge=1, le=1_000_000, title="秒杀数量", description="秒杀数量")
    per_user_limit: int = Field(1, ge=1, le=99, title="每人限购", description="每人限购")
    duration_seconds: int = Field(
        ..., ge=1, le=7 * 86400, title="持续时间（秒）", description="持续秒数"
    )


class CommentsQuery(Schema):
    limit: int = Field(50, ge=1, le=MAX_COMMENTS_LISTED)
    include_deleted: bool = False


class SessionStateOut(Schema):
    code: str
    title: str
    status: str
    status_label: str
    started_at: dt.datetime | None
    ended_at: dt.datetime | None
    replay_url: str


class UnpinOut(Schema):
    unpinned_sku_id: int | None


class CouponDropOut(Schema):
    template_id: int
    name: str


class WinnerOut(Schema):
    viewer_id: int
    person_id: int | None
    nickname: str


class DrawOut(Schema):
    id: int
    prize: str
    winners_count: int
    candidates: int
    seed: str
    winners: list[WinnerOut]
    verified: bool
    created_at: dt.datetime


class ViewerOut(Schema):
    viewer_id: int
    person_id: int
    nickname: str
    muted_until: dt.datetime | None
    banned: bool


class ModerationCommentOut(Schema):
    id: int
    viewer_id: int
    person_id: int
    nickname: str
    text: str
    created_at: dt.datetime
    deleted: bool
    muted_until: dt.datetime | None
    banned: bool


class FlashSaleOut(Schema):
    id: int
    sku_id: int
    price_fen: int
    quantity: int
    claimed: int
    paid: int
    per_user_limit: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    status: str


# --- builders -------------------------------------------------------------------------------


def state_out(session: LiveSession) -> SessionStateOut:
    return SessionStateOut(
        code=session.code,
        title=session.title,
        status=session.status,
        status_label=LiveStatus(session.status).label,
        started_at=session.started_at,
        ended_at=session.ended_at,
        replay_url=session.replay_url,
    )


def draw_out(draw: LuckyDraw) -> DrawOut:
    viewers = {v.pk: v for v in LiveViewer.objects.filter(pk__in=[int(w) for w in draw.winners])}
    winners = []
    for viewer_id in draw.winners:
        viewer = viewers.get(int(viewer_id))
        winners.append(
            WinnerOut(
                viewer_id=int(viewer_id),
                person_id=viewer.person_id if viewer else None,
                nickname=viewer.nickname if viewer else "",
            )
        )
    return DrawOut(
        id=draw.pk,
        prize=draw.prize,
        winners_count=draw.winners_count,
        candidates=len(draw.candidates),
        seed=draw.seed,
        winners=winners,
        verified=lucky_draw_verify(draw=draw),
        created_at=draw.created_at,
    )


def viewer_out(viewer: LiveViewer) -> ViewerOut:
    return ViewerOut(
        viewer_id=viewer.pk,
        person_id=viewer.person_id,
        nickname=viewer.nickname,
        muted_until=viewer.muted_until,
        banned=viewer.banned,
    )


def comment_out(comment: LiveComment) -> ModerationCommentOut:
    viewer = comment.viewer
    return ModerationCommentOut(
        id=comment.pk,
        viewer_id=viewer.pk,
        person_id=viewer.person_id,
        nickname=viewer.nickname,
        text=comment.text,
        created_at=comment.created_at,
        deleted=comment.deleted_at is not None,
        muted_until=viewer.muted_until,
        banned=viewer.banned,
    )


def flash_sale_out(sale: FlashSale) -> FlashSaleOut:
    return FlashSaleOut(
        id=sale.pk,
        sku_id=sale.sku_id,
        price_fen=sale.price_fen,
        quantity=sale.quantity,
        claimed=sale.claimed,
        paid=sale.paid,
        per_user_limit=sale.per_user_limit,
        starts_at=sale.starts_at,
        ends_at=sale.ends_at,
        status=sale.status,
    )
