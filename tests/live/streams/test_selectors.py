"""Stream addresses: the txSecret/txTime signed URLs of a CDN (the local stream: test_services)."""

from __future__ import annotations

import datetime as dt
import hashlib
from urllib.parse import parse_qs, urlparse

from freshloop.live.streams.selectors import (
    SignedUrlProvider,
    signed_url_valid,
    tx_secret,
    tx_time_for,
)

NOW = dt.datetime(2026, 11, 25, 12, 0, tzinfo=dt.UTC)


class TestTxSecret:
    def test_matches_the_published_scheme(self) -> None:
        # txSecret = MD5(key + streamName + txTime), txTime = upper-case hex of the expiry
        tx_time = tx_time_for(NOW)
        assert tx_time == f"{int(NOW.timestamp()):X}"
        expected = hashlib.md5(f"secret-key-1stream-1{tx_time}".encode()).hexdigest()  # noqa: S324
        assert tx_secret(key="secret-key-1", stream_name="stream-1", tx_time=tx_time) == expected


class TestSignedUrlProvider:
    def test_push_and_play_urls_carry_valid_signatures_with_their_own_keys(self) -> None:
        provider = SignedUrlProvider(
            push_domain="push.example.com",
            play_domain="play.example.com",
            push_key="push-key",
            play_key="play-key",
            ttl_seconds=3600,
        )
        addresses = provider.addresses(stream_name="l_abc")
        push = parse_qs(urlparse(addresses.push_url).query)
        play = parse_qs(urlparse(addresses.play_url).query)
        assert addresses.push_url.startswith("rtmp://push.example.com/live/l_abc?")
        assert addresses.play_url.startswith("https://play.example.com/live/l_abc.m3u8?")
        now = dt.datetime.now(dt.UTC)
        assert signed_url_valid(
            key="push-key",
            stream_name="l_abc",
            tx_secret_value=push["txSecret"][0],
            tx_time=push["txTime"][0],
            now=now,
        )
        assert signed_url_valid(
            key="play-key",
            stream_name="l_abc",
            tx_secret_value=play["txSecret"][0],
            tx_time=play["txTime"][0],
            now=now,
        )
        # a play URL cannot be used to push
        assert not signed_url_valid(
            key="push-key",
            stream_name="l_abc",
            tx_secret_value=play["txSecret"][0],
            tx_time=play["txTime"][0],
            now=now,
        )

    def test_expired_forged_or_other_stream_refused(self) -> None:
        tx_time = tx_time_for(NOW)
        secret = tx_secret(key="k", stream_name="s", tx_time=tx_time)
        assert signed_url_valid(
            key="k",
            stream_name="s",
            tx_secret_value=secret,
            tx_time=tx_time,
            now=NOW - dt.timedelta(seconds=1),
        )
        assert not signed_url_valid(
            key="k",
            stream_name="s",
            tx_secret_value=secret,
            tx_time=tx_time,
            now=NOW + dt.timedelta(seconds=1),
        )
        assert not signed_url_valid(
            key="k", stream_name="other", tx_secret_value=secret, tx_time=tx_time, now=NOW
        )
        assert not signed_url_valid(
            key="k", stream_name="s", tx_secret_value="0" * 32, tx_time=tx_time, now=NOW
        )
        assert not signed_url_valid(
            key="k", stream_name="s", tx_secret_value=secret, tx_time="not-hex", now=NOW
        )
