"""The message budget page of the intelligence console (/console/intelligence/budget/): a
clearly labelled simulation over the current predictions and the largest segments, the plan
against everyone-at-10:00 with its charts, and a OneID lookup explaining one customer."""

from __future__ import annotations

import datetime as dt
import json
import re

import pyarrow as pa
import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.predictions.services import person_predictions_write
from freshloop.datahub.segments.services import segment_save_and_materialise
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import Person
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db

URL = "/console/intelligence/budget/"
OPERATOR = Actor(type="user", id="3", label="运营小周")
THURSDAY_10 = dt.datetime(2026, 12, 3, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def logged_in(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


def members(people: list[Person], name: str) -> None:
    for person in people:
        manual_tag_add(person=person, tag=name, actor=OPERATOR)
    definition = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": name}]}
    segment_save_and_materialise(name=name, definition=definition, actor=OPERATOR)


@pytest.fixture
def brand(store: EventStore) -> list[Person]:
    """Ten customers in two segments, six of them scored, answering at 20:00."""
    people = [make_person() for _ in range(10)]
    scored = people[:6]
    shares = [0.01] * 24
    shares[20] = 0.77
    ids = pa.array([p.pk for p in scored], pa.int64())
    person_predictions_write(
        kind="propensity",
        scores=pa.table(
            {
                "person_id": ids,
                "purchase_propensity": pa.array([0.3] * len(scored)),
                "propensity_reasons": pa.array(["[]"] * len(scored)),
                "propensity_version": pa.array([1] * len(scored), pa.int32()),
            }
        ),
        store=store,
    )
    person_predictions_write(
        kind="contact_hour",
        scores=pa.table(
            {
                "person_id": ids,
                "best_contact_hour": pa.array([20] * len(scored), pa.int8()),
                "contact_hours": pa.array([shares] * len(scored), pa.list_(pa.float64())),
                "contact_events": pa.array([9] * len(scored), pa.int32()),
                "contact_hour_version": pa.array([1] * len(scored), pa.int32()),
            }
        ),
        store=store,
    )
    members(people, "全部会员")
    members(people[:4], "老客")
    return people


def page(client: Client, **query: str) -> str:
    with clock.frozen(THURSDAY_10):
        response = client.get(URL, query)
    assert response.status_code == 200
    return response.content.decode()


class TestAccess:
    def test_marketers_open_the_page(self, store: EventStore) -> None:
        assert logged_in(Role.MARKETER).get(URL).status_code == 200

    def test_customer_service_is_forbidden(self, store: EventStore) -> None:
        assert logged_in(Role.CUSTOMER_SERVICE).get(URL).status_code == 403

    def test_anonymous_visitors_go_to_the_login(self) -> None:
        response = Client().get(URL)
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")


class TestBudgetPage:
    def test_the_simulation_compares_the_plan_with_everyone_at_ten(
        self, brand: list[Person]
    ) -> None:
        html = page(logged_in(Role.MARKETER))
        # labelled as a simulation, with a way to the real plans
        assert 'data-testid="budget-simulated"' in html
        assert "模拟" in html
        assert 'href="/console/scrm/broadcasts/smart/"' in html
        # KPIs, the rules, both charts and their data
        for testid in ("budget-kpis", "budget-rules", "budget-staff-chart", "budget-hour-chart"):
            assert f'data-testid="{testid}"' in html
        assert "vendor/echarts/echarts.min.js" in html
        report = json.loads(
            re.search(r'id="budget-report"[^>]*>(.*?)</script>', html, re.S).group(1)  # type: ignore[union-attr]
        )
        assert report["day_labels"][0] == "12月4日 周五"
        assert [c["name"] for c in report["campaigns"]] == ["模拟①·全部会员", "模拟②·老客"]
        # the scored customers answer at 20:00: the plan sends there, the baseline at 10:00
        assert report["hour_chart"]["plan"][20] > 0
        assert report["hour_chart"]["baseline"][10] == report["baseline"]["messages"]
        assert report["plan"]["value_fen"] >= report["baseline"]["value_fen"]
        assert report["upper_bound_fen"] >= report["plan"]["value_fen"]

    def test_no_segment_means_nothing_to_simulate(self, store: EventStore) -> None:
        html = page(logged_in(Role.MARKETER))
        assert 'data-testid="budget-empty"' in html
        assert 'data-testid="budget-kpis"' not in html

    def test_a_customers_plan_is_explained(self, brand: list[Person]) -> None:
        html = page(logged_in(Role.MARKETER), one_id=brand[0].one_id)
        assert 'data-testid="budget-explanation"' in html
        assert "购买倾向 30.0%（模型评分）" in html
        assert "20:00 发送「模拟①·全部会员」" in html
        assert "按固定时间 10 点发送" in html

    @pytest.mark.parametrize("one_id", ["P-nobody", "x" * 300, "'; DROP TABLE x"])
    def test_an_unknown_one_id_gets_a_clear_message(self, brand: list[Person], one_id: str) -> None:
        html = page(logged_in(Role.MARKETER), one_id=one_id)
        assert 'data-testid="budget-lookup-error"' in html
        assert "找不到这个 OneID 对应的客户" in html
        assert 'data-testid="budget-explanation"' not in html

    def test_someone_outside_the_simulated_segments_is_told_so(self, brand: list[Person]) -> None:
        outsider = make_person()
        html = page(logged_in(Role.MARKETER), one_id=outsider.one_id)
        assert "不在本次模拟的人群中" in html
