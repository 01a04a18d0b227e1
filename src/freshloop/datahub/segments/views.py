"""The segment pages (DH-4), mounted at /console/data/segments/.

The list shows saved segments beside the distribution of the main computed tags (so an
operator sees who is there before slicing); the builder page edits one segment's rule tree
in the browser and talks to the JSON API (`/api/v1/segments/…`, `segments.api`) for
the live count, saving, materialising and coupon issue. Everything the builder offers —
fields, operators, event names, known values — comes from `builder_schema`, the same
whitelists the validator enforces, so the menus can never offer a rule the server refuses.
"""

from __future__ import annotations

from typing import Any

from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import render
from django.views.decorators.http import require_GET

from freshloop.core.errors import DomainError
from freshloop.datahub.access import ANALYST_ROLES, console_access
from freshloop.datahub.models import Segment
from freshloop.datahub.segments import selectors
from freshloop.datahub.tags.selectors import tag_distribution
from freshloop.promotions.models import CouponTemplate

DISTRIBUTIONS = (
    ("lifecycle", "生命周期"),
    ("rfm_segment", "RFM 分群"),
    ("live_engagement", "直播活跃度"),
)


def _distributions() -> list[dict[str, Any]]:
    charts = []
    for column, title in DISTRIBUTIONS:
        try:
            counts = tag_distribution(column=column)
        except DomainError:  # the event store is busy: the list still works without charts
            counts = {}
        charts.append({"column": column, "title": title, "counts": counts})
    return charts


def _issuable_templates() -> list[dict[str, Any]]:
    return [
        {"id": template.pk, "name": template.name, "code": template.code}
        for template in CouponTemplate.objects.filter(is_active=True, live_only=False).order_by(
            "name", "pk"
        )
    ]


@require_GET
@console_access(*ANALYST_ROLES)
def segment_list(request: HttpRequest) -> HttpResponse:
    segments = selectors.segment_list()
    return render(
        request,
        "datahub/segments.html",
        {
            "segments": segments,
            "config": {"distributions": _distributions()},
            "tab": "segments",
        },
    )


def _builder(request: HttpRequest, segment: Segment | None) -> HttpResponse:
    config = {
        "schema": selectors.builder_schema(),
        "api": "/api/v1/segments",
        "segment": None
        if segment is None
        else {
            "id": segment.pk,
            "name": segment.name,
            "description": segment.description,
            "definition": segment.definition,
            "member_count": segment.member_count,
            "materialised_at": segment.materialised_at.isoformat()
            if segment.materialised_at
            else None,
        },
        "templates": _issuable_templates(),
    }
    return render(
        request,
        "datahub/segment_builder.html",
        {"segment": segment, "config": config, "tab": "segments"},
    )


@require_GET
@console_access(*ANALYST_ROLES)
def segment_new(request: HttpRequest) -> HttpResponse:
    return _builder(request, None)


@require_GET
@console_access(*ANALYST_ROLES)
def segment_edit(request: HttpRequest, segment_id: int) -> HttpResponse:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise Http404("没有这个人群")
    return _builder(request, segment)
