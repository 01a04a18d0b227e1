"""The local HLS files the demo plays (`/media/hls/...`); a CDN serves real streams."""

from __future__ import annotations

import mimetypes
from pathlib import Path

from django.db.models import Q
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseBase

from freshloop.core.http import domain_error_response
from freshloop.live.models import LiveSession
from freshloop.live.room.access import request_admit, request_buyer
from freshloop.live.room.errors import MembersOnly
from freshloop.live.streams.selectors import DEMO_STREAM, hls_root

HLS_TYPES = {".m3u8": "application/vnd.apple.mpegurl", ".ts": "video/mp2t"}


def _members_only_owners(path: str) -> list[LiveSession]:
    """The sessions a members-only file belongs to, or [] when anyone may fetch it.

    A directory belongs to the session streaming under its name and to those whose replay
    points into it. It is gated only when every such session is members-only (a directory a
    public room also plays stays public); the shared demo stream is the test pattern every
    local room plays, never one session's content.
    """
    directory = path.split("/", 1)[0]
    if directory == DEMO_STREAM:
        return []
    owners = list(
        LiveSession.objects.filter(
            Q(stream_name=directory) | Q(replay_url__startswith=f"/media/hls/{directory}/")
        )
    )
    if not owners or not all(session.members_only for session in owners):
        return []
    return owners


def _admitted_to_any(request: HttpRequest, sessions: list[LiveSession]) -> MembersOnly | None:
    buyer = request_buyer(request)
    refusal: MembersOnly | None = None
    for session in sessions:
        try:
            request_admit(request, session=session, person=buyer)
        except MembersOnly as refused:
            refusal = refused
            continue
        return None
    return refusal


def hls_file(request: HttpRequest, path: str) -> HttpResponseBase:
    root = hls_root().resolve()
    target = (root / path).resolve()
    if root not in target.parents or not target.is_file():
        raise Http404("no such stream file")
    owners = _members_only_owners(target.relative_to(root).as_posix())
    if owners and (refusal := _admitted_to_any(request, owners)) is not None:
        # The player fetches with the page's cookie, so a member's playback passes here.
        return domain_error_response(refusal)
    content_type = (
        HLS_TYPES.get(Path(path).suffix)
        or mimetypes.guess_type(path)[0]
        or "application/octet-stream"
    )
    # Playlists and 2-second segments are small: read whole (a file iterator would be
    # consumed synchronously under ASGI anyway).
    response = HttpResponse(target.read_bytes(), content_type=content_type)
    response["Cache-Control"] = "no-cache" if path.endswith(".m3u8") else "max-age=3600"
    if owners:
        response["Cache-Control"] = "private, no-cache"  # never from a shared cache
    return response
