from __future__ import annotations

import datetime as dt
from typing import Literal

from ninja import Schema
from pydantic import ConfigDict, Field


class PaymentCreateIn(Schema):
    model_config = ConfigDict(extra="forbid")

    order_no: str = Field(..., min_length=1, max_length=40)
    provider: str = Field(
        ..., min_length=1, max_length=16, description="sandbox / wechatpay / alipay"
    )
    client_kind: Literal["h5", "jsapi"] = Field(
        "h5", description="h5：手机浏览器；jsapi：微信内打开（公众号/小程序）"
    )


class PromptOut(Schema):
    kind: str = Field(
        ..., description="redirect：跳转 redirect_url；jsapi：用 jsapi 参数调起微信支付"
    )
    redirect_url: str
    jsapi: dict[str, str]


class PaymentOut(Schema):
    payment_no: str
    order_no: str
    provider: str
    client_kind: str
    amount_fen: int
    status: str
    created_at: dt.datetime
    prompt: PromptOut
