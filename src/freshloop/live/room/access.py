"""Who is calling the room, from a request: the logged-in buyer (a bearer token, or the H5
session cookie — then a write must carry the CSRF token), and whether they may enter a
members-only room. Shared by the viewer API, the room page, its event stream and the local
HLS files; private to `live`."""

from __future__ import annotations

from django.core.exceptions import RequestDataTooBig, SuspiciousOperation
from django.http import HttpRequest
from django.http.multipartparser import MultiPartParserError
from ninja.utils import check_csrf

from freshloop.core.errors import MalformedRequest, PermissionDenied
from freshloop.identity.auth import consumer_from_request
from freshloop.identity.errors import TokenInvalid
from freshloop.identity.models import Person
from freshloop.live.models import LiveSession
from freshloop.live.room.selectors import room_admit


def _csrf_check(request: HttpRequest) -> None:
    """Django's CSRF check (token in the X-CSRFToken header or the form, Origin/Referer on
    HTTPS). It reads `request.POST`, which raises on a broken multipart body: that is the
    client's malformed request (400), not a server error."""
    try:
        failed = check_csrf(request) is not None
    except RequestDataTooBig:
        raise  # rendered as 413
    except (MultiPartParserError, SuspiciousOperation) as error:
        raise MalformedRequest(
            "请求体格式不正确，请以 JSON 发送",
            detail={"content_type": (request.content_type or "")[:100]},
        ) from error
    if failed:
        raise PermissionDenied("CSRF 校验失败，请刷新页面后重试")


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
        _csrf_check(request)
    return buyer


def request_admit(request: HttpRequest, *, session: LiveSession, person: Person | None) -> None:
    """Raise `MembersOnly` unless the caller may enter `session` (see `room_admit`)."""
    room_admit(session=session, person=person, user=getattr(request, "user", None))
