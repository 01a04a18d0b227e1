"""Public pages of food features that need no login (the lot traceability page a pack's QR
code opens), mounted at /trace/ by config/urls.py."""

from __future__ import annotations

from django.urls import URLPattern, path

# --- traceability (FD-3) ----------------------------------------------------------------------
from freshloop.food import trace_public_views

urlpatterns: list[URLPattern] = [
    path("<str:token>", trace_public_views.trace_page, name="food-trace-public"),
]
