"""Regional pools (FD-5) as the customer sees them: the H5 grid and the live room's list are
ranked / filtered for the customer's region, and follow a move and a rule edit at once."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest
from django.core.cache import cache
from django.test import Client

from freshloop.catalog.models import Product
from freshloop.food.selectors import NORTH, SOUTH
from freshloop.food.services import RegionRuleSpec, region_rule_create, region_rule_update
from freshloop.identity.models import Person
from freshloop.live.room.selectors import room_state
from freshloop.orders.services import address_create
from tests.factories import MARKETER, make_person, make_sku
from tests.live.helpers import make_session
from tests.web.test_shop_views import browser_for

pytestmark = pytest.mark.django_db


def _lives_in(person: Person, province: str, city: str) -> None:
    address_create(
        person=person,
        name="韩梅梅",
        phone="13800138000",
        province=province,
        city=city,
        detail="人民路 8 号",
        is_default=True,
    )


def _order_on_page(page: str, names: list[str]) -> list[str]:
    present = [name for name in names if name in page]
    return sorted(present, key=page.index)


def _pin(product: Product, zone: str) -> int:
    rule = region_rule_create(
        actor=MARKETER,
        spec=RegionRuleSpec(scope="zone", region=zone, action="pin", product_id=product.pk),
    )
    return rule.pk


NAMES = ["鲜牛奶", "籼米", "粳米"]


class TestShopGrid:
    @pytest.fixture(autouse=True)
    def _page_cache(self, settings: Any) -> None:
        """The shared-fragment cache on, as in production: the grids must still differ."""
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, page_cache_seconds=60)
        cache.clear()

    def test_south_and_north_see_their_rice_first_and_a_move_follows(self) -> None:
        make_sku(name="鲜牛奶", stock=5)
        indica = make_sku(name="籼米", category_code="rice", stock=5).product
        japonica = make_sku(name="粳米", category_code="rice", stock=5).product
        _pin(indica, SOUTH)
        _pin(japonica, NORTH)
        person = make_person()
        _lives_in(person, "广东省", "广州市")
        browser = browser_for(person)
        # the south first
        assert _order_on_page(browser.get("/m/").content.decode(), NAMES)[0] == "籼米"
        # then the customer moves north
        _lives_in(person, "吉林省", "长春市")
        assert _order_on_page(browser.get("/m/").content.decode(), NAMES)[0] == "粳米"
        # an anonymous visitor gets the catalog's order
        assert _order_on_page(Client().get("/m/").content.decode(), NAMES) == NAMES

    def test_a_rule_edit_shows_at_once_despite_the_grid_cache(
        self, django_capture_on_commit_callbacks: object
    ) -> None:
        make_sku(name="鲜牛奶", stock=5)
        indica = make_sku(name="籼米", category_code="rice", stock=5).product
        rule_id = _pin(indica, SOUTH)
        person = make_person()
        _lives_in(person, "广东省", "广州市")
        browser = browser_for(person)
        assert "籼米" in browser.get("/m/").content.decode()
        with django_capture_on_commit_callbacks(execute=True):  # type: ignore[operator]
            region_rule_update(
                actor=MARKETER,
                rule_id=rule_id,
                spec=RegionRuleSpec(
                    scope="zone", region=SOUTH, action="hide", product_id=indica.pk
                ),
            )
        page = browser.get("/m/").content.decode()
        assert "鲜牛奶" in page
        assert "籼米" not in page


class TestLiveRoom:
    def test_a_product_hidden_in_the_viewers_province_is_left_out(self) -> None:
        milk, rice = make_sku(name="鲜牛奶", stock=5), make_sku(name="籼米", stock=5)
        session = make_session(skus=[milk, rice])
        region_rule_create(
            actor=MARKETER,
            spec=RegionRuleSpec(
                scope="zone", region=NORTH, action="hide", product_id=rice.product_id
            ),
        )
        north, south = make_person(), make_person()
        _lives_in(north, "辽宁省", "大连市")
        _lives_in(south, "浙江省", "杭州市")

        def shown(person: Person) -> set[int]:
            return {
                card["sku_id"] for card in room_state(session=session, person=person)["products"]
            }

        assert shown(north) == {milk.pk}
        assert shown(south) == {milk.pk, rice.pk}
