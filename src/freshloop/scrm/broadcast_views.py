"""Console pages of mass messages (企业群发) and moments (客户朋友圈), under
/console/scrm/broadcasts/: the list with each message's results and the moments form, the
composer (Alpine.js; it saves through the JSON API and asks it for the live preview count),
and a message's results page with its funnel.

The same operators as journeys (community managers, marketers, admins)."""

from __future__ import annotations

from typing import Any

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods

from freshloop.catalog.selectors import product_list_for_channel
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError, NotFound
from freshloop.scrm import selectors, services
from freshloop.scrm.broadcast_api import broadcast_out
from freshloop.scrm.broadcasts import MAX_TEXT_BYTES, SHOP_CHANNEL, tracking_url
from freshloop.scrm.models import BroadcastKind, MomentKind
from freshloop.scrm.moments import moment_staff_options, moment_tag_options
from freshloop.scrm.roles import JOURNEY_ROLES

broadcast_access = console_access(*JOURNEY_ROLES)
MAX_PRODUCTS = 200


def _totals(rows: list[dict[str, Any]]) -> dict[str, int]:
    results = [row["results"] for row in rows if row["results"] is not None]
    return {
        "sent": len(results),
        "confirmed": sum(r.confirmed for r in results),
        "clicks": sum(r.clicks for r in results),
        "orders": sum(r.orders for r in results),
        "gmv_fen": sum(r.gmv_fen for r in results),
    }


def _moment_form(request: HttpRequest) -> tuple[dict[str, Any], dict[str, str], int]:
    """The 发朋友圈 form: POSTed, it creates the moment and hands it to WeCom."""
    form: dict[str, Any] = {
        "text": "",
        "kind": MomentKind.TEXT.value,
        "image_url": "",
        "link_title": "",
        "link_url": "",
        "senders": [],
        "tags": [],
    }
    if request.method != "POST":
        return form, {}, 200
    form = {
        key: str(request.POST.get(key, ""))[:5000] for key in form if key not in ("senders", "tags")
    }
    form["senders"] = [value[:64] for value in request.POST.getlist("senders")[:100]]
    form["tags"] = [value[:64] for value in request.POST.getlist("tags")[:100]]
    actor = Actor.for_user(request.user)
    try:
        moment = services.moment_create(
            draft=services.MomentDraft(
                text=form["text"],
                kind=form["kind"],
                image_url=form["image_url"],
                link_title=form["link_title"],
                link_url=form["link_url"],
                sender_userids=tuple(form["senders"]),
                visible_tag_ids=tuple(form["tags"]),
            ),
            actor=actor,
        )
        services.moment_publish(moment=moment, actor=actor)
    except DomainError as error:
        errors = {
            problem["field"]: problem["message"]
            for problem in (error.detail if isinstance(error.detail, list) else [])
        }
        messages.error(request, error.text)
        return form, errors, 422
    messages.success(request, "朋友圈已提交企业微信，员工在企业微信中确认后发表")
    return {}, {}, 302


@require_http_methods(["GET", "POST"])
@broadcast_access
def broadcast_list(request: HttpRequest) -> HttpResponse:
    form, errors, status = _moment_form(request)
    if status == 302:
        return redirect("scrm-broadcasts")
    rows = [
        {"broadcast": broadcast, "results": results}
        for broadcast, results in selectors.broadcasts_with_results()
    ]
    return render(
        request,
        "scrm/broadcasts.html",
        {
            "rows": rows,
            "totals": _totals(rows),
            "moments": selectors.moment_list(),
            "form": form,
            "errors": errors,
            "moment_kinds": MomentKind.choices,
            "staff": moment_staff_options(),
            "tags": moment_tag_options(),
        },
        status=status,
    )


def _composer(request: HttpRequest, broadcast: dict[str, Any] | None) -> HttpResponse:
    config = {
        "api": "/api/v1/scrm",
        "broadcast": broadcast,
        "kinds": [{"value": value, "label": label} for value, label in BroadcastKind.choices],
        "audiences": [
            {"id": segment.pk, "name": segment.name, "members": segment.member_count}
            for segment in selectors.audiences()
        ],
        "products": [
            {"id": product.pk, "name": product.name}
            for product in product_list_for_channel(channel=SHOP_CHANNEL).order_by("-pk")[
                :MAX_PRODUCTS
            ]
        ],
        "max_text_bytes": MAX_TEXT_BYTES,
    }
    return render(
        request, "scrm/broadcast_compose.html", {"broadcast": broadcast, "config": config}
    )


@require_GET
@ensure_csrf_cookie
@broadcast_access
def broadcast_new(request: HttpRequest) -> HttpResponse:
    return _composer(request, None)


def _broadcast(broadcast_id: int) -> dict[str, Any]:
    try:
        return broadcast_out(selectors.broadcast_get(broadcast_id=broadcast_id)).model_dump(
            mode="json"
        )
    except NotFound as error:
        raise Http404("没有这条群发") from error


@require_GET
@ensure_csrf_cookie
@broadcast_access
def broadcast_edit(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    broadcast = _broadcast(broadcast_id)
    if broadcast["status"] not in ("draft", "scheduled"):
        return redirect("scrm-broadcast", broadcast_id=broadcast_id)
    return _composer(request, broadcast)


@require_GET
@ensure_csrf_cookie
@broadcast_access
def broadcast_detail(request: HttpRequest, broadcast_id: int) -> HttpResponse:
    out = _broadcast(broadcast_id)
    broadcast = selectors.broadcast_get(broadcast_id=broadcast_id)
    return render(
        request,
        "scrm/broadcast_detail.html",
        {
            "broadcast": broadcast,
            "out": out,
            "results": out["results"],
            "link": tracking_url(broadcast) if broadcast.product_id else "",
        },
    )
