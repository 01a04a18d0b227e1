"""Console pages of the WeCom message budget (SC-3), mounted under /console/intelligence/."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []
