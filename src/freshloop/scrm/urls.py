"""Console pages of SCRM, mounted at /console/scrm/ (one block per feature, so features add
their own lines without touching each other's)."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.scrm import views

urlpatterns: list[URLPattern] = []

# Journeys (SOP): the list and the editor.
urlpatterns += [
    path("", views.journey_list, name="scrm-journeys"),
    path("journeys/new", views.journey_new, name="scrm-journey-new"),
    path("journeys/<int:journey_id>", views.journey_edit, name="scrm-journey"),
]

# The WeCom sandbox's simulated phones (only while no real corp is configured).
urlpatterns += [
    path("sandbox/", views.sandbox_customers, name="scrm-sandbox"),
    path("sandbox/<str:external_userid>", views.sandbox_phone_page, name="scrm-sandbox-phone"),
]

# Staff tasks (跟进任务) that journeys create.
urlpatterns += [
    path("tasks/", views.task_list, name="scrm-tasks"),
    path("tasks/<int:task_id>/done", views.task_done, name="scrm-task-done"),
]
