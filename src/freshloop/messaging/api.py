"""Messaging API: delivery receipts pushed by the SMS providers, WeCom's callbacks."""

from __future__ import annotations

import hmac
import logging
from typing import Any

from django.conf import settings
from django.http import HttpRequest, HttpResponse, JsonResponse
from ninja import Router

from freshloop.core.api_errors import raises
from freshloop.messaging.errors import (
    SmsProviderUnknown,
    SmsReceiptForbidden,
    SmsReceiptMalformed,
    WecomCallbackDisabled,
    WecomCallbackForbidden,
    WecomCallbackMalformed,
    WecomCallbackTooLarge,
)
from freshloop.messaging.services import sms_receipts_record
from freshloop.messaging.sms_receipts import RECEIPT_ACKS, sms_receipts_parse
from freshloop.messaging.wecom.callbacks import callback_receive, callback_verify_url

router = Router(tags=["消息 messaging"])
logger = logging.getLogger(__name__)


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


# WeCom's own query parameter names; WeCom reads the answer as plain text.
_WECOM_CALLBACK_DOC = (
    "企业微信「客户联系 → 接收事件服务器」里填写的 URL：`https://<域名>/api/v1/messaging/wecom/callback`，"
    "Token 与 EncodingAESKey 即 `FRESHLOOP_WECOM_CALLBACK_TOKEN` / `FRESHLOOP_WECOM_CALLBACK_AES_KEY`"
    "（docs/scrm.md）。签名错误返回 403；格式错误或内容过大返回 400。"
)


@router.get(
    "/wecom/callback",
    auth=None,
    response={200: str},
    summary="企业微信回调 URL 验证：校验签名并返回解密后的 echostr 明文",
    description=_WECOM_CALLBACK_DOC,
)
@raises(WecomCallbackDisabled, WecomCallbackForbidden, WecomCallbackMalformed)
def wecom_callback_verify(
    request: HttpRequest, msg_signature: str, timestamp: str, nonce: str, echostr: str
) -> HttpResponse:
    plain = callback_verify_url(
        msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, echostr=echostr
    )
    return HttpResponse(plain, content_type="text/plain; charset=utf-8")


@router.post(
    "/wecom/callback",
    auth=None,
    response={200: str},
    summary="企业微信事件回调（客户变更 change_external_contact、客户群变更 change_external_chat）",
    description=_WECOM_CALLBACK_DOC
    + "重复推送或时间戳超出窗口的回调只应答 success，不会重复处理。",
)
@raises(
    WecomCallbackDisabled, WecomCallbackForbidden, WecomCallbackMalformed, WecomCallbackTooLarge
)
def wecom_callback(
    request: HttpRequest, msg_signature: str, timestamp: str, nonce: str
) -> HttpResponse:
    outcome = callback_receive(
        msg_signature=msg_signature, timestamp=timestamp, nonce=nonce, body=request.body
    )
    if outcome != "published":
        logger.info("wecom callback %s", outcome)
    return HttpResponse("success", content_type="text/plain; charset=utf-8")
