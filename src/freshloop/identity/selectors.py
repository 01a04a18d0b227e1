from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from freshloop.core import crypto
from freshloop.identity.models import Identifier, IdentifierType, MergeRecord, Person
from freshloop.identity.privacy import person_get
from freshloop.identity.resolver import (
    PRIVATE_TRAITS,
    IdentifierInput,
    identifier_normalise,
    identifiers_normalise,
    phone_normalise,
)
from freshloop.identity.rules import rule_for

# Re-exported as part of the module's public face (see services.__all__).
__all__ = [
    "PRIVATE_TRAITS",
    "identifier_normalise",
    "identifiers_normalise",
    "person_get",
    "phone_normalise",
]


def identifier_mask(identifier: Identifier) -> str:
    """What a screen or a log may show of an identifier's value."""
    value = identifier.value
    if identifier.type == IdentifierType.PHONE:
        return crypto.mask_phone(value)
    if identifier.type == IdentifierType.EMAIL:
        local, _, domain = value.partition("@")
        return f"{local[:1]}***@{domain}"
    return f"{value[:3]}***{value[-3:]}" if len(value) > 8 else "***"


@dataclass(frozen=True)
class MaskedIdentifier:
    type: str
    masked_value: str
    verified: bool
    label: str = ""


def person_identifiers_masked(*, person: Person) -> list[MaskedIdentifier]:
    return [
        MaskedIdentifier(
            type=ident.type,
            masked_value=identifier_mask(ident),
            verified=ident.verified,
            label=str(IdentifierType(ident.type).label),
        )
        for ident in person.identifiers.order_by("type", "pk")
    ]


def person_by_identifier(*, identifier_type: str, value: str, scope: str = "") -> Person | None:
    """Look a person up by any identifier (normalised the same way identify() does)."""

    normalised = identifier_normalise(
        IdentifierInput(type=identifier_type, value=value, scope=scope)
    )
    identifier = (
        Identifier.objects.select_related("person")
        .filter(type=normalised.type, scope=normalised.scope, value_index=normalised.index)
        .first()
    )
    return identifier.person if identifier is not None else None


def person_ids_by_any_identifier(*, term: str) -> list[int]:
    """Person ids holding an identifier equal to `term`, trying every type (and every scope
    seen for scoped types): what an operator types in a search box is a phone, an openid, an
    email… and the box does not ask which."""
    from freshloop.core.errors import DomainError

    found: set[int] = set()
    for identifier_type in IdentifierType.values:
        scopes = [""]
        if rule_for(identifier_type).scoped:
            scopes = list(
                Identifier.objects.filter(type=identifier_type)
                .values_list("scope", flat=True)
                .distinct()
            )
        for scope in scopes:
            try:
                normalised = identifier_normalise(
                    IdentifierInput(type=identifier_type, value=term, scope=scope)
                )
            except DomainError:
                continue
            found |= set(
                Identifier.objects.filter(
                    type=normalised.type, scope=normalised.scope, value_index=normalised.index
                ).values_list("person_id", flat=True)
            )
    return sorted(found)


def person_summary(*, person: Person, requested_one_id: str | None = None) -> dict[str, object]:
    return {
        "one_id": person.one_id,
        "status": person.status,
        "display_name": person.display_name,
        "traits": person.traits,
        "identifiers": [
            {
                "id": ident.pk,
                "type": ident.type,
                "scope": ident.scope,
                "masked_value": identifier_mask(ident),
                "verified": ident.verified,
            }
            for ident in person.identifiers.order_by("type", "pk")
        ],
        "merged_from": list(
            MergeRecord.objects.filter(into_person=person).values_list(
                "from_person__one_id", flat=True
            )
        ),
        "requested_one_id": requested_one_id,
        "created_at": person.created_at,
    }


# How splink's comparison levels (MatchCandidate.evidence) read to an operator.
_MATCH_FIELD_LABELS = {"name": "姓名", "address": "地址", "masked_phone": "手机号", "city": "城市"}
_FUZZY_LEVELS = {3: "一致", 2: "高度相似", 1: "相似", 0: "不同", -1: "缺失"}
_EXACT_LEVELS = {1: "一致", 0: "不同", -1: "缺失"}


def _identifier_text(reference: dict[str, Any] | None, loaded: dict[int, Identifier]) -> str:
    """Type and masked value of an identifier named in a merge record. The value is masked
    from the live row, so an erased identifier shows as erased."""
    if not reference:
        return "（未记录）"
    identifier = loaded.get(int(reference.get("id", 0)))
    type_value = identifier.type if identifier is not None else str(reference.get("type", ""))
    label = (
        str(IdentifierType(type_value).label) if type_value in IdentifierType.values else type_value
    )
    if identifier is None:
        return f"{label}（已不存在）"
    if not identifier.value:
        return f"{label}（已删除）"
    return f"{label} {identifier_mask(identifier)}"


def merge_evidence_text(record: MergeRecord) -> str:
    """One line for the merge history: which identifier proved the merge (masked), what it was
    linked to and by which source, and for a review merge the operator's decision and the
    match candidate's score and compared fields. Records from before evidence was kept say so."""
    detail = record.evidence_detail or {}
    if not detail.get("identifier"):
        return "（未记录证据）"
    ids = [
        int(reference["id"])
        for reference in [
            detail.get("identifier"),
            detail.get("linked_with"),
            *detail.get("via", []),
        ]
        if reference and "id" in reference
    ]
    loaded = Identifier.objects.in_bulk(ids)
    text = f"{_identifier_text(detail['identifier'], loaded)}，关联 {_identifier_text(detail.get('linked_with'), loaded)}"
    via = detail.get("via") or []
    if via:
        text += f"（经 {len(via)} 个标识）"
    if detail.get("link_source"):
        text += f"，来源 {detail['link_source']}"
    decision = detail.get("decision")
    candidate = detail.get("candidate")
    if decision and candidate:
        fields = "、".join(
            f"{_MATCH_FIELD_LABELS.get(name, name)}"
            + (_FUZZY_LEVELS if name in ("name", "address") else _EXACT_LEVELS).get(
                int(level), str(level)
            )
            for name, level in sorted(candidate.get("fields", {}).items())
        )
        text = (
            f"审核通过：{decision.get('by', '')} 确认是同一人"
            f"（候选 #{candidate.get('id')}，匹配概率 {float(candidate.get('score', 0)):.1%}"
            + (f"，{fields}" if fields else "")
            + f"）；{text}"
        )
    return text


def person_family_ids(person_id: int) -> list[int]:
    """The person and everyone merged into them in OneID, however deep (rows a lost merge
    handler left on a merged-away id belong to them too), in id order; bounded so a corrupt
    cycle cannot hang. What PIPL erasure scrubs in every module."""
    family = {person_id}
    frontier = {person_id}
    for _ in range(10):
        frontier = (
            set(Person.objects.filter(merged_into_id__in=frontier).values_list("pk", flat=True))
            - family
        )
        if not frontier:
            break
        family |= frontier
    return sorted(family)


# --- traits, as people read them ---------------------------------------------------------------

# Chinese names of the person traits the system itself writes (identify, the shop, the demo),
# and of their known values: the back office's person page, the data hub's profile and its
# segment builder all read them here. Traits nobody declared show under their own name.
KNOWN_TRAITS: dict[str, tuple[str, dict[str, str]]] = {
    "gender": ("性别", {"female": "女", "male": "男"}),
    "birth_year": ("出生年份", {}),
    "province": ("省份", {}),
    "city": ("城市", {}),
    "nickname": ("昵称", {}),
    "member_level": ("会员等级", {}),
}


def trait_label(name: str) -> str:
    known = KNOWN_TRAITS.get(name)
    return known[0] if known else name


def trait_value_label(name: str, value: str) -> str:
    known = KNOWN_TRAITS.get(name)
    return known[1].get(value, value) if known else value


def _trait_value_text(value: Any) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return "是" if value else "否"
    if isinstance(value, list):
        return "、".join(_trait_value_text(item) for item in value)
    if isinstance(value, dict):
        return "；".join(f"{key}：{_trait_value_text(item)}" for key, item in value.items())
    return str(value)


def person_traits_readable(*, person: Person) -> list[tuple[str, str]]:
    """The person's public traits as (Chinese name, readable value) rows, known traits first
    in their declared order, then the rest by name."""
    traits = person.traits if isinstance(person.traits, dict) else {}
    order = {name: index for index, name in enumerate(KNOWN_TRAITS)}
    names = sorted(traits, key=lambda name: (order.get(name, len(order)), name))
    return [
        (trait_label(name), trait_value_label(name, _trait_value_text(traits[name])))
        for name in names
    ]
