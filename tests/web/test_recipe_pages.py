"""The consumer recipe pages and the console's content pages."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.catalog.models import Sku
from freshloop.content.models import ContentItem, Recipe
from freshloop.content.services import recipe_create
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from tests.content.conftest import load_test_catalogue
from tests.factories import make_person, make_staff_user
from tests.orders.helpers import buy, pay
from tests.web.test_shop_views import browser_for

pytestmark = pytest.mark.django_db
OPERATOR = Actor(type="user", id="1", label="小周")


@pytest.fixture
def catalogue() -> dict[str, Sku]:
    return load_test_catalogue(stock=20)


@pytest.fixture
def recipe(catalogue: dict[str, Sku]) -> Recipe:
    return recipe_create(
        name="番茄炒蛋", ingredient_lines=["西红柿 2 个", "鸡蛋 3 个", "香叶 1 片"], actor=OPERATOR
    )


class TestH5Recipes:
    def test_anonymous_sees_recipe_with_matched_products_and_a_login_button(
        self, recipe: Recipe
    ) -> None:
        page = Client().get(f"/m/recipes/{recipe.pk}").content.decode()
        assert "新鲜西红柿 500g" in page
        assert "店内暂无" in page  # 香叶
        assert 'data-testid="login-to-add"' in page

    def test_buyer_sees_recommendations_and_the_add_button(
        self, catalogue: dict[str, Sku], recipe: Recipe
    ) -> None:
        person = make_person()
        pay(buy(person, (catalogue["veg-tomato-500g"], 1)))
        browser = browser_for(person)
        listing = browser.get("/m/recipes").content.decode()
        assert 'data-testid="recipe-recommended"' in listing
        detail = browser.get(f"/m/recipes/{recipe.pk}?servings=99").content.decode()
        assert 'data-testid="add-missing"' in detail

    def test_unknown_recipe_is_a_chinese_404(self) -> None:
        answer = Client().get("/m/recipes/999999")
        assert answer.status_code == 404
        assert "菜谱不存在" in answer.content.decode()


class TestConsoleContent:
    def test_marketer_adds_copy_and_filters_by_tag(self) -> None:
        client = Client()
        client.force_login(make_staff_user("mk", Role.MARKETER))
        client.post(
            "/console/content/items/new",
            {"kind": "copy", "title": "冬至文案", "tags": "冬至，饺子"},
        )
        assert ContentItem.objects.get().tags.count() == 2
        page = client.get("/console/content/?tag=冬至").content.decode()
        assert "冬至文案" in page

    def test_live_host_reads_but_cannot_write(self) -> None:
        client = Client()
        client.force_login(make_staff_user("host", Role.LIVE_HOST))
        assert client.get("/console/content/").status_code == 200
        answer = client.post("/console/content/items/new", {"kind": "copy", "title": "x"})
        assert answer.status_code == 403
        assert ContentItem.objects.count() == 0

    def test_bad_recipe_form_is_a_message_not_a_500(self) -> None:
        client = Client()
        client.force_login(make_staff_user("mk", Role.MARKETER))
        answer = client.post(
            "/console/content/recipes/new",
            {"name": "", "ingredients": "", "servings": "x"},
            follow=True,
        )
        assert answer.status_code == 200
        assert "请填写菜名" in answer.content.decode()
        assert Recipe.objects.count() == 0

    def test_recipe_page_shows_the_match(self, recipe: Recipe) -> None:
        client = Client()
        client.force_login(make_staff_user("cs", Role.CUSTOMER_SERVICE))
        page = client.get(f"/console/content/recipes/{recipe.pk}").content.decode()
        assert "农家土鸡蛋" in page
        assert client.get("/console/content/recipes/999999").status_code == 404
