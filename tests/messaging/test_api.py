"""The receipt endpoints as the providers call them."""

from __future__ import annotations

import json
import logging
from typing import Any

import pytest
from django.test import Client

from freshloop.messaging.models import SmsDelivery, SmsDeliveryStatus
from freshloop.messaging.services import sms_delivery_record, sms_send
from tests.messaging.helpers import RECEIPT_TOKEN, use_gateway

TENCENT_PUSH = [
    {
        "user_receive_time": "2026-05-01 08:00:05",
        "nationcode": "86",
        "mobile": "13800138000",
        "report_status": "SUCCESS",
        "errmsg": "DELIVRD",
        "description": "用户短信送达成功",
        "sid": "sid-1",
    }
]
ALIYUN_PUSH = [
    {
        "phone_number": "13800138000",
        "send_time": "2026-05-01 08:00:00",
        "report_time": "2026-05-01 08:00:06",
        "success": False,
        "err_code": "MK:0001",
        "err_msg": "用户接收失败",
        "sms_size": "1",
        "biz_id": "biz-1",
        "out_id": "",
    }
]


@pytest.fixture
def receipts_on(settings: Any) -> None:
    use_gateway(settings, "tencent")


def _sent(provider: str, provider_id: str) -> SmsDelivery:
    message = sms_send(
        phone_e164="+8613800138000",
        template="login_code",
        params={"code": "123456", "minutes": "5"},
        dedupe_key=f"api-test:{provider_id}",
    )
    return sms_delivery_record(
        message_id=message.pk,
        provider=provider,
        purpose="login_code",
        provider_message_id=provider_id,
    )


def _push(client: Client, provider: str, body: Any, token: str = RECEIPT_TOKEN) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    return client.post(
        f"/api/v1/messaging/sms/receipts/{provider}?token={token}",
        raw,
        content_type="application/json",
    )


@pytest.mark.django_db
@pytest.mark.usefixtures("receipts_on")
class TestSmsReceiptsEndpoint:
    def test_tencent_push_is_recorded_and_acknowledged_its_way(self, client: Client) -> None:
        delivery = _sent("tencent", "sid-1")
        response = _push(client, "tencent", TENCENT_PUSH)
        assert response.status_code == 200
        assert response.json() == {"result": 0, "errmsg": "OK"}
        delivery.refresh_from_db()
        assert delivery.status == SmsDeliveryStatus.DELIVERED

    def test_alibaba_push_is_recorded_and_acknowledged_its_way(self, client: Client) -> None:
        delivery = _sent("aliyun", "biz-1")
        response = _push(client, "aliyun", ALIYUN_PUSH)
        assert response.status_code == 200
        assert response.json() == {"code": 0, "msg": "接收成功"}
        delivery.refresh_from_db()
        assert (delivery.status, delivery.error_code) == (SmsDeliveryStatus.FAILED, "MK:0001")

    def test_a_replayed_push_answers_the_same_and_changes_nothing(self, client: Client) -> None:
        delivery = _sent("tencent", "sid-1")
        assert _push(client, "tencent", TENCENT_PUSH).status_code == 200
        delivery.refresh_from_db()
        first = SmsDelivery.objects.values().get(pk=delivery.pk)
        for _ in range(3):
            assert _push(client, "tencent", TENCENT_PUSH).json() == {"result": 0, "errmsg": "OK"}
        assert SmsDelivery.objects.values().get(pk=delivery.pk) == first

    def test_unknown_ids_get_2xx_and_a_log_line(
        self, client: Client, caplog: pytest.LogCaptureFixture
    ) -> None:
        # a 4xx would make the provider push the same receipt again and again
        with caplog.at_level(logging.WARNING):
            response = _push(client, "tencent", TENCENT_PUSH)
        assert response.status_code == 200
        assert "unknown message id sid-1" in caplog.text
        assert not SmsDelivery.objects.exists()

    @pytest.mark.parametrize(
        "body",
        [b"{not json", {"sid": "sid-1"}, [1, 2, 3], [{"report_status": "SUCCESS"}], b""],
    )
    def test_malformed_bodies_get_a_400(self, client: Client, body: Any) -> None:
        delivery = _sent("tencent", "sid-1")
        response = _push(client, "tencent", body)
        assert response.status_code == 400
        assert response.json()["code"] == "sms_receipt_malformed"
        delivery.refresh_from_db()
        assert delivery.status == SmsDeliveryStatus.SUBMITTED

    def test_a_batch_with_one_bad_receipt_records_none(self, client: Client) -> None:
        delivery = _sent("tencent", "sid-1")
        response = _push(client, "tencent", [*TENCENT_PUSH, {"report_status": "??", "sid": "x"}])
        assert response.status_code == 400
        delivery.refresh_from_db()
        assert delivery.status == SmsDeliveryStatus.SUBMITTED

    @pytest.mark.parametrize("token", ["", "wrong", RECEIPT_TOKEN + "x"])
    def test_a_wrong_token_is_refused(self, client: Client, token: str) -> None:
        delivery = _sent("tencent", "sid-1")
        response = _push(client, "tencent", TENCENT_PUSH, token=token)
        assert response.status_code == 403
        assert response.json()["code"] == "sms_receipt_forbidden"
        delivery.refresh_from_db()
        assert delivery.status == SmsDeliveryStatus.SUBMITTED

    def test_an_unknown_provider_is_a_404(self, client: Client) -> None:
        response = _push(client, "twilio", TENCENT_PUSH)
        assert response.status_code == 404
        assert response.json()["code"] == "sms_provider_unknown"


@pytest.mark.django_db
def test_receipts_are_off_without_a_configured_token(client: Client, settings: Any) -> None:
    use_gateway(settings, "tencent", receipt_token="")
    _sent("tencent", "sid-1")
    assert _push(client, "tencent", TENCENT_PUSH, token="").status_code == 403
    assert SmsDelivery.objects.get().status == SmsDeliveryStatus.SUBMITTED
