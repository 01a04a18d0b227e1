"""Traceability of lots (SPEC FD-3): the reads — the public page a pack's QR code opens, with
the cold chain the lot went through, and the console's lists."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from django.core.files.storage import default_storage
from django.db.models import Max, Min, Q

from freshloop.catalog.models import Batch, StorageCondition
from freshloop.food.models import (
    TraceMediaKind,
    TraceOrigin,
    TraceProfile,
    TraceRecordKind,
    TraceVersion,
)
from freshloop.fulfillment.models import (
    Excursion,
    Shipment,
    ShipmentEvent,
    ShipmentLine,
    TemperatureReading,
)

ROUTE_STOPS = 8
"""At most this many places of the carriers' scans on the page: the route, not every scan."""


@dataclass(frozen=True)
class ColdChainStep:
    title: str
    when: dt.datetime | dt.date | None
    detail: str
    warning: bool = False


@dataclass
class ColdChain:
    """Where the lot's parcels went and how cold they stayed — counts and ranges only, so a
    public page never shows whose parcel it was."""

    parcels: int = 0
    delivered: int = 0
    readings: int = 0
    min_celsius: float | None = None
    max_celsius: float | None = None
    excursions: int = 0
    steps: list[ColdChainStep] = field(default_factory=list)


@dataclass
class TracePage:
    batch: Batch
    version: TraceVersion
    origin: dict[str, Any] | None
    records: list[dict[str, Any]]
    photos: list[dict[str, Any]]
    videos: list[dict[str, Any]]
    panoramas: list[dict[str, Any]]
    history: list[TraceVersion]
    cold_chain: ColdChain


def _url(name: str) -> str:
    return default_storage.url(name) if name else ""


def trace_cold_chain(*, batch: Batch, origin_name: str = "") -> ColdChain:
    """The steps the lot took from production to doorsteps, read from fulfillment: parcels
    that carry the lot and were handed to a carrier, their warehouses, carriers, route and
    logged temperatures."""
    chain = ColdChain()
    chain.steps.append(
        ColdChainStep(title="生产", when=batch.produced_on, detail=origin_name or "生产完成")
    )
    shipment_ids = list(
        ShipmentLine.objects.filter(batch=batch)
        .exclude(shipment__handed_over_at=None)
        .values_list("shipment_id", flat=True)
        .distinct()
    )
    if not shipment_ids:
        return chain
    shipments = Shipment.objects.filter(pk__in=shipment_ids)
    chain.parcels = len(shipment_ids)
    warehouses = list(
        shipments.values("warehouse__name", "warehouse__city")
        .annotate(first=Min("handed_over_at"))
        .order_by("first")
    )
    for row in warehouses:
        chain.steps.append(
            ColdChainStep(
                title="出库",
                when=row["first"],
                detail=f"{row['warehouse__name']}（{row['warehouse__city']}）",
            )
        )
    cold = shipments.filter(storage__in=[StorageCondition.CHILLED, StorageCondition.FROZEN])
    carriers = sorted({name for name in shipments.values_list("carrier__name", flat=True)})
    storages = sorted(
        {
            str(StorageCondition(value).label)
            for value in shipments.values_list("storage", flat=True)
        }
    )
    readings = TemperatureReading.objects.filter(shipment__in=cold).aggregate(
        low=Min("celsius"), high=Max("celsius"), first=Min("recorded_at")
    )
    chain.readings = TemperatureReading.objects.filter(shipment__in=cold).count()
    chain.min_celsius, chain.max_celsius = readings["low"], readings["high"]
    chain.excursions = Excursion.objects.filter(shipment__in=cold).count()
    route: list[str] = []
    for place in (
        ShipmentEvent.objects.filter(shipment__in=shipments)
        .exclude(location="")
        .order_by("occurred_at", "id")
        .values_list("location", flat=True)
    ):
        if place not in route:
            route.append(place)
        if len(route) >= ROUTE_STOPS:
            break
    detail = f"{'、'.join(carriers)} · {'、'.join(storages)}"
    if chain.readings:
        detail += f" · 全程记录温度 {chain.min_celsius:.1f}～{chain.max_celsius:.1f}℃"
    if route:
        detail += f" · 途经 {' → '.join(route)}"
    if chain.excursions:
        detail += f" · 温度异常 {chain.excursions} 次（相关订单已按售后规则处理）"
    elif chain.readings:
        detail += " · 全程温度正常"
    first_handed = shipments.aggregate(first=Min("handed_over_at"))["first"]
    chain.steps.append(
        ColdChainStep(
            title="冷链运输" if cold.exists() else "运输",
            when=readings["first"] or first_handed,
            detail=detail,
            warning=bool(chain.excursions),
        )
    )
    delivered = shipments.exclude(delivered_at=None)
    chain.delivered = delivered.count()
    if chain.delivered:
        chain.steps.append(
            ColdChainStep(
                title="送达",
                when=delivered.aggregate(last=Max("delivered_at"))["last"],
                detail=f"已送达 {chain.delivered} 个包裹",
            )
        )
    return chain


def _records(snapshot: dict[str, Any]) -> list[dict[str, Any]]:
    labels = dict(TraceRecordKind.choices)
    return [
        {
            **record,
            "kind_label": labels.get(record["kind"], record["kind"]),
            "occurred_on": dt.date.fromisoformat(record["occurred_on"]),
            "photo_url": _url(record.get("photo", "")),
            "photo_small_url": _url(record.get("photo_small", "")),
            "document_url": _url(record.get("document", "")),
        }
        for record in snapshot.get("records", [])
    ]


def _media(snapshot: dict[str, Any], kind: str) -> list[dict[str, Any]]:
    return [
        {
            **media,
            "url": _url(media["file"]),
            "jpeg_url": _url(media.get("jpeg_1080", "")),
            "small_url": _url(media.get("webp_400", "")),
        }
        for media in snapshot.get("media", [])
        if media["kind"] == kind
    ]


def trace_public_page(*, batch_id: int) -> TracePage | None:
    """What /trace/<token> shows for a lot: its newest published version (never the draft),
    the versions' 修改记录, and the cold chain; None when nothing has been published."""
    batch = Batch.objects.select_related("sku__product").filter(pk=batch_id).first()
    if batch is None:
        return None
    versions = list(TraceVersion.objects.filter(profile__batch=batch).order_by("-number"))
    if not versions:
        return None
    snapshot = versions[0].snapshot
    origin = snapshot.get("origin")
    return TracePage(
        batch=batch,
        version=versions[0],
        origin=origin,
        records=_records(snapshot),
        photos=_media(snapshot, TraceMediaKind.PHOTO),
        videos=_media(snapshot, TraceMediaKind.VIDEO),
        panoramas=_media(snapshot, TraceMediaKind.PANORAMA),
        history=versions,
        cold_chain=trace_cold_chain(batch=batch, origin_name=origin["name"] if origin else ""),
    )


# --- console ------------------------------------------------------------------------------------


@dataclass(frozen=True)
class TraceLotRow:
    batch: Batch
    profile: TraceProfile | None
    published_version: int | None


def trace_lot_rows(*, query: str = "", limit: int = 100) -> list[TraceLotRow]:
    """Lots for the console list, newest production first, with their traceability state."""
    batches = Batch.objects.select_related("sku__product")
    query = query.strip()[:64]
    if query:
        batches = batches.filter(
            Q(batch_no__icontains=query)
            | Q(sku__code__icontains=query)
            | Q(sku__product__name__icontains=query)
        )
    found = list(batches.order_by("-produced_on", "-id")[: max(1, min(limit, 500))])
    profiles = {
        profile.batch_id: profile
        for profile in TraceProfile.objects.filter(batch__in=found)
        .select_related("origin")
        .annotate(published=Max("versions__number"))
    }
    return [
        TraceLotRow(
            batch=batch,
            profile=profiles.get(batch.pk),
            published_version=getattr(profiles.get(batch.pk), "published", None),
        )
        for batch in found
    ]


def trace_origins() -> list[TraceOrigin]:
    return list(TraceOrigin.objects.order_by("name"))


def trace_profile_of(*, batch_id: int) -> TraceProfile | None:
    return (
        TraceProfile.objects.select_related("origin", "batch__sku__product")
        .filter(batch_id=batch_id)
        .first()
    )
