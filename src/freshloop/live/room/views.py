"""Pages of the live room: the viewer room `/m/live/<code>`, the list of sessions, and the room's
event stream (`ROOM_EVENTS`, served ahead of Django under ASGI, by `room_events` otherwise)."""

from __future__ import annotations

import re

from django.http import HttpRequest, HttpResponse, HttpResponseBase
from django.shortcuts import render

from freshloop.core.errors import DomainError
from freshloop.core.realtime.sse import EventStreamRoute
from freshloop.live.models import LiveSession
from freshloop.live.room.access import request_admit, request_buyer
from freshloop.live.room.errors import MembersOnly
from freshloop.live.room.selectors import (
    MEMBERS_ONLY_HOW_TO_JOIN,
    live_session_get,
    live_session_list_current,
    room_channel,
)


def room(request: HttpRequest, code: str) -> HttpResponse:
    """The room, or — in a members-only room the caller may not enter — a notice saying so
    and how to become a member, instead of a player that would fail on every call."""
    try:
        session = live_session_get(code=code)
    except DomainError as error:
        return render(request, "web/h5/error.html", {"message": error.text}, status=error.status)
    buyer = request_buyer(request)
    try:
        request_admit(request, session=session, person=buyer)
    except MembersOnly as refused:
        context = {
            "session": session,
            "message": refused.text,
            "logged_in": buyer is not None,
            "how_to_join": MEMBERS_ONLY_HOW_TO_JOIN,
        }
        return render(request, "live/members_only.html", context, status=refused.status)
    return render(request, "live/room.html", {"session": session})


def sessions(request: HttpRequest) -> HttpResponse:
    """Live now, coming up (with reservation), and replays."""
    return render(
        request, "live/list.html", {"sessions": live_session_list_current(), "tab": "live"}
    )


def _room_channel_for(code: str) -> str | None:
    known = LiveSession.objects.filter(code=code).exists()
    return room_channel(code=code) if known else None


def _room_events_admit(request: HttpRequest, *, code: str) -> None:
    """A members-only room's stream is for the people let into the room (the cookie's login;
    EventSource sends no other credentials)."""
    session = live_session_get(code=code)
    request_admit(request, session=session, person=request_buyer(request))


ROOM_EVENTS = EventStreamRoute(
    path=re.compile(r"/api/v1/live/(?P<code>[A-Za-z0-9_]{1,40})/events"),
    channel_for=_room_channel_for,
    not_found_message="直播不存在",
    authorize=_room_events_admit,
)
"""Comments, likes, pins, flash sales, status and draws of a room, as server-sent events; the
stream is public like the room's comments, except in a members-only room. Registered by
`LiveConfig.ready`."""


async def room_events(request: HttpRequest, code: str) -> HttpResponseBase:
    """The room's event stream as a Django view (WSGI and the test client; uvicorn serves
    `ROOM_EVENTS` before Django). Reconnecting clients send Last-Event-ID (EventSource does it
    by itself) and get what they missed from the replay buffer."""
    return await ROOM_EVENTS.response(request, code=code)
