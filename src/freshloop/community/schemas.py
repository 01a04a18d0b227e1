"""What the community API (/api/v1/community) takes and answers: groups and their health,
群活码, welcome templates, topics, challenges; inbound group messages, assistant rules,
check-in and draws (one block per feature)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import MAX_ID, InputSchema, IsoDatetime

CHAT_ID_HELP = "企业微信客户群 chat_id"


class DayOut(Schema):
    day: dt.date
    joins: int = Field(..., description="当天入群的客户数")
    leaves: int = Field(..., description="当天退群的客户数")
    messages: int | None = Field(None, description="当天群消息数；没有消息数据时为 null")


class HealthOut(Schema):
    groups: int
    members: int = Field(..., description="当前成员（含员工）")
    customers: int = Field(..., description="当前客户成员")
    joins: int = Field(..., description="统计期内入群客户数")
    leaves: int = Field(..., description="统计期内退群客户数")
    active_members: int = Field(..., description="近 7 天入群、下单或发言的客户")
    active_rate: float
    orders: int = Field(..., description="统计期内成员支付的订单")
    gmv_fen: int = Field(..., description="统计期内成员支付金额（分，扣除退款）")
    messages_available: bool
    days: list[DayOut]


class GroupOut(Schema):
    chat_id: str
    name: str
    owner_userid: str
    notice: str
    status: str
    status_label: str
    member_count: int
    customer_count: int
    welcome_template_id: int | None
    created_at: dt.datetime | None
    dismissed_at: dt.datetime | None
    synced_at: dt.datetime


class GroupListOut(Schema):
    items: list[GroupOut]


class MemberOut(Schema):
    userid: str
    member_type: str
    name: str
    one_id: str | None
    join_time: dt.datetime | None
    join_scene: int


class GroupDetailOut(GroupOut):
    members: list[MemberOut]
    health: HealthOut


class SyncOut(Schema):
    groups: int = Field(..., description="同步的群数")
    dismissed: int = Field(..., description="企业微信已不再列出、记为解散的群数")


class GroupWelcomeIn(InputSchema):
    template_id: int | None = Field(
        ..., title="入群欢迎语编号", ge=1, le=MAX_ID, description="null 表示不用欢迎语"
    )


class JoinCodeGroupIn(InputSchema):
    chat_id: str = Field(
        ..., title="客户群", description=CHAT_ID_HELP, min_length=1, max_length=128
    )
    qr_content: str = Field(
        ...,
        title="群二维码内容",
        min_length=1,
        max_length=500,
        description="该群「加入群聊」二维码解码后的链接",
    )
    threshold: int = Field(
        200, title="满员人数", ge=1, le=200, description="客户数达到即换下一个群"
    )


class JoinCodeIn(InputSchema):
    name: str = Field(..., title="活码名称", min_length=1, max_length=64)
    groups: list[JoinCodeGroupIn] = Field(
        ..., title="群（按顺序使用）", min_length=1, max_length=100
    )
    welcome_template_id: int | None = Field(None, title="入群欢迎语编号", ge=1, le=MAX_ID)


class JoinCodeGroupOut(Schema):
    chat_id: str
    name: str
    position: int
    threshold: int
    customer_count: int
    full: bool
    scans: int
    qr_content: str


class JoinCodeOut(Schema):
    id: int
    code: str
    name: str
    url: str = Field(..., description="海报上的活码地址（扫码打开）")
    qr_svg: str = Field(..., description="活码地址的二维码（SVG data URI）")
    scans: int
    current_chat_id: str | None = Field(None, description="现在扫码会进入的群；都满了为 null")
    welcome_template_id: int | None
    groups: list[JoinCodeGroupOut]
    created_at: dt.datetime


class JoinCodeListOut(Schema):
    items: list[JoinCodeOut]


class WelcomeTemplateIn(InputSchema):
    name: str = Field(..., title="名称", min_length=1, max_length=64)
    text: str = Field("", title="欢迎语", max_length=1000)
    image_url: str = Field("", title="图片链接", max_length=500)
    link_title: str = Field("", title="链接标题", max_length=128)
    link_url: str = Field("", title="链接地址", max_length=500)
    miniprogram_title: str = Field("", title="小程序标题", max_length=64)
    miniprogram_appid: str = Field("", title="小程序 AppID", max_length=64)
    miniprogram_page: str = Field("", title="小程序页面", max_length=200)
    miniprogram_pic_media_id: str = Field("", title="小程序封面 media_id", max_length=128)


class WelcomeTemplateOut(Schema):
    id: int
    name: str
    text: str
    image_url: str
    link_title: str
    link_url: str
    miniprogram_title: str
    wecom_template_id: str
    group_count: int
    created_at: dt.datetime


class WelcomeTemplateListOut(Schema):
    items: list[WelcomeTemplateOut]


class TopicIn(InputSchema):
    chat_id: str = Field(
        ..., title="客户群", description=CHAT_ID_HELP, min_length=1, max_length=128
    )
    text: str = Field(..., title="话题内容", min_length=1, max_length=1000)
    repeat: str = Field("once", title="重复", max_length=8, description="once 一次 / weekly 每周")
    first_at: IsoDatetime = Field(
        ..., title="（首次）发送时间", description="带时区，08:00–22:00 北京时间"
    )


class TopicSendOut(Schema):
    due_at: dt.datetime
    status: str
    status_label: str
    detail: str
    msgid: str
    sent_at: dt.datetime | None


class TopicOut(Schema):
    id: int
    chat_id: str
    group_name: str
    text: str
    repeat: str
    next_run_at: dt.datetime | None
    is_active: bool
    sends: list[TopicSendOut]


class TopicListOut(Schema):
    items: list[TopicOut]


class ChallengeIn(InputSchema):
    chat_id: str = Field(
        ..., title="客户群", description=CHAT_ID_HELP, min_length=1, max_length=128
    )
    name: str = Field(..., title="挑战名称", min_length=1, max_length=64)
    target_fen: int = Field(..., title="目标 GMV（分）", ge=1, le=10**12)
    starts_at: IsoDatetime = Field(..., title="开始时间", description="ISO 8601，带时区")
    ends_at: IsoDatetime = Field(..., title="结束时间", description="ISO 8601，带时区")
    coupon_template_id: int = Field(..., title="奖励优惠券模板编号", ge=1, le=MAX_ID)


class ChallengeOut(Schema):
    id: int
    chat_id: str
    group_name: str
    name: str
    target_fen: int
    gmv_fen: int = Field(..., description="统计期内当前客户成员的支付金额（分，扣除退款）")
    percent: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    coupon_template_id: int
    coupon_name: str
    status: str
    status_label: str
    rewarded_count: int
    rewarded_at: dt.datetime | None


class ChallengeListOut(Schema):
    items: list[ChallengeOut]


MAX_INBOUND_MESSAGES = 500
CHAT_ID_MAX = 64
# 2001-09-09 .. 2286-11-20 in milliseconds: a number of seconds or a date string is refused
# rather than read as a time near 1970.
SENT_AT_MIN_MS = 1_000_000_000_000
SENT_AT_MAX_MS = 9_999_999_999_999


class InboundMessageIn(InputSchema):
    msgid: str = Field(..., title="消息ID（会话存档 msgid，去重用）", min_length=1, max_length=128)
    chat_id: str = Field(
        ..., title="群ID（roomid / chat_id）", min_length=1, max_length=CHAT_ID_MAX
    )
    sender: str = Field(
        ..., title="发送者（员工 userid 或客户 external_userid）", min_length=1, max_length=64
    )
    sender_type: Literal["customer", "staff"] = Field(..., title="发送者类型：customer / staff")
    sent_at: int = Field(
        ...,
        title="发送时间（Unix 毫秒，会话存档的 msgtime）",
        ge=SENT_AT_MIN_MS,
        le=SENT_AT_MAX_MS,
    )
    msgtype: str = Field(..., title="消息类型（text、image…）", min_length=1, max_length=32)
    text: str = Field("", title="文本内容（非文本消息留空；超长部分截断保存）", max_length=20_000)


class InboundBatchIn(InputSchema):
    messages: list[InboundMessageIn] = Field(
        ..., title="一批群消息", min_length=1, max_length=MAX_INBOUND_MESSAGES
    )


# The endpoint checks the signature over the raw bytes before it parses them, so the body is
# not a ninja parameter; this is what OpenAPI publishes for it.
INBOUND_BODY_OPENAPI = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "type": "object",
                    "additionalProperties": False,
                    "required": ["messages"],
                    "properties": {
                        "messages": {
                            "type": "array",
                            "title": "一批群消息",
                            "minItems": 1,
                            "maxItems": MAX_INBOUND_MESSAGES,
                            "items": InboundMessageIn.model_json_schema(),
                        }
                    },
                }
            }
        },
    }
}


class InboundOut(Schema):
    received: int = Field(..., title="本次收到的消息数")
    stored: int = Field(..., title="新保存的消息数（重复的 msgid 不计）")
    duplicates: int = Field(..., title="重复推送、已忽略的消息数")
    replies_prepared: int = Field(..., title="本批触发的助手回复数")


class RuleIn(InputSchema):
    name: str = Field(..., title="规则名称", max_length=64)
    match: Literal["contains", "regex"] = Field(..., title="匹配方式：contains 包含 / regex 正则")
    pattern: str = Field(..., title="关键词或正则表达式", max_length=200)
    chat_ids: list[str] = Field(
        default_factory=list, title="适用的群ID（空 = 所有群）", max_length=200
    )
    reply_kind: Literal["text", "coupon", "product", "checkin"] = Field(
        ..., title="回复类型：text 文本 / coupon 领券链接 / product 商品卡片 / checkin 签到"
    )
    reply_text: str = Field("", title="回复内容（签到规则可用 {streak} {points}）", max_length=1000)
    redeem_code: str = Field("", title="优惠券兑换码（领券回复）", max_length=32)
    product_id: int | None = Field(None, title="商品编号（商品卡片回复）", ge=1, le=MAX_ID)
    cooldown_seconds: int = Field(300, title="同一个群的冷却时间（秒）", ge=0, le=7 * 86400)
    enabled: bool = Field(True, title="是否启用")


class RuleOut(Schema):
    id: int
    name: str
    match: str
    pattern: str
    chat_ids: list[str]
    reply_kind: str
    reply_text: str
    redeem_code: str
    product_id: int | None
    cooldown_seconds: int
    enabled: bool
    updated_at: dt.datetime


class RuleListOut(Schema):
    items: list[RuleOut]


class ReplyOut(Schema):
    id: int
    chat_id: str
    source: str
    rule_name: str
    content: str
    channel: str
    status: str
    status_label: str
    created_at: dt.datetime
    expires_at: dt.datetime
    sent_at: dt.datetime | None


class ReplyListOut(Schema):
    items: list[ReplyOut]


class ReplySentIn(InputSchema):
    via: Literal["wecom", "copy", "sandbox"] = Field(
        ..., title="发送方式：wecom 聊天工具栏 / copy 复制后手动发送 / sandbox 沙箱模拟发送"
    )


class CheckInIn(InputSchema):
    chat_id: str = Field("", title="从哪个群来签到（可空）", max_length=CHAT_ID_MAX)


class CheckInOut(Schema):
    day: dt.date = Field(..., title="签到日（北京时间）")
    streak: int = Field(..., title="连续签到天数")
    points: int = Field(..., title="本次获得积分")
    already: bool = Field(..., title="今天已签到过（本次未重复加分）")


class GroupDrawIn(InputSchema):
    chat_id: str = Field(..., title="群ID", min_length=1, max_length=CHAT_ID_MAX)
    title: str = Field(..., title="抽奖名称", max_length=64)
    prize: str = Field(..., title="奖品", max_length=100)
    pool: Literal["checkin", "message", "both"] = Field(
        "both", title="参与人：checkin 签到 / message 发言 / both 签到或发言"
    )
    window_hours: int = Field(24, title="统计最近多少小时", ge=1, le=24 * 31)
    winners_count: int = Field(1, title="中奖人数", ge=1, le=100)


class GroupDrawOut(Schema):
    id: int
    chat_id: str
    title: str
    prize: str
    pool: str
    window_start: dt.datetime
    window_end: dt.datetime
    seed: str
    candidates: list[int]
    winners: list[int]
    winner_names: list[str]
    verified: bool
    announcement_id: int | None
