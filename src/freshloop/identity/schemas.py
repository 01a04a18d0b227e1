from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import Id, InputSchema


class OtpRequestIn(InputSchema):
    phone: str = Field(
        ...,
        min_length=3,
        max_length=32,
        title="手机号",
        description="手机号，中国大陆号码可不带 +86",
    )


class OtpRequestOut(Schema):
    expires_in: int = Field(..., description="验证码有效期（秒）")
    resend_after: int = Field(
        ...,
        description="多少秒后才能再次获取验证码；在此之前再次请求会得到 429，其 retry_after 与剩余秒数一致",
    )
    sandbox_code: str | None = Field(None, description="仅沙箱短信模式返回，生产环境永远为空")


class OtpVerifyIn(InputSchema):
    phone: str = Field(..., min_length=3, max_length=32, title="手机号")
    code: str = Field(..., min_length=1, max_length=12, title="验证码")


class LoginOut(Schema):
    one_id: str
    created: bool
    token: str
    expires_at: dt.datetime


class IdentifierOut(Schema):
    type: str
    masked_value: str
    verified: bool


class MeOut(Schema):
    one_id: str
    display_name: str
    identifiers: list[IdentifierOut]


class IdentifierIn(InputSchema):
    type: str = Field(
        ...,
        max_length=32,
        title="标识类型",
        description="phone / wechat_openid / wechat_unionid / wecom_external_userid / douyin_openid / device_id / email / member_no / store_card",
    )
    value: str = Field(..., max_length=256, title="标识值")
    scope: str = Field(
        "",
        max_length=64,
        title="标识范围",
        description="微信 app id、企业微信 corp id 等（openid 类必填）",
    )
    verified: bool = Field(False, title="是否已验证")


class IdentifyIn(InputSchema):
    identifiers: list[IdentifierIn] = Field(..., title="身份标识")
    traits: dict[str, Any] = Field(default_factory=dict, title="用户属性")
    source: str = Field(..., min_length=1, max_length=32, pattern=r"^[a-z0-9_]+$", title="数据来源")
    occurred_at: dt.datetime | None = Field(
        None,
        strict=False,
        title="发生时间",
        description="特征成立的时间（ISO 8601，带时区），不能晚于当前时间",
    )
    display_name: str = Field("", max_length=64, title="显示名称")


class IdentifyOut(Schema):
    one_id: str
    created: bool
    merged_from: list[str]
    conflicts: int


class PersonIdentifierOut(Schema):
    id: int
    type: str
    scope: str
    masked_value: str
    verified: bool


class PersonOut(Schema):
    one_id: str
    status: str
    display_name: str
    traits: dict[str, Any]
    identifiers: list[PersonIdentifierOut]
    merged_from: list[str]
    requested_one_id: str | None = Field(
        None, description="请求的 OneID 已合并时，这里是原来的 OneID"
    )
    created_at: dt.datetime


class SplitIn(InputSchema):
    identifier_ids: list[Id] = Field(..., min_length=1, max_length=100, title="要拆出的标识")
    reason: str = Field(..., min_length=1, max_length=200, title="拆分原因")


class EraseIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=200, title="删除原因")


class JsSdkConfigQuery(Schema):
    url: str = Field(
        ...,
        min_length=8,
        max_length=2048,
        title="页面地址",
        description="调用 wx.config 的页面完整地址（# 之后的部分会被去掉），只能是本站页面",
    )


class JsSdkConfigOut(Schema):
    app_id: str = Field(..., description="公众号 AppID（wx.config 的 appId）")
    timestamp: int = Field(..., description="签名时间戳（秒）")
    nonce_str: str = Field(..., description="签名随机串（wx.config 的 nonceStr）")
    signature: str = Field(
        ..., description="JS-SDK 签名：sha1(jsapi_ticket, noncestr, timestamp, url)"
    )
