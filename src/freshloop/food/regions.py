"""Regional product pools (SPEC FD-5): which region a customer is in, operators' rules per region
(pin / boost / hide a product or a category, with validity), and a product list ranked for a
region. The web layer composes: it asks `person_region` and orders its grid with
`products_rank_for_region`; catalog stays unaware of food (its region hook is fed by
`catalog_region_rule`, registered in apps).

A region is read fresh from the default delivery address on every call, so a customer who
moves sees the new region on the next page.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import hashlib
from collections.abc import Iterable, Sequence
from typing import Any

import phonenumbers
from django.db import transaction
from django.db.models import Q
from phonenumbers import geocoder

from freshloop.catalog.models import Category, Product
from freshloop.catalog.selectors import register_region_rule
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.fragments import fragment_version, fragment_version_bump
from freshloop.food.errors import RegionRuleInvalid, RegionRuleNotFound
from freshloop.food.models import RegionAction, RegionRule, RegionScope
from freshloop.identity.models import Identifier, IdentifierType, Person
from freshloop.orders.errors import AddressUnparseable
from freshloop.orders.models import Address
from freshloop.orders.selectors import address_default_for_person
from freshloop.orders.services import address_parse, region_names

REGION_RULES_FRAGMENT = "food-regions"
"""Bumped on every rule write, so cached regional grids show an edit at once."""

SOUTH, NORTH = "南方", "北方"
# The 秦岭–淮河 line, by province (the short name jionlp's full names start with). 江苏 and
# 安徽 straddle it; like most food brands' split we count them south (rice-eating).
_NORTH_PROVINCES = (
    "北京", "天津", "河北", "山西", "内蒙古", "辽宁", "吉林", "黑龙江", "山东", "河南",
    "陕西", "甘肃", "宁夏", "青海", "新疆",
)  # fmt: skip
_SOUTH_PROVINCES = (
    "上海", "江苏", "浙江", "安徽", "福建", "江西", "湖北", "湖南", "广东", "广西", "海南",
    "重庆", "四川", "贵州", "云南", "西藏", "香港", "澳门", "台湾",
)  # fmt: skip
_SPECIFICITY = {RegionScope.CITY: 3, RegionScope.PROVINCE: 2, RegionScope.ZONE: 1}


@dataclasses.dataclass(frozen=True)
class Region:
    province: str = ""
    city: str = ""
    source: str = ""  # "address" | "phone" | "" (unknown)

    @property
    def zone(self) -> str:
        return province_zone(self.province)

    @property
    def key(self) -> str:
        return f"{self.province}|{self.city}"

    @property
    def label(self) -> str:
        if not self.province:
            return "未知地区"
        city = self.city if self.city and self.city != self.province else ""
        return f"{self.province}{city}"


UNKNOWN = Region()


def province_zone(province: str) -> str:
    """南方 / 北方 for a province name (full or short), "" when unknown."""
    for short in _NORTH_PROVINCES:
        if province.startswith(short):
            return NORTH
    for short in _SOUTH_PROVINCES:
        if province.startswith(short):
            return SOUTH
    return ""


def region_from_phone(phone: str) -> Region:
    """The region a mainland mobile number was issued in (phonenumbers' geocoder, zh), read
    into province / city by the address parser; UNKNOWN when either cannot tell."""
    try:
        parsed = phonenumbers.parse(phone, "CN")
    except phonenumbers.NumberParseException:
        return UNKNOWN
    if parsed.country_code != 86 or not phonenumbers.is_valid_number(parsed):
        return UNKNOWN
    described = geocoder.description_for_number(parsed, "zh")
    if not described:
        return UNKNOWN
    return _region_from_text(described, source="phone")


@functools.lru_cache(maxsize=1024)
def _region_from_text(text: str, *, source: str) -> Region:
    try:
        place = address_parse(text=text)
    except AddressUnparseable:
        return UNKNOWN
    return Region(province=place.province, city=place.city, source=source)


def _person_phone(person: Person) -> str:
    identifier = (
        Identifier.objects.filter(person=person, type=IdentifierType.PHONE).order_by("pk").first()
    )
    return str(identifier.value) if identifier is not None else ""


def person_region(*, person: Person | None) -> Region:
    """The customer's region: the default delivery address's province and city, else where
    their phone number was issued, else UNKNOWN (an anonymous visitor too)."""
    if person is None:
        return UNKNOWN
    address = address_default_for_person(person=person)
    if address is not None and address.province:
        return Region(province=address.province, city=address.city, source="address")
    phone = _person_phone(person)
    return region_from_phone(phone) if phone else UNKNOWN


# --- rules ---------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class RegionRuleSpec:
    scope: str
    region: str
    action: str
    product_id: int | None = None
    category_id: int | None = None
    weight: int = 0
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    is_active: bool = True
    note: str = ""


def _invalid(message: str, field: str) -> RegionRuleInvalid:
    return RegionRuleInvalid(message, detail=[{"field": field, "message": message}])


@functools.cache
def region_choices() -> dict[str, list[str]]:
    """The names a rule or a segment may name, per scope: the two zones, the provinces and the
    cities of the address picker's region tree (full names, as addresses store them)."""
    provinces = region_names()
    cities = sorted(
        {city for province in provinces for city in region_names(province=province)},
        key=lambda name: (len(name), name),
    )
    return {
        RegionScope.ZONE.value: [SOUTH, NORTH],
        RegionScope.PROVINCE.value: provinces,
        RegionScope.CITY.value: cities,
    }


def _known_region(scope: str, region: str) -> bool:
    return region in region_choices().get(scope, ())


def region_rule_validate(spec: RegionRuleSpec) -> None:
    if spec.scope not in RegionScope.values:
        raise _invalid("请选择区域级别（南北方 / 省份 / 城市）", "scope")
    region = (spec.region or "").strip()
    if not region or not _known_region(spec.scope, region):
        raise _invalid(f"不认识的区域「{region[:32]}」，请填写省份或城市全称", "region")
    if spec.action not in RegionAction.values:
        raise _invalid("请选择动作（置顶 / 加权 / 隐藏）", "action")
    if (spec.product_id is None) == (spec.category_id is None):
        raise _invalid("请选择一个商品或一个类目（二选一）", "product_id")
    if spec.product_id is not None and not Product.objects.filter(pk=spec.product_id).exists():
        raise _invalid("商品不存在", "product_id")
    if spec.category_id is not None and not Category.objects.filter(pk=spec.category_id).exists():
        raise _invalid("类目不存在", "category_id")
    if not isinstance(spec.weight, int) or isinstance(spec.weight, bool):
        raise _invalid("权重须为整数", "weight")
    if not -1000 <= spec.weight <= 1000:
        raise _invalid("权重须在 -1000 到 1000 之间", "weight")
    if spec.valid_from and spec.valid_until and spec.valid_until <= spec.valid_from:
        raise _invalid("失效时间须晚于生效时间", "valid_until")
    if len(spec.note) > 100:
        raise _invalid("备注不能超过 100 个字", "note")


def _snapshot(rule: RegionRule) -> dict[str, Any]:
    return {
        "scope": rule.scope,
        "region": rule.region,
        "action": rule.action,
        "product_id": rule.product_id,
        "category_id": rule.category_id,
        "weight": rule.weight,
        "valid_from": rule.valid_from,
        "valid_until": rule.valid_until,
        "is_active": rule.is_active,
    }


def _write(rule: RegionRule, spec: RegionRuleSpec) -> None:
    rule.scope = spec.scope
    rule.region = spec.region.strip()
    rule.action = spec.action
    rule.product_id = spec.product_id
    rule.category_id = spec.category_id
    rule.weight = spec.weight
    rule.valid_from = spec.valid_from
    rule.valid_until = spec.valid_until
    rule.is_active = spec.is_active
    rule.note = spec.note.strip()
    rule.updated_at = clock.now()


def region_rule_create(*, actor: Actor, spec: RegionRuleSpec) -> RegionRule:
    region_rule_validate(spec)
    with transaction.atomic():
        rule = RegionRule(created_at=clock.now())
        _write(rule, spec)
        rule.save(force_insert=True)
        audit_record(
            actor=actor, action="food.region_rule_create", target=rule, after=_snapshot(rule)
        )
        transaction.on_commit(lambda: fragment_version_bump(REGION_RULES_FRAGMENT))
    return rule


def region_rule_update(*, actor: Actor, rule_id: int, spec: RegionRuleSpec) -> RegionRule:
    region_rule_validate(spec)
    with transaction.atomic():
        rule = RegionRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise RegionRuleNotFound(detail={"rule_id": rule_id})
        before = _snapshot(rule)
        _write(rule, spec)
        rule.save()
        audit_record(
            actor=actor,
            action="food.region_rule_update",
            target=rule,
            before=before,
            after=_snapshot(rule),
        )
        transaction.on_commit(lambda: fragment_version_bump(REGION_RULES_FRAGMENT))
    return rule


def region_rule_delete(*, actor: Actor, rule_id: int) -> None:
    with transaction.atomic():
        rule = RegionRule.objects.filter(pk=rule_id).first()
        if rule is None:
            raise RegionRuleNotFound(detail={"rule_id": rule_id})
        audit_record(
            actor=actor, action="food.region_rule_delete", target=rule, before=_snapshot(rule)
        )
        rule.delete()
        transaction.on_commit(lambda: fragment_version_bump(REGION_RULES_FRAGMENT))


# --- reads ---------------------------------------------------------------------------------


def region_rules_in_force(*, region: Region, now: dt.datetime | None = None) -> list[RegionRule]:
    """The active rules whose region contains `region` and whose validity covers `now`."""
    if not region.province:
        return []
    moment = now or clock.now()
    places = Q(scope=RegionScope.PROVINCE, region=region.province)
    if region.zone:
        places |= Q(scope=RegionScope.ZONE, region=region.zone)
    if region.city:
        places |= Q(scope=RegionScope.CITY, region=region.city)
    return list(
        RegionRule.objects.filter(places, is_active=True)
        .filter(Q(valid_from__isnull=True) | Q(valid_from__lte=moment))
        .filter(Q(valid_until__isnull=True) | Q(valid_until__gt=moment))
        .order_by("pk")
    )


def _deciding_rule(product: Product, rules: Sequence[RegionRule]) -> RegionRule | None:
    """The rule that decides a product: the most specific region wins (city over province over
    zone), then a product rule over a category rule, then the larger weight."""
    matching = [
        rule
        for rule in rules
        if rule.product_id == product.pk
        or (rule.category_id is not None and rule.category_id == product.category_id)
    ]
    if not matching:
        return None
    return max(
        matching,
        key=lambda rule: (
            _SPECIFICITY[RegionScope(rule.scope)],
            rule.product_id is not None,
            rule.weight,
            -rule.pk,
        ),
    )


def products_rank_for_region(
    products: Iterable[Product], *, rules: Sequence[RegionRule]
) -> list[Product]:
    """`products` for a region: hidden ones dropped, pinned ones first (by weight), boosted ones
    next (by weight), then the rest in their given order."""
    ranked: list[tuple[int, int, int, Product]] = []
    for position, product in enumerate(products):
        rule = _deciding_rule(product, rules)
        if rule is None:
            ranked.append((2, 0, position, product))
        elif rule.action == RegionAction.HIDE:
            continue
        elif rule.action == RegionAction.PIN:
            ranked.append((0, -rule.weight, position, product))
        else:
            ranked.append((1, -rule.weight, position, product))
    ranked.sort(key=lambda item: item[:3])
    return [item[3] for item in ranked]


def rules_signature(rules: Sequence[RegionRule]) -> str:
    """A short key naming the rules in force and the rules' version (bumped on every rule
    write): a cache key for a grid ranked by them."""
    if not rules:
        return "none"
    ids = ".".join(str(rule.pk) for rule in rules)
    text = f"{fragment_version(REGION_RULES_FRAGMENT)}:{ids}"
    return hashlib.sha1(text.encode(), usedforsecurity=False).hexdigest()[:16]


def product_available_in_province(product: Product, province: str) -> bool:
    """catalog's region hook: False when a rule in force hides `product` in `province`."""
    rules = region_rules_in_force(region=Region(province=province))
    rule = _deciding_rule(product, rules)
    return rule is None or rule.action != RegionAction.HIDE


def _region_contains(scope: str, region: str, place: Region) -> bool:
    if scope == RegionScope.ZONE:
        return place.zone == region
    if scope == RegionScope.PROVINCE:
        return place.province == region
    return place.city == region


def person_ids_in_region(*, scope: str, region: str) -> list[int]:
    """People whose region, read as `person_region` reads it, lies in `region`."""
    return person_ids_in_regions(scope=scope, regions=[region])


def person_ids_in_regions(*, scope: str, regions: Sequence[str]) -> list[int]:
    """People whose region, read as `person_region` reads it, lies in one of `regions` (of one
    scope; segments and reports): by their default delivery address; people without one by
    where their phone was issued (decrypted and geocoded one by one; the geocoder's answer is
    parsed once per place, `_region_from_text`'s cache)."""
    query = Q(pk__in=[])
    for region in regions:
        if scope == RegionScope.ZONE:
            for short in _NORTH_PROVINCES if region == NORTH else _SOUTH_PROVINCES:
                query |= Q(province__startswith=short)
        elif scope == RegionScope.PROVINCE:
            query |= Q(province=region)
        else:
            query |= Q(city=region)
    addressed = Address.objects.filter(is_default=True).exclude(province="")
    found = set(addressed.filter(query).values_list("person_id", flat=True))
    phones = (
        Identifier.objects.filter(type=IdentifierType.PHONE)
        .exclude(person_id__in=addressed.values("person_id"))
        .order_by("person_id", "pk")
        .values_list("person_id", "value")
    )
    wanted = set(regions)
    seen: set[int] = set()
    for person_id, phone in phones.iterator(chunk_size=2000):
        if person_id in seen:
            continue  # their first phone, as person_region reads it
        seen.add(person_id)
        place = region_from_phone(str(phone))
        where = {"zone": place.zone, "province": place.province}.get(scope, place.city)
        if where and where in wanted:
            found.add(person_id)
    return sorted(found)


register_region_rule(product_available_in_province)
