"""Console pages of the live-heat demand forecast (DH-8), mounted under /console/intelligence/.

`forecasts/` is the calendar of the next 14 days' sessions with their forecast demand and open
stock alerts, and how the model has done on past sessions against the naive rule;
`forecasts/<code>` one session's forecast per SKU × warehouse with the alerts' suggested
transfers and purchases, and once the session has ended its forecast against what it sold.
`forecasts/refresh` (POST) re-forecasts every coming session at once: a refresh takes seconds,
not minutes, so the operator waits for it instead of watching a job.
"""

from __future__ import annotations

from django.contrib import messages
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.urls import URLPattern, path
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_GET, require_POST

from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.intelligence.access import FORECAST_ROLES, console_access
from freshloop.intelligence.errors import ForecastSessionNotFound
from freshloop.intelligence.forecasting import selectors
from freshloop.intelligence.forecasting.services import (
    HORIZON_DAYS,
    BacktestSummary,
    forecast_backtest_report,
    session_forecasts_refresh,
)

FORECASTS = "/console/intelligence/forecasts/"


def _percent(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


@require_GET
@console_access(*FORECAST_ROLES)
def forecasts_page(request: HttpRequest) -> HttpResponse:
    calendar = selectors.forecast_calendar()
    backtest: BacktestSummary | None = None
    backtest_error = ""
    try:
        backtest = forecast_backtest_report()
    except DomainError as error:
        # The calendar and its alerts matter more than the back-test: a busy event store
        # costs the back-test panel, not the page.
        backtest_error = error.text
    sessions = [item for entry in calendar for item in entry.sessions]
    return render(
        request,
        "intelligence/forecast_calendar.html",
        {
            "tab": "forecasts",
            "calendar": calendar,
            "calendar_days": selectors.CALENDAR_DAYS,
            "horizon_days": HORIZON_DAYS,
            "backtest": backtest,
            "backtest_error": backtest_error,
            "totals": {
                "sessions": len(sessions),
                "forecast": sum(1 for item in sessions if item.has_forecast),
                "alerts": sum(item.open_alerts for item in sessions),
                "shortage": sum(item.shortage_units for item in sessions),
            },
            "metrics": [
                ("模型 MAPE", _percent(backtest.mape_model)),
                ("朴素 MAPE", _percent(backtest.mape_naive)),
                ("模型 WAPE", _percent(backtest.wape_model)),
                ("朴素 WAPE", _percent(backtest.wape_naive)),
            ]
            if backtest
            else [],
            "charts": {
                "calendar": selectors.forecast_calendar_chart(calendar),
                "backtest": selectors.backtest_chart(backtest) if backtest else None,
            },
        },
    )


@require_GET
@console_access(*FORECAST_ROLES)
def forecast_session_page(request: HttpRequest, code: str) -> HttpResponse:
    try:
        detail = selectors.session_forecast_get(code=code)
    except ForecastSessionNotFound as error:
        raise Http404(error.text) from error
    versus = selectors.session_forecast_vs_actual(detail)
    return render(
        request,
        "intelligence/forecast_session.html",
        {
            "tab": "forecasts",
            "detail": detail,
            "versus": versus,
            "chart": versus.chart() if versus else None,
            "versus_metrics": [
                ("MAPE", _percent(versus.mape)),
                ("WAPE", _percent(versus.wape)),
            ]
            if versus
            else [],
            "horizon_days": HORIZON_DAYS,
        },
    )


@require_POST
@console_access(*FORECAST_ROLES)
def forecasts_refresh_request(request: HttpRequest) -> HttpResponse:
    back = request.POST.get("next", "")
    # Only back to a forecast page of this console: never an address a form was given.
    if not (
        back.startswith(FORECASTS)
        and url_has_allowed_host_and_scheme(back, allowed_hosts={request.get_host()})
    ):
        back = FORECASTS
    try:
        report = session_forecasts_refresh(actor=Actor.for_user(request.user))
    except DomainError as error:
        messages.error(request, f"重新预测失败：{error.text}")
        return HttpResponseRedirect(back)
    messages.success(request, f"已重新预测：{report.summary}")
    return HttpResponseRedirect(back)


urlpatterns: list[URLPattern] = [
    path("forecasts/", forecasts_page, name="intelligence-forecasts"),
    path("forecasts/refresh", forecasts_refresh_request, name="intelligence-forecasts-refresh"),
    path("forecasts/<str:code>", forecast_session_page, name="intelligence-forecast"),
]
