"""The local HLS files the demo plays (`/media/hls/...`); a CDN serves real streams."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase

from freshloop.live.streams.selectors import hls_root

HLS_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


def hls_file(request: HttpRequest, path: str) -> HttpResponseBase:
    root = hls_root().resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        raise Http404("no such stream file")
    content_type = (
        HLS_TYPES.get(Path(path).suffix)
        or mimetypes.guess_type(path)[0]
        or "application/octet-stream"
    )
    # Playlists and 2-second segments are small: read whole (a file iterator would be
    # consumed synchronously under ASGI anyway).
    response = HttpResponse(target.read_bytes(), content_type=content_type)
    response["Cache-Control"] = "no-cache" if path.endswith(".m3u8") else "max-age=3600"
    return response
