"""The API of community group buying under /api/v1/groupbuy: thin — parse, find the caller,
call a service or selector, answer a schema.

Consumers (bearer token or H5 session) apply to lead, attach to a leader and, once approved,
read their own customers; operators (社群运营 or admin, back-office session) decide on
leaderships."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.permissions import Role
from freshloop.groupbuy.errors import (
    AttachmentLocked,
    AttachToSelfRefused,
    GroupbuyInputInvalid,
    IdNumberTaken,
    InviteCodeInvalid,
    LeaderAlreadyApplied,
    LeaderNotFound,
    LeaderStateInvalid,
    NotAnActiveLeader,
)
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.schemas import (
    AttachIn,
    AttachOut,
    LeaderApplyIn,
    LeaderCustomerOut,
    LeaderCustomersOut,
    LeaderOut,
    LeadersOut,
    LevelIn,
    MyLeadershipOut,
    ReasonIn,
)
from freshloop.groupbuy.selectors import (
    leader_customers,
    leader_for_person,
    leader_masked_id_number,
    leaders_list,
    leadership_of,
)
from freshloop.groupbuy.services import (
    customer_attach,
    leader_apply,
    leader_approve,
    leader_level_set,
    leader_reinstate,
    leader_reject,
    leader_suspend,
)
from freshloop.identity.auth import ConsumerAuth, request_person

router = Router(tags=["社区团购 groupbuy"])

OPERATOR_ROLES = (Role.COMMUNITY_MANAGER,)
LeaderNo = Path(..., min_length=1, max_length=64, title="团长编号")
Limit = Query(20, ge=1, le=100, title="每页条数")
Offset = Query(0, ge=0, le=100_000, title="跳过条数")


def _mine(leader: GroupLeader) -> MyLeadershipOut:
    return MyLeadershipOut(
        leader_no=leader.leader_no,
        display_name=leader.display_name,
        status=leader.status,
        status_label=leader.get_status_display(),
        level_code=leader.level.code,
        level_name=leader.level.name,
        invite_code=leader.invite_code,
        pickup_name=leader.pickup_name,
        pickup_address=dict(leader.pickup_address or {}),
        pickup_hours=leader.pickup_hours,
        id_number_masked=leader_masked_id_number(leader),
        recruiter_display_name=leader.recruiter.display_name if leader.recruiter else None,
        applied_at=leader.applied_at,
        decided_at=leader.decided_at,
        decision_reason=leader.decision_reason,
        suspended_reason=leader.suspended_reason,
    )


def _operator_view(leader: GroupLeader) -> LeaderOut:
    return LeaderOut(
        leader_no=leader.leader_no,
        display_name=leader.display_name,
        status=leader.status,
        status_label=leader.get_status_display(),
        level_code=leader.level.code,
        level_name=leader.level.name,
        pickup_name=leader.pickup_name,
        pickup_province=leader.pickup_province,
        pickup_city=leader.pickup_city,
        pickup_hours=leader.pickup_hours,
        real_name=leader.real_name,
        id_number_masked=leader_masked_id_number(leader),
        recruiter_leader_no=leader.recruiter.leader_no if leader.recruiter else None,
        applied_at=leader.applied_at,
        decided_at=leader.decided_at,
        decided_by=leader.decided_by,
        decision_reason=leader.decision_reason,
        suspended_reason=leader.suspended_reason,
    )


# --- consumers ------------------------------------------------------------------------------


@router.post(
    "/leaders/apply",
    response={201: MyLeadershipOut},
    auth=ConsumerAuth(),
    summary="申请成为团长（提交自提点与实名信息，等待平台审核）",
)
@raises(GroupbuyInputInvalid, LeaderAlreadyApplied, IdNumberTaken)
def leaders_apply(request: HttpRequest, body: LeaderApplyIn) -> Status:
    leader = leader_apply(
        person=request_person(request),
        display_name=body.display_name,
        pickup_name=body.pickup_name,
        pickup_address=body.pickup_address.model_dump(),
        pickup_hours=body.pickup_hours,
        real_name=body.real_name,
        id_number=body.id_number,
        recruiter_invite_code=body.recruiter_invite_code,
    )
    return Status(201, _mine(leader))


@router.get(
    "/leaders/me",
    response=MyLeadershipOut,
    auth=ConsumerAuth(),
    summary="我的团长身份（任何状态：待审核、营业中、已暂停、已驳回）",
)
@raises(LeaderNotFound)
def leaders_me(request: HttpRequest) -> MyLeadershipOut:
    leader = leadership_of(person=request_person(request))
    if leader is None:
        raise LeaderNotFound("您还没有申请成为团长")
    return _mine(leader)


@router.post(
    "/attach",
    response=AttachOut,
    auth=ConsumerAuth(),
    summary="通过团长的邀请链接或二维码绑定团长",
)
@raises(GroupbuyInputInvalid, InviteCodeInvalid, AttachToSelfRefused, AttachmentLocked)
def attach(request: HttpRequest, body: AttachIn) -> AttachOut:
    result = customer_attach(
        person=request_person(request), invite_code=body.invite_code, source=body.source
    )
    leader = result.attachment.leader
    return AttachOut(
        leader_display_name=leader.display_name,
        pickup_name=leader.pickup_name,
        pickup_hours=leader.pickup_hours,
        attached_at=result.attachment.attached_at,
        changed=result.changed,
        locked_until=result.locked_until,
    )


@router.get(
    "/leader/customers",
    response=LeaderCustomersOut,
    auth=ConsumerAuth(),
    summary="团长：我的顾客（仅本人名下，手机号脱敏）",
)
@raises(NotAnActiveLeader)
def leader_customers_list(
    request: HttpRequest, limit: int = Limit, offset: int = Offset
) -> LeaderCustomersOut:
    leader = leader_for_person(person=request_person(request))
    if leader is None:
        raise NotAnActiveLeader()
    total, rows = leader_customers(leader=leader, limit=limit, offset=offset)
    return LeaderCustomersOut(
        total=total,
        items=[
            LeaderCustomerOut(
                display_name=row.display_name,
                masked_phone=row.masked_phone,
                attached_at=row.attached_at,
                source=row.source,
                locked_until=row.locked_until,
            )
            for row in rows
        ],
    )


# --- operators ------------------------------------------------------------------------------


@router.get(
    "/leaders",
    response=LeadersOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：团长列表（可按状态筛选）",
)
@raises()
def leaders_index(
    request: HttpRequest,
    status: str | None = Query(None, pattern="^(applied|active|suspended|rejected)$", title="状态"),
    limit: int = Limit,
    offset: int = Offset,
) -> LeadersOut:
    total, leaders = leaders_list(status=status, limit=limit, offset=offset)
    return LeadersOut(total=total, items=[_operator_view(leader) for leader in leaders])


@router.post(
    "/leaders/{leader_no}/approve",
    response=LeaderOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：通过团长申请",
)
@raises(LeaderNotFound, LeaderStateInvalid)
def leaders_approve(request: HttpRequest, leader_no: str = LeaderNo) -> LeaderOut:
    return _operator_view(leader_approve(actor=request_actor(request), leader_no=leader_no))


@router.post(
    "/leaders/{leader_no}/reject",
    response=LeaderOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：驳回团长申请（申请人可修改后重新申请）",
)
@raises(LeaderNotFound, LeaderStateInvalid, GroupbuyInputInvalid)
def leaders_reject(request: HttpRequest, body: ReasonIn, leader_no: str = LeaderNo) -> LeaderOut:
    leader = leader_reject(actor=request_actor(request), leader_no=leader_no, reason=body.reason)
    return _operator_view(leader)


@router.post(
    "/leaders/{leader_no}/suspend",
    response=LeaderOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：暂停团长（邀请码停止绑定，其顾客可立即改绑其他团长）",
)
@raises(LeaderNotFound, LeaderStateInvalid, GroupbuyInputInvalid)
def leaders_suspend(request: HttpRequest, body: ReasonIn, leader_no: str = LeaderNo) -> LeaderOut:
    leader = leader_suspend(actor=request_actor(request), leader_no=leader_no, reason=body.reason)
    return _operator_view(leader)


@router.post(
    "/leaders/{leader_no}/reinstate",
    response=LeaderOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：恢复已暂停的团长",
)
@raises(LeaderNotFound, LeaderStateInvalid)
def leaders_reinstate(request: HttpRequest, leader_no: str = LeaderNo) -> LeaderOut:
    return _operator_view(leader_reinstate(actor=request_actor(request), leader_no=leader_no))


@router.post(
    "/leaders/{leader_no}/level",
    response=LeaderOut,
    auth=OperatorAuth(*OPERATOR_ROLES),
    summary="运营：手动调整团长等级",
)
@raises(LeaderNotFound, GroupbuyInputInvalid)
def leaders_level(request: HttpRequest, body: LevelIn, leader_no: str = LeaderNo) -> LeaderOut:
    leader = leader_level_set(
        actor=request_actor(request), leader_no=leader_no, level_code=body.level_code
    )
    return _operator_view(leader)


# --- the feature sub-packages' routers, mounted under /api/v1/groupbuy ---
router.add_router("", "freshloop.groupbuy.deals.api.router")  # group deals 拼团 (GB-3)
router.add_router("", "freshloop.groupbuy.commission.api.router")  # commission (GB-2)
router.add_router("", "freshloop.groupbuy.presale.api.router")  # presale 定金 + 尾款 (GB-4)
