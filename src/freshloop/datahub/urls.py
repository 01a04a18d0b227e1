"""Console pages of the data hub, mounted at /console/data/."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
