"""The recipes demo: the data set imported and tagged materials; re-runnable."""

from __future__ import annotations

import pytest

from freshloop.content.models import ContentItem, Recipe
from freshloop.web.demo_food_recipes import seed_recipes

pytestmark = pytest.mark.django_db


def test_seed_twice_adds_nothing_the_second_time() -> None:
    first = seed_recipes()
    again = seed_recipes()
    assert first == {"recipes": 322, "materials": 3}
    assert again == {"recipes": 0, "materials": 0}
    assert Recipe.objects.count() == 322
    assert ContentItem.objects.exclude(kind="recipe").count() == 3


def test_the_demo_shop_sells_what_tomato_and_eggs_needs() -> None:
    # given the demo catalogue and the recipes
    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.food.selectors import recipe_plan
    from freshloop.web.demo_data import CATEGORIES, PRODUCTS

    categories = {c.code: category_upsert(code=c.code, name=c.name) for c in CATEGORIES}
    for demo in PRODUCTS:
        product = product_upsert(
            code=demo.code,
            name=demo.name,
            category=categories[demo.category],
            storage=StorageCondition(demo.storage),
            shelf_life_days=demo.shelf_life_days,
            channels=("shop", "live"),
        )
        for code, spec, price in demo.skus:
            sku_upsert(product=product, code=code, spec=spec, price_fen=price)
    seed_recipes()
    # when a shopper opens 西红柿炒鸡蛋
    recipe = Recipe.objects.get(source_key="dishes-vegetable_dish-西红柿炒鸡蛋")
    plan = recipe_plan(recipe_id=recipe.pk, person=None)
    # then tomatoes, eggs and salt are products of the shop, ready for 一键加购
    sold = {line.line.ingredient for line in plan.lines if line.line.sku is not None}
    assert {"番茄", "鸡蛋", "盐"} <= sold
