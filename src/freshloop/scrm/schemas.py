"""What the journey API (/api/v1/scrm) takes and answers.

Steps stay free-form JSON objects here (`list[dict]`): their one checker is
`journeys.steps_check`, which names every wrong field as `steps.N.field` with a Chinese
message — a second, looser copy of those rules in pydantic would only drift from it."""

from __future__ import annotations

import datetime as dt
from typing import Any, Literal

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import MAX_ID, InputSchema, IsoDatetime
from freshloop.scrm.journeys import MAX_STEPS

STEPS_HELP = (
    "步骤列表，按顺序执行：wait {minutes, at_best_hour?（再等到客户的最佳触达时段）}、condition {check: unpaid_since_entry|paid_since_entry}、"
    "message {text, product_cards, invite_url?, invite_title?（入群邀请：群活码链接）}、coupon {template_id}、task {title, due_minutes, assignee}、"
    "tag {tag}；每个步骤带 type"
)


class JourneyIn(InputSchema):
    name: str = Field(..., title="旅程名称", max_length=200)
    trigger: str = Field(..., title="触发条件", max_length=32, description="见 JourneyTrigger")
    trigger_config: dict[str, Any] | None = Field(
        None,
        title="触发设置",
        description=(
            "segment_joined {segment_id}（必填，数据中台的人群）；coupon_expiring {days} 过期前"
            "几天内（0–30，默认 3）；birthday {days} 生日前几天（0–30，默认 0 = 当天）；"
            "其他触发条件不需要"
        ),
    )
    steps: list[dict[str, Any]] = Field(
        ..., title="步骤", max_length=MAX_STEPS * 5, description=STEPS_HELP
    )


class StepsIn(InputSchema):
    steps: list[dict[str, Any]] = Field(
        ..., title="步骤", max_length=MAX_STEPS * 5, description=STEPS_HELP
    )


class StatusIn(InputSchema):
    status: Literal["active", "paused"] = Field(
        ..., title="状态", description="active 启动 / paused 暂停"
    )


class TestRunIn(InputSchema):
    one_id: str = Field(..., title="客户 OneID", min_length=1, max_length=40)


class JourneySummaryOut(Schema):
    id: int
    name: str
    trigger: str
    trigger_label: str
    trigger_config: dict[str, Any]
    trigger_text: str = Field(..., description="触发设置的说明，如 人群：高价值老客")
    status: str
    status_label: str
    version: int | None
    step_count: int
    entered: int
    active: int
    converted: int
    converted_fen: int
    updated_at: dt.datetime


class JourneyListOut(Schema):
    items: list[JourneySummaryOut]


class StepStatsOut(Schema):
    index: int = Field(..., description="步骤序号，从 1 开始")
    type: str
    entered: int = Field(..., description="进入这一步的人数")
    done: int = Field(..., description="执行（动作完成 / 条件满足）")
    skipped: int = Field(..., description="跳过（未执行 / 条件不满足）")


class JourneyStatsOut(Schema):
    entered: int
    active: int
    completed: int
    exited: int
    converted: int
    converted_fen: int
    steps: list[StepStatsOut]


class JourneyOut(JourneySummaryOut):
    steps: list[dict[str, Any]]
    published_by: str
    published_at: dt.datetime | None
    stats: JourneyStatsOut


class StepRunOut(Schema):
    index: int = Field(..., description="步骤序号，从 1 开始")
    type: str
    outcome: str
    outcome_label: str
    detail: str


class TestRunOut(Schema):
    enrollment_id: int
    status: str
    status_label: str
    next_step: int = Field(..., description="下一个要执行的步骤序号（从 1 开始）")
    next_run_at: dt.datetime
    runs: list[StepRunOut]


class CouponTemplateOut(Schema):
    id: int
    name: str


class CouponTemplateListOut(Schema):
    items: list[CouponTemplateOut]


# --- Contacts, tags synced with WeCom, staff transfer ------------------------------------------

TRANSFER_IDS_MAX_BODY = 1000  # a body guard; the service allows 100 (WeCom's limit per call)


class ContactOut(Schema):
    external_userid: str
    name: str
    one_id: str
    follow_userid: str = Field(..., description="跟进人（员工 UserID）")
    status: str
    status_label: str
    tags: list[str] = Field(..., description="企业微信标签（组名/标签）")
    transfer_status: str = Field("", description="最近一次继承的状态，空 = 没有")
    transfer_label: str = ""
    takeover_userid: str = ""


class ContactListOut(Schema):
    items: list[ContactOut]


class TransferIn(InputSchema):
    handover_userid: str = Field(..., title="原跟进人", min_length=1, max_length=64)
    takeover_userids: list[str] = Field(
        ..., title="接替员工", min_length=1, max_length=50, description="多位时轮流分配"
    )
    kind: Literal["resigned", "in_service"] = Field(
        "resigned", title="继承方式", description="resigned 离职继承 / in_service 在职继承"
    )
    external_userids: list[str] | None = Field(
        None,
        title="转接的客户",
        max_length=TRANSFER_IDS_MAX_BODY,
        description="external_userid，最多 100 个；不填则转接该员工的全部客户",
    )
    assignments: dict[str, str] | None = Field(
        None, title="指定接替", description="{external_userid: 接替员工}，其余轮流分配"
    )
    transfer_success_msg: str = Field(
        "", title="转接提示", max_length=1000, description="在职继承时发给客户的提示，最多 200 字"
    )


class TransferRowOut(Schema):
    id: int
    external_userid: str
    kind: str
    handover_userid: str
    takeover_userid: str
    status: str
    status_label: str
    errcode: int
    fail_reason: str
    requested_at: dt.datetime
    finished_at: dt.datetime | None


class TransferOut(Schema):
    waiting: int = Field(..., description="企业微信已受理、等待接替")
    rejected: int = Field(..., description="企业微信未受理的客户（见 errcode）")
    skipped: int = Field(..., description="已在等待上一次继承的客户")
    tasks_moved: int = Field(..., description="转给接替员工的待办任务")
    transfers: list[TransferRowOut]


class TransferListOut(Schema):
    items: list[TransferRowOut]


class TransferPollOut(Schema):
    ended: int = Field(..., description="本次结束的继承（接替完毕、拒绝、达到上限等）")


class TagSyncOut(Schema):
    queued: bool


class WecomTagOut(Schema):
    tag_id: str
    group_name: str
    name: str
    freshloop_tag: str = Field(..., description="同步的 FreshLoop 手工标签（计算标签为空）")
    kind: str


class ComputedTagPushIn(InputSchema):
    column: str = Field(..., title="计算标签字段", max_length=32, description="如 rfm_segment")
    value: str = Field(..., title="标签值", max_length=32, description="如 重要价值客户")
    enabled: bool = Field(True, title="推送")


class ComputedTagPushOut(Schema):
    column: str
    value: str
    enabled: bool
    wecom_tag_id: str
    pushed_count: int
    last_pushed_at: dt.datetime | None


class TagsOut(Schema):
    tags: list[WecomTagOut]
    pushes: list[ComputedTagPushOut]
    pushable: dict[str, list[str]] = Field(..., description="可推送的计算标签字段及其取值")


# --- mass messages (企业群发) and moments (客户朋友圈) ---------------------------------------


class MiniProgramIn(InputSchema):
    title: str = Field("", title="小程序卡片标题", max_length=200)
    appid: str = Field("", title="小程序 AppID", max_length=200)
    page: str = Field("", title="小程序页面路径", max_length=500)
    pic_media_id: str = Field("", title="封面图 media_id", max_length=500)


class BroadcastIn(InputSchema):
    title: str = Field(..., title="群发名称", max_length=200)
    kind: str = Field(
        ..., title="内容类型", max_length=16, description="text / image / miniprogram / product"
    )
    text: str = Field(
        "",
        title="文字内容",
        max_length=20_000,
        description="企业微信上限 4000 字节（约 1333 个汉字）；文字类型必填",
    )
    image_url: str = Field("", title="图片地址", max_length=1000)
    product_id: int | None = Field(None, title="商品", ge=1, le=MAX_ID)
    miniprogram: MiniProgramIn | None = Field(None, title="小程序卡片")
    segment_id: int | None = Field(
        None, title="目标人群", ge=1, le=MAX_ID, description="数据中台的人群；留空=全部企业微信好友"
    )
    scheduled_at: IsoDatetime | None = Field(
        None,
        title="计划发送时间",
        description="ISO 8601，带时区；留空=现在；不能早于现在，最多 30 天后",
    )


class BroadcastScheduleIn(InputSchema):
    send_now: bool = Field(False, title="立即发送", description="true 时忽略计划时间，现在发送")


class PreviewIn(InputSchema):
    segment_id: int | None = Field(None, title="目标人群", ge=1, le=MAX_ID)
    scheduled_at: IsoDatetime | None = Field(
        None, title="计划发送时间", description="ISO 8601，带时区；留空=现在"
    )


class ReasonOut(Schema):
    code: str
    label: str
    count: int


class PreviewOut(Schema):
    audience: int = Field(..., description="人群人数")
    receive: int = Field(..., description="预计收到（立即 + 免打扰结束后）")
    now: int
    held: int = Field(..., description="免打扰时段暂缓，结束后发送")
    release_at: dt.datetime | None
    reasons: list[ReasonOut] = Field(..., description="收不到的人数及原因")


class ResultsOut(Schema):
    audience: int
    recipients: int = Field(..., description="企业微信好友中经过发送规则判定的人数")
    confirmed: int = Field(..., description="已发送（员工已确认）")
    pending: int = Field(..., description="排队中或待员工确认")
    held: int = Field(..., description="免打扰暂缓")
    not_received: int
    reasons: list[ReasonOut]
    clicks: int = Field(..., description="打开商品链接的访客数（企业群发没有已读回执）")
    orders: int = Field(..., description="7 天内带追踪码的已支付订单")
    gmv_fen: int = Field(..., description="这些订单的实付减退款（分）")
    window_ends: dt.datetime | None


class BroadcastOut(Schema):
    id: int
    title: str
    kind: str
    kind_label: str
    text: str
    image_url: str
    product_id: int | None
    miniprogram: dict[str, str]
    segment_id: int | None
    audience_label: str
    scheduled_at: dt.datetime
    status: str
    status_label: str
    tracking_code: str
    created_by: str
    created_at: dt.datetime
    started_at: dt.datetime | None
    sent_at: dt.datetime | None
    results: ResultsOut | None


class BroadcastListOut(Schema):
    items: list[BroadcastOut]


class AudienceOut(Schema):
    id: int
    name: str
    member_count: int


class AudienceListOut(Schema):
    items: list[AudienceOut]


class MomentIn(InputSchema):
    text: str = Field("", title="文字内容", max_length=20_000)
    kind: str = Field(..., title="附件", max_length=16, description="text / image / link")
    image_url: str = Field("", title="图片地址", max_length=1000)
    link_title: str = Field("", title="链接标题", max_length=200)
    link_url: str = Field("", title="链接地址", max_length=1000)
    sender_userids: list[str] = Field(
        default_factory=list, title="发表员工", max_length=200, description="空=全部员工"
    )
    visible_tag_ids: list[str] = Field(
        default_factory=list, title="可见客户标签", max_length=200, description="空=全部客户"
    )
    publish: bool = Field(True, title="立即提交企业微信")


class MomentOut(Schema):
    id: int
    text: str
    kind: str
    image_url: str
    link_title: str
    link_url: str
    sender_userids: list[str]
    visible_tag_ids: list[str]
    status: str
    status_label: str
    jobid: str
    error: str
    created_by: str
    created_at: dt.datetime
    published_at: dt.datetime | None


class MomentListOut(Schema):
    items: list[MomentOut]


# --- rename, delete, who is inside -----------------------------------------------------------


class RenameIn(InputSchema):
    name: str = Field(..., title="旅程名称", max_length=200)


class PeopleQuery(Schema):
    page: int = Field(1, ge=1, le=100_000, description="页码，从 1 开始")
    page_size: int = Field(20, ge=1, le=100, description="每页人数（最多 100）")
    status: Literal["active", "completed", "exited"] | None = Field(
        None, description="只看 active 进行中 / completed 已走完 / exited 退出"
    )


class JourneyPersonOut(Schema):
    enrollment_id: int
    one_id: str
    display_name: str
    phone_masked: str = Field(..., description="脱敏手机号，如 138****5678；没有手机号为空")
    status: str
    status_label: str
    step: str = Field(..., description="当前所在步骤，如 第 3 步 · 条件（等待中）")
    next_run_at: dt.datetime | None = Field(..., description="下一步执行时间（已结束为空）")
    version: int
    entered_at: dt.datetime
    finished_at: dt.datetime | None
    converted_at: dt.datetime | None
    converted_order_no: str
    converted_fen: int
    test: bool = Field(..., description="试运行进入的客户")


class JourneyPeopleOut(Schema):
    items: list[JourneyPersonOut]
    total: int
    page: int
    page_size: int


class SegmentChoiceOut(Schema):
    id: int
    name: str
    member_count: int


class SegmentChoiceListOut(Schema):
    items: list[SegmentChoiceOut]
