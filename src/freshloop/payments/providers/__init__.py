"""Payment providers: the sandbox (default, offline), WeChat Pay v3 and Alipay.

`payment_provider(name)` returns the configured instance; a provider that is not configured
(or the sandbox in production unless switched on) does not exist as far as callers can tell.
"""

from __future__ import annotations

import threading

from freshloop.payments.config import payments_config
from freshloop.payments.providers import base
from freshloop.payments.providers.base import *  # noqa: F403  (the interface, re-exported)

__all__ = [
    *base.__all__,
    "enabled_providers",
    "payment_provider",
    "provider_register",
    "providers_reset",
]

_lock = threading.Lock()
_instances: dict[str, base.PaymentProvider] | None = None


def _build() -> dict[str, base.PaymentProvider]:
    config = payments_config()
    built: dict[str, base.PaymentProvider] = {}
    if config.sandbox_enabled:
        from freshloop.payments.providers.sandbox import SandboxProvider

        built["sandbox"] = SandboxProvider()
    if config.wechatpay is not None:
        from freshloop.payments.providers.wechatpay import WechatPayV3Provider
        from freshloop.payments.selectors import wechatpay_downloaded_keys

        built["wechatpay"] = WechatPayV3Provider(
            config=config.wechatpay,
            notify_base_url=config.notify_base_url,
            downloaded_keys=wechatpay_downloaded_keys,
        )
    if config.alipay is not None:
        from freshloop.payments.providers.alipay import AlipayProvider

        built["alipay"] = AlipayProvider(
            config=config.alipay, notify_base_url=config.notify_base_url
        )
    return built


def enabled_providers() -> dict[str, base.PaymentProvider]:
    global _instances
    with _lock:
        if _instances is None:
            _instances = _build()
        return dict(_instances)


def payment_provider(name: str) -> base.PaymentProvider | None:
    return enabled_providers().get(name)


def provider_register(provider: base.PaymentProvider) -> None:
    """Put a provider instance in place (tests replacing a gateway's HTTP edge, plug-ins)."""
    enabled_providers()
    with _lock:
        assert _instances is not None
        _instances[provider.name] = provider


def providers_reset() -> None:
    """Forget built providers and the configuration they came from (after env changes)."""
    global _instances
    with _lock:
        _instances = None
    payments_config.cache_clear()
