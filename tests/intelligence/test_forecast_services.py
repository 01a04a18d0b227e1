"""The live-heat demand forecast made real (DH-8): inputs from the live, order, inventory and
event tables, stored forecasts and stock alerts for every coming session, the back-test, and
forecast vs actual once a session has ended.

The world is built through the real services on a frozen clock, in Asia/Shanghai days:

    NOW = Thursday 2026-03-12 10:00. Warehouses 上海仓 (sh) and 北京仓 (bj); one chilled SKU,
    milk, ¥10. 60 units arrive at sh on 03-02; from 03-03 to 03-11 one shop order of 2 units
    a day (18 units, all at sh: the only warehouse with stock then).
    S1 on 03-04 20:00: 3 reservations, 2 room orders × 4 units. S2 on 03-08 20:00: 5
    reservations, 3 room orders × 4 units. S3 on 03-14 20:00 (coming): 6 reservations.
    Available at sh now: 60 − 18 − 8 − 12 = 22. With `bj_stock`, bj received that many on
    03-11 (after every order, so bj has no demand of its own: it can only give).

S3's forecast, worked out: the room sells (6 + 1) × 20 / ((3 + 1) + (5 + 1)) = 14 units (one
host, one product: both effects ~0); regular demand is 2 a day. Before S3's day sh loses the
rest of today (14/24 × 2) and tomorrow's 2 → 18 available on 03-14 against 16 + safety stock
(≈ 11) → short by about 9.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator
from typing import Any

import pytest
from django.core.cache import cache

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog, OutboxMessage
from freshloop.datahub.eventstore.selectors import EventStore, to_naive_utc
from freshloop.intelligence.forecast import SHANGHAI
from freshloop.intelligence.forecasting import services as forecast_services
from freshloop.intelligence.forecasting.inputs import past_sessions, session_plans
from freshloop.intelligence.forecasting.selectors import (
    forecast_calendar,
    session_forecast_get,
    session_forecast_vs_actual,
)
from freshloop.intelligence.forecasting.services import (
    ALERT_KIND,
    alert_dedupe_key,
    forecast_backtest_report,
    session_forecasts_refresh,
)
from freshloop.intelligence.models import (
    AlertStatus,
    ForecastOutcome,
    SessionForecast,
    SessionForecastRun,
    StockAlertRecord,
)
from freshloop.intelligence.tasks import forecasts_refresh
from freshloop.inventory.models import Warehouse
from freshloop.inventory.services import stock_receive
from freshloop.live.host.services import live_session_end, live_session_start
from freshloop.live.models import LiveSession
from freshloop.live.room.services import live_reserve, live_session_create
from freshloop.orders.models import Order
from freshloop.orders.services import (
    order_refund_request,
    order_refund_succeeded,
    refund_request_approve,
)
from tests.factories import make_order, make_person, make_sku, make_warehouse
from tests.intelligence.helpers import append_events, event_row
from tests.live.helpers import HOST_ACTOR, make_host
from tests.orders.helpers import pay

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="5", label="供应链小王")
SYSTEM = Actor.system("tests")


def shanghai(day: str, hour: int, minute: int = 0) -> dt.datetime:
    """An Asia/Shanghai wall-clock time as aware UTC."""
    return (
        dt.datetime.fromisoformat(f"{day}T{hour:02d}:{minute:02d}")
        .replace(tzinfo=SHANGHAI)
        .astimezone(dt.UTC)
    )


NOW = shanghai("2026-03-12", 10)
S3_STARTS = shanghai("2026-03-14", 20)


@dataclasses.dataclass
class World:
    sh: Warehouse
    bj: Warehouse
    milk: Sku
    past: list[LiveSession]
    coming: LiveSession
    room_orders: dict[str, list[Order]]


def _at(moment: dt.datetime) -> None:
    clock.advance(moment - clock.now())


def _reservations(session: LiveSession, count: int) -> None:
    for _ in range(count):
        live_reserve(session=session, person=make_person())


def room_orders(session: LiveSession, sku: Sku, orders: int, units: int) -> list[Order]:
    return [
        pay(make_order(make_person(), (sku, units), channel="live", source_ref=session.code))
        for _ in range(orders)
    ]


def _past_session(
    starts: dt.datetime,
    sku: Sku,
    *,
    reservations: int,
    orders: int,
    units: int,
    lead: dt.timedelta = dt.timedelta(hours=30),
) -> tuple[LiveSession, list[Order]]:
    """A session created `lead` before it starts, reserved, on air for an hour with paid
    orders, ended."""
    day = f"{starts.astimezone(SHANGHAI):%Y-%m-%d}"
    _at(starts - lead)
    session = live_session_create(
        title=f"{day} 牧场鲜奶专场",
        host=make_host(),
        scheduled_at=starts,
        sku_ids=[sku.pk],
        actor=HOST_ACTOR,
    )
    _reservations(session, reservations)
    _at(starts)
    live_session_start(session=session, actor=HOST_ACTOR)
    _at(starts + dt.timedelta(minutes=20))
    placed = room_orders(session, sku, orders, units)
    _at(starts + dt.timedelta(hours=1))
    live_session_end(session=session, actor=HOST_ACTOR)
    return session, placed


def build_world(*, past_sessions: bool = True, bj_stock: int = 0) -> World:
    """The world of the module docstring, the clock left at NOW (call inside `frozen`)."""
    _at(shanghai("2026-03-02", 9))
    sh = make_warehouse("sh", province="上海")
    bj = make_warehouse("bj", province="北京")
    milk = make_sku(price_fen=1000, stock=60, warehouse=sh, name="鲜牛奶")
    past: list[LiveSession] = []
    room_orders: dict[str, list[Order]] = {}
    sessions = [("2026-03-04", 3, 2), ("2026-03-08", 5, 3)] if past_sessions else []
    for day_number in range(3, 12):
        day = f"2026-03-{day_number:02d}"
        for session_day, reservations, orders in sessions:
            if session_day == day:
                session, placed = _past_session(
                    shanghai(day, 20), milk, reservations=reservations, orders=orders, units=4
                )
                past.append(session)
                room_orders[session.code] = placed
        _at(shanghai(day, 10) if clock.now() < shanghai(day, 10) else clock.now())
        pay(make_order(make_person(), (milk, 2)))
    _at(shanghai("2026-03-11", 12))
    coming = live_session_create(
        title="周六会员直播",
        host=make_host(),
        scheduled_at=S3_STARTS,
        sku_ids=[milk.pk],
        actor=HOST_ACTOR,
    )
    _reservations(coming, 6)
    if bj_stock:
        stock_receive(sku=milk, warehouse=bj, quantity=bj_stock, actor=SYSTEM)
    _at(NOW)
    return World(sh=sh, bj=bj, milk=milk, past=past, coming=coming, room_orders=room_orders)


@pytest.fixture(autouse=True)
def _no_cached_backtest() -> Iterator[None]:
    """The console's back-test is cached per set of ended sessions; every test builds its own
    sessions (with the same ids and times), so none may see another's."""
    cache.clear()
    yield
    cache.clear()


@pytest.fixture
def frozen() -> Iterator[None]:
    with clock.frozen(shanghai("2026-03-01", 9)):
        yield


def _lines(session: LiveSession) -> dict[int, SessionForecast]:
    return {line.warehouse_id: line for line in SessionForecast.objects.filter(session=session)}


def _outbox(world: World, warehouse: Warehouse) -> list[OutboxMessage]:
    key = alert_dedupe_key(world.coming.code, world.milk.pk, warehouse.pk)
    return list(OutboxMessage.objects.filter(dedupe_key=key))


class TestSessionForecastsRefresh:
    def test_stores_a_forecast_per_sku_and_warehouse_from_past_sessions(
        self, frozen: None, store: EventStore
    ) -> None:
        # given two past sessions and a coming one with 6 reservations, 3 preview views and
        # a share before now
        world = build_world()
        append_events(
            store,
            [
                *(
                    event_row(
                        "page_view",
                        person_id=1,
                        at=NOW - dt.timedelta(hours=h),
                        live_session=world.coming.code,
                    )
                    for h in (1, 2, 3)
                ),
                event_row(
                    "share",
                    person_id=1,
                    at=NOW - dt.timedelta(hours=1),
                    live_session=world.coming.code,
                ),
            ],
        )
        # when the forecasts are refreshed
        report = session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then S3 (and only S3: the past ones are over) has one line, at sh, the only
        # warehouse that ever sold milk
        assert [(o.session_code, o.outcome) for o in report.sessions] == [
            (world.coming.code, ForecastOutcome.FORECAST)
        ]
        lines = _lines(world.coming)
        assert list(lines) == [world.sh.pk]
        line = lines[world.sh.pk]
        assert line.day == dt.date(2026, 3, 14)
        assert line.baseline_units == pytest.approx(2.0)  # two units every day
        assert line.live_units == pytest.approx(14.0, rel=0.05)
        assert line.forecast_units == pytest.approx(line.baseline_units + line.live_units)
        assert line.demand_units == 16
        assert line.safety_stock_units > 0
        assert line.inputs["reservations"] == 6
        assert (line.inputs["page_views"], line.inputs["shares"]) == (3, 1)
        assert line.inputs["list_price_fen"] == line.inputs["session_price_fen"] == 1000
        assert line.inputs["available_now"] == 22
        # 22 now, less the rest of today (14 of 24 hours × 2) and tomorrow's 2
        assert line.inputs["regular_demand_before_day"] == pytest.approx(2 * 14 / 24 + 2, abs=1e-3)
        assert line.available_units == 18
        run = SessionForecastRun.objects.get(session=world.coming)
        assert (run.outcome, run.as_of, run.trigger) == (
            ForecastOutcome.FORECAST,
            NOW,
            OPERATOR.label,
        )
        assert run.detail["history_sessions"] == 2
        assert AuditLog.objects.filter(
            action="intelligence.session_forecast", target_id=str(run.pk)
        ).exists()

    def test_a_shortage_is_covered_by_a_transfer_from_a_warehouse_with_surplus(
        self, frozen: None, store: EventStore
    ) -> None:
        # given bj holds 100 units it will not need
        world = build_world(bj_stock=100)
        # when the forecasts are refreshed
        report = session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then sh is short and the shortfall comes from bj, nothing to buy
        alert = StockAlertRecord.objects.get(session=world.coming)
        line = _lines(world.coming)[world.sh.pk]
        assert (alert.warehouse_id, alert.status) == (world.sh.pk, AlertStatus.OPEN)
        assert alert.shortage_units == line.demand_units + line.safety_stock_units - 18
        assert alert.transfers == [
            {
                "from_warehouse_id": world.bj.pk,
                "from_warehouse_name": "北京仓",
                "units": alert.shortage_units,
            }
        ]
        assert alert.purchase_units == 0
        assert f"从 北京仓 调拨 {alert.shortage_units} 件" in alert.reason
        assert report.sessions[0].alerts_new == 1

    def test_a_shortage_nobody_can_cover_is_a_purchase(
        self, frozen: None, store: EventStore
    ) -> None:
        # given no other warehouse holds milk
        world = build_world()
        # when the forecasts are refreshed
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then the alert asks to buy the whole shortfall
        alert = StockAlertRecord.objects.get(session=world.coming)
        assert alert.transfers == []
        assert alert.purchase_units == alert.shortage_units > 0
        assert f"建议采购 {alert.purchase_units} 件" in alert.reason

    def test_raises_the_alert_once_however_often_it_runs(
        self, frozen: None, store: EventStore
    ) -> None:
        # given a forecast that found a shortage
        world = build_world()
        first = session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when the hourly job runs again an hour later
        _at(NOW + dt.timedelta(hours=1))
        second = session_forecasts_refresh(actor=OPERATOR)
        # then one open alert, updated, and one outbox message for people to look at
        assert (first.alerts_new, second.alerts_new) == (1, 0)
        alert = StockAlertRecord.objects.get(session=world.coming)
        assert alert.status == AlertStatus.OPEN
        messages = _outbox(world, world.sh)
        assert len(messages) == 1
        assert messages[0].channel == "alert"
        assert messages[0].payload["kind"] == ALERT_KIND
        assert messages[0].payload["alert_id"] == alert.pk
        assert messages[0].payload["shortage_units"] == alert.shortage_units
        # and the second forecast replaced the first: one run's lines only
        assert SessionForecast.objects.filter(session=world.coming).count() == 1
        assert SessionForecastRun.objects.filter(session=world.coming).count() == 2

    def test_a_shortage_that_goes_away_is_resolved(self, frozen: None, store: EventStore) -> None:
        # given an open alert at sh
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when 200 units arrive at sh and the forecast runs again
        stock_receive(sku=world.milk, warehouse=world.sh, quantity=200, actor=SYSTEM)
        report = session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then the alert is resolved with its reason
        alert = StockAlertRecord.objects.get(session=world.coming)
        assert (alert.status, alert.resolution) == (AlertStatus.RESOLVED, "最新预测已无缺口")
        assert report.sessions[0].alerts_resolved == 1

    def test_alerts_of_a_session_that_began_are_closed(
        self, frozen: None, store: EventStore
    ) -> None:
        # given an open alert for S3
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when S3 goes on air and the job runs
        _at(S3_STARTS)
        live_session_start(session=world.coming, actor=HOST_ACTOR)
        report = session_forecasts_refresh(actor=OPERATOR)
        # then the alert is closed and the forecast made before the start is kept
        alert = StockAlertRecord.objects.get(session=world.coming)
        assert (alert.status, alert.resolution) == (AlertStatus.RESOLVED, "直播已开播，预警关闭")
        assert report.alerts_resolved_started == 1
        assert SessionForecast.objects.filter(session=world.coming).count() == 1

    def test_too_little_history_stores_nothing_and_says_why(
        self, frozen: None, store: EventStore
    ) -> None:
        # given no session has ever ended
        world = build_world(past_sessions=False)
        # when the forecasts are refreshed
        report = session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then S3 has no forecast and no alert, and its run says why
        outcome = report.sessions[0]
        assert outcome.outcome == ForecastOutcome.TOO_LITTLE_DATA
        assert "还没有任何更早的直播场次" in outcome.message
        assert not SessionForecast.objects.filter(session=world.coming).exists()
        assert not StockAlertRecord.objects.exists()
        run = SessionForecastRun.objects.get(session=world.coming)
        assert (run.outcome, run.message) == (ForecastOutcome.TOO_LITTLE_DATA, outcome.message)
        assert run.detail == {"session_ids": [world.coming.code]}

    def test_an_alert_that_cannot_be_queued_leaves_no_forecast_behind(
        self, frozen: None, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the outbox refuses the alert
        world = build_world()

        def refused(**_: Any) -> None:
            raise RuntimeError("outbox down")

        monkeypatch.setattr(forecast_services, "alert_raise", refused)
        # when the forecasts are refreshed
        report = session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then the session's lines and alert rolled back with it, and the failure is recorded
        assert report.sessions[0].outcome == ForecastOutcome.FAILED
        assert not SessionForecast.objects.exists()
        assert not StockAlertRecord.objects.exists()
        run = SessionForecastRun.objects.get(session=world.coming)
        assert run.message == "预测失败：RuntimeError"

    def test_a_later_session_counts_on_what_the_earlier_one_takes(
        self, frozen: None, store: EventStore
    ) -> None:
        # given a second coming session selling milk the day after S3
        world = build_world(bj_stock=100)
        later = live_session_create(
            title="周日加场",
            host=make_host(),
            scheduled_at=S3_STARTS + dt.timedelta(days=1),
            sku_ids=[world.milk.pk],
            actor=HOST_ACTOR,
        )
        # when the forecasts are refreshed
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then the later session's stock at sh is reduced by S3's own units and S3's day
        first, second = _lines(world.coming)[world.sh.pk], _lines(later)[world.sh.pk]
        assert second.inputs["earlier_sessions_units"] == pytest.approx(first.live_units, abs=1e-3)
        assert second.inputs["regular_demand_before_day"] == pytest.approx(
            first.inputs["regular_demand_before_day"] + first.baseline_units
        )

    def test_reads_nothing_recorded_after_now(self, frozen: None, store: EventStore) -> None:
        # given a forecast of S3 as of NOW
        world = build_world()
        before = [
            event_row(
                "page_view",
                person_id=1,
                at=NOW - dt.timedelta(hours=1),
                live_session=world.coming.code,
            )
        ]
        append_events(store, before)
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        first = _lines(world.coming)[world.sh.pk]
        first_history = past_sessions(now=NOW, store=store)
        # and, after NOW: a reservation, preview views (one that happened before NOW but
        # arrived after it), a shop order, a refund in S2, and a whole new session
        _at(NOW + dt.timedelta(hours=1))
        _reservations(world.coming, 4)
        late = event_row(
            "page_view",
            person_id=2,
            at=NOW - dt.timedelta(minutes=5),
            live_session=world.coming.code,
        )
        late["received_at"] = to_naive_utc(NOW + dt.timedelta(hours=1))
        append_events(
            store,
            [
                late,
                event_row(
                    "share",
                    person_id=2,
                    at=NOW + dt.timedelta(hours=1),
                    live_session=world.coming.code,
                ),
            ],
        )
        pay(make_order(make_person(), (world.milk, 3)))
        s2_order = world.room_orders[world.past[1].code][0]
        _refund_one_unit(s2_order)
        _past_session(
            NOW + dt.timedelta(hours=2),
            world.milk,
            reservations=2,
            orders=1,
            units=1,
            lead=dt.timedelta(hours=1),
        )
        # when the forecast is made again as of NOW
        _at(NOW + dt.timedelta(days=1))
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # then every input and figure is what it was
        again = _lines(world.coming)[world.sh.pk]
        fields = (
            "forecast_units",
            "baseline_units",
            "live_units",
            "safety_stock_units",
            "available_units",
            "inputs",
        )
        assert {f: getattr(again, f) for f in fields} == {f: getattr(first, f) for f in fields}
        assert past_sessions(now=NOW, store=store) == first_history
        # while as of today the later facts are seen
        today = session_plans([world.coming], now=clock.now(), store=store)[world.coming.pk]
        assert (today[0].reservations, today[0].page_views, today[0].shares) == (10, 2, 1)


def _refund_one_unit(order: Order) -> None:
    line = order.lines.get()
    refund = order_refund_request(
        order_no=order.order_no,
        reason="少送一盒",
        actor=OPERATOR,
        lines=[{"line_id": line.pk, "quantity": 1}],
    )
    refund_request_approve(refund_no=refund.refund_no, actor=OPERATOR)
    order_refund_succeeded(
        order_no=order.order_no,
        refund_no=refund.refund_no,
        amount_fen=refund.amount_fen,
        refunded_at=clock.now(),
    )


class TestForecastBacktestReport:
    def test_scores_the_model_and_the_naive_rule_on_past_sessions(
        self, frozen: None, store: EventStore
    ) -> None:
        # given two past sessions (8 and 12 units)
        world = build_world()
        # when the back-test runs
        summary = forecast_backtest_report(now=NOW, store=store)
        # then S2 is forecast from S1 alone: the model (5 + 1) × 8 / 4 = 12, the naive 8
        assert (summary.sessions, summary.lines, summary.compared) == (2, 2, 1)
        assert [s.code for s in summary.per_session] == [s.code for s in world.past]
        second = summary.per_session[1]
        assert (second.actual, second.naive) == (12, 8)
        assert second.model is not None
        assert second.model == pytest.approx(12.0, rel=0.05)
        assert summary.wape_naive == pytest.approx(4 / 12)
        assert summary.wape_model == pytest.approx(abs(second.model - 12) / 12)
        assert summary.model_beats_naive is True

    def test_the_console_reuses_the_last_result_until_another_session_ends(
        self, frozen: None, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the hourly refresh has just back-tested the two past sessions
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR)
        fits: list[int] = []
        real = forecast_services.backtest

        def counted(history: Any) -> Any:
            fits.append(len(history))
            return real(history)

        monkeypatch.setattr(forecast_services, "backtest", counted)
        # when the console asks for the back-test
        first = forecast_backtest_report()
        # then it gets the refresh's result without fitting again
        assert (first.sessions, first.compared, fits) == (2, 1, [])
        # and once S3 has ended (and settled) it is back-tested afresh
        _at(S3_STARTS)
        live_session_start(session=world.coming, actor=HOST_ACTOR)
        room_orders(world.coming, world.milk, 1, 3)
        _at(S3_STARTS + dt.timedelta(hours=1))
        live_session_end(session=world.coming, actor=HOST_ACTOR)
        _at(S3_STARTS + dt.timedelta(hours=2))
        second = forecast_backtest_report()
        assert (second.sessions, second.compared, fits) == (3, 2, [3])

    def test_says_why_with_fewer_than_two_sessions(self, frozen: None, store: EventStore) -> None:
        # given no session has ended
        build_world(past_sessions=False)
        # when the back-test runs
        summary = forecast_backtest_report(now=NOW, store=store)
        # then it has nothing to score, and says so
        assert (summary.compared, summary.mape_model, summary.wape_model) == (0, None, None)
        assert "至少要有两场已结束的直播" in summary.message


class TestSessionForecastVsActual:
    def test_compares_the_last_forecast_with_what_the_room_sold(
        self, frozen: None, store: EventStore
    ) -> None:
        # given S3 forecast before it began
        world = build_world(bj_stock=100)
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        forecast = _lines(world.coming)[world.sh.pk].live_units
        # when S3 sells 2 × 5 units, one unit is refunded, and it ends
        _at(S3_STARTS)
        live_session_start(session=world.coming, actor=HOST_ACTOR)
        orders = room_orders(world.coming, world.milk, 2, 5)
        _refund_one_unit(orders[0])
        live_session_end(session=world.coming, actor=HOST_ACTOR)
        # then forecast vs actual: 9 units sold against the session's own forecast
        detail = session_forecast_get(code=world.coming.code)
        versus = session_forecast_vs_actual(detail)
        assert versus is not None
        [line] = versus.lines
        assert (line.sku_id, line.actual_units) == (world.milk.pk, 9)
        assert line.forecast_units == pytest.approx(forecast)
        assert versus.wape == pytest.approx(abs(forecast - 9) / 9)
        assert versus.mape == pytest.approx(abs(forecast - 9) / 9)
        assert versus.chart()["actual"] == [9]

    def test_nothing_to_compare_before_the_session_ends(
        self, frozen: None, store: EventStore
    ) -> None:
        # given S3 is still to come
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when its page asks for forecast vs actual
        versus = session_forecast_vs_actual(session_forecast_get(code=world.coming.code))
        # then there is none yet
        assert versus is None


class TestForecastCalendar:
    def test_groups_coming_sessions_by_day_with_totals_and_alerts(
        self, frozen: None, store: EventStore
    ) -> None:
        # given S3 forecast with a shortage
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when the calendar is read
        calendar = forecast_calendar(now=NOW)
        # then S3 sits on 03-14 with its totals and one open alert
        assert [entry.day for entry in calendar] == [dt.date(2026, 3, 14)]
        [item] = calendar[0].sessions
        line = _lines(world.coming)[world.sh.pk]
        assert (item.code, item.open_alerts, item.skus, item.warehouses) == (
            world.coming.code,
            1,
            1,
            1,
        )
        assert item.forecast_units == pytest.approx(line.forecast_units)
        assert item.stale is False


class TestForecastsRefreshJob:
    def test_the_hourly_job_forecasts_as_the_system(self, frozen: None, store: EventStore) -> None:
        # given a coming session with history
        world = build_world()
        # when the hourly job runs
        counts = forecasts_refresh.call_local()
        # then S3 is forecast, and the system is named as who did it
        assert counts == {
            "sessions": 1,
            "forecast": 1,
            "too_little_data": 0,
            "failed": 0,
            "alerts_new": 1,
        }
        run = SessionForecastRun.objects.get(session=world.coming)
        assert (run.trigger, run.as_of) == ("intelligence.forecasts_refresh", NOW)
