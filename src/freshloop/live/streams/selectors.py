"""Where a session's video is pushed and played (SPEC LV-1): a `StreamProvider` per deployment.

- `LocalHlsProvider` (default, offline): plays an HLS stream from the data directory. The demo
  seed generates a short looping test stream there with Debian's ffmpeg
  (`streams.services.demo_stream_generate`); without ffmpeg the room shows the cover instead.
- `SignedUrlProvider`: a CDN / live server that authenticates push and play URLs with the
  common `txSecret`/`txTime` scheme (Tencent Cloud CSS style):
  `txTime` = expiry as upper-case hex Unix seconds, `txSecret` = MD5(key + stream name + txTime).
  Push and play use separate keys, so a leaked play URL cannot be used to push.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from django.conf import settings

from freshloop.core import clock
from freshloop.live.config import live_config


@dataclass(frozen=True)
class StreamAddresses:
    push_url: str
    play_url: str  # empty: nothing to play, show the cover
    expires_at: dt.datetime | None


class StreamProvider(Protocol):
    name: str

    def addresses(self, *, stream_name: str) -> StreamAddresses: ...


def hls_root() -> Path:
    return Path(settings.FRESHLOOP.data_dir) / "hls"


DEMO_STREAM = "demo"


class LocalHlsProvider:
    """Every session plays the local test stream (there is no media server to push to)."""

    name = "local"

    def addresses(self, *, stream_name: str) -> StreamAddresses:
        playlist = hls_root() / DEMO_STREAM / "index.m3u8"
        play_url = f"/media/hls/{DEMO_STREAM}/index.m3u8" if playlist.exists() else ""
        return StreamAddresses(
            push_url=f"rtmp://127.0.0.1/live/{stream_name}", play_url=play_url, expires_at=None
        )


def tx_secret(*, key: str, stream_name: str, tx_time: str) -> str:
    return hashlib.md5(f"{key}{stream_name}{tx_time}".encode()).hexdigest()  # noqa: S324 (the CDN's scheme)


def tx_time_for(expires_at: dt.datetime) -> str:
    return f"{int(expires_at.timestamp()):X}"


def signed_url_valid(
    *, key: str, stream_name: str, tx_secret_value: str, tx_time: str, now: dt.datetime
) -> bool:
    """What the CDN checks: the secret matches and the URL has not expired."""
    try:
        expires = int(tx_time, 16)
    except ValueError:
        return False
    if expires < now.timestamp():
        return False
    expected = tx_secret(key=key, stream_name=stream_name, tx_time=tx_time)
    return hmac.compare_digest(expected, tx_secret_value.lower())


class SignedUrlProvider:
    name = "signed"

    def __init__(
        self, *, push_domain: str, play_domain: str, push_key: str, play_key: str, ttl_seconds: int
    ) -> None:
        self.push_domain = push_domain
        self.play_domain = play_domain
        self.push_key = push_key
        self.play_key = play_key
        self.ttl = dt.timedelta(seconds=ttl_seconds)

    def addresses(self, *, stream_name: str) -> StreamAddresses:
        expires_at = clock.now() + self.ttl
        tx_time = tx_time_for(expires_at)
        push_secret = tx_secret(key=self.push_key, stream_name=stream_name, tx_time=tx_time)
        play_secret = tx_secret(key=self.play_key, stream_name=stream_name, tx_time=tx_time)
        return StreamAddresses(
            push_url=f"rtmp://{self.push_domain}/live/{stream_name}?txSecret={push_secret}&txTime={tx_time}",
            play_url=f"https://{self.play_domain}/live/{stream_name}.m3u8?txSecret={play_secret}&txTime={tx_time}",
            expires_at=expires_at,
        )


def stream_provider() -> StreamProvider:
    config = live_config()
    if config.stream_provider == "signed":
        return SignedUrlProvider(
            push_domain=config.push_domain,
            play_domain=config.play_domain,
            push_key=config.push_key,
            play_key=config.play_key,
            ttl_seconds=config.url_ttl_seconds,
        )
    return LocalHlsProvider()
