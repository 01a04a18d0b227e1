"""Console pages of Content library (SPEC BM-6), mounted at /console/content/ (one block per feature, so features
add their own lines without touching each other's)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []


# --- recipes and the content library (FD-4, BM-6) ---

from django.urls import path  # noqa: E402

from freshloop.content import views  # noqa: E402

urlpatterns += [
    path("", views.library, name="content-library"),
    path("items/new", views.item_new, name="content-item-new"),
    path("recipes/", views.recipes, name="content-recipes"),
    path("recipes/new", views.recipe_new, name="content-recipe-new"),
    path("recipes/<int:recipe_id>", views.recipe_detail, name="content-recipe"),
]
