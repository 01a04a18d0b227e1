"""Public pages of community operations, mounted at /community/: the 活码 a poster opens."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.community import views

urlpatterns: list[URLPattern] = [
    path("join/<slug:code>", views.join_page, name="community-join"),
]
