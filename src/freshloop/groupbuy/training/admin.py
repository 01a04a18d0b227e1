"""Back office of leader training (GB-1), imported by `groupbuy.admin`: operators (community
managers and admins) write courses with their lessons and quiz questions on one page and
publish them; leaders' quiz attempts are read here. Course content touches no money, stock,
identity or permissions, so it is edited directly (no audit rows)."""

from __future__ import annotations

from django.contrib import admin
from django.db import models
from django.http import HttpRequest
from unfold.admin import StackedInline

from freshloop.core.admin_base import ReadOnlyMixin
from freshloop.core.permissions import user_has_role
from freshloop.groupbuy.admin import GROUPBUY_ROLES, _GroupbuyRoleAdmin
from freshloop.groupbuy.training.models import (
    QuizAttempt,
    QuizQuestion,
    TrainingCourse,
    TrainingLesson,
)


class _RoleInline(StackedInline):
    extra = 0

    def _allowed(self, request: HttpRequest) -> bool:
        return user_has_role(request.user, *GROUPBUY_ROLES)

    def has_view_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request)

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request)

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return self._allowed(request)


class LessonInline(_RoleInline):
    model = TrainingLesson
    fields = ("position", "title", "video_url", "body")
    formfield_overrides = {models.URLField: {"assume_scheme": "https"}}


class QuestionInline(_RoleInline):
    model = QuizQuestion
    fields = ("position", "text", "choices_text", "correct_choice")


@admin.register(TrainingCourse)
class TrainingCourseAdmin(_GroupbuyRoleAdmin):
    list_display = ("position", "code", "title", "pass_percent", "is_published", "updated_at")
    list_display_links = ("code", "title")
    list_filter = ("is_published",)
    search_fields = ("code", "title")
    fields = ("code", "title", "summary", "pass_percent", "position", "is_published")
    inlines = (LessonInline, QuestionInline)


@admin.register(QuizAttempt)
class QuizAttemptAdmin(ReadOnlyMixin, _GroupbuyRoleAdmin):
    list_display = ("attempted_at", "leader", "course", "score_percent", "passed")
    list_filter = ("passed", "course")
    list_select_related = ("leader", "course")
    search_fields = ("leader__leader_no", "leader__display_name")
    fields = (
        "leader",
        "course",
        "answers",
        "correct_count",
        "question_count",
        "score_percent",
        "passed",
        "attempted_at",
    )
