"""Texts leave through a real (stand-in) gateway, and their delivery receipts are recorded."""

from __future__ import annotations

import datetime as dt
import json
import logging
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.models import OutboxMessage, OutboxStatus
from freshloop.core.outbox import outbox_enqueue, outbox_relay
from freshloop.identity.services import otp_request
from freshloop.messaging.models import SmsDelivery, SmsDeliveryStatus
from freshloop.messaging.services import sms_delivery_record, sms_receipts_record, sms_send
from freshloop.messaging.sms_receipts import SmsReceipt
from tests.concurrency import run_at_once
from tests.messaging.helpers import (
    ALIYUN_SECRET,
    TENCENT_SECRET_ID,
    TENCENT_SECRET_KEY,
    Seen,
    aliyun_expected_signature,
    aliyun_form,
    local_gateway,
    tencent_expected_authorization,
    use_gateway,
)


def _tencent_answer(code: str = "Ok", serial: str = "2433:1") -> Any:
    def answer(seen: Seen) -> tuple[int, Any]:
        status = {"SerialNo": serial if code == "Ok" else "", "Code": code, "Message": code}
        return 200, {"Response": {"SendStatusSet": [status], "RequestId": "r"}}

    return answer


def _queue_text(phone: str = "+8613800138000") -> OutboxMessage:
    return sms_send(
        phone_e164=phone,
        template="live_reminder",
        params={"title": "春笋专场", "time": "20:00", "url": "/m/live/abc"},
        dedupe_key=f"test:{phone}",
    )


@pytest.mark.django_db
class TestSmsDeliveryThroughTheRelay:
    def test_a_login_code_goes_out_through_tencent_and_is_recorded(
        self, settings: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given Tencent Cloud SMS as the provider, played by a local server
        with local_gateway(_tencent_answer(serial="2433:777")) as (url, seen):
            use_gateway(settings, "tencent", tencent_endpoint=url)
            # when a consumer asks for a login code (the relay is kicked on commit)
            with django_capture_on_commit_callbacks(execute=True):
                otp_request(phone="13800138000", ip_address="203.0.113.5")
        # then one SendSms reached the gateway, signed so that Tencent's check passes
        (request,) = seen
        assert request.headers["authorization"] == tencent_expected_authorization(
            headers=request.headers,
            body=request.body,
            secret_id=TENCENT_SECRET_ID,
            secret_key=TENCENT_SECRET_KEY,
            service="sms",
        )
        body = json.loads(request.body)
        assert body["TemplateId"] == "T-LOGIN"
        assert body["TemplateParamSet"][1] == "5"  # minutes
        # and the text is recorded as submitted under Tencent's serial number
        message = OutboxMessage.objects.get(channel="sms")
        assert (message.status, message.provider_message_id) == (OutboxStatus.SENT, "2433:777")
        delivery = SmsDelivery.objects.get(message=message)
        assert (delivery.provider, delivery.provider_message_id, delivery.purpose) == (
            "tencent",
            "2433:777",
            "login_code",
        )
        assert delivery.status == SmsDeliveryStatus.SUBMITTED
        assert body["SessionContext"] == str(message.pk)

    def test_alibaba_gets_our_message_id_as_out_id(self, settings: Any) -> None:
        def answer(seen: Seen) -> tuple[int, Any]:
            return 200, {"Code": "OK", "Message": "OK", "BizId": "biz-9", "RequestId": "r"}

        with local_gateway(answer) as (url, seen):
            use_gateway(settings, "aliyun", aliyun_endpoint=url)
            message = _queue_text()
            assert outbox_relay().sent == 1
        form = aliyun_form(seen[0].body)
        assert form["Signature"] == aliyun_expected_signature("POST", form, ALIYUN_SECRET)
        assert form["OutId"] == str(message.pk)
        assert json.loads(form["TemplateParam"])["title"] == "春笋专场"
        assert SmsDelivery.objects.get(message=message).provider_message_id == "biz-9"

    def test_a_permanent_refusal_fails_at_once_and_raises_an_alert(self, settings: Any) -> None:
        # given a template the provider has not approved
        with local_gateway(
            _tencent_answer(code="FailedOperation.TemplateIncorrectOrUnapproved")
        ) as (
            url,
            seen,
        ):
            use_gateway(settings, "tencent", tencent_endpoint=url)
            message = _queue_text()
            # when the relay hands the text over
            result = outbox_relay()
        # then it is failed after one attempt, not retried eight times
        assert (result.failed, len(seen)) == (1, 1)
        message.refresh_from_db()
        assert (message.status, message.attempts) == (OutboxStatus.FAILED, 1)
        assert "TemplateIncorrectOrUnapproved" in message.last_error
        # and people are told, and the delivery record keeps the provider's code
        alert = OutboxMessage.objects.get(channel="alert")
        assert alert.payload["kind"] == "outbox.gave_up"
        delivery = SmsDelivery.objects.get(message=message)
        assert delivery.status == SmsDeliveryStatus.FAILED
        assert delivery.error_code == "FailedOperation.TemplateIncorrectOrUnapproved"

    def test_throttling_is_retried_after_the_providers_wait(self, settings: Any) -> None:
        start = dt.datetime(2026, 5, 1, 8, 0, tzinfo=dt.UTC)
        answer = _tencent_answer(code="LimitExceeded.PhoneNumberOneHourLimit")
        with local_gateway(answer) as (url, _seen):
            use_gateway(settings, "tencent", tencent_endpoint=url)
            with clock.frozen(start):
                message = _queue_text()
                assert outbox_relay().retried == 1
        message.refresh_from_db()
        # then the text waits for the hour the provider asked, not the 10 s first back-off
        assert message.status == OutboxStatus.PENDING
        assert message.next_attempt_at >= start + dt.timedelta(hours=1)
        assert not SmsDelivery.objects.filter(message=message).exists()

    def test_a_failing_delivery_record_never_sends_the_text_twice(
        self, settings: Any, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
    ) -> None:
        # given a gateway that accepts, and a delivery record that cannot be written
        def broken(**_: Any) -> None:
            raise RuntimeError("database hiccup")

        monkeypatch.setattr("freshloop.messaging.services.sms_delivery_record", broken)
        with local_gateway(_tencent_answer(serial="2433:5")) as (url, seen):
            use_gateway(settings, "tencent", tencent_endpoint=url)
            message = _queue_text()
            # when the relay runs twice
            with caplog.at_level(logging.ERROR):
                assert outbox_relay().sent == 1
            assert outbox_relay().sent == 0
        # then the text went out once and the outbox knows it was sent
        assert len(seen) == 1
        message.refresh_from_db()
        assert (message.status, message.provider_message_id) == (OutboxStatus.SENT, "2433:5")
        assert "delivery record failed" in caplog.text

    def test_an_unreachable_gateway_is_retried(self, settings: Any) -> None:
        use_gateway(settings, "tencent", tencent_endpoint="http://127.0.0.1:9", timeout_seconds=1)
        message = _queue_text()
        assert outbox_relay().retried == 1
        message.refresh_from_db()
        assert message.status == OutboxStatus.PENDING
        assert "unreachable" in message.last_error


def _receipt(
    provider_message_id: str,
    *,
    delivered: bool = True,
    reference: str = "",
    code: str = "DELIVRD",
    at: dt.datetime | None = None,
) -> SmsReceipt:
    return SmsReceipt(
        provider_message_id=provider_message_id,
        reference=reference,
        delivered=delivered,
        error_code=code,
        error_message="",
        delivered_at=at or dt.datetime(2026, 5, 1, 0, 0, 5, tzinfo=dt.UTC),
    )


def _submitted(provider: str = "tencent", provider_id: str = "sid-1") -> SmsDelivery:
    message = _queue_text()
    return sms_delivery_record(
        message_id=message.pk,
        provider=provider,
        purpose="live_reminder",
        provider_message_id=provider_id,
    )


@pytest.mark.django_db
class TestSmsDeliveryRecord:
    def test_a_resend_replaces_the_providers_id(self) -> None:
        delivery = _submitted(provider_id="first")
        again = sms_delivery_record(
            message_id=delivery.pk,
            provider="tencent",
            purpose="live_reminder",
            provider_message_id="second",
        )
        assert again.provider_message_id == "second"
        assert SmsDelivery.objects.count() == 1

    def test_a_received_receipt_is_never_overwritten(self) -> None:
        delivery = _submitted(provider_id="first")
        sms_receipts_record(provider="tencent", receipts=[_receipt("first")])
        sms_delivery_record(
            message_id=delivery.pk,
            provider="tencent",
            purpose="live_reminder",
            provider_message_id="late",
        )
        delivery.refresh_from_db()
        assert (delivery.status, delivery.provider_message_id) == (
            SmsDeliveryStatus.DELIVERED,
            "first",
        )


@pytest.mark.django_db
class TestSmsReceiptsRecord:
    def test_a_delivery_receipt_completes_the_record(self) -> None:
        # given a text Tencent accepted as sid-1
        delivery = _submitted()
        # when its receipt arrives
        outcome = sms_receipts_record(provider="tencent", receipts=[_receipt("sid-1")])
        # then the record says delivered, with the handset's time
        assert (outcome.recorded, outcome.duplicates, outcome.unknown) == (1, 0, 0)
        delivery.refresh_from_db()
        assert delivery.status == SmsDeliveryStatus.DELIVERED
        assert delivery.error_code == "DELIVRD"
        assert delivery.delivered_at == dt.datetime(2026, 5, 1, 0, 0, 5, tzinfo=dt.UTC)
        assert delivery.receipt_received_at is not None

    def test_a_replayed_receipt_changes_nothing(self) -> None:
        delivery = _submitted()
        sms_receipts_record(provider="tencent", receipts=[_receipt("sid-1")])
        delivery.refresh_from_db()
        first = (delivery.status, delivery.delivered_at, delivery.receipt_received_at)
        # when the provider pushes the same receipt again, and then a contradicting one
        later = clock.now() + dt.timedelta(minutes=5)
        with clock.frozen(later):
            replay = sms_receipts_record(provider="tencent", receipts=[_receipt("sid-1")])
            contradiction = sms_receipts_record(
                provider="tencent", receipts=[_receipt("sid-1", delivered=False, code="MK:0001")]
            )
        # then the first receipt stands
        assert (replay.duplicates, contradiction.duplicates) == (1, 1)
        delivery.refresh_from_db()
        assert (delivery.status, delivery.delivered_at, delivery.receipt_received_at) == first

    def test_a_failure_receipt_keeps_the_carriers_code(self) -> None:
        delivery = _submitted()
        sms_receipts_record(
            provider="tencent", receipts=[_receipt("sid-1", delivered=False, code="MK:0001")]
        )
        delivery.refresh_from_db()
        assert (delivery.status, delivery.error_code, delivery.delivered_at) == (
            SmsDeliveryStatus.FAILED,
            "MK:0001",
            None,
        )

    def test_unknown_ids_are_logged_and_skipped(self, caplog: pytest.LogCaptureFixture) -> None:
        _submitted()
        with caplog.at_level(logging.WARNING, logger="freshloop.messaging.services"):
            outcome = sms_receipts_record(
                provider="tencent",
                receipts=[_receipt("never-sent"), _receipt("sid-1", reference="999999")],
            )
        # the second is known by its id (the reference is not needed)
        assert (outcome.recorded, outcome.unknown) == (1, 1)
        assert "never-sent" in caplog.text
        # and another provider's id is not this provider's
        assert sms_receipts_record(provider="aliyun", receipts=[_receipt("sid-1")]).unknown == 1

    def test_a_receipt_overtaking_the_relay_is_matched_by_our_reference(self) -> None:
        # given a text whose provider id the relay had not recorded yet
        message = _queue_text()
        # when the receipt arrives carrying our id (Alibaba out_id)
        outcome = sms_receipts_record(
            provider="aliyun", receipts=[_receipt("biz-1", reference=str(message.pk))]
        )
        # then it is recorded on that text
        assert outcome.recorded == 1
        delivery = SmsDelivery.objects.get(message=message)
        assert (delivery.provider_message_id, delivery.status) == (
            "biz-1",
            SmsDeliveryStatus.DELIVERED,
        )
        # and the relay's late record does not undo it
        sms_delivery_record(
            message_id=message.pk,
            provider="aliyun",
            purpose="live_reminder",
            provider_message_id="biz-1",
        )
        delivery.refresh_from_db()
        assert delivery.status == SmsDeliveryStatus.DELIVERED

    def test_a_reference_to_something_other_than_a_text_is_unknown(self) -> None:
        alert = outbox_enqueue(channel="alert", payload={"kind": "x"})
        outcome = sms_receipts_record(
            provider="aliyun", receipts=[_receipt("biz-2", reference=str(alert.pk))]
        )
        assert outcome.unknown == 1
        assert not SmsDelivery.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestSmsReceiptsRecordConcurrency:
    def test_the_same_push_processed_twice_at_once_is_recorded_once(self) -> None:
        _submitted()
        outcomes = run_at_once(
            [
                lambda: sms_receipts_record(provider="tencent", receipts=[_receipt("sid-1")])
                for _ in range(4)
            ]
        )
        recorded = [outcome.value.recorded for outcome in outcomes if outcome.value is not None]
        assert sorted(recorded) == [0, 0, 0, 1]
