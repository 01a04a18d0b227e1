"""API input and output schemas of community group buying (SPEC GB-1…GB-4), one block per
feature. Inputs are strict (core.schemas.InputSchema); each field's title is the Chinese name
its error sentences use."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Schema

from freshloop.core.schemas import InputSchema

# --- group leaders (GB-1) ---

INVITE_CODE_PATTERN = r"^[0-9A-Za-z]+$"


class PickupAddressIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=32, title="自提点联系人")
    phone: str = Field(..., min_length=5, max_length=20, title="自提点联系电话")
    province: str = Field(..., min_length=1, max_length=32, title="省份")
    city: str = Field(..., min_length=1, max_length=32, title="城市")
    district: str = Field("", max_length=32, title="区县")
    detail: str = Field(..., min_length=1, max_length=120, title="详细地址")


class LeaderApplyIn(InputSchema):
    display_name: str = Field(..., min_length=1, max_length=32, title="团长昵称")
    pickup_name: str = Field(..., min_length=1, max_length=64, title="自提点名称")
    pickup_address: PickupAddressIn = Field(..., title="自提点地址")
    pickup_hours: str = Field(
        ..., min_length=1, max_length=64, title="营业时间", examples=["每天 09:00-20:00"]
    )
    real_name: str = Field(..., min_length=1, max_length=30, title="真实姓名")
    id_number: str = Field(..., min_length=15, max_length=20, title="身份证号")
    recruiter_invite_code: str | None = Field(
        None, min_length=4, max_length=16, pattern=INVITE_CODE_PATTERN, title="推荐团长的邀请码"
    )


class AttachIn(InputSchema):
    invite_code: str = Field(
        ..., min_length=4, max_length=16, pattern=INVITE_CODE_PATTERN, title="团长邀请码"
    )
    source: str = Field(
        "invite_link",
        pattern="^(invite_link|qr)$",
        title="绑定方式",
        description="invite_link：点击邀请链接；qr：扫描团长二维码",
    )


class ReasonIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=200, title="原因")


class LevelIn(InputSchema):
    level_code: str = Field(..., min_length=1, max_length=16, title="团长等级代码")


class MyLeadershipOut(Schema):
    leader_no: str
    display_name: str
    status: str
    status_label: str
    level_code: str
    level_name: str
    invite_code: str
    pickup_name: str
    pickup_address: dict[str, str]
    pickup_hours: str
    id_number_masked: str
    recruiter_display_name: str | None
    applied_at: dt.datetime
    decided_at: dt.datetime | None
    decision_reason: str
    suspended_reason: str


class AttachOut(Schema):
    leader_display_name: str
    pickup_name: str
    pickup_hours: str
    attached_at: dt.datetime
    changed: bool = Field(..., description="false：本来就是该团长的顾客，未做任何更改")
    locked_until: dt.datetime = Field(..., description="此时间之前，其他团长的邀请码不会更换团长")


class LeaderCustomerOut(Schema):
    display_name: str
    masked_phone: str
    attached_at: dt.datetime
    source: str
    locked_until: dt.datetime


class LeaderCustomersOut(Schema):
    total: int
    items: list[LeaderCustomerOut]


class LeaderOut(Schema):
    """What an operator reviews: the ID number masked (the full one is on the admin page)."""

    leader_no: str
    display_name: str
    status: str
    status_label: str
    level_code: str
    level_name: str
    pickup_name: str
    pickup_province: str
    pickup_city: str
    pickup_hours: str
    real_name: str
    id_number_masked: str
    recruiter_leader_no: str | None
    applied_at: dt.datetime
    decided_at: dt.datetime | None
    decided_by: str
    decision_reason: str
    suspended_reason: str


class LeadersOut(Schema):
    total: int
    items: list[LeaderOut]
