"""Browser tests: Playwright drives Debian's chromium against Django's live server."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page

# Playwright's sync API runs an event loop in the test thread; the tests also use the ORM.
os.environ.setdefault("DJANGO_ALLOW_ASYNC_UNSAFE", "true")

CHROMIUM = "/usr/bin/chromium"

# A shopper's phone (outside WeChat) and WeChat's in-app browser, as the cashier tells them
# apart: by the user agent.
PHONE_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36"
)
WECHAT_UA = (
    "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) "
    "Chrome/124.0 Mobile Safari/537.36 MicroMessenger/8.0.47.2560(0x28002F35) NetType/WIFI"
)
PHONE_CONTEXT: dict[str, Any] = {
    "viewport": {"width": 390, "height": 844},
    "user_agent": PHONE_UA,
    "is_mobile": True,
    "has_touch": True,
    "locale": "zh-CN",
}


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    for item in items:
        if "tests/e2e/" in str(item.fspath):
            item.add_marker(pytest.mark.e2e)


@pytest.fixture(scope="session")
def browser_type_launch_args(browser_type_launch_args: dict[str, Any]) -> dict[str, Any]:
    if not os.path.exists(CHROMIUM):
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium (`.ci/run` does)")
    return {
        **browser_type_launch_args,
        "executable_path": CHROMIUM,
        "args": [
            "--headless=new",
            "--no-sandbox",
            "--disable-gpu",
            "--disable-quic",
            "--no-first-run",
            "--disable-background-networking",
            "--disable-component-update",
            "--disable-sync",
        ],
    }


@pytest.fixture(scope="session")
def browser_context_args(browser_context_args: dict[str, Any]) -> dict[str, Any]:
    return {**browser_context_args, "locale": "zh-CN"}


@pytest.fixture
def console_errors(page: Any) -> list[str]:
    """JavaScript errors and failed page/asset loads; a test asserts it stays empty.

    API calls answered with a 4xx are the app speaking (a wrong code is a 400 by design), so
    only responses outside /api/ count as failures; the browser's own "Failed to load resource"
    console line duplicates what the response listener already saw.
    """
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(f"pageerror: {error}"))
    page.on(
        "console",
        lambda message: (
            errors.append(message.text)
            if message.type == "error" and not message.text.startswith("Failed to load resource")
            else None
        ),
    )
    page.on(
        "response",
        lambda response: (
            errors.append(f"{response.status} {response.url}")
            if response.status >= 400 and "/api/" not in response.url
            else None
        ),
    )
    return errors


class AsgiServer:
    """uvicorn serving the project in a thread of the test process: the same settings and test
    database as the test, and real ASGI (server-sent events stream; the WSGI live_server would
    buffer them)."""

    def __init__(self) -> None:
        import socket
        import threading

        import uvicorn

        from config.asgi import application

        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            self.port = int(probe.getsockname()[1])
        self.url = f"http://127.0.0.1:{self.port}"
        # The project's entry point, so the event-stream dispatcher is what the browser uses.
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=self.port,
            log_level="warning",
            lifespan="off",
        )
        self.server = uvicorn.Server(config)
        self.thread = threading.Thread(target=self.server.run, daemon=True)
        self.thread.start()
        import time

        for _ in range(100):
            if self.server.started:
                break
            time.sleep(0.05)

    def stop(self) -> None:
        self.server.should_exit = True
        self.thread.join(timeout=10)


@pytest.fixture
def asgi_server(transactional_db: Any) -> Iterator[AsgiServer]:
    server = AsgiServer()
    yield server
    server.stop()


@pytest.fixture
def phone_page(browser: Browser) -> Iterator[Page]:
    """A page in a phone's browser outside WeChat (390 px, touch; see PHONE_CONTEXT)."""
    context = browser.new_context(**PHONE_CONTEXT)
    page = context.new_page()
    yield page
    context.close()
