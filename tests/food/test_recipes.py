"""Recipes for customers: the plan, 一键加购 (only the missing, in packs), recommendations, API."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from freshloop.catalog.models import Sku
from freshloop.content.models import Recipe
from freshloop.content.services import recipe_create
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.food.selectors import (
    recipe_plan,
    recipe_recommendations_for_person,
    recipes_for_pantry_item,
)
from freshloop.food.services import PantryItemInput, pantry_item_add, recipe_add_missing_to_cart
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.selectors import cart_items_for_person
from freshloop.orders.services import cart_item_set
from tests.content.conftest import load_test_catalogue
from tests.factories import make_person
from tests.orders.helpers import buy, pay

OPERATOR = Actor(type="user", id="1", label="小周")
TOMORROW = clock.to_shanghai(clock.now()).date() + dt.timedelta(days=1)


@pytest.fixture
def catalogue(db: None) -> dict[str, Sku]:
    return load_test_catalogue(stock=50)


@pytest.fixture
def tomato_eggs(db: None) -> Recipe:
    return recipe_create(
        name="番茄炒蛋",
        servings=1,
        ingredient_lines=["- 西红柿 4 个", "- 鸡蛋 12 个", "- 盐 2g", "- 葱 1 根", "- 香叶 1 片"],
        actor=OPERATOR,
    )


def _cart(person: Person) -> dict[str, int]:
    return {i.sku.code: i.quantity for i in cart_items_for_person(person=person)}


def _client(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


@pytest.mark.django_db
class TestRecipeAddMissingToCart:
    def test_adds_only_the_missing_in_packs_rounded_up(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        # given a customer with one box of eggs already in the cart
        person = make_person()
        cart_item_set(person=person, sku_id=catalogue["egg-10"].pk, quantity=1)
        # when they tap 一键加购, saying they have salt at home
        added = recipe_add_missing_to_cart(
            person=person,
            recipe_id=tomato_eggs.pk,
            at_home_sku_ids=[catalogue["salt-400g"].pk],
        )
        # then 4 tomatoes (600 g) are 2 bags of 500 g, 12 eggs are 2 boxes (1 was there),
        # one bunch of scallions; salt is at home and 香叶 is not sold
        assert _cart(person) == {"veg-tomato-500g": 2, "egg-10": 2, "veg-scallion-100g": 1}
        assert {line.line.ingredient: line.missing_packs for line in added} == {
            "番茄": 2,
            "鸡蛋": 1,
            "葱": 1,
        }

    def test_a_second_tap_adds_nothing(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        person = make_person()
        recipe_add_missing_to_cart(person=person, recipe_id=tomato_eggs.pk)
        first = _cart(person)
        again = recipe_add_missing_to_cart(person=person, recipe_id=tomato_eggs.pk)
        assert again == []
        assert _cart(person) == first

    def test_servings_scale_the_packs(self, catalogue: dict[str, Sku], tomato_eggs: Recipe) -> None:
        person = make_person()
        recipe_add_missing_to_cart(person=person, recipe_id=tomato_eggs.pk, servings=3)
        # 12 tomatoes = 1800 g → 4 bags; 36 eggs → 4 boxes
        assert _cart(person)["veg-tomato-500g"] == 4
        assert _cart(person)["egg-10"] == 4

    def test_recently_bought_counts_as_at_home(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        # given a customer who bought eggs this week
        person = make_person()
        pay(buy(person, (catalogue["egg-10"], 1)))
        # when they open the recipe
        plan = recipe_plan(recipe_id=tomato_eggs.pk, person=person)
        # then eggs are marked at home and not missing
        eggs = next(p for p in plan.lines if p.line.ingredient == "鸡蛋")
        assert eggs.at_home
        assert eggs.missing_packs == 0

    def test_what_is_in_the_pantry_counts_as_at_home(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        # given a customer who typed 土鸡蛋 into the pantry (bought elsewhere)
        person = make_person()
        pantry_item_add(
            person_id=person.pk,
            data=PantryItemInput(name="土鸡蛋", storage="chilled", expires_on=TOMORROW),
        )
        # then the recipe's eggs are at home and not missing; tomatoes still are
        plan = recipe_plan(recipe_id=tomato_eggs.pk, person=person)
        lines = {p.line.ingredient: p for p in plan.lines}
        assert (lines["鸡蛋"].at_home, lines["鸡蛋"].missing_packs) == (True, 0)
        assert not lines["番茄"].at_home

    def test_a_refused_line_leaves_the_cart_unchanged(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        # given the cart already at its line limit (one line short of room for the recipe)
        from freshloop.orders.errors import CartLimitExceeded
        from freshloop.orders.services import MAX_LINES

        person = make_person()
        fillers = [s for c, s in catalogue.items() if c not in {"veg-tomato-500g", "egg-10"}]
        for sku in fillers[: MAX_LINES - 1]:
            cart_item_set(person=person, sku_id=sku.pk, quantity=1)
        before = _cart(person)
        # when the recipe would add two new lines
        with pytest.raises(CartLimitExceeded):
            recipe_add_missing_to_cart(
                person=person,
                recipe_id=tomato_eggs.pk,
                at_home_sku_ids=[catalogue["salt-400g"].pk, catalogue["veg-scallion-100g"].pk],
            )
        # then nothing was added
        assert _cart(person) == before


@pytest.mark.django_db
class TestRecommendations:
    def test_recipes_using_what_was_bought_come_first(self, catalogue: dict[str, Sku]) -> None:
        # given recipes and a customer who bought pork belly, potatoes and salt
        potato_pork = recipe_create(
            name="土豆烧肉", ingredient_lines=["五花肉 500g", "土豆 2 个", "盐"], actor=OPERATOR
        )
        recipe_create(name="炒青菜", ingredient_lines=["生菜 300g", "盐"], actor=OPERATOR)
        pork_only = recipe_create(name="回锅肉", ingredient_lines=["五花肉"], actor=OPERATOR)
        person = make_person()
        pay(
            buy(
                person,
                (catalogue["pork-belly-500g"], 1),
                (catalogue["veg-potato-1kg"], 1),
                (catalogue["salt-400g"], 1),
            )
        )
        # when recommendations are made
        found = recipe_recommendations_for_person(person=person)
        # then the recipe using both comes first; salt alone recommends nothing
        assert [(r.pk, uses) for r, uses in found] == [
            (potato_pork.pk, ["五花肉", "土豆"]),
            (pork_only.pk, ["五花肉"]),
        ]

    def test_nothing_bought_nothing_recommended(self, catalogue: dict[str, Sku]) -> None:
        assert recipe_recommendations_for_person(person=make_person()) == []

    def test_what_is_in_the_pantry_counts_too(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        # given a customer who bought nothing but keeps eggs (typed in) in the pantry
        person = make_person()
        pantry_item_add(
            person_id=person.pk,
            data=PantryItemInput(name="农家土鸡蛋", storage="chilled", expires_on=TOMORROW),
        )
        # then 番茄炒蛋 is recommended for the eggs
        found = recipe_recommendations_for_person(person=person)
        assert [(r.pk, uses) for r, uses in found] == [(tomato_eggs.pk, ["鸡蛋"])]


@pytest.mark.django_db
class TestRecipesForAPantryItem:
    def test_a_near_expiry_item_suggests_recipes_that_use_it_simplest_first(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        # given two recipes with eggs, the harder one first in the library, and eggs in a pantry
        Recipe.objects.filter(pk=tomato_eggs.pk).update(difficulty=3)
        omelette = recipe_create(name="鸡蛋饼", ingredient_lines=["鸡蛋 2 个"], actor=OPERATOR)
        person = make_person()
        typed = pantry_item_add(
            person_id=person.pk,
            data=PantryItemInput(name="农家土鸡蛋", storage="chilled", expires_on=TOMORROW),
        )
        # then the item's recipes are the simple omelette, then 番茄炒蛋, with their pages
        assert recipes_for_pantry_item(item=typed) == [
            {"title": "鸡蛋饼", "url": f"/m/recipes/{omelette.pk}"},
            {"title": "番茄炒蛋", "url": f"/m/recipes/{tomato_eggs.pk}"},
        ]

    def test_an_item_nothing_uses_or_a_staple_suggests_nothing(
        self, catalogue: dict[str, Sku], tomato_eggs: Recipe
    ) -> None:
        person = make_person()
        for name in ("酱油", "某种没听说过的东西"):
            item = pantry_item_add(
                person_id=person.pk,
                data=PantryItemInput(name=name, storage="ambient", expires_on=TOMORROW),
            )
            assert recipes_for_pantry_item(item=item) == []


@pytest.mark.django_db
class TestRecipeApi:
    def test_plan_and_add_missing(self, catalogue: dict[str, Sku], tomato_eggs: Recipe) -> None:
        person = make_person()
        client = _client(person)
        plan = client.get(f"/api/v1/food/recipes/{tomato_eggs.pk}/plan").json()
        assert {line["label"]: line["missing_packs"] for line in plan["lines"]}["番茄"] == 2
        answer = client.post(
            f"/api/v1/food/recipes/{tomato_eggs.pk}/add-missing",
            json.dumps({"at_home_sku_ids": [catalogue["salt-400g"].pk]}),
            content_type="application/json",
        )
        assert answer.status_code == 200
        assert len(answer.json()["added"]) == 3
        assert _cart(person)["egg-10"] == 2

    @pytest.mark.parametrize(
        ("path", "body", "status"),
        [
            ("/api/v1/food/recipes/999999/plan", None, 404),
            ("/api/v1/food/recipes/0/plan", None, 422),
            ("/api/v1/food/recipes/{id}/plan?servings=99", None, 422),
            ("/api/v1/food/recipes/{id}/add-missing", {"servings": 0}, 422),
            ("/api/v1/food/recipes/{id}/add-missing", {"at_home_sku_ids": ["x"]}, 422),
            ("/api/v1/food/recipes/{id}/add-missing", {"extra": 1}, 422),
        ],
    )
    def test_bad_input_is_4xx(
        self,
        catalogue: dict[str, Sku],
        tomato_eggs: Recipe,
        path: str,
        body: dict | None,
        status: int,
    ) -> None:
        client = _client(make_person())
        url = path.replace("{id}", str(tomato_eggs.pk))
        if body is None:
            answer = client.get(url)
        else:
            answer = client.post(url, json.dumps(body), content_type="application/json")
        assert answer.status_code == status
        assert "message" in answer.json()

    def test_anonymous_is_refused(self, tomato_eggs: Recipe) -> None:
        answer = Client().post(
            f"/api/v1/food/recipes/{tomato_eggs.pk}/add-missing",
            "{}",
            content_type="application/json",
        )
        assert answer.status_code == 401
