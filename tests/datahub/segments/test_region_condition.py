"""DH-4 × FD-5: a segment condition on where the customer is (zone, province or city), read
as the shop reads it (the default address, else the phone's region)."""

from __future__ import annotations

from typing import Any

import pytest

from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.segments.errors import SegmentInvalid
from freshloop.datahub.segments.grammar import segment_validate
from freshloop.datahub.segments.selectors import builder_schema, segment_evaluate
from freshloop.identity.models import Person, PersonStatus
from freshloop.orders.services import address_create
from tests.factories import make_person

pytestmark = pytest.mark.django_db


def living_in(province: str, city: str, phone: str | None = None) -> Person:
    person = make_person(phone=phone)
    address_create(
        person=person,
        name="李雷",
        phone="13800138000",
        province=province,
        city=city,
        district="",
        detail="幸福路 1 号",
        is_default=True,
    )
    return person


def region(scope: str, operator: str, value: Any, **extra: Any) -> dict[str, Any]:
    return {
        "op": "and",
        "rules": [
            {"kind": "region", "scope": scope, "operator": operator, "value": value, **extra}
        ],
    }


class TestRegionCondition:
    def test_zone_province_and_city(self, store: EventStore) -> None:
        # given customers in 广州, 杭州 and 济南, and one known only by a 沈阳 phone number
        guangzhou = living_in("广东省", "广州市")
        hangzhou = living_in("浙江省", "杭州市")
        jinan = living_in("山东省", "济南市")
        shenyang = make_person(phone="13700000000")
        people = {guangzhou.pk, hangzhou.pk, jinan.pk, shenyang.pk}

        # then each condition selects who lives there
        south = segment_evaluate(definition=region("zone", "eq", "南方"), store=store)
        assert south & people == {guangzhou.pk, hangzhou.pk}
        north = segment_evaluate(definition=region("zone", "eq", "北方"), store=store)
        assert north & people == {jinan.pk, shenyang.pk}
        provinces = region("province", "in", ["广东省", "山东省"])
        assert segment_evaluate(definition=provinces, store=store) == {guangzhou.pk, jinan.pk}
        assert segment_evaluate(definition=region("city", "eq", "沈阳市"), store=store) == {
            shenyang.pk
        }

    def test_not_is_everyone_else_and_a_merged_customer_counts_as_the_survivor(
        self, store: EventStore
    ) -> None:
        # given a customer in 广州 merged into another profile (as OneID leaves it until the
        # references move on commit: the address still names the merged-away id), and one in 济南
        guangzhou = living_in("广东省", "广州市")
        survivor = make_person()
        Person.objects.filter(pk=guangzhou.pk).update(
            status=PersonStatus.MERGED, merged_into=survivor
        )
        jinan = living_in("山东省", "济南市")
        # then 广东 is the survivor, and "not 广东" leaves them out
        assert segment_evaluate(definition=region("province", "eq", "广东省"), store=store) == {
            survivor.pk
        }
        elsewhere = segment_evaluate(
            definition=region("province", "eq", "广东省", **{"not": True}), store=store
        )
        assert jinan.pk in elsewhere
        assert survivor.pk not in elsewhere
        assert guangzhou.pk not in elsewhere


class TestRegionValidation:
    @pytest.mark.parametrize(
        ("rule", "problem"),
        [
            ({"scope": "country", "operator": "eq", "value": "中国"}, "unknown_scope"),
            ({"scope": "zone", "operator": "ne", "value": "南方"}, "unknown_operator"),
            ({"scope": "zone", "operator": "eq", "value": "东方"}, "unknown_region"),
            ({"scope": "province", "operator": "eq", "value": "广东"}, "unknown_region"),
            ({"scope": "city", "operator": "in", "value": []}, "value_type"),
            ({"scope": "city", "operator": "in", "value": "广州市"}, "value_type"),
            ({"scope": "city", "operator": "eq", "value": 7}, "value_type"),
            ({"scope": "city", "operator": "eq", "value": "广州市", "extra": 1}, "unknown_key"),
        ],
    )
    def test_refused_naming_the_problem_in_chinese(
        self, rule: dict[str, Any], problem: str
    ) -> None:
        with pytest.raises(SegmentInvalid) as raised:
            segment_validate({"op": "and", "rules": [{"kind": "region", **rule}]})
        assert raised.value.status == 422
        assert raised.value.detail["problem"] == problem
        assert raised.value.detail["path"] == "$.rules[0]"

    def test_the_canonical_form_and_the_builders_menus(self) -> None:
        clean = segment_validate(region("city", "in", [" 广州市 ", "沈阳市"]))
        assert clean["rules"] == [
            {"kind": "region", "scope": "city", "operator": "in", "value": ["广州市", "沈阳市"]}
        ]
        schema = builder_schema()
        assert schema["kinds"]["region"] == "所在地区"
        assert schema["regions"]["zone"] == ["南方", "北方"]
        assert "广东省" in schema["regions"]["province"]
        assert "广州市" in schema["regions"]["city"]
