"""Back-office screens for marketers: render, create through the services, issue to people."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.test import Client

from freshloop.core.models import AuditLog
from freshloop.promotions.models import Campaign, Coupon, CouponTemplate, RedeemCode
from freshloop.promotions.services import redeem_code_create
from tests.factories import make_person, make_staff_user
from tests.promotions.helpers import SYSTEM, give, make_campaign, make_shelf, make_template

pytestmark = pytest.mark.django_db


@pytest.fixture
def admin_client(client: Client) -> Client:
    make_staff_user("boss", superuser=True)
    client.login(username="boss", password="pass-1234")
    return client


def inline_management(prefix: str, total: int = 0, initial: int = 0) -> dict[str, Any]:
    return {
        f"{prefix}-TOTAL_FORMS": str(total),
        f"{prefix}-INITIAL_FORMS": str(initial),
        f"{prefix}-MIN_NUM_FORMS": "0",
        f"{prefix}-MAX_NUM_FORMS": "1000",
    }


def template_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": "new-milk",
        "name": "鲜奶满99减20",
        "description": "",
        "kind": "threshold",
        "amount_off_fen": "2000",
        "percent_off_bp": "0",
        "threshold_fen": "9900",
        "valid_days": "7",
        "per_user_limit": "1",
        "is_active": "on",
        **inline_management("redeem_codes", total=1),
        "redeem_codes-0-code": "milk2026",
        "redeem_codes-0-max_claims": "100",
        "redeem_codes-0-is_active": "on",
    }
    data.update(overrides)
    return data


class TestScreensRender:
    def test_every_list_add_and_change_page(self, admin_client: Client) -> None:
        shelf = make_shelf()
        template = make_template()
        redeem_code_create(actor=SYSTEM, template=template, code="SHOW1")
        coupon = give(template, make_person())
        campaign = make_campaign(kind="flash_price", tiers=[], prices={shelf.milk_sku.pk: 1990})
        tiered = make_campaign()
        pages = [
            "/admin/promotions/coupontemplate/",
            "/admin/promotions/coupontemplate/add/",
            f"/admin/promotions/coupontemplate/{template.pk}/change/",
            f"/admin/promotions/coupontemplate/{template.pk}/issue/",
            "/admin/promotions/coupon/",
            "/admin/promotions/coupon/?status__exact=available",
            f"/admin/promotions/coupon/{coupon.pk}/change/",
            "/admin/promotions/campaign/",
            "/admin/promotions/campaign/add/",
            f"/admin/promotions/campaign/{campaign.pk}/change/",
            f"/admin/promotions/campaign/{tiered.pk}/change/",
        ]
        for page in pages:
            response = admin_client.get(page)
            assert response.status_code == 200, page
        listing = admin_client.get("/admin/promotions/coupontemplate/").content.decode()
        assert "满¥99.00减¥20.00" in listing
        sidebar = admin_client.get("/admin/").content.decode()
        assert "营销活动" in sidebar


class TestCouponTemplateAdmin:
    def test_validity_is_shown_in_shanghai_time(self, admin_client: Client) -> None:
        # given a template valid until 16:30 UTC, which is 00:30 the next day in Shanghai
        until = dt.datetime(2099, 1, 1, 16, 30, tzinfo=dt.UTC)
        make_template(valid_until=until, valid_days=None)
        # when the marketer lists the templates
        listing = admin_client.get("/admin/promotions/coupontemplate/").content.decode()
        # then the end is the Shanghai wall-clock time
        assert "至 2099-01-02 00:30" in listing

    def test_create_with_a_redeem_code_goes_through_the_services(
        self, admin_client: Client
    ) -> None:
        response = admin_client.post("/admin/promotions/coupontemplate/add/", template_form())
        assert response.status_code == 302, response.content.decode()[:2000]
        template = CouponTemplate.objects.get(code="new-milk")
        assert RedeemCode.objects.get(template=template).code == "MILK2026"
        assert AuditLog.objects.filter(action="coupon_template.create").count() == 1
        assert AuditLog.objects.filter(action="redeem_code.create").count() == 1

    def test_edit_goes_through_the_update_service(self, admin_client: Client) -> None:
        template = make_template(code="edit-me")
        give(template, make_person())
        data = template_form(code="edit-me", name="改名了", **inline_management("redeem_codes"))
        response = admin_client.post(
            f"/admin/promotions/coupontemplate/{template.pk}/change/", data
        )
        assert response.status_code == 302, response.content.decode()[:2000]
        assert CouponTemplate.objects.get(pk=template.pk).name == "改名了"
        assert AuditLog.objects.filter(action="coupon_template.update").count() == 1
        frozen = template_form(
            code="edit-me", amount_off_fen="1000", **inline_management("redeem_codes")
        )
        response = admin_client.post(
            f"/admin/promotions/coupontemplate/{template.pk}/change/", frozen
        )
        assert response.status_code == 200
        assert "优惠券已发放，面额与类型不能再修改" in response.content.decode()

    def test_bad_settings_come_back_as_form_errors(self, admin_client: Client) -> None:
        response = admin_client.post(
            "/admin/promotions/coupontemplate/add/", template_form(threshold_fen="1000")
        )
        assert response.status_code == 200
        assert "满减券的门槛不能低于减免金额" in response.content.decode()
        assert CouponTemplate.objects.count() == 0

    def test_a_refusal_after_validation_is_a_message_not_a_server_error(
        self, admin_client: Client, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given the service refuses at save time (e.g. the code was taken a moment ago)
        from freshloop.promotions import admin as promotions_admin
        from freshloop.promotions.errors import CouponTemplateInvalid

        def taken(**_: object) -> None:
            raise CouponTemplateInvalid("编码已被占用", detail={"field": "code"})

        monkeypatch.setattr(promotions_admin, "coupon_template_create", taken)
        # when the form is posted
        response = admin_client.post("/admin/promotions/coupontemplate/add/", template_form())
        # then the marketer is sent back to the form with the reason, and nothing was saved
        assert response.status_code == 302
        shown = admin_client.get(response["Location"]).content.decode()
        assert "编码已被占用" in shown
        assert CouponTemplate.objects.count() == 0

    def test_issue_to_phones_and_one_ids(self, admin_client: Client) -> None:
        template = make_template(per_user_limit=1)
        by_phone = make_person(phone="13911112222")
        by_id = make_person()
        give(template, by_id)
        response = admin_client.post(
            f"/admin/promotions/coupontemplate/{template.pk}/issue/",
            {"entries": f"13911112222\n{by_id.one_id}, 13900000000", "note": "双十二老客"},
            follow=True,
        )
        page = response.content.decode()
        assert "已发放 1 张" in page
        assert "已达到每人领取上限 1 人" in page
        assert "未找到 1 个用户" in page
        assert Coupon.objects.get(person=by_phone).source_ref == "双十二老客"

    def test_issue_with_nobody_found(self, admin_client: Client) -> None:
        template = make_template()
        response = admin_client.post(
            f"/admin/promotions/coupontemplate/{template.pk}/issue/", {"entries": "P_NOBODY"}
        )
        assert response.status_code == 200
        assert "没有找到任何用户" in response.content.decode()
        assert Coupon.objects.count() == 0

    def test_action_leads_to_the_issue_page(self, admin_client: Client) -> None:
        template = make_template()
        response = admin_client.post(
            "/admin/promotions/coupontemplate/",
            {"action": "issue_to_people", "_selected_action": [str(template.pk)]},
        )
        assert response.status_code == 302
        assert response["Location"].endswith(f"/coupontemplate/{template.pk}/issue/")


class TestCouponAdmin:
    def test_void_action(self, admin_client: Client) -> None:
        coupon = give(make_template(), make_person())
        admin_client.post(
            "/admin/promotions/coupon/",
            {"action": "void", "_selected_action": [str(coupon.pk)]},
        )
        assert Coupon.objects.get(pk=coupon.pk).status == "void"


def campaign_form(**overrides: Any) -> dict[str, Any]:
    data: dict[str, Any] = {
        "code": "d12",
        "name": "双十二",
        "kind": "tiered",
        "starts_at_0": "2026-12-12",
        "starts_at_1": "00:00:00",
        "ends_at_0": "2026-12-13",
        "ends_at_1": "00:00:00",
        "channels": ["shop", "live"],
        "tiers": '[{"threshold_fen": 9900, "off_fen": 2000}, {"threshold_fen": 19900, "off_fen": 5000}]',
        "priority": "0",
        "is_active": "on",
        **inline_management("prices"),
    }
    data.update(overrides)
    return data


class TestCampaignAdmin:
    def test_create_tiered(self, admin_client: Client) -> None:
        response = admin_client.post("/admin/promotions/campaign/add/", campaign_form())
        assert response.status_code == 302, response.content.decode()[:3000]
        campaign = Campaign.objects.get(code="d12")
        assert campaign.tiers[1] == {"threshold_fen": 19900, "off_fen": 5000}
        assert sorted(campaign.channels) == ["live", "shop"]
        assert AuditLog.objects.filter(action="campaign.create").count() == 1

    def test_edit_shows_and_keeps_the_tiers(self, admin_client: Client) -> None:
        campaign = make_campaign(code="d12")
        page = admin_client.get(f"/admin/promotions/campaign/{campaign.pk}/change/")
        assert "&quot;threshold_fen&quot;: 9900" in page.content.decode()
        response = admin_client.post(
            f"/admin/promotions/campaign/{campaign.pk}/change/", campaign_form(name="双十二加码")
        )
        assert response.status_code == 302, response.content.decode()[:3000]
        campaign.refresh_from_db()
        assert (campaign.name, len(campaign.tiers)) == ("双十二加码", 2)

    def test_tiers_must_ascend(self, admin_client: Client) -> None:
        response = admin_client.post(
            "/admin/promotions/campaign/add/",
            campaign_form(
                tiers='[{"threshold_fen": 19900, "off_fen": 5000}, {"threshold_fen": 9900, "off_fen": 2000}]'
            ),
        )
        assert response.status_code == 200
        assert "各档门槛与减免须从低到高递增" in response.content.decode()
        assert Campaign.objects.count() == 0

    def test_create_flash_with_sku_prices(self, admin_client: Client) -> None:
        shelf = make_shelf()
        data = campaign_form(
            kind="flash_price",
            tiers="",
            **inline_management("prices", total=1),
            **{"prices-0-sku": str(shelf.milk_sku.pk), "prices-0-price_fen": "1990"},
        )
        response = admin_client.post("/admin/promotions/campaign/add/", data)
        assert response.status_code == 302, response.content.decode()[:3000]
        campaign = Campaign.objects.get(code="d12")
        assert list(campaign.prices.values_list("price_fen", flat=True)) == [1990]

    def test_flash_price_above_list_is_a_form_error(self, admin_client: Client) -> None:
        shelf = make_shelf()
        data = campaign_form(
            kind="flash_price",
            tiers="",
            **inline_management("prices", total=1),
            **{"prices-0-sku": str(shelf.milk_sku.pk), "prices-0-price_fen": "3500"},
        )
        response = admin_client.post("/admin/promotions/campaign/add/", data)
        assert response.status_code == 200
        assert "活动价须大于 0 且低于原价" in response.content.decode()
