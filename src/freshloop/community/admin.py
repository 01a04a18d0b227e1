"""Back-office screens of community (one block per feature)."""

from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.http import HttpRequest
from unfold.admin import ModelAdmin

from freshloop.community.models import GroupRobot, RobotPost
from freshloop.core import clock
from freshloop.core.admin_base import ReadOnlyAdmin

# --- the keyword assistant: internal groups' robots and what they posted ---------------------


@admin.register(GroupRobot)
class GroupRobotAdmin(ModelAdmin):
    # An internal group (员工群) whose robot posts the assistant's replies by itself: the key is
    # the `key=` of the webhook address WeCom shows when the robot is added to the group.
    list_display = ("name", "chat_id", "created_at")
    search_fields = ("name", "chat_id")
    fields = ("name", "chat_id", "webhook_key", "created_at")
    readonly_fields = ("created_at",)

    def save_model(self, request: HttpRequest, obj: GroupRobot, form: Any, change: bool) -> None:
        if obj.created_at is None:
            obj.created_at = clock.now()
        super().save_model(request, obj, form, change)


@admin.register(RobotPost)
class RobotPostAdmin(ReadOnlyAdmin):
    list_display = ("posted_at", "chat_id", "provider", "msgtype", "ok", "answer")
    list_filter = ("provider", "ok")
    search_fields = ("chat_id",)
