"""The mass message pages of the console (list with results, composer, results page, the
moments form) and the H5 shop keeping a tracked link's code for the order."""

from __future__ import annotations

import datetime as dt
import json
import re
from collections.abc import Callable
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.outbox import outbox_relay
from freshloop.core.permissions import Role
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.models import WecomSandboxMessage
from freshloop.scrm.models import Broadcast, BroadcastClick, MomentStatus, MomentTask
from freshloop.scrm.services import BroadcastDraft, broadcast_create, broadcast_schedule
from tests.factories import make_person, make_sku, make_staff_user
from tests.live.helpers import browser_for

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai


def daytime() -> Any:
    return clock.frozen(MORNING)


def logged_in(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


def sent_broadcast(capture: Callable[..., Any], **fields: Any) -> Broadcast:
    spec: dict[str, Any] = {"title": "周末鲜果", "kind": "text", "text": "草莓买二送一～"}
    spec.update(fields)
    with capture(execute=True):
        broadcast = broadcast_create(draft=BroadcastDraft(**spec), actor=OPERATOR)
        broadcast_schedule(broadcast=broadcast, actor=OPERATOR, send_now=True)
    return Broadcast.objects.get(pk=broadcast.pk)


class TestAccess:
    def test_customer_service_gets_the_forbidden_page(self) -> None:
        client = logged_in(Role.CUSTOMER_SERVICE)
        assert client.get("/console/scrm/broadcasts/").status_code == 403
        assert client.get("/console/scrm/broadcasts/new").status_code == 403

    @pytest.mark.parametrize("role", [Role.COMMUNITY_MANAGER, Role.MARKETER, Role.ADMIN])
    def test_operators_open_the_list_and_the_composer(self, role: Role) -> None:
        client = logged_in(role)
        page = client.get("/console/scrm/broadcasts/").content.decode()
        assert 'data-testid="broadcast-empty"' in page
        assert client.get("/console/scrm/broadcasts/new").status_code == 200

    def test_the_scrm_tabs_lead_to_mass_messages(self) -> None:
        page = logged_in(Role.COMMUNITY_MANAGER).get("/console/scrm/").content.decode()
        assert 'href="/console/scrm/broadcasts/"' in page


class TestPages:
    def test_the_composer_offers_the_segments_and_the_shop_products(self) -> None:
        sku = make_sku(name="丹东草莓")
        page = logged_in(Role.MARKETER).get("/console/scrm/broadcasts/new").content.decode()
        config = json.loads(
            re.search(r'id="broadcast-config"[^>]*>(.*?)</script>', page, re.S).group(1)  # type: ignore[union-attr]
        )
        assert {"id": sku.product_id, "name": "丹东草莓"} in config["products"]
        assert config["max_text_bytes"] == 4000
        assert [kind["value"] for kind in config["kinds"]] == [
            "text",
            "image",
            "miniprogram",
            "product",
        ]

    def test_a_sent_message_shows_its_results_in_the_list_and_its_page(
        self, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        broadcast = sent_broadcast(django_capture_on_commit_callbacks)
        client = logged_in(Role.COMMUNITY_MANAGER)
        listing = client.get("/console/scrm/broadcasts/").content.decode()
        assert f'data-broadcast="{broadcast.pk}"' in listing
        assert 'data-testid="broadcast-kpis"' in listing
        page = client.get(f"/console/scrm/broadcasts/{broadcast.pk}").content.decode()
        assert 'data-testid="broadcast-chart"' in page
        assert "没有已读回执" in page
        # a sent message is not edited: its edit page leads back to the results
        edit = client.get(f"/console/scrm/broadcasts/{broadcast.pk}/edit")
        assert edit.status_code == 302
        assert client.get("/console/scrm/broadcasts/987654").status_code == 404

    def test_the_moment_form_hands_a_moment_to_wecom(self) -> None:
        client = logged_in(Role.COMMUNITY_MANAGER)
        response = client.post(
            "/console/scrm/broadcasts/",
            {"text": "今晚 8 点直播", "kind": "text", "senders": ["fl_staff_zhou"]},
        )
        assert response.status_code == 302
        moment = MomentTask.objects.get()
        assert moment.status == MomentStatus.PUBLISHED
        assert WecomSandboxMessage.objects.filter(wecom_id=moment.jobid).count() == 1

    def test_a_wrong_moment_is_shown_with_the_field_error(self) -> None:
        client = logged_in(Role.COMMUNITY_MANAGER)
        response = client.post("/console/scrm/broadcasts/", {"text": "", "kind": "link"})
        assert response.status_code == 422
        page = response.content.decode()
        assert "请填写链接标题" in page
        assert not MomentTask.objects.exists()


class TestTrackedLink:
    def test_the_product_page_counts_the_click_and_checkout_carries_the_code(
        self, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        sku = make_sku(stock=5)
        broadcast = sent_broadcast(
            django_capture_on_commit_callbacks, kind="product", product_id=sku.product_id
        )
        browser, _ = browser_for(make_person())
        # when the shopper opens the link of the message
        page = browser.get(f"/m/products/{sku.product_id}?src=bc-{broadcast.pk}")
        assert page.status_code == 200
        assert page.cookies["fl_src"].value == f"bc-{broadcast.pk}"
        assert BroadcastClick.objects.filter(broadcast=broadcast).count() == 1
        # then checkout sends the code with the order
        checkout = browser.get(f"/m/checkout?sku={sku.pk}").content.decode()
        assert f"const sourceRef = 'bc\\u002D{broadcast.pk}';" in checkout  # escapejs

    def test_a_malformed_code_is_ignored(self) -> None:
        sku = make_sku()
        page = Client().get(f"/m/products/{sku.product_id}?src=<script>")
        assert page.status_code == 200
        assert "fl_src" not in page.cookies


class TestSandboxPhone:
    def test_the_phone_shows_a_mass_message_with_its_picture_and_label(
        self, django_capture_on_commit_callbacks: Callable[..., Any]
    ) -> None:
        # given 王阿姨 as a contact and a picture sent to every WeCom contact
        with django_capture_on_commit_callbacks(execute=True):
            publish(
                WecomContactChanged(
                    corp_id="ww_sandbox_corp",
                    change_type="add_external_contact",
                    staff_userid="fl_staff_lin",
                    external_userid="wm_sandbox_0001",
                    wecom_time=1_700_000_000,
                    event_key="add:wm_sandbox_0001",
                )
            )
        with daytime():
            sent_broadcast(
                django_capture_on_commit_callbacks,
                kind="image",
                text="新到的草莓",
                image_url="https://img.example.com/berry.jpg",
            )
            outbox_relay()
        # when her phone is opened
        page = (
            logged_in(Role.COMMUNITY_MANAGER)
            .get("/console/scrm/sandbox/wm_sandbox_0001?part=messages")
            .content.decode()
        )
        # then the message is there, labelled, with its picture drawn
        assert "新到的草莓" in page
        assert "企业群发" in page
        assert '<img src="https://img.example.com/berry.jpg"' in page
