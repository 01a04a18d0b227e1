"""Pages of the keyword assistant, check-in and draws.

Console (/console/community/…): the rules and their editor, the prepared and recent replies,
the group draws, and the chat-sidebar page a group owner opens inside WeCom (聊天工具栏) to send
prepared replies with one tap. H5 (/m/checkin): a buyer's daily check-in with the streak
calendar. The console forms post to these views, which call the same services as the API.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods
from pydantic import ValidationError

from freshloop.community import selectors, services
from freshloop.community.api import reply_out
from freshloop.community.checkin import checkin_rules
from freshloop.community.models import AssistantRule, ReplyKind, RuleMatch
from freshloop.community.roles import COMMUNITY_ROLES, SIDEBAR_ROLES
from freshloop.community.schemas import GroupDrawIn, RuleIn
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.identity.auth import consumer_from_request
from freshloop.identity.errors import TokenInvalid

assistant_access = console_access(*COMMUNITY_ROLES)
sidebar_access = console_access(*SIDEBAR_ROLES)


def _problems(error: ValidationError) -> list[str]:
    return [
        f"{'.'.join(str(part) for part in problem['loc'])}: {problem['msg']}"
        for problem in error.errors(include_url=False, include_input=False)
    ]


def _int_or_none(value: str) -> int | None:
    value = value.strip()
    return int(value) if value.isdigit() else None


def _rule_form(post: Any) -> dict[str, Any]:
    cooldown = post.get("cooldown_seconds", "").strip()
    return {
        "name": post.get("name", ""),
        "match": post.get("match", ""),
        "pattern": post.get("pattern", ""),
        "chat_ids": [line.strip() for line in post.get("chat_ids", "").split() if line.strip()],
        "reply_kind": post.get("reply_kind", ""),
        "reply_text": post.get("reply_text", ""),
        "redeem_code": post.get("redeem_code", ""),
        "product_id": _int_or_none(post.get("product_id", "")),
        "cooldown_seconds": int(cooldown) if cooldown.isdigit() else -1,
        "enabled": post.get("enabled") == "on",
    }


@require_http_methods(["GET", "POST"])
@assistant_access
def assistant_rules(request: HttpRequest, rule_id: int | None = None) -> HttpResponse:
    """The rules, and the editor of one (a new one without `rule_id`)."""
    editing: AssistantRule | None = None
    if rule_id is not None:
        try:
            editing = selectors.rule_get(rule_id=rule_id)
        except DomainError as error:
            raise Http404(error.text) from error
    errors: list[str] = []
    form: dict[str, Any] = {}
    status = 200
    if request.method == "POST":
        form = _rule_form(request.POST)
        try:
            body = RuleIn.model_validate(form)
            actor = Actor.for_user(request.user)
            rule = (
                services.rule_create(body=body, actor=actor)
                if rule_id is None
                else services.rule_update(rule_id=rule_id, body=body, actor=actor)
            )
        except ValidationError as error:
            errors, status = _problems(error), 422
        except DomainError as error:
            detail = error.detail if isinstance(error.detail, list) else []
            errors = [str(item.get("message", "")) for item in detail] or [error.text]
            status = error.status
        else:
            messages.success(request, f"已保存规则「{rule.name}」")
            return redirect("community-assistant")
    elif editing is not None:
        form = {
            "name": editing.name,
            "match": editing.match,
            "pattern": editing.pattern,
            "chat_ids": editing.chat_ids,
            "reply_kind": editing.reply_kind,
            "reply_text": editing.reply_text,
            "redeem_code": editing.redeem_code,
            "product_id": editing.product_id,
            "cooldown_seconds": editing.cooldown_seconds,
            "enabled": editing.enabled,
        }
    else:
        form = {"match": "contains", "reply_kind": "text", "cooldown_seconds": 300, "enabled": True}
    return render(
        request,
        "community/assistant.html",
        {
            "rules": selectors.rule_list(),
            "editing": editing,
            "form": form,
            "errors": errors,
            "matches": RuleMatch.choices,
            "kinds": ReplyKind.choices,
            "replies": selectors.replies_recent(limit=50),
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@assistant_access
def draws(request: HttpRequest) -> HttpResponse:
    errors: list[str] = []
    status = 200
    form: dict[str, Any] = {"pool": "both", "window_hours": 24, "winners_count": 1}
    if request.method == "POST":
        post = request.POST
        form = {
            "chat_id": post.get("chat_id", ""),
            "title": post.get("title", ""),
            "prize": post.get("prize", ""),
            "pool": post.get("pool", ""),
            "window_hours": _int_or_none(post.get("window_hours", "")) or 0,
            "winners_count": _int_or_none(post.get("winners_count", "")) or 0,
        }
        try:
            draw = services.group_draw_run(
                body=GroupDrawIn.model_validate(form), actor=Actor.for_user(request.user)
            )
        except ValidationError as error:
            errors, status = _problems(error), 422
        except DomainError as error:
            errors, status = [error.text], error.status
        else:
            messages.success(request, f"「{draw.title}」已开奖，公告已生成")
            return redirect("community-draws")
    rows = [
        {
            "draw": draw,
            "names": selectors.winner_names(winners=[int(pid) for pid in draw.winners]),
            "verified": selectors.group_draw_verify(draw=draw),
        }
        for draw in selectors.draw_list()
    ]
    return render(
        request,
        "community/draws.html",
        {"rows": rows, "form": form, "errors": errors},
        status=status,
    )


@require_GET
@ensure_csrf_cookie
@sidebar_access
def sidebar(request: HttpRequest) -> HttpResponse:
    """The chat-sidebar page (聊天工具栏): inside WeCom it asks the JS-SDK for the current
    group (`getCurExternalChat`) and sends with `sendChatMessage`; in a plain browser it lets
    the operator pick the group, copy a reply, or — with the sandbox — simulate the send."""
    chat_id = request.GET.get("chat_id", "")[:64]
    replies = [
        reply_out(r).model_dump(mode="json") for r in selectors.replies_pending(chat_id=chat_id)
    ]
    return render(
        request,
        "community/sidebar.html",
        {
            "chat_id": chat_id,
            "chats": selectors.chats_with_pending_replies(),
            "replies": replies,
            "config": {"chat_id": chat_id, "sandbox": not settings.FRESHLOOP.wecom.configured},
        },
    )


@require_GET
@ensure_csrf_cookie
def h5_checkin(request: HttpRequest) -> HttpResponse:
    """The buyer's check-in page: today's button, the streak and a 4-week calendar."""
    try:
        record = consumer_from_request(request)
    except TokenInvalid:
        record = None
    if record is None:
        return HttpResponseRedirect("/m/login?next=/m/checkin")
    person = record.person
    rules = checkin_rules()
    calendar = selectors.checkin_calendar(person_id=person.pk)
    return render(
        request,
        "community/h5_checkin.html",
        {
            "calendar": calendar,
            "streak": selectors.checkin_current_streak(person_id=person.pk),
            "checked_today": bool(calendar and calendar[-1]["checked"]),
            "rules": rules,
            "chat_id": request.GET.get("chat_id", "")[:64],
            "tab": "me",
        },
    )
