"""What of an erased person's event may stay (PIPL): the rule both the erasure pass
(`eventstore.privacy`) and the flush (for anything arriving later) apply.

An event keeps numbers and yes/no values (amounts, counts, ids, seconds), nested objects and
lists by the same rule (an order's lines), and text only under the names the system itself
writes for codes and catalogue facts (`KEPT_TEXT_KEYS`: order numbers, channels, statuses,
product names, the province an order went to — coarse, and kept on the order itself too).
Everything else goes: text under any other name is treated as free text (a search, a refund
reason, a custom event's field); a name that says what it holds — phone, name, address, city,
birthday, openid, comment… (`PERSONAL_KEY_TOKENS`) — goes whatever its value; so does a number
or code shaped like a mobile or ID-card number, and a key that is not a plain name.
"""

from __future__ import annotations

import re
from typing import Any

import orjson

KEPT_TEXT_KEYS = frozenset(
    {
        "action",
        "carrier",
        "category",
        "channel",
        "coupon_code",
        "direction",
        "from_level_code",
        "from_one_id",
        "into_one_id",
        "live_session",
        "method",
        "one_id",
        "order_no",
        "order_ref",
        "product_name",
        "provider",
        "province",
        "refund_no",
        "session_code",
        "sku_code",
        "source",
        "source_ref",
        "spec",
        "status",
        "store_code",
        "template_code",
        "to_level_code",
        "transaction_id",
    }
)
"""Text the system writes for codes and catalogue facts: never a person's own words."""

PERSONAL_KEY_TOKENS = frozenset(
    {
        "addr",
        "address",
        "agent",
        "avatar",
        "birth",
        "birthday",
        "birthdate",
        "card",
        "city",
        "comment",
        "consignee",
        "contact",
        "content",
        "county",
        "detail",
        "device",
        "district",
        "dob",
        "email",
        "gender",
        "geo",
        "idcard",
        "ip",
        "keyword",
        "lat",
        "latitude",
        "lng",
        "location",
        "lon",
        "longitude",
        "mail",
        "message",
        "mobile",
        "msg",
        "name",
        "nick",
        "nickname",
        "note",
        "openid",
        "passport",
        "path",
        "phone",
        "photo",
        "postal",
        "postcode",
        "qq",
        "query",
        "realname",
        "reason",
        "receiver",
        "recipient",
        "referer",
        "referrer",
        "remark",
        "street",
        "tel",
        "telephone",
        "text",
        "title",
        "tracking",
        "ua",
        "unionid",
        "url",
        "userid",
        "wechat",
        "wx",
        "zip",
    }
)
"""Words in a property's name that say it holds something personal (any value type)."""

_KEY = re.compile(r"^[A-Za-z_][A-Za-z0-9_]{0,63}$")
_TOKEN = re.compile(r"[A-Z]?[a-z]+|[A-Z]+(?![a-z])|\d+")
# A mainland mobile (optionally +86) or an 18-character resident ID number, standing on its own
# rather than inside a longer code (an order or transaction number may hold such a digit run).
_PERSONAL_VALUE = re.compile(
    r"(?<![0-9A-Za-z])(?:\+?86[- ]?)?1[3-9]\d{9}(?!\d)|(?<![0-9A-Za-z])\d{17}[0-9Xx](?![0-9A-Za-z])"
)


def _personal_key(key: str) -> bool:
    tokens = {token.lower() for token in _TOKEN.findall(key)}
    return bool(tokens & PERSONAL_KEY_TOKENS) or "idcard" in key.lower().replace("_", "")


def _personal_value(value: str | int) -> bool:
    return bool(_PERSONAL_VALUE.search(str(value)))


_DROP = object()


def _scrub_value(value: Any, *, text_allowed: bool) -> Any:
    if isinstance(value, bool) or value is None:
        return value
    if isinstance(value, int | float):
        return _DROP if isinstance(value, int) and _personal_value(value) else value
    if isinstance(value, str):
        return value if text_allowed and not _personal_value(value) else _DROP
    if isinstance(value, dict):
        return properties_scrub(value)
    if isinstance(value, list):
        kept = [_scrub_value(item, text_allowed=text_allowed) for item in value]
        return [item for item in kept if item is not _DROP]
    return _DROP


def properties_scrub(properties: dict[str, Any]) -> dict[str, Any]:
    """An erased person's event properties with everything personal taken out (module doc)."""
    scrubbed: dict[str, Any] = {}
    for key, value in properties.items():
        if not isinstance(key, str) or not _KEY.match(key):
            continue  # a key that is itself data (a phone number as a key)
        text_allowed = key in KEPT_TEXT_KEYS
        if not text_allowed and _personal_key(key):
            continue
        kept = _scrub_value(value, text_allowed=text_allowed)
        if kept is not _DROP:
            scrubbed[key] = kept
    return scrubbed


def properties_json_scrub(properties: str | None) -> str | None:
    """`properties_scrub` on the store's JSON text (what is not an object is dropped)."""
    if properties is None:
        return None
    try:
        parsed = orjson.loads(properties)
    except orjson.JSONDecodeError:
        return "{}"
    cleaned = properties_scrub(parsed) if isinstance(parsed, dict) else {}
    return orjson.dumps(cleaned, option=orjson.OPT_NON_STR_KEYS).decode()


def buffer_payload_scrub(payload: dict[str, Any], *, person_id: int | None) -> dict[str, Any]:
    """A buffered event of an erased person: properties scrubbed, sealed identifiers and the
    client's session id dropped; the person id (when known) kept, so a replay of the row
    files it under the same tombstone."""
    properties = payload.get("properties")
    return {
        **payload,
        "properties": properties_scrub(properties) if isinstance(properties, dict) else {},
        "identity": None,
        "identity_key": None,
        "session_id": "",
        "person_id": person_id if person_id is not None else payload.get("person_id"),
    }
