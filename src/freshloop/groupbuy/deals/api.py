"""The API of group deals 拼团 under /api/v1/groupbuy: thin — parse, find the caller, call a
service or selector, answer a schema.

Anyone may look at a deal and a group (a share card is opened by people not signed in yet);
starting and joining need a consumer; operators set deals up and end them."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Header, Path, Query, Router, Status

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.errors import Conflict, InvalidInput, NotFound
from freshloop.core.permissions import Role
from freshloop.groupbuy.deals.errors import (
    AlreadyInDeal,
    DealInputInvalid,
    DealLimitExceeded,
    DealNotFound,
    DealNotOpen,
    DealSoldOut,
    GroupClosed,
    GroupNotFound,
    LeaderOnlyDeal,
)
from freshloop.groupbuy.deals.models import DealGroup, GroupDeal, GroupMember
from freshloop.groupbuy.deals.schemas import (
    DealCreateIn,
    DealDetailOut,
    DealFiguresOut,
    DealGroupOut,
    DealJoinIn,
    DealJoinOut,
    DealOut,
    MyPlaceOut,
    OperatorDealOut,
)
from freshloop.groupbuy.deals.selectors import (
    deal_figures,
    deal_get,
    deal_open_groups,
    deals_list,
    group_card,
    group_get,
    member_places,
)
from freshloop.groupbuy.deals.services import (
    deal_create,
    deal_end,
    group_join,
    group_open_for_leader,
    group_start,
)
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.orders.errors import ORDER_CREATE_ERRORS
from freshloop.orders.models import Order
from freshloop.orders.schemas import order_out

router = Router(tags=["社区团购·拼团 group deals"])

OPERATOR_ROLES = (Role.COMMUNITY_MANAGER,)
DealNo = Path(..., min_length=1, max_length=40, title="活动编号")
GroupNo = Path(..., min_length=1, max_length=40, title="团编号")
Limit = Query(20, ge=1, le=100, title="每页条数")
Offset = Query(0, ge=0, le=100_000, title="跳过条数")
# The one order path's refusals (coupons and points are never part of a join, but the order
# path that can refuse them is the same one) and the deal's own.
JOIN_ERRORS = (
    *ORDER_CREATE_ERRORS,
    AlreadyInDeal,
    DealLimitExceeded,
    DealSoldOut,
    GroupClosed,
)


def _deal_out(deal: GroupDeal) -> dict[str, Any]:
    return {
        "deal_no": deal.deal_no,
        "title": deal.title,
        "sku_id": deal.sku_id,
        "product_name": deal.sku.product.name,
        "spec": deal.sku.spec,
        "list_price_fen": deal.sku.price_fen,
        "tiers": deal.tiers,
        "min_size": deal.min_size,
        "max_size": deal.max_size,
        "group_minutes": deal.group_minutes,
        "per_person_limit": deal.per_person_limit,
        "quantity": deal.quantity,
        "units_left": max(0, deal.quantity - deal.units_held),
        "leader_only": deal.leader_only,
        "status": deal.status,
        "starts_at": deal.starts_at,
        "ends_at": deal.ends_at,
    }


def group_out(group: DealGroup) -> DealGroupOut:
    card = group_card(group=group)
    return DealGroupOut(
        group_no=group.group_no,
        deal_no=group.deal.deal_no,
        status=group.status,
        status_label=group.get_status_display(),
        leader_display_name=group.leader.display_name if group.leader else None,
        seats=group.seats,
        joined=group.joined,
        member_names=card.member_names,
        price_now_fen=card.price_now_fen,
        final_price_fen=group.final_price_fen,
        next_tier_size=card.next_tier_size,
        next_tier_price_fen=card.next_tier_price_fen,
        people_to_next_tier=card.people_to_next_tier,
        people_to_form=card.people_to_form,
        closes_at=group.closes_at,
        seconds_left=card.seconds_left,
        share_path=f"/m/groupbuy/groups/{group.group_no}",
    )


def _joined(group: DealGroup, order: Order, created: bool) -> Status[DealJoinOut]:
    member = GroupMember.objects.get(order_no=order.order_no)
    fresh = DealGroup.objects.select_related("deal__sku__product", "leader").get(pk=group.pk)
    body = DealJoinOut(
        group=group_out(fresh),
        unit_price_fen=member.unit_price_fen,
        order=order_out(order, detail=True),  # type: ignore[arg-type]
    )
    return Status(201 if created else 200, body)


# --- anyone -------------------------------------------------------------------------------------


@router.get("/deals/{deal_no}", response=DealDetailOut, summary="拼团活动：阶梯价与可参加的团")
@raises(DealNotFound)
def deal_detail(request: HttpRequest, deal_no: str = DealNo) -> dict[str, Any]:
    deal = deal_get(deal_no=deal_no)
    groups = [group_out(group) for group in deal_open_groups(deal=deal)]
    return {**_deal_out(deal), "open_groups": groups}


@router.get(
    "/groups/{group_no}", response=DealGroupOut, summary="一个团的分享卡：已参团、当前价、倒计时"
)
@raises(GroupNotFound)
def group_detail(request: HttpRequest, group_no: str = GroupNo) -> DealGroupOut:
    return group_out(group_get(group_no=group_no))


# --- consumers ----------------------------------------------------------------------------------


@router.post(
    "/deals/{deal_no}/groups",
    auth=ConsumerAuth(),
    response={201: DealJoinOut, 200: DealJoinOut},
    summary="开团并下单（按当前阶梯价付款，成团后按最终阶梯价退差价）；Idempotency-Key 重试返回同一订单",
)
@raises(DealNotFound, DealNotOpen, LeaderOnlyDeal, *JOIN_ERRORS)
def deal_group_start(
    request: HttpRequest,
    body: DealJoinIn,
    deal_no: str = DealNo,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> Status[DealJoinOut]:
    group, (order, created) = group_start(
        deal_no=deal_no,
        person=request_person(request),
        quantity=body.quantity,
        address=body.address.model_dump() if body.address is not None else {},
        address_id=body.address_id,
        idempotency_key=idempotency_key,
    )
    return _joined(group, order, created)


@router.post(
    "/deals/{deal_no}/leader-groups",
    auth=ConsumerAuth(),
    response={201: DealGroupOut},
    summary="团长开团（不下单）：得到可分享的团",
)
@raises(DealNotFound, DealNotOpen, DealSoldOut, LeaderOnlyDeal)
def deal_group_open_for_leader(request: HttpRequest, deal_no: str = DealNo) -> Status[DealGroupOut]:
    group = group_open_for_leader(deal_no=deal_no, leader_person=request_person(request))
    return Status(201, group_out(group))


@router.post(
    "/groups/{group_no}/join",
    auth=ConsumerAuth(),
    response={201: DealJoinOut, 200: DealJoinOut},
    summary="参团并下单；Idempotency-Key 重试返回同一订单",
)
@raises(GroupNotFound, *JOIN_ERRORS)
def deal_group_join(
    request: HttpRequest,
    body: DealJoinIn,
    group_no: str = GroupNo,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> Status[DealJoinOut]:
    order, created = group_join(
        group_no=group_no,
        person=request_person(request),
        quantity=body.quantity,
        address=body.address.model_dump() if body.address is not None else {},
        address_id=body.address_id,
        idempotency_key=idempotency_key,
    )
    member = GroupMember.objects.select_related("group").get(order_no=order.order_no)
    return _joined(member.group, order, created)


@router.get("/me/groups", auth=ConsumerAuth(), response=list[MyPlaceOut], summary="我的拼团")
@raises()
def my_groups(request: HttpRequest) -> list[MyPlaceOut]:
    return [
        MyPlaceOut(
            group_no=place.group.group_no,
            deal_no=place.group.deal.deal_no,
            deal_title=place.group.deal.title,
            group_status=place.group.status,
            group_status_label=place.group.get_status_display(),
            status=place.status,
            status_label=place.get_status_display(),
            order_no=place.order_no,
            quantity=place.quantity,
            unit_price_fen=place.unit_price_fen,
            final_price_fen=place.group.final_price_fen,
            refund_kind=place.refund_kind,
            refund_fen=place.refund_fen,
            joined_at=place.joined_at,
        )
        for place in member_places(person=request_person(request))
    ]


# --- operators ----------------------------------------------------------------------------------


def _operator_deal(deal: GroupDeal) -> dict[str, Any]:
    return {**_deal_out(deal), "figures": DealFiguresOut(**vars(deal_figures(deal=deal)))}


@router.get(
    "/operator/deals",
    auth=OperatorAuth(*OPERATOR_ROLES),
    response=list[OperatorDealOut],
    summary="拼团活动列表（含成团、失败、退款统计）",
)
@raises()
def operator_deals(
    request: HttpRequest, limit: int = Limit, offset: int = Offset
) -> list[dict[str, Any]]:
    return [_operator_deal(deal) for deal in deals_list(limit=limit, offset=offset)]


@router.post(
    "/operator/deals",
    auth=OperatorAuth(*OPERATOR_ROLES),
    response={201: DealOut},
    summary="创建拼团活动（阶梯价、成团时限、每人限购；活动库存立即预留）",
)
@raises(Conflict, DealInputInvalid, DealNotFound, InvalidInput, NotFound)
def operator_deal_create(request: HttpRequest, body: DealCreateIn) -> Status[dict[str, Any]]:
    deal = deal_create(
        title=body.title,
        sku_id=body.sku_id,
        tiers=[tier.model_dump() for tier in body.tiers],
        quantity=body.quantity,
        group_minutes=body.group_minutes,
        per_person_limit=body.per_person_limit,
        leader_only=body.leader_only,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        actor=request_actor(request),
    )
    return Status(201, _deal_out(deal_get(deal_no=deal.deal_no)))


@router.post(
    "/operator/deals/{deal_no}/end",
    auth=OperatorAuth(*OPERATOR_ROLES),
    response=DealOut,
    summary="结束拼团活动（不再开团、参团；已开的团按时限结束）",
)
@raises(DealNotFound)
def operator_deal_end(request: HttpRequest, deal_no: str = DealNo) -> dict[str, Any]:
    deal = deal_end(deal_no=deal_no, actor=request_actor(request))
    return _deal_out(deal_get(deal_no=deal.deal_no))
