"""Kuaidi100 (快递100) subscription tracking: subscribe a waybill (POST poll.kuaidi100.com/poll)
and read the pushes it sends to our callback.

The push (Kuaidi100's 推送接口), as its specification describes it: an
`application/x-www-form-urlencoded` POST with `param` — a JSON string — and, when the
subscription carried a `salt`, `sign` = MD5(param + salt) in upper-case hex. `param` holds
`status` (polling / shutdown / abort / updateall), `message`, and `lastResult` with `nu`
(the waybill), `com`, `ischeck` ("1" once signed for), `state` (the waybill's main state) and
`data`: the whole route so far, newest first, each entry `{context, time, ftime}` plus
`status` / `statusCode` / `areaName` when the subscription asked for `resultv2`.
The answer Kuaidi100 expects: `{"result": true, "returnCode": "200", "message": "成功"}`;
anything else makes it retry (three times, 30 minutes apart).

State codes → our statuses (written down here, tested in tests/fulfillment/test_carriers.py):
  1 揽收 → handed_over (but 101 已下单 / 102 待揽收 → created); 0 在途, 7 转投, 8 清关, 10 待清关, 11 清关中, 12 已清关 → in_transit;
  5 派件 → out_for_delivery; 3 签收 → delivered; 2 疑难, 4 退签, 6 退回, 13 清关异常,
  14 拒签 → exception. With resultv2 the sub-states (101 已下单, 102 待揽收, 103 已揽收, 1001
  到达派件城市, 501 投柜或驿站, 301 本人签收 …) map through their leading digit(s).
`ischeck` = "1" makes the newest entry a delivery whatever `state` says.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import json
from typing import Any
from zoneinfo import ZoneInfo

from freshloop.fulfillment.carriers.base import TrackingUpdate, Waybill, WaybillRequest
from freshloop.fulfillment.carriers.sandbox import SandboxCarrier

SHANGHAI = ZoneInfo("Asia/Shanghai")
SUBSCRIBE_URL = "https://poll.kuaidi100.com/poll"
ACK = {"result": True, "returnCode": "200", "message": "成功"}

STATE_TO_STATUS: dict[int, str] = {
    0: "in_transit",
    1: "handed_over",
    2: "exception",
    3: "delivered",
    4: "exception",
    5: "out_for_delivery",
    6: "exception",
    7: "in_transit",
    8: "in_transit",
    10: "in_transit",
    11: "in_transit",
    12: "in_transit",
    13: "exception",
    14: "exception",
}


NOT_YET_COLLECTED = frozenset({101, 102})
"""resultv2's 已下单 / 待揽收: the carrier has the order but not the parcel yet."""


class Kuaidi100Error(ValueError):
    """A push that is not what the specification describes (wrong shape, bad sign)."""

    def __init__(self, reason: str, *, signature: bool = False) -> None:
        super().__init__(reason)
        self.signature = signature


def state_status(code: Any) -> str | None:
    """Our status for a Kuaidi100 state or resultv2 sub-state code; None when unknown."""
    try:
        number = int(str(code).strip())
    except (TypeError, ValueError):
        return None
    if number in STATE_TO_STATUS:
        return STATE_TO_STATUS[number]
    if number in NOT_YET_COLLECTED:
        return "created"
    # resultv2 sub-states extend a main state: 103 → 1 (揽收), 1001..1003 → 0 (在途),
    # 501 → 5 (派件), 301..304 → 3 (签收), 201..210 → 2 (疑难).
    text = str(number)
    if len(text) == 4 and text.startswith("10"):
        return STATE_TO_STATUS[0]
    if len(text) == 3:
        return STATE_TO_STATUS.get(int(text[0]))
    return None


def push_sign(param: str, salt: str) -> str:
    return hashlib.md5((param + salt).encode("utf-8")).hexdigest().upper()  # noqa: S324 (the carrier's scheme)


def _moment(entry: dict[str, Any]) -> dt.datetime:
    raw = str(entry.get("ftime") or entry.get("time") or "")
    try:
        parsed = dt.datetime.strptime(raw, "%Y-%m-%d %H:%M:%S")
    except ValueError as error:
        raise Kuaidi100Error(f"时间格式不正确：{raw[:40]}") from error
    return parsed.replace(tzinfo=SHANGHAI).astimezone(dt.UTC)


class Kuaidi100Provider:
    name = "kuaidi100"

    def __init__(self, *, company: str, salt: str, key: str = "") -> None:
        self.company = company
        self.salt = salt
        self.key = key

    def request_waybill(self, request: WaybillRequest) -> Waybill:
        """Kuaidi100 tracks; the label comes from our own numbering until an e-waybill
        contract exists (see the package docstring)."""
        return SandboxCarrier().request_waybill(request)

    def subscribe_form(
        self, *, waybill_no: str, receiver_city: str, callback_url: str
    ) -> dict[str, str]:
        """The subscription request's form fields (schema, param) as the specification
        describes them."""
        param = {
            "company": self.company,
            "number": waybill_no,
            "to": receiver_city,
            "key": self.key,
            "parameters": {"callbackurl": callback_url, "salt": self.salt, "resultv2": "1"},
        }
        return {"schema": "json", "param": json.dumps(param, ensure_ascii=False)}

    def subscribe_tracking(self, *, waybill_no: str, receiver_city: str, callback_url: str) -> None:
        import httpx

        form = self.subscribe_form(
            waybill_no=waybill_no, receiver_city=receiver_city, callback_url=callback_url
        )
        response = httpx.post(SUBSCRIBE_URL, data=form, timeout=10)
        answer = response.json()
        # 200 subscribed; 501 already subscribed (a repeated subscription is harmless).
        if str(answer.get("returnCode")) not in {"200", "501"}:
            raise Kuaidi100Error(f"订阅失败：{answer.get('message', '')}"[:200])

    def parse_push(self, form: dict[str, str]) -> list[TrackingUpdate]:
        """The route in one push, oldest first. Raises Kuaidi100Error (signature=True when
        the sign is missing or wrong) — check before anything is written."""
        param = form.get("param", "")
        if self.salt:
            given = form.get("sign", "")
            if not given or not hmac.compare_digest(given.upper(), push_sign(param, self.salt)):
                raise Kuaidi100Error("签名不一致", signature=True)
        try:
            body = json.loads(param)
        except ValueError as error:
            raise Kuaidi100Error("param 不是 JSON") from error
        if not isinstance(body, dict) or not isinstance(body.get("lastResult"), dict):
            raise Kuaidi100Error("缺少 lastResult")
        result = body["lastResult"]
        waybill_no = str(result.get("nu") or "").strip()
        entries = result.get("data") or []
        if not waybill_no or not isinstance(entries, list):
            raise Kuaidi100Error("缺少运单号或轨迹")
        newest_status = state_status(result.get("state")) or "in_transit"
        if str(result.get("ischeck", "0")) == "1":
            newest_status = "delivered"
        updates: list[TrackingUpdate] = []
        for position, entry in enumerate(entries):
            if not isinstance(entry, dict):
                raise Kuaidi100Error("轨迹条目格式不正确")
            occurred_at = _moment(entry)
            context = str(entry.get("context") or "")[:200]
            # Only the newest entry carries the waybill's state; older ones are en route
            # unless resultv2 gave each its own code.
            status = state_status(entry.get("statusCode")) or (
                newest_status if position == 0 else "in_transit"
            )
            fingerprint = hashlib.sha256(
                f"{waybill_no}|{occurred_at.isoformat()}|{context}".encode()
            ).hexdigest()[:40]
            updates.append(
                TrackingUpdate(
                    waybill_no=waybill_no,
                    status=status,
                    occurred_at=occurred_at,
                    external_id=f"k100:{fingerprint}",
                    description=context,
                    location=str(entry.get("areaName") or "")[:64],
                )
            )
        updates.reverse()
        return updates
