"""Back office for OneID: find anyone by any identifier, see their identifiers, merge history
and conflicts, split wrong merges, export or erase personal data, review likely duplicates."""

from __future__ import annotations

import json
from typing import Any

from django.contrib import admin, messages
from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404
from django.utils.html import format_html, format_html_join

from freshloop.core.admin_base import OperatorAdmin, ReadOnlyAdmin, ReadOnlyInline, ReadOnlyMixin
from freshloop.core.audit import Actor
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
    person_traits_readable,
)

CUSTOMER_SERVICE = (Role.CUSTOMER_SERVICE,)


@admin.display(description="证据（脱敏）")
def _evidence_column(model_admin: object, obj: MergeRecord) -> str:
    return merge_evidence_text(obj)


class IdentifierInline(ReadOnlyInline):
    model = Identifier
    fields = ("id", "type", "scope", "masked", "verified", "source", "created_at", "last_seen_at")
    verbose_name_plural = "身份标识（脱敏）"

    @admin.display(description="值(脱敏)")
    def masked(self, obj: Identifier) -> str:
        return identifier_mask(obj)


class MergedFromInline(ReadOnlyInline):
    model = MergeRecord
    fk_name = "into_person"
    fields = ("from_person", "reason", "source", "actor_label", "evidence_text", "created_at")
    verbose_name_plural = "合并历史（并入本用户）"
    evidence_text = _evidence_column


@admin.register(Person)
class PersonAdmin(ReadOnlyMixin, OperatorAdmin):
    """Nothing on a person is typed in or edited by hand: identification (login, import)
    creates people; identify, split, merge and erase change them; erasure (PIPL) is the
    audited way to remove a person's data."""

    list_display = ("one_id", "display_name", "status", "province", "source", "created_at")
    list_filter = ("status", "source")
    search_fields = ("one_id",)
    search_help_text = "输入 OneID，或任意身份标识：手机号、openid、unionid、设备ID、邮箱、会员号…"
    readonly_fields = (
        "one_id",
        "status",
        "merged_into",
        "display_name",
        "traits_table",
        "source",
        "created_at",
        "updated_at",
        "erased_at",
    )
    exclude = ("traits", "private_traits", "trait_sources")
    inlines = [IdentifierInline, MergedFromInline]
    change_form_after_template = "identity/admin/person_tools.html"
    tool_views = ("export", "erase", "split")

    @admin.display(description="属性")
    def traits_table(self, obj: Person) -> str:
        """The public traits as a table of Chinese names and readable values (not JSON)."""
        rows = person_traits_readable(person=obj)
        if not rows:
            return "—"
        return format_html(
            '<table class="person-traits" data-testid="person-traits">{}</table>',
            format_html_join(
                "",
                '<tr><th class="pr-4 py-1 text-left font-normal text-font-subtle-light'
                ' dark:text-font-subtle-dark">{}</th><td class="py-1">{}</td></tr>',
                rows,
            ),
        )

    @admin.display(description="省份")
    def province(self, obj: Person) -> str:
        return str(obj.traits.get("province", ""))

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

    def tools_context(self, request: HttpRequest, obj: Person) -> dict[str, Any]:
        identifier_ids = list(obj.identifiers.values_list("pk", flat=True))
        return {
            "identifiers": [
                {"id": i.pk, "type": i.get_type_display(), "masked": identifier_mask(i)}
                for i in obj.identifiers.order_by("type", "pk")
            ],
            "conflicts": IdentityConflict.objects.filter(
                Q(left_id__in=identifier_ids) | Q(right_id__in=identifier_ids)
            ).select_related("left__person", "right__person"),
            "merged_away": [
                {"record": record, "evidence": merge_evidence_text(record)}
                for record in MergeRecord.objects.filter(from_person=obj).select_related(
                    "into_person"
                )
            ],
            "person_obj": obj,
        }

    def export_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = get_object_or_404(Person, pk=pk)
        document = self.operator_call(
            request,
            roles=CUSTOMER_SERVICE,
            call=lambda actor: person_export(actor=actor, one_id=person.one_id),
        )
        if document is None:
            return self.change_page(pk)
        response = HttpResponse(
            json.dumps(document, ensure_ascii=False, indent=2),
            content_type="application/json; charset=utf-8",
        )
        response["Content-Disposition"] = f'attachment; filename="{person.one_id}.json"'
        return response

    def erase_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = get_object_or_404(Person, pk=pk)

        def erase(actor: Actor) -> str:
            person_erase(actor=actor, one_id=person.one_id, reason=request.POST.get("reason", ""))
            return f"已删除 {person.one_id} 的个人信息"

        return self.tool_post(request, pk, roles=CUSTOMER_SERVICE, write=erase)

    def split_view(self, request: HttpRequest, pk: int) -> HttpResponse:
        person = get_object_or_404(Person, pk=pk)
        if request.method != "POST":
            return self.change_page(pk)
        new_person = self.operator_call(
            request,
            roles=CUSTOMER_SERVICE,
            call=lambda actor: person_split(
                actor=actor,
                person=person,
                identifier_ids=[int(value) for value in request.POST.getlist("identifier_ids")],
                reason=request.POST.get("reason", ""),
            ),
            invalid_input="拆分参数不正确",
        )
        if new_person is None:
            return self.change_page(pk)
        self.message_user(request, f"已拆分，新用户 {new_person.one_id}", messages.SUCCESS)
        return self.change_page(new_person.pk)


@admin.register(MergeRecord)
class MergeRecordAdmin(ReadOnlyAdmin):
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
    evidence_text = _evidence_column


@admin.register(IdentityConflict)
class IdentityConflictAdmin(ReadOnlyAdmin):
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

        require_role(request.user, *CUSTOMER_SERVICE)
        for conflict in queryset.filter(status=ConflictStatus.OPEN):
            conflict.status = ConflictStatus.DISMISSED
            conflict.resolved_at = clock.now()
            conflict.resolved_by = request.user.get_username()
            conflict.save(update_fields=["status", "resolved_at", "resolved_by"])
            audit_record(
                actor=Actor.for_user(request.user), action="conflict.dismiss", target=conflict
            )


@admin.register(MatchCandidate)
class MatchCandidateAdmin(ReadOnlyMixin, OperatorAdmin):
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
        require_role(request.user, *CUSTOMER_SERVICE)
        actor = Actor.for_user(request.user)
        decide = match_candidate_accept if accept else match_candidate_reject
        done = self.write_each(
            request,
            queryset.filter(status=MatchStatus.PENDING),
            lambda candidate: decide(actor=actor, candidate_id=candidate.pk),
            refused=lambda candidate, error: f"{candidate}: {error.text}",
            level=messages.WARNING,
        )
        self.message_user(request, f"已处理 {done} 条", messages.SUCCESS)
