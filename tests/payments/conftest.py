from __future__ import annotations

import secrets
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest
import responses

from freshloop.payments.config import payments_config
from freshloop.payments.providers import provider_register, providers_reset
from freshloop.payments.providers.alipay import AlipayProvider
from tests.payments.helpers import (
    WECHAT_PUBLIC_KEY_ID,
    FakeAlipayGateway,
    WechatPlatform,
    alipay_env,
    public_pem,
    rsa_key,
    wechat_env,
)


@pytest.fixture(autouse=True)
def _fresh_providers() -> Iterator[None]:
    providers_reset()
    yield
    providers_reset()


@pytest.fixture
def wechat_platform(monkeypatch: pytest.MonkeyPatch) -> WechatPlatform:
    """WeChat Pay configured in public-key mode, with the test acting as the platform."""
    platform = WechatPlatform(
        private_key=rsa_key("wechat-platform"),
        serial=WECHAT_PUBLIC_KEY_ID,
        apiv3_key=secrets.token_hex(16),
    )
    for name, value in wechat_env(platform, rsa_key("wechat-merchant")).items():
        monkeypatch.setenv(name, value)
    providers_reset()
    return platform


@pytest.fixture
def alipay_gateway(monkeypatch: pytest.MonkeyPatch) -> FakeAlipayGateway:
    """Alipay configured, its gateway replaced by a fake that checks and signs like Alipay."""
    for name, value in alipay_env(rsa_key("alipay-platform"), rsa_key("alipay-app")).items():
        monkeypatch.setenv(name, value)
    providers_reset()
    gateway = FakeAlipayGateway(
        alipay_key=rsa_key("alipay-platform"), app_public_key_pem=public_pem(rsa_key("alipay-app"))
    )
    config = payments_config()
    assert config.alipay is not None
    provider_register(
        AlipayProvider(
            config=config.alipay, notify_base_url=config.notify_base_url, transport=gateway
        )
    )
    return gateway


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Callable[[], AbstractContextManager[Any]]:
    """`with committed():` runs what the block queued for after commit (events, jobs), as a
    real commit would; the test transaction itself never commits."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


@pytest.fixture
def wechat_api() -> Iterator[None]:
    """WeChat Pay's API (prepay, refunds) answers from `responses` (what a test registers with
    `responses.add`); nothing reaches the network."""
    responses.start()
    try:
        yield
    finally:
        responses.stop()
        responses.reset()
