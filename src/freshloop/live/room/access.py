"""Who is calling the room, from a request: the logged-in buyer (a bearer token, or the H5
session cookie — then a write must carry the CSRF token), and whether they may enter a
members-only room. Shared by the viewer API, the room page, its event stream and the local
HLS files; private to `live`."""

from __future__ import annotations

from django.http import HttpRequest

from freshloop.core.api import csrf_check
from freshloop.identity.auth import consumer_from_request
from freshloop.identity.errors import TokenInvalid
from freshloop.identity.models import Person
from freshloop.live.models import LiveSession
from freshloop.live.room.selectors import room_admit


def request_buyer(request: HttpRequest) -> Person | None:
    """The logged-in buyer for a read (GET), or None (a guest, or a token no longer valid)."""
    try:
        record = consumer_from_request(request)
    except TokenInvalid:
        return None
    return record.person if record is not None else None


def request_buyer_writing(request: HttpRequest) -> Person | None:
    """The logged-in buyer for a write, or None.

    A write authenticated by the session cookie alone must pass the CSRF check, as every
    cookie write of the API does (`identity.auth.ConsumerAuth`): without it another site could
    make a logged-in viewer's browser join, beat, like or leave in their name. It is refused
    (403), never quietly treated as a guest. Bearer-token clients send no cookie to forge.
    """
    buyer = request_buyer(request)
    if buyer is not None and not request.headers.get("Authorization"):
        csrf_check(request)
    return buyer


def request_admit(request: HttpRequest, *, session: LiveSession, person: Person | None) -> None:
    """Raise `MembersOnly` unless the caller may enter `session` (see `room_admit`)."""
    room_admit(session=session, person=person, user=getattr(request, "user", None))
