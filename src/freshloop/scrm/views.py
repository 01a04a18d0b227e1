"""SCRM console pages, mounted at /console/scrm/: the WeCom sandbox's simulated phones and
the staff task list (跟进任务).

The phone pages exist only while the WeCom sandbox is in use (no real corp configured); they
are for community managers and customer service, who show and check the loop, and admins."""

from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from django.contrib import messages
from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role, user_has_role
from freshloop.messaging.wecom import sandbox_staff
from freshloop.scrm import sandbox_phone
from freshloop.scrm.selectors import staff_tasks_open
from freshloop.scrm.services import staff_task_done

SCRM_ROLES = (Role.COMMUNITY_MANAGER, Role.CUSTOMER_SERVICE, Role.ADMIN)
REFRESH_SECONDS = 3

View = Callable[..., HttpResponse]


def scrm_access(view: View) -> View:
    """Logged-in operators of SCRM_ROLES (or superusers); others get the console's 403 page,
    anonymous visitors the login page."""

    @wraps(view)
    @login_required(login_url="/console/login/")
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if not (request.user.is_superuser or user_has_role(request.user, *SCRM_ROLES)):
            return render(request, "web/console/forbidden.html", status=403)
        return view(request, *args, **kwargs)

    return wrapper


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
