"""Data hub API: `POST /api/v1/track` for every touchpoint (DH-1)."""

from __future__ import annotations

import base64
import gzip
import zlib
from typing import Any

import orjson
from django.http import HttpRequest
from ninja import Router

from freshloop.core.api_errors import raises
from freshloop.datahub.ingestion.errors import (
    AllEventsRejected,
    BatchMalformed,
    BatchTooLarge,
    WriteKeyInvalid,
)
from freshloop.datahub.ingestion.schemas import TRACK_BODY_OPENAPI, TrackOut
from freshloop.datahub.ingestion.services import event_source_authenticate, track_accept
from freshloop.datahub.models import EventSource

router = Router(tags=["数据中台 datahub"])

# A gzip body is inflated at most to this size: a small compressed body must not be able to
# expand into gigabytes (a "zip bomb").
MAX_INFLATED_BYTES = 16 * 1024 * 1024


def _write_key(request: HttpRequest) -> str:
    header = request.headers.get("Authorization", "")
    if header.startswith("Bearer "):
        return header[7:].strip()
    if header.startswith("Basic "):
        # Segment-style SDKs send the write key as the basic-auth user name.
        try:
            return base64.b64decode(header[6:]).decode().split(":", 1)[0]
        except (ValueError, UnicodeDecodeError):
            raise WriteKeyInvalid() from None
    return request.headers.get("X-Write-Key", "").strip()


def _body(request: HttpRequest) -> bytes:
    raw = request.body
    if request.headers.get("Content-Encoding", "").lower() != "gzip":
        return raw
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)
    try:
        inflated = inflater.decompress(raw, MAX_INFLATED_BYTES)
    except zlib.error:
        raise BatchMalformed("gzip 内容无法解压") from None
    if inflater.unconsumed_tail:
        raise BatchTooLarge("解压后的内容超过 16 MB", detail={"max_bytes": MAX_INFLATED_BYTES})
    return inflated


def _batch(request: HttpRequest) -> list[Any]:
    try:
        document = orjson.loads(_body(request))
    except (orjson.JSONDecodeError, UnicodeDecodeError, EOFError, gzip.BadGzipFile):
        raise BatchMalformed() from None
    batch = document.get("batch") if isinstance(document, dict) else document
    if not isinstance(batch, list):
        raise BatchMalformed()
    return batch


@router.post(
    "/track",
    response={200: TrackOut},
    summary="批量上报行为事件（最多 1000 个，支持 gzip）",
    openapi_extra=TRACK_BODY_OPENAPI,
)
@raises(AllEventsRejected, BatchMalformed, BatchTooLarge, WriteKeyInvalid)
def track(request: HttpRequest) -> dict[str, Any]:
    """Authenticate with the source's write key (`Authorization: Bearer flw_…`). Good events
    of a batch are accepted even when others fail; each failure lists its field errors."""
    source: EventSource = event_source_authenticate(_write_key(request))
    batch = _batch(request)
    result = track_accept(source=source, events=batch)
    if batch and result.accepted == 0 and result.duplicates == 0:
        raise AllEventsRejected(detail=result.as_dict())
    return result.as_dict()
