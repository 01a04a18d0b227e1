from __future__ import annotations

import datetime as dt
from typing import Any

from ninja import Field, Schema
from pydantic import model_validator
from pydantic_core import PydanticCustomError

from freshloop.catalog.selectors import sku_picture_prefetched
from freshloop.core.schemas import Id, InputSchema
from freshloop.orders.errors import ADDRESS_TITLES
from freshloop.orders.models import AfterSalesCase, Order, OrderLine
from freshloop.orders.pricing import CheckoutQuote


class CartItemIn(InputSchema):
    sku_id: Id = Field(..., title="商品规格")
    quantity: int = Field(..., ge=0, le=99, title="购买数量", description="0 表示移出购物车")


IMAGE_URL_HELP = "商品图（1080px JPEG，本站相对地址），SKU 自己的图优先，没有图时为空"
THUMB_URL_HELP = "缩略图（400px WebP）"


class CartLineOut(Schema):
    sku_id: int
    name: str
    spec: str
    unit_price_fen: int
    quantity: int
    image_url: str | None = Field(None, description=IMAGE_URL_HELP)
    thumb_url: str | None = Field(None, description=THUMB_URL_HELP)


class CartOut(Schema):
    items: list[CartLineOut]


class AddressIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["name"])
    phone: str = Field(..., min_length=5, max_length=20, title=ADDRESS_TITLES["phone"])
    province: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["province"])
    city: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["city"])
    district: str = Field("", max_length=32, title=ADDRESS_TITLES["district"])
    detail: str = Field(..., min_length=1, max_length=120, title=ADDRESS_TITLES["detail"])


class CheckoutItemIn(InputSchema):
    sku_id: Id = Field(..., title="商品规格")
    quantity: int = Field(..., ge=1, le=99, title="购买数量")


class CheckoutIn(InputSchema):
    items: list[CheckoutItemIn] | None = Field(
        None, max_length=50, title="商品", description="不传则结算整个购物车"
    )
    channel: str = Field("shop", pattern=r"^(shop|live|groupbuy|partner)$", title="下单渠道")
    source_ref: str = Field(
        "", max_length=64, title="来源标识", description="直播场次 / 团长 / 合作方标识"
    )
    coupon_ids: list[Id] = Field(default_factory=list, max_length=5, title="优惠券")
    points: int = Field(0, ge=0, le=10_000_000, title="抵扣积分")


class CheckoutPreviewIn(CheckoutIn):
    """A preview may say where the order would go, so shipping uses that province's rule."""

    address_id: Id | None = Field(
        None, title="地址簿地址", description="地址簿中的地址（用于按省份计算运费）"
    )
    province: str = Field(
        "", max_length=32, title="收货省份", description="尚未保存地址时用于估算运费"
    )


class AddressChoiceIn(InputSchema):
    """Where an order goes: an address typed at checkout, or one from the buyer's address book
    — exactly one of them."""

    address: AddressIn | None = Field(
        None, title="收货地址", description="手填的收货地址；与 address_id 二选一"
    )
    address_id: Id | None = Field(
        None, title="地址簿地址", description="地址簿中的地址；与 address 二选一"
    )

    @model_validator(mode="after")
    def _exactly_one_address(self) -> AddressChoiceIn:
        if (self.address is None) == (self.address_id is None):
            raise PydanticCustomError("address_choice", "exactly one of address / address_id")
        return self


class OrderCreateIn(CheckoutIn, AddressChoiceIn):
    pass


class AddressBookIn(InputSchema):
    name: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["name"])
    phone: str = Field(
        ...,
        min_length=1,
        max_length=20,
        title=ADDRESS_TITLES["phone"],
        description="中国大陆手机号",
    )
    province: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["province"])
    city: str = Field(..., min_length=1, max_length=32, title=ADDRESS_TITLES["city"])
    district: str = Field("", max_length=32, title=ADDRESS_TITLES["district"])
    detail: str = Field(..., min_length=1, max_length=120, title=ADDRESS_TITLES["detail"])
    label: str = Field("", max_length=8, title="地址标签", description="如 家 / 公司")
    is_default: bool = Field(False, title="设为默认地址")


class AddressBookOut(Schema):
    id: int
    name: str
    phone: str
    phone_masked: str
    province: str
    city: str
    district: str
    detail: str
    label: str
    is_default: bool
    updated_at: dt.datetime


class AddressParseIn(InputSchema):
    text: str = Field(..., min_length=1, max_length=300, title="粘贴的地址文字")


class AddressParseOut(Schema):
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


class RegionsOut(Schema):
    level: str = Field(..., description="province / city / district")
    names: list[str]


class PriceRowOut(Schema):
    code: str
    label: str
    amount_fen: int
    target: Any = None


class QuoteLineOut(Schema):
    sku_id: int
    name: str
    quantity: int
    unit_price_fen: int
    discount_fen: int
    total_fen: int


class RejectedCouponOut(Schema):
    coupon_id: int
    reason: str


class QuoteOut(Schema):
    lines: list[QuoteLineOut]
    explanation: list[PriceRowOut]
    subtotal_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    points_used: int
    points_balance: int
    applied_coupon_ids: list[int]
    rejected_coupons: list[RejectedCouponOut]
    shipping_rule: str = Field(description="运费模板名称（按收货省份选出；未知省份用全国默认）")
    free_shipping_from_fen: int = Field(description="包邮门槛（分），0 表示该地区不包邮")
    free_shipping_gap_fen: int = Field(
        description="再买多少（分）即可包邮；已包邮或该地区不包邮时为 0"
    )


class OrderLineOut(Schema):
    id: int
    sku_id: int
    product_name: str
    spec: str
    unit_price_fen: int
    quantity: int
    discount_fen: int
    total_fen: int
    refunded_quantity: int
    image_url: str | None = Field(
        None,
        description=IMAGE_URL_HELP + "；下单接口的应答为空（下单时不读图片），查询订单时给出",
    )
    thumb_url: str | None = Field(None, description=THUMB_URL_HELP)

    @staticmethod
    def resolve_image_url(line: OrderLine) -> str | None:
        picture = sku_picture_prefetched(line.sku)
        return picture.url if picture else None

    @staticmethod
    def resolve_thumb_url(line: OrderLine) -> str | None:
        picture = sku_picture_prefetched(line.sku)
        return picture.webp_400.url if picture else None


class TimelineOut(Schema):
    to_status: str
    note: str
    created_at: dt.datetime


class OrderOut(Schema):
    order_no: str
    status: str
    status_label: str
    channel: str
    source_ref: str
    subtotal_fen: int
    discount_fen: int
    shipping_fen: int
    total_fen: int
    paid_fen: int
    refunded_fen: int
    points_used: int
    price_explanation: list[PriceRowOut]
    created_at: dt.datetime
    expires_at: dt.datetime | None
    paid_at: dt.datetime | None
    lines: list[OrderLineOut]


class OrderDetailOut(OrderOut):
    timeline: list[TimelineOut]


class RefundLineIn(InputSchema):
    line_id: Id = Field(..., title="订单商品")
    quantity: int = Field(..., ge=1, le=99, title="退款数量")


class RefundIn(InputSchema):
    lines: list[RefundLineIn] = Field(..., min_length=1, max_length=50, title="退款商品")
    reason: str = Field(..., min_length=1, max_length=200, title="退款原因")


class RefundOut(Schema):
    refund_no: str
    amount_fen: int
    status: str


class CouponChoiceOut(Schema):
    coupon_id: int
    name: str
    usable: bool
    reason: str
    discount_fen: int
    valid_until: dt.datetime | None


# Converters from domain objects to the schemas above; the live room's API returns the same shapes.
def quote_out(quote: CheckoutQuote) -> QuoteOut:
    return QuoteOut(
        lines=[
            QuoteLineOut(
                sku_id=line.sku.pk,
                name=f"{line.sku.product.name} {line.sku.spec}",
                quantity=line.quantity,
                unit_price_fen=line.unit_price_fen,
                discount_fen=line.discount_fen,
                total_fen=line.total_fen,
            )
            for line in quote.lines
        ],
        explanation=[PriceRowOut(**row) for row in quote.explanation()],
        subtotal_fen=quote.subtotal_fen,
        discount_fen=quote.discount_fen,
        shipping_fen=quote.shipping_fen,
        total_fen=quote.total_fen,
        points_used=quote.points_used,
        points_balance=quote.points_balance,
        shipping_rule=quote.shipping.rule_name,
        free_shipping_from_fen=quote.shipping.free_shipping_from_fen,
        free_shipping_gap_fen=quote.free_shipping_gap_fen,
        applied_coupon_ids=quote.applied_coupon_ids,
        rejected_coupons=[
            RejectedCouponOut(coupon_id=r.coupon_id, reason=r.reason)
            for r in quote.quote.rejected_coupons
        ],
    )


def order_out(order: Order, *, detail: bool = False) -> dict[str, Any]:
    data: dict[str, Any] = {
        "order_no": order.order_no,
        "status": order.status,
        "status_label": order.get_status_display(),
        "channel": order.channel,
        "source_ref": order.source_ref,
        "subtotal_fen": order.subtotal_fen,
        "discount_fen": order.discount_fen,
        "shipping_fen": order.shipping_fen,
        "total_fen": order.total_fen,
        "paid_fen": order.paid_fen,
        "refunded_fen": order.refunded_fen,
        "points_used": order.points_used,
        "price_explanation": order.price_explanation,
        "created_at": order.created_at,
        "expires_at": order.expires_at,
        "paid_at": order.paid_at,
        "lines": list(order.lines.all()),
    }
    if detail:
        data["timeline"] = list(order.timeline.all())
    return data


class AfterSalesIn(InputSchema):
    """The form fields of an after-sales request (multipart/form-data, beside `photos`)."""

    kind: str = Field(
        ...,
        pattern=r"^(refund_only|return_refund)$",
        title="售后类型",
        description="仅退款 refund_only / 退货退款 return_refund",
    )
    reason: str = Field(
        ...,
        pattern=r"^(damaged|spoiled|expired|missing|wrong_item|cold_chain|other)$",
        title="售后原因",
        description="商品破损 damaged / 变质、异味 spoiled / 临期、过期 expired / 少发、漏发 missing"
        " / 发错货 wrong_item / 冷链温度不达标 cold_chain / 其他 other",
    )
    description: str = Field("", max_length=500, title="问题描述")
    lines: str = Field(
        ...,
        min_length=2,
        max_length=4000,
        title="售后商品",
        description='JSON 数组，每项为一个订单商品和件数：[{"line_id": 12, "quantity": 1}]',
    )


class AfterSalesLineOut(Schema):
    line_id: int
    quantity: int
    product_name: str
    spec: str


class AfterSalesPhotoOut(Schema):
    url: str
    thumb_url: str
    width: int
    height: int


class AfterSalesCaseOut(Schema):
    case_no: str
    order_no: str
    kind: str
    kind_label: str
    reason: str
    reason_label: str
    description: str
    lines: list[AfterSalesLineOut]
    photos: list[AfterSalesPhotoOut]
    status: str
    status_label: str
    decision_note: str
    refund_no: str
    created_at: dt.datetime
    decided_at: dt.datetime | None


def aftersales_case_out(case: AfterSalesCase) -> AfterSalesCaseOut:
    by_id = {line.pk: line for line in case.order.lines.all()}
    return AfterSalesCaseOut(
        case_no=case.case_no,
        order_no=case.order.order_no,
        kind=case.kind,
        kind_label=case.get_kind_display(),
        reason=case.reason,
        reason_label=case.get_reason_display(),
        description=case.description,
        lines=[
            AfterSalesLineOut(
                line_id=item["line_id"],
                quantity=item["quantity"],
                product_name=by_id[item["line_id"]].product_name
                if item["line_id"] in by_id
                else "",
                spec=by_id[item["line_id"]].spec if item["line_id"] in by_id else "",
            )
            for item in case.lines
        ],
        photos=[
            AfterSalesPhotoOut(
                url=photo.url, thumb_url=photo.thumb_url, width=photo.width, height=photo.height
            )
            for photo in case.photos.all()
        ],
        status=case.status,
        status_label=case.get_status_display(),
        decision_note=case.decision_note,
        refund_no=case.refund.refund_no if case.refund else "",
        created_at=case.created_at,
        decided_at=case.decided_at,
    )
