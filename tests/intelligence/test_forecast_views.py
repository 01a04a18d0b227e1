"""The live-heat demand forecast pages (DH-8): who may see them, what they show, the 重新预测
button, and pages that never fail for want of data."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest
from django.core.cache import cache
from django.test import Client

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.errors import EventStoreBusy
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.intelligence.forecasting import views as forecast_views
from freshloop.intelligence.forecasting.services import session_forecasts_refresh
from freshloop.intelligence.models import ForecastOutcome, SessionForecastRun
from freshloop.live.host.services import live_session_end, live_session_start
from tests.factories import make_staff_user
from tests.intelligence.test_forecast_services import (
    NOW,
    OPERATOR,
    S3_STARTS,
    World,
    build_world,
    room_orders,
    shanghai,
)
from tests.live.helpers import HOST_ACTOR

pytestmark = pytest.mark.django_db

CALENDAR = "/console/intelligence/forecasts/"
REFRESH = "/console/intelligence/forecasts/refresh"


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


def browser(*roles: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(f"staff-{'-'.join(roles) or 'none'}", *roles))
    return client


def page(world: World) -> str:
    return f"{CALENDAR}{world.coming.code}"


class TestForecastsPage:
    def test_shows_the_calendar_alerts_and_backtest_to_a_marketer(
        self, frozen: None, store: EventStore
    ) -> None:
        # given S3 forecast with a shortage, two past sessions to back-test
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when a marketer opens the forecasts page
        response = browser(Role.MARKETER).get(CALENDAR)
        # then the calendar lists S3 on its day with its alert, and the back-test metrics
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="forecast-calendar"' in html
        assert "3月14日 周六" in html
        assert f'data-testid="calendar-session-{world.coming.code}"' in html
        assert "1 条，缺" in html
        assert "模型 WAPE" in html
        assert "朴素 WAPE" in html
        assert 'id="fc-calendar-chart"' in html
        assert 'id="fc-backtest-chart"' in html
        assert "vendor/echarts/echarts.min.js" in html
        charts = response.context["charts"]
        assert charts["calendar"]["alerts"][2] == 1  # today, tomorrow, then 03-14
        assert [round(v) for v in charts["backtest"]["actual"]] == [8, 12]

    def test_too_little_history_is_explained_not_a_500(
        self, frozen: None, store: EventStore
    ) -> None:
        # given no session has ended, and the refresh recorded why it could not forecast
        world = build_world(past_sessions=False)
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when supply chain opens the calendar and the session
        client = browser(Role.SUPPLY_CHAIN)
        calendar = client.get(CALENDAR)
        detail = client.get(page(world))
        # then both pages say why there is no forecast
        assert (calendar.status_code, detail.status_code) == (200, 200)
        assert "还没有任何更早的直播场次" in calendar.content.decode()
        assert "至少要有两场已结束的直播" in calendar.content.decode()
        assert "还没有任何更早的直播场次" in detail.content.decode()
        assert 'data-testid="forecast-lines"' not in detail.content.decode()

    def test_a_busy_event_store_costs_the_backtest_panel_not_the_page(
        self, frozen: None, store: EventStore, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given S3 forecast, and an event store that stays locked
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR, now=NOW)

        def busy(**_: object) -> None:
            raise EventStoreBusy()

        monkeypatch.setattr(forecast_views, "forecast_backtest_report", busy)
        # when the forecasts page is opened
        response = browser(Role.SUPPLY_CHAIN).get(CALENDAR)
        # then the calendar is there, and the back-test panel says why it is not
        assert response.status_code == 200
        html = response.content.decode()
        assert f'data-testid="calendar-session-{world.coming.code}"' in html
        assert "回测暂时无法计算：事件库正忙，请稍后重试" in html

    def test_customer_service_is_refused(self, frozen: None, store: EventStore) -> None:
        # given a customer service agent
        client = browser(Role.CUSTOMER_SERVICE)
        # when they open the forecasts page
        response = client.get(CALENDAR)
        # then the console's 403 page
        assert response.status_code == 403

    def test_anonymous_visitors_are_sent_to_log_in(self, frozen: None, store: EventStore) -> None:
        # when someone not logged in opens the page
        response = Client().get(CALENDAR)
        # then the console login
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")


class TestForecastSessionPage:
    def test_shows_each_sku_and_warehouse_with_the_alert_and_its_transfer(
        self, frozen: None, store: EventStore
    ) -> None:
        # given S3 short at sh, bj holding a surplus
        world = build_world(bj_stock=100)
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        # when supply chain opens S3
        response = browser(Role.SUPPLY_CHAIN).get(page(world))
        # then the line at sh, the alert with its transfer from bj, and the inputs
        assert response.status_code == 200
        html = response.content.decode()
        assert f'data-testid="line-{world.milk.pk}-{world.sh.pk}"' in html
        assert f'data-testid="alert-{world.milk.pk}-{world.sh.pk}"' in html
        assert "从 北京仓 调" in html
        assert 'data-testid="forecast-inputs"' in html
        assert 'data-testid="forecast-vs-actual"' not in html  # not on air yet

    def test_after_the_session_shows_forecast_against_actual(
        self, frozen: None, store: EventStore
    ) -> None:
        # given S3 forecast, then on air selling 7 units, then ended
        world = build_world()
        session_forecasts_refresh(actor=OPERATOR, now=NOW)
        clock.advance(S3_STARTS - clock.now())
        live_session_start(session=world.coming, actor=HOST_ACTOR)
        room_orders(world.coming, world.milk, 1, 7)
        clock.advance(dt.timedelta(hours=1))
        live_session_end(session=world.coming, actor=HOST_ACTOR)
        # when a marketer opens S3
        response = browser(Role.MARKETER).get(page(world))
        # then forecast vs actual per SKU, with a grouped bar chart
        assert response.status_code == 200
        html = response.content.decode()
        assert 'data-testid="forecast-vs-actual"' in html
        assert 'id="fc-versus-chart"' in html
        assert response.context["chart"]["actual"] == [7]
        assert response.context["versus"].lines[0].forecast_units is not None

    def test_an_unknown_session_is_a_404_page(self, frozen: None, store: EventStore) -> None:
        # when a made-up session code is opened
        response = browser(Role.MARKETER).get(f"{CALENDAR}L_nope")
        # then not found
        assert response.status_code == 404

    def test_customer_service_is_refused(self, frozen: None, store: EventStore) -> None:
        # given a session
        world = build_world(past_sessions=False)
        # when customer service opens it
        response = browser(Role.CUSTOMER_SERVICE).get(page(world))
        # then 403
        assert response.status_code == 403


class TestForecastsRefreshRequest:
    def test_runs_the_refresh_and_comes_back_with_what_it_did(
        self, frozen: None, store: EventStore
    ) -> None:
        # given a coming session and history
        world = build_world()
        client = browser(Role.SUPPLY_CHAIN)
        # when 重新预测 is pressed on the session's page
        response = client.post(REFRESH, {"next": page(world)}, follow=True)
        # then S3 is forecast, audited, and the page says so
        assert response.redirect_chain == [(page(world), 302)]
        run = SessionForecastRun.objects.get(session=world.coming)
        assert run.outcome == ForecastOutcome.FORECAST
        assert run.trigger == "staff-supply_chain"
        assert AuditLog.objects.filter(action="intelligence.session_forecast").exists()
        assert "已重新预测：共 1 场，已预测 1 场，新增缺货预警 1 条" in response.content.decode()

    def test_never_sends_anyone_elsewhere(self, frozen: None, store: EventStore) -> None:
        # when the form's return address points off the console
        response = browser(Role.MARKETER).post(REFRESH, {"next": "https://evil.example/"})
        # then back to the calendar
        assert (response.status_code, response["Location"]) == (302, CALENDAR)

    def test_needs_a_post_with_a_csrf_token(self, frozen: None, store: EventStore) -> None:
        # given a browser that checks CSRF like a real one
        client = Client(enforce_csrf_checks=True)
        client.force_login(make_staff_user("csrf-checked", Role.SUPPLY_CHAIN))
        # when it posts without the token, or asks with GET
        posted = client.post(REFRESH)
        fetched = client.get(REFRESH)
        # then refused, and nothing ran
        assert (posted.status_code, fetched.status_code) == (403, 405)
        assert not SessionForecastRun.objects.exists()

    def test_customer_service_cannot_refresh(self, frozen: None, store: EventStore) -> None:
        # when customer service presses the button
        response = browser(Role.CUSTOMER_SERVICE).post(REFRESH)
        # then 403, nothing ran
        assert response.status_code == 403
        assert not SessionForecastRun.objects.exists()
