"""Shipping rules (运费模板, issue #14 part 4): fee by destination and storage, free-shipping
threshold and the "再买 ¥X 包邮" nudge."""

from __future__ import annotations

import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.models import AuditLog
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.errors import ShippingRuleInvalid
from freshloop.orders.models import ShippingRule
from freshloop.orders.pricing import checkout_quote
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    address_create,
    order_create,
    shipping_rule_save,
)
from tests.factories import ADDRESS, MARKETER, make_order, make_person, make_sku


def rule(name: str, provinces: list[str], **fees: int) -> ShippingRule:
    return shipping_rule_save(
        actor=MARKETER, rule=ShippingRule(name=name, provinces=provinces, **fees)
    )


def quote(items: list[tuple[Any, int]], province: str) -> Any:
    return checkout_quote(
        person=make_person(),
        items=items,
        channel="shop",
        source_ref="",
        coupon_ids=[],
        points=0,
        now=clock.now(),
        province=province,
    )


@pytest.mark.django_db
class TestShippingTerms:
    def test_without_rules_the_brand_default_applies(self) -> None:
        # ¥8 ambient, ¥15 when anything travels chilled, free from ¥99
        ambient = make_sku(price_fen=1000, storage="ambient")
        milk = make_sku(price_fen=1590, storage="chilled")
        assert quote([(ambient, 1)], "上海").shipping_fen == 800
        assert quote([(ambient, 1), (milk, 1)], "上海").shipping_fen == 1500
        assert quote([(milk, 7)], "上海").shipping_fen == 0  # ¥111.30 of goods

    def test_a_province_rule_beats_the_nationwide_one(self) -> None:
        # given a nationwide rule free from ¥59, and the far west: ¥20 + ¥15 cold, never free
        rule(
            "全国", [], base_fee_fen=600, cold_chain_surcharge_fen=600, free_shipping_from_fen=5900
        )
        rule(
            "偏远地区",
            ["新疆", "西藏"],
            base_fee_fen=2000,
            cold_chain_surcharge_fen=1500,
            free_shipping_from_fen=0,
        )
        milk = make_sku(price_fen=2000, storage="chilled")
        # when three bottles (¥60) go to Shanghai and to Urumqi
        shanghai, xinjiang = quote([(milk, 3)], "上海市"), quote([(milk, 3)], "新疆维吾尔自治区")
        # then Shanghai ships free under the nationwide rule, Xinjiang pays its own rule
        assert (shanghai.shipping_fen, shanghai.shipping.rule_name) == (0, "全国")
        assert (xinjiang.shipping_fen, xinjiang.shipping.rule_name) == (3500, "偏远地区")
        assert xinjiang.free_shipping_gap_fen == 0  # never free there: no nudge

    def test_the_nudge_says_how_much_more_ships_free(self) -> None:
        milk = make_sku(price_fen=1590, storage="chilled")
        cart = quote([(milk, 2)], "上海")  # ¥31.80 of ¥99
        assert cart.shipping_fen == 1500
        assert cart.free_shipping_gap_fen == 9900 - 3180

    def test_an_order_pays_its_destinations_rule(self) -> None:
        # given the far west never ships free
        rule(
            "偏远地区",
            ["新疆"],
            base_fee_fen=2500,
            cold_chain_surcharge_fen=0,
            free_shipping_from_fen=0,
        )
        sku = make_sku(price_fen=20000, storage="ambient", stock=5)
        # when the same ¥200 parcel is ordered to Shanghai and to Urumqi
        to_shanghai = make_order(make_person(), (sku, 1))
        to_xinjiang, _ = order_create(
            request=CheckoutRequest(
                person=make_person(),
                items=[CheckoutItem(sku_id=sku.pk, quantity=1)],
                address={**ADDRESS, "province": "新疆", "city": "乌鲁木齐"},
            )
        )
        # then Shanghai's ships free from ¥99 and Urumqi's pays its rule
        assert to_shanghai.shipping_fen == 0
        assert to_xinjiang.shipping_fen == 2500
        assert to_xinjiang.total_fen == 22500


@pytest.mark.django_db
class TestShippingRuleSave:
    def test_provinces_are_stored_short_and_the_change_is_audited(self) -> None:
        saved = rule("偏远地区", ["新疆维吾尔自治区", "西藏自治区", " "])
        assert saved.provinces == ["新疆", "西藏"]
        assert AuditLog.objects.filter(action="orders.shipping_rule_save").count() == 1

    def test_one_rule_per_province_and_one_nationwide(self) -> None:
        rule("全国", [])
        rule("偏远地区", ["新疆"])
        with pytest.raises(ShippingRuleInvalid):
            rule("又一个全国", [])
        with pytest.raises(ShippingRuleInvalid) as refused:
            rule("西北", ["甘肃", "新疆"])
        assert refused.value.detail["provinces"] == ["新疆"]

    def test_an_inactive_rule_may_overlap_and_does_not_apply(self) -> None:
        rule("偏远地区", ["新疆"], base_fee_fen=2500)
        shipping_rule_save(
            actor=MARKETER,
            rule=ShippingRule(
                name="旧模板", provinces=["新疆"], base_fee_fen=9900, is_active=False
            ),
        )
        assert quote([(make_sku(price_fen=100, storage="ambient"), 1)], "新疆").shipping_fen == 2500

    def test_a_negative_fee_is_refused(self) -> None:
        with pytest.raises(ShippingRuleInvalid):
            rule("坏模板", ["海南"], base_fee_fen=-1)


@pytest.mark.django_db
class TestPreviewByDestination:
    def test_the_preview_prices_shipping_for_the_province_it_names(self) -> None:
        # given the far west pays ¥25 and never ships free
        rule(
            "偏远地区",
            ["新疆"],
            base_fee_fen=2500,
            cold_chain_surcharge_fen=0,
            free_shipping_from_fen=0,
        )
        person = make_person()
        token, _ = consumer_token_issue(person=person, method="test")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        milk = make_sku(price_fen=20000, storage="ambient", stock=5)
        saved = address_create(
            person=person,
            name="张三",
            phone="13800138000",
            province="新疆维吾尔自治区",
            city="乌鲁木齐市",
            district="天山区",
            detail="人民路 1 号",
        )
        items = [{"sku_id": milk.pk, "quantity": 1}]

        def shipping(**where: Any) -> tuple[int, str]:
            body = client.post(
                "/api/v1/shop/checkout/preview",
                json.dumps({"items": items, **where}),
                content_type="application/json",
            ).json()
            return body["shipping_fen"], body["shipping_rule"]

        # when the preview names nothing, a province, or a saved address
        # then the nationwide default applies until the destination is known
        assert shipping() == (0, "全国默认")
        assert shipping(province="新疆") == (2500, "偏远地区")
        assert shipping(address_id=saved.pk) == (2500, "偏远地区")
