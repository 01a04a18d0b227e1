from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field


class OtpRequestIn(Schema):
    phone: str = Field(
        ..., min_length=3, max_length=32, description="手机号，中国大陆号码可不带 +86"
    )


class OtpRequestOut(Schema):
    expires_in: int
    resend_after: int
    sandbox_code: str | None = Field(None, description="仅沙箱短信模式返回，生产环境永远为空")


class OtpVerifyIn(Schema):
    phone: str = Field(..., min_length=3, max_length=32)
    code: str = Field(..., min_length=1, max_length=12)


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
