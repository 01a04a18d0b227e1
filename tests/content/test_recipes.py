"""Recipes: the howtocook import (idempotent), operators' recipes, shopping lists."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from freshloop.catalog.models import Sku
from freshloop.content import selectors, services
from freshloop.content.errors import RecipeImportFailed, RecipeInvalid, RecipeNotFound
from freshloop.content.models import ContentItem, Recipe, RecipeIngredient
from freshloop.core.audit import Actor

OPERATOR = Actor(type="user", id="1", label="小周")


@pytest.mark.django_db
class TestRecipesImportHowtocook:
    def test_imports_all_322_and_again_changes_nothing(self) -> None:
        # when the shipped data set is imported twice
        first = services.recipes_import_howtocook()
        lines = RecipeIngredient.objects.count()
        second = services.recipes_import_howtocook()
        # then every recipe is there once, with its lines and a library entry
        assert (first.created, first.updated) == (322, 0)
        assert (second.created, second.updated, second.unchanged) == (0, 0, 322)
        assert Recipe.objects.count() == 322
        assert RecipeIngredient.objects.count() == lines > 3000
        assert ContentItem.objects.filter(kind="recipe").count() == 322
        tomato_egg = Recipe.objects.get(source_key="dishes-vegetable_dish-西红柿炒鸡蛋")
        assert tomato_egg.name == "西红柿炒鸡蛋"
        assert {"番茄", "鸡蛋"} <= set(tomato_egg.ingredients.values_list("ingredient", flat=True))

    def test_a_changed_record_updates_in_place(self, tmp_path: Path) -> None:
        # given a two-recipe file imported once
        records = json.loads(services.howtocook_path().read_text(encoding="utf-8"))[:2]
        path = tmp_path / "r.json"
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        services.recipes_import_howtocook(path=path)
        # when one recipe's name and lines change and the file is imported again
        records[0]["name"] = "改过的菜名"
        records[0]["ingredients"] = [{"text_quantity": "- 鸡蛋 3 个"}]
        path.write_text(json.dumps(records, ensure_ascii=False), encoding="utf-8")
        result = services.recipes_import_howtocook(path=path)
        # then it is updated, not duplicated
        assert (result.created, result.updated, result.unchanged) == (0, 1, 1)
        recipe = Recipe.objects.get(source_key=records[0]["id"])
        assert recipe.name == "改过的菜名"
        assert list(recipe.ingredients.values_list("text", flat=True)) == ["- 鸡蛋 3 个"]
        assert Recipe.objects.count() == 2

    @pytest.mark.parametrize("content", ["not json", '{"a": 1}', '[{"name": "无编号"}]'])
    def test_bad_file_is_refused_and_writes_nothing(self, tmp_path: Path, content: str) -> None:
        path = tmp_path / "bad.json"
        path.write_text(content, encoding="utf-8")
        with pytest.raises(RecipeImportFailed):
            services.recipes_import_howtocook(path=path)
        assert Recipe.objects.count() == 0

    def test_missing_file(self, tmp_path: Path) -> None:
        with pytest.raises(RecipeImportFailed, match="npm ci"):
            services.recipes_import_howtocook(path=tmp_path / "none.json")


@pytest.mark.django_db
class TestRecipeCreate:
    def test_operator_recipe_is_parsed_and_in_the_library(self) -> None:
        recipe = services.recipe_create(
            name="番茄炒蛋（自家版）",
            category="素菜",
            servings=2,
            ingredient_lines=["西红柿 2 个", "鸡蛋 3 个", "盐 2g"],
            steps=["打蛋", "炒"],
            actor=OPERATOR,
        )
        assert recipe.source == "operator"
        assert list(recipe.ingredients.values_list("ingredient", flat=True)) == [
            "番茄",
            "鸡蛋",
            "盐",
        ]
        assert recipe.content_item.tags.filter(name="素菜").exists()

    @pytest.mark.parametrize(
        ("kwargs", "field"),
        [
            ({"name": "", "ingredient_lines": ["盐"]}, "name"),
            ({"name": "菜", "ingredient_lines": []}, "ingredient_lines"),
            ({"name": "菜", "ingredient_lines": ["x" * 301]}, "ingredient_lines"),
            ({"name": "菜", "ingredient_lines": ["盐"], "servings": 0}, "servings"),
        ],
    )
    def test_bad_input(self, kwargs: dict, field: str) -> None:
        with pytest.raises(RecipeInvalid) as caught:
            services.recipe_create(actor=OPERATOR, **kwargs)
        assert caught.value.detail[0]["field"] == field
        assert Recipe.objects.count() == 0


@pytest.mark.django_db
class TestRecipeShoppingList:
    def test_lines_merged_matched_and_in_packs(self, test_catalogue: dict[str, Sku]) -> None:
        # given a recipe listing eggs twice (name, then amount) and 600 g of potatoes
        recipe = services.recipe_create(
            name="土豆炖蛋",
            servings=1,
            ingredient_lines=["鸡蛋", "鸡蛋 12 个", "土豆 600g", "盐 3g", "盐 2 g", "香叶 2 片"],
            actor=OPERATOR,
        )
        # when the shopping list is made for 2 servings
        lines = {
            line.label: line for line in selectors.recipe_shopping_list(recipe=recipe, servings=2)
        }
        # then eggs are one line, 24 eggs = 3 boxes of 10; 1200 g = 2 bags of 1 kg;
        # 10 g of salt is one pack; 香叶 is not sold
        assert lines["鸡蛋"].sku.code == "egg-10"
        assert lines["鸡蛋"].packs == 3
        assert lines["土豆"].sku.code == "veg-potato-1kg"
        assert lines["土豆"].packs == 2
        assert lines["盐"].packs == 1
        assert len(lines["盐"].texts) == 2
        assert lines["香叶"].sku is None
        assert lines["香叶"].packs == 0

    def test_unknown_recipe(self) -> None:
        with pytest.raises(RecipeNotFound):
            selectors.recipe_get(recipe_id=999)
