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
