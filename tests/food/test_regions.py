"""Regional product pools (FD-5): a customer's region from the default address or the phone,
rules per region (pin / boost / hide, with validity) and the ranking they give."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.catalog.models import Product
from freshloop.catalog.selectors import product_available_in_region
from freshloop.core import clock
from freshloop.core.errors import DomainError
from freshloop.food.regions import (
    NORTH,
    SOUTH,
    RegionRuleSpec,
    person_ids_in_region,
    person_ids_in_regions,
    person_region,
    products_rank_for_region,
    province_zone,
    region_from_phone,
    region_rule_create,
    region_rule_delete,
    region_rules_in_force,
)
from freshloop.orders.services import address_create
from tests.factories import MARKETER, make_person, make_sku

pytestmark = pytest.mark.django_db


def _address(person, province: str, city: str, *, default: bool = True):  # type: ignore[no-untyped-def]
    return address_create(
        person=person,
        name="李雷",
        phone="13800138000",
        province=province,
        city=city,
        district="",
        detail="幸福路 1 号",
        is_default=default,
    )


def _rice() -> tuple[Product, Product, Product]:
    other = make_sku(name="鲜牛奶", category_code="dairy").product
    indica = make_sku(name="籼米 5kg", category_code="rice").product
    japonica = make_sku(name="东北粳米 5kg", category_code="rice").product
    return other, indica, japonica


def _rank(products: list[Product], *, person) -> list[str]:  # type: ignore[no-untyped-def]
    rules = region_rules_in_force(region=person_region(person=person))
    return [product.name for product in products_rank_for_region(products, rules=rules)]


class TestPersonRegion:
    def test_from_the_default_address(self) -> None:
        person = make_person(phone="13700000000")  # a 沈阳 number
        _address(person, "广东省", "广州市")
        region = person_region(person=person)
        assert (region.province, region.city, region.source) == ("广东省", "广州市", "address")
        assert region.zone == SOUTH

    def test_phone_fallback_when_no_address(self) -> None:
        person = make_person(phone="13700000000")
        region = person_region(person=person)
        assert (region.province, region.city, region.source) == ("辽宁省", "沈阳市", "phone")
        assert region.zone == NORTH

    def test_unknown_for_anonymous_and_foreign_numbers(self) -> None:
        assert person_region(person=None).province == ""
        assert region_from_phone("+14155550123").province == ""
        assert region_from_phone("not a phone").province == ""

    def test_a_move_changes_the_region(self) -> None:
        # given a customer in Guangzhou
        person = make_person()
        _address(person, "广东省", "广州市")
        assert person_region(person=person).zone == SOUTH
        # when they save a new default address in Harbin
        _address(person, "黑龙江省", "哈尔滨市", default=True)
        # then the next read says north
        region = person_region(person=person)
        assert (region.province, region.zone) == ("黑龙江省", NORTH)

    @pytest.mark.parametrize(
        ("province", "zone"),
        [
            ("北京市", NORTH),
            ("山东省", NORTH),
            ("广西壮族自治区", SOUTH),
            ("上海", SOUTH),
            ("", ""),
        ],
    )
    def test_zone(self, province: str, zone: str) -> None:
        assert province_zone(province) == zone


class TestRanking:
    def test_indica_first_in_the_south_japonica_first_in_the_north(self) -> None:
        # given rules pinning 籼米 in the south and 粳米 in the north
        other, indica, japonica = _rice()
        region_rule_create(
            actor=MARKETER,
            spec=RegionRuleSpec(scope="zone", region=SOUTH, action="pin", product_id=indica.pk),
        )
        region_rule_create(
            actor=MARKETER,
            spec=RegionRuleSpec(scope="zone", region=NORTH, action="pin", product_id=japonica.pk),
        )
        south, north = make_person(), make_person()
        _address(south, "福建省", "厦门市")
        _address(north, "河北省", "石家庄市")
        products = [other, indica, japonica]
        # then each sees their rice first, and the rest in the catalog order
        assert _rank(products, person=south) == ["籼米 5kg", "鲜牛奶", "东北粳米 5kg"]
        assert _rank(products, person=north) == ["东北粳米 5kg", "鲜牛奶", "籼米 5kg"]
        # and someone whose region is unknown sees the catalog order
        assert _rank(products, person=None) == ["鲜牛奶", "籼米 5kg", "东北粳米 5kg"]

    def test_boost_by_weight_after_pins(self) -> None:
        other, indica, japonica = _rice()
        for product, action, weight in ((other, "boost", 5), (indica, "boost", 9)):
            region_rule_create(
                actor=MARKETER,
                spec=RegionRuleSpec(
                    scope="province",
                    region="上海市",
                    action=action,
                    weight=weight,
                    product_id=product.pk,
                ),
            )
        person = make_person()
        _address(person, "上海市", "上海市")
        assert _rank([japonica, other, indica], person=person) == [
            "籼米 5kg",
            "鲜牛奶",
            "东北粳米 5kg",
        ]

    def test_hide_a_category_but_a_city_rule_wins(self) -> None:
        # given rice hidden in the north, but pinned for 北京 itself
        other, indica, japonica = _rice()
        region_rule_create(
            actor=MARKETER,
            spec=RegionRuleSpec(
                scope="zone", region=NORTH, action="hide", category_id=indica.category_id
            ),
        )
        harbin, beijing = make_person(), make_person()
        _address(harbin, "黑龙江省", "哈尔滨市")
        _address(beijing, "北京市", "北京市")
        region_rule_create(
            actor=MARKETER,
            spec=RegionRuleSpec(
                scope="city", region="北京市", action="pin", product_id=japonica.pk
            ),
        )
        products = [other, indica, japonica]
        assert _rank(products, person=harbin) == ["鲜牛奶"]
        assert _rank(products, person=beijing) == ["东北粳米 5kg", "鲜牛奶"]
        # and catalog's region hook answers the same
        assert product_available_in_region(product=indica, province="黑龙江省") is False
        assert product_available_in_region(product=indica, province="广东省") is True

    def test_validity_dates(self) -> None:
        other, indica, _ = _rice()
        now = clock.now()
        region_rule_create(
            actor=MARKETER,
            spec=RegionRuleSpec(
                scope="zone",
                region=SOUTH,
                action="hide",
                product_id=other.pk,
                valid_from=now + dt.timedelta(days=1),
                valid_until=now + dt.timedelta(days=2),
            ),
        )
        person = make_person()
        _address(person, "广东省", "深圳市")
        assert _rank([other, indica], person=person) == ["鲜牛奶", "籼米 5kg"]
        with clock.frozen(now + dt.timedelta(days=1, hours=1)):
            assert _rank([other, indica], person=person) == ["籼米 5kg"]
        with clock.frozen(now + dt.timedelta(days=2)):
            assert _rank([other, indica], person=person) == ["鲜牛奶", "籼米 5kg"]

    def test_a_deleted_rule_stops_applying(self) -> None:
        other, indica, _ = _rice()
        rule = region_rule_create(
            actor=MARKETER,
            spec=RegionRuleSpec(scope="zone", region=SOUTH, action="hide", product_id=other.pk),
        )
        person = make_person()
        _address(person, "广东省", "深圳市")
        region_rule_delete(actor=MARKETER, rule_id=rule.pk)
        assert _rank([other, indica], person=person) == ["鲜牛奶", "籼米 5kg"]


class TestRuleValidation:
    @pytest.mark.parametrize(
        ("changes", "field"),
        [
            ({"scope": "planet"}, "scope"),
            ({"region": "火星"}, "region"),
            ({"scope": "city", "region": "广东省"}, "region"),
            ({"action": "explode"}, "action"),
            ({"product_id": None}, "product_id"),
            ({"category_id": 1}, "product_id"),
            ({"product_id": 999999}, "product_id"),
            ({"weight": 5000}, "weight"),
            ({"valid_from": dt.datetime(2025, 2, 1, tzinfo=dt.UTC),
              "valid_until": dt.datetime(2025, 1, 1, tzinfo=dt.UTC)}, "valid_until"),
        ],
    )  # fmt: skip
    def test_refused_with_the_field(self, changes: dict[str, object], field: str) -> None:
        product = make_sku().product
        values: dict[str, object] = {
            "scope": "province",
            "region": "广东省",
            "action": "pin",
            "product_id": product.pk,
        } | changes
        with pytest.raises(DomainError) as caught:
            region_rule_create(actor=MARKETER, spec=RegionRuleSpec(**values))  # type: ignore[arg-type]
        assert caught.value.status == 422
        assert caught.value.detail[0]["field"] == field


class TestPeopleInRegion:
    def test_by_zone_province_and_city(self) -> None:
        south, north = make_person(), make_person()
        _address(south, "广东省", "广州市")
        _address(north, "山东省", "济南市")
        assert person_ids_in_region(scope="zone", region=SOUTH) == [south.pk]
        assert person_ids_in_region(scope="province", region="山东省") == [north.pk]
        assert person_ids_in_region(scope="city", region="广州市") == [south.pk]

    def test_people_without_an_address_count_where_their_phone_was_issued(self) -> None:
        # given a customer known only by a 沈阳 number, and one with a 沈阳 number who lives in
        # 广州 (the address decides, as it does in the shop)
        phone_only = make_person(phone="13700000000")
        moved = make_person(phone="13700000001")
        _address(moved, "广东省", "广州市")
        # then the first is in the north, 辽宁 and 沈阳; the second only in the south
        assert phone_only.pk in person_ids_in_region(scope="zone", region=NORTH)
        assert moved.pk not in person_ids_in_region(scope="zone", region=NORTH)
        assert person_ids_in_region(scope="province", region="辽宁省") == [phone_only.pk]
        assert person_ids_in_region(scope="city", region="沈阳市") == [phone_only.pk]
        assert person_ids_in_region(scope="city", region="广州市") == [moved.pk]

    def test_several_regions_at_once(self) -> None:
        south, north, east = make_person(), make_person(), make_person()
        _address(south, "广东省", "广州市")
        _address(north, "山东省", "济南市")
        _address(east, "浙江省", "杭州市")
        assert person_ids_in_regions(scope="province", regions=["广东省", "浙江省"]) == sorted(
            [south.pk, east.pk]
        )
