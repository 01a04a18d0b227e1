"""Supply chain reads the live-heat forecast and its stock alert; a marketer reads the message
budget simulation and one customer's plan — in a real browser against the real server."""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from django.core.cache import cache
from playwright.sync_api import Page, expect

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.predictions.services import person_predictions_write
from freshloop.intelligence.forecasting.services import session_forecasts_refresh
from tests.factories import make_person, make_staff_user
from tests.intelligence.test_budget_views import THURSDAY_10, members
from tests.intelligence.test_forecast_services import NOW, build_world, shanghai

pytestmark = pytest.mark.django_db(transaction=True)

SCREENS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
    return EventStore(settings.DATAHUB_STORE_PATH)


def _login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    expect(page).not_to_have_url(re.compile(r"/console/login/"))


class TestForecastInTheBrowser:
    def test_calendar_session_and_its_stock_alert(
        self, page: Page, live_server: Any, store: EventStore, console_errors: list[str]
    ) -> None:
        cache.clear()
        # given two past sessions, a coming one with reservations, too little stock in 上海仓
        # and a surplus in 北京仓, forecast by the hourly job (the clock held at NOW)
        with clock.frozen(shanghai("2026-03-01", 9)):
            world = build_world(bj_stock=100)
            report = session_forecasts_refresh(actor=Actor.system("tests"), now=NOW)
            assert report.count("forecast") == 1
            make_staff_user("supply_chain", Role.SUPPLY_CHAIN)
            base = live_server.url
            page.set_viewport_size({"width": 1400, "height": 900})
            _login(page, base, "supply_chain")
            SCREENS.mkdir(parents=True, exist_ok=True)

            # the calendar lists the coming session with its forecast and alert
            page.goto(f"{base}/console/intelligence/forecasts/")
            calendar = page.locator("[data-testid=forecast-calendar]")
            expect(calendar).to_contain_text("周六会员直播")
            expect(page.locator("[data-testid=chart-calendar] canvas")).to_have_count(1)
            page.screenshot(
                path=str(SCREENS / "console-intelligence-forecasts.png"), full_page=True
            )

            # the session: a line per warehouse, and the alert suggests a transfer from 北京仓
            page.goto(f"{base}/console/intelligence/forecasts/{world.coming.code}")
            expect(page.locator("[data-testid=forecast-lines]")).to_contain_text("鲜牛奶")
            expect(page.locator("[data-testid=alerts]")).to_contain_text("调拨")
            page.screenshot(
                path=str(SCREENS / "console-intelligence-forecast-session.png"), full_page=True
            )
        cache.clear()
        assert console_errors == []


class TestBudgetInTheBrowser:
    def test_simulation_and_one_customers_plan(
        self, page: Page, live_server: Any, store: EventStore, console_errors: list[str]
    ) -> None:
        # given ten members in two segments, six of them scored and answering at 20:00
        people = [make_person() for _ in range(10)]
        shares = [0.01] * 24
        shares[20] = 0.77
        ids = pa.array([person.pk for person in people[:6]], pa.int64())
        person_predictions_write(
            kind="propensity",
            scores=pa.table(
                {
                    "person_id": ids,
                    "purchase_propensity": pa.array([0.3] * 6),
                    "propensity_reasons": pa.array(["[]"] * 6),
                    "propensity_version": pa.array([1] * 6, pa.int32()),
                }
            ),
            store=store,
        )
        person_predictions_write(
            kind="contact_hour",
            scores=pa.table(
                {
                    "person_id": ids,
                    "best_contact_hour": pa.array([20] * 6, pa.int8()),
                    "contact_hours": pa.array([shares] * 6, pa.list_(pa.float64())),
                    "contact_events": pa.array([9] * 6, pa.int32()),
                    "contact_hour_version": pa.array([1] * 6, pa.int32()),
                }
            ),
            store=store,
        )
        with clock.frozen(THURSDAY_10):
            members(people, "全部会员")
            members(people[:4], "老客")
            make_staff_user("marketer", Role.MARKETER)
            base = live_server.url
            page.set_viewport_size({"width": 1400, "height": 900})
            _login(page, base, "marketer")
            # when the marketer opens 群发预算 and looks one customer up
            page.goto(f"{base}/console/intelligence/budget/")
            expect(page.locator("[data-testid=budget-simulated]")).to_be_visible()
            expect(page.locator("[data-testid=budget-kpis]")).to_contain_text("%")
            expect(page.locator("[data-testid=budget-hour-chart] canvas")).to_have_count(1)
            page.fill("[data-testid=budget-one-id]", people[0].one_id)
            page.locator("[data-testid=budget-lookup] button").click()
            # then the plan for that customer is explained in Chinese, at their best hour
            expect(page.locator("[data-testid=budget-explanation]")).to_contain_text("20:00")
            page.screenshot(path=str(SCREENS / "console-intelligence-budget.png"), full_page=True)
        assert console_errors == []
