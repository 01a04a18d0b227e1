"""The host console page (/console/live/<code>): one screen to run a session. The page itself
is rendered once; buttons call the host API, comments arrive over the room's SSE stream and the
numbers are polled from the stats API (static/live/host.js)."""

from __future__ import annotations

from typing import Any

from django.contrib.auth.decorators import login_required
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.csrf import ensure_csrf_cookie

from freshloop.core.clock import to_shanghai
from freshloop.core.errors import PermissionDenied
from freshloop.core.money import format_fen
from freshloop.core.permissions import Role, user_has_role, user_roles
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.live.host.schemas import draw_out
from freshloop.live.host.selectors import host_session_require, lucky_draws_recent, session_stats
from freshloop.live.models import FlashSale, LiveSession, LiveStatus
from freshloop.promotions.selectors import coupon_value_text


def _products(session: LiveSession) -> list[dict[str, Any]]:
    products = list(session.products.select_related("sku__product").order_by("sort_order", "pk"))
    available = stock_available_by_sku(sku_ids=[p.sku_id for p in products])
    return [
        {
            "sku_id": p.sku_id,
            "name": p.sku.product.name,
            "spec": p.sku.spec,
            "price": format_fen(p.sku.price_fen),
            "price_fen": p.sku.price_fen,
            "storage": p.sku.product.get_storage_display(),
            "available": available.get(p.sku_id, 0),
            "pinned": p.pinned_at is not None,
        }
        for p in products
    ]


def _flash_sales(session: LiveSession) -> list[dict[str, Any]]:
    sales = FlashSale.objects.filter(session=session).select_related("sku__product")[:10]
    return [
        {
            "id": sale.pk,
            "sku_id": sale.sku_id,
            "name": sale.sku.product.name,
            "price_fen": sale.price_fen,
            "price": format_fen(sale.price_fen),
            "quantity": sale.quantity,
            "claimed": sale.claimed,
            "paid": sale.paid,
            "per_user_limit": sale.per_user_limit,
            "ends_at": sale.ends_at.isoformat(),
            "status": sale.status,
            "status_label": sale.get_status_display(),
        }
        for sale in sales
    ]


@ensure_csrf_cookie
@login_required
def host_console(request: HttpRequest, code: str) -> HttpResponse:
    # The console's own gate (web.views.operator_required; live may not import web): staff or a
    # role holder — and here the host role (or admin) and this session's host.
    if not (request.user.is_staff or user_roles(request.user)):
        return render(request, "web/console/forbidden.html", status=403)
    session = LiveSession.objects.select_related("host").filter(code=code).first()
    if session is None:
        raise Http404("没有这场直播")
    if not user_has_role(request.user, Role.LIVE_HOST):
        return render(request, "web/console/forbidden.html", status=403)
    try:
        host_session_require(request.user, session)
    except PermissionDenied:
        return render(request, "web/console/forbidden.html", status=403)
    last_draw = lucky_draws_recent(session=session, limit=1).first()
    coupons = [
        {"template_id": t.pk, "name": t.name, "value": coupon_value_text(t)}
        for t in session.coupon_templates.filter(is_active=True, live_only=True).order_by("pk")
    ]
    config = {
        "code": session.code,
        "status": session.status,
        "api": f"/api/v1/live/host/{session.code}",
        "events": f"/api/v1/live/{session.code}/events",
        "products": _products(session),
        "flash_sales": _flash_sales(session),
        "last_draw": draw_out(last_draw).model_dump(mode="json") if last_draw else None,
        "stats": session_stats(session=session).as_dict(),
    }
    return render(
        request,
        "live/host_console.html",
        {
            "session": session,
            "scheduled_at": to_shanghai(session.scheduled_at),
            "status_label": LiveStatus(session.status).label,
            "products": config["products"],
            "coupons": coupons,
            "flash_sales": config["flash_sales"],
            "last_draw": config["last_draw"],
            "config": config,
        },
    )
