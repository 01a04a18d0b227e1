"""Console pages of Food features (SPEC FD-1…FD-6), mounted at /console/food/ (one block per feature, so features
add their own lines without touching each other's)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

# --- traceability (FD-3) ----------------------------------------------------------------------
from django.urls import path  # noqa: E402

from freshloop.food import trace_views  # noqa: E402

urlpatterns += [
    path("trace/", trace_views.lot_list, name="food-trace-lots"),
    path("trace/origins/new", trace_views.origin_new, name="food-trace-origin-new"),
    path("trace/origins/<int:origin_id>", trace_views.origin_edit, name="food-trace-origin"),
    path("trace/lots/<int:batch_id>/", trace_views.lot_detail, name="food-trace-lot"),
    path("trace/lots/<int:batch_id>/origin", trace_views.lot_origin, name="food-trace-lot-origin"),
    path("trace/lots/<int:batch_id>/records", trace_views.record_add, name="food-trace-record-add"),
    path(
        "trace/lots/<int:batch_id>/records/<int:record_id>",
        trace_views.record_update,
        name="food-trace-record",
    ),
    path(
        "trace/lots/<int:batch_id>/records/<int:record_id>/delete",
        trace_views.record_delete,
        name="food-trace-record-delete",
    ),
    path("trace/lots/<int:batch_id>/media", trace_views.media_add, name="food-trace-media-add"),
    path(
        "trace/lots/<int:batch_id>/media/<int:media_id>/delete",
        trace_views.media_delete,
        name="food-trace-media-delete",
    ),
    path("trace/lots/<int:batch_id>/publish", trace_views.lot_publish, name="food-trace-publish"),
    path("trace/lots/<int:batch_id>/qr.<str:fmt>", trace_views.lot_qr, name="food-trace-lot-qr"),
]


# --- regional pools and seasonal calendar (FD-5, FD-6) ---
from django.urls import path  # noqa: E402

from freshloop.food import calendar_views, region_views  # noqa: E402

urlpatterns += [
    path("regions/", region_views.regions, name="food-regions"),
    path("regions/<int:rule_id>/delete", region_views.region_delete, name="food-region-delete"),
    path("calendar/", calendar_views.calendar_page, name="food-calendar"),
    path("calendar/templates/", calendar_views.template_create, name="food-calendar-template"),
]
