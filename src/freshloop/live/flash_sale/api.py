"""Flash sales for buyers in the room: the sale's figures and the buy button (SPEC LV-4)."""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest
from ninja import Header, Router, Status

from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.inventory.errors import OutOfStock
from freshloop.live.flash_sale.errors import (
    FlashSaleLimitExceeded,
    FlashSaleNotFound,
    FlashSaleNotOpen,
    FlashSaleQuantityInvalid,
    FlashSaleSoldOut,
)
from freshloop.live.flash_sale.redis_stock import gate_sold_out
from freshloop.live.flash_sale.schemas import FlashBuyIn, FlashSaleOut
from freshloop.live.flash_sale.selectors import (
    flash_sale_effective_status,
    flash_sale_get,
    flash_sale_remaining,
)
from freshloop.live.flash_sale.services import flash_sale_buy
from freshloop.live.room.access import request_admit
from freshloop.live.room.errors import MembersOnly
from freshloop.membership.errors import (
    InsufficientPoints,
    InvalidPointsRequest,
    MemberNotFound,
    PointsRefConflict,
)
from freshloop.orders.errors import (
    AddressInvalid,
    AddressNotFound,
    CartEmpty,
    CartLimitExceeded,
    IdempotencyKeyReused,
)
from freshloop.orders.schemas import OrderDetailOut, order_out
from freshloop.promotions.errors import (
    CampaignBudgetExhausted,
    CampaignInvalid,
    CouponBudgetExhausted,
    CouponUnavailable,
)

router = Router(tags=["直播秒杀 live flash sales"])


class BuyerUnlessSoldOut(ConsumerAuth):
    """The buyer's bearer token or session — asked only once Redis has not answered "sold out".

    When the units are gone, the thousands still tapping are told so from the Redis counter
    alone (one round trip, no SQL: not even the token is looked up). Sold out is public (the
    sale's figures are), so an anonymous tap on a sold-out sale is told it too. A request whose
    Idempotency-Key reserved units before is asked the full way: it may be a winner's retry,
    answered with its order.
    """

    def __call__(self, request: HttpRequest) -> Any:
        match = request.resolver_match
        sale_id = match.kwargs.get("flash_sale_id") if match is not None else None
        if sale_id is not None and str(sale_id).isdigit():
            key = request.headers.get("Idempotency-Key", "")
            if gate_sold_out(flash_sale_id=int(sale_id), idempotency_key=key):
                raise FlashSaleSoldOut(detail={"flash_sale_id": int(sale_id), "remaining": 0})
        return super().__call__(request)


@router.get("/{flash_sale_id}", response=FlashSaleOut, summary="秒杀详情：价格、数量、剩余、状态")
@raises(FlashSaleNotFound)
def flash_sale_detail(request: HttpRequest, flash_sale_id: int) -> dict[str, Any]:
    sale = flash_sale_get(flash_sale_id=flash_sale_id)
    status = flash_sale_effective_status(sale)
    return {
        "id": sale.pk,
        "session_code": sale.session.code,
        "sku_id": sale.sku_id,
        "name": f"{sale.sku.product.name} {sale.sku.spec}",
        "list_price_fen": sale.sku.price_fen,
        "price_fen": sale.price_fen,
        "quantity": sale.quantity,
        "remaining": flash_sale_remaining(sale) if status == "running" else 0,
        "per_user_limit": sale.per_user_limit,
        "status": status,
        "starts_at": sale.starts_at,
        "ends_at": sale.ends_at,
    }


@router.post(
    "/{flash_sale_id}/buy",
    auth=BuyerUnlessSoldOut(),
    response={201: OrderDetailOut, 200: OrderDetailOut},
    summary="秒杀下单：抢到即生成待支付订单（秒杀价），15 分钟内未支付自动释放；"
    "Idempotency-Key 重试返回同一订单",
)
@raises(
    AddressInvalid,
    AddressNotFound,
    CampaignBudgetExhausted,
    CampaignInvalid,
    CartEmpty,
    CartLimitExceeded,
    CouponBudgetExhausted,
    CouponUnavailable,
    FlashSaleLimitExceeded,
    FlashSaleNotFound,
    FlashSaleNotOpen,
    FlashSaleQuantityInvalid,
    FlashSaleSoldOut,
    IdempotencyKeyReused,
    InsufficientPoints,
    InvalidInput,
    InvalidPointsRequest,
    MemberNotFound,
    MembersOnly,
    NotFound,
    OutOfStock,
    PointsRefConflict,
)
def flash_sale_buy_endpoint(
    request: HttpRequest,
    flash_sale_id: int,
    body: FlashBuyIn,
    idempotency_key: str = Header("", alias="Idempotency-Key"),
) -> Status[dict[str, Any]]:
    person = request_person(request)
    sale = flash_sale_get(flash_sale_id=flash_sale_id)
    # A members-only room's flash price is for the people let into the room.
    request_admit(request, session=sale.session, person=person)
    # The service decides whether this call created the order (a racing retry under the same
    # key gets the order it made, and 200).
    order, created = flash_sale_buy(
        flash_sale=sale,
        person=person,
        quantity=body.quantity,
        address=body.address.model_dump() if body.address is not None else {},
        address_id=body.address_id,
        coupon_ids=body.coupon_ids,
        idempotency_key=idempotency_key,
    )
    return Status(201 if created else 200, order_out(order, detail=True))
