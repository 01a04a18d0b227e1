from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import Field, field_validator

from freshloop.core.schemas import InputSchema

# A path on this site a provider's page sends the buyer back to (the live room, the
# subscribe page). "//host" and "/\\host" are other sites to a browser: refused.
RETURN_PATH_PATTERN = r"^(/[A-Za-z0-9\-_.~!$&'()*+,;=:@%/?]*)?$"


def same_site_path(value: str) -> str:
    if value.startswith("//") or "\\" in value:
        raise ValueError("return_to must be a path on this site")
    return value


class PaymentCreateIn(InputSchema):
    order_no: str = Field(..., min_length=1, max_length=40, title="订单号")
    provider: str = Field(
        ...,
        min_length=1,
        max_length=16,
        title="支付方式",
        description="sandbox / wechatpay / alipay",
    )
    client_kind: Literal["h5", "jsapi", "native"] = Field(
        "h5",
        title="支付场景",
        description="h5：手机浏览器（微信H5支付/支付宝手机网站支付）；jsapi：微信内打开；"
        "native：电脑浏览器，扫码支付",
    )
    return_to: str = Field(
        "",
        max_length=200,
        title="支付后返回的页面",
        pattern=RETURN_PATH_PATTERN,
        description="支付渠道页面付完后返回的本站路径（如直播间 /live/xxx），默认订单页",
    )

    _same_site = field_validator("return_to")(same_site_path)


class PromptOut(Schema):
    kind: str = Field(
        ...,
        description="redirect：跳转 redirect_url；jsapi：用 jsapi 参数调起微信支付；"
        "qr：展示二维码（qr_svg）供手机扫码",
    )
    redirect_url: str
    jsapi: dict[str, str]
    qr_content: str = ""
    qr_svg: str = Field("", description="二维码图片（SVG data URI），kind 为 qr 时给出")


class PaymentMethodOut(Schema):
    provider: str
    client_kind: str
    label: str
    ready: bool = Field(..., description="false：需先完成前置步骤（如微信授权登录）")
    hint: str = ""


class PaymentMethodsOut(Schema):
    context: str = Field(..., description="wechat：微信内；mobile：手机浏览器；desktop：电脑")
    methods: list[PaymentMethodOut]


class PaymentOut(Schema):
    payment_no: str
    order_no: str
    provider: str
    client_kind: str
    amount_fen: int
    status: str
    created_at: dt.datetime
    prompt: PromptOut


# --- contracts (委托代扣 / 周期扣款) ---


class ContractSignIn(InputSchema):
    provider: str = Field(..., min_length=1, max_length=16, title="支付方式")
    return_to: str = Field(
        "", max_length=200, title="签约后返回的页面", pattern=RETURN_PATH_PATTERN
    )

    _same_site = field_validator("return_to")(same_site_path)


class ContractOut(Schema):
    contract_no: str
    provider: str
    provider_label: str
    status: str = Field(..., description="signing 待签约 / active 已签约 / terminated 已解约")
    status_label: str
    signed_at: dt.datetime | None
    terminated_at: dt.datetime | None
    termination_detail: str
    sign_url: str = Field(..., description="待签约时：打开此地址完成签约")


class ContractProviderOut(Schema):
    provider: str
    label: str


class ContractsOut(Schema):
    providers: list[ContractProviderOut]
    contracts: list[ContractOut]
