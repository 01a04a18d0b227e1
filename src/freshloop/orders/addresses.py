"""The buyer's address book: saved delivery addresses, one of them the default; reading an
address typed or pasted as one line (「智能填写」); the province → city → district tree for
pickers. Re-exported by `orders.services` (the module's face).

The address book is a convenience in front of checkout: an order still keeps its own copy of
the address, so editing or deleting a book entry never changes a placed order.
"""

from __future__ import annotations

import functools
import re
from dataclasses import dataclass
from typing import Any

import phonenumbers
from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.identity.models import Person
from freshloop.orders.errors import (
    AddressInvalid,
    AddressLimitExceeded,
    AddressNotFound,
    AddressUnparseable,
)
from freshloop.orders.locks import addresses_lock
from freshloop.orders.models import Address

MAX_ADDRESSES = 20
FIELD_LIMITS = {
    "name": ("收货人", 32),
    "phone": ("手机号", 20),
    "province": ("省份", 32),
    "city": ("城市", 32),
    "district": ("区县", 32),
    "detail": ("详细地址", 120),
    "label": ("标签", 8),
}
REQUIRED = ("name", "phone", "province", "city", "detail")


def mobile_normalise(raw: str, *, field: str = "phone") -> str:
    """A mainland China mobile number as its 11 digits ("13800138000"), or AddressInvalid
    naming the field. Accepts spaces, dashes and a +86 / 0086 prefix."""
    text = raw.strip() if isinstance(raw, str) else ""
    try:
        parsed = phonenumbers.parse(text, "CN")
    except phonenumbers.NumberParseException:
        parsed = None
    if (
        parsed is None
        or parsed.country_code != 86
        or not phonenumbers.is_valid_number(parsed)
        or phonenumbers.number_type(parsed)
        not in (
            phonenumbers.PhoneNumberType.MOBILE,
            phonenumbers.PhoneNumberType.FIXED_LINE_OR_MOBILE,
        )
    ):
        raise AddressInvalid(
            "手机号格式不正确，请填写 11 位中国大陆手机号", detail={"field": field}
        )
    return str(parsed.national_number)


def _clean(values: dict[str, Any]) -> dict[str, str]:
    cleaned: dict[str, str] = {}
    for key, (label, limit) in FIELD_LIMITS.items():
        value = values.get(key, "")
        if not isinstance(value, str):
            raise AddressInvalid(f"{label}格式不正确", detail={"field": key})
        value = value.strip()
        if key in REQUIRED and not value:
            raise AddressInvalid(f"请填写{label}", detail={"field": key})
        if len(value) > limit:
            raise AddressInvalid(f"{label}不能超过 {limit} 个字", detail={"field": key})
        cleaned[key] = value
    cleaned["phone"] = mobile_normalise(cleaned["phone"])
    return cleaned


def _find(book: list[Address], address_id: int) -> Address:
    for address in book:
        if address.pk == address_id:
            return address
    raise AddressNotFound(detail={"address_id": address_id})


def _make_default(book: list[Address], chosen: Address) -> None:
    """`chosen` becomes the one default: the old default is cleared first (the partial unique
    constraint allows one default per person at any moment)."""
    for address in book:
        if address.is_default and address.pk != chosen.pk:
            Address.objects.filter(pk=address.pk).update(is_default=False)
            address.is_default = False
    if not chosen.is_default:
        Address.objects.filter(pk=chosen.pk).update(is_default=True)
        chosen.is_default = True


def address_create(
    *,
    person: Person,
    name: str,
    phone: str,
    province: str,
    city: str,
    district: str = "",
    detail: str,
    label: str = "",
    is_default: bool = False,
) -> Address:
    """Save a new address. The first one is the default whatever was asked; `is_default`
    makes a later one the default. At most `MAX_ADDRESSES` per person."""
    cleaned = _clean(
        {
            "name": name,
            "phone": phone,
            "province": province,
            "city": city,
            "district": district,
            "detail": detail,
            "label": label,
        }
    )
    try:
        return _address_create_atomic(person, cleaned, is_default)
    except IntegrityError:
        # Two first addresses at the same moment both wanted to be the default (nothing to
        # lock yet); the one-default constraint refused the second: again, now under lock.
        return _address_create_atomic(person, cleaned, is_default)


@transaction.atomic
def _address_create_atomic(person: Person, cleaned: dict[str, str], is_default: bool) -> Address:
    book = addresses_lock(person.pk)
    if len(book) >= MAX_ADDRESSES:
        raise AddressLimitExceeded(detail={"max": MAX_ADDRESSES})
    now = clock.now()
    address = Address.objects.create(
        person=person, is_default=not book, created_at=now, updated_at=now, **cleaned
    )
    if is_default and book:
        _make_default(book, address)
    return address


@transaction.atomic
def address_update(
    *,
    person: Person,
    address_id: int,
    name: str,
    phone: str,
    province: str,
    city: str,
    district: str = "",
    detail: str,
    label: str = "",
    is_default: bool = False,
) -> Address:
    """Replace an address's fields. `is_default=True` makes it the default; False leaves the
    default where it is (the default moves only to another address, never away to none)."""
    cleaned = _clean(
        {
            "name": name,
            "phone": phone,
            "province": province,
            "city": city,
            "district": district,
            "detail": detail,
            "label": label,
        }
    )
    book = addresses_lock(person.pk)
    address = _find(book, address_id)
    for key, value in cleaned.items():
        setattr(address, key, value)
    address.updated_at = clock.now()
    address.save(update_fields=[*cleaned, "updated_at"])
    if is_default:
        _make_default(book, address)
    return address


@transaction.atomic
def address_set_default(*, person: Person, address_id: int) -> Address:
    book = addresses_lock(person.pk)
    address = _find(book, address_id)
    _make_default(book, address)
    return address


@transaction.atomic
def address_delete(*, person: Person, address_id: int) -> None:
    """Delete an address; when it was the default, the most recently updated of the others
    becomes the default."""
    book = addresses_lock(person.pk)
    address = _find(book, address_id)
    rest = [a for a in book if a.pk != address_id]
    address.delete()
    if address.is_default and rest:
        newest = max(rest, key=lambda a: (a.updated_at, a.pk))
        Address.objects.filter(pk=newest.pk).update(is_default=True)


# --- 智能填写: one pasted line → the form's fields ----------------------------------------

_PHONE = re.compile(r"(?<!\d)(?:(?:\+|00)?86[\s-]?)?(1[3-9]\d(?:[\s-]?\d){8})(?!\d)")
_LABELS = re.compile(
    r"(收货人|收件人|联系人|姓名|手机号码|手机号|联系电话|电话|手机|所在地区|详细地址|收货地址|地址)\s*[:：]?"
)
_SEPARATORS = re.compile(r"[\s,，;；:：、|/]+")
MAX_PARSE_TEXT = 300


@dataclass(frozen=True)
class ParsedAddress:
    name: str
    phone: str
    province: str
    city: str
    district: str
    detail: str


@functools.cache
def _location_parser() -> Any:
    """jionlp's parser, built once per process (it loads its bundled China location data)."""
    from jionlp.gadget.location_parser import LocationParser

    return LocationParser()


def _place(text: str) -> dict[str, Any]:
    """jionlp's reading of `text` (province, city, county, detail); {} when it cannot read it —
    it is a third-party heuristic run on whatever a buyer pastes, so any failure of its own
    means "not recognised", never a 500."""
    try:
        return dict(_location_parser()(text, town_village=False, change2new=True))
    except Exception:  # noqa: BLE001 — see the docstring
        return {}


def _is_place(token: str) -> bool:
    return bool(_place(token).get("province"))


def address_parse(*, text: str) -> ParsedAddress:
    """Read a name, a mobile number and a province/city/district/detail address out of one
    pasted line ("张三 13800138000 上海市浦东新区张江路1号"); AddressUnparseable when no
    province can be recognised. The phone and name may be missing (empty strings)."""
    text = (text or "").strip()[:MAX_PARSE_TEXT]
    phone = ""
    match = _PHONE.search(text)
    if match is not None:
        phone = re.sub(r"\D", "", match.group(1))
        text = text[: match.start()] + " " + text[match.end() :]
    tokens = [t for t in _SEPARATORS.split(_LABELS.sub(" ", text)) if t]
    # The name: a short token without digits that is not a place name, usually first or last.
    candidates = [
        t for t in tokens if len(t) <= 8 and not any(c.isdigit() for c in t) and not _is_place(t)
    ]
    name = ""
    if candidates:
        if tokens[0] in candidates:
            name = tokens[0]
        elif tokens[-1] in candidates:
            name = tokens[-1]
        else:
            name = min(candidates, key=len)
        tokens.remove(name)
    place = _place("".join(tokens)) if tokens else {}
    if not place.get("province"):
        raise AddressUnparseable(detail={"field": "text"})
    return ParsedAddress(
        name=name[:32],
        phone=phone,
        province=place.get("province") or "",
        city=place.get("city") or "",
        district=place.get("county") or "",
        detail=(place.get("detail") or "").strip()[:120],
    )


# --- regions for the pickers --------------------------------------------------------------


def _code(node: Any) -> str:
    return str(node.get("_admin_code", "")) if isinstance(node, dict) else ""


def _children(node: dict[str, Any]) -> list[str]:
    names = [key for key in node if not key.startswith("_") and key != "市直辖行政区划"]
    return sorted(names, key=lambda key: (_code(node[key]), key))


@functools.cache
def _region_tree() -> dict[str, Any]:
    """jionlp's bundled China location data, provinces → cities → districts, read once per
    process."""
    from jionlp.dictionary import china_location_loader

    return dict(china_location_loader(detail=False))


def region_names(*, province: str = "", city: str = "") -> list[str]:
    """One level of the region tree, by name: the provinces; a province's cities; a city's
    districts. An unknown name has no children (an empty list)."""
    tree = _region_tree()
    if not province:
        return _children(tree)
    cities = tree.get(province)
    if not isinstance(cities, dict):
        return []
    if not city:
        return _children(cities)
    districts = cities.get(city)
    if not isinstance(districts, dict):
        return []
    return _children(districts)
