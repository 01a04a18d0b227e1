"""The writes of the live-heat demand forecast (DH-8): forecast every coming live session,
store the forecast, raise stock alerts before the session, and back-test the model.

`session_forecasts_refresh` (hourly, and from the console's 重新预测 button) takes the
scheduled sessions starting from today to `days` (7) days ahead and, for each, in start order:

1. gathers its inputs as of `now` (`forecasting.inputs`: nothing recorded later is read);
2. forecasts demand per SKU × warehouse on the session's day (`forecast.forecast_session`):
   regular daily demand + this warehouse's share of what the session sells;
3. works out the stock each warehouse will have left that day: available now, less the regular
   demand expected from now to the session's day (the rest of today pro rata, whole days
   after it), less what earlier sessions of this refresh are forecast to sell there;
4. checks demand + safety stock against it (`forecast.stock_alerts`), with transfers from
   warehouses with a surplus and a purchase for the rest;
5. in one transaction, with the session's row locked: replaces the session's stored forecast
   lines, opens / updates / resolves its `StockAlertRecord`s, queues one `alert_raise` per
   newly opened shortage (dedupe key per session × SKU × warehouse, so re-running never
   notifies twice), writes the run record and the audit row.

A session the history cannot forecast (no earlier session, no demand anywhere for its SKUs)
stores no lines; its run record says why. A failure in one session is recorded and the others
still run. Alerts of sessions that have begun are resolved: stock for them is now the live
room's business.

The safety stock's σ of the session units comes from the back-test's WAPE once at least
`MIN_BACKTEST_LINES` past lines were compared (0.35 until then).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
import math
from collections import defaultdict
from collections.abc import Sequence
from typing import Any

import pandas as pd
from django.core.cache import cache
from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_entry, audit_record, audit_record_many
from freshloop.datahub.eventstore.selectors import EventStore, event_store
from freshloop.intelligence.forecast import (
    SHANGHAI,
    AvailableStock,
    ForecastInvalid,
    ForecastTooLittleData,
    PastSession,
    SafetyStockPolicy,
    SessionPlan,
    StockAlert,
    WarehouseForecast,
    backtest,
    baseline_forecast,
    forecast_session,
    safety_stock_units,
    stock_alerts,
    whole_units,
)
from freshloop.intelligence.forecasting.inputs import (
    available_at,
    daily_demand,
    day_start,
    eligible_warehouses,
    ended_sessions,
    history_end_for,
    past_sessions,
    session_plans,
    upcoming_sessions,
)
from freshloop.intelligence.locks import (
    live_session_forecast_lock,
    started_sessions_open_alerts_lock,
)
from freshloop.intelligence.models import (
    AlertStatus,
    ForecastOutcome,
    SessionForecast,
    SessionForecastRun,
    StockAlertRecord,
)
from freshloop.inventory.models import Warehouse
from freshloop.live.models import LiveSession, LiveStatus
from freshloop.messaging.services import alert_raise

logger = logging.getLogger(__name__)

HORIZON_DAYS = 7
SERVICE_LEVEL = 0.95
LEAD_TIME_DAYS = 2.0
MIN_BACKTEST_LINES = 10
BACKTEST_CACHE_SECONDS = 15 * 60
ALERT_KIND = "intelligence.stock_shortage"
CONSOLE_URL = "/console/intelligence/forecasts/"


def alert_dedupe_key(session_code: str, sku_id: int, warehouse_id: int) -> str:
    return f"intelligence.stock_alert:{session_code}:{sku_id}:{warehouse_id}"


# --- back-test -----------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class BacktestSession:
    """One past session in the back-test: units sold over its lines both forecasts had."""

    code: str
    title: str
    starts_at: dt.datetime
    actual: float
    model: float | None
    naive: float | None


@dataclasses.dataclass(frozen=True)
class BacktestSummary:
    as_of: dt.datetime
    sessions: int  # past sessions in the history
    lines: int  # their session × SKU lines
    compared: int  # lines both the model and the naive rule could forecast
    mape_model: float | None
    mape_naive: float | None
    wape_model: float | None
    wape_naive: float | None
    per_session: list[BacktestSession]
    message: str  # why there is nothing to show, in Chinese; "" when there is

    @property
    def model_beats_naive(self) -> bool | None:
        if self.wape_model is None or self.wape_naive is None:
            return None
        return self.wape_model < self.wape_naive


def _backtest_summary(history: Sequence[PastSession], *, now: dt.datetime) -> BacktestSummary:
    session_count = len({line.session_id for line in history})
    empty = BacktestSummary(
        as_of=now,
        sessions=session_count,
        lines=len(history),
        compared=0,
        mape_model=None,
        mape_naive=None,
        wape_model=None,
        wape_naive=None,
        per_session=[],
        message="",
    )
    if session_count < 2:
        return dataclasses.replace(
            empty, message="至少要有两场已结束的直播才能回测（用前一场预测后一场）"
        )
    report = backtest(history)
    titles = dict(
        LiveSession.objects.filter(code__in={line.session_id for line in history}).values_list(
            "code", "title"
        )
    )
    per_session = []
    for code, lines in report.lines.groupby("session_id", sort=False):
        model = lines["model_units"]
        naive = lines["naive_units"]
        per_session.append(
            BacktestSession(
                code=str(code),
                title=titles.get(str(code), str(code)),
                starts_at=pd.Timestamp(lines["starts_at"].iloc[0]).to_pydatetime(),
                actual=float(lines["actual"].sum()),
                model=float(model.sum()) if model.notna().any() else None,
                naive=float(naive.sum()) if naive.notna().any() else None,
            )
        )
    per_session.sort(key=lambda item: item.starts_at)
    return dataclasses.replace(
        empty,
        compared=report.compared,
        mape_model=report.mape_model,
        mape_naive=report.mape_naive,
        wape_model=report.wape_model,
        wape_naive=report.wape_naive,
        per_session=per_session,
        message="" if report.compared else "还没有模型和朴素预测都能覆盖的商品，暂无误差",
    )


def _backtest_cache_key(now: dt.datetime) -> str:
    """Names the set of sessions a back-test as of `now` covers: it changes when one more
    session ends (late payments and refunds wait for the cache to expire)."""
    ended = ended_sessions(now=now)
    last = max((session.pk for session in ended), default=0)
    return f"intelligence.forecast_backtest:{len(ended)}:{last}"


def _backtest_remember(summary: BacktestSummary) -> None:
    try:
        cache.set(_backtest_cache_key(summary.as_of), summary, BACKTEST_CACHE_SECONDS)
    except Exception:  # noqa: BLE001 (a cache that does not answer only costs a recomputation)
        logger.warning("intelligence: could not cache the forecast back-test")


def forecast_backtest_report(
    *, now: dt.datetime | None = None, store: EventStore | None = None
) -> BacktestSummary:
    """How the live-units forecast did on the sessions that ended before `now` (rolling
    origin: each session forecast only from the ones before it), against the naive "same as
    the last comparable session".

    The back-test fits once per past session on the sessions before it, so its cost grows
    with the square of the sessions (0.7 s for 60 in bench/forecast.py, seconds for a year of
    daily sessions): asked for the present (no `now`), the console gets the result cached
    for BACKTEST_CACHE_SECONDS per set of ended sessions; the refresh stores its own there."""
    if now is not None or store is not None:
        moment = now or clock.now()
        return _backtest_summary(
            past_sessions(now=moment, store=store or event_store()), now=moment
        )
    moment = clock.now()
    try:
        cached = cache.get(_backtest_cache_key(moment))
    except Exception:  # noqa: BLE001 (no cache: compute)
        logger.warning("intelligence: could not read the cached forecast back-test")
        cached = None
    if isinstance(cached, BacktestSummary):
        return cached
    summary = _backtest_summary(past_sessions(now=moment, store=event_store()), now=moment)
    _backtest_remember(summary)
    return summary


def _policy(summary: BacktestSummary) -> tuple[SafetyStockPolicy, str]:
    if summary.compared >= MIN_BACKTEST_LINES and summary.wape_model is not None:
        return (
            SafetyStockPolicy(
                service_level=SERVICE_LEVEL,
                lead_time_days=LEAD_TIME_DAYS,
                session_wape=summary.wape_model,
            ),
            "backtest",
        )
    return SafetyStockPolicy(service_level=SERVICE_LEVEL, lead_time_days=LEAD_TIME_DAYS), "default"


# --- the refresh ---------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class SessionRefreshOutcome:
    session_code: str
    title: str
    starts_at: dt.datetime
    outcome: str  # ForecastOutcome
    message: str
    lines: int = 0
    alerts_open: int = 0
    alerts_new: int = 0
    alerts_resolved: int = 0


@dataclasses.dataclass(frozen=True)
class ForecastRefreshReport:
    as_of: dt.datetime
    history_end: dt.date
    session_wape: float
    session_wape_source: str  # "backtest" or "default"
    backtest: BacktestSummary
    sessions: list[SessionRefreshOutcome]
    alerts_resolved_started: int  # open alerts closed because their session has begun

    def count(self, outcome: str) -> int:
        return sum(1 for item in self.sessions if item.outcome == outcome)

    @property
    def alerts_new(self) -> int:
        return sum(item.alerts_new for item in self.sessions)

    @property
    def summary(self) -> str:
        """One sentence for the console and the job log."""
        if not self.sessions:
            return "未来没有待预测的直播场次"
        parts = [f"共 {len(self.sessions)} 场"]
        for outcome in ForecastOutcome:
            if count := self.count(outcome):
                parts.append(f"{outcome.label} {count} 场")
        parts.append(f"新增缺货预警 {self.alerts_new} 条")
        return "，".join(parts)


@dataclasses.dataclass
class _Context:
    """What every session of one refresh shares."""

    now: dt.datetime
    history_end: dt.date
    actor: Actor
    history: list[PastSession]
    policy: SafetyStockPolicy
    demand: pd.DataFrame
    eligible: dict[int, list[Warehouse]]
    stock_now: dict[tuple[int, int], int]
    regular_before: dict[tuple[int, int], dict[dt.date, float]]
    # Units the sessions already handled in this refresh will sell per (sku, warehouse): a
    # later session cannot count on them.
    committed_live: dict[tuple[int, int], float]


def _unsold_skus_placed(
    demand: pd.DataFrame,
    sku_ids: set[int],
    eligible: dict[int, list[Warehouse]],
    stock_now: dict[tuple[int, int], int],
    history_end: dt.date,
) -> pd.DataFrame:
    """A SKU never sold outside live sessions has no regular demand to learn a baseline or a
    warehouse split from. Rather than leave it without a stock check, give it a zero day at
    each eligible warehouse that holds some: baseline 0, the session's units split equally
    over those warehouses (the core's rule for a SKU that never sold)."""
    known = set(demand["sku_id"].astype(int)) if not demand.empty else set()
    extra = [
        {"sku_id": sku, "warehouse_id": warehouse.pk, "day": history_end, "units": 0.0}
        for sku in sorted(sku_ids - known)
        for warehouse in eligible.get(sku, [])
        if stock_now.get((sku, warehouse.pk), 0) > 0
    ]
    if not extra:
        return demand
    return pd.concat([demand, pd.DataFrame.from_records(extra)], ignore_index=True)


def _regular_demand_before(
    demand: pd.DataFrame, *, history_end: dt.date, now: dt.datetime, last_day: dt.date
) -> dict[tuple[int, int], dict[dt.date, float]]:
    """(sku, warehouse) → day → the regular units expected that day, from today to the day
    before `last_day`; today only for the part of the day still ahead (what was ordered
    earlier today is already reserved, so already out of the available stock)."""
    today = history_end + dt.timedelta(days=1)
    if demand.empty or last_day <= today:
        return {}
    days = [today + dt.timedelta(days=i) for i in range((last_day - today).days)]
    forecast = baseline_forecast(demand, history_end=history_end, days=days)
    left_today = (day_start(today + dt.timedelta(days=1)) - now) / dt.timedelta(days=1)
    result: dict[tuple[int, int], dict[dt.date, float]] = defaultdict(dict)
    for row in forecast.itertuples(index=False):
        scale = min(1.0, max(0.0, left_today)) if row.day == today else 1.0
        result[(int(row.sku_id), int(row.warehouse_id))][row.day] = float(row.units) * scale
    return result


def _alerts_of_started_sessions_resolve(*, actor: Actor) -> int:
    """Close the open alerts of sessions that are no longer scheduled: once a session is on
    air the live room and its flash-sale stock take over."""
    with transaction.atomic():
        started = started_sessions_open_alerts_lock()
        if not started:
            return 0
        now = clock.now()
        for record in started:
            record.status = AlertStatus.RESOLVED
            record.resolution = "直播已开播，预警关闭"
            record.resolved_at = now
            record.updated_at = now
        StockAlertRecord.objects.bulk_update(
            started, ["status", "resolution", "resolved_at", "updated_at"]
        )
        audit_record_many(
            [
                audit_entry(
                    actor=actor,
                    action="intelligence.stock_alert_resolve",
                    target=record,
                    after={"status": record.status, "resolution": record.resolution},
                )
                for record in started
            ]
        )
    return len(started)


def session_forecasts_refresh(
    *,
    actor: Actor,
    now: dt.datetime | None = None,
    days: int = HORIZON_DAYS,
    store: EventStore | None = None,
) -> ForecastRefreshReport:
    """Forecast every scheduled session starting from today to `days` days after `now`,
    replace each one's stored forecast and stock alerts, and report what came of each."""
    moment = now or clock.now()
    events = store or event_store()
    history_end = history_end_for(moment)
    resolved_started = _alerts_of_started_sessions_resolve(actor=actor)
    history = past_sessions(now=moment, store=events)
    summary = _backtest_summary(history, now=moment)
    if now is None:
        _backtest_remember(summary)  # what the console shows next, without recomputing
    policy, wape_source = _policy(summary)
    report = ForecastRefreshReport(
        as_of=moment,
        history_end=history_end,
        session_wape=policy.session_wape,
        session_wape_source=wape_source,
        backtest=summary,
        sessions=[],
        alerts_resolved_started=resolved_started,
    )
    sessions = upcoming_sessions(now=moment, days=days)
    if not sessions:
        return report
    plans = session_plans(sessions, now=moment, store=events)
    sku_ids = {plan.sku_id for lines in plans.values() for plan in lines}
    eligible = eligible_warehouses(sku_ids)
    warehouse_ids = {w.pk for warehouses in eligible.values() for w in warehouses}
    stock_now = available_at(sku_ids=sku_ids, warehouse_ids=warehouse_ids, now=moment)
    demand = daily_demand(sku_ids=sku_ids, now=moment, eligible=eligible)
    demand = _unsold_skus_placed(demand, sku_ids, eligible, stock_now, history_end)
    last_day = max(session.scheduled_at.astimezone(SHANGHAI).date() for session in sessions)
    context = _Context(
        now=moment,
        history_end=history_end,
        actor=actor,
        history=history,
        policy=policy,
        demand=demand,
        eligible=eligible,
        stock_now=stock_now,
        regular_before={},
        committed_live=defaultdict(float),
    )
    try:
        context.regular_before = _regular_demand_before(
            demand, history_end=history_end, now=moment, last_day=last_day
        )
    except (ForecastTooLittleData, ForecastInvalid):
        logger.info("intelligence: no regular demand to project before the sessions")
    for session in sessions:
        report.sessions.append(_session_refresh(session, plans.get(session.pk, []), context))
    logger.info("intelligence: forecasts refreshed: %s", report.summary)
    return report


def _session_refresh(
    session: LiveSession, plans: list[SessionPlan], context: _Context
) -> SessionRefreshOutcome:
    try:
        return _session_forecast(session, plans, context)
    except Exception as error:
        # One session failing (a bug, a bad row) must not keep the others from their stock
        # check. Not swallowed: the run record shows 预测失败 with the error's type on the
        # session's page, and the traceback goes to the error log.
        logger.exception("intelligence: forecasting session %s failed", session.code)
        message = f"预测失败：{type(error).__name__}"
        _run_record(session, context, ForecastOutcome.FAILED, message)
        return _outcome(session, ForecastOutcome.FAILED, message)


def _outcome(
    session: LiveSession, outcome: str, message: str, **counts: int
) -> SessionRefreshOutcome:
    return SessionRefreshOutcome(
        session_code=session.code,
        title=session.title,
        starts_at=session.scheduled_at,
        outcome=outcome,
        message=message,
        **counts,
    )


def _run_record(
    session: LiveSession,
    context: _Context,
    outcome: str,
    message: str,
    detail: dict[str, Any] | None = None,
) -> SessionForecastRun:
    return SessionForecastRun.objects.create(
        session=session,
        as_of=context.now,
        session_starts_at=session.scheduled_at,
        created_at=clock.now(),
        trigger=context.actor.label[:64],
        outcome=outcome,
        message=message[:500],
        detail=detail or {},
    )


def _still_scheduled(session: LiveSession) -> LiveSession | None:
    """The session's locked row when it is still scheduled at the same time as forecast."""
    locked = live_session_forecast_lock(session.pk)
    if locked is None:
        return None
    if locked.status != LiveStatus.SCHEDULED or locked.scheduled_at != session.scheduled_at:
        return None
    return locked


def _session_forecast(
    session: LiveSession, plans: list[SessionPlan], context: _Context
) -> SessionRefreshOutcome:
    if not plans:
        message = "场次还没有上架商品，无需预测"
        _run_record(session, context, ForecastOutcome.SKIPPED, message)
        return _outcome(session, ForecastOutcome.SKIPPED, message)
    placeable = (
        set(context.demand["sku_id"].astype(int)) if not context.demand.empty else set[int]()
    )
    kept = [plan for plan in plans if plan.sku_id in placeable]
    unplaced = sorted({plan.sku_id for plan in plans} - placeable)
    try:
        if not kept:
            raise ForecastTooLittleData(
                f"商品 {'、'.join(map(str, unplaced))} 没有任何仓的日销量或库存记录，无法分仓",
                detail={"sku_ids": unplaced},
            )
        forecasts = forecast_session(
            kept, context.history, context.demand, history_end=context.history_end
        )
    except ForecastTooLittleData as error:
        return _too_little_data_store(session, context, error)
    except ForecastInvalid as error:
        _run_record(session, context, ForecastOutcome.FAILED, error.text, {"detail": error.detail})
        return _outcome(session, ForecastOutcome.FAILED, error.text)

    stock = _projected_stock(kept, forecasts, context)
    alerts = _stock_alerts(forecasts, stock, context.policy)
    plans_by_sku = {plan.sku_id: plan for plan in kept}
    detail = {
        "history_end": context.history_end.isoformat(),
        "history_sessions": len({line.session_id for line in context.history}),
        "history_lines": len(context.history),
        "service_level": context.policy.service_level,
        "lead_time_days": context.policy.lead_time_days,
        "session_wape": round(context.policy.session_wape, 4),
        "unplaced_sku_ids": unplaced,
    }
    with transaction.atomic():
        locked = _still_scheduled(session)
        if locked is None:
            message = "场次已开播或改期，本次预测未保存"
            _run_record(session, context, ForecastOutcome.SKIPPED, message)
            return _outcome(session, ForecastOutcome.SKIPPED, message)
        replaced = SessionForecast.objects.filter(session=locked).delete()[0]
        message = f"已预测 {len(kept)} 个商品"
        if unplaced:
            message += f"；商品 {'、'.join(map(str, unplaced))} 无销量和库存记录，未预测"
        run = _run_record(locked, context, ForecastOutcome.FORECAST, message, detail)
        created_at = clock.now()
        lines = SessionForecast.objects.bulk_create(
            _line(run, forecast, plans_by_sku[forecast.sku_id], stock, context, created_at)
            for forecast in forecasts
        )
        opened, updated, resolved = _alerts_reconcile(locked, run, alerts, "最新预测已无缺口")
        for record in opened:
            alert_raise(
                kind=ALERT_KIND,
                details=_alert_details(locked, record),
                dedupe_key=alert_dedupe_key(locked.code, record.sku_id, record.warehouse_id),
            )
        audit_record(
            actor=context.actor,
            action="intelligence.session_forecast",
            target=run,
            after={
                "session": locked.code,
                "as_of": context.now,
                "lines": len(lines),
                "lines_replaced": replaced,
                "forecast_units": round(sum(f.total_units for f in forecasts), 2),
                "alerts_opened": [r.pk for r in opened],
                "alerts_updated": updated,
                "alerts_resolved": resolved,
            },
        )
    for forecast in forecasts:
        context.committed_live[(forecast.sku_id, forecast.warehouse_id)] += forecast.live_units
    return _outcome(
        session,
        ForecastOutcome.FORECAST,
        message,
        lines=len(lines),
        alerts_open=len(alerts),
        alerts_new=len(opened),
        alerts_resolved=resolved,
    )


def _too_little_data_store(
    session: LiveSession, context: _Context, error: ForecastTooLittleData
) -> SessionRefreshOutcome:
    """Store nothing for the session — an earlier forecast of it is withdrawn with its alerts,
    which no longer rest on anything — and record why."""
    with transaction.atomic():
        locked = _still_scheduled(session)
        if locked is None:
            message = "场次已开播或改期，本次预测未保存"
            _run_record(session, context, ForecastOutcome.SKIPPED, message)
            return _outcome(session, ForecastOutcome.SKIPPED, message)
        replaced = SessionForecast.objects.filter(session=locked).delete()[0]
        detail = error.detail if isinstance(error.detail, dict) else {"detail": error.detail}
        run = _run_record(locked, context, ForecastOutcome.TOO_LITTLE_DATA, error.text, detail)
        _, _, resolved = _alerts_reconcile(locked, run, [], "数据不足，本次未能预测")
        if replaced or resolved:
            audit_record(
                actor=context.actor,
                action="intelligence.session_forecast_withdraw",
                target=run,
                after={
                    "session": locked.code,
                    "lines_removed": replaced,
                    "alerts_resolved": resolved,
                },
            )
    return _outcome(session, ForecastOutcome.TOO_LITTLE_DATA, error.text, alerts_resolved=resolved)


def _projected_stock(
    plans: list[SessionPlan], forecasts: list[WarehouseForecast], context: _Context
) -> dict[tuple[int, int], tuple[int, int, float, float]]:
    """(sku, warehouse) → (expected available on the session day, available now, regular
    demand before the day, earlier sessions' units) for every eligible warehouse of the
    session's SKUs: the short ones, and the ones that could give."""
    day = forecasts[0].day if forecasts else plans[0].day
    stock = {}
    for sku in sorted({plan.sku_id for plan in plans}):
        for warehouse in context.eligible.get(sku, []):
            key = (sku, warehouse.pk)
            now_units = context.stock_now.get(key, 0)
            regular = sum(
                units for d, units in context.regular_before.get(key, {}).items() if d < day
            )
            earlier = context.committed_live.get(key, 0.0)
            # Rounded down: a fraction of a unit is not there to be sold.
            projected = max(0, math.floor(now_units - regular - earlier + 1e-6))
            stock[key] = (projected, now_units, regular, earlier)
    return stock


def _stock_alerts(
    forecasts: list[WarehouseForecast],
    stock: dict[tuple[int, int], tuple[int, int, float, float]],
    policy: SafetyStockPolicy,
) -> list[StockAlert]:
    names = dict(Warehouse.objects.filter(pk__in={w for _, w in stock}).values_list("pk", "name"))
    rows = [
        AvailableStock(
            sku_id=sku,
            warehouse_id=warehouse,
            warehouse_name=names[warehouse],
            available_units=values[0],
        )
        for (sku, warehouse), values in sorted(stock.items())
    ]
    return stock_alerts(forecasts, rows, policy=policy)


def _line(
    run: SessionForecastRun,
    forecast: WarehouseForecast,
    plan: SessionPlan,
    stock: dict[tuple[int, int], tuple[int, int, float, float]],
    context: _Context,
    created_at: dt.datetime,
) -> SessionForecast:
    projected, now_units, regular, earlier = stock[(forecast.sku_id, forecast.warehouse_id)]
    return SessionForecast(
        run=run,
        session_id=run.session_id,
        sku_id=forecast.sku_id,
        warehouse_id=forecast.warehouse_id,
        day=forecast.day,
        forecast_units=round(forecast.total_units, 3),
        baseline_units=round(forecast.baseline_units, 3),
        baseline_sigma=round(forecast.baseline_sigma, 3),
        live_units=round(forecast.live_units, 3),
        share=round(forecast.share, 4),
        demand_units=whole_units(forecast.total_units),
        safety_stock_units=whole_units(safety_stock_units(forecast, context.policy)),
        available_units=projected,
        baseline_method=forecast.baseline_method,
        live_method=forecast.live_method,
        inputs={
            "as_of": context.now.isoformat(),
            "reservations": plan.reservations,
            "page_views": plan.page_views,
            "shares": plan.shares,
            "list_price_fen": plan.list_price_fen,
            "session_price_fen": plan.session_price_fen,
            "discount_depth": round(plan.discount_depth, 4),
            "host_id": plan.host_id,
            "history_lines": len(context.history),
            "available_now": now_units,
            "regular_demand_before_day": round(regular, 3),
            "earlier_sessions_units": round(earlier, 3),
        },
        created_at=created_at,
    )


def _alerts_reconcile(
    session: LiveSession, run: SessionForecastRun, alerts: list[StockAlert], resolution: str
) -> tuple[list[StockAlertRecord], int, int]:
    """Open a record for each new shortage, update the ones still short, resolve the rest.
    Returns (opened records, updated count, resolved count)."""
    now = clock.now()
    open_records = {
        (record.sku_id, record.warehouse_id): record
        for record in StockAlertRecord.objects.filter(session=session, status=AlertStatus.OPEN)
    }
    opened: list[StockAlertRecord] = []
    updated = 0
    for alert in alerts:
        figures = {
            "run": run,
            "demand_units": alert.demand_units,
            "safety_stock_units": alert.safety_stock_units,
            "available_units": alert.available_units,
            "shortage_units": alert.shortfall_units,
            "transfers": [
                {
                    "from_warehouse_id": transfer.from_warehouse_id,
                    "from_warehouse_name": transfer.from_warehouse_name,
                    "units": transfer.units,
                }
                for transfer in alert.transfers
            ],
            "purchase_units": alert.purchase_units,
            "reason": alert.reason,
            "updated_at": now,
        }
        record = open_records.pop((alert.sku_id, alert.warehouse_id), None)
        if record is None:
            opened.append(
                StockAlertRecord.objects.create(
                    session=session,
                    sku_id=alert.sku_id,
                    warehouse_id=alert.warehouse_id,
                    created_at=now,
                    **figures,
                )
            )
            continue
        for field, value in figures.items():
            setattr(record, field, value)
        record.save(update_fields=list(figures))
        updated += 1
    for record in open_records.values():
        record.status = AlertStatus.RESOLVED
        record.resolution = resolution
        record.resolved_at = now
        record.updated_at = now
        record.save(update_fields=["status", "resolution", "resolved_at", "updated_at"])
    return opened, updated, len(open_records)


def _alert_details(session: LiveSession, record: StockAlertRecord) -> dict[str, Any]:
    return {
        "alert_id": record.pk,
        "session_code": session.code,
        "session_title": session.title,
        "starts_at": session.scheduled_at.isoformat(),
        "sku_id": record.sku_id,
        "warehouse_id": record.warehouse_id,
        "demand_units": record.demand_units,
        "safety_stock_units": record.safety_stock_units,
        "available_units": record.available_units,
        "shortage_units": record.shortage_units,
        "transfers": record.transfers,
        "purchase_units": record.purchase_units,
        "reason": record.reason,
        "url": f"{CONSOLE_URL}{session.code}",
    }
