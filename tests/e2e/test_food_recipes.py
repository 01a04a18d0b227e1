"""一键加购: a shopper opens a recipe, ticks what they have at home, and adds the missing
ingredients to the cart in one tap, in packs."""

from __future__ import annotations

from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.content.services import recipe_create
from freshloop.core.audit import Actor
from freshloop.identity.models import Identifier
from freshloop.orders.selectors import cart_items_for_person
from tests.content.conftest import load_test_catalogue
from tests.e2e.test_shop_flow import _log_in_by_phone

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def page(phone_page: Page) -> Page:
    return phone_page


class TestRecipeOneTap:
    def test_missing_ingredients_go_to_the_cart_in_packs(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        # given the shop's groceries and a recipe needing 4 tomatoes, 12 eggs and salt
        load_test_catalogue(stock=20)
        recipe = recipe_create(
            name="番茄炒蛋",
            ingredient_lines=["- 西红柿 4 个", "- 鸡蛋 12 个", "- 盐 2g", "- 香叶 1 片"],
            steps=["番茄切块", "鸡蛋打散炒熟", "合炒"],
            actor=Actor(type="user", id="1", label="小周"),
        )
        base = live_server.url
        _log_in_by_phone(page, base, "13900139001", f"/m/recipes/{recipe.pk}")
        expect(page.locator("[data-testid=recipe-name]")).to_have_text("番茄炒蛋")
        expect(page.locator("[data-testid=ingredient]")).to_have_count(4)

        # when the shopper ticks 盐 as at home and taps 一键加购
        page.locator("[data-ingredient=盐] [data-testid=at-home]").check()
        page.click("[data-testid=add-missing]")

        # then tomatoes (600 g → 2 bags of 500 g) and eggs (2 boxes of 10) are in the cart
        expect(page.locator("[data-testid=added-note]")).to_contain_text("番茄 ×2")
        person = Identifier.objects.get(type="phone").person
        cart = {i.sku.code: i.quantity for i in cart_items_for_person(person=person)}
        assert cart == {"veg-tomato-500g": 2, "egg-10": 2}
        # and the cart page shows them
        page.goto(f"{base}/m/cart")
        expect(page.locator("[data-testid=cart-line]")).to_have_count(2)
        assert console_errors == []
