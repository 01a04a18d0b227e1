from __future__ import annotations

import json

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.identity.models import (
    Identifier,
    MatchCandidate,
    MatchStatus,
    MergeRecord,
    Person,
    PersonStatus,
)
from freshloop.identity.resolver import IdentifierInput, identify
from tests.factories import make_staff_user


@pytest.fixture
def service_desk(client: Client) -> Client:
    make_staff_user("cs", Role.CUSTOMER_SERVICE)
    client.login(username="cs", password="pass-1234")
    return client


def _customer() -> Person:
    return identify(
        identifiers=[
            IdentifierInput(type="phone", value="13800138000", verified=True),
            IdentifierInput(type="device_id", value="shop-ipad"),
        ],
        traits={"province": "浙江", "name": "王小明"},
        source="shop",
    ).person


@pytest.mark.django_db
class TestPersonAdmin:
    def test_search_by_phone_finds_the_person_without_showing_it(
        self, service_desk: Client
    ) -> None:
        person = _customer()
        identify(identifiers=[IdentifierInput(type="phone", value="13900139000")], source="shop")
        page = service_desk.get("/admin/identity/person/", {"q": "138 0013 8000"}).content.decode()
        assert person.one_id in page
        assert page.count("P_") >= 1
        other = Person.objects.exclude(pk=person.pk).get()
        assert other.one_id not in page

    def test_person_page_masks_and_offers_tools(self, service_desk: Client) -> None:
        person = _customer()
        page = service_desk.get(f"/admin/identity/person/{person.pk}/change/").content.decode()
        assert "138****8000" in page
        assert "13800138000" not in page
        assert "王小明" not in page  # private traits are not shown on the page
        for label in ["拆分错误合并", "导出全部个人数据", "删除个人信息", "身份冲突"]:
            assert label in page

    def test_traits_read_as_a_chinese_table_not_json(self, service_desk: Client) -> None:
        # given a customer with known traits and one the system does not know, who absorbed a
        # WeChat visitor
        person = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138000", verified=True)],
            traits={"province": "浙江", "gender": "female", "birth_year": 1990, "vip": True},
            source="shop",
        ).person
        identify(
            identifiers=[IdentifierInput(type="wechat_unionid", value="u-1")], source="wechat_oauth"
        )
        identify(
            identifiers=[
                IdentifierInput(type="phone", value="13800138000", verified=True),
                IdentifierInput(type="wechat_unionid", value="u-1"),
            ],
            source="h5_otp",
        )
        assert MergeRecord.objects.filter(into_person=person).exists()
        # when customer service opens the person page
        page = service_desk.get(f"/admin/identity/person/{person.pk}/change/").content.decode()
        # then the traits are a table of Chinese names and readable values, not escaped JSON
        assert 'data-testid="person-traits"' in page
        for name, value in [("省份", "浙江"), ("性别", "女"), ("出生年份", "1990"), ("vip", "是")]:
            assert f'>{name}</th><td class="py-1">{value}</td>' in page
        assert "\\u6d59" not in page  # 浙 as a JSON escape
        assert "&quot;province&quot;" not in page
        # and the merge history's columns are in Chinese
        assert "From person" not in page
        assert "被并入的用户" in page
        # and the read-only page's 关闭 row is not pinned over the identifiers (web/admin.css)
        assert "web/admin.css" in page

    def test_export_downloads_json(self, service_desk: Client) -> None:
        person = _customer()
        response = service_desk.get(f"/admin/identity/person/{person.pk}/export/")
        assert response["Content-Disposition"] == f'attachment; filename="{person.one_id}.json"'
        assert json.loads(response.content)["one_id"] == person.one_id

    def test_split_and_erase_through_the_page(self, service_desk: Client) -> None:
        person = _customer()
        device = Identifier.objects.get(type="device_id")
        response = service_desk.post(
            f"/admin/identity/person/{person.pk}/split/",
            {"identifier_ids": [device.pk], "reason": "门店公用平板"},
        )
        assert response.status_code == 302
        assert Identifier.objects.get(pk=device.pk).person_id != person.pk
        service_desk.post(f"/admin/identity/person/{person.pk}/erase/", {"reason": "用户注销"})
        person.refresh_from_db()
        assert person.status == PersonStatus.ERASED

    def test_split_with_an_unreadable_identifier_is_a_message(self, service_desk: Client) -> None:
        person = _customer()
        response = service_desk.post(
            f"/admin/identity/person/{person.pk}/split/",
            {"identifier_ids": ["not-a-number"], "reason": "门店公用平板"},
            follow=True,
        )
        assert "拆分参数不正确" in response.content.decode()
        assert Person.objects.count() == 1
        assert set(Identifier.objects.values_list("person_id", flat=True)) == {person.pk}

    def test_other_roles_cannot_export(self, client: Client) -> None:
        make_staff_user("mk", Role.MARKETER)
        client.login(username="mk", password="pass-1234")
        person = _customer()
        response = client.get(f"/admin/identity/person/{person.pk}/export/")
        assert response.status_code == 302
        assert response["Location"] == f"/admin/identity/person/{person.pk}/change/"
        assert "Content-Disposition" not in response

    def test_other_roles_cannot_erase(self, client: Client) -> None:
        make_staff_user("mk", Role.MARKETER)
        client.login(username="mk", password="pass-1234")
        person = _customer()
        client.post(f"/admin/identity/person/{person.pk}/erase/", {"reason": "x"})
        person.refresh_from_db()
        assert person.status == PersonStatus.ACTIVE


@pytest.mark.django_db
class TestPersonMergeHistory:
    def test_merge_history_names_the_masked_identifier_that_proved_it(
        self, service_desk: Client
    ) -> None:
        # given a shopper and a WeChat visitor proved one by a call with phone and unionid
        shopper = identify(
            identifiers=[IdentifierInput(type="phone", value="13800138000", verified=True)],
            source="shop",
        ).person
        visitor = identify(
            identifiers=[
                IdentifierInput(type="wechat_unionid", value="unionid-secret-1", verified=True)
            ],
            source="wechat_oauth",
        ).person
        identify(
            identifiers=[
                IdentifierInput(type="phone", value="13800138000", verified=True),
                IdentifierInput(type="wechat_unionid", value="unionid-secret-1", verified=True),
            ],
            source="h5_otp",
        )
        # when the operator opens the survivor's page and the merged person's page
        page = service_desk.get(f"/admin/identity/person/{shopper.pk}/change/").content.decode()
        merged_page = service_desk.get(
            f"/admin/identity/person/{visitor.pk}/change/"
        ).content.decode()
        listing = service_desk.get("/admin/identity/mergerecord/").content.decode()
        # then the merge history shows the proving identifier masked, never in clear
        evidence = "手机号 138****8000，关联 微信 unionid uni***t-1，来源 h5_otp"
        assert "证据（脱敏）" in page
        assert evidence in page
        assert f"证据：{evidence}" in merged_page
        assert evidence in listing
        for text in (page, merged_page, listing):
            assert "13800138000" not in text
            assert "unionid-secret-1" not in text

    def test_review_merge_shows_the_decision_and_the_candidate(self, service_desk: Client) -> None:
        a = identify(
            identifiers=[IdentifierInput(type="member_no", value="M-000123")], source="shop"
        ).person
        b = identify(
            identifiers=[IdentifierInput(type="device_id", value="device-b-0001")], source="live"
        ).person
        candidate = MatchCandidate.objects.create(
            person_a=a,
            person_b=b,
            score=0.97,
            evidence={"name": 3, "address": 2, "city": 1},
            created_at=a.created_at,
        )
        service_desk.post(
            "/admin/identity/matchcandidate/",
            {"action": "accept", "_selected_action": [candidate.pk]},
        )
        page = service_desk.get(f"/admin/identity/person/{a.pk}/change/").content.decode()
        assert (
            f"审核通过：cs 确认是同一人（候选 #{candidate.pk}，匹配概率 97.0%，"
            "地址高度相似、城市一致、姓名一致）；会员号 ***，关联 设备ID dev***001，来源 operator"
        ) in page

    def test_merge_history_of_an_erased_person_shows_no_value(self, service_desk: Client) -> None:
        from freshloop.core.audit import Actor
        from freshloop.identity.privacy import person_erase

        survivor = _customer()
        identify(identifiers=[IdentifierInput(type="device_id", value="tablet-77")], source="live")
        identify(
            identifiers=[
                IdentifierInput(type="phone", value="13800138000", verified=True),
                IdentifierInput(type="device_id", value="tablet-77"),
            ],
            source="live",
        )
        person_erase(actor=Actor.system("test"), one_id=survivor.one_id, reason="注销")
        page = service_desk.get(f"/admin/identity/person/{survivor.pk}/change/").content.decode()
        assert "手机号（已删除），关联 设备ID（已删除），来源 live" in page
        assert "138****8000" not in page


@pytest.mark.django_db
class TestReviewQueue:
    def test_reject_from_the_queue(self, service_desk: Client) -> None:
        a = identify(
            identifiers=[IdentifierInput(type="member_no", value="A")], source="shop"
        ).person
        b = identify(
            identifiers=[IdentifierInput(type="member_no", value="B")], source="shop"
        ).person
        candidate = MatchCandidate.objects.create(
            person_a=a, person_b=b, score=0.93, created_at=a.created_at
        )
        listing = service_desk.get("/admin/identity/matchcandidate/").content.decode()
        assert "93.0%" in listing
        service_desk.post(
            "/admin/identity/matchcandidate/",
            {"action": "reject", "_selected_action": [candidate.pk]},
        )
        candidate.refresh_from_db()
        assert candidate.status == MatchStatus.REJECTED
