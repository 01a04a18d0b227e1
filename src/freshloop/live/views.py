"""Pages of the live room: the viewer room `/m/live/<code>`, its event stream, the preview
list, and the local HLS files the demo plays."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from asgiref.sync import sync_to_async
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from freshloop.core.errors import DomainError
from freshloop.core.http import error_response
from freshloop.core.middleware import close_request_connections
from freshloop.live import realtime
from freshloop.live.models import LiveSession, LiveStatus
from freshloop.live.services import live_session_get, room_channel
from freshloop.live.streams import hls_root

HLS_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


def room(request: HttpRequest, code: str) -> HttpResponse:
    try:
        session = live_session_get(code=code)
    except DomainError as error:
        return render(request, "web/h5/error.html", {"message": error.text}, status=error.status)
    return render(request, "live/room.html", {"session": session})


def sessions(request: HttpRequest) -> HttpResponse:
    """Live now, coming up (with reservation), and replays."""
    listed = LiveSession.objects.exclude(status=LiveStatus.ENDED).order_by("status", "scheduled_at")
    return render(request, "live/list.html", {"sessions": list(listed[:30]), "tab": "live"})


async def room_events(request: HttpRequest, code: str) -> HttpResponseBase:
    """Server-sent events of the room: comments, likes, pins, flash sales, status, draws.

    Reconnecting clients send Last-Event-ID (EventSource does it by itself) and get what they
    missed from the replay buffer.
    """
    # A pooled thread (not the request's own) so that the open stream holds no thread; the
    # connection is closed before the thread goes back to the pool.
    session = await sync_to_async(_session_for_stream, thread_sensitive=False)(code)
    if session is None:
        return error_response(404, "not_found", "直播不存在", {"code": code[:40]})
    return realtime.sse_response(request, room_channel(session))


def _session_for_stream(code: str) -> LiveSession | None:
    try:
        return LiveSession.objects.filter(code=code).first()
    finally:
        close_request_connections()


def hls_file(request: HttpRequest, path: str) -> HttpResponseBase:
    """The demo's local HLS stream (a CDN serves real streams)."""
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
