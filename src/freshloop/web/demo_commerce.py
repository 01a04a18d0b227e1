"""Commerce part of the demo brand: lots and stock in the three warehouses, coupons and campaigns,
and 18 months of order history with realistic repeat-purchase habits.

Every step is idempotent, also on a later day: lots by SKU and the date-free end of their
number, stock only for lots not yet received, coupons and campaigns by code, history by
deterministic order numbers.
"""

from __future__ import annotations

import datetime as dt
import random
from collections import Counter
from dataclasses import dataclass

from freshloop.catalog.models import Batch, Sku
from freshloop.catalog.services import batch_register
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.identity.models import Person, PersonStatus
from freshloop.inventory.models import BatchStock, Warehouse
from freshloop.inventory.services import stock_receive
from freshloop.membership.services import points_earn_for_order
from freshloop.orders.models import Order
from freshloop.orders.services import HistoricalLine, HistoricalOrder, orders_import_history
from freshloop.promotions.models import Campaign, CouponTemplate, RedeemCode
from freshloop.promotions.services import (
    CampaignSpec,
    CouponTemplateSpec,
    campaign_create,
    coupon_issue,
    coupon_template_create,
    redeem_code_create,
)

SEED_ACTOR = Actor.system("demo_seed")
HISTORY_MONTHS = 18
IMPORT_PREFIX = "H"


def _demo_lot(sku: Sku, index: int, today: dt.date, age_fraction: float) -> Batch:
    """The SKU's demo lot number `index`: the one an earlier run registered, else a new one
    produced `age_fraction` of the shelf life ago.

    The lot number carries its production date, so a re-run on a later day must find the lot
    by its date-free suffix; registering by today's date again would add two lots per SKU (and
    a stock receipt per warehouse) on every day the demo is re-seeded."""
    suffix = f"-{sku.pk:03d}{index}"
    existing = Batch.objects.filter(sku=sku, batch_no__endswith=suffix).order_by("pk").first()
    if existing is not None:
        return existing
    produced = today - dt.timedelta(days=int(sku.product.shelf_life_days * age_fraction))
    return batch_register(
        sku=sku,
        batch_no=f"{produced:%Y%m%d}{suffix}",
        produced_on=produced,
        origin_detail=sku.product.origin,
        inspection_note="出厂检验合格",
    )


def seed_stock(*, rng: random.Random, warehouses: list[Warehouse]) -> dict[str, int]:
    """Two lots per SKU (an older one shipping first), received into every warehouse that can
    store the product."""
    today = clock.to_shanghai(clock.now()).date()
    lots = received = 0
    for sku in Sku.objects.select_related("product").order_by("pk"):
        for index, age_fraction in enumerate((0.5, 0.1)):
            lot = _demo_lot(sku, index, today, age_fraction)
            lots += 1
            for warehouse in warehouses:
                if not warehouse.can_store(sku.product.storage):
                    continue
                if BatchStock.objects.filter(batch=lot, warehouse=warehouse).exists():
                    continue
                stock_receive(
                    sku=sku,
                    warehouse=warehouse,
                    quantity=rng.randint(40, 160),
                    actor=SEED_ACTOR,
                    batch=lot,
                    ref="demo",
                )
                received += 1
    return {"lots": lots, "receipts": received}


@dataclass(frozen=True)
class DemoCoupon:
    spec: CouponTemplateSpec
    redeem_code: str = ""
    give_to_everyone: bool = False


def _coupons(now: dt.datetime) -> list[DemoCoupon]:
    until = now + dt.timedelta(days=60)
    return [
        DemoCoupon(
            CouponTemplateSpec(
                code="welcome-10",
                name="新人立减10元",
                kind="fixed",
                amount_off_fen=1000,
                threshold_fen=3000,
                new_customer_only=True,
                valid_days=30,
                per_user_limit=1,
                description="首单满30元可用",
            ),
            redeem_code="FRESH2026",
        ),
        DemoCoupon(
            CouponTemplateSpec(
                code="milk-99-20",
                name="鲜奶满99减20",
                kind="threshold",
                amount_off_fen=2000,
                threshold_fen=9900,
                valid_from=now - dt.timedelta(days=1),
                valid_until=until,
                per_user_limit=2,
                total_limit=2000,
                budget_fen=2_000_000,
                stackable_with_campaigns=True,
            ),
            give_to_everyone=True,
        ),
        DemoCoupon(
            CouponTemplateSpec(
                code="member-88",
                name="会员8.8折券",
                kind="percent",
                percent_off_bp=1200,
                cap_fen=3000,
                valid_from=now - dt.timedelta(days=1),
                valid_until=until,
                per_user_limit=1,
            ),
            redeem_code="VIP88",
        ),
        DemoCoupon(
            CouponTemplateSpec(
                code="free-ship",
                name="冷链免运费券",
                kind="free_shipping",
                valid_from=now - dt.timedelta(days=1),
                valid_until=until,
                per_user_limit=3,
            ),
            give_to_everyone=True,
        ),
        DemoCoupon(
            CouponTemplateSpec(
                code="live-friday-15",
                name="周五会员直播专享15元",
                kind="threshold",
                amount_off_fen=1500,
                threshold_fen=6900,
                live_only=True,
                valid_from=now - dt.timedelta(days=1),
                valid_until=until,
                per_user_limit=1,
            ),
        ),
    ]


def seed_promotions(*, people: list[Person]) -> dict[str, int]:
    now = clock.now()
    created = issued = 0
    for demo in _coupons(now):
        template = CouponTemplate.objects.filter(code=demo.spec.code).first()
        if template is None:
            template = coupon_template_create(actor=SEED_ACTOR, spec=demo.spec)
            created += 1
            if demo.redeem_code and not RedeemCode.objects.filter(code=demo.redeem_code).exists():
                redeem_code_create(actor=SEED_ACTOR, template=template, code=demo.redeem_code)
            if demo.give_to_everyone:
                issued += len(
                    coupon_issue(
                        template=template,
                        people=people,
                        source="segment",
                        source_ref="demo:all",
                        actor=SEED_ACTOR,
                    ).issued
                )
    campaigns = 0
    if not Campaign.objects.filter(code="winter-tiers").exists():
        campaign_create(
            actor=SEED_ACTOR,
            spec=CampaignSpec(
                code="winter-tiers",
                name="冬季囤货节",
                kind="tiered",
                starts_at=now - dt.timedelta(days=2),
                ends_at=now + dt.timedelta(days=30),
                channels=["live", "shop", "groupbuy"],
                tiers=[
                    {"threshold_fen": 19900, "off_fen": 3000},
                    {"threshold_fen": 29900, "off_fen": 5000},
                ],
                budget_fen=5_000_000,
            ),
        )
        campaigns += 1
    milk = Sku.objects.filter(code="milk-pasture-950x2").first()
    if milk is not None and not Campaign.objects.filter(code="live-milk-flash").exists():
        campaign_create(
            actor=SEED_ACTOR,
            spec=CampaignSpec(
                code="live-milk-flash",
                name="直播间鲜奶限时价",
                kind="flash_price",
                starts_at=now - dt.timedelta(hours=1),
                ends_at=now + dt.timedelta(days=7),
                channels=["live"],
                prices={milk.pk: 2590},
                budget_fen=500_000,
            ),
        )
        campaigns += 1
    return {"coupon_templates": created, "coupons_issued": issued, "campaigns": campaigns}


# --- history ----------------------------------------------------------------------------------

# Buying habits: (name, share of consumers, mean days between orders, months active from the
# start of the window or None for all, basket categories with weights).
HABITS = [
    ("weekly_milk", 0.06, 7, None, {"fresh-milk": 8, "yogurt": 3, "eggs": 2}),
    (
        "fortnightly_family",
        0.14,
        16,
        None,
        {"fresh-milk": 5, "yogurt": 3, "eggs": 3, "frozen-dumplings": 2},
    ),
    (
        "monthly_pantry",
        0.18,
        38,
        None,
        {"indica-rice": 3, "japonica-rice": 3, "eggs": 2, "fresh-milk": 2},
    ),
    (
        "occasional_rice",
        0.17,
        75,
        None,
        {"indica-rice": 4, "japonica-rice": 4, "frozen-dumplings": 2},
    ),
    ("seasonal_fruit", 0.10, 55, None, {"seasonal-fruit": 6, "yogurt": 2}),
    ("lapsed", 0.20, 18, 7, {"fresh-milk": 4, "yogurt": 3, "frozen-dumplings": 2}),
    ("one_time", 0.15, 10_000, None, {"fresh-milk": 3, "indica-rice": 2, "seasonal-fruit": 2}),
]
CHANNEL_MIX = [("shop", 45), ("live", 40), ("groupbuy", 15)]
SOUTH = {"广东", "广西", "福建", "海南", "湖南", "江西", "浙江", "上海", "江苏", "四川", "重庆"}


def _pick(rng: random.Random, weighted: dict[str, int] | list[tuple[str, int]]) -> str:
    items = list(weighted.items()) if isinstance(weighted, dict) else weighted
    return rng.choices([k for k, _ in items], weights=[w for _, w in items])[0]


def _habit_for(rng: random.Random) -> tuple[str, float, int, int | None, dict[str, int]]:
    roll, cumulative = rng.random(), 0.0
    for habit in HABITS:
        cumulative += habit[1]
        if roll < cumulative:
            return habit
    return HABITS[-1]


# The brand keeps growing: this share of the customers who still buy regularly (not the weekly
# milk regulars, not the lapsed) placed their first order only in the last NEWCOMER_DAYS, so
# the dashboard's default window (the last 30 days) has new customers, and the monthly
# retention cohorts of the last months have people in them. One-time buyers came at any time.
NEWCOMER_SHARE = 0.35
NEWCOMER_DAYS = 120
_NEWCOMER_HABITS = {"fortnightly_family", "monthly_pantry", "occasional_rice", "seasonal_fruit"}


def _first_order_at(
    rng: random.Random,
    habit: str,
    active_months: int | None,
    *,
    start: dt.datetime,
    now: dt.datetime,
) -> dt.datetime:
    """When a demo customer first bought: the early base in the history's first four months,
    newcomers spread over the last NEWCOMER_DAYS, one-time buyers over the whole history."""
    if habit in _NEWCOMER_HABITS and rng.random() < NEWCOMER_SHARE:
        return now - dt.timedelta(days=rng.uniform(4, NEWCOMER_DAYS))
    if habit == "one_time":
        return start + dt.timedelta(days=rng.uniform(0, (now - start).days - 4))
    return start + dt.timedelta(days=rng.uniform(0, 120 if active_months else 500))


def seed_history(*, rng: random.Random, people: list[Person]) -> dict[str, int]:
    """~4,500 completed orders over 18 months, by habit, with new customers arriving all along
    (the last 30 days included); points earned for each."""
    if Order.objects.filter(order_no__startswith=f"{IMPORT_PREFIX}_").exists():
        return {"orders": 0, "habits": 0}
    skus_by_category: dict[str, list[Sku]] = {}
    for sku in Sku.objects.select_related("product__category").filter(is_active=True):
        skus_by_category.setdefault(sku.product.category.code, []).append(sku)
    now = clock.now()
    start = now - dt.timedelta(days=HISTORY_MONTHS * 30)
    records: list[HistoricalOrder] = []
    habits: Counter[str] = Counter()
    for person in people:
        name, _, gap_days, active_months, basket = _habit_for(rng)
        habits[name] += 1
        province = str((person.traits or {}).get("province", "上海"))
        if "indica-rice" in basket or "japonica-rice" in basket:
            # Regional taste: indica in the south, japonica in the north.
            basket = dict(basket)
            basket["indica-rice" if province in SOUTH else "japonica-rice"] = 6
        first = _first_order_at(rng, name, active_months, start=start, now=now)
        stop = start + dt.timedelta(days=30 * active_months) if active_months else now
        moment = first
        while moment < stop and moment < now - dt.timedelta(days=4):
            records.append(
                _historical(rng, person, moment, basket, skus_by_category, province, len(records))
            )
            moment += dt.timedelta(days=max(1.0, rng.gauss(gap_days, gap_days * 0.25)))
            if name == "one_time":
                break
    imported = 0
    for chunk_start in range(0, len(records), 1000):
        imported += orders_import_history(
            records=records[chunk_start : chunk_start + 1000], actor=SEED_ACTOR
        )
    for record in records:
        paid = (
            sum(line.unit_price_fen * line.quantity for line in record.lines)
            - record.discount_fen
            + record.shipping_fen
        )
        points_earn_for_order(
            person_id=record.person.pk, order_ref=record.order_no, paid_amount_fen=paid
        )
    return {"orders": imported, "habits": len(habits)}


def _historical(
    rng: random.Random,
    person: Person,
    moment: dt.datetime,
    basket: dict[str, int],
    skus_by_category: dict[str, list[Sku]],
    province: str,
    number: int,
) -> HistoricalOrder:
    lines: dict[int, HistoricalLine] = {}
    for _ in range(rng.choice([1, 1, 2, 2, 3])):
        category = _pick(rng, basket)
        sku = rng.choice(skus_by_category.get(category) or skus_by_category["fresh-milk"])
        quantity = rng.choice([1, 1, 1, 2])
        if sku.pk in lines:
            quantity += lines[sku.pk].quantity
        lines[sku.pk] = HistoricalLine(
            sku=sku, quantity=min(quantity, 6), unit_price_fen=sku.price_fen
        )
    subtotal = sum(line.unit_price_fen * line.quantity for line in lines.values())
    price_sensitive = rng.random() < 0.35
    discount = min(subtotal // 5, rng.choice([500, 1000, 2000])) if price_sensitive else 0
    shipping = 0 if subtotal - discount >= 9900 else 1500
    channel = _pick(rng, CHANNEL_MIX)
    # Live sessions run on Friday evenings; a live order points at that week's session.
    friday = moment - dt.timedelta(days=(moment.weekday() - 4) % 7)
    source_ref = f"LIVE-{friday:%Y%m%d}" if channel == "live" else ""
    return HistoricalOrder(
        order_no=f"{IMPORT_PREFIX}_{moment:%Y%m%d}{number:06d}",
        person=person,
        channel=channel,
        source_ref=source_ref,
        lines=list(lines.values()),
        discount_fen=discount,
        shipping_fen=shipping,
        created_at=moment.replace(
            hour=rng.choice([9, 12, 20, 21, 21, 22]), minute=rng.randint(0, 59)
        ),
        province=province,
    )


def demo_people() -> list[Person]:
    return list(
        Person.objects.filter(status=PersonStatus.ACTIVE, identifiers__type="phone")
        .distinct()
        .order_by("pk")
    )
