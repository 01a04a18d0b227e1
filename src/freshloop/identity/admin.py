"""Back office for OneID: find anyone by any identifier, see their identifiers, merge history
and conflicts, split wrong merges, export or erase personal data, review likely duplicates."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.urls import path, reverse
from unfold.admin import ModelAdmin, TabularInline

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role, require_role
from freshloop.identity.matching import match_candidate_accept, match_candidate_reject
from freshloop.identity.models import (
    ConflictStatus,
    Identifier,
    IdentityConflict,
    MatchCandidate,
    MatchStatus,
    MergeRecord,
    Person,
)
from freshloop.identity.privacy import person_erase, person_export
from freshloop.identity.resolver import person_split
from freshloop.identity.selectors import (
    identifier_mask,
    merge_evidence_text,
    person_ids_by_any_identifier,
)


class IdentifierInline(TabularInline):
    model = Identifier
    extra = 0
    fields = ("id", "type", "scope", "masked", "verified", "source", "created_at", "last_seen_at")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "身份标识（脱敏）"

    @admin.display(description="值(脱敏)")
    def masked(self, obj: Identifier) -> str:
        return identifier_mask(obj)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


class MergedFromInline(TabularInline):
    model = MergeRecord
    fk_name = "into_person"
    extra = 0
    fields = ("from_person", "reason", "source", "actor_label", "evidence_text", "created_at")
    readonly_fields = fields
    can_delete = False
    verbose_name_plural = "合并历史（并入本用户）"

    @admin.display(description="证据（脱敏）")
    def evidence_text(self, obj: MergeRecord) -> str:
        return merge_evidence_text(obj)

    def has_add_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(Person)
class PersonAdmin(ModelAdmin):
    list_display = ("one_id", "display_name", "status", "province", "source", "created_at")
    list_filter = ("status", "source")
    search_fields = ("one_id",)
    search_help_text = "输入 OneID，或任意身份标识：手机号、openid、unionid、设备ID、邮箱、会员号…"
    readonly_fields = (
        "one_id",
        "status",
        "merged_into",
        "display_name",
        "traits",
        "source",
        "created_at",
        "updated_at",
        "erased_at",
    )
    exclude = ("private_traits", "trait_sources")
    inlines = [IdentifierInline, MergedFromInline]
    change_form_after_template = "identity/admin/person_tools.html"

    @admin.display(description="省份")
    def province(self, obj: Person) -> str:
        return str(obj.traits.get("province", ""))

    def has_add_permission(self, request: HttpRequest) -> bool:
        # People are created by identification (login, import), never typed in by hand.
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False  # erasure (PIPL) is the audited way to remove a person's data

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        # Nothing on a person is edited by hand: identify, split, merge and erase change it.
        return False

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Person], search_term: str
    ) -> tuple[QuerySet[Person], bool]:
        result, may_have_duplicates = super().get_search_results(request, queryset, search_term)
        term = search_term.strip()
        if term:
            ids = person_ids_by_any_identifier(term=term)
            if ids:
                result = queryset.filter(Q(pk__in=ids) | Q(pk__in=result.values("pk")))
        return result, may_have_duplicates

    def get_urls(self) -> list[Any]:
        custom = [
            path(
                "<int:pk>/export/",
                self.admin_site.admin_view(self.export_view),
                name="identity_person_export",
            ),
            path(
                "<int:pk>/erase/",
                self.admin_site.admin_view(self.erase_view),
                name="identity_person_erase",
            ),
            path(
                "<int:pk>/split/",
                self.admin_site.admin_view(self.split_view),
                name="identity_person_split",
            ),
        ]
        return custom + super().get_urls()

    def changeform_view(
        self,
        request: HttpRequest,
        object_id: str | None = None,
        form_url: str = "",
        extra_context: dict[str, Any] | None = None,
    ) -> HttpResponse:
        extra_context = extra_context or {}
        if object_id:
            person = get_object_or_404(Person, pk=object_id)
            identifier_ids = list(person.identifiers.values_list("pk", flat=True))
            extra_context["identifiers"] = [
                {"id": i.pk, "type": i.get_type_display(), "masked": identifier_mask(i)}
                for i in person.identifiers.order_by("type", "pk")
            ]
            extra_context["conflicts"] = IdentityConflict.objects.filter(
                Q(left_id__in=identifier_ids) | Q(right_id__in=identifier_ids)
            ).select_related("left__person", "right__person")
            extra_context["merged_away"] = [
                {"record": record, "evidence": merge_evidence_text(record)}
                for record in MergeRecord.objects.filter(from_person=person).select_related(
                    "into_person"
                )
            ]
            extra_context["person_obj"] = person
        return super().changeform_view(request, object_id, form_url, extra_context)

    def _redirect(self, pk: int) -> HttpResponseRedirect:
        return HttpResponseRedirect(reverse("admin:identity_person_change", args=[pk]))

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = get_object_or_404(Person, pk=pk)
        try:
            require_role(request.user, Role.CUSTOMER_SERVICE)
            document = person_export(actor=Actor.for_user(request.user), one_id=person.one_id)
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
            return self._redirect(pk)
        response = HttpResponse(
            json.dumps(document, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{person.one_id}.json"'
        return response

    def erase_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = get_object_or_404(Person, pk=pk)
        if request.method != "POST":
            return self._redirect(pk)
        try:
            require_role(request.user, Role.CUSTOMER_SERVICE)
            person_erase(
                actor=Actor.for_user(request.user),
                one_id=person.one_id,
                reason=request.POST.get("reason", ""),
            )
        except DomainError as error:
            self.message_user(request, error.text, messages.ERROR)
            return self._redirect(pk)
        self.message_user(request, f"已删除 {person.one_id} 的个人信息", messages.SUCCESS)
        return self._redirect(pk)

    def split_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = get_object_or_404(Person, pk=pk)
        if request.method != "POST":
            return self._redirect(pk)
        try:
            require_role(request.user, Role.CUSTOMER_SERVICE)
            chosen = [int(value) for value in request.POST.getlist("identifier_ids")]
            new_person = person_split(
                actor=Actor.for_user(request.user),
                person=person,
                identifier_ids=chosen,
                reason=request.POST.get("reason", ""),
            )
        except (DomainError, ValueError) as error:
            self.message_user(request, getattr(error, "text", "拆分参数不正确"), messages.ERROR)
            return self._redirect(pk)
        self.message_user(request, f"已拆分，新用户 {new_person.one_id}", messages.SUCCESS)
        return self._redirect(new_person.pk)


class _ReadOnly(ModelAdmin):
    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: object = None) -> bool:
        return False


@admin.register(MergeRecord)
class MergeRecordAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "from_person",
        "into_person",
        "reason",
        "source",
        "actor_label",
        "evidence_text",
    )
    list_filter = ("reason", "source")
    search_fields = ("from_person__one_id", "into_person__one_id")
    # The raw evidence ids stay off the page; the masked description is what people read.
    exclude = ("evidence", "evidence_detail")
    readonly_fields = ("evidence_text",)

    @admin.display(description="证据（脱敏）")
    def evidence_text(self, obj: MergeRecord) -> str:
        return merge_evidence_text(obj)


@admin.register(IdentityConflict)
class IdentityConflictAdmin(_ReadOnly):
    list_display = (
        "created_at",
        "reason",
        "detail",
        "left_person",
        "right_person",
        "status",
        "resolved_by",
    )
    list_filter = ("status", "reason")
    actions = ["dismiss"]

    @admin.display(description="用户 A")
    def left_person(self, obj: IdentityConflict) -> str:
        return obj.left.person.one_id

    @admin.display(description="用户 B")
    def right_person(self, obj: IdentityConflict) -> str:
        return obj.right.person.one_id

    @admin.action(description="确认不是同一人（关闭冲突）")
    def dismiss(self, request: HttpRequest, queryset: QuerySet[IdentityConflict]) -> None:
        from freshloop.core import clock
        from freshloop.core.audit import audit_record

        require_role(request.user, Role.CUSTOMER_SERVICE)
        for conflict in queryset.filter(status=ConflictStatus.OPEN):
            conflict.status = ConflictStatus.DISMISSED
            conflict.resolved_at = clock.now()
            conflict.resolved_by = request.user.get_username()
            conflict.save(update_fields=["status", "resolved_at", "resolved_by"])
            audit_record(
                actor=Actor.for_user(request.user), action="conflict.dismiss", target=conflict
            )


@admin.register(MatchCandidate)
class MatchCandidateAdmin(_ReadOnly):
    list_display = (
        "score_percent",
        "person_a",
        "person_b",
        "evidence",
        "status",
        "created_at",
        "decided_by",
    )
    list_filter = ("status",)
    actions = ["accept", "reject"]

    @admin.display(description="匹配概率", ordering="score")
    def score_percent(self, obj: MatchCandidate) -> str:
        return f"{obj.score:.1%}"

    @admin.action(description="是同一人：合并")
    def accept(self, request: HttpRequest, queryset: QuerySet[MatchCandidate]) -> None:
        self._decide(request, queryset, accept=True)

    @admin.action(description="不是同一人：以后不再提示")
    def reject(self, request: HttpRequest, queryset: QuerySet[MatchCandidate]) -> None:
        self._decide(request, queryset, accept=False)

    def _decide(
        self, request: HttpRequest, queryset: QuerySet[MatchCandidate], *, accept: bool
    ) -> None:
        require_role(request.user, Role.CUSTOMER_SERVICE)
        actor = Actor.for_user(request.user)
        done = 0
        for candidate in queryset.filter(status=MatchStatus.PENDING):
            try:
                if accept:
                    match_candidate_accept(actor=actor, candidate_id=candidate.pk)
                else:
                    match_candidate_reject(actor=actor, candidate_id=candidate.pk)
                done += 1
            except DomainError as error:
                self.message_user(request, f"{candidate}: {error.text}", messages.WARNING)
        self.message_user(request, f"已处理 {done} 条", messages.SUCCESS)
