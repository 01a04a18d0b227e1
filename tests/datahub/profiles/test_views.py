"""The profile console pages: people search, the profile page, manual tags from the page.
Figures are proven in the selector tests; these prove the pages render what the selectors
return, to whom, and that bad input is answered, not crashed on."""

from __future__ import annotations

import datetime as dt

import pytest
from django.contrib.auth.models import User
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.clock import SHANGHAI
from freshloop.core.models import AuditLog
from freshloop.core.outbox import sms_payload
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.models import ManualTag
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.messaging.services import marketing_opt_out, marketing_send
from tests.datahub.helpers import console_client, paid_buyer
from tests.factories import make_person

pytestmark = pytest.mark.django_db

OPERATOR = Actor.system("tests")


@pytest.fixture
def customer_service() -> Client:
    return console_client(Role.CUSTOMER_SERVICE, username="cs")


class TestPeopleSearch:
    def test_a_full_phone_number_leads_straight_to_the_profile(
        self, store: EventStore, customer_service: Client
    ) -> None:
        person = make_person(phone="13800138000")

        response = customer_service.get("/console/data/people/", {"q": "13800138000"})

        assert response.status_code == 302
        assert response["Location"] == f"/console/data/people/{person.one_id}"

    def test_no_match_says_so(self, store: EventStore, customer_service: Client) -> None:
        make_person(phone="13800138000")

        response = customer_service.get("/console/data/people/", {"q": "nobody@example.com"})

        assert response.status_code == 200
        assert "没有找到匹配的用户" in response.content.decode()

    def test_without_a_term_it_lists_recent_people_with_masked_phones(
        self, store: EventStore, customer_service: Client
    ) -> None:
        person = make_person(phone="13800138000")

        page = customer_service.get("/console/data/people/").content.decode()

        assert person.one_id in page
        assert "13800138000" not in page
        assert "138****8000" in page

    def test_without_a_term_it_ranks_the_top_spenders(
        self, store: EventStore, customer_service: Client
    ) -> None:
        small = paid_buyer(store, phone="13800138001", amount_fen=1_000)
        big = paid_buyer(store, phone="13800138002", amount_fen=9_000)
        browser = make_person(phone="13800138003")

        page = customer_service.get("/console/data/people/").content.decode()

        top = page.split('data-testid="people-top"', 1)[1].split("</table>", 1)[0]
        assert top.index(big.one_id) < top.index(small.one_id)
        assert browser.one_id not in top

    def test_a_consumer_account_is_refused(self, store: EventStore) -> None:
        client = Client()
        client.force_login(User.objects.create_user(username="shopper", password="x-1234"))

        assert client.get("/console/data/people/").status_code == 403


class TestPersonPage:
    def test_shows_the_sections_of_the_profile(
        self, store: EventStore, customer_service: Client
    ) -> None:
        person = paid_buyer(store)

        response = customer_service.get(f"/console/data/people/{person.one_id}")

        page = response.content.decode()
        assert response.status_code == 200
        for section in (
            "profile-identifiers",
            "profile-tags",
            "profile-orders",
            "profile-live",
            "profile-coupons",
            "profile-timeline",
            "profile-predictions",
        ):
            assert f'data-testid="{section}"' in page, section
        assert "支付成功" in page  # the paid order on the timeline
        assert "新客" in page  # the computed lifecycle tag: first order 10 days ago
        assert "还没有预测" in page  # no model has scored this person yet
        assert "13800138000" not in page

    def test_lists_each_message_with_its_decision_and_reason(
        self, store: EventStore, customer_service: Client
    ) -> None:
        # given a customer sent a promotion by journey 12 at 10:00, one at 23:00 (quiet
        # hours), and who then opted out of WeCom marketing
        person = paid_buyer(store)
        for hour, key in ((10, "morning"), (23, "night")):
            with clock.frozen(dt.datetime(2026, 3, 2, hour, tzinfo=SHANGHAI)):
                marketing_send(
                    person_id=person.pk,
                    channel="sms",
                    payload=sms_payload("spring_promo", {"name": "春笋"}),
                    purpose="spring_promo",
                    source="journey:12:step:3",
                    dedupe_key=f"profile-test:{key}",
                )
        marketing_opt_out(person_id=person.pk, channel="wecom", actor=OPERATOR, source="staff")

        # when customer service opens the profile
        page = customer_service.get(f"/console/data/people/{person.one_id}").content.decode()

        # then both messages are there, each with why
        assert 'data-testid="profile-messages"' in page
        assert "由旅程 12 第 3 步发送" in page
        assert "暂缓" in page
        assert "08:00" in page
        assert "已退订：企业微信" in page

    def test_a_merged_away_one_id_redirects_to_the_survivor(
        self, store: EventStore, customer_service: Client
    ) -> None:
        first = identify(
            identifiers=[IdentifierInput(type="device_id", value="dev-1")], source="test"
        )
        second = identify(
            identifiers=[IdentifierInput(type="phone", value="13900139000", verified=True)],
            source="test",
        )
        merged = identify(
            identifiers=[
                IdentifierInput(type="device_id", value="dev-1"),
                IdentifierInput(type="phone", value="13900139000", verified=True),
            ],
            source="test",
        )
        survivor = merged.person.one_id
        (gone,) = merged.merged_from
        assert {gone, survivor} == {first.person.one_id, second.person.one_id}

        response = customer_service.get(f"/console/data/people/{gone}")

        assert response.status_code == 302
        assert response["Location"] == f"/console/data/people/{survivor}"

    def test_an_unknown_one_id_is_a_404(self, store: EventStore, customer_service: Client) -> None:
        assert customer_service.get("/console/data/people/P_NOPE").status_code == 404

    def test_a_page_number_that_is_not_a_number_shows_the_first_page(
        self, store: EventStore, customer_service: Client
    ) -> None:
        person = paid_buyer(store)

        response = customer_service.get(f"/console/data/people/{person.one_id}", {"page": "x"})

        assert response.status_code == 200
        assert "第 1 / 1 页" in response.content.decode()


class TestManualTagForms:
    def test_adding_a_tag_shows_it_and_audits_it(
        self, store: EventStore, customer_service: Client
    ) -> None:
        person = make_person()

        response = customer_service.post(
            f"/console/data/people/{person.one_id}/tags", {"tag": " 高价值宝妈 "}, follow=True
        )

        page = response.content.decode()
        assert "已添加标签“高价值宝妈”" in page
        assert list(ManualTag.objects.filter(person=person).values_list("tag", flat=True)) == [
            "高价值宝妈"
        ]
        assert AuditLog.objects.filter(action="datahub.manual_tag_add").count() == 1

    def test_a_too_long_tag_is_refused_with_a_message(
        self, store: EventStore, customer_service: Client
    ) -> None:
        person = make_person()

        response = customer_service.post(
            f"/console/data/people/{person.one_id}/tags", {"tag": "长" * 40}, follow=True
        )

        assert response.status_code == 200
        assert "标签不能超过 32 个字" in response.content.decode()
        assert not ManualTag.objects.exists()

    def test_removing_a_tag(self, store: EventStore, customer_service: Client) -> None:
        person = make_person()
        manual_tag_add(person=person, tag="VIP", actor=OPERATOR)

        response = customer_service.post(
            f"/console/data/people/{person.one_id}/tags/remove", {"tag": "VIP"}, follow=True
        )

        assert "已移除标签“VIP”" in response.content.decode()
        assert not ManualTag.objects.exists()

    def test_a_get_is_not_allowed(self, store: EventStore, customer_service: Client) -> None:
        person = make_person()

        assert customer_service.get(f"/console/data/people/{person.one_id}/tags").status_code == 405

    def test_an_unknown_person_is_a_404(self, store: EventStore, customer_service: Client) -> None:
        response = customer_service.post("/console/data/people/P_NOPE/tags", {"tag": "VIP"})

        assert response.status_code == 404
