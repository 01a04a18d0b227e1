"""Console pages of traceability (SPEC FD-3) under /console/food/trace/: lots and their
traceability state, origins, a lot's draft (records, media tour), publication with its
versions, and the pack's QR code (PNG / SVG). Forms post to the same services tests call."""

from __future__ import annotations

import datetime as dt
import io
import re
from typing import Any

import segno
from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_GET, require_http_methods, require_POST

from freshloop.catalog.models import Batch
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.food import trace as services
from freshloop.food import trace_selectors as selectors
from freshloop.food.models import (
    TraceMedia,
    TraceMediaKind,
    TraceOrigin,
    TraceRecord,
    TraceRecordKind,
)
from freshloop.food.trace_roles import TRACE_ROLES
from freshloop.food.trace_tokens import lot_trace_url

trace_access = console_access(*TRACE_ROLES)
BASE = "/console/food/trace"


def _field_errors(error: DomainError) -> dict[str, str]:
    found: dict[str, str] = {}
    if isinstance(error.detail, list):
        for item in error.detail:
            if isinstance(item, dict) and "field" in item:
                found.setdefault(str(item["field"]), str(item.get("message", "")))
    return found


def _batch(batch_id: int) -> Batch:
    batch = Batch.objects.select_related("sku__product").filter(pk=batch_id).first()
    if batch is None:
        raise Http404("批次不存在")
    return batch


def _date(value: str) -> dt.date | None:
    try:
        return dt.date.fromisoformat(value.strip()[:10])
    except ValueError:
        return None


# --- lots and origins ---------------------------------------------------------------------------


@require_GET
@trace_access
def lot_list(request: HttpRequest) -> HttpResponse:
    query = str(request.GET.get("q", ""))[:64]
    return render(
        request,
        "food/trace/console_lots.html",
        {
            "rows": selectors.trace_lot_rows(query=query),
            "query": query,
            "origins": selectors.trace_origins(),
        },
    )


def _origin_form(request: HttpRequest) -> dict[str, Any]:
    return {
        key: str(request.POST.get(key, ""))
        for key in ("name", "address", "latitude", "longitude", "description")
    }


@require_http_methods(["GET", "POST"])
@trace_access
def origin_new(request: HttpRequest) -> HttpResponse:
    form: dict[str, Any] = {}
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = _origin_form(request)
        try:
            origin = services.trace_origin_create(**form, actor=Actor.for_user(request.user))
        except DomainError as error:
            errors, status = _field_errors(error) or {"name": error.text}, error.status
        else:
            messages.success(request, f"已添加产地「{origin.name}」")
            return HttpResponseRedirect(f"{BASE}/")
    return render(
        request,
        "food/trace/console_origin.html",
        {"form": form, "errors": errors, "origin": None},
        status=status,
    )


@require_http_methods(["GET", "POST"])
@trace_access
def origin_edit(request: HttpRequest, origin_id: int) -> HttpResponse:
    origin = TraceOrigin.objects.filter(pk=origin_id).first()
    if origin is None:
        raise Http404("产地不存在")
    form: dict[str, Any] = {
        "name": origin.name,
        "address": origin.address,
        "latitude": origin.latitude,
        "longitude": origin.longitude,
        "description": origin.description,
    }
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        form = _origin_form(request)
        try:
            services.trace_origin_update(origin=origin, **form, actor=Actor.for_user(request.user))
        except DomainError as error:
            errors, status = _field_errors(error) or {"name": error.text}, error.status
        else:
            messages.success(request, f"已保存产地「{origin.name}」，使用它的批次需重新发布")
            return HttpResponseRedirect(f"{BASE}/")
    return render(
        request,
        "food/trace/console_origin.html",
        {"form": form, "errors": errors, "origin": origin},
        status=status,
    )


# --- one lot ------------------------------------------------------------------------------------


def _lot_page(
    request: HttpRequest,
    batch: Batch,
    *,
    status: int = 200,
    record_form: dict[str, Any] | None = None,
    record_errors: dict[str, str] | None = None,
    media_errors: dict[str, str] | None = None,
) -> HttpResponse:
    profile = selectors.trace_profile_of(batch_id=batch.pk)
    return render(
        request,
        "food/trace/console_lot.html",
        {
            "batch": batch,
            "profile": profile,
            "records": list(profile.records.all()) if profile else [],
            "media": list(profile.media.all()) if profile else [],
            "versions": list(profile.versions.all()) if profile else [],
            "origins": selectors.trace_origins(),
            "record_kinds": TraceRecordKind.choices,
            "media_kinds": TraceMediaKind.choices,
            "record_form": record_form or {},
            "record_errors": record_errors or {},
            "media_errors": media_errors or {},
            "public_url": lot_trace_url(batch.pk),
        },
        status=status,
    )


@require_GET
@trace_access
def lot_detail(request: HttpRequest, batch_id: int) -> HttpResponse:
    return _lot_page(request, _batch(batch_id))


@require_POST
@trace_access
def lot_origin(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch(batch_id)
    raw = str(request.POST.get("origin_id", "")).strip()
    origin = TraceOrigin.objects.filter(pk=int(raw)).first() if raw.isdigit() else None
    if raw and origin is None:
        messages.error(request, "产地不存在")
        return _lot_page(request, batch, status=422)
    services.trace_origin_assign(batch=batch, origin=origin, actor=Actor.for_user(request.user))
    messages.success(request, "已设置产地（发布后对顾客可见）")
    return HttpResponseRedirect(f"{BASE}/lots/{batch.pk}/")


def _record_form(request: HttpRequest) -> dict[str, Any]:
    return {
        key: str(request.POST.get(key, ""))
        for key in ("kind", "occurred_on", "title", "inspector", "result")
    }


@require_POST
@trace_access
def record_add(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch(batch_id)
    form = _record_form(request)
    try:
        services.trace_record_add(
            batch=batch,
            kind=form["kind"],
            occurred_on=_date(form["occurred_on"]),
            title=form["title"],
            inspector=form["inspector"],
            result=form["result"],
            photo=request.FILES.get("photo"),
            document=request.FILES.get("document"),
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        errors = _field_errors(error) or {"files": error.text}
        return _lot_page(
            request, batch, status=error.status, record_form=form, record_errors=errors
        )
    messages.success(request, f"已添加记录「{form['title'].strip()}」（发布后对顾客可见）")
    return HttpResponseRedirect(f"{BASE}/lots/{batch.pk}/")


def _record(batch: Batch, record_id: int) -> TraceRecord:
    record = TraceRecord.objects.filter(pk=record_id, profile__batch=batch).first()
    if record is None:
        raise Http404("记录不存在")
    return record


@require_POST
@trace_access
def record_update(request: HttpRequest, batch_id: int, record_id: int) -> HttpResponse:
    batch = _batch(batch_id)
    record = _record(batch, record_id)
    form = _record_form(request)
    try:
        services.trace_record_update(
            record=record,
            kind=form["kind"],
            occurred_on=_date(form["occurred_on"]),
            title=form["title"],
            inspector=form["inspector"],
            result=form["result"],
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        messages.error(request, f"修改失败：{error.text}")
        return _lot_page(request, batch, status=error.status)
    messages.success(request, "记录已修改（发布后对顾客可见）")
    return HttpResponseRedirect(f"{BASE}/lots/{batch.pk}/")


@require_POST
@trace_access
def record_delete(request: HttpRequest, batch_id: int, record_id: int) -> HttpResponse:
    batch = _batch(batch_id)
    services.trace_record_delete(
        record=_record(batch, record_id), actor=Actor.for_user(request.user)
    )
    messages.success(request, "记录已删除（发布后对顾客生效）")
    return HttpResponseRedirect(f"{BASE}/lots/{batch.pk}/")


@require_POST
@trace_access
def media_add(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch(batch_id)
    upload = request.FILES.get("file")
    if upload is None:
        return _lot_page(request, batch, status=422, media_errors={"file": "请选择要上传的文件"})
    try:
        services.trace_media_add(
            batch=batch,
            kind=str(request.POST.get("kind", "")),
            file=upload,
            caption=str(request.POST.get("caption", "")),
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        errors = _field_errors(error) or {"file": error.text}
        return _lot_page(request, batch, status=error.status, media_errors=errors)
    messages.success(request, "影像已上传（发布后对顾客可见）")
    return HttpResponseRedirect(f"{BASE}/lots/{batch.pk}/")


@require_POST
@trace_access
def media_delete(request: HttpRequest, batch_id: int, media_id: int) -> HttpResponse:
    batch = _batch(batch_id)
    media = TraceMedia.objects.filter(pk=media_id, profile__batch=batch).first()
    if media is None:
        raise Http404("影像不存在")
    services.trace_media_delete(media=media, actor=Actor.for_user(request.user))
    messages.success(request, "影像已删除（发布后对顾客生效）")
    return HttpResponseRedirect(f"{BASE}/lots/{batch.pk}/")


@require_POST
@trace_access
def lot_publish(request: HttpRequest, batch_id: int) -> HttpResponse:
    batch = _batch(batch_id)
    try:
        version = services.trace_publish(
            batch=batch,
            note=str(request.POST.get("note", "")),
            actor=Actor.for_user(request.user),
        )
    except DomainError as error:
        messages.error(request, f"发布失败：{error.text}")
        return _lot_page(request, batch, status=error.status)
    messages.success(request, f"已发布第 {version.number} 版")
    return HttpResponseRedirect(f"{BASE}/lots/{batch.pk}/")


@require_GET
@trace_access
def lot_qr(request: HttpRequest, batch_id: int, fmt: str) -> HttpResponse:
    """The pack's QR code: the full public address of the lot's signed token. Error level Q
    survives a smudged or creased pack; the quiet zone is the standard four modules."""
    batch = _batch(batch_id)
    code = segno.make(lot_trace_url(batch.pk), error="q")
    out = io.BytesIO()
    if fmt == "svg":
        code.save(out, kind="svg", scale=10, border=4, title=f"溯源码 {batch.batch_no}")
        content_type = "image/svg+xml"
    elif fmt == "png":
        code.save(out, kind="png", scale=12, border=4)
        content_type = "image/png"
    else:
        raise Http404("只支持 PNG 或 SVG")
    response = HttpResponse(out.getvalue(), content_type=content_type)
    filename = (
        re.sub(r"[^A-Za-z0-9_-]", "_", f"trace-{batch.sku.code}-{batch.batch_no}") + f".{fmt}"
    )
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response
