"""SCRM console pages, mounted at /console/scrm/: the journey (SOP) list and editor, the
WeCom sandbox's simulated phones and the staff task list (跟进任务).

The journey editor draws the steps in the browser (Alpine.js) and talks to the JSON API
(`/api/v1/scrm/…`, `scrm.api`) to save, publish, start / pause and test-run; its menus —
triggers, step types, conditions, coupon templates — come from the same whitelists
`steps_check` enforces, so the editor cannot offer what the server refuses. The phone pages
exist only while the WeCom sandbox is in use (no real corp configured).
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.csrf import ensure_csrf_cookie
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError, NotFound
from freshloop.core.permissions import Role
from freshloop.datahub.segments.selectors import segment_list
from freshloop.messaging.wecom import sandbox_staff
from freshloop.scrm import sandbox_phone, selectors
from freshloop.scrm.api import journey_out
from freshloop.scrm.journeys import CONDITIONS, MAX_MESSAGE_CHARS, MAX_STEPS, STEP_TYPES
from freshloop.scrm.models import JourneyStatus, JourneyTrigger
from freshloop.scrm.roles import JOURNEY_ROLES
from freshloop.scrm.selectors import staff_tasks_open
from freshloop.scrm.services import staff_task_done
from freshloop.scrm.triggers import DEFAULT_DAYS, MAX_DAYS, PLACEHOLDERS, trigger_config_text

SCRM_ROLES = (Role.COMMUNITY_MANAGER, Role.CUSTOMER_SERVICE, Role.ADMIN)
REFRESH_SECONDS = 3

# Journeys: community managers and marketers. The phones and tasks: community managers and
# customer service, who show and check the loop.
journey_access = console_access(*JOURNEY_ROLES)
scrm_access = console_access(*SCRM_ROLES)


@require_GET
@journey_access
def journey_list(request: HttpRequest) -> HttpResponse:
    counts = selectors.journey_counts()
    journeys = selectors.journey_list()
    numbers = [counts.get(journey.pk, selectors.NO_COUNTS) for journey in journeys]
    rows = [
        {"journey": journey, "counts": number, "trigger_text": trigger_config_text(journey)}
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
        # 进入人群 names a data hub segment; 优惠券即将过期 / 生日 take days (0..MAX_DAYS).
        "segments": [
            {"id": segment.pk, "name": segment.name, "member_count": segment.member_count}
            for segment in segment_list()
        ],
        "trigger_days": {str(trigger): days for trigger, days in DEFAULT_DAYS.items()},
        "max_days": MAX_DAYS,
        "placeholders": {
            str(trigger): [{"name": name, "label": label} for name, label in names.items()]
            for trigger, names in PLACEHOLDERS.items()
        },
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


def _sandbox_only() -> None:
    if not sandbox_phone.sandbox_in_use():
        raise Http404("企业微信已连接真实企业，没有模拟手机")


@require_http_methods(["GET", "POST"])
@scrm_access
def sandbox_customers(request: HttpRequest) -> HttpResponse:
    """The sandbox corp's customers, and the form that simulates a new one adding a staff
    member (POST)."""
    _sandbox_only()
    form = {"name": "", "staff_userid": "", "phone": ""}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = {key: str(request.POST.get(key, ""))[:64] for key in form}
        try:
            external_userid, person = sandbox_phone.sandbox_customer_add(
                name=form["name"],
                staff_userid=form["staff_userid"],
                phone=form["phone"],
                actor=Actor.for_user(request.user),
            )
        except DomainError as error:
            errors = {
                problem["field"]: problem["message"]
                for problem in (error.detail if isinstance(error.detail, list) else [])
            }
            messages.error(request, error.text)
            status = 422
        else:
            joined = f"，已并入 OneID {person.one_id}" if person is not None else ""
            messages.success(
                request, f"{form['name'].strip()} 已添加 {form['staff_userid']}{joined}"
            )
            return redirect("scrm-sandbox-phone", external_userid=external_userid)
    return render(
        request,
        "scrm/sandbox_customers.html",
        {
            "customers": sandbox_phone.sandbox_customers(),
            "staff": sandbox_staff(),
            "form": form,
            "errors": errors,
        },
        status=status,
    )


@require_GET
@scrm_access
def sandbox_phone_page(request: HttpRequest, external_userid: str) -> HttpResponse:
    """One customer's simulated phone. `?part=messages` returns only the message list, which
    the page polls so a demo can watch a message arrive."""
    _sandbox_only()
    customer = sandbox_phone.sandbox_customer(external_userid=external_userid[:64])
    if customer is None:
        raise Http404("沙箱企业里没有这个客户")
    context = {
        "customer": customer,
        "messages_list": sandbox_phone.phone_messages(external_userid=customer.external_userid),
        "coupons": sandbox_phone.journey_coupons(customer=customer),
        "refresh_seconds": REFRESH_SECONDS,
    }
    if request.GET.get("part") == "messages":
        return render(request, "scrm/sandbox_messages.html", context)
    return render(request, "scrm/sandbox_phone.html", context)


@require_GET
@scrm_access
def task_list(request: HttpRequest) -> HttpResponse:
    return render(
        request, "scrm/tasks.html", {"tasks": list(staff_tasks_open()), "now": clock.now()}
    )


@require_POST
@scrm_access
def task_done(request: HttpRequest, task_id: int) -> HttpResponse:
    try:
        task = staff_task_done(task_id=task_id, actor=Actor.for_user(request.user))
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, f"已完成：{task.title}")
    return redirect("scrm-tasks")


# --- Contacts, tags and staff transfer (/console/scrm/contacts/) ------------------------------

from freshloop.messaging.errors import WecomError  # noqa: E402
from freshloop.messaging.wecom import wecom_client  # noqa: E402
from freshloop.scrm import tasks as scrm_tasks  # noqa: E402
from freshloop.scrm.models import ContactStatus, TransferKind, TransferStatus  # noqa: E402
from freshloop.scrm.services import (  # noqa: E402
    computed_tag_push_set,
    contacts_transfer,
    transfers_poll,
)
from freshloop.scrm.tag_push import COLUMN_LABELS, PUSHABLE  # noqa: E402

# Transfers change who serves a customer: community managers and admins.
transfer_access = console_access(Role.COMMUNITY_MANAGER, Role.ADMIN)


def _takers() -> list[str]:
    try:
        return sorted(wecom_client().follow_user_list())
    except WecomError:
        return []


@require_GET
@transfer_access
def contacts_page(request: HttpRequest) -> HttpResponse:
    staff = str(request.GET.get("staff", ""))[:64]
    status = str(request.GET.get("status", ""))
    status = status if status in ContactStatus.values else ""
    return render(
        request,
        "scrm/contacts.html",
        {
            "rows": selectors.contacts_list(staff=staff, status=status),
            "staff": selectors.contact_staff(),
            "takers": _takers(),
            "statuses": ContactStatus.choices,
            "kinds": TransferKind.choices,
            "filter": {"staff": staff, "status": status},
            "transfers": selectors.transfers_recent(limit=20),
            "transfer_counts": {
                TransferStatus(status).label: count
                for status, count in selectors.transfer_counts().items()
            },
            "tags": selectors.wecom_tags_list(),
            "pushes": selectors.computed_tag_pushes(),
            "push_options": [
                (column, COLUMN_LABELS[column], values) for column, values in PUSHABLE.items()
            ],
        },
    )


@require_POST
@transfer_access
def contacts_transfer_form(request: HttpRequest) -> HttpResponse:
    """The 离职继承 / 在职继承 form: a leaver, one or several takers (round-robin)."""
    try:
        outcome = contacts_transfer(
            handover_userid=str(request.POST.get("handover_userid", ""))[:64],
            takeover_userids=[str(userid)[:64] for userid in request.POST.getlist("takeover")][:50],
            kind=str(request.POST.get("kind", TransferKind.RESIGNED)),
            transfer_success_msg=str(request.POST.get("transfer_success_msg", ""))[:1000],
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        problems = error.detail if isinstance(error.detail, list) else []
        messages.error(request, "；".join([error.text, *(p["message"] for p in problems)]))
    else:
        messages.success(
            request,
            f"已提交企业微信：{outcome.waiting} 位客户等待接替"
            + (f"，{outcome.rejected} 位未受理" if outcome.rejected else "")
            + (f"，{outcome.skipped} 位已在继承中" if outcome.skipped else "")
            + f"；{outcome.tasks_moved} 个待办任务已转给接替员工",
        )
    return redirect("scrm-contacts")


@require_POST
@transfer_access
def contacts_transfer_poll(request: HttpRequest) -> HttpResponse:
    try:
        ended = transfers_poll()
    except WecomError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, f"已查询企业微信：{ended} 个继承有了结果")
    return redirect("scrm-contacts")


@require_POST
@transfer_access
def tags_sync_now(request: HttpRequest) -> HttpResponse:
    scrm_tasks.tags_sync()
    messages.success(request, "已开始同步企业微信标签（标签库与全部客户的标签）")
    return redirect("scrm-contacts")


@require_POST
@transfer_access
def computed_push_form(request: HttpRequest) -> HttpResponse:
    column, _, value = str(request.POST.get("tag", "")).partition("=")
    enabled = request.POST.get("enabled", "1") == "1"
    try:
        push = computed_tag_push_set(
            column=column[:32],
            value=value[:32],
            enabled=enabled,
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        messages.error(request, error.text)
    else:
        scrm_tasks.tags_push()
        messages.success(
            request,
            f"{push.value}：" + ("开始推送到企业微信" if enabled else "已停止推送并摘掉标签"),
        )
    return redirect("scrm-contacts")
