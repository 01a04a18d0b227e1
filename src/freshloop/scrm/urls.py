"""Console pages of SCRM, mounted at /console/scrm/ (one block per feature, so features add
their own lines without touching each other's)."""

from __future__ import annotations

from django.urls import URLPattern, path

from freshloop.scrm import broadcast_views, smart_send_views, views

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

# Mass messages (企业群发) and moments (客户朋友圈).
urlpatterns += [
    path("broadcasts/", broadcast_views.broadcast_list, name="scrm-broadcasts"),
    path("broadcasts/new", broadcast_views.broadcast_new, name="scrm-broadcast-new"),
    path("broadcasts/<int:broadcast_id>", broadcast_views.broadcast_detail, name="scrm-broadcast"),
    path(
        "broadcasts/<int:broadcast_id>/edit",
        broadcast_views.broadcast_edit,
        name="scrm-broadcast-edit",
    ),
]

# Contacts with their 跟进人 and tags; staff transfer (离职继承 / 在职继承); tag sync.
urlpatterns += [
    path("contacts/", views.contacts_page, name="scrm-contacts"),
    path("contacts/transfer", views.contacts_transfer_form, name="scrm-contacts-transfer"),
    path("contacts/transfer/poll", views.contacts_transfer_poll, name="scrm-contacts-poll"),
    path("contacts/tags/sync", views.tags_sync_now, name="scrm-tags-sync"),
    path("contacts/tags/push", views.computed_push_form, name="scrm-tags-push"),
]

# 智能发送 (SC-3): smart-send mass messages planned by the message budget optimiser.
urlpatterns += [
    path("broadcasts/smart/", smart_send_views.smart_send_page, name="scrm-smart-send"),
    path(
        "broadcasts/smart/plan",
        smart_send_views.smart_send_plan_request,
        name="scrm-smart-send-plan",
    ),
    path(
        "broadcasts/smart/settings",
        smart_send_views.smart_send_settings,
        name="scrm-smart-send-settings",
    ),
]
