"""API input and output schemas of presale (GB-4). Inputs are strict; each field's title is the
Chinese name its error sentences use. Money in fen."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from freshloop.core.schemas import Id, InputSchema, IsoDatetime
from freshloop.orders.schemas import AddressChoiceIn, OrderDetailOut


def _iso_date_text_only(value: Any) -> Any:
    # As core's IsoDatetime: text only, so a number is not read as something else.
    if isinstance(value, str | dt.date):
        return value
    raise PydanticCustomError("date_type", "Input should be a valid date")


IsoDate = Annotated[dt.date, BeforeValidator(_iso_date_text_only), Field(strict=False)]


class PresaleIn(InputSchema):
    """What an operator sets (create, or replace before the deposit window opens)."""

    name: str = Field(..., min_length=1, max_length=60, title="预售名称")
    sku_id: Id = Field(..., title="商品规格")
    image_url: str = Field("", max_length=300, title="卡片图片地址")
    quantity: int = Field(..., ge=1, le=100_000, title="预售数量")
    price_fen: int = Field(..., ge=1, le=10_000_000, title="预售价（分）")
    deposit_fen: int = Field(..., ge=1, le=10_000_000, title="定金（分）")
    deposit_worth_fen: int = Field(
        ..., ge=1, le=10_000_000, title="定金抵扣（分）", description="定金膨胀：可抵尾款的金额"
    )
    per_person_limit: int = Field(1, ge=1, le=99, title="每人限购")
    deposit_refundable: bool = Field(
        False, title="定金可退", description="false（默认）：尾款期结束未付尾款，定金不退"
    )
    deposit_starts_at: IsoDatetime = Field(..., title="定金开始时间")
    deposit_ends_at: IsoDatetime = Field(..., title="定金截止时间")
    balance_starts_at: IsoDatetime = Field(..., title="尾款开始时间")
    balance_ends_at: IsoDatetime = Field(..., title="尾款截止时间")
    delivery_from: IsoDate = Field(..., title="发货开始日期")
    delivery_to: IsoDate = Field(..., title="发货截止日期")


class CancelIn(InputSchema):
    reason: str = Field(..., min_length=1, max_length=200, title="取消原因")


class LiveLaunchIn(InputSchema):
    session_code: str = Field(
        ..., min_length=1, max_length=40, pattern=r"^[A-Za-z0-9_]+$", title="直播场次编号"
    )


class DepositIn(AddressChoiceIn):
    quantity: int = Field(1, ge=1, le=99, title="购买件数")


class PresaleCardOut(Schema):
    """A presale as a buyer (or a live room's product card) sees it."""

    presale_no: str
    name: str
    image_url: str
    status: str
    status_label: str
    list_price_fen: int
    price_fen: int
    deposit_fen: int
    deposit_worth_fen: int = Field(..., description="定金膨胀：每件定金可抵尾款的金额")
    balance_fen: int = Field(..., description="每件尾款 = 预售价 − 定金抵扣")
    deposit_refundable: bool
    deposit_starts_at: dt.datetime
    deposit_ends_at: dt.datetime
    balance_starts_at: dt.datetime
    balance_ends_at: dt.datetime
    delivery_from: dt.date
    delivery_to: dt.date
    per_person_limit: int
    quantity: int
    remaining: int
    deposit_open_now: bool


class OperatorPresaleOut(PresaleCardOut):
    sku_id: int
    live_session_code: str = Field(..., description="上架的直播场次；空：未上架")
    units_taken: int
    cancel_reason: str
    created_by: str
    created_at: dt.datetime
    ended_at: dt.datetime | None
    settled_at: dt.datetime | None


class PresalesOut(Schema):
    total: int
    items: list[OperatorPresaleOut]


class PurchaseOut(Schema):
    purchase_no: str
    presale_no: str
    presale_name: str
    quantity: int
    status: str
    status_label: str
    deposit_total_fen: int = Field(..., description="定金（商品部分）")
    worth_total_fen: int = Field(..., description="定金可抵")
    balance_total_fen: int = Field(..., description="尾款（商品部分）")
    deposit_order_no: str
    balance_order_no: str
    deposit_paid_at: dt.datetime | None
    balance_paid_at: dt.datetime | None
    balance_starts_at: dt.datetime
    balance_ends_at: dt.datetime
    deposit_refundable: bool


class PurchasesOut(Schema):
    total: int
    items: list[PurchaseOut]


class PurchaseOrderOut(Schema):
    """A deposit or balance placed: the purchase and the order the cashier collects."""

    purchase: PurchaseOut
    order: OrderDetailOut
