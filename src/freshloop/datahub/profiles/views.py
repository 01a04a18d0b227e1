"""The 360° profile pages (DH-3), mounted at /console/data/people/.

`/console/data/people/` finds a person by OneID or by any identifier an operator pastes
(phone, openid, email…); `/console/data/people/<one_id>` is the profile (a merged-away OneID
redirects to its survivor). Manual tags are added and removed with plain form posts that
come back to the profile with a message, so the page works without JavaScript.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_POST

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.datahub.access import PROFILE_ROLES, console_access
from freshloop.datahub.profiles import selectors
from freshloop.datahub.tags.selectors import person_ids_by_spend
from freshloop.datahub.tags.services import manual_tag_add, manual_tag_remove
from freshloop.identity.models import Identifier, IdentifierType, Person, PersonStatus
from freshloop.identity.selectors import identifier_mask

SEARCH_RESULTS_SHOWN = 50
MAX_SEARCH_LENGTH = 128


def _rows(people: list[Person]) -> list[dict[str, str]]:
    phones: dict[int, str] = {}
    for identifier in Identifier.objects.filter(
        person__in=people, type=IdentifierType.PHONE
    ).order_by("-verified", "pk"):
        phones.setdefault(identifier.person_id, identifier_mask(identifier))
    return [
        {
            "one_id": person.one_id,
            "name": person.display_name or "（未填写昵称）",
            "phone": phones.get(person.pk, "—"),
            "status": PersonStatus(person.status).label,
            "source": person.source or "—",
        }
        for person in people
    ]


@require_GET
@console_access(*PROFILE_ROLES)
def people_search(request: HttpRequest) -> HttpResponse:
    term = request.GET.get("q", "").strip()[:MAX_SEARCH_LENGTH]
    if term:
        people = selectors.people_search(term=term, limit=SEARCH_RESULTS_SHOWN)
        if len(people) == 1:
            return redirect("datahub-person", one_id=people[0].one_id)
        heading = f"“{term}” 的搜索结果"
        top: list[dict[str, str]] = []
    else:
        people = list(
            Person.objects.filter(status=PersonStatus.ACTIVE).order_by("-updated_at", "-pk")[:20]
        )
        heading = "最近活跃的用户"
        top = _rows(_top_spenders())
    return render(
        request,
        "datahub/people.html",
        {"term": term, "heading": heading, "rows": _rows(people), "top": top, "tab": "people"},
    )


TOP_SPENDERS_SHOWN = 10


def _top_spenders() -> list[Person]:
    """The people with the highest spend in the RFM window (computed tags), best first."""
    try:
        ranked = person_ids_by_spend(limit=TOP_SPENDERS_SHOWN * 2)
    except DomainError:  # the store is busy: the page does without the ranking
        return []
    people = Person.objects.in_bulk(ranked)
    return [
        people[pk] for pk in ranked if pk in people and people[pk].status == PersonStatus.ACTIVE
    ][:TOP_SPENDERS_SHOWN]


def _page_number(raw: str | None) -> int:
    try:
        return max(1, min(int(raw or "1"), 10_000))
    except ValueError:
        return 1


@require_GET
@console_access(*PROFILE_ROLES)
def person_page(request: HttpRequest, one_id: str) -> HttpResponse:
    person = selectors.person_for_profile(one_id=one_id[:MAX_SEARCH_LENGTH])
    if person is None:
        raise Http404("没有这个用户")
    if person.one_id != one_id:
        messages.info(request, f"{one_id} 已合并到 {person.one_id}，显示合并后的用户。")
        return redirect("datahub-person", one_id=person.one_id)
    try:
        profile = selectors.person_profile(
            person=person, page=_page_number(request.GET.get("page"))
        )
    except DomainError as error:  # the event store is busy: say so instead of failing
        return render(
            request,
            "datahub/profile_unavailable.html",
            {"person": person, "message": error.text, "tab": "people"},
            status=error.status,
        )
    return render(request, "datahub/profile.html", {"profile": profile, "tab": "people"})


def _tag_change(request: HttpRequest, one_id: str, *, add: bool) -> HttpResponseRedirect:
    person = Person.objects.filter(one_id=one_id[:MAX_SEARCH_LENGTH]).first()
    if person is None:
        raise Http404("没有这个用户")
    tag = request.POST.get("tag", "")
    actor = Actor.for_user(request.user)
    try:
        if add:
            manual_tag_add(person=person, tag=tag, actor=actor)
            messages.success(request, f"已添加标签“{tag.strip()}”")
        elif manual_tag_remove(person=person, tag=tag, actor=actor):
            messages.success(request, f"已移除标签“{tag.strip()}”")
        else:
            messages.info(request, "该用户没有这个标签")
    except DomainError as error:
        messages.error(request, error.text)
    return redirect("datahub-person", one_id=person.one_id)


@require_POST
@console_access(*PROFILE_ROLES)
def person_tag_add(request: HttpRequest, one_id: str) -> HttpResponseRedirect:
    return _tag_change(request, one_id, add=True)


@require_POST
@console_access(*PROFILE_ROLES)
def person_tag_remove(request: HttpRequest, one_id: str) -> HttpResponseRedirect:
    return _tag_change(request, one_id, add=False)
