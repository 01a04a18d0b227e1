from __future__ import annotations

import datetime as dt

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import InputSchema


class ClaimIn(InputSchema):
    code: str = Field(
        ...,
        min_length=1,
        max_length=32,
        title="兑换码",
        description="兑换码，如 MILK2026（不区分大小写）",
    )


class CouponOut(Schema):
    id: int
    code: str
    name: str
    kind: str
    description: str
    status: str = Field(..., description="available / locked / used / expired / void")
    amount_off_fen: int
    percent_off_bp: int
    cap_fen: int | None
    threshold_fen: int
    live_only: bool
    new_customer_only: bool
    valid_from: dt.datetime
    valid_until: dt.datetime
    source: str
    used_order_ref: str
    discount_fen: int


class CouponListOut(Schema):
    items: list[CouponOut]
