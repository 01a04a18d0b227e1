"""SMS delivery receipts as Alibaba Cloud and Tencent Cloud push them, parsed into one shape
(`SmsReceipt`) that `messaging.services.sms_receipts_record` records; `RECEIPT_ACKS` is what
each provider expects as the answer."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from typing import Any

from freshloop.core import clock
from freshloop.messaging.errors import SmsProviderUnknown, SmsReceiptMalformed
from freshloop.messaging.providers import AliyunSmsProvider, TencentSmsProvider


@dataclass(frozen=True)
class SmsReceipt:
    """One delivery report, as either provider pushes it."""

    provider_message_id: str  # Alibaba biz_id, Tencent sid (= SerialNo)
    reference: str  # our outbox message id when the provider echoes it (out_id / ext), else ""
    delivered: bool
    error_code: str
    error_message: str
    delivered_at: dt.datetime | None  # when the handset got it (report time when it did not)


MAX_RECEIPTS_PER_PUSH = 1000  # Tencent sends at most 100, Alibaba a few hundred


def _receipt_items(body: bytes) -> list[dict[str, Any]]:
    try:
        items = json.loads(body)
    except (ValueError, UnicodeDecodeError) as exc:
        raise SmsReceiptMalformed(detail={"reason": "body is not JSON"}) from exc
    if not isinstance(items, list) or not all(isinstance(item, dict) for item in items):
        raise SmsReceiptMalformed(detail={"reason": "expected a JSON array of objects"})
    if len(items) > MAX_RECEIPTS_PER_PUSH:
        raise SmsReceiptMalformed(detail={"reason": f"more than {MAX_RECEIPTS_PER_PUSH} receipts"})
    return items


def _text(item: dict[str, Any], key: str, *, required: bool, index: int, limit: int) -> str:
    value = item.get(key)
    if value is None or value == "":
        if required:
            raise SmsReceiptMalformed(detail={"index": index, "field": key, "reason": "missing"})
        return ""
    if isinstance(value, bool) or not isinstance(value, str | int):
        raise SmsReceiptMalformed(detail={"index": index, "field": key, "reason": "not a string"})
    return str(value)[:limit]


def _shanghai_time(value: str, *, index: int, key: str) -> dt.datetime | None:
    """Both providers report Beijing time as `YYYY-MM-DD HH:MM:SS`; stored in UTC."""
    if not value:
        return None
    try:
        local = dt.datetime.strptime(value, "%Y-%m-%d %H:%M:%S")
    except ValueError as exc:
        raise SmsReceiptMalformed(
            detail={"index": index, "field": key, "reason": "not YYYY-MM-DD HH:MM:SS"}
        ) from exc
    return local.replace(tzinfo=clock.SHANGHAI).astimezone(dt.UTC)


def parse_aliyun_receipts(body: bytes) -> list[SmsReceipt]:
    """Alibaba Cloud SmsReport, HTTP batch push:
    https://help.aliyun.com/document_detail/101867.html"""
    receipts = []
    for index, item in enumerate(_receipt_items(body)):
        success = item.get("success")
        if not isinstance(success, bool):
            raise SmsReceiptMalformed(
                detail={"index": index, "field": "success", "reason": "not a boolean"}
            )
        report_time = _text(item, "report_time", required=False, index=index, limit=32)
        receipts.append(
            SmsReceipt(
                provider_message_id=_text(item, "biz_id", required=True, index=index, limit=128),
                reference=_text(item, "out_id", required=False, index=index, limit=64),
                delivered=success,
                error_code=_text(item, "err_code", required=False, index=index, limit=64),
                error_message=_text(item, "err_msg", required=False, index=index, limit=255),
                delivered_at=_shanghai_time(report_time, index=index, key="report_time"),
            )
        )
    return receipts


def parse_tencent_receipts(body: bytes) -> list[SmsReceipt]:
    """Tencent Cloud SMS delivery status push (短信下发状态通知):
    https://cloud.tencent.com/document/api/382/59178"""
    receipts = []
    for index, item in enumerate(_receipt_items(body)):
        status = _text(item, "report_status", required=True, index=index, limit=16)
        if status not in {"SUCCESS", "FAIL"}:
            raise SmsReceiptMalformed(
                detail={"index": index, "field": "report_status", "reason": "SUCCESS or FAIL"}
            )
        received = _text(item, "user_receive_time", required=False, index=index, limit=32)
        receipts.append(
            SmsReceipt(
                provider_message_id=_text(item, "sid", required=True, index=index, limit=128),
                reference=_text(item, "ext", required=False, index=index, limit=64),
                delivered=status == "SUCCESS",
                error_code=_text(item, "errmsg", required=False, index=index, limit=64),
                error_message=_text(item, "description", required=False, index=index, limit=255),
                delivered_at=_shanghai_time(received, index=index, key="user_receive_time"),
            )
        )
    return receipts


# What each provider wants back, or it pushes the same receipts again.
RECEIPT_ACKS: dict[str, dict[str, Any]] = {
    AliyunSmsProvider.name: {"code": 0, "msg": "接收成功"},
    TencentSmsProvider.name: {"result": 0, "errmsg": "OK"},
}


def sms_receipts_parse(*, provider: str, body: bytes) -> list[SmsReceipt]:
    """The receipts in one push from `provider`; SmsReceiptMalformed when the body is not one."""
    if provider == AliyunSmsProvider.name:
        return parse_aliyun_receipts(body)
    if provider == TencentSmsProvider.name:
        return parse_tencent_receipts(body)
    raise SmsProviderUnknown(detail={"provider": provider[:32]})
