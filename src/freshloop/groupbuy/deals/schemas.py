"""API input and output schemas of group deals 拼团 (GB-3)."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Schema

from freshloop.core.schemas import Id, InputSchema, IsoDatetime
from freshloop.orders.schemas import AddressChoiceIn, OrderDetailOut


class TierIn(InputSchema):
    size: int = Field(..., ge=2, le=100, title="成团人数")
    price_fen: int = Field(..., ge=1, le=10_000_000, title="拼团价（分）")


class DealCreateIn(InputSchema):
    title: str = Field(..., min_length=1, max_length=64, title="活动名称")
    sku_id: Id = Field(..., title="商品规格")
    tiers: list[TierIn] = Field(..., min_length=1, max_length=5, title="阶梯价")
    quantity: int = Field(..., ge=1, le=1_000_000, title="活动库存")
    group_minutes: int = Field(..., ge=10, le=7 * 24 * 60, title="成团时限（分钟）")
    per_person_limit: int = Field(1, ge=1, le=20, title="每人限购")
    leader_only: bool = Field(False, title="仅团长开团")
    starts_at: IsoDatetime = Field(..., title="开始时间")
    ends_at: IsoDatetime = Field(..., title="结束时间")


class DealJoinIn(AddressChoiceIn):
    quantity: int = Field(1, ge=1, le=20, title="购买数量")


class TierOut(Schema):
    size: int
    price_fen: int


class DealOut(Schema):
    deal_no: str
    title: str
    sku_id: int
    product_name: str
    spec: str
    list_price_fen: int
    tiers: list[TierOut]
    min_size: int
    max_size: int
    group_minutes: int
    per_person_limit: int
    quantity: int
    units_left: int
    leader_only: bool
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime


class DealGroupOut(Schema):
    group_no: str
    deal_no: str
    status: str
    status_label: str
    leader_display_name: str | None
    seats: int
    joined: int
    member_names: list[str]
    price_now_fen: int
    final_price_fen: int | None
    next_tier_size: int | None
    next_tier_price_fen: int | None
    people_to_next_tier: int
    people_to_form: int
    closes_at: dt.datetime
    seconds_left: int
    share_path: str


class DealDetailOut(DealOut):
    open_groups: list[DealGroupOut]


class DealJoinOut(Schema):
    group: DealGroupOut
    unit_price_fen: int
    order: OrderDetailOut


class MyPlaceOut(Schema):
    group_no: str
    deal_no: str
    deal_title: str
    group_status: str
    group_status_label: str
    status: str
    status_label: str
    order_no: str
    quantity: int
    unit_price_fen: int
    final_price_fen: int | None
    refund_kind: str
    refund_fen: int
    joined_at: dt.datetime


class DealFiguresOut(Schema):
    groups_open: int
    groups_succeeded: int
    groups_failed: int
    members_paid: int
    refunds_fen: int
    difference_refunds: int
    failure_refunds: int


class OperatorDealOut(DealOut):
    figures: DealFiguresOut
