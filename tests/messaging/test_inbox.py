"""The in-app channel: a transactional notice is delivered into the person's inbox and shown
on /m/messages — to that person only."""

from __future__ import annotations

import pytest

from freshloop.core.models import OutboxStatus
from freshloop.core.outbox import outbox_relay
from freshloop.messaging.models import DispatchStatus, MarketingDispatch
from freshloop.messaging.selectors import inbox_for_person
from freshloop.messaging.services import transactional_send
from tests.factories import make_person
from tests.web.test_shop_views import browser_for

pytestmark = pytest.mark.django_db


def _notice(person_id: int, key: str = "n-1") -> MarketingDispatch:
    return transactional_send(
        person_id=person_id,
        channel="in_app",
        payload={"title": "售后处理通知", "body": "已为您自动退款 ¥25.90", "order_no": "FL1"},
        purpose="aftersales_decision",
        source="order:FL1",
        dedupe_key=key,
    )


class TestInAppDelivery:
    def test_a_notice_is_delivered_into_the_inbox(self) -> None:
        # given an in-app notice queued for a buyer
        buyer = make_person()
        dispatch = _notice(buyer.pk)
        # when the outbox relay runs
        outbox_relay()
        # then it was delivered (no provider to fail) and the dispatch is sent
        dispatch.refresh_from_db()
        assert dispatch.status == DispatchStatus.SENT
        assert dispatch.outbox_message is not None
        dispatch.outbox_message.refresh_from_db()
        assert dispatch.outbox_message.status == OutboxStatus.SENT
        # and the inbox lists it with a link to the order
        [message] = inbox_for_person(person_id=buyer.pk)
        assert (message.title, message.body, message.url) == (
            "售后处理通知",
            "已为您自动退款 ¥25.90",
            "/m/orders/FL1",
        )

    def test_an_undelivered_notice_is_not_in_the_inbox_yet(self) -> None:
        buyer = make_person()
        _notice(buyer.pk)
        assert inbox_for_person(person_id=buyer.pk) == []


class TestMessagesPage:
    def test_shows_own_messages_only(self) -> None:
        # given two buyers, one with a delivered notice
        buyer, other = make_person(), make_person()
        _notice(buyer.pk)
        outbox_relay()
        # when each opens their messages page
        own = browser_for(buyer).get("/m/messages").content.decode()
        theirs = browser_for(other).get("/m/messages").content.decode()
        # then only the addressee sees it
        assert "已为您自动退款 ¥25.90" in own
        assert "已为您自动退款" not in theirs
        assert "还没有消息" in theirs
