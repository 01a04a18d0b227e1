from __future__ import annotations

import pytest
from django.contrib.auth.models import User
from django.test import Client

from freshloop.core.permissions import Role
from tests.factories import make_staff_user


@pytest.mark.django_db
class TestConsoleHome:
    def test_anonymous_is_sent_to_login(self, client: Client) -> None:
        response = client.get("/console/")
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")

    def test_operator_with_several_roles_sees_every_area_and_their_roles(
        self, client: Client
    ) -> None:
        make_staff_user("host", Role.LIVE_HOST, Role.SUPPLY_CHAIN)
        client.login(username="host", password="pass-1234")
        page = client.get("/console/").content.decode()
        for title in [
            "直播间",
            "用户 OneID",
            "数据看板",
            "商品与库存",
            "订单与支付",
            "履约与冷链",
            "社区团购与团长",
        ]:
            assert title in page
        assert "主播" in page

    def test_consumer_like_account_without_role_is_refused(self, client: Client) -> None:
        User.objects.create_user(username="nobody", password="pass-1234")
        client.login(username="nobody", password="pass-1234")
        assert client.get("/console/").status_code == 403


@pytest.mark.django_db
class TestOperatorLoginRateLimit:
    @pytest.mark.parametrize("path", ["/console/login/", "/admin/login/"])
    def test_password_guessing_is_cut_off(
        self, client: Client, settings: object, path: str
    ) -> None:
        make_staff_user("ops", Role.MARKETER)
        limit = settings.FRESHLOOP.operator_login_per_user_per_hour  # type: ignore[attr-defined]
        for _ in range(limit):
            page = client.post(path, {"username": "ops", "password": "wrong"}).content.decode()
            assert "过于频繁" not in page
        # when the attacker keeps guessing, even the right password is refused for a while
        response = client.post(path, {"username": "ops", "password": "pass-1234"})
        assert response.status_code == 200
        assert "登录尝试过于频繁" in response.content.decode()
        assert "_auth_user_id" not in client.session

    def test_correct_password_logs_in(self, client: Client) -> None:
        make_staff_user("ops", Role.MARKETER)
        response = client.post("/console/login/", {"username": "ops", "password": "pass-1234"})
        assert response.status_code == 302
        assert response["Location"] == "/console/"


@pytest.mark.django_db
class TestH5Pages:
    def test_login_page_is_mobile_and_chinese(self, client: Client) -> None:
        page = client.get("/m/login").content.decode()
        assert 'name="viewport"' in page
        assert "width=device-width" in page
        assert "手机号登录" in page
        assert "获取验证码" in page
        assert "/static/vendor/weui/weui.min.css" in page

    def test_unknown_page_is_a_friendly_404(self, client: Client) -> None:
        response = client.get("/m/no-such-page")
        assert response.status_code == 404
        assert "页面不存在" in response.content.decode()


@pytest.mark.django_db
class TestH5Home:
    def test_logged_in_consumer_sees_oneid_and_masked_phone_in_chinese(
        self, client: Client
    ) -> None:
        from tests.identity.helpers import last_sms_code

        client.post("/api/v1/auth/otp", {"phone": "13800138000"}, content_type="application/json")
        client.post(
            "/api/v1/auth/otp/verify",
            {"phone": "13800138000", "code": last_sms_code()},
            content_type="application/json",
        )
        page = client.get("/m/me").content.decode()
        assert "手机号" in page
        assert "138****8000" in page
        assert "13800138000" not in page
        # and 我的 leads to the food features: subscriptions, pantry, recipes
        for link in ('href="/m/subscriptions"', 'href="/m/pantry"', 'href="/m/recipes"'):
            assert link in page
