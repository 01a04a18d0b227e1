"""Console pages of SCRM, mounted at /console/scrm/."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.scrm import views

urlpatterns: list[URLPattern] = [
    path("", views.journey_list, name="scrm-journeys"),
    path("journeys/new", views.journey_new, name="scrm-journey-new"),
    path("journeys/<int:journey_id>", views.journey_edit, name="scrm-journey"),
]
