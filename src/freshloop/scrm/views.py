"""The journey (SOP) pages of the console, mounted at /console/scrm/.

The list is rendered here; the editor page draws the steps in the browser (Alpine.js) and
talks to the JSON API (`/api/v1/scrm/…`, `scrm.api`) to save, publish, start / pause and
test-run. Its menus — triggers, step types, conditions, coupon templates — come from the
same whitelists `steps_check` enforces, so the editor cannot offer what the server refuses.
"""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET

from freshloop.core.errors import NotFound
from freshloop.core.permissions import user_has_role
from freshloop.scrm import selectors
from freshloop.scrm.api import JOURNEY_ROLES, journey_out
from freshloop.scrm.journeys import CONDITIONS, MAX_MESSAGE_CHARS, MAX_STEPS, STEP_TYPES
from freshloop.scrm.models import JourneyStatus, JourneyTrigger

View = Callable[..., HttpResponse]


def journey_access(view: View) -> View:
    """The console's gate for journeys (scrm may not import web): logged-in community managers
    and marketers (admins always); others get the console's 403 page."""

    @wraps(view)
    @login_required(login_url="/console/login/")
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (request.user.is_superuser or user_has_role(request.user, *JOURNEY_ROLES)):
            return render(request, "web/console/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


@require_GET
@journey_access
def journey_list(request: HttpRequest) -> HttpResponse:
    counts = selectors.journey_counts()
    journeys = selectors.journey_list()
    numbers = [counts.get(journey.pk, selectors.NO_COUNTS) for journey in journeys]
    rows = [
        {"journey": journey, "counts": number}
        for journey, number in zip(journeys, numbers, strict=True)
    ]
    totals = {
        "running": sum(1 for journey in journeys if journey.status == JourneyStatus.ACTIVE),
        "entered": sum(number.entered for number in numbers),
        "active": sum(number.active for number in numbers),
        "converted": sum(number.converted for number in numbers),
        "converted_fen": sum(number.converted_fen for number in numbers),
    }
    return render(request, "scrm/journeys.html", {"rows": rows, "totals": totals})


def _editor(request: HttpRequest, journey_id: int | None) -> HttpResponse:
    journey = None
    if journey_id is not None:
        try:
            journey = journey_out(selectors.journey_get(journey_id=journey_id)).model_dump(
                mode="json"
            )
        except NotFound as error:
            raise Http404("没有这个旅程") from error
    config = {
        "api": "/api/v1/scrm",
        "journey": journey,
        "triggers": [{"value": value, "label": label} for value, label in JourneyTrigger.choices],
        "step_types": [{"value": value, "label": label} for value, label in STEP_TYPES.items()],
        "conditions": [{"value": value, "label": label} for value, label in CONDITIONS.items()],
        "templates": [
            {"id": template.pk, "name": template.name}
            for template in selectors.coupon_templates_for_steps()
        ],
        "max_steps": MAX_STEPS,
        "max_message_chars": MAX_MESSAGE_CHARS,
    }
    return render(request, "scrm/journey_editor.html", {"journey": journey, "config": config})


@require_GET
@ensure_csrf_cookie
@journey_access
def journey_new(request: HttpRequest) -> HttpResponse:
    return _editor(request, None)


@require_GET
@ensure_csrf_cookie
@journey_access
def journey_edit(request: HttpRequest, journey_id: int) -> HttpResponse:
    return _editor(request, journey_id)
