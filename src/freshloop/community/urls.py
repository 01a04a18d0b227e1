"""Console pages of community operations, mounted at /console/community/ (one block per
feature, so features add their own lines without touching each other's)."""

from __future__ import annotations

from django.urls import URLPattern

urlpatterns: list[URLPattern] = []

# Groups and their health, 群活码, welcome templates, topics, challenges.
from django.urls import path  # noqa: E402

from freshloop.community import views  # noqa: E402

urlpatterns += [
    path("", views.group_list, name="community-groups"),
    path("sync", views.group_sync, name="community-sync"),
    path("groups/<str:chat_id>", views.group_detail, name="community-group"),
    path("join-codes/", views.join_code_list, name="community-join-codes"),
    path("join-codes/<int:join_code_id>", views.join_code_detail, name="community-join-code"),
    path("welcome/", views.welcome_list, name="community-welcome"),
    path("topics/", views.topic_list, name="community-topics"),
    path("challenges/", views.challenge_list, name="community-challenges"),
]

# The keyword assistant, its chat-sidebar page, and group draws.
from freshloop.community import activity_views  # noqa: E402

urlpatterns += [
    path("assistant/", activity_views.assistant_rules, name="community-assistant"),
    path("assistant/rules/<int:rule_id>", activity_views.assistant_rules, name="community-rule"),
    path("sidebar/", activity_views.sidebar, name="community-sidebar"),
    path("draws/", activity_views.draws, name="community-draws"),
]
