"""The consumer recipe pages at /m/recipes: the library (with "为你推荐" from what the customer
bought) and a recipe with its ingredients matched to SKUs and the 一键加购 button, which calls
/api/v1/food/recipes/<id>/add-missing — the same API a mini-program would use."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from freshloop.content.errors import RecipeNotFound
from freshloop.content.selectors import recipe_categories, recipe_list
from freshloop.core.errors import DomainError
from freshloop.food.selectors import recipe_plan, recipe_recommendations_for_person
from freshloop.web.shop_views import _not_found, _person

PAGE_SIZE = 60


def h5_recipes(request: HttpRequest) -> HttpResponse:
    person = _person(request)
    category = request.GET.get("c", "")[:32]
    query = request.GET.get("q", "")[:50]
    recipes = recipe_list(category=category, query=query)
    recommended = (
        recipe_recommendations_for_person(person=person)
        if person is not None and not (category or query)
        else []
    )
    return render(
        request,
        "web/h5/recipes/list.html",
        {
            "recipes": recipes[:PAGE_SIZE],
            "more": max(0, len(recipes) - PAGE_SIZE),
            "categories": recipe_categories(),
            "category": category,
            "q": query,
            "recommended": recommended,
            "person": person,
            "tab": "recipes",
        },
    )


def h5_recipe(request: HttpRequest, recipe_id: int) -> HttpResponse:
    person = _person(request)
    servings_text = request.GET.get("servings", "")
    servings = int(servings_text) if servings_text.isdigit() else None
    try:
        plan = recipe_plan(recipe_id=recipe_id, person=person, servings=servings)
    except RecipeNotFound as error:
        return _not_found(request, error)
    except DomainError:  # servings out of range: the recipe's own
        plan = recipe_plan(recipe_id=recipe_id, person=person)
    return render(
        request, "web/h5/recipes/detail.html", {"plan": plan, "person": person, "tab": "recipes"}
    )
