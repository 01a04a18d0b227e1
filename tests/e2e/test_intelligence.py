"""A marketer reads the model registry, one model's curves and a customer's predictions — in a
real browser against the real server, on a synthetic brand trained through the services."""

from __future__ import annotations

import datetime as dt
import os
import re
import tempfile
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from playwright.sync_api import Page, expect

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.predictions.selectors import person_predictions_get
from freshloop.intelligence.services import models_retrain
from tests.factories import make_person, make_staff_user
from tests.intelligence.helpers import load_brand

pytestmark = pytest.mark.django_db(transaction=True)

SCREENS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
NOW = dt.datetime(2026, 11, 30, 16, 0, tzinfo=dt.UTC)


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
    return EventStore(settings.DATAHUB_STORE_PATH)


def _login(page: Page, base: str) -> None:
    page.goto(f"{base}/console/login/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", "pass-1234")
    page.click("button[type=submit]")
    expect(page).to_have_url(re.compile(re.escape(f"{base}/console/data/")))


class TestIntelligenceInTheBrowser:
    def test_registry_model_curves_and_a_profile(
        self, page: Page, live_server: Any, store: EventStore, console_errors: list[str]
    ) -> None:
        # given 400 customers with five months of behaviour, and every model trained on it
        people = [make_person() for _ in range(400)]
        load_brand(store, people=len(people), now=NOW, person_ids=np.array([p.pk for p in people]))
        outcomes = models_retrain(actor=Actor.system("tests"), now=NOW, store=store)
        assert {outcome.kind: outcome.version for outcome in outcomes} == {
            "churn": 1,
            "propensity": 1,
            "clv": 1,
            "contact_hour": 1,
        }
        make_staff_user("marketer", Role.MARKETER)
        base = live_server.url
        page.set_viewport_size({"width": 1400, "height": 900})
        _login(page, base)
        SCREENS.mkdir(parents=True, exist_ok=True)

        # The registry: every kind in use, with its held-out figures and the score charts.
        page.click("[data-testid=nav-intelligence]")
        expect(page).to_have_url(f"{base}/console/intelligence/")
        for kind in ("churn", "propensity", "clv", "contact_hour"):
            expect(page.locator(f"[data-testid=model-{kind}]")).to_contain_text("使用中")
        expect(page.locator("[data-testid=model-churn]")).to_contain_text("AUC")
        expect(page.locator("[data-chart=scores]")).to_have_attribute("data-drawn", "true")
        expect(page.locator("[data-testid=runs] tbody tr")).to_have_count(4)
        page.screenshot(path=str(SCREENS / "console-intelligence.png"), full_page=True)

        # One model: ROC, PR, reliability and importance drawn from the registry's curves.
        page.click("[data-testid=model-link-churn]")
        expect(page).to_have_url(f"{base}/console/intelligence/models/churn/1")
        for chart in ("roc", "pr", "reliability", "importance"):
            expect(page.locator(f"[data-chart={chart}]")).to_have_attribute("data-drawn", "true")
        expect(page.locator("[data-chart=roc] canvas")).to_have_count(1)
        page.screenshot(path=str(SCREENS / "console-intelligence-model.png"), full_page=True)

        # A customer's profile: scores, their top reasons and the 24-hour bar.
        scored = next(
            person
            for person in people
            if (found := person_predictions_get(person_id=person.pk, store=store))
            and found.get("churn_risk") is not None
            and found.get("clv_fen") is not None
        )
        page.goto(f"{base}/console/data/people/{scored.one_id}")
        panel = page.locator("[data-testid=profile-predictions]")
        expect(panel).to_contain_text("流失风险")
        expect(panel).to_contain_text("预计一年价值")
        expect(panel).to_contain_text("最佳触达时段")
        expect(panel.locator("[data-testid=prediction-reasons]").first).to_contain_text(
            re.compile("(↑ 推高|↓ 拉低)")
        )
        expect(panel.locator("[data-testid=contact-hours] .hour")).to_have_count(24)
        panel.screenshot(path=str(SCREENS / "console-profile-predictions.png"))
        assert console_errors == []
