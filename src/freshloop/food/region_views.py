"""Console page of regional pools (FD-5) at /console/food/regions/: the rules in force and
planned, a form to add one, a delete button, and a preview of the ranking for a region (what a
customer there sees, by their address or their phone number)."""

from __future__ import annotations

import datetime as dt
from typing import Any
from zoneinfo import ZoneInfo

from django.contrib import messages
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.views.decorators.http import require_http_methods, require_POST

from freshloop.catalog.models import Category, Product
from freshloop.catalog.selectors import product_list_for_channel
from freshloop.core.audit import Actor
from freshloop.core.console import console_access
from freshloop.core.errors import DomainError
from freshloop.core.permissions import Role
from freshloop.food.errors import RegionRuleInvalid
from freshloop.food.models import RegionAction, RegionRule, RegionScope
from freshloop.food.regions import (
    NORTH,
    SOUTH,
    Region,
    RegionRuleSpec,
    products_rank_for_region,
    region_from_phone,
    region_rule_create,
    region_rule_delete,
    region_rules_in_force,
)
from freshloop.orders.services import region_names

SHANGHAI = ZoneInfo("Asia/Shanghai")
region_access = console_access(Role.MARKETER)


def _int_or_none(value: str) -> int | None:
    value = (value or "").strip()
    return int(value) if value.lstrip("-").isdigit() and len(value) <= 9 else None


def _moment(value: str) -> dt.datetime | None:
    """A `datetime-local` input (Shanghai time) as an aware instant; None when empty."""
    value = (value or "").strip()
    if not value:
        return None
    return dt.datetime.fromisoformat(value).replace(tzinfo=SHANGHAI)


def _spec(form: Any) -> RegionRuleSpec:
    weight = _int_or_none(form.get("weight", "0") or "0")
    try:
        valid_from = _moment(form.get("valid_from", ""))
        valid_until = _moment(form.get("valid_until", ""))
    except ValueError as exc:
        raise RegionRuleInvalid(
            "时间格式不正确", detail=[{"field": "valid_from", "message": "时间格式不正确"}]
        ) from exc
    return RegionRuleSpec(
        scope=form.get("scope", ""),
        region=form.get("region", ""),
        action=form.get("action", ""),
        product_id=_int_or_none(form.get("product_id", "")),
        category_id=_int_or_none(form.get("category_id", "")),
        weight=weight if weight is not None else 10**6,  # refused by validation, named
        valid_from=valid_from,
        valid_until=valid_until,
        note=form.get("note", ""),
    )


def _preview(request: HttpRequest) -> dict[str, Any] | None:
    phone = request.GET.get("phone", "").strip()[:20]
    province = request.GET.get("province", "").strip()[:32]
    city = request.GET.get("city", "").strip()[:32]
    if phone:
        region = region_from_phone(phone)
    elif province:
        region = Region(province=province, city=city, source="address")
    else:
        return None
    rules = region_rules_in_force(region=region)
    products = list(product_list_for_channel(channel="shop"))
    ranked = products_rank_for_region(products, rules=rules)
    return {
        "region": region,
        "ranked": ranked[:20],
        "hidden": [p for p in products if p not in ranked],
        "rules": rules,
    }


@require_http_methods(["GET", "POST"])
@region_access
def regions(request: HttpRequest) -> HttpResponse:
    errors: dict[str, str] = {}
    status = 200
    if request.method == "POST":
        try:
            region_rule_create(actor=Actor.for_user(request.user), spec=_spec(request.POST))
        except DomainError as error:
            messages.error(request, error.text)
            if isinstance(error.detail, list):
                errors = {str(d.get("field")): str(d.get("message")) for d in error.detail}
            status = error.status
        else:
            messages.success(request, "规则已保存，店铺商品列表即时生效")
            return HttpResponseRedirect("/console/food/regions/")
    context = {
        "rules": RegionRule.objects.select_related("product", "category"),
        "scopes": RegionScope.choices,
        "actions": RegionAction.choices,
        "zones": (SOUTH, NORTH),
        "provinces": region_names(),
        "products": Product.objects.filter(is_active=True).order_by("name"),
        "categories": Category.objects.order_by("sort_order", "id"),
        "form": request.POST if request.method == "POST" else {},
        "errors": errors,
        "preview": _preview(request),
    }
    return render(request, "food/regions.html", context, status=status)


@require_POST
@region_access
def region_delete(request: HttpRequest, rule_id: int) -> HttpResponse:
    try:
        region_rule_delete(actor=Actor.for_user(request.user), rule_id=rule_id)
    except DomainError as error:
        messages.error(request, error.text)
    else:
        messages.success(request, "规则已删除")
    return HttpResponseRedirect("/console/food/regions/")
