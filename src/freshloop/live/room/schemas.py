"""Schemas of the viewer API (`room.api`)."""

from __future__ import annotations

from ninja import Schema
from pydantic import Field

from freshloop.core.schemas import Id, InputSchema

DEVICE_ID = Field(
    "",
    max_length=64,
    pattern=r"^[A-Za-z0-9_-]*$",
    title="设备标识",
    description="未登录观众的设备标识",
)


class JoinIn(InputSchema):
    device_id: str = DEVICE_ID
    nickname: str = Field("", max_length=32, title="昵称")


class DeviceIn(InputSchema):
    device_id: str = DEVICE_ID


class CommentIn(InputSchema):
    text: str = Field(..., min_length=1, max_length=500, title="评论内容")


class LikeIn(InputSchema):
    count: int = Field(1, ge=1, le=50, title="点赞次数")
    device_id: str = DEVICE_ID


class TrackIn(InputSchema):
    action: str = Field(..., pattern=r"^(click_product|add_to_cart)$", title="行为")
    sku_id: Id = Field(..., title="商品规格")
    device_id: str = DEVICE_ID


class FlashQuoteIn(InputSchema):
    quantity: int = Field(1, ge=1, le=99, title="购买数量")
    coupon_ids: list[Id] = Field(default_factory=list, max_length=5, title="优惠券")


class JoinOut(Schema):
    nickname: str
    guest: bool
    one_id: str


class CommentOut(Schema):
    id: int
    nickname: str
    text: str
    at: str
