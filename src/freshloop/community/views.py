"""Console pages of community operations (/console/community/) and the public 活码 page.

Plain forms posting to these views, which call the same services as the JSON API
(`community.api`); a refusal is shown as a message above the form, with the status the API
would answer (422 / 404). Charts are drawn by ECharts from the numbers the page embeds.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from zoneinfo import ZoneInfo

from django.conf import settings
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from freshloop.community import sandbox, selectors, services
from freshloop.community.errors import CommunityInvalid
from freshloop.community.health import group_health, health_for, overall_health
from freshloop.community.models import GroupStatus, TopicRepeat
from freshloop.community.presenters import (
    challenge_out,
    health_out,
    join_code_out,
    qr_svg,
    topic_out,
    welcome_templates_out,
)
from freshloop.community.roles import COMMUNITY_ROLES
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError, NotFound
from freshloop.messaging.wecom import SandboxWecomClient
from freshloop.promotions.models import CouponTemplate

SHANGHAI = ZoneInfo("Asia/Shanghai")
community_access = console_access(*COMMUNITY_ROLES)


def _chart(health_days: list[dict[str, object]]) -> dict[str, object]:
    return {"days": health_days}


def _refused(request: HttpRequest, error: DomainError) -> int:
    messages.error(request, error.text)
    return error.status


def _field(request: HttpRequest, name: str, limit: int = 1000) -> str:
    return str(request.POST.get(name, ""))[:limit]


def _int(request: HttpRequest, name: str) -> int:
    try:
        return int(_field(request, name, 20) or 0)
    except ValueError as error:
        raise CommunityInvalid.for_fields([(name, "应为整数")]) from error


def _local_time(request: HttpRequest, name: str) -> dt.datetime:
    raw = _field(request, name, 40)
    try:
        return dt.datetime.fromisoformat(raw).replace(tzinfo=SHANGHAI)
    except ValueError as error:
        raise CommunityInvalid.for_fields([(name, "请选择日期和时间")]) from error


def _handle(request: HttpRequest, action: Callable[[], str], success: str) -> HttpResponse | int:
    try:
        message = action()
    except DomainError as error:
        return _refused(request, error)
    messages.success(request, message)
    return redirect(success)


# --- groups and health ----------------------------------------------------------------------


@require_GET
@community_access
def group_list(request: HttpRequest) -> HttpResponse:
    groups = list(selectors.group_list())
    rows = [
        {"group": group, "health": health_for(groups=[group], days=7)}
        for group in groups
        if group.status == GroupStatus.ACTIVE
    ]
    health = health_out(overall_health()).model_dump(mode="json")
    return render(
        request,
        "community/groups.html",
        {
            "rows": rows,
            "dismissed": [group for group in groups if group.status != GroupStatus.ACTIVE],
            "health": health,
            "chart": _chart(health["days"]),
        },
    )


@require_POST
@community_access
def group_sync(request: HttpRequest) -> HttpResponse:
    corp_id = settings.FRESHLOOP.wecom.corp_id or SandboxWecomClient.corp_id
    try:
        result = services.groups_sync_full(corp_id=corp_id)
    except DomainError as error:
        messages.error(request, f"同步失败：{error.text}")
    else:
        messages.success(request, f"已同步 {result.groups} 个群，{result.dismissed} 个记为已解散")
    return redirect("community-groups")


@require_http_methods(["GET", "POST"])
@community_access
def group_detail(request: HttpRequest, chat_id: str) -> HttpResponse:
    try:
        group = selectors.group_get(chat_id=chat_id[:128])
    except NotFound as error:
        raise Http404("没有这个客户群") from error
    status = 200
    if request.method == "POST":

        def choose() -> str:
            template_id = _int(request, "template_id")
            template = (
                selectors.welcome_template_get(template_id=template_id) if template_id else None
            )
            services.group_welcome_set(group=group, template=template)
            return f"已设置入群欢迎语：{template.name}" if template else "已取消入群欢迎语"

        outcome = _handle(request, choose, request.path)
        if not isinstance(outcome, int):
            return outcome
        status = outcome
    health = health_out(group_health(group=group)).model_dump(mode="json")
    return render(
        request,
        "community/group_detail.html",
        {
            "group": group,
            "members": list(selectors.group_members(group=group).select_related("person")),
            "health": health,
            "chart": _chart(health["days"]),
            "templates": list(selectors.welcome_template_list()),
            "topics": [topic_out(topic) for topic in selectors.topic_list(group=group)[:20]],
            "challenges": [
                challenge_out(challenge)
                for challenge in selectors.challenge_list().filter(group=group)[:20]
            ],
        },
        status=status,
    )


# --- 群活码 -----------------------------------------------------------------------------------


def _group_specs(request: HttpRequest) -> list[services.JoinCodeGroupSpec]:
    chat_ids = request.POST.getlist("chat_id")[:100]
    contents = request.POST.getlist("qr_content")[:100]
    thresholds = request.POST.getlist("threshold")[:100]
    specs = []
    for index, chat_id in enumerate(chat_ids):
        if not chat_id:
            continue
        try:
            threshold = int(thresholds[index] if index < len(thresholds) else 200)
        except ValueError:
            threshold = 0
        content = contents[index] if index < len(contents) else ""
        specs.append(
            services.JoinCodeGroupSpec(
                chat_id=chat_id[:128], qr_content=content[:600], threshold=threshold
            )
        )
    return specs


@require_http_methods(["GET", "POST"])
@community_access
def join_code_list(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":
        created: list[int] = []

        def create() -> str:
            template_id = _int(request, "welcome_template_id")
            code = services.join_code_create(
                name=_field(request, "name", 100),
                groups=_group_specs(request),
                welcome_template=(
                    selectors.welcome_template_get(template_id=template_id) if template_id else None
                ),
                actor=Actor.for_user(request.user),
            )
            created.append(code.pk)
            return f"已创建群活码：{code.name}"

        outcome = _handle(request, create, "community-join-codes")
        if not isinstance(outcome, int):
            return redirect("community-join-code", join_code_id=created[0])
        status = outcome
    return render(
        request,
        "community/join_codes.html",
        {
            "codes": [join_code_out(code, request) for code in selectors.join_code_list()],
            "groups": [group for group in selectors.group_list() if group.status == "active"],
            "templates": list(selectors.welcome_template_list()),
            "form": request.POST if request.method == "POST" else {},
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@community_access
def join_code_detail(request: HttpRequest, join_code_id: int) -> HttpResponse:
    try:
        code = selectors.join_code_get(join_code_id=join_code_id)
    except NotFound as error:
        raise Http404("没有这个群活码") from error
    status = 200
    if request.method == "POST":

        def append() -> str:
            if request.POST.get("action") == "sandbox_scan":
                if not sandbox.sandbox_in_use():
                    raise CommunityInvalid("已连接真实企业微信，不能模拟扫码")
                joined = sandbox.sandbox_scan_join(join_code=code, name="扫码客户")
                if joined is None:
                    raise CommunityInvalid("所有群都已满，请先追加一个群")
                return f"模拟客户已扫码加入：{joined.group.name}"
            specs = _group_specs(request)
            if not specs:
                raise CommunityInvalid.for_fields([("chat_id", "请选择要追加的群")])
            entry = services.join_code_group_append(join_code=code, group=specs[0])
            return f"已追加：{entry.group.name}"

        outcome = _handle(request, append, request.path)
        if not isinstance(outcome, int):
            return outcome
        status = outcome
    return render(
        request,
        "community/join_code.html",
        {
            "code": join_code_out(code, request),
            "groups": [group for group in selectors.group_list() if group.status == "active"],
            "sandbox": sandbox.sandbox_in_use(),
        },
        status=status,
    )


@require_GET
def join_page(request: HttpRequest, code: str) -> HttpResponse:
    """The public 活码 page a poster's QR opens: the QR of the group to join now."""
    try:
        join_code, entry = services.join_code_scan(code=code)
    except NotFound as error:
        raise Http404("活码不存在") from error
    context = {
        "join_code": join_code,
        "group": entry.group if entry is not None else None,
        "qr": qr_svg(entry.qr_content) if entry is not None else "",
    }
    return render(request, "community/join_page.html", context)


# --- welcome templates, topics, challenges -------------------------------------------------


@require_http_methods(["GET", "POST"])
@community_access
def welcome_list(request: HttpRequest) -> HttpResponse:
    status = 200
    fields = ("name", "text", "image_url", "link_title", "link_url")
    if request.method == "POST":

        def create() -> str:
            spec = services.WelcomeSpec(**{name: _field(request, name) for name in fields})
            template = services.welcome_template_create(
                spec=spec, actor=Actor.for_user(request.user)
            )
            return f"已创建并登记到企业微信：{template.name}"

        outcome = _handle(request, create, "community-welcome")
        if not isinstance(outcome, int):
            return outcome
        status = outcome
    return render(
        request,
        "community/welcome.html",
        {
            "templates": welcome_templates_out(list(selectors.welcome_template_list())),
            "form": request.POST if request.method == "POST" else {},
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@community_access
def topic_list(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":

        def create() -> str:
            group = selectors.group_get(chat_id=_field(request, "chat_id", 128))
            topic = services.topic_create(
                group=group,
                text=_field(request, "text", 2000),
                repeat=_field(request, "repeat", 8),
                first_at=_local_time(request, "first_at"),
                actor=Actor.for_user(request.user),
            )
            return f"已安排话题：{topic.group.name}"

        outcome = _handle(request, create, "community-topics")
        if not isinstance(outcome, int):
            return outcome
        status = outcome
    return render(
        request,
        "community/topics.html",
        {
            "topics": [topic_out(topic) for topic in selectors.topic_list()[:100]],
            "groups": [group for group in selectors.group_list() if group.status == "active"],
            "repeats": TopicRepeat.choices,
            "form": request.POST if request.method == "POST" else {},
        },
        status=status,
    )


@require_http_methods(["GET", "POST"])
@community_access
def challenge_list(request: HttpRequest) -> HttpResponse:
    status = 200
    if request.method == "POST":

        def create() -> str:
            group = selectors.group_get(chat_id=_field(request, "chat_id", 128))
            template = CouponTemplate.objects.filter(pk=_int(request, "coupon_template_id")).first()
            if template is None:
                raise CommunityInvalid.for_fields([("coupon_template_id", "请选择奖励优惠券")])
            yuan = _field(request, "target_yuan", 20)
            try:
                target_fen = round(float(yuan) * 100)
            except ValueError as error:
                raise CommunityInvalid.for_fields([("target_fen", "请填写目标金额")]) from error
            challenge = services.challenge_create(
                group=group,
                name=_field(request, "name", 100),
                target_fen=target_fen,
                starts_at=_local_time(request, "starts_at"),
                ends_at=_local_time(request, "ends_at"),
                coupon_template=template,
                actor=Actor.for_user(request.user),
            )
            return f"已创建挑战：{challenge.name}"

        outcome = _handle(request, create, "community-challenges")
        if not isinstance(outcome, int):
            return outcome
        status = outcome
    return render(
        request,
        "community/challenges.html",
        {
            "challenges": [challenge_out(item) for item in selectors.challenge_list()[:100]],
            "groups": [group for group in selectors.group_list() if group.status == "active"],
            "coupons": list(CouponTemplate.objects.filter(is_active=True).order_by("-id")[:100]),
            "form": request.POST if request.method == "POST" else {},
        },
        status=status,
    )
