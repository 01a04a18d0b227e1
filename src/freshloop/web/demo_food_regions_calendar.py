"""Regional pools and seasonal calendar part of the demo brand (FD-5, FD-6): 籼米 first in the
south and 粳米 first in the north (category rules), and two calendar templates — 冬至 (速冻水饺)
and 中秋节 (应季水果 gift boxes). Through the food services; idempotent (a rule by its region,
category and action, a template by its occasion and name)."""

from __future__ import annotations

from freshloop.catalog.models import Category, Product
from freshloop.core.audit import Actor
from freshloop.food.models import CalendarTemplate, RegionRule
from freshloop.food.selectors import NORTH, SOUTH
from freshloop.food.services import (
    CalendarTemplateSpec,
    RegionRuleSpec,
    calendar_template_create,
    region_rule_create,
)

ACTOR = Actor.system("demo_seed")
RULES = (("indica-rice", SOUTH), ("japonica-rice", NORTH))
TEMPLATES = (
    (
        "冬至",
        "冬至吃饺子",
        "frozen-dumplings",
        "冬至到，饺子香：速冻水饺满 99 减 15，冷链到家。",
        "冬至饺子专场",
    ),
    (
        "中秋节",
        "中秋鲜果礼盒",
        "seasonal-fruit",
        "中秋团圆，鲜果礼盒送亲友：满 199 减 30。",
        "中秋礼盒专场",
    ),
)


def seed_food_regions_calendar() -> dict[str, int]:
    rules = templates = 0
    for category_code, zone in RULES:
        category = Category.objects.filter(code=category_code).first()
        if (
            category is None
            or RegionRule.objects.filter(
                scope="zone", region=zone, category=category, action="pin"
            ).exists()
        ):
            continue
        region_rule_create(
            actor=ACTOR,
            spec=RegionRuleSpec(
                scope="zone",
                region=zone,
                action="pin",
                category_id=category.pk,
                weight=10,
                note=f"{zone}顾客优先看到{category.name}",
            ),
        )
        rules += 1
    for occasion, name, category_code, message, live_title in TEMPLATES:
        if CalendarTemplate.objects.filter(occasion=occasion, name=name).exists():
            continue
        product_ids = list(
            Product.objects.filter(category__code=category_code, is_active=True)
            .order_by("pk")
            .values_list("pk", flat=True)[:6]
        )
        big = occasion == "中秋节"
        calendar_template_create(
            actor=ACTOR,
            spec=CalendarTemplateSpec(
                occasion=occasion,
                name=name,
                product_ids=product_ids,
                lead_days=10 if big else 5,
                duration_days=12 if big else 7,
                tier_threshold_fen=19900 if big else 9900,
                tier_off_fen=3000 if big else 1500,
                coupon_off_fen=1000 if big else 500,
                coupon_threshold_fen=9900 if big else 5900,
                message_text=message,
                live_title=live_title,
            ),
        )
        templates += 1
    return {"region_rules": rules, "calendar_templates": templates}
