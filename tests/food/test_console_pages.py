"""Console pages of regional pools and the seasonal calendar: who may see them, the forms'
Chinese errors under the fields, and what a save changes."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.food.models import CalendarTemplate, RegionRule
from tests.factories import make_sku, make_staff_user

pytestmark = pytest.mark.django_db


def _console(role: Role = Role.MARKETER) -> Client:
    client = Client()
    client.force_login(make_staff_user(f"u-{role}", role))
    return client


class TestRegionsPage:
    def test_anonymous_goes_to_login_and_other_roles_get_403(self) -> None:
        assert Client().get("/console/food/regions/").status_code == 302
        assert _console(Role.SUPPLY_CHAIN).get("/console/food/regions/").status_code == 403

    def test_create_a_rule_and_preview_it(self) -> None:
        rice = make_sku(name="籼米").product
        make_sku(name="鲜牛奶")
        client = _console()
        response = client.post(
            "/console/food/regions/",
            {"scope": "zone", "region": "南方", "action": "pin", "product_id": rice.pk},
        )
        assert response.status_code == 302
        assert RegionRule.objects.get().product_id == rice.pk
        # the preview for a Guangzhou customer lists the rice first
        page = client.get("/console/food/regions/?province=广东省&city=广州市").content.decode()
        preview = page.split('data-testid="region-preview"')[1]
        assert preview.index("籼米") < preview.index("鲜牛奶")
        # and by phone: a 茂名 (广东) number
        page = client.get("/console/food/regions/?phone=13580000000").content.decode()
        assert "广东省茂名市" in page

    def test_bad_region_is_a_422_with_the_message_under_the_field(self) -> None:
        product = make_sku().product
        response = _console().post(
            "/console/food/regions/",
            {"scope": "province", "region": "火星省", "action": "pin", "product_id": product.pk},
        )
        assert response.status_code == 422
        assert 'data-testid="error-region"' in response.content.decode()
        assert RegionRule.objects.count() == 0

    def test_garbage_times_and_numbers_are_422_not_500(self) -> None:
        product = make_sku().product
        client = _console()
        for extra in ({"valid_from": "not-a-date"}, {"weight": "abc"}):
            response = client.post(
                "/console/food/regions/",
                {"scope": "zone", "region": "北方", "action": "hide", "product_id": product.pk}
                | extra,
            )
            assert response.status_code == 422
        assert RegionRule.objects.count() == 0

    def test_delete(self) -> None:
        product = make_sku().product
        client = _console()
        client.post(
            "/console/food/regions/",
            {"scope": "zone", "region": "北方", "action": "hide", "product_id": product.pk},
        )
        rule = RegionRule.objects.get()
        assert client.post(f"/console/food/regions/{rule.pk}/delete").status_code == 302
        assert RegionRule.objects.count() == 0


class TestCalendarPage:
    def test_december_2024_shows_the_winter_solstice(self) -> None:
        page = _console(Role.LIVE_HOST).get("/console/food/calendar/?year=2024&month=12")
        assert page.status_code == 200
        html = page.content.decode()
        assert 'data-date="2024-12-21"' in html
        cell = html.split('data-date="2024-12-21"')[1].split("</td>")[0]
        assert "冬至" in cell

    @pytest.mark.parametrize("query", ["year=abc", "year=1800&month=1", "month=13"])
    def test_out_of_range_falls_back_to_this_month(self, query: str) -> None:
        assert _console().get(f"/console/food/calendar/?{query}").status_code == 200

    def test_create_a_template(self) -> None:
        dumplings = make_sku(name="水饺").product
        client = _console()
        response = client.post(
            "/console/food/calendar/templates/",
            {
                "occasion": "冬至",
                "name": "冬至吃饺子",
                "product_ids": [str(dumplings.pk)],
                "tier_threshold_fen": "9900",
                "tier_off_fen": "1500",
            },
        )
        assert response.status_code == 302
        template = CalendarTemplate.objects.get()
        assert list(template.products.all()) == [dumplings]

    def test_an_unknown_occasion_is_a_422(self) -> None:
        response = _console().post(
            "/console/food/calendar/templates/", {"occasion": "光棍节啦", "name": "x"}
        )
        assert response.status_code == 422
        assert 'data-testid="error-occasion"' in response.content.decode()
        assert CalendarTemplate.objects.count() == 0

    def test_live_hosts_may_look_but_not_write(self) -> None:
        response = _console(Role.LIVE_HOST).post(
            "/console/food/calendar/templates/", {"occasion": "冬至", "name": "x"}
        )
        assert response.status_code == 403
