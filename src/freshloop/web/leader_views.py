"""The group leader's own console `/leader/` (GB-1): mobile H5 pages composed from the
leader-scoped selectors of `groupbuy` and `groupbuy.commission`.

Isolation: every page finds the leader for the signed-in person (`leader_for_person`, active
leaderships only) and passes that leader to the selectors; a statement number or a course
from the URL is only ever looked up within that leader's rows, so another leader's number
answers like an unknown one. A visitor who is not signed in goes to the login page; a
signed-in person without an active leadership gets a 403 page saying so (and how to apply)."""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from functools import wraps
from typing import Any

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from freshloop.content.selectors import content_items_list
from freshloop.core import clock
from freshloop.core.errors import DomainError
from freshloop.groupbuy.commission import selectors as commission
from freshloop.groupbuy.commission.models import LedgerKind, PickupStatus
from freshloop.groupbuy.commission.services import statement_csv, statement_pdf
from freshloop.groupbuy.models import GroupLeader, LeaderStatus
from freshloop.groupbuy.selectors import leader_customers, leader_for_person, leadership_of
from freshloop.groupbuy.services import customer_attach
from freshloop.groupbuy.training import selectors as training
from freshloop.groupbuy.training.services import lesson_complete, quiz_submit
from freshloop.identity.models import Person
from freshloop.web.leader_pickup import qr_data_uri
from freshloop.web.leader_poster import PosterFontMissing, PosterText, leader_poster_png
from freshloop.web.shop_views import _not_found, _person, consumer_page

LeaderPage = Callable[..., HttpResponse]
CUSTOMERS_PER_PAGE = 20
DASHBOARD_DAYS = 30
MATERIALS_SHOWN = 30


def _today() -> dt.date:
    return clock.to_shanghai(clock.now()).date()


def not_a_leader(request: HttpRequest, person: Person) -> HttpResponse:
    """The 403 page for a signed-in person without an active leadership: what their
    application's state is, and where to apply."""
    return render(
        request,
        "web/h5/leader/not_leader.html",
        {"leadership": leadership_of(person=person), "statuses": LeaderStatus},
        status=403,
    )


def leader_page(view: LeaderPage) -> LeaderPage:
    """Signed-in active leaders only; the view receives the leader found for the person."""

    @consumer_page
    @wraps(view)
    def wrapper(request: HttpRequest, person: Person, *args: Any, **kwargs: Any) -> HttpResponse:
        leader = leader_for_person(person=person)
        if leader is None:
            return not_a_leader(request, person)
        return view(request, leader, *args, **kwargs)

    return wrapper


def _picked_up_today(leader: GroupLeader) -> list[commission.LeaderOrderRow]:
    """The leader's orders handed out today (Shanghai), newest first (the last 100 pickups)."""
    _, rows = commission.leader_orders(
        leader=leader, pickup_status=PickupStatus.PICKED_UP, limit=100
    )
    today = _today()
    return [
        row
        for row in rows
        if row.picked_up_at is not None and clock.to_shanghai(row.picked_up_at).date() == today
    ]


@leader_page
def leader_home(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    today = _today()
    sales = commission.leader_sales_summary(leader=leader, since=today, until=today)
    return render(
        request,
        "web/h5/leader/home.html",
        {
            "leader": leader,
            "to_hand_out": len(commission.leader_orders_to_hand_out(leader=leader, day=today)),
            "picked_up": len(_picked_up_today(leader)),
            "today": sales[0],
            "balances": commission.leader_commission_balances(leader=leader),
        },
    )


@leader_page
def leader_orders(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    today = _today()
    return render(
        request,
        "web/h5/leader/orders.html",
        {
            "leader": leader,
            "awaiting": commission.leader_orders_to_hand_out(leader=leader, day=today),
            "picked_up": _picked_up_today(leader),
        },
    )


def _page_number(request: HttpRequest) -> int:
    raw = request.GET.get("page", "1")
    return max(1, min(int(raw), 10_000)) if raw.isdigit() else 1


@leader_page
def leader_customer_list(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    page = _page_number(request)
    total, rows = leader_customers(
        leader=leader, limit=CUSTOMERS_PER_PAGE, offset=(page - 1) * CUSTOMERS_PER_PAGE
    )
    return render(
        request,
        "web/h5/leader/customers.html",
        {
            "leader": leader,
            "total": total,
            "customers": rows,
            "page": page,
            "previous_page": page - 1 if page > 1 else None,
            "next_page": page + 1 if page * CUSTOMERS_PER_PAGE < total else None,
        },
    )


def commission_by_day(leader: GroupLeader, since: dt.date) -> dict[dt.date, int]:
    """Commission earned per Shanghai day since `since`: accruals less refund reversals, as
    they moved the leader's pending and settleable balances (up to the last 1,000 movements)."""
    earned: dict[dt.date, int] = defaultdict(int)
    offset = 0
    while offset < 1_000:
        _, entries = commission.leader_commission_entries(leader=leader, limit=100, offset=offset)
        for entry in entries:
            day = clock.to_shanghai(entry.occurred_at).date()
            if day >= since and entry.kind in (LedgerKind.ACCRUE, LedgerKind.REVERSE):
                earned[day] += entry.pending_fen + entry.settleable_fen
        if len(entries) < 100 or clock.to_shanghai(entries[-1].occurred_at).date() < since:
            break
        offset += 100
    return earned


@leader_page
def leader_dashboard(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    until = _today()
    since = until - dt.timedelta(days=DASHBOARD_DAYS - 1)
    sales = commission.leader_sales_summary(leader=leader, since=since, until=until)
    earned = commission_by_day(leader, since)
    chart = {
        "days": [row.day.strftime("%m-%d") for row in sales],
        "gmv_yuan": [round((row.gmv_fen - row.refunded_fen) / 100, 2) for row in sales],
        "orders": [row.orders for row in sales],
        "commission_yuan": [round(earned.get(row.day, 0) / 100, 2) for row in sales],
    }
    return render(
        request,
        "web/h5/leader/dashboard.html",
        {
            "leader": leader,
            "chart": chart,
            "total_gmv_fen": sum(row.gmv_fen - row.refunded_fen for row in sales),
            "total_orders": sum(row.orders for row in sales),
            "total_commission_fen": sum(earned.values()),
            "balances": commission.leader_commission_balances(leader=leader),
        },
    )


@leader_page
def leader_statement_list(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    total, statements = commission.leader_statements(leader=leader, limit=50)
    return render(
        request,
        "web/h5/leader/statements.html",
        {"leader": leader, "total": total, "statements": statements},
    )


def _download(body: bytes | str, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(body, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


@leader_page
def leader_statement_download(
    request: HttpRequest, leader: GroupLeader, statement_no: str, fmt: str
) -> HttpResponse:
    try:
        statement = commission.leader_statement(leader=leader, statement_no=statement_no)
    except DomainError as error:
        return _not_found(request, error)
    if fmt == "csv":
        return _download(
            statement_csv(statement=statement).encode("utf-8"),
            "text/csv; charset=utf-8",
            f"{statement.statement_no}.csv",
        )
    return _download(
        statement_pdf(statement=statement), "application/pdf", f"{statement.statement_no}.pdf"
    )


def invite_url(request: HttpRequest, leader: GroupLeader) -> str:
    return request.build_absolute_uri(f"/g/{leader.invite_code}")


@leader_page
def leader_materials(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    items = list(content_items_list()[:MATERIALS_SHOWN])
    link = invite_url(request, leader)
    return render(
        request,
        "web/h5/leader/materials.html",
        {"leader": leader, "items": items, "invite_link": link, "qr": qr_data_uri(link)},
    )


SHOP_NAME = "鲜环"


@leader_page
def leader_poster_download(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    """The leader's own poster as a PNG (there is no id in the URL: only one's own exists)."""
    text = PosterText(
        brand=SHOP_NAME,
        leader_name=leader.display_name,
        pickup_name=leader.pickup_name,
        pickup_hours=leader.pickup_hours,
        invite_code=leader.invite_code,
        invite_link=invite_url(request, leader),
    )
    try:
        png = leader_poster_png(text)
    except PosterFontMissing:
        return render(
            request,
            "web/h5/error.html",
            {"message": "服务器缺少中文字体，暂时无法生成海报，请联系运营人员"},
            status=503,
        )
    return _download(png, "image/png", f"poster-{leader.invite_code}.png")


def _leader_by_code(invite_code: str) -> GroupLeader | None:
    if not invite_code.isalnum() or len(invite_code) > 16:
        return None
    return (
        GroupLeader.objects.filter(invite_code=invite_code.upper(), status=LeaderStatus.ACTIVE)
        .only("display_name", "pickup_name", "pickup_hours", "invite_code")
        .first()
    )


@require_http_methods(["GET", "POST"])
def invite_landing(request: HttpRequest, invite_code: str) -> HttpResponse:
    """Where a leader's QR code leads (`/g/<invite_code>`): who the leader is; a signed-in
    visitor taps 绑定 to attach with source `qr`, an anonymous one logs in first and comes
    back. Attaching is a POST (CSRF-checked), so no other site can attach a signed-in visitor
    by embedding the link; an unknown or closed code is the same 404 as the API's."""
    leader = _leader_by_code(invite_code)
    person = _person(request)
    context: dict[str, Any] = {"leader": leader, "person": person, "invite_code": invite_code}
    if leader is None:
        return render(request, "web/h5/leader/invite.html", context, status=404)
    if request.method == "POST" and person is not None:
        try:
            result = customer_attach(person=person, invite_code=leader.invite_code, source="qr")
        except DomainError as error:
            context["error"] = error.text
            return render(request, "web/h5/leader/invite.html", context, status=error.status)
        context["attached"] = result
    return render(request, "web/h5/leader/invite.html", context)


# --- training (GB-1) --------------------------------------------------------------------------


@leader_page
def leader_training(request: HttpRequest, leader: GroupLeader) -> HttpResponse:
    return render(
        request,
        "web/h5/leader/training.html",
        {"leader": leader, "courses": training.courses_for_leader(leader=leader)},
    )


def _course_page(
    request: HttpRequest, leader: GroupLeader, code: str, *, error: DomainError | None = None
) -> HttpResponse:
    try:
        detail = training.course_for_leader(leader=leader, code=code)
    except DomainError as not_found:
        return _not_found(request, not_found)
    return render(
        request,
        "web/h5/leader/course.html",
        {"leader": leader, "detail": detail, "error": error.text if error else ""},
        status=error.status if error else 200,
    )


@leader_page
def leader_course(request: HttpRequest, leader: GroupLeader, code: str) -> HttpResponse:
    return _course_page(request, leader, code)


@require_POST
@leader_page
def leader_lesson_done(
    request: HttpRequest, leader: GroupLeader, code: str, lesson_id: int
) -> HttpResponse:
    try:
        lesson_complete(leader=leader, course_code=code, lesson_id=lesson_id)
    except DomainError as error:
        return _course_page(request, leader, code, error=error)
    return HttpResponseRedirect(f"/leader/training/{code}#lesson-{lesson_id}")


def _answers(request: HttpRequest, questions: int) -> list[object]:
    """The form's q1…qN as integers; what is missing or not a number stays None (a 422)."""
    picked: list[object] = []
    for number in range(1, questions + 1):
        raw = request.POST.get(f"q{number}", "")
        picked.append(int(raw) if raw.isdigit() and len(raw) < 3 else None)
    return picked


@require_POST
@leader_page
def leader_quiz_submit(request: HttpRequest, leader: GroupLeader, code: str) -> HttpResponse:
    try:
        course = training.course_for_leader(leader=leader, code=code)
        quiz_submit(
            leader=leader, course_code=code, answers=_answers(request, len(course.questions))
        )
    except DomainError as error:
        return _course_page(request, leader, code, error=error)
    return HttpResponseRedirect(f"/leader/training/{code}#quiz")


# --- applying (GB-1): the page the 403 page links to -------------------------------------------


@consumer_page
def leader_apply_page(request: HttpRequest, person: Person) -> HttpResponse:
    """The application form (sent to `POST /api/v1/groupbuy/leaders/apply`); an active
    leader goes to their console, a pending or suspended one reads their state instead."""
    leadership = leadership_of(person=person)
    if leadership is not None and leadership.status == LeaderStatus.ACTIVE:
        return HttpResponseRedirect("/leader/")
    if leadership is not None and leadership.status != LeaderStatus.REJECTED:
        return not_a_leader(request, person)
    return render(
        request,
        "web/h5/leader/apply.html",
        {"leadership": leadership, "recruiter": request.GET.get("r", "")[:16]},
    )
