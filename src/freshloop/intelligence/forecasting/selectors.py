"""Reads of the live-heat demand forecast (DH-8) for the console: the calendar of coming
sessions with their forecast totals and open stock alerts, one session's forecast per SKU ×
warehouse, and — once a session has ended — its forecast against what it sold.

"Forecast vs actual" compares the session's *live* units (what the session itself sells of a
SKU, summed over warehouses) with the units sold in its room, paid and net of refunds: the
regular daily demand in the forecast is not the session's doing, so it is not held against it.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections import defaultdict
from typing import Any

from django.db.models import Count, Sum

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.intelligence.errors import ForecastSessionNotFound
from freshloop.intelligence.forecast import SHANGHAI, mape, wape
from freshloop.intelligence.forecasting.inputs import day_start, live_units_sold
from freshloop.intelligence.forecasting.services import BacktestSummary
from freshloop.intelligence.models import (
    AlertStatus,
    SessionForecast,
    SessionForecastRun,
    StockAlertRecord,
)
from freshloop.live.models import LiveSession, LiveStatus

CALENDAR_DAYS = 14
WEEKDAYS = "一二三四五六日"
ENDED_STATUSES = (LiveStatus.ENDED, LiveStatus.REPLAY)
METHOD_LABELS = {
    "auto_ets": "ETS",
    "seasonal_mean": "同星期均值",
    "mean": "均值",
    "poisson_glm": "泊松回归",
    "ratio": "比例法",
}


def sku_names(sku_ids: set[int]) -> dict[int, str]:
    return {
        sku.pk: f"{sku.product.name} {sku.spec}"
        for sku in Sku.objects.filter(pk__in=sku_ids).select_related("product")
    }


def _host_name(session: LiveSession) -> str:
    host = session.host
    return host.get_full_name() or host.get_username()


def _latest_runs(session_ids: list[int]) -> dict[int, SessionForecastRun]:
    latest: dict[int, SessionForecastRun] = {}
    for run in SessionForecastRun.objects.filter(session_id__in=session_ids).order_by(
        "session_id", "-created_at", "-pk"
    ):
        latest.setdefault(run.session_id, run)
    return latest


# --- the calendar --------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class CalendarSession:
    code: str
    title: str
    host: str
    scheduled_at: dt.datetime
    status: str
    status_label: str
    last_run: SessionForecastRun | None  # the latest refresh of it, whatever came of it
    forecast_at: dt.datetime | None  # when the stored forecast was made
    stale: bool  # the session was rescheduled after its forecast
    skus: int
    warehouses: int
    forecast_units: float
    live_units: float
    open_alerts: int
    shortage_units: int

    @property
    def has_forecast(self) -> bool:
        return self.forecast_at is not None


@dataclasses.dataclass(frozen=True)
class CalendarDay:
    day: dt.date
    weekday: str
    sessions: list[CalendarSession]

    @property
    def open_alerts(self) -> int:
        return sum(session.open_alerts for session in self.sessions)


def forecast_calendar(
    *, now: dt.datetime | None = None, days: int = CALENDAR_DAYS
) -> list[CalendarDay]:
    """Every session from today (Asia/Shanghai) to `days` days ahead, grouped by day, with its
    stored forecast's totals, its open alerts and its latest refresh."""
    moment = now or clock.now()
    today = moment.astimezone(SHANGHAI).date()
    sessions = list(
        LiveSession.objects.select_related("host")
        .filter(
            scheduled_at__gte=day_start(today),
            scheduled_at__lt=day_start(today + dt.timedelta(days=days)),
        )
        .order_by("scheduled_at", "pk")
    )
    ids = [session.pk for session in sessions]
    totals = {
        row["session_id"]: row
        for row in SessionForecast.objects.filter(session_id__in=ids)
        .values("session_id")
        .annotate(
            forecast=Sum("forecast_units"),
            live=Sum("live_units"),
            skus=Count("sku_id", distinct=True),
            warehouses=Count("warehouse_id", distinct=True),
        )
    }
    # A session's stored lines all belong to its latest forecasting run (a new one replaces
    # them), so "the run of its lines" is one run per session.
    forecast_runs = {
        run.session_id: run
        for run in SessionForecastRun.objects.filter(lines__session_id__in=ids).distinct()
    }
    alerts = {
        row["session_id"]: row
        for row in StockAlertRecord.objects.filter(session_id__in=ids, status=AlertStatus.OPEN)
        .values("session_id")
        .annotate(count=Count("pk"), shortage=Sum("shortage_units"))
    }
    latest = _latest_runs(ids)
    by_day: dict[dt.date, list[CalendarSession]] = defaultdict(list)
    for session in sessions:
        total = totals.get(session.pk, {})
        run = forecast_runs.get(session.pk)
        alert = alerts.get(session.pk, {})
        by_day[session.scheduled_at.astimezone(SHANGHAI).date()].append(
            CalendarSession(
                code=session.code,
                title=session.title,
                host=_host_name(session),
                scheduled_at=session.scheduled_at,
                status=session.status,
                status_label=LiveStatus(session.status).label,
                last_run=latest.get(session.pk),
                forecast_at=run.created_at if run else None,
                stale=bool(run and run.session_starts_at != session.scheduled_at),
                skus=int(total.get("skus") or 0),
                warehouses=int(total.get("warehouses") or 0),
                forecast_units=float(total.get("forecast") or 0.0),
                live_units=float(total.get("live") or 0.0),
                open_alerts=int(alert.get("count") or 0),
                shortage_units=int(alert.get("shortage") or 0),
            )
        )
    return [
        CalendarDay(day=day, weekday=f"周{WEEKDAYS[day.weekday()]}", sessions=by_day[day])
        for day in sorted(by_day)
    ]


def forecast_calendar_chart(
    calendar: list[CalendarDay], *, now: dt.datetime | None = None, days: int = CALENDAR_DAYS
) -> dict[str, Any]:
    """Per day of the calendar (days without a session included): forecast units, the
    sessions' own units, open alerts — for a bar + line chart."""
    today = (now or clock.now()).astimezone(SHANGHAI).date()
    by_day = {entry.day: entry for entry in calendar}
    labels, forecast, live, alerts = [], [], [], []
    for offset in range(days):
        day = today + dt.timedelta(days=offset)
        entry = by_day.get(day)
        labels.append(f"{day.month}/{day.day} 周{WEEKDAYS[day.weekday()]}")
        forecast.append(round(sum(s.forecast_units for s in entry.sessions), 1) if entry else 0)
        live.append(round(sum(s.live_units for s in entry.sessions), 1) if entry else 0)
        alerts.append(entry.open_alerts if entry else 0)
    return {"days": labels, "forecast_units": forecast, "live_units": live, "alerts": alerts}


def backtest_chart(summary: BacktestSummary) -> dict[str, Any]:
    """Per past session: units sold, the model's forecast, the naive forecast."""

    def rounded(value: float | None) -> float | None:
        return None if value is None else round(value, 1)

    sessions = summary.per_session
    return {
        "labels": [
            f"{item.starts_at.astimezone(SHANGHAI):%m-%d} {item.title[:10]}" for item in sessions
        ],
        "actual": [rounded(item.actual) for item in sessions],
        "model": [rounded(item.model) for item in sessions],
        "naive": [rounded(item.naive) for item in sessions],
    }


# --- one session ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class ForecastLine:
    line: SessionForecast
    sku_name: str
    warehouse_name: str
    alert: StockAlertRecord | None

    @property
    def short(self) -> bool:
        return self.alert is not None

    @property
    def method_label(self) -> str:
        """How the day's regular demand + how the session's own units were forecast."""
        baseline, live = self.line.baseline_method, self.line.live_method
        return f"{METHOD_LABELS.get(baseline, baseline)} + {METHOD_LABELS.get(live, live)}"


@dataclasses.dataclass(frozen=True)
class SessionForecastDetail:
    session: LiveSession
    host: str
    status_label: str
    last_run: SessionForecastRun | None
    forecast_run: SessionForecastRun | None  # the run whose lines are stored
    runs: list[SessionForecastRun]  # the latest refreshes, newest first
    lines: list[ForecastLine]
    open_alerts: list[StockAlertRecord]
    resolved_alerts: list[StockAlertRecord]
    sku_names: dict[int, str]

    @property
    def ended(self) -> bool:
        return self.session.status in ENDED_STATUSES

    @property
    def stale(self) -> bool:
        run = self.forecast_run
        return bool(run and run.session_starts_at != self.session.scheduled_at)

    @property
    def alert_rows(self) -> list[tuple[StockAlertRecord, str]]:
        return [(alert, self._name(alert.sku_id)) for alert in self.open_alerts]

    @property
    def resolved_rows(self) -> list[tuple[StockAlertRecord, str]]:
        return [(alert, self._name(alert.sku_id)) for alert in self.resolved_alerts]

    @property
    def sku_inputs(self) -> list[dict[str, Any]]:
        """Per SKU, the session's inputs the forecast used (the same on every warehouse's
        line) and the stock available at the time over all warehouses."""
        by_sku: dict[int, dict[str, Any]] = {}
        for item in self.lines:
            inputs = item.line.inputs
            row = by_sku.setdefault(
                item.line.sku_id,
                {
                    "sku_name": item.sku_name,
                    **{
                        key: inputs.get(key)
                        for key in (
                            "reservations",
                            "page_views",
                            "shares",
                            "list_price_fen",
                            "session_price_fen",
                        )
                    },
                    "available_now": 0,
                },
            )
            row["available_now"] += int(inputs.get("available_now") or 0)
        return list(by_sku.values())

    def _name(self, sku_id: int) -> str:
        return self.sku_names.get(sku_id, str(sku_id))

    @property
    def totals(self) -> dict[str, float]:
        return {
            "forecast_units": sum(item.line.forecast_units for item in self.lines),
            "live_units": sum(item.line.live_units for item in self.lines),
            "baseline_units": sum(item.line.baseline_units for item in self.lines),
            "shortage_units": sum(alert.shortage_units for alert in self.open_alerts),
            "purchase_units": sum(alert.purchase_units for alert in self.open_alerts),
        }


def session_forecast_get(*, code: str) -> SessionForecastDetail:
    session = LiveSession.objects.select_related("host").filter(code=code).first()
    if session is None:
        raise ForecastSessionNotFound(detail={"code": code})
    lines = list(
        SessionForecast.objects.filter(session=session)
        .select_related("run", "warehouse")
        .order_by("sku_id", "warehouse_id")
    )
    alerts = list(
        StockAlertRecord.objects.filter(session=session)
        .select_related("warehouse")
        .order_by("-status", "sku_id", "warehouse_id", "-pk")
    )
    open_alerts = [alert for alert in alerts if alert.status == AlertStatus.OPEN]
    open_by_key = {(alert.sku_id, alert.warehouse_id): alert for alert in open_alerts}
    names = sku_names({line.sku_id for line in lines} | {alert.sku_id for alert in alerts})
    runs = list(
        SessionForecastRun.objects.filter(session=session).order_by("-created_at", "-pk")[:10]
    )
    return SessionForecastDetail(
        session=session,
        host=_host_name(session),
        status_label=LiveStatus(session.status).label,
        last_run=runs[0] if runs else None,
        forecast_run=lines[0].run if lines else None,
        runs=runs,
        lines=[
            ForecastLine(
                line=line,
                sku_name=names.get(line.sku_id, str(line.sku_id)),
                warehouse_name=line.warehouse.name,
                alert=open_by_key.get((line.sku_id, line.warehouse_id)),
            )
            for line in lines
        ],
        open_alerts=open_alerts,
        resolved_alerts=[alert for alert in alerts if alert.status == AlertStatus.RESOLVED][:20],
        sku_names=names,
    )


@dataclasses.dataclass(frozen=True)
class ActualLine:
    sku_id: int
    sku_name: str
    forecast_units: float | None  # the session's own units, summed over warehouses
    actual_units: int

    @property
    def error(self) -> float | None:
        return None if self.forecast_units is None else self.forecast_units - self.actual_units

    @property
    def percent_error(self) -> float | None:
        if self.forecast_units is None or self.actual_units == 0:
            return None
        return abs(self.forecast_units - self.actual_units) / self.actual_units


@dataclasses.dataclass(frozen=True)
class ForecastVsActual:
    lines: list[ActualLine]
    forecast_at: dt.datetime | None
    mape: float | None  # over the SKUs with a forecast and units sold
    wape: float | None  # over the SKUs with a forecast

    @property
    def forecast_total(self) -> float:
        return sum(line.forecast_units or 0.0 for line in self.lines)

    @property
    def actual_total(self) -> int:
        return sum(line.actual_units for line in self.lines)

    def chart(self) -> dict[str, Any]:
        return {
            "skus": [line.sku_name for line in self.lines],
            "forecast": [
                None if line.forecast_units is None else round(line.forecast_units, 1)
                for line in self.lines
            ],
            "actual": [line.actual_units for line in self.lines],
        }


def session_forecast_vs_actual(
    detail: SessionForecastDetail, *, now: dt.datetime | None = None
) -> ForecastVsActual | None:
    """For an ended session: per SKU its last stored forecast of the session's units against
    the units sold in its room up to `now`. None while the session has not ended."""
    if not detail.ended:
        return None
    session = detail.session
    sold = live_units_sold([session.code], now=now or clock.now())
    forecast: dict[int, float] = defaultdict(float)
    for item in detail.lines:
        forecast[item.line.sku_id] += item.line.live_units
    sku_ids = set(forecast) | {sku for (_, sku) in sold}
    sku_ids |= set(session.products.values_list("sku_id", flat=True))
    names = {**detail.sku_names, **sku_names(sku_ids - set(detail.sku_names))}
    lines = [
        ActualLine(
            sku_id=sku,
            sku_name=names.get(sku, str(sku)),
            forecast_units=forecast.get(sku),
            actual_units=sold.get((session.code, sku), 0),
        )
        for sku in sorted(sku_ids)
    ]
    compared = [line for line in lines if line.forecast_units is not None]
    actual = [float(line.actual_units) for line in compared]
    predicted = [float(line.forecast_units or 0.0) for line in compared]
    return ForecastVsActual(
        lines=lines,
        forecast_at=detail.forecast_run.created_at if detail.forecast_run else None,
        mape=mape(actual, predicted) if compared else None,
        wape=wape(actual, predicted) if compared else None,
    )
