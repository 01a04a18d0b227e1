"""Messaging API: delivery receipts pushed by the SMS providers."""

from __future__ import annotations

import hmac
from typing import Any

from django.conf import settings
from django.http import HttpRequest, JsonResponse
from ninja import Router

from freshloop.core.api_errors import raises
from freshloop.messaging.errors import SmsProviderUnknown, SmsReceiptForbidden, SmsReceiptMalformed
from freshloop.messaging.providers import RECEIPT_ACKS, sms_receipts_parse
from freshloop.messaging.services import sms_receipts_record

router = Router(tags=["消息 messaging"])


def _token_valid(given: str) -> bool:
    # No configured token means receipts are switched off, not open to anyone.
    expected = settings.FRESHLOOP.sms_gateway.receipt_token
    return bool(expected) and hmac.compare_digest(given.encode(), expected.encode())


@router.post(
    "/sms/receipts/{provider}",
    auth=None,
    response={200: dict[str, Any]},
    summary="短信送达回执（阿里云 SmsReport / 腾讯云下发状态通知），按服务商要求的格式应答",
    description=(
        "服务商控制台里配置的回执地址：`/api/v1/messaging/sms/receipts/aliyun?token=<FRESHLOOP_SMS_RECEIPT_TOKEN>`"
        " 或 `…/tencent?token=…`。重复推送不会重复记录；未知的消息 ID 记录日志后仍然应答成功"
        "（否则服务商会一直重推）；格式错误返回 400。"
    ),
)
@raises(SmsProviderUnknown, SmsReceiptForbidden, SmsReceiptMalformed)
def sms_receipts(request: HttpRequest, provider: str, token: str = "") -> JsonResponse:
    ack = RECEIPT_ACKS.get(provider)
    if ack is None:
        raise SmsProviderUnknown(detail={"provider": provider[:32]})
    if not _token_valid(token):
        raise SmsReceiptForbidden()
    receipts = sms_receipts_parse(provider=provider, body=request.body)
    sms_receipts_record(provider=provider, receipts=receipts)
    return JsonResponse(ack, json_dumps_params={"ensure_ascii": False})
