"""The public page of a lot (/trace/<token>), opened by the QR code on the pack: no login, the
newest published version only. A token that is not ours, or whose signature does not match
(guessed, altered, another lot's), gets a Chinese page with 400 / 404 — never a 500, and the
same answer whether or not the id exists, so the page cannot be used to probe lots."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from freshloop.food.trace_selectors import trace_public_page
from freshloop.food.trace_tokens import TokenForged, TokenMalformed, lot_token_read

PAGE_CACHE_SECONDS = 60
"""Phones and proxies may keep the page a minute: a new version shows within that."""


def _refused(request: HttpRequest, *, status: int, title: str, hint: str) -> HttpResponse:
    response = render(
        request,
        "food/trace/refused.html",
        {"title": title, "hint": hint},
        status=status,
    )
    response["Cache-Control"] = "no-store"
    return response


@require_GET
def trace_page(request: HttpRequest, token: str) -> HttpResponse:
    try:
        batch_id = lot_token_read(token)
    except TokenMalformed:
        return _refused(
            request,
            status=400,
            title="无法识别的溯源码",
            hint="这不是鲜环的溯源二维码，请扫描商品包装上的溯源码。",
        )
    except TokenForged:
        return _refused(
            request,
            status=404,
            title="溯源码无效",
            hint="溯源码校验未通过，可能被篡改或不是正品包装。如有疑问，请联系客服。",
        )
    page = trace_public_page(batch_id=batch_id)
    if page is None:
        return _refused(
            request,
            status=404,
            title="暂无溯源信息",
            hint="该批次的溯源信息尚未发布，请稍后再试。",
        )
    response = render(request, "food/trace/public.html", {"page": page})
    response["Cache-Control"] = f"public, max-age={PAGE_CACHE_SECONDS}"
    return response
