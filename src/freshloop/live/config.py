"""Live room settings read from the environment (documented in docs/configuration.md)."""

from __future__ import annotations

import os
from dataclasses import dataclass
from functools import lru_cache

DEFAULT_SENSITIVE_WORDS = ("加微信", "私聊", "代购", "返现", "刷单", "赌博")


@dataclass(frozen=True)
class LiveConfig:
    stream_provider: str  # "local" (HLS files under the data dir) or "signed" (a CDN)
    push_domain: str
    play_domain: str
    push_key: str
    play_key: str
    url_ttl_seconds: int
    sensitive_words: tuple[str, ...]
    comments_per_minute: int
    cart_abandon_minutes: int  # unpaid this long after 加购 in a room: the cart is abandoned


def _words(raw: str) -> tuple[str, ...]:
    if not raw.strip():
        return DEFAULT_SENSITIVE_WORDS
    return tuple(word.strip() for word in raw.split(",") if word.strip())


@lru_cache(maxsize=1)
def live_config() -> LiveConfig:
    return LiveConfig(
        stream_provider=os.environ.get("FRESHLOOP_LIVE_STREAM_PROVIDER", "local") or "local",
        push_domain=os.environ.get("FRESHLOOP_LIVE_PUSH_DOMAIN", ""),
        play_domain=os.environ.get("FRESHLOOP_LIVE_PLAY_DOMAIN", ""),
        push_key=os.environ.get("FRESHLOOP_LIVE_PUSH_KEY", ""),
        play_key=os.environ.get("FRESHLOOP_LIVE_PLAY_KEY", ""),
        url_ttl_seconds=int(os.environ.get("FRESHLOOP_LIVE_URL_TTL_SECONDS", "") or 6 * 3600),
        sensitive_words=_words(os.environ.get("FRESHLOOP_LIVE_SENSITIVE_WORDS", "")),
        comments_per_minute=int(os.environ.get("FRESHLOOP_LIVE_COMMENTS_PER_MINUTE", "") or 10),
        cart_abandon_minutes=max(
            1, int(os.environ.get("FRESHLOOP_LIVE_CART_ABANDON_MINUTES", "") or 10)
        ),
    )
