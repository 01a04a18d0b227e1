"""Membership API for the logged-in consumer: level, benefits, balance and points ledger."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router

from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.membership.schemas import (
    LevelOut,
    MembershipMeOut,
    NextLevelOut,
    PointsEntryOut,
    PointsPageOut,
    PointsQuery,
)
from freshloop.membership.selectors import membership_summary, points_entries_for_person

router = Router(tags=["会员 membership"], auth=ConsumerAuth())


@router.get("/me", response=MembershipMeOut, summary="我的会员等级、权益与积分")
def me(request: HttpRequest) -> MembershipMeOut:
    summary = membership_summary(person=request_person(request))
    level = summary.level
    upcoming = summary.next_level
    return MembershipMeOut(
        one_id=summary.person.one_id,
        level=LevelOut(
            code=level.code,
            name=level.name,
            discount_percent=level.discount_percent,
            free_shipping=level.free_shipping,
            points_multiplier_bp=level.points_multiplier_bp,
        ),
        points_balance=summary.points_balance,
        points_value_fen=summary.points_value_fen,
        lifetime_spend_fen=summary.lifetime_spend_fen,
        points_earned_total=summary.points_earned_total,
        joined_at=summary.joined_at,
        next_level=NextLevelOut(
            code=upcoming.level.code,
            name=upcoming.level.name,
            min_lifetime_spend_fen=upcoming.level.min_lifetime_spend_fen,
            min_points_earned=upcoming.level.min_points_earned,
            spend_needed_fen=upcoming.spend_needed_fen,
            points_needed=upcoming.points_needed,
        )
        if upcoming
        else None,
    )


@router.get("/me/points", response=PointsPageOut, summary="我的积分明细（最新在前）")
def my_points(request: HttpRequest, query: Query[PointsQuery]) -> PointsPageOut:
    entries = points_entries_for_person(person=request_person(request))
    page = entries[query.offset : query.offset + query.limit]
    return PointsPageOut(
        count=entries.count(),
        limit=query.limit,
        offset=query.offset,
        items=[
            PointsEntryOut(
                id=entry.pk,
                kind=entry.kind,
                kind_label=entry.get_kind_display(),
                delta=entry.delta,
                balance_after=entry.balance_after,
                order_ref=entry.order_ref,
                reason=entry.reason,
                created_at=entry.created_at,
            )
            for entry in page
        ],
    )
