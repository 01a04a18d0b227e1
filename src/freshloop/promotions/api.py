"""Consumer API: my coupons, claim a coupon with a shareable code."""

from __future__ import annotations

from django.http import HttpRequest
from ninja import Query, Router, Schema, Status
from pydantic import Field

from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.promotions.errors import (
    CouponLimitReached,
    CouponSoldOut,
    CouponUnavailable,
    RedeemCodeExhausted,
    RedeemCodeExpired,
    RedeemCodeNotFound,
)
from freshloop.promotions.models import Coupon
from freshloop.promotions.schemas import ClaimIn, CouponListOut, CouponOut
from freshloop.promotions.selectors import coupon_display_status, coupons_for_person
from freshloop.promotions.services import coupon_claim_by_code

router = Router(tags=["优惠券 promotions"], auth=ConsumerAuth())

MAX_LISTED = 200


class MineQuery(Schema):
    status: str | None = Field(None, description="available / locked / used / expired / void")


def _coupon_out(coupon: Coupon) -> CouponOut:
    template = coupon.template
    return CouponOut(
        id=coupon.pk,
        code=coupon.code,
        name=template.name,
        kind=template.kind,
        description=template.description,
        status=coupon_display_status(coupon),
        amount_off_fen=template.amount_off_fen,
        percent_off_bp=template.percent_off_bp,
        cap_fen=template.cap_fen,
        threshold_fen=template.threshold_fen,
        live_only=template.live_only,
        new_customer_only=template.new_customer_only,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        source=coupon.source,
        used_order_ref=coupon.used_order_ref,
        discount_fen=coupon.discount_fen,
    )


@router.get("/coupons/mine", response=CouponListOut, summary="我的优惠券")
@raises(InvalidInput)
def my_coupons(request: HttpRequest, query: Query[MineQuery]) -> CouponListOut:
    person = request_person(request)
    coupons = coupons_for_person(person_id=person.pk, status=query.status)[:MAX_LISTED]
    return CouponListOut(items=[_coupon_out(coupon) for coupon in coupons])


@router.post("/coupons/claim", response={201: CouponOut}, summary="用兑换码领取优惠券")
@raises(
    RedeemCodeNotFound,
    RedeemCodeExpired,
    RedeemCodeExhausted,
    CouponUnavailable,
    CouponSoldOut,
    CouponLimitReached,
)
def claim(request: HttpRequest, body: ClaimIn) -> Status[CouponOut]:
    coupon = coupon_claim_by_code(person=request_person(request), code=body.code)
    return Status(201, _coupon_out(coupon))
