"""The community API, mounted at /api/v1/community (one block per feature)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Path, Query, Router, Status

from freshloop.community import selectors, services
from freshloop.community.errors import (
    DrawInvalid,
    DrawNoCandidates,
    DrawNotFound,
    InboundDisabled,
    InboundMalformed,
    InboundSignatureInvalid,
    InboundTimestampInvalid,
    InboundTooLarge,
    ReplyNotFound,
    ReplyNotPending,
    RuleInvalid,
    RuleNotFound,
    SidebarNotConfigured,
    WecomTicketFailed,
)
from freshloop.community.inbound import SIGNATURE_HEADER, SKEW_SECONDS, TIMESTAMP_HEADER
from freshloop.community.jssdk import agent_config
from freshloop.community.models import AssistantReply, AssistantRule, GroupDraw, ReplyStatus
from freshloop.community.roles import COMMUNITY_ROLES, SIDEBAR_ROLES
from freshloop.community.schemas import (
    INBOUND_BODY_OPENAPI,
    CheckInIn,
    CheckInOut,
    GroupDrawIn,
    GroupDrawOut,
    InboundOut,
    ReplyListOut,
    ReplyOut,
    ReplySentIn,
    RuleIn,
    RuleListOut,
    RuleOut,
)
from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.schemas import MAX_ID
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.membership.errors import InsufficientPoints, InvalidPointsRequest, MemberNotFound

router = Router(tags=["社群运营"])


# --- Groups, 活码, welcome templates, topics, challenges, health (community managers) ------


from freshloop.community import selectors as group_selectors  # noqa: E402
from freshloop.community import services as group_services  # noqa: E402
from freshloop.community.errors import (  # noqa: E402
    ChallengeNotFound,
    CommunityInvalid,
    GroupNotFound,
    JoinCodeNotFound,
    TopicNotFound,
    WelcomeTemplateNotFound,
)
from freshloop.community.health import group_health, overall_health  # noqa: E402
from freshloop.community.presenters import (  # noqa: E402
    challenge_out,
    group_out,
    health_out,
    join_code_out,
    topic_out,
    welcome_templates_out,
)
from freshloop.community.schemas import (  # noqa: E402
    ChallengeIn,
    ChallengeListOut,
    ChallengeOut,
    GroupDetailOut,
    GroupListOut,
    GroupOut,
    GroupWelcomeIn,
    HealthOut,
    JoinCodeGroupIn,
    JoinCodeIn,
    JoinCodeListOut,
    JoinCodeOut,
    MemberOut,
    SyncOut,
    TopicIn,
    TopicListOut,
    TopicOut,
    WelcomeTemplateIn,
    WelcomeTemplateListOut,
    WelcomeTemplateOut,
)
from freshloop.identity.errors import (  # noqa: E402
    ConflictingIdentifiers,
    InvalidIdentifier,
    TooManyIdentifiers,
)
from freshloop.messaging.wecom import SandboxWecomClient  # noqa: E402
from freshloop.promotions.models import CouponTemplate  # noqa: E402

groups_router = Router(tags=["社群运营"], auth=OperatorAuth(*COMMUNITY_ROLES))

ChatId = Path(..., min_length=1, max_length=128, description="企业微信客户群 chat_id")
JoinCodeId = Path(..., ge=1, le=MAX_ID, description="活码编号")
TopicId = Path(..., ge=1, le=MAX_ID, description="话题编号")
ChallengeId = Path(..., ge=1, le=MAX_ID, description="挑战编号")


@groups_router.get("/groups", response=GroupListOut, summary="客户群列表")
def group_list(request: HttpRequest) -> GroupListOut:
    return GroupListOut(items=[group_out(group) for group in group_selectors.group_list()])


@groups_router.post(
    "/groups/sync",
    response=SyncOut,
    summary="从企业微信全量同步客户群与成员",
    description="逐页读取 groupchat/list，再逐个 groupchat/get；企业微信不再列出的群记为已解散。",
)
# What WeCom refuses comes back as its typed error (502 wecom_*, messaging.errors); the
# members' identifiers are WeCom's own, so identity's refusals would be a WeCom bug.
@raises(ConflictingIdentifiers, InvalidIdentifier, TooManyIdentifiers)
def group_sync(request: HttpRequest) -> SyncOut:
    from django.conf import settings

    corp_id = settings.FRESHLOOP.wecom.corp_id or SandboxWecomClient.corp_id
    result = group_services.groups_sync_full(corp_id=corp_id)
    return SyncOut(groups=result.groups, dismissed=result.dismissed)


@groups_router.get("/health", response=HealthOut, summary="全部客户群的健康度（近 14 天）")
def health_overall(request: HttpRequest) -> HealthOut:
    return health_out(overall_health())


@groups_router.get("/groups/{chat_id}", response=GroupDetailOut, summary="客户群详情：成员与健康度")
@raises(GroupNotFound)
def group_detail(request: HttpRequest, chat_id: str = ChatId) -> GroupDetailOut:
    group = group_selectors.group_get(chat_id=chat_id)
    members = list(group_selectors.group_members(group=group).select_related("person"))
    return GroupDetailOut(
        **group_out(group).model_dump(),
        members=[
            MemberOut(
                userid=member.userid,
                member_type=member.member_type,
                name=member.name,
                one_id=member.person.one_id if member.person is not None else None,
                join_time=member.join_time,
                join_scene=member.join_scene,
            )
            for member in members
        ],
        health=health_out(group_health(group=group)),
    )


@groups_router.put(
    "/groups/{chat_id}/welcome-template", response=GroupOut, summary="设置群使用的入群欢迎语"
)
@raises(GroupNotFound, WelcomeTemplateNotFound)
def group_welcome(request: HttpRequest, body: GroupWelcomeIn, chat_id: str = ChatId) -> GroupOut:
    group = group_selectors.group_get(chat_id=chat_id)
    template = (
        group_selectors.welcome_template_get(template_id=body.template_id)
        if body.template_id is not None
        else None
    )
    return group_out(group_services.group_welcome_set(group=group, template=template))


@groups_router.get("/join-codes", response=JoinCodeListOut, summary="群活码列表")
def join_code_list(request: HttpRequest) -> JoinCodeListOut:
    return JoinCodeListOut(
        items=[join_code_out(code, request) for code in group_selectors.join_code_list()]
    )


@groups_router.post("/join-codes", response={201: JoinCodeOut}, summary="新建群活码")
@raises(CommunityInvalid, GroupNotFound, WelcomeTemplateNotFound)
def join_code_create(request: HttpRequest, body: JoinCodeIn) -> Status[JoinCodeOut]:
    template = (
        group_selectors.welcome_template_get(template_id=body.welcome_template_id)
        if body.welcome_template_id is not None
        else None
    )
    code = group_services.join_code_create(
        name=body.name,
        groups=[
            group_services.JoinCodeGroupSpec(
                chat_id=item.chat_id, qr_content=item.qr_content, threshold=item.threshold
            )
            for item in body.groups
        ],
        welcome_template=template,
        actor=request_actor(request),
    )
    return Status(201, join_code_out(code, request))


@groups_router.get("/join-codes/{join_code_id}", response=JoinCodeOut, summary="群活码详情")
@raises(JoinCodeNotFound)
def join_code_detail(request: HttpRequest, join_code_id: int = JoinCodeId) -> JoinCodeOut:
    return join_code_out(group_selectors.join_code_get(join_code_id=join_code_id), request)


@groups_router.post(
    "/join-codes/{join_code_id}/groups",
    response={201: JoinCodeOut},
    summary="给活码追加一个群（前面的群都满了才用它）",
)
@raises(CommunityInvalid, GroupNotFound, JoinCodeNotFound)
def join_code_append(
    request: HttpRequest, body: JoinCodeGroupIn, join_code_id: int = JoinCodeId
) -> Status[JoinCodeOut]:
    code = group_selectors.join_code_get(join_code_id=join_code_id)
    group_services.join_code_group_append(
        join_code=code,
        group=group_services.JoinCodeGroupSpec(
            chat_id=body.chat_id, qr_content=body.qr_content, threshold=body.threshold
        ),
    )
    return Status(201, join_code_out(code, request))


@groups_router.get("/welcome-templates", response=WelcomeTemplateListOut, summary="入群欢迎语")
def welcome_template_list(request: HttpRequest) -> WelcomeTemplateListOut:
    return WelcomeTemplateListOut(
        items=welcome_templates_out(list(group_selectors.welcome_template_list()))
    )


@groups_router.post(
    "/welcome-templates",
    response={201: WelcomeTemplateOut},
    summary="新建入群欢迎语（同时登记到企业微信 group_welcome_template/add）",
)
@raises(CommunityInvalid)
def welcome_template_create(
    request: HttpRequest, body: WelcomeTemplateIn
) -> Status[WelcomeTemplateOut]:
    template = group_services.welcome_template_create(
        spec=group_services.WelcomeSpec(**body.model_dump()), actor=request_actor(request)
    )
    return Status(201, welcome_templates_out([template])[0])


@groups_router.get("/topics", response=TopicListOut, summary="群话题（定时由群主确认发送）")
def topic_list(request: HttpRequest) -> TopicListOut:
    return TopicListOut(items=[topic_out(topic) for topic in group_selectors.topic_list()[:200]])


@groups_router.post("/topics", response={201: TopicOut}, summary="新建群话题")
@raises(CommunityInvalid, GroupNotFound)
def topic_create(request: HttpRequest, body: TopicIn) -> Status[TopicOut]:
    group = group_selectors.group_get(chat_id=body.chat_id)
    topic = group_services.topic_create(
        group=group,
        text=body.text,
        repeat=body.repeat,
        first_at=body.first_at,
        actor=request_actor(request),
    )
    return Status(201, topic_out(topic))


@groups_router.post("/topics/{topic_id}/stop", response=TopicOut, summary="停用群话题")
@raises(TopicNotFound)
def topic_stop(request: HttpRequest, topic_id: int = TopicId) -> TopicOut:
    topic = group_selectors.topic_get(topic_id=topic_id)
    return topic_out(group_services.topic_stop(topic=topic))


@groups_router.get("/challenges", response=ChallengeListOut, summary="社群挑战与进度")
def challenge_list(request: HttpRequest) -> ChallengeListOut:
    return ChallengeListOut(
        items=[challenge_out(challenge) for challenge in group_selectors.challenge_list()[:200]]
    )


@groups_router.post(
    "/challenges",
    response={201: ChallengeOut},
    summary="新建社群挑战（群 GMV 达标后给全体客户成员发券）",
)
@raises(CommunityInvalid, GroupNotFound)
def challenge_create(request: HttpRequest, body: ChallengeIn) -> Status[ChallengeOut]:
    group = group_selectors.group_get(chat_id=body.chat_id)
    template = CouponTemplate.objects.filter(pk=body.coupon_template_id).first()
    if template is None:
        raise CommunityInvalid.for_fields([("coupon_template_id", "没有这个优惠券模板")])
    challenge = group_services.challenge_create(
        group=group,
        name=body.name,
        target_fen=body.target_fen,
        starts_at=body.starts_at,
        ends_at=body.ends_at,
        coupon_template=template,
        actor=request_actor(request),
    )
    return Status(201, challenge_out(challenge))


@groups_router.get("/challenges/{challenge_id}", response=ChallengeOut, summary="社群挑战详情")
@raises(ChallengeNotFound)
def challenge_detail(request: HttpRequest, challenge_id: int = ChallengeId) -> ChallengeOut:
    return challenge_out(group_selectors.challenge_get(challenge_id=challenge_id))


router.add_router("", groups_router)


# --- the inbound group-message API, the keyword assistant, check-in and draws ----------------

RuleId = Path(..., ge=1, le=MAX_ID, description="规则编号")
ReplyId = Path(..., ge=1, le=MAX_ID, description="回复编号")
DrawId = Path(..., ge=1, le=MAX_ID, description="抽奖编号")


@router.post(
    "/inbound/messages",
    auth=None,
    response={200: InboundOut},
    summary="接收群消息（会话存档中转服务调用，HMAC 签名）",
    description=(
        f"请求头 `{TIMESTAMP_HEADER}`（Unix 秒）与 `{SIGNATURE_HEADER}: sha256=<hex>`，签名为以"
        " `FRESHLOOP_COMMUNITY_INBOUND_SECRET` 为密钥对 `<时间戳>.<原始请求体>` 的 HMAC-SHA256；"
        f"时间戳与服务器相差超过 {SKEW_SECONDS} 秒即拒绝。重复的 msgid 只计为 duplicates、不重复处理。"
        "请求体最大 1 MB、每批最多 500 条。docs/community-assistant.md 有示例。"
    ),
    openapi_extra=INBOUND_BODY_OPENAPI,
)
@raises(
    InboundDisabled,
    InboundMalformed,
    InboundSignatureInvalid,
    InboundTimestampInvalid,
    InboundTooLarge,
)
def inbound_messages(request: HttpRequest) -> InboundOut:
    body = request.body
    services.inbound_verify(
        timestamp=request.headers.get(TIMESTAMP_HEADER, ""),
        signature=request.headers.get(SIGNATURE_HEADER, ""),
        body=body,
    )
    messages = services.inbound_parse(body)
    result = services.group_messages_store(messages=messages)
    replies = services.messages_handle(messages=result.stored)
    return InboundOut(
        received=result.received,
        stored=len(result.stored),
        duplicates=result.duplicates,
        replies_prepared=len(replies),
    )


def _rule_out(rule: AssistantRule) -> RuleOut:
    return RuleOut(
        id=rule.pk,
        name=rule.name,
        match=rule.match,
        pattern=rule.pattern,
        chat_ids=list(rule.chat_ids),
        reply_kind=rule.reply_kind,
        reply_text=rule.reply_text,
        redeem_code=rule.redeem_code,
        product_id=rule.product_id,
        cooldown_seconds=rule.cooldown_seconds,
        enabled=rule.enabled,
        updated_at=rule.updated_at,
    )


def reply_out(reply: AssistantReply) -> ReplyOut:
    return ReplyOut(
        id=reply.pk,
        chat_id=reply.chat_id,
        source=reply.source,
        rule_name=reply.rule.name if reply.rule is not None else "",
        content=reply.content,
        channel=reply.channel,
        status=reply.status,
        status_label=ReplyStatus(reply.status).label,
        created_at=reply.created_at,
        expires_at=reply.expires_at,
        sent_at=reply.sent_at,
    )


@router.get(
    "/assistant/rules",
    auth=OperatorAuth(*COMMUNITY_ROLES),
    response=RuleListOut,
    summary="关键词规则列表",
)
def rule_list(request: HttpRequest) -> RuleListOut:
    return RuleListOut(items=[_rule_out(rule) for rule in selectors.rule_list()])


@router.post(
    "/assistant/rules",
    auth=OperatorAuth(*COMMUNITY_ROLES),
    response={201: RuleOut},
    summary="新建关键词规则",
)
@raises(RuleInvalid)
def rule_create(request: HttpRequest, body: RuleIn) -> Status[RuleOut]:
    rule = services.rule_create(body=body, actor=request_actor(request))
    return Status(201, _rule_out(rule))


@router.put(
    "/assistant/rules/{rule_id}",
    auth=OperatorAuth(*COMMUNITY_ROLES),
    response=RuleOut,
    summary="修改关键词规则（整条替换）",
)
@raises(RuleInvalid, RuleNotFound)
def rule_update(request: HttpRequest, body: RuleIn, rule_id: int = RuleId) -> RuleOut:
    rule = services.rule_update(rule_id=rule_id, body=body, actor=request_actor(request))
    return _rule_out(rule)


@router.get(
    "/assistant/replies",
    auth=OperatorAuth(*SIDEBAR_ROLES),
    response=ReplyListOut,
    summary="待群主发送的回复（可按群筛选，新的在前）",
)
def reply_list(request: HttpRequest, chat_id: str = "") -> ReplyListOut:
    replies = selectors.replies_pending(chat_id=chat_id[:64])
    return ReplyListOut(items=[reply_out(reply) for reply in replies])


@router.post(
    "/assistant/replies/{reply_id}/sent",
    auth=OperatorAuth(*SIDEBAR_ROLES),
    response=ReplyOut,
    summary="标记回复已由群主发送（聊天工具栏发送成功、复制发送或沙箱模拟）",
)
@raises(ReplyNotFound, ReplyNotPending)
def reply_sent(request: HttpRequest, body: ReplySentIn, reply_id: int = ReplyId) -> ReplyOut:
    reply = services.reply_mark_sent(reply_id=reply_id, via=body.via, actor=request_actor(request))
    return reply_out(reply)


@router.get(
    "/sidebar/agent-config",
    auth=OperatorAuth(*SIDEBAR_ROLES),
    response=dict[str, Any],
    summary="聊天工具栏页面的 wx.agentConfig 参数（应用 jsapi_ticket 签名）",
    description="url 为页面完整地址（不含 # 之后的部分）。未配置应用 AgentId / Secret 时返回 409。",
)
@raises(SidebarNotConfigured, WecomTicketFailed)
def sidebar_agent_config(
    request: HttpRequest, url: str = Query(..., min_length=1, max_length=1024)
) -> dict[str, Any]:
    return agent_config(url=url)


@router.post(
    "/checkin",
    auth=ConsumerAuth(),
    response=CheckInOut,
    summary="每日签到（北京时间每天一次，连续签到有额外积分）",
)
# The points go through membership's ledger, which names what it may refuse.
@raises(InsufficientPoints, InvalidPointsRequest, MemberNotFound)
def checkin(request: HttpRequest, body: CheckInIn) -> CheckInOut:
    person = request_person(request)
    result = services.checkin_do(person_id=person.pk, chat_id=body.chat_id.strip(), channel="h5")
    return CheckInOut(
        day=result.checkin.day,
        streak=result.checkin.streak,
        points=result.checkin.points,
        already=result.already,
    )


def draw_out(draw: GroupDraw) -> GroupDrawOut:
    winners = [int(pid) for pid in draw.winners]
    return GroupDrawOut(
        id=draw.pk,
        chat_id=draw.chat_id,
        title=draw.title,
        prize=draw.prize,
        pool=draw.pool,
        window_start=draw.window_start,
        window_end=draw.window_end,
        seed=draw.seed,
        candidates=[int(pid) for pid in draw.candidates],
        winners=winners,
        winner_names=selectors.winner_names(winners=winners),
        verified=selectors.group_draw_verify(draw=draw),
        announcement_id=draw.announcement_id,
    )


@router.post(
    "/draws",
    auth=OperatorAuth(*COMMUNITY_ROLES),
    response={201: GroupDrawOut},
    summary="群抽奖：从窗口内签到/发言的人中抽出中奖者，并生成开奖公告",
)
@raises(DrawInvalid, DrawNoCandidates)
def draw_run(request: HttpRequest, body: GroupDrawIn) -> Status[GroupDrawOut]:
    draw = services.group_draw_run(body=body, actor=request_actor(request))
    return Status(201, draw_out(draw))


@router.get(
    "/draws/{draw_id}",
    auth=OperatorAuth(*COMMUNITY_ROLES),
    response=GroupDrawOut,
    summary="抽奖详情（含可复算的种子与候选人，verified 为复算结果）",
)
@raises(DrawNotFound)
def draw_detail(request: HttpRequest, draw_id: int = DrawId) -> GroupDrawOut:
    return draw_out(selectors.draw_get(draw_id=draw_id))
