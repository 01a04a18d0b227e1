"""The money pages of the group-buying console: presales with their deposits, balances,
forfeits and refunds (cancel), and commission settlement runs (create, approve by a second
operator, statements with CSV / PDF, mark paid). Through the same services as the API."""

from __future__ import annotations

import datetime as dt

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_POST

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.groupbuy import console_figures
from freshloop.groupbuy.commission.models import SettlementStatus
from freshloop.groupbuy.commission.selectors import (
    run_statements,
    settlement_run_get,
    settlement_runs_list,
)
from freshloop.groupbuy.commission.services import (
    settlement_run_approve,
    settlement_run_cancel,
    settlement_run_create,
    statement_mark_paid,
)
from freshloop.groupbuy.console_views import PAGE, _page, back, groupbuy_access, refused
from freshloop.groupbuy.presale.models import PresaleStatus
from freshloop.groupbuy.presale.selectors import presales_list
from freshloop.groupbuy.presale.services import presale_cancel

# --- presales -----------------------------------------------------------------------------------


@require_GET
@groupbuy_access
def presale_list(request: HttpRequest) -> HttpResponse:
    status = str(request.GET.get("status", ""))[:16]
    if status not in PresaleStatus.values:
        status = ""
    page = _page(request)
    total, presales = presales_list(status=status or None, limit=PAGE, offset=(page - 1) * PAGE)
    figures = console_figures.presale_figures(presale_ids=[presale.pk for presale in presales])
    now = clock.now()
    return render(
        request,
        "groupbuy/console/presales.html",
        {
            "rows": [
                {
                    "presale": presale,
                    "figures": figures[presale.pk],
                    # The service refuses later; hiding the button spares a useless click.
                    "cancellable": presale.status
                    in (PresaleStatus.DRAFT, PresaleStatus.DEPOSIT_OPEN)
                    and now < presale.balance_starts_at,
                }
                for presale in presales
            ],
            "total": total,
            "page": page,
            "has_next": page * PAGE < total,
            "status": status,
            "statuses": PresaleStatus.choices,
        },
    )


@require_POST
@groupbuy_access
def presale_cancel_view(request: HttpRequest, presale_no: str) -> HttpResponse:
    try:
        presale = presale_cancel(
            presale_no=presale_no[:40],
            reason=str(request.POST.get("reason", ""))[:400],
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        refused(request, error)
    else:
        messages.success(request, f"已取消预售：{presale.name}（已付定金将按规则退回）")
    return back(request, "/console/groupbuy/presales/")


# --- commission settlement runs -----------------------------------------------------------------


@require_GET
@groupbuy_access
def run_list(request: HttpRequest) -> HttpResponse:
    page = _page(request)
    total, runs = settlement_runs_list(limit=PAGE, offset=(page - 1) * PAGE)
    yesterday = clock.to_shanghai(clock.now()).date() - dt.timedelta(days=1)
    return render(
        request,
        "groupbuy/console/runs.html",
        {
            "runs": runs,
            "total": total,
            "page": page,
            "has_next": page * PAGE < total,
            "default_period_end": yesterday.isoformat(),
        },
    )


@require_POST
@groupbuy_access
def run_create_view(request: HttpRequest) -> HttpResponse:
    raw = str(request.POST.get("period_end", ""))[:10]
    try:
        period_end = dt.date.fromisoformat(raw)
    except ValueError:
        messages.error(request, "请填写结算周期截止日期，如 2026-11-30")
        return HttpResponseRedirect("/console/groupbuy/runs/")
    try:
        run = settlement_run_create(actor=Actor.for_user(request.user), period_end=period_end)
    except DomainError as error:
        refused(request, error)
        return HttpResponseRedirect("/console/groupbuy/runs/")
    messages.success(
        request, f"已创建结算批次 {run.run_no}：{run.statement_count} 张结算单，待另一位运营审核"
    )
    return HttpResponseRedirect(f"/console/groupbuy/runs/{run.run_no}")


@require_GET
@groupbuy_access
def run_detail(request: HttpRequest, run_no: str) -> HttpResponse:
    try:
        run = settlement_run_get(run_no=run_no[:40])
    except DomainError as error:
        return render(request, "groupbuy/console/missing.html", {"error": error}, status=404)
    return render(
        request,
        "groupbuy/console/run.html",
        {
            "run": run,
            "statements": run_statements(run=run),
            "is_draft": run.status == SettlementStatus.DRAFT,
            "created_by_me": run.created_by == Actor.for_user(request.user).label,
        },
    )


@require_POST
@groupbuy_access
def run_act(request: HttpRequest, run_no: str, action: str) -> HttpResponse:
    actor = Actor.for_user(request.user)
    try:
        if action == "approve":
            run = settlement_run_approve(actor=actor, run_no=run_no[:40])
            messages.success(request, f"已审核结算批次 {run.run_no}，结算单可以打款")
        elif action == "cancel":
            run = settlement_run_cancel(actor=actor, run_no=run_no[:40])
            messages.success(request, f"已作废结算批次 {run.run_no}")
        else:
            messages.error(request, "未知的操作")
    except DomainError as error:
        refused(request, error)
    return HttpResponseRedirect(f"/console/groupbuy/runs/{run_no[:40]}")


@require_POST
@groupbuy_access
def statement_paid_view(request: HttpRequest, statement_no: str) -> HttpResponse:
    try:
        statement = statement_mark_paid(
            actor=Actor.for_user(request.user),
            statement_no=statement_no[:40],
            payment_ref=str(request.POST.get("payment_ref", "")),
        )
    except DomainError as error:
        refused(request, error)
    else:
        messages.success(request, f"结算单 {statement.statement_no} 已标记为已打款")
    return back(request, "/console/groupbuy/runs/")
