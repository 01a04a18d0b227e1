"""Test data for promotions, built through the real services."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

from freshloop.catalog.models import Category, Product, Sku, StorageCondition
from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
from freshloop.core.audit import Actor
from freshloop.identity.models import Person
from freshloop.promotions.models import Campaign, Coupon, CouponSource, CouponTemplate
from freshloop.promotions.pricing import (
    CampaignOffer,
    CouponOffer,
    QuoteLine,
    SpecialPrice,
    SpecialPriceKind,
    Tier,
)
from freshloop.promotions.services import (
    CampaignSpec,
    CouponTemplateSpec,
    campaign_create,
    coupon_issue,
    coupon_template_create,
)

T0 = dt.datetime(2026, 12, 1, 4, 0, tzinfo=dt.UTC)  # 12:00 in Shanghai
SYSTEM = Actor.system("tests")
_codes = itertools.count(1)


@dataclasses.dataclass
class Shelf:
    dairy: Category
    fruit: Category
    milk: Product
    apple: Product
    milk_sku: Sku  # 鲜牛奶 ¥30.00
    apple_sku: Sku  # 苹果 ¥50.00


def make_shelf() -> Shelf:
    dairy = category_upsert(code="dairy", name="乳品")
    fruit = category_upsert(code="fruit", name="水果")
    milk = product_upsert(
        code="milk",
        name="鲜牛奶",
        category=dairy,
        storage=StorageCondition.CHILLED,
        shelf_life_days=7,
    )
    apple = product_upsert(
        code="apple",
        name="苹果",
        category=fruit,
        storage=StorageCondition.AMBIENT,
        shelf_life_days=30,
    )
    return Shelf(
        dairy=dairy,
        fruit=fruit,
        milk=milk,
        apple=apple,
        milk_sku=sku_upsert(product=milk, code="milk-950", spec="950ml", price_fen=3000),
        apple_sku=sku_upsert(product=apple, code="apple-5kg", spec="5kg", price_fen=5000),
    )


def quote_line(sku: Sku, quantity: int) -> QuoteLine:
    return QuoteLine(
        sku_id=sku.pk,
        product_id=sku.product_id,
        category_id=sku.product.category_id,
        name=str(sku),
        unit_price_fen=sku.price_fen,
        quantity=quantity,
    )


def template_spec(**overrides: Any) -> CouponTemplateSpec:
    values: dict[str, Any] = {
        "code": f"tpl-{next(_codes)}",
        "name": "满99减20",
        "kind": "threshold",
        "amount_off_fen": 2000,
        "threshold_fen": 9900,
        "valid_days": 7,
    }
    values.update(overrides)
    return CouponTemplateSpec(**values)


def make_template(**overrides: Any) -> CouponTemplate:
    return coupon_template_create(actor=SYSTEM, spec=template_spec(**overrides))


def give(template: CouponTemplate, person: Person) -> Coupon:
    result = coupon_issue(
        template=template, people=[person], source=CouponSource.MANUAL, actor=SYSTEM
    )
    assert len(result.issued) == 1, result.skipped
    return result.issued[0]


def make_campaign(**overrides: Any) -> Campaign:
    values: dict[str, Any] = {
        "code": f"camp-{next(_codes)}",
        "name": "双十二满减",
        "kind": "tiered",
        "starts_at": T0 - dt.timedelta(days=1),
        "ends_at": T0 + dt.timedelta(days=1),
        "channels": ["shop", "live"],
        "tiers": [{"threshold_fen": 9900, "off_fen": 2000}],
    }
    values.update(overrides)
    return campaign_create(actor=SYSTEM, spec=CampaignSpec(**values))


# --- pure pricing inputs --------------------------------------------------------------------


def line(sku_id: int, unit_price_fen: int, quantity: int = 1, **kw: Any) -> QuoteLine:
    return QuoteLine(
        sku_id=sku_id,
        product_id=kw.get("product_id", sku_id * 10),
        category_id=kw.get("category_id", 1),
        name=kw.get("name", f"商品{sku_id}"),
        unit_price_fen=unit_price_fen,
        quantity=quantity,
    )


def coupon(coupon_id: int, kind: str, **kw: Any) -> CouponOffer:
    values: dict[str, Any] = {
        "coupon_id": coupon_id,
        "template_id": coupon_id,
        "name": kw.pop("name", f"券{coupon_id}"),
        "kind": kind,
        "valid_from": T0 - dt.timedelta(days=1),
        "valid_until": T0 + dt.timedelta(days=1),
    }
    values.update(kw)
    return CouponOffer(**values)


def tiered(campaign_id: int, tiers: list[tuple[int, int]], **kw: Any) -> CampaignOffer:
    values: dict[str, Any] = {
        "campaign_id": campaign_id,
        "name": kw.pop("name", "双十二满减"),
        "kind": "tiered",
        "starts_at": T0 - dt.timedelta(hours=1),
        "ends_at": T0 + dt.timedelta(hours=1),
        "channels": frozenset({"shop", "live", "groupbuy"}),
        "tiers": tuple(Tier(t, o) for t, o in tiers),
    }
    values.update(kw)
    return CampaignOffer(**values)


def flash(campaign_id: int, prices: dict[int, int], **kw: Any) -> CampaignOffer:
    values: dict[str, Any] = {
        "campaign_id": campaign_id,
        "name": kw.pop("name", "限时秒杀"),
        "kind": "flash_price",
        "starts_at": T0 - dt.timedelta(hours=1),
        "ends_at": T0 + dt.timedelta(hours=1),
        "channels": frozenset({"shop", "live", "groupbuy"}),
        "prices": prices,
    }
    values.update(kw)
    return CampaignOffer(**values)


SPECIAL_LABELS = {
    SpecialPriceKind.FLASH_SALE: "直播秒杀价",
    SpecialPriceKind.GROUP_DEAL_TIER: "拼团价",
    SpecialPriceKind.PRESALE: "预售价",
    SpecialPriceKind.SUBSCRIPTION: "订阅价",
    SpecialPriceKind.MEMBER_PRICE: "会员价",
}


def special(
    unit_price_fen: int, kind: SpecialPriceKind = SpecialPriceKind.FLASH_SALE, **kw: Any
) -> SpecialPrice:
    values: dict[str, Any] = {
        "unit_price_fen": unit_price_fen,
        "label": SPECIAL_LABELS.get(kind, "特价"),
        "ref": f"{kind}:1",
        "kind": kind,
    }
    values.update(kw)
    return SpecialPrice(**values)
