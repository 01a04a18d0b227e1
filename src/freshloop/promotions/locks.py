"""Row locks of the promotions module. Its counters and budgets move by conditional UPDATEs
(which lock the row they change); where several rows move, they go in one order:

1. a redeem code, then the person's claim counter, then the coupon template (claiming);
2. coupons in primary-key order, then their templates in primary-key order, then campaigns in
   primary-key order (an order's checkout, redemption and release; orders lock the order row,
   and stock, before any of these).

An operator's edit locks one row — a campaign, a coupon template or a redeem code — and
nothing after it, so it fits anywhere in that order.
"""

from __future__ import annotations

from freshloop.promotions.models import Campaign, CouponTemplate, RedeemCode


def campaign_lock(campaign_id: int) -> Campaign:
    """One campaign (raises `Campaign.DoesNotExist` when it is gone)."""
    return Campaign.objects.select_for_update().get(pk=campaign_id)


def coupon_template_lock(template_id: int) -> CouponTemplate:
    """One coupon template (raises `CouponTemplate.DoesNotExist` when it is gone)."""
    return CouponTemplate.objects.select_for_update().get(pk=template_id)


def redeem_code_lock(redeem_code_id: int) -> RedeemCode:
    """One redeem code (raises `RedeemCode.DoesNotExist` when it is gone)."""
    return RedeemCode.objects.select_for_update().get(pk=redeem_code_id)
