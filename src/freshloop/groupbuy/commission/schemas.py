"""API schemas of commission, attribution and pickup (GB-2). Inputs are strict
(core.schemas.InputSchema); money is integer fen."""

from __future__ import annotations

import datetime as dt
from typing import Annotated, Any

from ninja import Field, Schema
from pydantic import BeforeValidator
from pydantic_core import PydanticCustomError

from freshloop.core.schemas import InputSchema, IsoDatetime


def _date_text_only(value: Any) -> Any:
    if isinstance(value, str | dt.date):
        return value
    raise PydanticCustomError("date_type", "Input should be a valid date")


IsoDate = Annotated[dt.date, BeforeValidator(_date_text_only), Field(strict=False)]


# --- leaders --------------------------------------------------------------------------------


class PickupIn(InputSchema):
    pickup_code: str = Field(..., min_length=4, max_length=16, title="提货码")


class OrderItemOut(Schema):
    product_name: str
    spec: str
    quantity: int


class LeaderOrderOut(Schema):
    order_no: str
    buyer_name: str
    buyer_phone_masked: str
    paid_at: dt.datetime
    gmv_fen: int
    refunded_fen: int
    pickup_code: str
    pickup_status: str
    picked_up_at: dt.datetime | None
    items: list[OrderItemOut]


class LeaderOrdersOut(Schema):
    total: int
    items: list[LeaderOrderOut]


class PickupOut(Schema):
    order_no: str
    pickup_status: str
    picked_up_at: dt.datetime | None


class DaySalesOut(Schema):
    day: dt.date
    gmv_fen: int
    refunded_fen: int
    orders: int
    customers: int


class BalancesOut(Schema):
    pending_fen: int = Field(..., description="售后期内，尚不可结算")
    settleable_fen: int = Field(..., description="可结算；为负表示退款冲回后欠平台的金额，下期抵扣")
    payable_fen: int = Field(..., description="已审核待打款")
    paid_fen: int = Field(..., description="累计已打款")


class CommissionEntryOut(Schema):
    occurred_at: dt.datetime
    kind: str
    kind_label: str
    order_no: str
    memo: str
    pending_fen: int
    settleable_fen: int
    payable_fen: int
    paid_fen: int


class LeaderCommissionOut(Schema):
    balances: BalancesOut
    total: int
    entries: list[CommissionEntryOut]


class StatementOut(Schema):
    statement_no: str
    run_no: str
    leader_no: str
    leader_display_name: str
    period_start: dt.datetime | None
    period_end: dt.datetime
    opening_fen: int
    matured_fen: int
    reversed_fen: int
    amount_fen: int
    status: str
    status_label: str
    paid_at: dt.datetime | None
    payment_ref: str


class StatementLineOut(Schema):
    occurred_at: dt.datetime
    kind: str
    kind_label: str
    order_no: str
    memo: str
    amount_fen: int


class StatementDetailOut(StatementOut):
    lines: list[StatementLineOut]


class StatementsOut(Schema):
    total: int
    items: list[StatementOut]


# --- operators ------------------------------------------------------------------------------


class CommissionRuleIn(InputSchema):
    depth: int = Field(..., ge=1, le=3, title="层级")
    rate_bp: int = Field(..., ge=0, le=10_000, title="佣金率(基点)")
    level_code: str | None = Field(None, min_length=1, max_length=16, title="团长等级代码")
    product_code: str | None = Field(None, min_length=1, max_length=64, title="商品编码")
    category_code: str | None = Field(None, min_length=1, max_length=64, title="类目编码")
    cap_fen: int | None = Field(None, ge=0, le=10**12, title="每单上限(分)")
    valid_from: IsoDatetime | None = Field(None, title="生效时间")
    valid_until: IsoDatetime | None = Field(None, title="失效时间")
    note: str = Field("", max_length=200, title="备注")


class CommissionRuleOut(Schema):
    id: int
    depth: int
    level_code: str | None
    product_code: str | None
    category_code: str | None
    rate_bp: int
    cap_fen: int | None
    valid_from: dt.datetime
    valid_until: dt.datetime | None
    note: str
    created_by: str


class RulesOut(Schema):
    total: int
    items: list[CommissionRuleOut]


class RunIn(InputSchema):
    period_end: IsoDate = Field(..., title="结算截止日", description="上海时间的日期，含当天")


class PaidIn(InputSchema):
    payment_ref: str = Field(..., min_length=1, max_length=64, title="打款流水号")


class RunOut(Schema):
    run_no: str
    period_start: dt.datetime | None
    period_end: dt.datetime
    status: str
    status_label: str
    total_fen: int
    statement_count: int
    created_by: str
    created_at: dt.datetime
    approved_by: str
    approved_at: dt.datetime | None


class RunDetailOut(RunOut):
    statements: list[StatementOut]


class RunsOut(Schema):
    total: int
    items: list[RunOut]
