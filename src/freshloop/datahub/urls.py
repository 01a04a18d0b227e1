"""Console pages of the data hub, mounted at /console/data/."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.datahub import dashboard_views

urlpatterns: list[URLPattern] = [
    path("", dashboard_views.dashboard_page, name="datahub-dashboard"),
    path("charts/<str:name>", dashboard_views.dashboard_chart, name="datahub-dashboard-chart"),
]
