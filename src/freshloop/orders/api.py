"""Cart, checkout and orders for buyers (H5, live room, partner apps acting for a buyer)."""

from __future__ import annotations

import json
from typing import Any

from django.http import HttpRequest
from ninja import File, Form, Header, Path, Router, Status, UploadedFile

from freshloop.catalog.selectors import sku_picture
from freshloop.core.api_errors import raises
from freshloop.core.audit import Actor
from freshloop.core.crypto import mask_phone
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.images import ImageRejected
from freshloop.core.schemas import MAX_ID
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.inventory.errors import OutOfStock
from freshloop.membership.errors import (
    InsufficientPoints,
    InvalidPointsRequest,
    MemberNotFound,
    PointsRefConflict,
)
from freshloop.orders.errors import (
    AddressInvalid,
    AddressLimitExceeded,
    AddressNotFound,
    AddressUnparseable,
    AfterSalesAlreadyOpen,
    AfterSalesInvalid,
    CartEmpty,
    CartLimitExceeded,
    IdempotencyKeyReused,
    OrderNotFound,
    OrderStateInvalid,
    RefundInvalid,
)
from freshloop.orders.models import Address
from freshloop.orders.schemas import (
    AddressBookIn,
    AddressBookOut,
    AddressParseIn,
    AddressParseOut,
    AfterSalesCaseOut,
    AfterSalesIn,
    CartItemIn,
    CartLineOut,
    CartOut,
    CheckoutIn,
    CheckoutPreviewIn,
    CouponChoiceOut,
    OrderCreateIn,
    OrderDetailOut,
    OrderOut,
    QuoteOut,
    RefundIn,
    RefundOut,
    RegionsOut,
    aftersales_case_out,
    order_out,
    quote_out,
)
from freshloop.orders.selectors import (
    address_get_for_person,
    address_list_for_person,
    aftersales_cases_for_order,
    cart_items_for_person,
    order_get_for_person,
    order_list_for_person,
)
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    address_create,
    address_delete,
    address_parse,
    address_set_default,
    address_update,
    aftersales_case_open,
    cart_item_set,
    checkout_coupons,
    checkout_preview,
    order_cancel,
    order_create,
    order_refund_request,
    region_names,
)
from freshloop.promotions.errors import (
    CampaignBudgetExhausted,
    CampaignInvalid,
    CouponBudgetExhausted,
    CouponUnavailable,
)

router = Router(tags=["购物车与订单 orders"], auth=ConsumerAuth())


def _cart_out(request: HttpRequest) -> CartOut:
    items = cart_items_for_person(person=request_person(request))
    return CartOut(
        items=[
            CartLineOut(
                sku_id=item.sku_id,
                name=item.sku.product.name,
                spec=item.sku.spec,
                unit_price_fen=item.sku.price_fen,
                quantity=item.quantity,
                image_url=picture.url if picture else None,
                thumb_url=picture.webp_400.url if picture else None,
            )
            for item, picture in ((item, sku_picture(item.sku)) for item in items)
        ]
    )


@router.get("/cart", response=CartOut, summary="我的购物车")
def cart_get(request: HttpRequest) -> CartOut:
    return _cart_out(request)


@router.put("/cart/items", response=CartOut, summary="设置购物车中某商品的数量（0 为删除）")
@raises(NotFound, CartLimitExceeded, InvalidInput)
def cart_put(request: HttpRequest, body: CartItemIn) -> CartOut:
    cart_item_set(person=request_person(request), sku_id=body.sku_id, quantity=body.quantity)
    return _cart_out(request)


def _checkout_request(request: HttpRequest, body: CheckoutIn, **extra: Any) -> CheckoutRequest:
    return CheckoutRequest(
        person=request_person(request),
        channel=body.channel,
        source_ref=body.source_ref,
        items=None
        if body.items is None
        else [CheckoutItem(sku_id=i.sku_id, quantity=i.quantity) for i in body.items],
        coupon_ids=body.coupon_ids,
        points=body.points,
        **extra,
    )


def _preview_request(request: HttpRequest, body: CheckoutPreviewIn) -> CheckoutRequest:
    """A preview prices shipping for where the order would go, when it says so."""
    return _checkout_request(
        request,
        body,
        address_id=body.address_id,
        address={"province": body.province} if body.province else {},
    )


@router.post("/checkout/preview", response=QuoteOut, summary="结算预览：逐项说明价格")
@raises(CartEmpty, CartLimitExceeded, NotFound, InvalidInput, MemberNotFound)
def preview(request: HttpRequest, body: CheckoutPreviewIn) -> QuoteOut:
    return quote_out(checkout_preview(request=_preview_request(request, body)))


@router.post("/checkout/coupons", response=list[CouponChoiceOut], summary="本次结算可用的优惠券")
@raises(CartEmpty, CartLimitExceeded, NotFound, InvalidInput, MemberNotFound)
def coupons_for_checkout(request: HttpRequest, body: CheckoutPreviewIn) -> list[CouponChoiceOut]:
    return [
        CouponChoiceOut(
            coupon_id=choice.coupon.pk,
            name=choice.coupon.template.name,
            usable=choice.usable,
            reason=choice.reason,
            discount_fen=choice.discount_fen,
            valid_until=choice.coupon.valid_until,
        )
        for choice in checkout_coupons(request=_preview_request(request, body))
    ]


@router.post(
    "/orders",
    response={201: OrderDetailOut, 200: OrderDetailOut},
    summary="下单：计价、预占库存、锁定优惠券和积分，一个事务完成；Idempotency-Key 重试返回同一订单",
)
@raises(
    CartEmpty,
    CartLimitExceeded,
    AddressInvalid,
    AddressNotFound,
    NotFound,
    InvalidInput,
    OutOfStock,
    IdempotencyKeyReused,
    CouponUnavailable,
    CouponBudgetExhausted,
    CampaignBudgetExhausted,
    CampaignInvalid,
    InsufficientPoints,
    InvalidPointsRequest,
    PointsRefConflict,
    MemberNotFound,
)
def orders_create(
    request: HttpRequest,
    body: OrderCreateIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> Status[dict[str, Any]]:
    order, created = order_create(
        request=_checkout_request(
            request,
            body,
            address=body.address.model_dump() if body.address is not None else {},
            address_id=body.address_id,
            idempotency_key=idempotency_key,
        )
    )
    return Status(201 if created else 200, order_out(order, detail=True))


@router.get("/orders", response=list[OrderOut], summary="我的订单")
def orders_list(request: HttpRequest, status: str | None = None) -> list[dict[str, Any]]:
    orders = order_list_for_person(person=request_person(request), status=status)[:100]
    return [order_out(order) for order in orders]


@router.get("/orders/{order_no}", response=OrderDetailOut, summary="订单详情与时间线")
@raises(OrderNotFound)
def orders_get(request: HttpRequest, order_no: str) -> dict[str, Any]:
    order = order_get_for_person(person=request_person(request), order_no=order_no)
    return order_out(order, detail=True)


@router.post("/orders/{order_no}/cancel", response=OrderDetailOut, summary="取消未支付订单")
@raises(
    OrderNotFound,
    OrderStateInvalid,
    InsufficientPoints,
    InvalidPointsRequest,
    MemberNotFound,
)
def orders_cancel(request: HttpRequest, order_no: str) -> dict[str, Any]:
    person = request_person(request)
    order_get_for_person(person=person, order_no=order_no)
    order = order_cancel(order_no=order_no, reason="顾客取消", actor=Actor.consumer(person.one_id))
    return order_out(order_get_for_person(person=person, order_no=order.order_no), detail=True)


@router.post("/orders/{order_no}/refunds", response={201: RefundOut}, summary="申请退款")
@raises(OrderNotFound, OrderStateInvalid, RefundInvalid)
def orders_refund(request: HttpRequest, order_no: str, body: RefundIn) -> Status[RefundOut]:
    person = request_person(request)
    order_get_for_person(person=person, order_no=order_no)
    refund = order_refund_request(
        order_no=order_no,
        reason=body.reason,
        actor=Actor.consumer(person.one_id),
        lines=[line.model_dump() for line in body.lines],
    )
    return Status(
        201,
        RefundOut(refund_no=refund.refund_no, amount_fen=refund.amount_fen, status=refund.status),
    )


# --- after-sales ------------------------------------------------------------------------------
# Multipart, so photos travel with the fields in one request: ninja parses `Form[...]` fields and
# `File[list[UploadedFile]]` parts cleanly; `lines` is one form field holding a JSON array.


AfterSalesPhotos = File(
    None, title="售后照片", description="最多 6 张 JPEG、PNG 或 WebP 图片，每张不超过 10 MB"
)


def _aftersales_lines(text: str) -> list[dict[str, Any]]:
    try:
        lines = json.loads(text)
    except ValueError:
        lines = None
    if not isinstance(lines, list) or not all(isinstance(item, dict) for item in lines):
        raise AfterSalesInvalid.for_fields([("lines", "售后商品格式不正确")])
    if len(lines) > 50:
        raise AfterSalesInvalid.for_fields([("lines", "售后商品最多 50 项")])
    return lines


@router.post(
    "/orders/{order_no}/after-sales",
    response={201: AfterSalesCaseOut},
    summary="申请售后（multipart/form-data：字段 + 最多 6 张照片 photos）",
)
@raises(
    OrderNotFound,
    OrderStateInvalid,
    AfterSalesInvalid,
    AfterSalesAlreadyOpen,
    ImageRejected,
)
def orders_aftersales_open(
    request: HttpRequest,
    order_no: str,
    body: Form[AfterSalesIn],
    photos: list[UploadedFile] = AfterSalesPhotos,
) -> Status[AfterSalesCaseOut]:
    person = request_person(request)
    case = aftersales_case_open(
        person=person,
        order_no=order_no,
        kind=body.kind,
        reason=body.reason,
        description=body.description,
        lines=_aftersales_lines(body.lines),
        photos=list(photos or []),
    )
    cases = aftersales_cases_for_order(person=person, order_no=order_no)
    return Status(201, aftersales_case_out(next(c for c in cases if c.pk == case.pk)))


@router.get(
    "/orders/{order_no}/after-sales",
    response=list[AfterSalesCaseOut],
    summary="本订单的售后工单（最新在前）",
)
@raises(OrderNotFound)
def orders_aftersales_list(request: HttpRequest, order_no: str) -> list[AfterSalesCaseOut]:
    cases = aftersales_cases_for_order(person=request_person(request), order_no=order_no)
    return [aftersales_case_out(case) for case in cases]


# --- the address book ------------------------------------------------------------------------
# `/addresses/parse` is declared before `/addresses/{address_id}`: the first matching path wins.

AddressId = Path(..., ge=1, le=MAX_ID, description="地址编号")


def _address_out(address: Address) -> AddressBookOut:
    return AddressBookOut(
        id=address.pk,
        name=address.name,
        phone=address.phone,
        phone_masked=mask_phone("+86" + address.phone),
        province=address.province,
        city=address.city,
        district=address.district,
        detail=address.detail,
        label=address.label,
        is_default=address.is_default,
        updated_at=address.updated_at,
    )


@router.get("/addresses", response=list[AddressBookOut], summary="我的收货地址（默认地址在前）")
def addresses_list(request: HttpRequest) -> list[AddressBookOut]:
    return [_address_out(a) for a in address_list_for_person(person=request_person(request))]


@router.post("/addresses", response={201: AddressBookOut}, summary="新增收货地址（最多 20 个）")
@raises(AddressInvalid, AddressLimitExceeded)
def addresses_create(request: HttpRequest, body: AddressBookIn) -> Status[AddressBookOut]:
    address = address_create(person=request_person(request), **body.model_dump())
    return Status(201, _address_out(address))


@router.post(
    "/addresses/parse",
    response=AddressParseOut,
    summary="智能填写：从一段文字中识别收货人、手机号和省市区地址",
)
@raises(AddressUnparseable)
def addresses_parse(request: HttpRequest, body: AddressParseIn) -> AddressParseOut:
    parsed = address_parse(text=body.text)
    return AddressParseOut(
        name=parsed.name,
        phone=parsed.phone,
        province=parsed.province,
        city=parsed.city,
        district=parsed.district,
        detail=parsed.detail,
    )


@router.get("/addresses/{address_id}", response=AddressBookOut, summary="一个收货地址")
@raises(AddressNotFound)
def addresses_get(request: HttpRequest, address_id: int = AddressId) -> AddressBookOut:
    person = request_person(request)
    return _address_out(address_get_for_person(person=person, address_id=address_id))


@router.put("/addresses/{address_id}", response=AddressBookOut, summary="修改收货地址")
@raises(AddressInvalid, AddressNotFound)
def addresses_update(
    request: HttpRequest, body: AddressBookIn, address_id: int = AddressId
) -> AddressBookOut:
    address = address_update(
        person=request_person(request), address_id=address_id, **body.model_dump()
    )
    return _address_out(address)


@router.delete("/addresses/{address_id}", response={204: None}, summary="删除收货地址")
@raises(AddressNotFound)
def addresses_delete(request: HttpRequest, address_id: int = AddressId) -> Status[None]:
    address_delete(person=request_person(request), address_id=address_id)
    return Status(204, None)


@router.post("/addresses/{address_id}/default", response=AddressBookOut, summary="设为默认收货地址")
@raises(AddressNotFound)
def addresses_set_default(request: HttpRequest, address_id: int = AddressId) -> AddressBookOut:
    address = address_set_default(person=request_person(request), address_id=address_id)
    return _address_out(address)


@router.get(
    "/regions",
    response=RegionsOut,
    summary="省 → 市 → 区县 名称（逐级获取：不带参数为省份，带 province 为城市，再带 city 为区县）",
)
def regions(request: HttpRequest, province: str = "", city: str = "") -> RegionsOut:
    level = "district" if province and city else "city" if province else "province"
    return RegionsOut(level=level, names=region_names(province=province[:32], city=city[:32]))
