"""What identify accepts: identifiers normalised (phone to E.164, scoped ids), hashed to their\nblind index, and traits checked."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import phonenumbers

from freshloop.core import crypto
from freshloop.identity.errors import (
    ConflictingIdentifiers,
    InvalidIdentifier,
    InvalidPhone,
    TooManyIdentifiers,
)
from freshloop.identity.rules import IDENTIFIER_RULES, rule_for

MAX_IDENTIFIERS_PER_CALL = 20
MAX_VALUE_LENGTH = 256
MAX_TRAITS = 50


@dataclass(frozen=True)
class IdentifierInput:
    type: str
    value: str
    scope: str = ""
    verified: bool = False


@dataclass(frozen=True)
class NormalisedIdentifier:
    type: str
    scope: str
    value: str
    index: str
    verified: bool

    @property
    def key(self) -> str:
        return identifier_key(self.type, self.scope, self.index)


def identifier_key(identifier_type: str, scope: str, index: str) -> str:
    """Stable sort key of an identifier, used by the canonical partition."""
    return f"{identifier_type}\x00{scope}\x00{index}"


def identifier_index(identifier_type: str, value: str, scope: str = "") -> str:
    return crypto.blind_index(f"{scope}\x00{value}", purpose=f"identifier:{identifier_type}")


def phone_normalise(raw: str, *, default_region: str = "CN") -> str:
    """Return the E.164 form of a phone number, or raise InvalidPhone."""
    if not isinstance(raw, str) or not raw.strip() or len(raw) > 32:
        raise InvalidPhone(detail={"phone": "empty or too long"})
    try:
        parsed = phonenumbers.parse(raw.strip(), default_region)
    except phonenumbers.NumberParseException as exc:
        raise InvalidPhone(detail={"phone": "unparseable"}) from exc
    if not phonenumbers.is_valid_number(parsed):
        raise InvalidPhone(detail={"phone": "not a valid number"})
    return phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)


def identifier_normalise(item: IdentifierInput) -> NormalisedIdentifier:
    """Validate one identifier and bring it to its canonical text; raise InvalidIdentifier."""
    if item.type not in IDENTIFIER_RULES:
        raise InvalidIdentifier(
            "未知的身份标识类型", detail={"type": item.type, "allowed": sorted(IDENTIFIER_RULES)}
        )
    rule = rule_for(item.type)
    raw = item.value.strip() if isinstance(item.value, str) else ""
    if not raw or len(raw) > MAX_VALUE_LENGTH:
        raise InvalidIdentifier("身份标识的值为空或过长", detail={"type": item.type})
    scope = item.scope.strip()
    if rule.scoped and not scope:
        raise InvalidIdentifier(
            f"{rule.label} 需要提供 scope（应用或企业 ID）", detail={"type": item.type}
        )
    if not rule.scoped:
        scope = ""
    if item.type == "phone":
        try:
            value = phone_normalise(raw)
        except InvalidPhone as error:
            raise InvalidIdentifier("手机号格式不正确", detail={"type": "phone"}) from error
    elif item.type == "email":
        if "@" not in raw or raw.startswith("@") or raw.endswith("@"):
            raise InvalidIdentifier("邮箱格式不正确", detail={"type": "email"})
        value = raw.lower()
    else:
        value = raw
    return NormalisedIdentifier(
        type=item.type,
        scope=scope,
        value=value,
        index=identifier_index(item.type, value, scope),
        verified=bool(item.verified),
    )


def identifiers_normalise(items: Sequence[IdentifierInput]) -> list[NormalisedIdentifier]:
    """Normalise a call's identifiers: deduplicated, bounded, and free of self-contradiction."""
    if not items:
        raise InvalidIdentifier("至少需要一个身份标识")
    if len(items) > MAX_IDENTIFIERS_PER_CALL:
        raise TooManyIdentifiers(detail={"max": MAX_IDENTIFIERS_PER_CALL, "got": len(items)})
    merged: dict[tuple[str, str, str], NormalisedIdentifier] = {}
    for item in items:
        normalised = identifier_normalise(item)
        slot = (normalised.type, normalised.scope, normalised.index)
        previous = merged.get(slot)
        if previous is None or (normalised.verified and not previous.verified):
            merged[slot] = normalised
    single: dict[tuple[str, str], str] = {}
    for normalised in merged.values():
        if not rule_for(normalised.type).single_valued:
            continue
        other = single.setdefault((normalised.type, normalised.scope), normalised.index)
        if other != normalised.index:
            raise ConflictingIdentifiers(detail={"type": normalised.type})
    return sorted(merged.values(), key=lambda n: n.key)


_TRAIT_SCALARS = (str, int, float, bool, type(None))


def traits_validate(traits: dict[str, Any]) -> dict[str, Any]:
    """Traits are flat: short names, scalar values (or short lists of strings)."""
    if not isinstance(traits, dict):
        raise InvalidIdentifier("traits 必须是对象")
    if len(traits) > MAX_TRAITS:
        raise InvalidIdentifier("属性过多", detail={"max": MAX_TRAITS})
    for name, value in traits.items():
        if not isinstance(name, str) or not 0 < len(name) <= 64:
            raise InvalidIdentifier("属性名需为 1-64 个字符", detail={"trait": str(name)[:64]})
        is_list = (
            isinstance(value, list) and len(value) <= 50 and all(isinstance(v, str) for v in value)
        )
        if not (isinstance(value, _TRAIT_SCALARS) or is_list):
            raise InvalidIdentifier(
                "属性值只能是文本、数字、布尔或文本列表", detail={"trait": name}
            )
        if isinstance(value, str) and len(value) > 500:
            raise InvalidIdentifier("属性值过长", detail={"trait": name})
    return dict(traits)
