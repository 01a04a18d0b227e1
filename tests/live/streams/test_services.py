"""The demo's local stream: encoded with ffmpeg, played by the local provider, served by the
HLS view (and nothing outside its folder)."""

from __future__ import annotations

import dataclasses
from pathlib import Path
from typing import Any

from django.test import Client

from freshloop.live.streams.selectors import LocalHlsProvider
from freshloop.live.streams.services import demo_stream_generate


class TestDemoStream:
    def test_ffmpeg_makes_a_playable_hls_stream_served_locally(
        self, settings: Any, tmp_path: Path
    ) -> None:
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, data_dir=tmp_path)
        playlist = demo_stream_generate(seconds=4)
        assert playlist is not None
        text = playlist.read_text()
        assert "#EXTM3U" in text
        segment = next(line for line in text.splitlines() if line.endswith(".ts"))
        assert (playlist.parent / segment).stat().st_size > 1000
        assert (
            LocalHlsProvider().addresses(stream_name="x").play_url == "/media/hls/demo/index.m3u8"
        )
        response = Client().get("/media/hls/demo/index.m3u8")
        assert response["Content-Type"] == "application/vnd.apple.mpegurl"
        assert Client().get("/media/hls/../../etc/passwd").status_code == 404
