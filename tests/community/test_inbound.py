"""POST /api/v1/community/inbound/messages: the signed door a 会话存档 relay posts group
messages through — signature, clock window, replays, and bad input refused with a 4xx."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.community.inbound import MAX_BODY_BYTES, inbound_signature
from freshloop.community.models import AssistantReply, GroupMessage
from freshloop.core import clock
from freshloop.identity.services import IdentifierInput, identify
from freshloop.messaging.wecom import SandboxWecomClient
from tests.community.helpers import CHAT, SECRET, make_rule, message, signed_post, use_community

pytestmark = pytest.mark.django_db


@pytest.fixture(autouse=True)
def secret(settings: Any) -> None:
    use_community(settings, inbound_secret=SECRET)


def error(response: Any, status: int, code: str) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = response.json()
    assert body["code"] == code
    return body


class TestInboundSignature:
    def test_a_signed_batch_is_stored(self, client: Client) -> None:
        # given two messages of a group, signed with the shared secret
        batch = {"messages": [message("早上好"), message("今天有鲜奶吗")]}
        # when the relay posts them
        response = signed_post(client, batch)
        # then both are kept, with the group, sender and text
        assert response.status_code == 200, response.content
        assert response.json() == {
            "received": 2,
            "stored": 2,
            "duplicates": 0,
            "replies_prepared": 0,
        }
        texts = sorted(GroupMessage.objects.filter(chat_id=CHAT).values_list("text", flat=True))
        assert texts == ["今天有鲜奶吗", "早上好"]

    def test_the_signature_matches_an_independent_hmac(self) -> None:
        # given the documented recipe: HMAC-SHA256(secret, "<timestamp>." + body), hex
        import hashlib
        import hmac

        body = b'{"messages":[]}'
        expected = hmac.new(b"k", b"1700000000." + body, hashlib.sha256).hexdigest()
        # then the helper the relay docs describe produces the same header value
        assert inbound_signature(secret="k", timestamp="1700000000", body=body) == (
            "sha256=" + expected
        )

    def test_another_secret_is_refused_with_401(self, client: Client) -> None:
        response = signed_post(client, {"messages": [message()]}, secret="not-the-secret")
        error(response, 401, "community_inbound_signature_invalid")
        assert not GroupMessage.objects.exists()

    def test_a_missing_signature_is_refused(self, client: Client) -> None:
        response = signed_post(client, {"messages": [message()]}, signature="")
        error(response, 401, "community_inbound_signature_invalid")

    def test_a_body_changed_after_signing_is_refused(self, client: Client) -> None:
        # given a signature over one body, sent with another
        stamp = str(int(clock.now().timestamp()))
        signed = json.dumps({"messages": [message("原文")]}, ensure_ascii=False).encode()
        header = inbound_signature(secret=SECRET, timestamp=stamp, body=signed)
        changed = signed.replace("原文".encode(), "改过".encode())
        assert changed != signed
        response = signed_post(client, changed, timestamp=int(stamp), signature=header)
        error(response, 401, "community_inbound_signature_invalid")

    @pytest.mark.parametrize("skew", [-301, 301, 86_400])
    def test_a_timestamp_outside_the_window_is_refused(self, client: Client, skew: int) -> None:
        stamp = int(clock.now().timestamp()) + skew
        response = signed_post(client, {"messages": [message()]}, timestamp=stamp)
        body = error(response, 401, "community_inbound_timestamp_invalid")
        assert body["detail"]["allowed"] == 300

    def test_a_timestamp_inside_the_window_passes(self, client: Client) -> None:
        stamp = int(clock.now().timestamp()) - 299
        assert signed_post(client, {"messages": [message()]}, timestamp=stamp).status_code == 200

    def test_a_timestamp_that_is_no_number_is_refused(self, client: Client) -> None:
        response = client.post(
            "/api/v1/community/inbound/messages",
            data=b"{}",
            content_type="application/json",
            HTTP_X_FRESHLOOP_TIMESTAMP="yesterday",
            HTTP_X_FRESHLOOP_SIGNATURE="sha256=00",
        )
        error(response, 401, "community_inbound_timestamp_invalid")

    def test_without_a_configured_secret_the_door_is_closed(
        self, client: Client, settings: Any
    ) -> None:
        use_community(settings, inbound_secret="")
        response = signed_post(client, {"messages": [message()]}, secret="")
        error(response, 403, "community_inbound_disabled")


class TestInboundReplay:
    def test_a_replayed_msgid_is_counted_as_duplicate_and_ignored(self, client: Client) -> None:
        # given a rule that answers "发货" and a message that triggered it
        make_rule(cooldown_seconds=0)
        batch = {"messages": [message("什么时候发货", msgid="m-1")]}
        first = signed_post(client, batch).json()
        # when the relay posts the same message again (a retry)
        again = signed_post(client, batch).json()
        # then it is kept once and answered once
        assert first["stored"] == 1
        assert first["replies_prepared"] == 1
        assert again == {"received": 1, "stored": 0, "duplicates": 1, "replies_prepared": 0}
        assert GroupMessage.objects.count() == 1
        assert AssistantReply.objects.count() == 1

    def test_a_msgid_twice_in_one_batch_is_kept_once(self, client: Client) -> None:
        batch = {"messages": [message("一", msgid="same"), message("二", msgid="same")]}
        assert signed_post(client, batch).json()["stored"] == 1


class TestInboundBadInput:
    def test_malformed_json_is_a_400(self, client: Client) -> None:
        error(signed_post(client, b'{"messages": [}'), 400, "community_inbound_malformed")

    def test_wrong_types_name_the_field(self, client: Client) -> None:
        bad = message()
        bad["sent_at"] = "2026-12-06 10:00"
        body = error(signed_post(client, {"messages": [bad]}), 400, "community_inbound_malformed")
        assert body["detail"][0]["field"] == "messages.0.sent_at"

    @pytest.mark.parametrize(
        "change",
        [
            {"sender_type": "robot"},
            {"chat_id": "x" * 65},
            {"msgid": ""},
            {"sent_at": 1_700_000_000},  # seconds, not milliseconds
            {"unknown": 1},
        ],
    )
    def test_out_of_range_fields_are_refused(self, client: Client, change: dict[str, Any]) -> None:
        bad = {**message(), **change}
        error(signed_post(client, {"messages": [bad]}), 400, "community_inbound_malformed")
        assert not GroupMessage.objects.exists()

    def test_an_empty_batch_or_a_non_object_is_refused(self, client: Client) -> None:
        error(signed_post(client, {"messages": []}), 400, "community_inbound_malformed")
        error(signed_post(client, b"[1, 2]"), 400, "community_inbound_malformed")

    def test_more_than_500_messages_are_refused(self, client: Client) -> None:
        batch = {"messages": [message() for _ in range(501)]}
        error(signed_post(client, batch), 400, "community_inbound_malformed")

    def test_a_huge_body_is_a_413(self, client: Client, settings: Any) -> None:
        # given a body over the API's 1 MB cap (Django's own limit raised above it)
        settings.DATA_UPLOAD_MAX_MEMORY_SIZE = MAX_BODY_BYTES * 4
        huge = {"messages": [message("长" * 20_000) for _ in range(30)]}
        error(signed_post(client, huge), 413, "community_inbound_too_large")

    def test_a_long_text_is_stored_truncated(self, client: Client) -> None:
        signed_post(client, {"messages": [message("鲜" * 3000)]})
        assert len(GroupMessage.objects.get().text) == 500


class TestSenderResolution:
    def test_a_known_external_userid_is_tied_to_its_oneid(self, client: Client) -> None:
        # given a customer whose external_userid identity already knows
        person = identify(
            identifiers=[
                IdentifierInput(
                    type="wecom_external_userid",
                    value="wmKnown",
                    scope=SandboxWecomClient.corp_id,
                )
            ],
            source="test",
        ).person
        # when they and a stranger speak in the group
        signed_post(
            client,
            {"messages": [message(sender="wmKnown"), message(sender="wmStranger")]},
        )
        # then the known one is linked, the stranger is not invented
        linked = dict(GroupMessage.objects.values_list("sender", "sender_person_id"))
        assert linked == {"wmKnown": person.pk, "wmStranger": None}

    def test_a_staff_message_is_never_linked_to_a_customer(self, client: Client) -> None:
        signed_post(client, {"messages": [message(sender="zhangsan", sender_type="staff")]})
        assert GroupMessage.objects.get().sender_person_id is None


class TestGroupMessageCounts:
    def test_counts_per_group_and_day(self, client: Client) -> None:
        from freshloop.community.selectors import group_message_counts

        signed_post(
            client,
            {
                "messages": [
                    message(sender="wmA"),
                    message(sender="wmA"),
                    message(sender="wmB"),
                    message(sender="staff1", sender_type="staff"),
                    message(chat_id="other", sender="wmC"),
                ]
            },
        )
        counts = group_message_counts(
            chat_ids=[CHAT, "quiet"], since=clock.now() - dt.timedelta(days=1)
        )
        assert counts[CHAT].messages == 4
        assert counts[CHAT].customer_messages == 3
        assert counts[CHAT].active_senders == 3
        assert counts[CHAT].active_customers == 2
        assert sum(counts[CHAT].per_day.values()) == 4
        assert counts["quiet"].messages == 0
        assert counts["quiet"].per_day == {}
