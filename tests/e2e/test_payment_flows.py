"""Real WeChat Pay flows through real pages, with only WeChat Pay's servers played by the test:
JSAPI inside WeChat from the live room (a stand-in WeixinJSBridge that verifies paySign with
the merchant's public key, as WeChat does), H5 pay on a phone that returns to the page it was
opened from, and the Native QR cashier on a desktop. In every flow the order turns paid only
from WeChat Pay's own answer (查单) — never because the page or the bridge said so."""

from __future__ import annotations

import base64
import json
import os
import re
import secrets
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, unquote, urlparse

import pytest
import responses
from cryptography.hazmat.primitives import serialization
from playwright.sync_api import Browser, Page, Route, expect

from freshloop.identity.models import IdentifierType
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.models import NotificationKind, PaymentNotificationLog
from freshloop.payments.providers import providers_reset
from tests.e2e.conftest import PHONE_CONTEXT, WECHAT_UA, AsgiServer
from tests.e2e.test_login_flows import _sms_code_from_outbox
from tests.factories import make_person, make_sku
from tests.live.helpers import make_session
from tests.payments.helpers import (
    WECHAT_APPID,
    WECHAT_PUBLIC_KEY_ID,
    WechatPlatform,
    alipay_env,
    make_order,
    rsa_key,
    wechat_env,
    wechat_transaction,
)

pytestmark = pytest.mark.django_db(transaction=True)

GATEWAY = "https://api.mch.weixin.qq.com"
PUBLIC_SITE = "https://shop.example.com"  # FRESHLOOP_PAYMENTS_NOTIFY_BASE_URL in wechat_env
# Where the flows leave pictures of the cashier for people to look at (not compared).
SCREENSHOTS = Path(
    os.environ.get("FRESHLOOP_SCREENSHOT_DIR") or Path(tempfile.gettempdir()) / "freshloop-screens"
)
SCREENSHOTS.mkdir(parents=True, exist_ok=True)
DESKTOP_CONTEXT: dict[str, Any] = {"viewport": {"width": 1280, "height": 860}, "locale": "zh-CN"}


@dataclass
class FakeWechatPay:
    """WeChat Pay's servers as far as these flows reach them: orders, and 查单 answers that
    say SUCCESS only once the buyer has really paid (in WeChat's own page or app)."""

    platform: WechatPlatform
    paid: set[str] = field(default_factory=set)
    opened: list[str] = field(default_factory=list)

    def _answer(
        self, payload: dict[str, Any], status: int = 200
    ) -> tuple[int, dict[str, str], bytes]:
        body = json.dumps(payload).encode()
        return status, self.platform.response_headers(body), body

    def open_order(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        sent = json.loads(request.body)
        payment_no = sent["out_trade_no"]
        self.opened.append(payment_no)
        kind = urlparse(request.url).path.rsplit("/", 1)[-1]
        if kind == "jsapi":
            return self._answer({"prepay_id": f"wx{payment_no}"})
        if kind == "native":
            return self._answer({"code_url": f"weixin://wxpay/bizpayurl?pr={payment_no[-10:]}"})
        return self._answer(
            {
                "h5_url": f"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx{payment_no}"
            }
        )

    def query(self, request: Any) -> tuple[int, dict[str, str], bytes]:
        payment_no = unquote(urlparse(request.url).path.rsplit("/", 1)[-1])
        order = Order.objects.filter(payments__payment_no=payment_no).first()
        total = order.total_fen if order is not None else 0
        state = "SUCCESS" if payment_no in self.paid else "NOTPAY"
        return self._answer(
            wechat_transaction(
                out_trade_no=payment_no,
                total=total,
                trade_state=state,
                transaction_id=f"42000{payment_no[-20:]}" if state == "SUCCESS" else "",
            )
        )


@pytest.fixture
def wechat_pay(monkeypatch: pytest.MonkeyPatch) -> Iterator[FakeWechatPay]:
    """WeChat Pay configured (the sandbox off, as in production), its servers faked."""
    platform = WechatPlatform(
        private_key=rsa_key("wechat-platform"),
        serial=WECHAT_PUBLIC_KEY_ID,
        apiv3_key=secrets.token_hex(16),
    )
    for name, value in wechat_env(platform, rsa_key("wechat-merchant")).items():
        monkeypatch.setenv(name, value)
    monkeypatch.setenv("FRESHLOOP_PAYMENTS_SANDBOX", "false")
    providers_reset()
    fake = FakeWechatPay(platform)
    # The server runs in a thread of this process: its calls to WeChat Pay reach the fake.
    with responses.RequestsMock(assert_all_requests_are_fired=False) as gateway:
        gateway.add_callback(
            responses.POST,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/(jsapi|h5|native)"),
            callback=fake.open_order,
        )
        gateway.add_callback(
            responses.GET,
            re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/[^/?]+\?.*"),
            callback=fake.query,
        )
        yield fake
    providers_reset()


def _merchant_public_key_b64() -> str:
    der = (
        rsa_key("wechat-merchant")
        .public_key()
        .public_bytes(serialization.Encoding.DER, serialization.PublicFormat.SubjectPublicKeyInfo)
    )
    return base64.b64encode(der).decode()


# WeChat's bridge as the page meets it inside WeChat, played here: it checks paySign with the
# merchant's public key over "appId\ntimeStamp\nnonceStr\npackage\n" (RSASSA-PKCS1-v1_5,
# SHA-256, as WeChat Pay documents for JSAPI 调起支付) before it lets the buyer pay.
STAND_IN_BRIDGE = """
(() => {
  const spki = Uint8Array.from(atob('%(spki)s'), (c) => c.charCodeAt(0));
  window.__paySign = 'unchecked';
  window.WeixinJSBridge = {
    invoke(name, params, callback) {
      (async () => {
        const key = await crypto.subtle.importKey('spki', spki, { name: 'RSASSA-PKCS1-v1_5', hash: 'SHA-256' }, false, ['verify']);
        const message = new TextEncoder().encode([params.appId, params.timeStamp, params.nonceStr, params.package].join('\\n') + '\\n');
        const signature = Uint8Array.from(atob(params.paySign), (c) => c.charCodeAt(0));
        const valid = name === 'getBrandWCPayRequest' && params.signType === 'RSA'
          && await crypto.subtle.verify('RSASSA-PKCS1-v1_5', key, signature, message);
        window.__paySign = valid ? 'valid' : 'invalid';
        if (!valid) return callback({ err_msg: 'get_brand_wcpay_request:fail' });
        // The buyer confirms with their password: WeChat Pay takes the money...
        if (!window.__bridgeLies) await window.wechatPlatformTakesTheMoney(params.package);
        // ...and the bridge says ok (a lying bridge says ok without any money moving).
        callback({ err_msg: 'get_brand_wcpay_request:ok' });
      })();
    },
  };
})();
"""


def _log_in(page: Page, base: str, phone: str, next_path: str) -> None:
    page.goto(f"{base}/m/login?next={next_path}")
    page.fill("input[name=phone]", phone)
    page.click("[data-testid=send-code]")
    expect(page.locator("[data-testid=send-code]")).to_contain_text("秒后重发")
    page.fill("input[name=code]", _sms_code_from_outbox())
    page.click("[data-testid=login]")
    expect(page).to_have_url(f"{base}{next_path}")


def _wechat_buyer(phone: str) -> None:
    """A buyer who has logged in with WeChat before: their openid under our app is known."""
    identify(
        identifiers=[
            IdentifierInput(type=IdentifierType.PHONE, value=phone, verified=True),
            IdentifierInput(
                type=IdentifierType.WECHAT_OPENID,
                value=f"o{secrets.token_hex(12)}",
                scope=WECHAT_APPID,
                verified=True,
            ),
        ],
        source="wechat_oauth",
    )


def _room_in_wechat(browser: Browser, base: str, code: str, wechat_pay: FakeWechatPay) -> Page:
    context = browser.new_context(**{**PHONE_CONTEXT, "user_agent": WECHAT_UA})
    context.add_init_script(STAND_IN_BRIDGE % {"spki": _merchant_public_key_b64()})
    context.expose_function(
        "wechatPlatformTakesTheMoney",
        lambda package: wechat_pay.paid.add(package.removeprefix("prepay_id=wx")),
    )
    page = context.new_page()
    _log_in(page, base, "13900139002", f"/m/live/{code}")
    return page


def _buy_in_room(page: Page, sku_id: int) -> None:
    page.click("[data-testid=open-products]")
    page.click(f"[data-testid=buy-{sku_id}]")
    sheet = page.locator("[data-testid=checkout-sheet]")
    for name, value in [
        ("name", "王小明"),
        ("phone", "13900139002"),
        ("detail", "张江路 1 号"),
    ]:
        sheet.locator(f"input[name={name}]").fill(value)
    sheet.locator("select[name=province]").select_option("上海市")
    sheet.locator("select[name=city]").select_option("上海市")
    expect(page.locator("[data-testid=room-price]")).to_contain_text("¥")
    page.click("[data-testid=room-pay]")


def _viewer_buying_milk(
    browser: Browser, server: AsgiServer, wechat_pay: FakeWechatPay, *, bridge_lies: bool = False
) -> tuple[Page, str]:
    """A live session selling milk, and a viewer inside WeChat (who logged in with WeChat
    before) buying it; returns their page and the session code."""
    milk = make_sku(price_fen=2990, stock=20, name="牧场鲜牛奶")
    session = make_session(skus=[milk])
    _wechat_buyer("13900139002")
    page = _room_in_wechat(browser, server.url, session.code, wechat_pay)
    if bridge_lies:
        page.evaluate("window.__bridgeLies = true")
    _buy_in_room(page, milk.pk)
    return page, session.code


class TestJsapiInTheLiveRoom:
    def test_the_viewer_pays_with_wechat_inside_the_room(
        self, browser: Browser, asgi_server: AsgiServer, wechat_pay: FakeWechatPay
    ) -> None:
        # given a viewer in WeChat, when they buy the milk in the room
        page, code = _viewer_buying_milk(browser, asgi_server, wechat_pay)
        # then WeChat's bridge is called with a paySign it can verify, and the room says paid
        expect(page.locator("[data-testid=room-toast]")).to_contain_text("支付成功", timeout=15000)
        assert page.evaluate("window.__paySign") == "valid"
        expect(page).to_have_url(re.compile(rf"/m/live/{code}$"))  # never left
        order = Order.objects.get(source_ref=code)
        assert order.status == OrderStatus.PAID
        # and what booked it was WeChat Pay's answer to our query
        log = PaymentNotificationLog.objects.get(kind=NotificationKind.QUERY)
        assert (log.outcome, log.verified) == ("paid", True)

    def test_the_bridges_word_alone_books_nothing(
        self, browser: Browser, asgi_server: AsgiServer, wechat_pay: FakeWechatPay
    ) -> None:
        # when the bridge says "ok" but WeChat Pay never took any money
        page, code = _viewer_buying_milk(browser, asgi_server, wechat_pay, bridge_lies=True)
        expect(page.locator("[data-testid=cashier-message]")).to_contain_text("正在确认支付结果")
        page.wait_for_timeout(5000)  # a few rounds of asking WeChat Pay
        # then the order is still unpaid and the cashier still waits for the provider
        assert page.evaluate("window.__paySign") == "valid"
        assert Order.objects.get(source_ref=code).status == OrderStatus.PENDING_PAYMENT
        expect(page.locator("[data-testid=cashier-paid]")).to_be_hidden()


def _route_h5_pages(page: Page, wechat_pay: FakeWechatPay, base: str) -> list[str]:
    """WeChat's H5 cashier (it takes the money, then sends the buyer to redirect_url) and our
    public address (which is this test's server)."""
    seen: list[str] = []

    def wechat_h5(route: Route) -> None:
        query = parse_qs(urlparse(route.request.url).query)
        seen.append(route.request.url)
        wechat_pay.paid.add(query["prepay_id"][0].removeprefix("wx"))
        back = query["redirect_url"][0]
        route.fulfill(status=302, headers={"Location": back})

    def public_site(route: Route) -> None:
        route.fulfill(
            status=302, headers={"Location": base + route.request.url.removeprefix(PUBLIC_SITE)}
        )

    page.route("https://wx.tenpay.com/**", wechat_h5)
    page.route(f"{PUBLIC_SITE}/**", public_site)
    return seen


class TestCashiersByDevice:
    def test_a_phone_pays_on_wechats_h5_page_and_comes_back(
        self, browser: Browser, asgi_server: AsgiServer, wechat_pay: FakeWechatPay
    ) -> None:
        # given an unpaid order, and its buyer on a phone browser (outside WeChat)
        order = make_order(person=make_person(phone="13900139003"))
        context = browser.new_context(**PHONE_CONTEXT)
        page = context.new_page()
        seen = _route_h5_pages(page, wechat_pay, asgi_server.url)
        _log_in(page, asgi_server.url, "13900139003", f"/m/orders/{order.order_no}")
        # when they press 去支付
        page.click("[data-testid=pay]")
        # then WeChat's H5 page is opened with our page to come back to, and on return the
        # order page asks WeChat Pay and shows the order paid
        expect(page.locator("[data-testid=order-status]")).to_have_text("已支付", timeout=15000)
        assert len(seen) == 1
        back = parse_qs(urlparse(seen[0]).query)["redirect_url"][0]
        assert back == f"{PUBLIC_SITE}/m/orders/{order.order_no}?paying={order.order_no}"
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID

    def test_a_phone_chooses_alipay_and_reaches_its_wap_page(
        self,
        browser: Browser,
        asgi_server: AsgiServer,
        wechat_pay: FakeWechatPay,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # given Alipay configured beside WeChat Pay
        for name, value in alipay_env(rsa_key("alipay-platform"), rsa_key("alipay-app")).items():
            monkeypatch.setenv(name, value)
        providers_reset()
        order = make_order(person=make_person(phone="13900139005"))
        context = browser.new_context(**PHONE_CONTEXT)
        page = context.new_page()
        reached: list[str] = []
        page.route(
            "https://openapi.alipay.com/**",
            lambda route: (
                reached.append(route.request.url),
                route.fulfill(status=200, content_type="text/html", body="<p>支付宝</p>"),
            ),
        )
        _log_in(page, asgi_server.url, "13900139005", f"/m/orders/{order.order_no}")
        # when they press 去支付, the cashier lists both ways to pay on a phone
        page.click("[data-testid=pay]")
        methods = page.locator("[data-testid=cashier-methods]")
        expect(methods).to_contain_text("微信支付")
        expect(methods).to_contain_text("支付宝")
        page.screenshot(path=str(SCREENSHOTS / "cashier-phone.png"))
        page.locator("label", has=page.locator("[data-testid=method-alipay]")).click()
        page.click("[data-testid=cashier-pay]")
        # then the browser goes to Alipay's mobile-site cashier, signed, coming back to us
        expect(page).to_have_url(re.compile(r"^https://openapi\.alipay\.com/"))
        query = parse_qs(urlparse(reached[0]).query)
        assert query["method"] == ["alipay.trade.wap.pay"]
        assert query["return_url"] == [
            f"{PUBLIC_SITE}/m/orders/{order.order_no}?paying={order.order_no}"
        ]
        assert query["sign_type"] == ["RSA2"]

    def test_a_desktop_gets_the_qr_cashier(
        self, browser: Browser, asgi_server: AsgiServer, wechat_pay: FakeWechatPay
    ) -> None:
        order = make_order(person=make_person(phone="13900139004"))
        context = browser.new_context(**DESKTOP_CONTEXT)
        page = context.new_page()
        _log_in(page, asgi_server.url, "13900139004", f"/m/orders/{order.order_no}")
        page.click("[data-testid=pay]")
        # then a QR code to scan with WeChat
        qr = page.locator("[data-testid=cashier-qr] img")
        expect(qr).to_be_visible()
        assert (qr.get_attribute("src") or "").startswith("data:image/svg+xml")
        expect(page.locator("[data-testid=cashier-message]")).to_contain_text("请用微信扫码支付")
        page.screenshot(path=str(SCREENSHOTS / "cashier-desktop-qr.png"))
        # when the buyer scans and pays on their phone
        payment_no = wechat_pay.opened[-1]
        wechat_pay.paid.add(payment_no)
        # then the desktop page learns it by asking, and shows the order paid
        expect(page.locator("[data-testid=order-status]")).to_have_text("已支付", timeout=15000)
