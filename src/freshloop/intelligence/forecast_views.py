"""Console pages of the live-heat demand forecast (DH-8), mounted under /console/intelligence/."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
