"""The operations dashboard pages (DH-6), mounted at /console/data/.

`/console/data/` renders the page once (filters, empty chart frames); the page's script asks
`/console/data/charts/<name>` for each chart's data as JSON (`?format=csv` downloads the same
figures as CSV). Bad filters come back as a 4xx JSON error with a machine code and a Chinese
message, shown in place of the chart.
"""

from __future__ import annotations

from typing import Any

from django.http import HttpRequest, HttpResponse, JsonResponse
from django.shortcuts import render
from django.views.decorators.cache import never_cache
from django.views.decorators.http import require_GET

from freshloop.core.errors import DomainError
from freshloop.core.http import domain_error_response, error_response
from freshloop.datahub.access import ANALYST_ROLES, console_access
from freshloop.datahub.dashboards.schemas import (
    CHANNELS,
    CHARTS,
    MAX_PERIOD_DAYS,
    DashboardFilter,
    dashboard_filter_parse,
    shanghai_today,
)
from freshloop.datahub.dashboards.selectors import (
    chart_csv,
    chart_data,
    chart_get,
    live_session_choices,
)

# The page's order of charts and which take the whole width (wide charts read left to right
# over time or hold wide tables).
DASHBOARD_LAYOUT: tuple[tuple[str, bool], ...] = (
    ("funnel", False),
    ("cac", False),
    ("gmv", True),
    ("repurchase", False),
    ("channels", False),
    ("retention", True),
    ("products", True),
    ("live-sessions", True),
)


def _initial_filter(request: HttpRequest) -> tuple[DashboardFilter, str]:
    """The filter in the address, or the default one with the reason it was not usable."""
    try:
        return dashboard_filter_parse(request.GET), ""
    except DomainError as error:
        return dashboard_filter_parse({}), error.text


def _sessions() -> list[dict[str, str]]:
    try:
        return live_session_choices()
    except DomainError:
        # The store is busy (another process holds it): the menu can do without the list.
        return []


@never_cache
@require_GET
@console_access(*ANALYST_ROLES)
def dashboard_page(request: HttpRequest) -> HttpResponse:
    initial, filter_error = _initial_filter(request)
    config: dict[str, Any] = {
        "today": shanghai_today().isoformat(),
        "max_days": MAX_PERIOD_DAYS,
        "filter": initial.as_dict(),
        "filter_error": filter_error,
        "charts_url": "/console/data/charts/",
        "charts": {name: chart.title for name, chart in CHARTS.items()},
        "channels": [{"value": value, "label": label} for value, label in CHANNELS.items()],
        "live_sessions": _sessions(),
    }
    return render(
        request,
        "datahub/dashboard.html",
        {
            "config": config,
            "filter": initial,
            "layout": [(CHARTS[name], wide) for name, wide in DASHBOARD_LAYOUT],
            "tab": "dashboard",
        },
    )


@never_cache
@require_GET
@console_access(*ANALYST_ROLES)
def dashboard_chart(request: HttpRequest, name: str) -> HttpResponse:
    output = request.GET.get("format", "json")
    if output not in ("json", "csv"):
        return error_response(
            400,
            "dashboard_format_unknown",
            "不支持的格式，可选 json 或 csv",
            {"format": output[:16]},
        )
    try:
        chart = chart_get(name)
        dashboard_filter = dashboard_filter_parse(request.GET)
        if output == "csv":
            body = chart_csv(name, dashboard_filter)
        else:
            data = chart_data(name, dashboard_filter)
    except DomainError as error:
        return domain_error_response(error)
    if output == "csv":
        response = HttpResponse(body.encode("utf-8"), content_type="text/csv; charset=utf-8")
        filename = f"freshloop-{name}-{dashboard_filter.start}_{dashboard_filter.end}.csv"
        response["Content-Disposition"] = f'attachment; filename="{filename}"'
        return response
    return JsonResponse(
        {
            "chart": name,
            "title": chart.title,
            "filter": dashboard_filter.as_dict(),
            "data": data,
        },
        json_dumps_params={"ensure_ascii": False},
    )
