"""Console pages of fulfillment, mounted at /console/fulfillment/ (one block per feature).
The near-expiry page lives in `web` (it launches promotions and stock moves fulfillment does
not own) and is registered in config/urls.py before this include."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.fulfillment import views

urlpatterns: list[URLPattern] = [
    path("", views.overview, name="fulfillment-overview"),
    path("allocations/", views.allocation_queue, name="fulfillment-allocations"),
    path(
        "allocations/<str:order_no>/retry",
        views.allocation_retry_view,
        name="fulfillment-allocation-retry",
    ),
    path("shipments/", views.shipment_list, name="fulfillment-shipments"),
    path("shipments/<str:shipment_no>", views.shipment_detail, name="fulfillment-shipment"),
    path("excursions/", views.excursion_list, name="fulfillment-excursions"),
    path("rules/", views.rule_list, name="fulfillment-rules"),
    path("rules/<int:rule_id>/delete", views.rule_delete, name="fulfillment-rule-delete"),
    path("decisions/", views.decision_list, name="fulfillment-decisions"),
    path(
        "decisions/<int:decision_id>/<str:verdict>",
        views.decision_decide,
        name="fulfillment-decision-decide",
    ),
    path("recalls/", views.recall_list, name="fulfillment-recalls"),
]
