"""What every module's back office is built from, so the screens behave alike.

Rows that services write are shown read-only (`ReadOnlyAdmin`, `ReadOnlyInline`). An operator's
write goes through a service as the signed-in operator, after a role check, and a refusal comes
back as a message on the page, never as a server error (`OperatorAdmin`). Money is shown in yuan
and times in Asia/Shanghai.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

from django.contrib import admin, messages
from django.db import models
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import URLPattern, path, reverse
from unfold.admin import ModelAdmin, TabularInline

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.core.permissions import Role, require_role

T = TypeVar("T")
Column = Callable[[Any, Any], str]


# --- permissions ------------------------------------------------------------------------------


class NoAddOrDeleteMixin:
    """Rows are created by services (or a command) and never removed by hand; for a model admin
    or an inline (hence the optional `obj` on add)."""

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyMixin(NoAddOrDeleteMixin):
    """History and ledgers: written by services only, read here."""

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class ReadOnlyAdmin(ReadOnlyMixin, ModelAdmin):
    """A model admin whose rows are only read."""


class ReadOnlyInline(NoAddOrDeleteMixin, TabularInline):
    """Rows listed under their parent, every field read-only, none added or removed there."""

    extra = 0
    can_delete = False

    def get_readonly_fields(self, request: HttpRequest, obj: object = None) -> Any:
        return self.fields or ()


# --- operator writes --------------------------------------------------------------------------


def domain_error_text(error: DomainError) -> str:
    """The error's message, naming the field it is about when the service said which."""
    detail = error.detail if isinstance(error.detail, dict) else {}
    field = detail.get("field")
    return f"{error.text}（{field}）" if field else error.text


class OperatorAdmin(ModelAdmin):
    """A change page with operator tools, and saves and actions that call services as the operator.

    Saves go through services (`save_model` / `save_related`), which may still refuse after the
    form validated (a code taken a moment ago by someone else, a limit reached meanwhile): the
    refusal is shown on the form again instead of a server error; the admin's transaction has
    rolled everything back by then.

    `tool_views = ("adjust",)` serves the method `adjust_view(request, pk)` at `<pk>/adjust/`
    under the URL name `<app>_<model>_adjust`; `tools_context` gives the tools' template
    (`change_form_after_template`) what it shows about the object.
    """

    tool_views: tuple[str, ...] = ()

    def get_urls(self) -> list[URLPattern]:
        opts = self.model._meta
        tools = [
            path(
                f"<int:pk>/{name}/",
                self.admin_site.admin_view(getattr(self, f"{name}_view")),
                name=f"{opts.app_label}_{opts.model_name}_{name}",
            )
            for name in self.tool_views
        ]
        return tools + super().get_urls()

    def tools_context(self, request: HttpRequest, obj: Any) -> dict[str, Any]:
        return {}

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        # Only a page with tools below the form needs (and loads) their context.
        if object_id and self.change_form_after_template:
            obj = get_object_or_404(self.model, pk=object_id)
            extra_context.update(self.tools_context(request, obj))
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except DomainError as error:
            if request.method != "POST":
                raise  # coming back to the same page would fail again, and again
            self.message_user(request, domain_error_text(error), messages.ERROR)
            return HttpResponseRedirect(request.get_full_path())

    def change_page(self, pk: int) -> HttpResponseRedirect:
        opts = self.model._meta
        return HttpResponseRedirect(
            reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[pk])
        )

    def operator_call(
        self,
        request: HttpRequest,
        *,
        roles: Iterable[Role],
        call: Callable[[Actor], T],
        invalid_input: str | None = None,
    ) -> T | None:
        """`call(actor)` as the signed-in operator once they hold one of `roles`. A refusal (the
        role, a domain rule, or with `invalid_input` a number that does not parse) is shown as
        an error message and gives None; the service has audited whatever it did."""
        try:
            require_role(request.user, *roles)
            return call(Actor.for_user(request.user))
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
        except ValueError:
            if invalid_input is None:
                raise
            self.message_user(request, invalid_input, messages.ERROR)
        return None

    def tool_post(
        self,
        request: HttpRequest,
        pk: int,
        *,
        roles: Iterable[Role],
        write: Callable[[Actor], str],
        invalid_input: str | None = None,
    ) -> HttpResponse:
        """A tool's form posted from the change page: run `write` (it returns what to tell the
        operator), then back to the page. Anything but a POST just goes back."""
        if request.method == "POST":
            done = self.operator_call(request, roles=roles, call=write, invalid_input=invalid_input)
            if done is not None:
                self.message_user(request, done, messages.SUCCESS)
        return self.change_page(pk)

    def write_each(
        self,
        request: HttpRequest,
        items: Iterable[T],
        write: Callable[[T], object],
        *,
        refused: Callable[[T, DomainError], str],
        level: int = messages.ERROR,
    ) -> int:
        """An action over the selected rows: write each, tell the operator about each one a
        service refused (`refused(item, error)`) and go on; returns how many were written."""
        done = 0
        for item in items:
            try:
                write(item)
            except DomainError as error:
                self.message_user(request, refused(item, error), level)
            else:
                done += 1
        return done


# --- columns ----------------------------------------------------------------------------------


def fen_column(
    field: str, description: str, *, sortable: bool = True, blank_when_zero: bool = False
) -> Column:
    """A column (or read-only field) showing an integer-fen field in yuan:
    `total = fen_column("total_fen", "应付")` in the admin class body."""

    @admin.display(description=description, ordering=field if sortable else None)
    def column(model_admin: Any, obj: models.Model) -> str:
        fen = getattr(obj, field)
        return "" if blank_when_zero and not fen else format_fen(fen)

    return column


def fen_budget_column(
    spent_field: str, budget_field: str, description: str = "已用/预算"
) -> Column:
    """ "¥12.00 / ¥100.00": what was spent of a budget that may be unlimited (None: 不限)."""

    @admin.display(description=description)
    def column(model_admin: Any, obj: models.Model) -> str:
        budget = getattr(obj, budget_field)
        limit = format_fen(budget) if budget is not None else "不限"
        return f"{format_fen(getattr(obj, spent_field))} / {limit}"

    return column


def one_id_column(person_field: str = "person", description: str = "OneID") -> Column:
    """The OneID of the person a row belongs to, sortable by it."""

    @admin.display(description=description, ordering=f"{person_field}__one_id")
    def column(model_admin: Any, obj: models.Model) -> str:
        return str(getattr(obj, person_field).one_id)

    return column


def shanghai_minute(moment: dt.datetime) -> str:
    """A stored (UTC) time as operators read it: Asia/Shanghai, to the minute."""
    return f"{clock.to_shanghai(moment):%Y-%m-%d %H:%M}"
