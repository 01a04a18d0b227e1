"""Reads of shipments & tracking and of cold-chain telemetry: the consumer's parcels on the
order page and the operators' excursion list."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass, field
from typing import Any

from freshloop.catalog.models import StorageCondition
from freshloop.fulfillment.models import Excursion, Shipment, ShipmentEvent, TemperatureReading
from freshloop.fulfillment.telemetry import SafeBand, safe_band

SERIES_POINTS = 600
"""At most this many points per parcel's temperature line (a logger reporting every minute for
three days sends ~4,300; the phone's chart needs far fewer)."""


@dataclass(frozen=True)
class ReadingPoint:
    recorded_at: dt.datetime
    celsius: float
    humidity: float | None


@dataclass
class ParcelView:
    shipment: Shipment
    events: list[ShipmentEvent]
    """Newest first, as a route list reads."""
    explanation: str
    cold: bool
    band: SafeBand
    readings: list[ReadingPoint] = field(default_factory=list)
    excursions: list[Excursion] = field(default_factory=list)


def shipment_readings_series(
    *, shipment_id: int, points: int = SERIES_POINTS
) -> list[ReadingPoint]:
    """The parcel's readings in time order, thinned to about `points` (keeping, in each
    stretch, the reading furthest from the stretch's mean is overkill for a phone: every
    n-th reading plus every reading outside the band keeps the excursions visible)."""
    rows = list(
        TemperatureReading.objects.filter(shipment_id=shipment_id)
        .order_by("recorded_at", "id")
        .values_list("recorded_at", "celsius", "humidity")
    )
    if len(rows) <= points:
        return [ReadingPoint(*row) for row in rows]
    storage = Shipment.objects.values_list("storage", flat=True).get(pk=shipment_id)
    band = safe_band(storage)
    step = len(rows) / points
    keep = {int(index * step) for index in range(points)} | {len(rows) - 1}
    return [
        ReadingPoint(*row)
        for index, row in enumerate(rows)
        if index in keep or not band.contains(row[1])
    ]


def shipments_for_order(order_id: int) -> list[ParcelView]:
    """Every parcel of the order with what its page shows: warehouse, carrier, waybill,
    promise, why it was allocated so, its route, and for cold parcels the temperature line and
    the excursions."""
    shipments = list(
        Shipment.objects.filter(order_id=order_id)
        .select_related("warehouse", "carrier", "allocation")
        .prefetch_related("lines__sku__product", "lines__batch")
        .order_by("id")
    )
    events: dict[int, list[ShipmentEvent]] = {}
    for event in ShipmentEvent.objects.filter(shipment__order_id=order_id).order_by(
        "-occurred_at", "-id"
    ):
        events.setdefault(event.shipment_id, []).append(event)
    excursions: dict[int, list[Excursion]] = {}
    for excursion in Excursion.objects.filter(shipment__order_id=order_id).order_by("started_at"):
        excursions.setdefault(excursion.shipment_id, []).append(excursion)
    views = []
    for shipment in shipments:
        cold = shipment.storage in {StorageCondition.CHILLED, StorageCondition.FROZEN}
        views.append(
            ParcelView(
                shipment=shipment,
                events=events.get(shipment.pk, []),
                explanation=shipment.allocation.explanation,
                cold=cold,
                band=safe_band(shipment.storage),
                readings=shipment_readings_series(shipment_id=shipment.pk) if cold else [],
                excursions=excursions.get(shipment.pk, []),
            )
        )
    return views


def excursions_for_operators(
    *, since: dt.datetime | None = None, limit: int = 100
) -> list[Excursion]:
    """Excursions newest first, with their parcel and order, for the supply-chain console."""
    found = Excursion.objects.select_related(
        "shipment", "shipment__order", "shipment__carrier", "shipment__warehouse"
    )
    if since is not None:
        found = found.filter(started_at__gte=since)
    return list(found.order_by("-started_at", "-id")[: max(1, min(limit, 500))])


def temperature_chart(
    *, readings: list[ReadingPoint], band: SafeBand, excursions: list[Excursion]
) -> dict[str, Any]:
    """One parcel's temperature line as the shared chart script draws it
    (static/fulfillment/temperature_chart.js): points [ms, °C], the safe band, and the
    excursions [start ms, end ms, minutes, peak °C] — for the buyer's order page and the
    console's parcel page alike."""
    return {
        "points": [
            [int(point.recorded_at.timestamp() * 1000), round(point.celsius, 1)]
            for point in readings
        ],
        "low": band.low,
        "high": band.high,
        "excursions": [
            [
                int(excursion.started_at.timestamp() * 1000),
                int(excursion.ended_at.timestamp() * 1000),
                excursion.minutes,
                excursion.peak_celsius,
            ]
            for excursion in excursions
        ],
    }
