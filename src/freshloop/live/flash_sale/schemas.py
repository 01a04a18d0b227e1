"""Schemas of the buyers' flash-sale API (`flash_sale.api`)."""

from __future__ import annotations

import datetime as dt

from ninja import Field, Schema

from freshloop.core.schemas import Id
from freshloop.orders.schemas import AddressChoiceIn


class FlashBuyIn(AddressChoiceIn):
    quantity: int = Field(1, ge=1, le=99, title="购买数量")
    coupon_ids: list[Id] = Field(default_factory=list, max_length=5, title="优惠券")


class FlashSaleOut(Schema):
    id: int
    session_code: str
    sku_id: int
    name: str
    list_price_fen: int
    price_fen: int
    quantity: int
    remaining: int
    per_user_limit: int
    status: str
    starts_at: dt.datetime
    ends_at: dt.datetime
