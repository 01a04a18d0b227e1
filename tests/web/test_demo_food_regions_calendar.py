"""The demo's regional rules and calendar templates: made once, and they do what they say."""

from __future__ import annotations

import pytest

from freshloop.food.models import CalendarTemplate, RegionRule
from freshloop.food.selectors import Region, products_rank_for_region, region_rules_in_force
from freshloop.web.demo_food_regions_calendar import seed_food_regions_calendar
from tests.factories import make_sku

pytestmark = pytest.mark.django_db


def test_seeded_once_and_ranks_rice_by_zone() -> None:
    # given the demo categories with a product each
    milk = make_sku(name="鲜牛奶", category_code="fresh-milk").product
    indica = make_sku(name="丝苗米", category_code="indica-rice").product
    japonica = make_sku(name="五常大米", category_code="japonica-rice").product
    make_sku(name="三鲜水饺", category_code="frozen-dumplings", storage="frozen")
    make_sku(name="鲜果礼盒", category_code="seasonal-fruit")
    # when the demo part runs twice
    assert seed_food_regions_calendar() == {"region_rules": 2, "calendar_templates": 2}
    assert seed_food_regions_calendar() == {"region_rules": 0, "calendar_templates": 0}
    assert RegionRule.objects.count() == 2
    assert CalendarTemplate.objects.count() == 2
    # then 籼米 leads in 广州 and 粳米 in 哈尔滨
    products = [milk, indica, japonica]
    south = region_rules_in_force(region=Region(province="广东省", city="广州市"))
    north = region_rules_in_force(region=Region(province="黑龙江省", city="哈尔滨市"))
    assert products_rank_for_region(products, rules=south)[0] == indica
    assert products_rank_for_region(products, rules=north)[0] == japonica
    assert CalendarTemplate.objects.get(occasion="冬至").products.count() == 1
