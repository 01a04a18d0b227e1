"""Operators and consumers log in through real pages in a real browser."""

from __future__ import annotations

import json
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from freshloop.core import crypto
from freshloop.core.models import OutboxMessage
from freshloop.core.permissions import Role
from freshloop.identity.models import Identifier
from tests.factories import make_staff_user

pytestmark = pytest.mark.django_db(transaction=True)

MOBILE = {"width": 390, "height": 844}


def _sms_code_from_outbox() -> str:
    """What the SMS gateway would deliver: the sealed code in the newest outbox message."""
    message = OutboxMessage.objects.filter(channel="sms").latest("id")
    return str(json.loads(crypto.decrypt(message.payload["params_sealed"]))["code"])


class TestAdminLogin:
    def test_operator_logs_in_to_the_back_office(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        make_staff_user("boss", superuser=True)
        page.goto(f"{live_server.url}/admin/")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", "wrong-password")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{live_server.url}/admin/login/?next=/admin/")
        page.fill("input[name=username]", "boss")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{live_server.url}/admin/")
        expect(page.get_by_text("用户 OneID").first).to_be_visible()
        expect(page.get_by_text("商品与库存").first).to_be_visible()
        assert console_errors == []


class TestConsoleLogin:
    def test_operator_reaches_the_console_and_logs_out(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        make_staff_user("host", Role.LIVE_HOST)
        page.goto(f"{live_server.url}/console/")
        expect(page).to_have_url(f"{live_server.url}/console/login/?next=/console/")
        page.fill("input[name=username]", "host")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        expect(page).to_have_url(f"{live_server.url}/console/")
        # a host lands on their own working home
        expect(page.locator(".topbar h1")).to_have_text("主播工作台")
        expect(page.get_by_test_id("today-sessions")).to_be_visible()
        page.click("text=退出")
        expect(page).to_have_url(f"{live_server.url}/console/login/")
        assert console_errors == []

    def test_account_without_a_role_is_refused(self, page: Page, live_server: Any) -> None:
        from django.contrib.auth.models import User

        User.objects.create_user(username="visitor", password="pass-1234")
        page.goto(f"{live_server.url}/console/login/")
        page.fill("input[name=username]", "visitor")
        page.fill("input[name=password]", "pass-1234")
        page.click("button[type=submit]")
        expect(page.get_by_text("没有运营控制台的权限")).to_be_visible()


class TestConsumerPhoneLogin:
    def test_phone_code_login_end_to_end(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        page.set_viewport_size(MOBILE)
        page.goto(f"{live_server.url}/m/login")
        viewport = page.locator("meta[name=viewport]").get_attribute("content") or ""
        assert "width=device-width" in viewport
        page.fill("input[name=phone]", "13800138000")
        page.click("[data-testid=send-code]")
        expect(page.locator("[data-testid=send-code]")).to_contain_text("秒后重发")
        # a wrong code is refused with the Chinese message and no login
        real = _sms_code_from_outbox()
        page.fill("input[name=code]", f"{(int(real) + 1) % 1_000_000:06d}")
        page.click("[data-testid=login]")
        # the refusal is said under the code input (showFieldErrors: otp_invalid → code)
        expect(page.locator(".field-error[data-error-for=code]")).to_have_text("验证码错误或已过期")
        expect(page).to_have_url(f"{live_server.url}/m/login")
        # the right one logs in
        page.fill("input[name=code]", real)
        page.click("[data-testid=login]")
        expect(page).to_have_url(f"{live_server.url}/m/me")
        expect(page.locator("[data-testid=identifier-phone]")).to_contain_text("138****8000")
        one_id = page.locator("[data-testid=one-id]").inner_text()
        assert one_id == Identifier.objects.get(type="phone").person.one_id
        assert console_errors == []


class TestConsumerWechatLogin:
    def test_wechat_sandbox_login(
        self, page: Page, live_server: Any, console_errors: list[str]
    ) -> None:
        page.set_viewport_size(MOBILE)
        page.goto(f"{live_server.url}/m/login")
        page.click("text=微信一键登录")
        expect(page.get_by_text("申请获得")).to_be_visible()
        page.fill("input[name=nickname]", "爱喝奶的小王")
        page.click("button:has-text('允许')")
        expect(page).to_have_url(f"{live_server.url}/m/me")
        expect(page.locator("[data-testid=identifier-wechat_openid]")).to_be_visible()
        expect(page.get_by_text("爱喝奶的小王")).to_be_visible()
        assert console_errors == []
