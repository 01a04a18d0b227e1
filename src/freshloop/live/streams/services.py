"""The demo's own stream: a looping HLS test stream encoded locally (SPEC LV-1)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

from freshloop.live.streams.selectors import DEMO_STREAM, hls_root


def demo_stream_generate(*, seconds: int = 20, force: bool = False) -> Path | None:
    """Encode a looping HLS test stream (colour bars, a clock and a tone) with ffmpeg.

    Returns the playlist, or None when ffmpeg is not installed (the room then shows the cover).
    """
    ffmpeg = shutil.which("ffmpeg")
    if ffmpeg is None:
        return None
    target = hls_root() / DEMO_STREAM
    playlist = target / "index.m3u8"
    if playlist.exists() and not force:
        return playlist
    target.mkdir(parents=True, exist_ok=True)
    command = [
        ffmpeg,
        "-hide_banner",
        "-loglevel",
        "error",
        "-y",
        "-f",
        "lavfi",
        "-i",
        f"testsrc2=size=640x360:rate=25:duration={seconds}",
        "-f",
        "lavfi",
        "-i",
        f"sine=frequency=440:duration={seconds}",
        "-c:v",
        "libx264",
        "-preset",
        "veryfast",
        "-pix_fmt",
        "yuv420p",
        "-g",
        "50",
        "-c:a",
        "aac",
        "-b:a",
        "64k",
        "-f",
        "hls",
        "-hls_time",
        "2",
        "-hls_list_size",
        "0",
        "-hls_playlist_type",
        "vod",
        str(playlist),
    ]
    subprocess.run(command, check=True, timeout=120)  # noqa: S603 (fixed arguments)
    return playlist
