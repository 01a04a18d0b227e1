"""wechatpy's session storage on Django's cache.

wechatpy keeps access tokens and tickets (official account, WeCom) in a "session"; on Django's
cache — Redis in production — every process shares one token per app, as WeChat and WeCom
require (both limit how often a token may be fetched, and a new one voids the old).
"""

from __future__ import annotations


class DjangoCacheSessionStorage:
    """wechatpy's session storage (access token and tickets) on Django's cache."""

    prefix = "wechatpy:"

    def get(self, key: str, default: object = None) -> object:
        from django.core.cache import cache

        return cache.get(self.prefix + key, default)

    def set(self, key: str, value: object, ttl: int | None = None) -> None:
        from django.core.cache import cache

        cache.set(self.prefix + key, value, ttl)

    def delete(self, key: str) -> None:
        from django.core.cache import cache

        cache.delete(self.prefix + key)
