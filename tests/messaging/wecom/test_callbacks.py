"""WeCom's callback endpoint as WeCom calls it: the official sample of the docs, events made with
an independent implementation of the crypto (helpers.py), forged, malformed and replayed calls."""

from __future__ import annotations

import datetime as dt
from typing import Any
from urllib.parse import urlencode

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.events import DomainEvent
from freshloop.messaging.events import WecomContactChanged, WecomGroupChatChanged
from freshloop.messaging.wecom.callbacks import msg_signature
from tests.messaging.wecom.helpers import (
    SAMPLE_AES_KEY,
    SAMPLE_CORP_ID,
    SAMPLE_ECHO_PLAIN,
    SAMPLE_ENCRYPT,
    SAMPLE_POST_BODY,
    SAMPLE_POST_PLAIN,
    SAMPLE_POST_QUERY,
    SAMPLE_TOKEN,
    SAMPLE_VERIFY,
    chat_event_xml,
    contact_event_xml,
    decrypt,
    signature,
    signed_callback,
    use_callback,
)

URL = "/api/v1/messaging/wecom/callback"
NOW = dt.datetime(2026, 5, 1, 2, 0, tzinfo=dt.UTC)
NOW_TS = int(NOW.timestamp())


def post(client: Client, query: dict[str, str], body: str | bytes) -> Any:
    return client.post(f"{URL}?{urlencode(query)}", data=body, content_type="text/xml")


@pytest.fixture
def callback_on(settings: Any) -> None:
    use_callback(settings)


class TestOfficialSample:
    def test_the_independent_code_reproduces_the_docs(self) -> None:
        # given the docs' sample (token QDG6eK, corp wx5823bf96d3bd56c7)
        # then the signatures and plaintexts are the published ones
        assert (
            signature(
                SAMPLE_TOKEN,
                SAMPLE_VERIFY["timestamp"],
                SAMPLE_VERIFY["nonce"],
                SAMPLE_VERIFY["echostr"],
            )
            == SAMPLE_VERIFY["msg_signature"]
        )
        assert decrypt(SAMPLE_AES_KEY, SAMPLE_VERIFY["echostr"]) == (
            SAMPLE_ECHO_PLAIN.encode(),
            SAMPLE_CORP_ID.encode(),
        )
        assert (
            signature(
                SAMPLE_TOKEN,
                SAMPLE_POST_QUERY["timestamp"],
                SAMPLE_POST_QUERY["nonce"],
                SAMPLE_ENCRYPT,
            )
            == SAMPLE_POST_QUERY["msg_signature"]
        )
        assert decrypt(SAMPLE_AES_KEY, SAMPLE_ENCRYPT) == (
            SAMPLE_POST_PLAIN.encode(),
            SAMPLE_CORP_ID.encode(),
        )

    def test_our_signature_matches_the_docs(self) -> None:
        assert (
            msg_signature(
                token=SAMPLE_TOKEN,
                timestamp=SAMPLE_POST_QUERY["timestamp"],
                nonce=SAMPLE_POST_QUERY["nonce"],
                encrypted=SAMPLE_ENCRYPT,
            )
            == SAMPLE_POST_QUERY["msg_signature"]
        )


@pytest.mark.django_db
class TestCallbackVerifyUrl:
    def test_answers_the_plaintext_of_the_sample_echostr(self, callback_on: None) -> None:
        # when WeCom verifies the URL with the docs' sample
        response = Client().get(URL, SAMPLE_VERIFY)
        # then the answer is the echostr's plaintext, as plain text
        assert response.status_code == 200
        assert response.content.decode() == SAMPLE_ECHO_PLAIN
        assert response["Content-Type"].startswith("text/plain")

    def test_a_forged_signature_is_403(self, callback_on: None) -> None:
        forged = {**SAMPLE_VERIFY, "msg_signature": "0" * 40}
        response = Client().get(URL, forged)
        assert response.status_code == 403
        assert response.json()["code"] == "wecom_callback_forbidden"
        assert response.json()["message"] == "企业微信回调签名校验失败"

    def test_another_corps_echostr_is_403(self, settings: Any) -> None:
        # given our corp is not the one the sample was encrypted for
        use_callback(settings, corp_id="ww_other_corp")
        response = Client().get(URL, SAMPLE_VERIFY)
        assert response.status_code == 403

    def test_missing_parameters_are_422(self, callback_on: None) -> None:
        response = Client().get(URL, {"timestamp": "1"})
        assert response.status_code == 422

    def test_without_token_and_key_the_callback_is_off(self) -> None:
        response = Client().get(URL, SAMPLE_VERIFY)
        assert response.status_code == 404
        assert response.json()["code"] == "wecom_callback_disabled"


@pytest.mark.django_db
class TestCallbackReceive:
    def test_the_docs_sample_message_is_acknowledged_and_ignored(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        # given our clock at the sample's time (it is a text message, not a customer event)
        with clock.frozen(dt.datetime.fromtimestamp(1409659813, dt.UTC)):
            response = post(Client(), SAMPLE_POST_QUERY, SAMPLE_POST_BODY)
        assert response.status_code == 200
        assert response.content == b"success"
        assert published == []

    def test_a_new_contact_is_published(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        # given WeCom tells us zhangsan added a customer through a live-room code
        query, body = signed_callback(contact_event_xml(create_time=NOW_TS), timestamp=str(NOW_TS))
        # when it calls back
        with clock.frozen(NOW):
            response = post(Client(), query, body)
        # then it is acknowledged and the fact is published with WeCom's fields
        assert response.status_code == 200
        assert response.content == b"success"
        assert len(published) == 1
        event = published[0]
        assert isinstance(event, WecomContactChanged)
        assert event.change_type == "add_external_contact"
        assert event.staff_userid == "zhangsan"
        assert event.external_userid == "wmEXT1"
        assert event.state == "live_room_42"
        assert event.welcome_code == "WELCOMECODE"
        assert event.corp_id == SAMPLE_CORP_ID
        assert event.wecom_time == NOW_TS

    @pytest.mark.parametrize(
        "change_type",
        ["edit_external_contact", "del_external_contact", "del_follow_user", "transfer_fail"],
    )
    def test_each_contact_change_type_is_published(
        self, callback_on: None, published: list[DomainEvent], change_type: str
    ) -> None:
        query, body = signed_callback(
            contact_event_xml(create_time=NOW_TS, change_type=change_type),
            timestamp=str(NOW_TS),
        )
        with clock.frozen(NOW):
            assert post(Client(), query, body).status_code == 200
        assert [event.change_type for event in published] == [change_type]  # type: ignore[attr-defined]

    def test_a_group_change_is_published_with_its_members(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        query, body = signed_callback(chat_event_xml(create_time=NOW_TS), timestamp=str(NOW_TS))
        with clock.frozen(NOW):
            assert post(Client(), query, body).status_code == 200
        (event,) = published
        assert isinstance(event, WecomGroupChatChanged)
        assert event.change_type == "update"
        assert event.update_detail == "add_member"
        assert event.chat_id == "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"
        assert event.member_ids == ["wmEXT1", "wmEXT2"]
        assert event.join_scene == 1
        assert event.member_change_count == 2

    def test_a_replayed_callback_is_acknowledged_but_published_once(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        query, body = signed_callback(contact_event_xml(create_time=NOW_TS), timestamp=str(NOW_TS))
        with clock.frozen(NOW):
            first = post(Client(), query, body)
            second = post(Client(), query, body)
        assert (first.status_code, second.status_code) == (200, 200)
        assert second.content == b"success"
        assert len(published) == 1

    def test_the_same_event_delivered_again_with_a_new_nonce_is_published_once(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        xml = contact_event_xml(create_time=NOW_TS)
        with clock.frozen(NOW):
            for nonce in ("111", "222"):
                query, body = signed_callback(xml, timestamp=str(NOW_TS), nonce=nonce)
                assert post(Client(), query, body).status_code == 200
        assert len(published) == 1

    def test_a_stale_callback_is_acknowledged_and_dropped(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        # given a genuine callback captured an hour ago
        old = NOW_TS - 3600
        query, body = signed_callback(contact_event_xml(create_time=old), timestamp=str(old))
        with clock.frozen(NOW):
            response = post(Client(), query, body)
        assert response.status_code == 200
        assert published == []

    def test_a_forged_signature_is_403_and_publishes_nothing(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        query, body = signed_callback(contact_event_xml(create_time=NOW_TS), timestamp=str(NOW_TS))
        with clock.frozen(NOW):
            response = post(Client(), {**query, "msg_signature": "f" * 40}, body)
        assert response.status_code == 403
        assert response.json()["code"] == "wecom_callback_forbidden"
        assert published == []

    def test_a_changed_timestamp_breaks_the_signature(self, callback_on: None) -> None:
        query, body = signed_callback(contact_event_xml(create_time=NOW_TS), timestamp=str(NOW_TS))
        with clock.frozen(NOW):
            response = post(Client(), {**query, "timestamp": str(NOW_TS + 1)}, body)
        assert response.status_code == 403

    @pytest.mark.parametrize(
        "body",
        [
            "not xml at all",
            "<xml><ToUserName>x</ToUserName></xml>",  # no Encrypt
            '<!DOCTYPE x [<!ENTITY a "b">]><xml><Encrypt>&a;</Encrypt></xml>',
            "<notxml><Encrypt>abc</Encrypt></notxml>",
        ],
    )
    def test_a_malformed_body_is_400(
        self, callback_on: None, body: str, published: list[DomainEvent]
    ) -> None:
        with clock.frozen(NOW):
            response = post(
                Client(), {"msg_signature": "a" * 40, "timestamp": str(NOW_TS), "nonce": "1"}, body
            )
        assert response.status_code == 400
        assert response.json()["code"] == "wecom_callback_malformed"
        assert published == []

    def test_undecryptable_content_with_a_valid_signature_is_400(self, callback_on: None) -> None:
        encrypted = "bm90IGEgY2lwaGVydGV4dA=="  # base64, but not AES output
        query = {
            "msg_signature": signature(SAMPLE_TOKEN, str(NOW_TS), "9", encrypted),
            "timestamp": str(NOW_TS),
            "nonce": "9",
        }
        with clock.frozen(NOW):
            response = post(Client(), query, f"<xml><Encrypt>{encrypted}</Encrypt></xml>")
        assert response.status_code == 400
        assert response.json()["code"] == "wecom_callback_malformed"

    def test_a_decrypted_event_missing_its_ids_is_400(self, callback_on: None) -> None:
        xml = contact_event_xml(create_time=NOW_TS).replace(
            "<UserID><![CDATA[zhangsan]]></UserID>", ""
        )
        query, body = signed_callback(xml, timestamp=str(NOW_TS))
        with clock.frozen(NOW):
            response = post(Client(), query, body)
        assert response.status_code == 400

    def test_a_huge_body_is_400(self, callback_on: None) -> None:
        body = "<xml><Encrypt>" + "A" * 70_000 + "</Encrypt></xml>"
        with clock.frozen(NOW):
            response = post(
                Client(), {"msg_signature": "a" * 40, "timestamp": str(NOW_TS), "nonce": "1"}, body
            )
        assert response.status_code == 400
        assert response.json()["code"] == "wecom_callback_too_large"


@pytest.mark.django_db
class TestCallbackRobustness:
    def test_an_undecryptable_echostr_with_a_valid_signature_is_400(
        self, callback_on: None
    ) -> None:
        echostr = "bm90IGEgY2lwaGVydGV4dA=="
        query = {
            "msg_signature": signature(SAMPLE_TOKEN, "1", "2", echostr),
            "timestamp": "1",
            "nonce": "2",
            "echostr": echostr,
        }
        response = Client().get(URL, query)
        assert response.status_code == 400
        assert response.json()["code"] == "wecom_callback_malformed"

    def test_a_callback_that_failed_to_publish_is_taken_when_wecom_sends_it_again(
        self, callback_on: None, published: list[DomainEvent]
    ) -> None:
        # given a listener that fails the first time (its transaction rolls back)
        from freshloop.core.events import subscribe, unsubscribe

        failures = [RuntimeError("listener down")]

        def flaky(event: DomainEvent) -> None:
            if failures:
                raise failures.pop()

        subscribe(WecomContactChanged, in_transaction=True)(flaky)
        query, body = signed_callback(contact_event_xml(create_time=NOW_TS), timestamp=str(NOW_TS))
        client = Client(raise_request_exception=False)
        try:
            with clock.frozen(NOW):
                first = post(client, query, body)
                # when WeCom, having had no "success", sends the same callback again
                second = post(client, query, body)
        finally:
            unsubscribe(WecomContactChanged, flaky)
        # then the second delivery is not mistaken for a replay
        assert first.status_code >= 500
        assert second.status_code == 200
        assert [event.external_userid for event in published][-1] == "wmEXT1"  # type: ignore[attr-defined]
        assert len(published) == 2  # the rolled-back attempt and the one that committed
