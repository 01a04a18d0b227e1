"""Take the README's screenshots from a running FreshLoop (e.g. `make demo`).

Usage: .venv/bin/python scripts/screenshots.py [--base-url http://127.0.0.1:8000]
Writes PNGs into docs/screenshots/. Needs Debian's chromium at /usr/bin/chromium.
Each run signs a new buyer up and logs nine operators in; the console's login limit per IP
may refuse a fourth run in a row for a while (run it against a fresh `make demo`).
"""

from __future__ import annotations

import argparse
import io
import re
import time
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import FilePayload, Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
# A phone browser outside WeChat: the cashier offers the sandbox (or H5 pay) by user agent.
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36"
)
CHROMIUM_ARGS = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def _console_login(page: Page, base: str, username: str, password: str, then: str) -> None:
    """Log an operator into the console; `then` is where they land (a regex for role homes)."""
    page.goto(
        f"{base}/console/login/?next={then}" if then.startswith("/") else f"{base}/console/login/"
    )
    page.fill("input[name=username]", username)
    page.fill("input[name=password]", password)
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}{then}" if then.startswith("/") else re.compile(then))


def _damaged_box_photo() -> bytes:
    """A stand-in for the buyer's photo of a crushed carton (drawn, nothing downloaded)."""
    from PIL import Image, ImageDraw

    image = Image.new("RGB", (960, 720), (236, 228, 214))
    draw = ImageDraw.Draw(image)
    draw.polygon([(250, 170), (700, 140), (740, 560), (220, 600)], fill=(250, 250, 250))
    draw.line([(250, 170), (470, 380), (740, 560)], fill=(150, 150, 150), width=6)
    draw.ellipse((420, 520, 820, 680), fill=(245, 245, 240))
    out = io.BytesIO()
    image.save(out, "JPEG", quality=85)
    return out.getvalue()


def _shop_screenshots(phone: Page, desktop: Page, base: str) -> None:
    """A buyer claims a coupon, browses, checks out with the explained price and pays; the
    back office then shows the order."""
    phone.goto(f"{base}/m/coupons")
    phone.fill("[data-testid=claim-code]", "FRESH2026")
    phone.click("text=领取")
    phone.wait_for_selector("[data-testid=coupon]")
    phone.screenshot(path=OUT / "h5-coupons.png")
    phone.goto(f"{base}/m/")
    phone.screenshot(path=OUT / "h5-shop.png")
    phone.click("[data-testid=product-card]:has-text('牧场鲜牛奶')")
    phone.click("[data-testid=sku-milk-pasture-250x10]")
    phone.screenshot(path=OUT / "h5-product.png", full_page=True)
    phone.click("[data-testid=add-to-cart]")
    phone.wait_for_selector("[data-testid=toast]:visible")
    phone.screenshot(path=OUT / "h5-product-added.png")
    phone.goto(f"{base}/m/cart")
    phone.locator("[data-testid=cart-line] button", has_text="+").first.click()
    phone.wait_for_timeout(300)
    phone.screenshot(path=OUT / "h5-cart.png")
    phone.click("[data-testid=go-checkout]")
    phone.wait_for_url(f"{base}/m/checkout")
    if phone.locator("[data-testid=address-paste]").is_visible():
        # a buyer with no saved address: 智能填写 from a pasted line
        phone.fill("[data-testid=address-paste]", "王小明 13900001234 上海市浦东新区张江路1号")
        phone.click("[data-testid=address-parse]")
        phone.wait_for_function(
            "document.querySelector('select[name=district]').value === '浦东新区'"
        )
        phone.screenshot(path=OUT / "h5-checkout-address.png", full_page=True)
        phone.click("[data-testid=address-save]")
    phone.wait_for_selector("[data-testid=address-card]:visible")
    phone.wait_for_selector("[data-testid=price-explanation] .row--total")
    phone.wait_for_timeout(300)
    phone.screenshot(path=OUT / "h5-checkout.png", full_page=True)
    phone.click("[data-testid=submit-order]")
    phone.wait_for_url(f"{base}/m/pay/**")
    phone.screenshot(path=OUT / "h5-pay.png")
    phone.click("[data-testid=pay-confirm]")
    phone.wait_for_url(re.compile(r".*/m/orders/O_[^?]+$"))
    phone.wait_for_selector("[data-testid=order-status]:has-text('已支付')")
    phone.screenshot(path=OUT / "h5-order.png", full_page=True)
    order_no = phone.url.rsplit("/", 1)[-1].split("?", 1)[0]
    phone.click("[data-testid=aftersales-open]")
    form = phone.locator("[data-testid=aftersales-form]")
    form.get_by_text("商品破损", exact=True).click()
    form.locator("[data-testid=aftersales-plus]").first.click()
    form.locator("textarea[name=description]").fill("一盒外包装压破，牛奶漏了")
    form.locator("[data-testid=aftersales-photos]").set_input_files(
        files=[FilePayload(name="damaged.jpg", mimeType="image/jpeg", buffer=_damaged_box_photo())]
    )
    phone.wait_for_selector("[data-testid=aftersales-preview]")
    form.screenshot(path=OUT / "h5-aftersales-form.png")
    form.locator("[data-testid=aftersales-submit]").click()
    phone.wait_for_selector("[data-testid=aftersales-status]")
    phone.goto(f"{base}/m/aftersales")
    phone.screenshot(path=OUT / "h5-my-aftersales.png", full_page=True)
    phone.goto(f"{base}/m/orders")
    phone.screenshot(path=OUT / "h5-orders.png")
    phone.goto(f"{base}/m/points")
    phone.screenshot(path=OUT / "h5-points.png")

    desktop.goto(f"{base}/admin/orders/order/?q={order_no}")
    desktop.locator("#result_list tbody a").first.click()
    desktop.screenshot(path=OUT / "admin-order.png", full_page=True)
    desktop.goto(f"{base}/admin/promotions/coupontemplate/")
    desktop.screenshot(path=OUT / "admin-coupons.png")
    desktop.goto(f"{base}/admin/inventory/stocklevel/")
    desktop.screenshot(path=OUT / "admin-stock.png")


def _live_screenshots(browser: Any, mobile: Any, base: str) -> None:
    """The room on the signed-in buyer's phone, its checkout sheet, and the host console,
    for the session the demo has in progress."""
    room_list = httpx.get(f"{base}/m/live/", timeout=10).text
    code = room_list.split('href="/m/live/', 1)[1].split('"', 1)[0]
    phone = mobile.new_page()
    phone.goto(f"{base}/m/live/{code}")
    phone.wait_for_timeout(3000)
    phone.screenshot(path=OUT / "h5-live-room.png")
    phone.click("[data-testid=open-products]")
    phone.wait_for_timeout(500)
    phone.screenshot(path=OUT / "h5-live-products.png")
    phone.keyboard.press("Escape")
    phone.goto(f"{base}/m/live/{code}")
    phone.wait_for_timeout(1500)
    if phone.locator("[data-testid=pinned-buy]").is_visible():
        phone.click("[data-testid=pinned-buy]")
        phone.wait_for_selector("[data-testid=checkout-sheet]:visible")
        phone.wait_for_timeout(1200)
        phone.screenshot(path=OUT / "h5-live-checkout.png")
    host = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN").new_page()
    _console_login(host, base, "live_host", "freshloop-demo", f"/console/live/{code}")
    host.wait_for_timeout(5000)
    host.screenshot(path=OUT / "console-live-host.png", full_page=True)


def _datahub_screenshots(browser: Any, base: str) -> None:
    """The marketer's dashboard over the last year, the busiest buyer's profile and the
    segment builder with the issue's example rule."""
    page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN").new_page()
    _console_login(page, base, "marketer", "freshloop-demo", "/console/data/")
    page.click("text=近一年")
    page.wait_for_selector("[data-chart=live-sessions][data-loaded=true]")
    page.wait_for_timeout(1500)  # ECharts' entry animation
    page.screenshot(path=OUT / "datahub-dashboard.png", full_page=True)
    page.goto(f"{base}/console/data/people/")
    page.locator("[data-testid=people-top] tbody a").first.click()
    page.wait_for_selector("[data-testid=profile-timeline]")
    page.screenshot(path=OUT / "datahub-profile.png")
    page.goto(f"{base}/console/data/segments/new")
    page.click("text=近30天看过≥2场直播且未支付")
    page.wait_for_selector("[data-testid=preview-state]:has-text('按当前规则实时统计')")
    page.screenshot(path=OUT / "datahub-segment.png")


ROLE_USERS = (
    "live_host",
    "customer_service",
    "supply_chain",
    "community_manager",
    "marketer",
    "group_leader",
)


def _role_home_screenshots(browser: Any, base: str) -> None:
    """Each demo operator lands on their own working home after login."""
    for username in ROLE_USERS:
        context = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = context.new_page()
        _console_login(page, base, username, "freshloop-demo", r".*/console/.*")
        page.wait_for_load_state("networkidle")
        page.wait_for_timeout(800)  # charts' entry animation
        page.screenshot(path=OUT / f"console-home-{username.replace('_', '-')}.png", full_page=True)
        context.close()


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="freshloop-demo")
    # a new buyer each run (a coupon code is claimed once per person)
    parser.add_argument("--phone", default=f"139{int(time.time()) % 10**8:08d}")
    args = parser.parse_args()
    base = args.base_url.rstrip("/")
    OUT.mkdir(parents=True, exist_ok=True)

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS
        )
        desktop = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        page = desktop.new_page()
        page.goto(f"{base}/console/login/")
        page.screenshot(path=OUT / "console-login.png")
        page.fill("input[name=username]", args.username)
        page.fill("input[name=password]", args.password)
        page.click("button[type=submit]")
        page.wait_for_url(f"{base}/console/")
        page.screenshot(path=OUT / "console-home.png", full_page=True)
        page.goto(f"{base}/admin/")
        page.screenshot(path=OUT / "admin-index.png")
        page.goto(f"{base}/admin/identity/person/")
        page.screenshot(path=OUT / "admin-people.png")
        page.fill("input[name=q]", "13700001004")  # the demo's merged customer
        page.keyboard.press("Enter")
        page.locator("#result_list tbody a").first.click()
        page.screenshot(path=OUT / "admin-person.png", full_page=True)
        page.goto(f"{base}/admin/identity/matchcandidate/")
        page.screenshot(path=OUT / "admin-review-queue.png")

        mobile = browser.new_context(
            viewport={"width": 390, "height": 844},
            device_scale_factor=2,
            locale="zh-CN",
            is_mobile=True,
            has_touch=True,
            user_agent=PHONE_UA,
        )
        phone_page = mobile.new_page()
        phone_page.goto(f"{base}/m/login")
        phone_page.fill("input[name=phone]", args.phone)
        phone_page.click("[data-testid=send-code]")
        phone_page.wait_for_selector("[data-testid=hint]:visible")
        phone_page.screenshot(path=OUT / "h5-login.png")
        code = phone_page.inner_text("[data-testid=hint]").split("：")[-1].strip("）) ")
        phone_page.fill("input[name=code]", code)
        phone_page.click("[data-testid=login]")
        phone_page.wait_for_url(f"{base}/m/me")
        phone_page.screenshot(path=OUT / "h5-home.png")
        _shop_screenshots(phone_page, page, base)
        _live_screenshots(browser, mobile, base)
        _datahub_screenshots(browser, base)
        _role_home_screenshots(browser, base)
        browser.close()

    health = httpx.get(f"{base}/healthz", timeout=5).json()
    print(f"screenshots written to {OUT.relative_to(ROOT)}; health: {health['status']}")


if __name__ == "__main__":
    main()
