"""The money pages of the group-buying console: presales with their deposits, balances,
forfeits and refunds (cancel), and commission settlement runs (create, approve by a second
operator, statements with CSV / PDF, mark paid). Through the same services as the API."""

from __future__ import annotations

import datetime as dt
from decimal import InvalidOperation
from typing import Any

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.core.money import yuan_to_fen
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
from freshloop.groupbuy.console_views import (
    PAGE,
    _local_input,
    _page,
    _parse_count,
    _parse_local,
    _sku_choices,
    back,
    field_errors,
    groupbuy_access,
    refused,
)
from freshloop.groupbuy.presale.models import PresaleStatus
from freshloop.groupbuy.presale.selectors import presales_list
from freshloop.groupbuy.presale.services import PresaleTerms, presale_cancel, presale_create

# --- presales -----------------------------------------------------------------------------------


def _presale_form_defaults() -> dict[str, str]:
    """A week of deposits from now, two days' gap, three days of balance, delivery after."""
    now = clock.now()
    deposit_ends = now + dt.timedelta(days=7)
    balance_starts = deposit_ends + dt.timedelta(days=2)
    balance_ends = balance_starts + dt.timedelta(days=3)
    delivery_from = clock.to_shanghai(balance_ends).date() + dt.timedelta(days=1)
    return {
        "name": "",
        "sku_id": "",
        "quantity": "100",
        "price": "",
        "deposit": "10.00",
        "deposit_worth": "30.00",
        "per_person_limit": "1",
        "deposit_starts_at": _local_input(now),
        "deposit_ends_at": _local_input(deposit_ends),
        "balance_starts_at": _local_input(balance_starts),
        "balance_ends_at": _local_input(balance_ends),
        "delivery_from": delivery_from.isoformat(),
        "delivery_to": (delivery_from + dt.timedelta(days=3)).isoformat(),
        "deposit_refundable": "",
    }


def _parse_yuan(raw: str, field: str, title: str, problems: list[tuple[str, str]]) -> int:
    try:
        return yuan_to_fen(raw.strip())
    except (ValueError, InvalidOperation):
        problems.append((field, f"{title}请填写金额（元），如 99.00"))
        return 0


def _parse_day(raw: str, field: str, problems: list[tuple[str, str]]) -> dt.date | None:
    try:
        return dt.date.fromisoformat(raw.strip())
    except ValueError:
        problems.append((field, "请填写日期"))
        return None


def _presale_from_form(
    request: HttpRequest,
) -> tuple[dict[str, str], PresaleTerms | None, list[tuple[str, str]]]:
    """The form's text back for the page, and the terms when every field parsed; the
    service checks the money rules and windows (and answers with the fields it refuses)."""
    form = {key: str(request.POST.get(key, ""))[:200] for key in _presale_form_defaults()}
    form["deposit_refundable"] = "on" if request.POST.get("deposit_refundable") == "on" else ""
    problems: list[tuple[str, str]] = []
    values: dict[str, Any] = {
        "name": form["name"],
        "sku_id": _parse_count(form["sku_id"], "sku_id", "商品规格", problems),
        "quantity": _parse_count(form["quantity"], "quantity", "预售数量", problems),
        "price_fen": _parse_yuan(form["price"], "price_fen", "预售价", problems),
        "deposit_fen": _parse_yuan(form["deposit"], "deposit_fen", "定金", problems),
        "deposit_worth_fen": _parse_yuan(
            form["deposit_worth"], "deposit_worth_fen", "定金抵扣", problems
        ),
        "per_person_limit": _parse_count(
            form["per_person_limit"], "per_person_limit", "每人限购", problems
        ),
        "deposit_refundable": form["deposit_refundable"] == "on",
    }
    for field in ("deposit_starts_at", "deposit_ends_at", "balance_starts_at", "balance_ends_at"):
        values[field] = _parse_local(form[field], field, problems)
    for field in ("delivery_from", "delivery_to"):
        values[field] = _parse_day(form[field], field, problems)
    if problems:
        return form, None, problems
    return form, PresaleTerms(**values), []


# Form inputs named in yuan where the service's fields are in fen.
_INPUT_OF_FIELD = {
    "price_fen": "price",
    "deposit_fen": "deposit",
    "deposit_worth_fen": "deposit_worth",
}


@require_http_methods(["GET", "POST"])
@groupbuy_access
def presale_list(request: HttpRequest) -> HttpResponse:
    form = _presale_form_defaults()
    errors: dict[str, str] = {}
    status_code = 200
    if request.method == "POST":
        form, terms, problems = _presale_from_form(request)
        if terms is None:
            errors = {field: text for field, text in reversed(problems)}
            status_code = 422
        else:
            try:
                presale = presale_create(terms=terms, actor=Actor.for_user(request.user))
            except DomainError as error:
                errors = field_errors(error)
                if not errors:
                    refused(request, error)
                status_code = error.status
            else:
                messages.success(
                    request, f"已创建预售：{presale.name}（{presale.presale_no}），库存已预留"
                )
                return HttpResponseRedirect("/console/groupbuy/presales/")
        errors = {_INPUT_OF_FIELD.get(field, field): text for field, text in errors.items()}
        if errors:
            messages.error(request, "预售未创建，请按提示修改")
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
            "form": form,
            "errors": errors,
            "skus": _sku_choices(),
        },
        status=status_code,
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
