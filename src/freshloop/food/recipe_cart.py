"""Recipes for a customer (FD-4): what to cook from what they bought, and 一键加购 — the missing
ingredients of a recipe into the cart in one tap, in packs.

It lives in `food` because it composes `content` (recipes, matching) with `orders` (cart,
purchases), which sit side by side below it.

"Missing" = matched to a SKU, not marked as at home, and not already in the cart in the packs
needed. What is at home defaults to SKUs bought (paid, kept) within `AT_HOME_DAYS`; the customer
can change that on the page. Adding sets each line to max(in cart, needed): tapping twice, or
retrying after a lost answer, adds nothing more. All lines are written in one transaction, so a
refused line (sold out of the shop, cart full) leaves the cart as it was.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Collection
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count

from freshloop.content.models import Recipe, RecipeIngredient
from freshloop.content.selectors import (
    ShoppingLine,
    SkuIndex,
    ingredient_normalise,
    recipe_get,
    recipe_shopping_list,
    sku_index_for_shop,
)
from freshloop.core import clock
from freshloop.core.errors import InvalidInput
from freshloop.food.models import PantryItem, PantryStatus
from freshloop.identity.models import Person
from freshloop.orders.models import BOUGHT_STATUSES, OrderLine
from freshloop.orders.selectors import cart_items_for_person
from freshloop.orders.services import cart_item_set

AT_HOME_DAYS = 14
MAX_SERVINGS = 20
# Bought by nearly everyone and in nearly every recipe: they say nothing about what to cook.
STAPLES = frozenset({"盐", "白糖", "食用油", "生抽", "老抽", "酱油", "料酒", "醋", "鸡精", "淀粉"})


@dataclass(frozen=True)
class PlanLine:
    line: ShoppingLine
    in_cart: int
    at_home: bool
    missing_packs: int


@dataclass(frozen=True)
class RecipePlan:
    recipe: Recipe
    servings: int
    lines: list[PlanLine]

    @property
    def missing(self) -> list[PlanLine]:
        return [line for line in self.lines if line.missing_packs > 0]

    @property
    def missing_fen(self) -> int:
        return sum(p.missing_packs * p.line.sku.price_fen for p in self.missing if p.line.sku)


def skus_bought_since(*, person: Person, since: dt.datetime) -> set[int]:
    return set(
        OrderLine.objects.filter(
            order__person=person, order__status__in=BOUGHT_STATUSES, order__created_at__gte=since
        ).values_list("sku_id", flat=True)
    )


def _servings(recipe: Recipe, servings: int | None) -> int:
    if servings is None:
        return recipe.servings
    if not 1 <= servings <= MAX_SERVINGS:
        raise InvalidInput.for_fields([("servings", f"份数应在 1–{MAX_SERVINGS} 之间")])
    return servings


def recipe_plan(
    *,
    recipe_id: int,
    person: Person | None,
    servings: int | None = None,
    at_home_sku_ids: Collection[int] | None = None,
) -> RecipePlan:
    """The recipe's ingredients with what the customer has (cart, at home) and still needs."""
    recipe = recipe_get(recipe_id=recipe_id)
    portions = _servings(recipe, servings)
    lines = recipe_shopping_list(recipe=recipe, servings=portions)
    in_cart: dict[int, int] = {}
    at_home: set[int] = set(at_home_sku_ids or ())
    in_pantry: set[str] = set()
    if person is not None:
        in_cart = {i.sku_id: i.quantity for i in cart_items_for_person(person=person)}
        if at_home_sku_ids is None:
            since = clock.now() - dt.timedelta(days=AT_HOME_DAYS)
            at_home = skus_bought_since(person=person, since=since)
            in_pantry = _pantry_ingredients(person)
    plan = []
    for line in lines:
        if line.sku is None:
            plan.append(PlanLine(line=line, in_cart=0, at_home=False, missing_packs=0))
            continue
        home = line.sku.pk in at_home or line.ingredient in in_pantry
        carted = in_cart.get(line.sku.pk, 0)
        missing = 0 if home else max(0, line.packs - carted)
        plan.append(PlanLine(line=line, in_cart=carted, at_home=home, missing_packs=missing))
    return RecipePlan(recipe=recipe, servings=portions, lines=plan)


def recipe_add_missing_to_cart(
    *,
    person: Person,
    recipe_id: int,
    servings: int | None = None,
    at_home_sku_ids: Collection[int] | None = None,
) -> list[PlanLine]:
    """一键加购: raise each missing SKU in the cart to the packs the recipe needs; returns the
    lines that were added (empty when nothing was missing)."""
    plan = recipe_plan(
        recipe_id=recipe_id, person=person, servings=servings, at_home_sku_ids=at_home_sku_ids
    )
    with transaction.atomic():
        for line in plan.missing:
            assert line.line.sku is not None  # missing lines have a SKU
            cart_item_set(
                person=person, sku_id=line.line.sku.pk, quantity=line.in_cart + line.missing_packs
            )
    return plan.missing


def _pantry_ingredients(person: Person) -> set[str]:
    """The ingredients of what the customer keeps in the pantry (not used up or thrown away):
    by the item's SKU, else by its typed name (农家土鸡蛋 → 鸡蛋)."""
    items = list(
        PantryItem.objects.filter(person=person, status=PantryStatus.ACTIVE)
        .select_related("sku__product")
        .only("name", "sku__product__name")
    )
    found = {
        ingredient_normalise(item.sku.product.name if item.sku else item.name) for item in items
    }
    return found - {""}


def recipe_recommendations_for_person(
    *, person: Person, limit: int = 6, index: SkuIndex | None = None
) -> list[tuple[Recipe, list[str]]]:
    """Recipes that use most of what the customer bought or keeps in the pantry (staples
    aside), with those ingredients: a customer who bought 五花肉 and 土豆 sees 土豆烧肉 first."""
    index = index or sku_index_for_shop()
    bought = set(
        OrderLine.objects.filter(
            order__person=person, order__status__in=BOUGHT_STATUSES
        ).values_list("sku_id", flat=True)
    )
    ingredients = {index.ingredient_by_sku[s] for s in bought if s in index.ingredient_by_sku}
    ingredients |= _pantry_ingredients(person)
    ingredients -= STAPLES
    if not ingredients:
        return []
    return _recipes_using(ingredients, limit)


def recipes_using(*, ingredient: str, limit: int = 3) -> list[Recipe]:
    """Published recipes that use `ingredient` (a normalised name), the simplest first."""
    if not ingredient or ingredient in STAPLES:
        return []
    return [recipe for recipe, _ in _recipes_using({ingredient}, limit, simplest_first=True)]


def _recipes_using(
    ingredients: set[str], limit: int, *, simplest_first: bool = False
) -> list[tuple[Recipe, list[str]]]:
    order = ("-n", "recipe__difficulty", "recipe_id") if simplest_first else ("-n", "recipe_id")
    rows = (
        RecipeIngredient.objects.filter(ingredient__in=ingredients, recipe__is_published=True)
        .values("recipe_id", "recipe__difficulty")
        .annotate(n=Count("ingredient", distinct=True))
        .order_by(*order)[:limit]
    )
    ids = [row["recipe_id"] for row in rows]
    recipes = Recipe.objects.in_bulk(ids)
    uses: dict[int, set[str]] = {}
    for recipe_id, ingredient in RecipeIngredient.objects.filter(
        recipe_id__in=ids, ingredient__in=ingredients
    ).values_list("recipe_id", "ingredient"):
        uses.setdefault(recipe_id, set()).add(ingredient)
    return [(recipes[i], sorted(uses.get(i, ()))) for i in ids]
