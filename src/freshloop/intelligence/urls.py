"""Console pages of the intelligence module, mounted at /console/intelligence/."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.intelligence import views
from freshloop.intelligence.budgeting import views as budget_views
from freshloop.intelligence.forecasting import views as forecast_views

urlpatterns: list[URLPattern] = [
    path("", views.models_page, name="intelligence-models"),
    path("models/<str:kind>/<int:version>", views.model_page, name="intelligence-model"),
    path("retrain", views.models_retrain_request, name="intelligence-retrain"),
    path("models/<str:kind>/rollback", views.model_rollback_request, name="intelligence-rollback"),
    *forecast_views.urlpatterns,
    *budget_views.urlpatterns,
]
