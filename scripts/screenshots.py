"""Take the README's screenshots from a running FreshLoop (e.g. `make demo`).

Usage: .venv/bin/python scripts/screenshots.py [--base-url http://127.0.0.1:8000]
Writes PNGs into docs/screenshots/. Needs Debian's chromium at /usr/bin/chromium.
"""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import httpx
from playwright.sync_api import Page, sync_playwright

ROOT = Path(__file__).resolve().parent.parent
OUT = ROOT / "docs" / "screenshots"
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
    href = phone.get_attribute("[data-testid=buy-now]", "href") or ""
    phone.goto(f"{base}{href.replace('qty=1', 'qty=3')}")
    for field, value in [
        ("name", "王小明"),
        ("phone", "13900001234"),
        ("province", "上海"),
        ("city", "上海"),
        ("district", "浦东新区"),
        ("detail", "张江路 1 号"),
    ]:
        phone.fill(f"input[name={field}]", value)
    phone.wait_for_selector("[data-testid=price-explanation] .row--total")
    phone.wait_for_timeout(300)
    phone.screenshot(path=OUT / "h5-checkout.png", full_page=True)
    phone.click("[data-testid=submit-order]")
    phone.wait_for_url(f"{base}/m/pay/**")
    phone.screenshot(path=OUT / "h5-pay.png")
    phone.click("[data-testid=pay-confirm]")
    phone.wait_for_url(f"{base}/m/orders/**")
    phone.screenshot(path=OUT / "h5-order.png", full_page=True)
    order_no = phone.url.rsplit("/", 1)[-1]

    desktop.goto(f"{base}/admin/orders/order/?q={order_no}")
    desktop.locator("#result_list tbody a").first.click()
    desktop.screenshot(path=OUT / "admin-order.png", full_page=True)
    desktop.goto(f"{base}/admin/promotions/coupontemplate/")
    desktop.screenshot(path=OUT / "admin-coupons.png")
    desktop.goto(f"{base}/admin/inventory/stocklevel/")
    desktop.screenshot(path=OUT / "admin-stock.png")


def _live_screenshots(browser: Any, base: str) -> None:
    """The room on a phone and the host console, for the session the demo has in progress."""
    room_list = httpx.get(f"{base}/m/live/", timeout=10).text
    code = room_list.split('href="/m/live/', 1)[1].split('"', 1)[0]
    phone = browser.new_context(
        viewport={"width": 390, "height": 844},
        device_scale_factor=2,
        locale="zh-CN",
        is_mobile=True,
    ).new_page()
    phone.goto(f"{base}/m/live/{code}")
    phone.wait_for_timeout(3000)
    phone.screenshot(path=OUT / "h5-live-room.png")
    phone.click("[data-testid=open-products]")
    phone.wait_for_timeout(500)
    phone.screenshot(path=OUT / "h5-live-products.png")
    host = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN").new_page()
    host.goto(f"{base}/console/login/?next=/console/live/{code}")
    host.fill("input[name=username]", "live_host")
    host.fill("input[name=password]", "freshloop-demo")
    host.click("button[type=submit]")
    host.wait_for_url(f"{base}/console/live/{code}")
    host.wait_for_timeout(5000)
    host.screenshot(path=OUT / "console-live-host.png", full_page=True)


def _datahub_screenshots(browser: Any, base: str) -> None:
    """The marketer's dashboard over the last year, the busiest buyer's profile and the
    segment builder with the issue's example rule."""
    page = browser.new_context(viewport={"width": 1440, "height": 900}, locale="zh-CN").new_page()
    page.goto(f"{base}/console/login/?next=/console/data/")
    page.fill("input[name=username]", "marketer")
    page.fill("input[name=password]", "freshloop-demo")
    page.click("button[type=submit]")
    page.wait_for_url(f"{base}/console/data/")
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


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--base-url", default="http://127.0.0.1:8000")
    parser.add_argument("--username", default="admin")
    parser.add_argument("--password", default="freshloop-demo")
    parser.add_argument("--phone", default="13900001234")
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
        _live_screenshots(browser, base)
        _datahub_screenshots(browser, base)
        browser.close()

    health = httpx.get(f"{base}/healthz", timeout=5).json()
    print(f"screenshots written to {OUT.relative_to(ROOT)}; health: {health['status']}")


if __name__ == "__main__":
    main()
