"""Traceability of lots (SPEC FD-3): the writes.

Operators keep a draft per lot — its origin (farm / pasture), production and inspection records,
and a media tour — and publish it. Publishing freezes the draft into the next numbered
TraceVersion with a list of what changed since the previous one; the public page shows only the
newest version and its 修改记录. An edit after publication therefore never alters what
consumers see in place: it waits, flagged as unpublished, until it is published as a new version.
"""

from __future__ import annotations

import datetime as dt
import json
from decimal import Decimal, InvalidOperation
from typing import IO, Any

from django.db import transaction

from freshloop.catalog.models import Batch
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.food.locks import trace_profile_lock
from freshloop.food.models import (
    TraceMedia,
    TraceMediaKind,
    TraceOrigin,
    TraceProfile,
    TraceRecord,
    TraceRecordKind,
    TraceVersion,
)
from freshloop.food.trace_changes import snapshot_changes
from freshloop.food.trace_files import (
    panorama_check,
    pdf_store,
    picture_store,
    stored_delete,
    video_store,
)


class TraceNothingToPublish(InvalidInput):
    code = "trace_nothing_to_publish"
    status = 409


def _field_error(field: str, message: str) -> InvalidInput:
    return InvalidInput(message, detail=[{"field": field, "message": message}])


def _text(value: str, *, field: str, label: str, max_length: int, required: bool = True) -> str:
    value = (value or "").strip()
    if required and not value:
        raise _field_error(field, f"请填写{label}")
    if len(value) > max_length:
        raise _field_error(field, f"{label}不能超过 {max_length} 个字符")
    return value


def _coordinate(value: Any, *, field: str, label: str, limit: int) -> Decimal:
    try:
        number = Decimal(str(value).strip())
    except (InvalidOperation, ValueError):
        raise _field_error(field, f"{label}必须是数字") from None
    if not number.is_finite() or not -limit <= number <= limit:
        raise _field_error(field, f"{label}须在 -{limit} 到 {limit} 之间")
    return number.quantize(Decimal("0.000001"))


# --- origins ------------------------------------------------------------------------------------


def _origin_fields(
    *, name: str, address: str, latitude: Any, longitude: Any, description: str
) -> dict[str, Any]:
    return {
        "name": _text(name, field="name", label="产地名称", max_length=64),
        "address": _text(address, field="address", label="地址", max_length=200),
        "latitude": _coordinate(latitude, field="latitude", label="纬度", limit=90),
        "longitude": _coordinate(longitude, field="longitude", label="经度", limit=180),
        "description": _text(
            description, field="description", label="简介", max_length=2000, required=False
        ),
    }


@transaction.atomic
def trace_origin_create(
    *,
    name: str,
    address: str,
    latitude: Any,
    longitude: Any,
    description: str = "",
    actor: Actor,
) -> TraceOrigin:
    """Register a farm or pasture with its address and map position (WGS-84 degrees)."""
    fields = _origin_fields(
        name=name, address=address, latitude=latitude, longitude=longitude, description=description
    )
    if TraceOrigin.objects.filter(name=fields["name"]).exists():
        raise _field_error("name", "已有同名产地")
    now = clock.now()
    origin = TraceOrigin.objects.create(**fields, created_at=now, updated_at=now)
    audit_record(actor=actor, action="food.trace_origin_create", target=origin, after=fields)
    return origin


@transaction.atomic
def trace_origin_update(
    *,
    origin: TraceOrigin,
    name: str,
    address: str,
    latitude: Any,
    longitude: Any,
    description: str = "",
    actor: Actor,
) -> TraceOrigin:
    """Change an origin; every lot showing it gets an unpublished change (its public page
    keeps the published wording until the lot is published again)."""
    fields = _origin_fields(
        name=name, address=address, latitude=latitude, longitude=longitude, description=description
    )
    if TraceOrigin.objects.filter(name=fields["name"]).exclude(pk=origin.pk).exists():
        raise _field_error("name", "已有同名产地")
    before = {key: getattr(origin, key) for key in fields}
    for key, value in fields.items():
        setattr(origin, key, value)
    origin.updated_at = clock.now()
    origin.save()
    TraceProfile.objects.filter(origin=origin).update(
        has_unpublished_changes=True, updated_at=origin.updated_at
    )
    audit_record(
        actor=actor, action="food.trace_origin_update", target=origin, before=before, after=fields
    )
    return origin


# --- the lot's draft ----------------------------------------------------------------------------


def trace_profile_for(batch: Batch) -> TraceProfile:
    """The lot's traceability draft, created empty on first use."""
    now = clock.now()
    profile, _ = TraceProfile.objects.get_or_create(
        batch=batch, defaults={"created_at": now, "updated_at": now}
    )
    return profile


def _touched(profile: TraceProfile) -> None:
    TraceProfile.objects.filter(pk=profile.pk).update(
        has_unpublished_changes=True, updated_at=clock.now()
    )
    profile.has_unpublished_changes = True


@transaction.atomic
def trace_origin_assign(*, batch: Batch, origin: TraceOrigin | None, actor: Actor) -> TraceProfile:
    profile = trace_profile_for(batch)
    if profile.origin_id != (origin.pk if origin else None):
        profile.origin = origin
        profile.save(update_fields=["origin"])
        _touched(profile)
        audit_record(
            actor=actor,
            action="food.trace_origin_assign",
            target=profile,
            after={"origin": origin.name if origin else None},
        )
    return profile


def _record_fields(
    *, kind: str, occurred_on: dt.date | None, title: str, inspector: str, result: str
) -> dict[str, Any]:
    if kind not in TraceRecordKind.values:
        raise _field_error("kind", "请选择记录类型")
    if occurred_on is None:
        raise _field_error("occurred_on", "请填写日期")
    if occurred_on > clock.to_shanghai(clock.now()).date():
        raise _field_error("occurred_on", "记录日期不能晚于今天")
    return {
        "kind": kind,
        "occurred_on": occurred_on,
        "title": _text(title, field="title", label="标题", max_length=80),
        "inspector": _text(inspector, field="inspector", label="检验/记录人", max_length=64),
        "result": _text(result, field="result", label="结果/说明", max_length=300, required=False),
    }


def trace_record_add(
    *,
    batch: Batch,
    kind: str,
    occurred_on: dt.date | None,
    title: str,
    inspector: str,
    result: str = "",
    photo: IO[bytes] | bytes | None = None,
    document: IO[bytes] | bytes | None = None,
    actor: Actor,
) -> TraceRecord:
    """Add a production / inspection record with an optional photo and PDF (checked before
    anything is written; files are removed again if the row cannot be written)."""
    fields = _record_fields(
        kind=kind, occurred_on=occurred_on, title=title, inspector=inspector, result=result
    )
    folder = f"food/trace/{batch.pk}"
    stored: list[str] = []
    try:
        files: dict[str, str] = {}
        if photo is not None:
            picture = picture_store(file=photo, folder=folder)
            stored += [picture.original, picture.webp_400, picture.webp_1080, picture.jpeg_1080]
            stored_delete([picture.webp_1080])  # the record shows 400 px and 1080 px JPEG only
            files.update(
                photo_original=picture.original,
                photo_jpeg_1080=picture.jpeg_1080,
                photo_webp_400=picture.webp_400,
            )
        if document is not None:
            files["document"] = pdf_store(file=document, folder=folder)
            stored.append(files["document"])
        with transaction.atomic():
            profile = trace_profile_for(batch)
            now = clock.now()
            record = TraceRecord.objects.create(
                profile=profile, **fields, **files, created_at=now, updated_at=now
            )
            _touched(profile)
            audit_record(
                actor=actor,
                action="food.trace_record_add",
                target=record,
                after={**fields, "files": sorted(files)},
            )
    except Exception:
        stored_delete(stored)
        raise
    return record


@transaction.atomic
def trace_record_update(
    *,
    record: TraceRecord,
    kind: str,
    occurred_on: dt.date | None,
    title: str,
    inspector: str,
    result: str = "",
    actor: Actor,
) -> TraceRecord:
    """Correct a record's text (its files are replaced by deleting it and adding a new one)."""
    fields = _record_fields(
        kind=kind, occurred_on=occurred_on, title=title, inspector=inspector, result=result
    )
    before = {key: getattr(record, key) for key in fields}
    if before == fields:
        return record
    for key, value in fields.items():
        setattr(record, key, value)
    record.updated_at = clock.now()
    record.save()
    _touched(record.profile)
    audit_record(
        actor=actor, action="food.trace_record_update", target=record, before=before, after=fields
    )
    return record


def _published_names(profile: TraceProfile) -> str:
    return "\n".join(
        json.dumps(snapshot, ensure_ascii=False)
        for snapshot in TraceVersion.objects.filter(profile=profile).values_list(
            "snapshot", flat=True
        )
    )


def _delete_unpublished_files(profile: TraceProfile, names: list[str]) -> None:
    """Files a published version still shows stay; the others go after the commit."""
    published = _published_names(profile)
    orphans = [name for name in names if name and json.dumps(name)[1:-1] not in published]
    if orphans:
        transaction.on_commit(lambda: stored_delete(orphans))


@transaction.atomic
def trace_record_delete(*, record: TraceRecord, actor: Actor) -> None:
    profile = record.profile
    names = [record.photo_original.name, record.photo_jpeg_1080.name, record.photo_webp_400.name]
    names.append(record.document.name)
    audit_record(
        actor=actor,
        action="food.trace_record_delete",
        target=record,
        before={"title": record.title, "kind": record.kind, "occurred_on": record.occurred_on},
    )
    record.delete()
    _touched(profile)
    _delete_unpublished_files(profile, names)


def trace_media_add(
    *,
    batch: Batch,
    kind: str,
    file: IO[bytes] | bytes,
    caption: str = "",
    actor: Actor,
) -> TraceMedia:
    """Add a stop to the lot's media tour: a photo, a short video, or a 2:1 panorama."""
    if kind not in TraceMediaKind.values:
        raise _field_error("kind", "请选择影像类型")
    caption = _text(caption, field="caption", label="说明", max_length=120, required=False)
    folder = f"food/trace/{batch.pk}"
    stored: list[str] = []
    files: dict[str, Any]
    try:
        if kind == TraceMediaKind.VIDEO:
            files = {"file": video_store(file=file, folder=folder)}
            stored.append(files["file"])
        else:
            if kind == TraceMediaKind.PANORAMA:
                panorama_check(file)
            picture = picture_store(file=file, folder=folder)
            stored += [picture.original, picture.webp_400, picture.webp_1080, picture.jpeg_1080]
            stored_delete([picture.webp_1080])
            files = {
                "file": picture.original,
                "jpeg_1080": picture.jpeg_1080,
                "webp_400": picture.webp_400,
                "width": picture.width,
                "height": picture.height,
            }
        with transaction.atomic():
            profile = trace_profile_for(batch)
            last = profile.media.order_by("-sort_order").values_list("sort_order", flat=True)
            media = TraceMedia.objects.create(
                profile=profile,
                kind=kind,
                caption=caption,
                sort_order=(last[0] + 1) if last else 0,
                created_at=clock.now(),
                **files,
            )
            _touched(profile)
            audit_record(
                actor=actor,
                action="food.trace_media_add",
                target=media,
                after={"kind": kind, "caption": caption},
            )
    except Exception:
        stored_delete(stored)
        raise
    return media


@transaction.atomic
def trace_media_delete(*, media: TraceMedia, actor: Actor) -> None:
    profile = media.profile
    names = [media.file.name, media.jpeg_1080.name, media.webp_400.name]
    audit_record(
        actor=actor,
        action="food.trace_media_delete",
        target=media,
        before={"kind": media.kind, "caption": media.caption},
    )
    media.delete()
    _touched(profile)
    _delete_unpublished_files(profile, names)


# --- publication --------------------------------------------------------------------------------


def trace_snapshot(profile: TraceProfile) -> dict[str, Any]:
    """The draft as the public page shows it: plain JSON with storage names, never URLs (the
    storage's address may change; trace_selectors turns names into URLs when showing)."""
    origin = profile.origin
    return {
        "origin": (
            {
                "name": origin.name,
                "address": origin.address,
                "latitude": str(origin.latitude),
                "longitude": str(origin.longitude),
                "description": origin.description,
            }
            if origin
            else None
        ),
        "records": [
            {
                "id": record.pk,
                "kind": record.kind,
                "occurred_on": record.occurred_on.isoformat(),
                "title": record.title,
                "inspector": record.inspector,
                "result": record.result,
                "photo": record.photo_jpeg_1080.name,
                "photo_small": record.photo_webp_400.name,
                "document": record.document.name,
            }
            for record in profile.records.order_by("occurred_on", "id")
        ],
        "media": [
            {
                "id": media.pk,
                "kind": media.kind,
                "caption": media.caption,
                "file": media.file.name,
                "jpeg_1080": media.jpeg_1080.name,
                "webp_400": media.webp_400.name,
                "width": media.width,
                "height": media.height,
            }
            for media in profile.media.order_by("sort_order", "id")
        ],
    }


def trace_publish(*, batch: Batch, actor: Actor, note: str = "") -> TraceVersion:
    """Publish the lot's draft as its next version, with what changed since the last one.
    Refused without an origin, and when nothing changed since the last publication."""
    note = _text(note, field="note", label="修改说明", max_length=200, required=False)
    with transaction.atomic():
        profile = trace_profile_lock(trace_profile_for(batch).pk)
        if profile.origin_id is None:
            raise _field_error("origin", "请先选择产地再发布")
        snapshot = trace_snapshot(profile)
        previous = profile.versions.order_by("-number").first()
        if previous is not None and previous.snapshot == snapshot:
            raise TraceNothingToPublish("没有需要发布的修改")
        version = TraceVersion.objects.create(
            profile=profile,
            number=(previous.number + 1) if previous else 1,
            snapshot=snapshot,
            changes=snapshot_changes(previous.snapshot if previous else None, snapshot),
            note=note,
            published_by=actor.label[:64],
            published_at=clock.now(),
        )
        TraceProfile.objects.filter(pk=profile.pk).update(has_unpublished_changes=False)
        audit_record(
            actor=actor,
            action="food.trace_publish",
            target=profile,
            after={"version": version.number, "changes": version.changes},
        )
    return version
