"""The public JSON of a lot's traceability (GET /api/v1/food/trace/{token}): what the page
opened by the pack's QR code shows, for a mini program or a partner's app. No login; only the
newest published version, counts and ranges of the cold chain (never whose parcel it was)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema

from freshloop.core.api_errors import raises
from freshloop.food.errors import TraceNotFound, TraceTokenMalformed
from freshloop.food.trace_selectors import TracePage, trace_public_page
from freshloop.food.trace_tokens import TokenForged, TokenMalformed, lot_token_read

router = Router(tags=["溯源 food"])
CACHE_SECONDS = 60  # as the page: phones and proxies may keep it a minute


class StepOut(Schema):
    title: str
    when: dt.date | dt.datetime | None
    detail: str
    warning: bool


class ColdChainOut(Schema):
    parcels: int
    delivered: int
    readings: int
    min_celsius: float | None
    max_celsius: float | None
    excursions: int
    steps: list[StepOut]


class VersionOut(Schema):
    number: int
    published_at: dt.datetime
    note: str
    changes: list[Any]


class TraceOut(Schema):
    product: str
    spec: str
    batch_no: str
    produced_on: dt.date | None
    expires_on: dt.date | None
    version: int
    origin: dict[str, Any] | None
    records: list[dict[str, Any]]
    photos: list[dict[str, Any]]
    videos: list[dict[str, Any]]
    panoramas: list[dict[str, Any]]
    history: list[VersionOut]
    cold_chain: ColdChainOut


def _out(page: TracePage) -> TraceOut:
    batch = page.batch
    return TraceOut(
        product=batch.sku.product.name,
        spec=batch.sku.spec,
        batch_no=batch.batch_no,
        produced_on=batch.produced_on,
        expires_on=batch.expires_on,
        version=page.version.number,
        origin=page.origin,
        records=[_public(record) for record in page.records],
        photos=[_public(item) for item in page.photos],
        videos=[_public(item) for item in page.videos],
        panoramas=[_public(item) for item in page.panoramas],
        history=[
            VersionOut(
                number=version.number,
                published_at=version.published_at,
                note=version.note,
                changes=version.changes,
            )
            for version in page.history
        ],
        cold_chain=ColdChainOut(
            parcels=page.cold_chain.parcels,
            delivered=page.cold_chain.delivered,
            readings=page.cold_chain.readings,
            min_celsius=page.cold_chain.min_celsius,
            max_celsius=page.cold_chain.max_celsius,
            excursions=page.cold_chain.excursions,
            steps=[StepOut(**vars(step)) for step in page.cold_chain.steps],
        ),
    )


def _public(item: dict[str, Any]) -> dict[str, Any]:
    """A record or a media item as published, with the storage names left out (the URLs say
    where to fetch them)."""
    hidden = {"file", "photo", "photo_small", "document", "jpeg_1080", "webp_400"}
    return {key: value for key, value in item.items() if key not in hidden}


@router.get("/trace/{token}", response=TraceOut, auth=None, summary="批次溯源信息（扫码内容）")
@raises(TraceTokenMalformed, TraceNotFound)
def trace_detail(request: HttpRequest, token: str, response: HttpResponse) -> TraceOut:
    try:
        batch_id = lot_token_read(token)
    except TokenMalformed as error:
        raise TraceTokenMalformed() from error
    except TokenForged as error:
        raise TraceNotFound() from error
    page = trace_public_page(batch_id=batch_id)
    if page is None:
        raise TraceNotFound()
    response["Cache-Control"] = f"public, max-age={CACHE_SECONDS}"
    return _out(page)
