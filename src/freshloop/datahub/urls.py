"""Console pages of the data hub, mounted at /console/data/."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.datahub.dashboards import views as dashboard_views
from freshloop.datahub.profiles import views as profile_views
from freshloop.datahub.segments import views as segment_views

urlpatterns: list[URLPattern] = [
    path("", dashboard_views.dashboard_page, name="datahub-dashboard"),
    path("charts/<str:name>", dashboard_views.dashboard_chart, name="datahub-dashboard-chart"),
    path("segments/", segment_views.segment_list, name="datahub-segments"),
    path("segments/new", segment_views.segment_new, name="datahub-segment-new"),
    path("segments/<int:segment_id>", segment_views.segment_edit, name="datahub-segment"),
    path("people/", profile_views.people_search, name="datahub-people"),
    path("people/<str:one_id>", profile_views.person_page, name="datahub-person"),
    path("people/<str:one_id>/tags", profile_views.person_tag_add, name="datahub-person-tag-add"),
    path(
        "people/<str:one_id>/tags/remove",
        profile_views.person_tag_remove,
        name="datahub-person-tag-remove",
    ),
]
