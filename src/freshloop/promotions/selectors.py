"""Promotions reads: wallets, what a cart can use, quotes built from the database, exports."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.db.models import Q, QuerySet

from freshloop.core import clock
from freshloop.core.errors import DomainError, InvalidInput
from freshloop.core.money import format_fen
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.selectors import person_by_identifier, person_get
from freshloop.promotions.models import (
    Campaign,
    CampaignKind,
    Coupon,
    CouponStatus,
    CouponTemplate,
)
from freshloop.promotions.pricing import (
    DEFAULT_POINTS_CAP_PERCENT,
    NO_SPECIAL_PRICES,
    CampaignOffer,
    CouponOffer,
    MemberBenefits,
    PriceQuote,
    QuoteLine,
    RejectedCoupon,
    SpecialPrice,
    Tier,
    price_quote,
)


def coupons_for_person(*, person_id: int, status: str | None = None) -> QuerySet[Coupon]:
    """A person's wallet, newest first; `status` narrows it (available/locked/used/expired/void).

    Coupons whose time ran out but that the periodic expiry has not reached yet are reported
    as expired, not available.
    """
    coupons = Coupon.objects.select_related("template").filter(person_id=person_id)
    if status is None:
        return coupons.order_by("-issued_at", "-pk")
    if status not in CouponStatus.values:
        raise InvalidInput("未知的优惠券状态", detail={"status": status})
    now = clock.now()
    if status == CouponStatus.AVAILABLE:
        coupons = coupons.filter(status=status, valid_until__gt=now)
    elif status == CouponStatus.EXPIRED:
        coupons = coupons.filter(
            Q(status=status) | Q(status=CouponStatus.AVAILABLE, valid_until__lte=now)
        )
    else:
        coupons = coupons.filter(status=status)
    return coupons.order_by("-issued_at", "-pk")


def coupon_display_status(coupon: Coupon, *, now: dt.datetime | None = None) -> str:
    moment = now or clock.now()
    if coupon.status == CouponStatus.AVAILABLE and coupon.valid_until <= moment:
        return CouponStatus.EXPIRED
    return coupon.status


def _template_budget_left(template: CouponTemplate) -> int | None:
    return None if template.budget_fen is None else template.budget_fen - template.spent_fen


def coupon_offer(coupon: Coupon) -> CouponOffer:
    """The pricing view of a coupon (its template's rules with the coupon's own window)."""
    template = coupon.template
    return CouponOffer(
        coupon_id=coupon.pk,
        template_id=template.pk,
        name=template.name,
        kind=template.kind,
        valid_from=coupon.valid_from,
        valid_until=coupon.valid_until,
        status=coupon.status,
        amount_off_fen=template.amount_off_fen,
        percent_off_bp=template.percent_off_bp,
        cap_fen=template.cap_fen,
        threshold_fen=template.threshold_fen,
        live_only=template.live_only,
        live_session_id=template.live_session_id,
        new_customer_only=template.new_customer_only,
        is_active=template.is_active,
        stackable_with_campaigns=template.stackable_with_campaigns,
        product_ids=frozenset(p.pk for p in template.products.all()),
        category_ids=frozenset(c.pk for c in template.categories.all()),
        budget_left_fen=_template_budget_left(template),
    )


def campaign_offer(campaign: Campaign) -> CampaignOffer:
    return CampaignOffer(
        campaign_id=campaign.pk,
        name=campaign.name,
        kind=campaign.kind,
        starts_at=campaign.starts_at,
        ends_at=campaign.ends_at,
        channels=frozenset(campaign.channels),
        prices={price.sku_id: price.price_fen for price in campaign.prices.all()},
        tiers=tuple(
            Tier(threshold_fen=tier["threshold_fen"], off_fen=tier["off_fen"])
            for tier in (campaign.tiers if campaign.kind == CampaignKind.TIERED else [])
        ),
        product_ids=frozenset(p.pk for p in campaign.products.all()),
        category_ids=frozenset(c.pk for c in campaign.categories.all()),
        is_active=campaign.is_active,
        priority=campaign.priority,
        budget_left_fen=None
        if campaign.budget_fen is None
        else campaign.budget_fen - campaign.spent_fen,
    )


def campaigns_active(*, channel: str, now: dt.datetime) -> list[CampaignOffer]:
    """Campaigns running now on `channel` (the channel filter is done in Python: JSON list
    containment differs between SQLite and PostgreSQL)."""
    campaigns = (
        Campaign.objects.filter(is_active=True, starts_at__lte=now, ends_at__gt=now)
        .prefetch_related("prices", "products", "categories")
        .order_by("pk")
    )
    return [campaign_offer(c) for c in campaigns if channel in c.channels]


def _wallet_offers(*, person_id: int, coupon_ids: Iterable[int] | None) -> list[CouponOffer]:
    coupons = Coupon.objects.select_related("template").prefetch_related(
        "template__products", "template__categories"
    )
    if coupon_ids is None:
        coupons = coupons.filter(person_id=person_id, status=CouponStatus.AVAILABLE)
    else:
        coupons = coupons.filter(person_id=person_id, pk__in=list(coupon_ids))
    return [coupon_offer(coupon) for coupon in coupons.order_by("pk")]


def price_quote_for_cart(
    *,
    person_id: int | None,
    lines: Sequence[QuoteLine],
    channel: str,
    live_session_id: str | None,
    coupon_ids: Sequence[int],
    member: MemberBenefits | None,
    is_new_customer: bool | Callable[[], bool],
    points_redeem_fen: int,
    now: dt.datetime | None = None,
    shipping_fee_fen: int = 0,
    free_shipping_threshold_fen: int = 0,
    points_cap_percent: int = DEFAULT_POINTS_CAP_PERCENT,
    special_prices: Mapping[int, SpecialPrice] = NO_SPECIAL_PRICES,
    campaigns: Sequence[CampaignOffer] | None = None,
) -> PriceQuote:
    """Quote a cart with the buyer's chosen coupons and every running campaign (`campaigns`,
    read once by a caller pricing many carts on one channel at one moment; read here if None).

    A coupon id that is not this person's is reported as rejected ("优惠券不存在").
    `special_prices` (sku_id -> SpecialPrice) are trusted grants the caller checked (a live
    flash-sale claim…), handed to the engine as they are: each is explained on its own line and
    charges no campaign budget (see `pricing._apply_unit_prices`).
    `is_new_customer` may be a question (a read the caller pays for): it is asked only when a
    chosen coupon is for new customers, the one rule that looks at it.
    """
    moment = now or clock.now()
    offers = (
        _wallet_offers(person_id=person_id, coupon_ids=coupon_ids)
        if person_id is not None and coupon_ids
        else []
    )
    if callable(is_new_customer):
        is_new_customer = any(offer.new_customer_only for offer in offers) and is_new_customer()
    found = {offer.coupon_id for offer in offers}
    quote = price_quote(
        lines=lines,
        channel=channel,
        live_session_id=live_session_id,
        coupons=offers,
        campaigns=(
            list(campaigns)
            if campaigns is not None
            else campaigns_active(channel=channel, now=moment)
        ),
        special_prices=special_prices,
        member=member,
        is_new_customer=is_new_customer,
        shipping_fee_fen=shipping_fee_fen,
        free_shipping_threshold_fen=free_shipping_threshold_fen,
        points_redeem_fen=points_redeem_fen,
        now=moment,
        points_cap_percent=points_cap_percent,
    )
    missing = [cid for cid in dict.fromkeys(coupon_ids) if cid not in found]
    if not missing:
        return quote
    return dataclasses.replace(
        quote,
        rejected_coupons=quote.rejected_coupons
        + tuple(RejectedCoupon(cid, "优惠券不存在") for cid in missing),
    )


@dataclasses.dataclass(frozen=True)
class CouponUsability:
    coupon: Coupon
    usable: bool
    reason: str  # why not, in Chinese; "" when usable
    discount_fen: int  # what it would save on this cart on its own


def coupons_usable_for_cart(
    *,
    person_id: int,
    lines: Sequence[QuoteLine],
    channel: str,
    live_session_id: str | None,
    now: dt.datetime | None = None,
    member: MemberBenefits | None = None,
    is_new_customer: bool = False,
    shipping_fee_fen: int = 0,
    free_shipping_threshold_fen: int = 0,
    special_prices: Mapping[int, SpecialPrice] = NO_SPECIAL_PRICES,
) -> list[CouponUsability]:
    """Every available coupon of the person, each priced alone on this cart: usable ones first
    (biggest saving first), then the others with the reason they do not apply.
    `special_prices` as in `price_quote_for_cart`."""
    moment = now or clock.now()
    campaigns = campaigns_active(channel=channel, now=moment)
    coupons = list(
        Coupon.objects.select_related("template")
        .prefetch_related("template__products", "template__categories")
        .filter(person_id=person_id, status=CouponStatus.AVAILABLE)
        .order_by("valid_until", "pk")
    )
    results: list[CouponUsability] = []
    for coupon in coupons:
        quote = price_quote(
            lines=lines,
            channel=channel,
            live_session_id=live_session_id,
            coupons=[coupon_offer(coupon)],
            campaigns=campaigns,
            special_prices=special_prices,
            member=member,
            is_new_customer=is_new_customer,
            shipping_fee_fen=shipping_fee_fen,
            free_shipping_threshold_fen=free_shipping_threshold_fen,
            points_redeem_fen=0,
            now=moment,
        )
        reasons = [r.reason for r in quote.rejected_coupons if r.coupon_id == coupon.pk]
        results.append(
            CouponUsability(
                coupon=coupon,
                usable=not reasons,
                reason=reasons[0] if reasons else "",
                discount_fen=quote.discount_by_coupon.get(coupon.pk, 0),
            )
        )
    results.sort(key=lambda r: (not r.usable, -r.discount_fen))
    return results


@dataclasses.dataclass(frozen=True)
class ResolvedPeople:
    people: list[Person]
    unknown: list[str]


def people_resolve(*, entries: Iterable[str]) -> ResolvedPeople:
    """Turn what a marketer pasted (OneIDs or phone numbers, one per line or comma separated)
    into people; merged OneIDs resolve to the survivor, anything unmatched is reported."""
    people: dict[int, Person] = {}
    unknown: list[str] = []
    for raw in entries:
        entry = raw.strip()
        if not entry:
            continue
        person: Person | None
        try:
            if entry.upper().startswith("P_"):
                person = person_get(one_id=entry.upper())
            else:
                person = person_by_identifier(identifier_type="phone", value=entry)
        except DomainError:
            person = None
        if person is None or person.status != PersonStatus.ACTIVE:
            unknown.append(entry)
        else:
            people[person.pk] = person
    return ResolvedPeople(people=list(people.values()), unknown=unknown)


def coupons_export_section(person: Person) -> list[dict[str, Any]]:
    """PIPL export: every coupon the person holds or held."""
    return [
        {
            "code": coupon.code,
            "name": coupon.template.name,
            "kind": coupon.template.kind,
            "status": coupon.status,
            "source": coupon.source,
            "valid_from": coupon.valid_from.isoformat(),
            "valid_until": coupon.valid_until.isoformat(),
            "issued_at": coupon.issued_at.isoformat(),
            "used_at": coupon.used_at.isoformat() if coupon.used_at else None,
            "used_order_ref": coupon.used_order_ref,
            "discount_fen": coupon.discount_fen,
        }
        for coupon in Coupon.objects.select_related("template").filter(person=person).order_by("pk")
    ]


def coupon_value_text(template_obj: object) -> str:
    """What a coupon template gives, as printed on the coupon: ¥10 / 8.8折 / 满99减20 / 免运费."""
    kind = getattr(template_obj, "kind", "")
    off = int(getattr(template_obj, "amount_off_fen", 0) or 0)
    if kind == "fixed":
        return format_fen(off)
    if kind == "threshold":
        threshold = int(getattr(template_obj, "threshold_fen", 0) or 0)
        return (
            f"满{threshold // 100}减{off // 100}"
            if off % 100 == 0
            else f"满{threshold // 100}减{off / 100:.2f}"
        )
    if kind == "percent":
        bp = int(getattr(template_obj, "percent_off_bp", 0) or 0)
        return f"{(10000 - bp) / 1000:g}折"
    if kind == "free_shipping":
        return "免运费"
    return ""
