"""Cold-chain telemetry (FF-2): logger devices with their own keys, readings ingested in
batches (idempotent by reading id, in any order), and excursions detected per storage class.

Safe bands and tolerances, written down (tolerance minutes configurable per storage class with
the Django setting `FULFILLMENT_EXCURSION_TOLERANCE_MINUTES`, e.g. `{"chilled": 20}`):

    chilled  0 °C … 4 °C     tolerated 30 minutes outside
    frozen   ≤ −18 °C        tolerated 30 minutes
    ambient  ≤ 30 °C         tolerated 120 minutes

An excursion is a run of consecutive readings outside the band (ordered by when they were
measured). It lasts from the first reading outside to the first reading back inside — or to
the last reading outside while none has come back. A gap in the readings does not end a run:
a parcel seen warm, then nothing, then warm again is taken to have been warm in between (food
safety errs that way). A run counts as an excursion when it lasts *longer* than the tolerance
(exactly the tolerance is still tolerated).

Detection is incremental: a batch only recomputes the stretch of the series it can change —
from the last reading inside the band before the batch's earliest reading to the first reading
inside the band after its latest. A late reading can create an excursion (it fills a run up to
beyond the tolerance) or extend one; excursions grow and merge but are never withdrawn once
announced (a late in-band reading in the middle does not undo what operators were told).
ExcursionDetected goes out once per excursion, when it is first found.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import math
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import connection, transaction

from freshloop.catalog.models import StorageCondition
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.fulfillment.errors import (
    DeviceInactive,
    DeviceKeyInvalid,
    FulfillmentInvalid,
    ReadingsInvalid,
    ShipmentNotFound,
)
from freshloop.fulfillment.events import ExcursionDetected
from freshloop.fulfillment.locks import shipments_lock_for_readings
from freshloop.fulfillment.models import Excursion, Shipment, TelemetryDevice, TemperatureReading

MAX_BATCH = 500
KEY_PREFIX = "fld_"
MAX_FUTURE = dt.timedelta(minutes=10)
"""A reading stamped further ahead of our clock than this is refused (a logger's clock gone
wrong would otherwise place it after everything else)."""


@dataclass(frozen=True)
class SafeBand:
    low: float | None
    high: float | None
    tolerance_minutes: int

    def contains(self, celsius: float) -> bool:
        if self.low is not None and celsius < self.low:
            return False
        return self.high is None or celsius <= self.high


DEFAULT_BANDS: dict[str, SafeBand] = {
    StorageCondition.CHILLED: SafeBand(0.0, 4.0, 30),
    StorageCondition.FROZEN: SafeBand(None, -18.0, 30),
    StorageCondition.AMBIENT: SafeBand(None, 30.0, 120),
}


def safe_band(storage: str) -> SafeBand:
    band = DEFAULT_BANDS.get(storage, DEFAULT_BANDS[StorageCondition.AMBIENT])
    overrides = getattr(settings, "FULFILLMENT_EXCURSION_TOLERANCE_MINUTES", {}) or {}
    if storage in overrides:
        return SafeBand(band.low, band.high, int(overrides[storage]))
    return band


# --- devices ----------------------------------------------------------------------------------


def _key_hash(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


@transaction.atomic
def device_create(
    *, code: str, actor: Actor, name: str = "", shipment_id: int | None = None
) -> tuple[TelemetryDevice, str]:
    """A logger and its key. The key is returned once, here; only its hash is stored."""
    code = code.strip()
    if not code or len(code) > 40:
        raise FulfillmentInvalid(detail=[{"field": "code", "message": "设备编号为 1–40 个字符"}])
    if TelemetryDevice.objects.filter(code=code).exists():
        raise FulfillmentInvalid(detail=[{"field": "code", "message": "设备编号已存在"}])
    if shipment_id is not None and not Shipment.objects.filter(pk=shipment_id).exists():
        raise ShipmentNotFound(detail={"shipment_id": shipment_id})
    raw = KEY_PREFIX + secrets.token_urlsafe(24)
    device = TelemetryDevice.objects.create(
        code=code,
        name=name[:64],
        key_prefix=raw[:12],
        key_hash=_key_hash(raw),
        shipment_id=shipment_id,
        created_at=clock.now(),
    )
    audit_record(
        actor=actor,
        action="fulfillment.device_create",
        target=device,
        after={"code": code, "shipment_id": shipment_id},
    )
    return device, raw


@transaction.atomic
def device_attach(*, device_id: int, shipment_id: int | None, actor: Actor) -> TelemetryDevice:
    """Put the logger into a parcel (or take it out with None)."""
    device = TelemetryDevice.objects.filter(pk=device_id).first()
    if device is None:
        raise FulfillmentInvalid(detail=[{"field": "device_id", "message": "设备不存在"}])
    if shipment_id is not None and not Shipment.objects.filter(pk=shipment_id).exists():
        raise ShipmentNotFound(detail={"shipment_id": shipment_id})
    before = device.shipment_id
    device.shipment_id = shipment_id
    device.save(update_fields=["shipment"])
    _device_cache.clear()
    audit_record(
        actor=actor,
        action="fulfillment.device_attach",
        target=device,
        before={"shipment_id": before},
        after={"shipment_id": shipment_id},
    )
    return device


_DEVICE_CACHE_SECONDS = 10.0
_device_cache: dict[str, tuple[float, TelemetryDevice]] = {}
"""Key hash → device, for a few seconds: a logger posting every few seconds costs one lookup
per window, not one per batch. A deactivated key stops working within the window."""


def device_authenticate(raw_key: str) -> TelemetryDevice:
    """The device holding `raw_key`: 401 when no device has it, 403 when it is switched off."""
    raw_key = raw_key.strip()
    if not raw_key.startswith(KEY_PREFIX) or len(raw_key) > 100:
        raise DeviceKeyInvalid()
    digest = _key_hash(raw_key)
    cached = _device_cache.get(digest)
    now = time.monotonic()
    if cached is not None and now - cached[0] < _DEVICE_CACHE_SECONDS:
        device = cached[1]
    else:
        found = TelemetryDevice.objects.select_related("shipment").filter(key_hash=digest).first()
        if found is None:
            raise DeviceKeyInvalid()
        device = found
        if len(_device_cache) > 10_000:
            _device_cache.clear()
        _device_cache[digest] = (now, device)
    if not device.is_active:
        raise DeviceInactive()
    return device


# --- ingestion --------------------------------------------------------------------------------


@dataclass(frozen=True)
class ReadingInput:
    reading_id: str
    recorded_at: dt.datetime
    celsius: float
    humidity: float | None = None
    shipment_no: str = ""


@dataclass(frozen=True)
class IngestResult:
    accepted: int
    duplicates: int
    excursions_found: int


def _check(readings: list[ReadingInput]) -> None:
    if not readings or len(readings) > MAX_BATCH:
        raise ReadingsInvalid(
            f"每批 1–{MAX_BATCH} 条读数",
            detail=[{"field": "readings", "message": f"每批 1–{MAX_BATCH} 条"}],
        )
    latest_allowed = clock.now() + MAX_FUTURE
    problems: list[dict[str, str]] = []
    for index, reading in enumerate(readings):
        if not reading.reading_id or len(reading.reading_id) > 64:
            problems.append(
                {"field": f"readings.{index}.reading_id", "message": "读数编号为 1–64 个字符"}
            )
        if reading.recorded_at.tzinfo is None:
            problems.append({"field": f"readings.{index}.recorded_at", "message": "时间必须带时区"})
        elif reading.recorded_at > latest_allowed:
            problems.append(
                {"field": f"readings.{index}.recorded_at", "message": "测量时间晚于当前时间"}
            )
        if not -60.0 <= reading.celsius <= 80.0:
            problems.append({"field": f"readings.{index}.celsius", "message": "温度超出 −60–80 °C"})
        if reading.humidity is not None and not 0.0 <= reading.humidity <= 100.0:
            problems.append({"field": f"readings.{index}.humidity", "message": "湿度超出 0–100%"})
        if len(problems) >= 20:
            break
    if problems:
        raise ReadingsInvalid(problems[0]["message"], detail=problems)


def _shipments_for(device: TelemetryDevice, readings: list[ReadingInput]) -> dict[str, Shipment]:
    """Each reading's parcel: the one it names, else the one the device is in."""
    named = {reading.shipment_no for reading in readings if reading.shipment_no}
    found = (
        {
            shipment.shipment_no: shipment
            for shipment in Shipment.objects.filter(shipment_no__in=named)
        }
        if named
        else {}
    )
    missing = sorted(named - found.keys())
    if missing:
        raise ShipmentNotFound(detail={"shipment_no": missing[:10]})
    if any(not reading.shipment_no for reading in readings):
        if device.shipment is None:
            raise ReadingsInvalid(
                "设备未绑定包裹，读数须带包裹号",
                detail=[{"field": "readings", "message": "设备未绑定包裹，读数须带 shipment_no"}],
            )
        found[""] = device.shipment
    return found


_SEEN_EVERY_SECONDS = 60.0
_seen_written: dict[int, float] = {}


def _seen(device: TelemetryDevice) -> None:
    """Note when the logger last reported — at most once a minute per process, so the hot path
    does not pay an UPDATE per batch."""
    now = time.monotonic()
    if now - _seen_written.get(device.pk, -_SEEN_EVERY_SECONDS) < _SEEN_EVERY_SECONDS:
        return
    _seen_written[device.pk] = now
    TelemetryDevice.objects.filter(pk=device.pk).update(last_seen_at=clock.now())


def _datetime_parameter() -> Callable[[dt.datetime], Any]:
    """How a datetime goes into raw SQL: SQLite stores naive UTC text as Django writes it;
    Django's own adapter costs ~20 µs a value, a fifth of a batch's insert."""
    if connection.vendor == "sqlite":
        return lambda value: value.astimezone(dt.UTC).replace(tzinfo=None).isoformat(" ")
    return connection.ops.adapt_datetimefield_value


def _insert(device: TelemetryDevice, rows: list[tuple[int, ReadingInput]]) -> int:
    """Insert the readings, skipping those the device already sent; the count inserted.
    One statement with ON CONFLICT DO NOTHING (SQLite ≥ 3.24 and PostgreSQL both speak it).
    On PostgreSQL the rows go as six arrays through unnest(): six parameters instead of 600,
    which psycopg would otherwise parse out of the statement text on every batch."""
    table = TemperatureReading._meta.db_table
    columns = "device_id, shipment_id, reading_id, recorded_at, celsius, humidity"
    conflict = "ON CONFLICT (device_id, reading_id) DO NOTHING"
    with connection.cursor() as cursor:
        if connection.vendor == "postgresql":
            cursor.execute(
                f"INSERT INTO {table} ({columns}) SELECT * FROM unnest("  # noqa: S608 (our own table name)
                "%s::bigint[], %s::bigint[], %s::varchar[], %s::timestamptz[], %s::float8[], "
                f"%s::float8[]) {conflict}",
                [
                    [device.pk] * len(rows),
                    [shipment_id for shipment_id, _ in rows],
                    [reading.reading_id for _, reading in rows],
                    [reading.recorded_at for _, reading in rows],
                    [float(reading.celsius) for _, reading in rows],
                    [reading.humidity for _, reading in rows],
                ],
            )
            return max(cursor.rowcount, 0)
        adapt = _datetime_parameter()
        values: list[Any] = []
        for shipment_id, reading in rows:
            values += [
                device.pk,
                shipment_id,
                reading.reading_id,
                adapt(reading.recorded_at),
                float(reading.celsius),
                reading.humidity,
            ]
        marks = ", ".join(["(%s, %s, %s, %s, %s, %s)"] * len(rows))
        cursor.execute(
            f"INSERT INTO {table} ({columns}) VALUES {marks} {conflict}",  # noqa: S608 (our own table name)
            values,
        )
        return max(cursor.rowcount, 0)


@transaction.atomic
def readings_ingest(*, device: TelemetryDevice, readings: list[ReadingInput]) -> IngestResult:
    """Store a batch of one logger's readings and look for excursions in what they change.
    Sending the same batch again stores nothing more and announces nothing more."""
    _check(readings)
    shipments = _shipments_for(device, readings)
    rows = [(shipments[reading.shipment_no].pk, reading) for reading in readings]
    shipments_lock_for_readings([shipment.pk for shipment in shipments.values()])
    accepted = _insert(device, rows)
    _seen(device)
    found = 0
    by_shipment: dict[int, list[ReadingInput]] = {}
    for shipment_id, reading in rows:
        by_shipment.setdefault(shipment_id, []).append(reading)
    storages = {shipment.pk: shipment.storage for shipment in shipments.values()}
    for shipment_id, batch in by_shipment.items():
        band = safe_band(storages[shipment_id])
        found += excursions_detect(
            shipment_id=shipment_id,
            storage=storages[shipment_id],
            since=min(reading.recorded_at for reading in batch),
            until=max(reading.recorded_at for reading in batch),
            batch_outside=any(not band.contains(r.celsius) for r in batch),
        )
    return IngestResult(
        accepted=accepted, duplicates=len(readings) - accepted, excursions_found=found
    )


# --- detection --------------------------------------------------------------------------------


@dataclass
class _Run:
    started_at: dt.datetime
    last_out_at: dt.datetime
    ended_at: dt.datetime | None
    peak: float

    @property
    def end(self) -> dt.datetime:
        return self.ended_at or self.last_out_at

    @property
    def minutes(self) -> float:
        return (self.end - self.started_at).total_seconds() / 60


def _runs(series: list[tuple[dt.datetime, float]], band: SafeBand) -> list[_Run]:
    runs: list[_Run] = []
    current: _Run | None = None
    for moment, celsius in series:
        if band.contains(celsius):
            if current is not None:
                current.ended_at = moment
                runs.append(current)
                current = None
            continue
        if current is None:
            current = _Run(started_at=moment, last_out_at=moment, ended_at=None, peak=celsius)
        else:
            current.last_out_at = moment
            # The peak is the reading furthest from the band.
            if _distance(celsius, band) > _distance(current.peak, band):
                current.peak = celsius
    if current is not None:
        runs.append(current)
    return runs


def _distance(celsius: float, band: SafeBand) -> float:
    if band.low is not None and celsius < band.low:
        return band.low - celsius
    if band.high is not None and celsius > band.high:
        return celsius - band.high
    return 0.0


def _inside_before(shipment_id: int, since: dt.datetime, band: SafeBand) -> bool:
    """Whether the reading just before `since` is inside the band (or there is none): the
    hot path of every in-band batch, so one plain SQL statement, not a queryset."""
    table = TemperatureReading._meta.db_table
    with connection.cursor() as cursor:
        cursor.execute(
            f"SELECT celsius FROM {table} WHERE shipment_id = %s AND recorded_at < %s "  # noqa: S608 (our own table name)
            "ORDER BY recorded_at DESC LIMIT 1",
            [shipment_id, connection.ops.adapt_datetimefield_value(since)],
        )
        row = cursor.fetchone()
    return row is None or band.contains(float(row[0]))


def excursions_detect(
    *,
    shipment_id: int,
    storage: str,
    since: dt.datetime,
    until: dt.datetime,
    batch_outside: bool = True,
) -> int:
    """Recompute the excursions of the stretch [since, until] can change; the number of new
    excursions found (each announced once)."""
    band = safe_band(storage)
    readings = TemperatureReading.objects.filter(shipment_id=shipment_id)
    if not batch_outside and _inside_before(shipment_id, since, band):
        # Only readings inside the band, after one inside the band: no run starts, none ends
        # later than it did (a late in-band reading inside an announced excursion changes
        # nothing either, see the module docstring).
        return 0
    inside = readings.filter(
        celsius__gte=band.low if band.low is not None else -1e9,
        celsius__lte=band.high if band.high is not None else 1e9,
    )
    start = (
        inside.filter(recorded_at__lt=since)
        .order_by("-recorded_at")
        .values_list("recorded_at", flat=True)
        .first()
    )
    end = (
        inside.filter(recorded_at__gt=until)
        .order_by("recorded_at")
        .values_list("recorded_at", flat=True)
        .first()
    )
    window = readings
    if start is not None:
        window = window.filter(recorded_at__gte=start)
    if end is not None:
        window = window.filter(recorded_at__lte=end)
    series = list(window.order_by("recorded_at", "id").values_list("recorded_at", "celsius"))
    found = 0
    for run in _runs(series, band):
        if run.minutes <= band.tolerance_minutes:
            continue
        found += _excursion_record(shipment_id, storage, run)
    return found


def _excursion_record(shipment_id: int, storage: str, run: _Run) -> int:
    """Create the run's excursion, or grow the one(s) it overlaps (merging them). 1 when new."""
    minutes = math.ceil(run.minutes)
    overlapping = list(
        Excursion.objects.filter(
            shipment_id=shipment_id, started_at__lte=run.end, ended_at__gte=run.started_at
        ).order_by("started_at", "id")
    )
    if overlapping:
        keep, *others = overlapping
        started = min([run.started_at, *(e.started_at for e in overlapping)])
        ended = max([run.end, *(e.ended_at for e in overlapping)])
        peaks = [run.peak, *(e.peak_celsius for e in overlapping)]
        band = safe_band(storage)
        keep.started_at = started
        keep.ended_at = ended
        keep.peak_celsius = max(peaks, key=lambda value: _distance(value, band))
        keep.minutes = math.ceil((ended - started).total_seconds() / 60)
        keep.save(update_fields=["started_at", "ended_at", "peak_celsius", "minutes"])
        if others:
            Excursion.objects.filter(pk__in=[e.pk for e in others]).delete()
        return 0
    excursion = Excursion.objects.create(
        shipment_id=shipment_id,
        storage=storage,
        started_at=run.started_at,
        ended_at=run.end,
        peak_celsius=run.peak,
        minutes=minutes,
        announced=True,
        detected_at=clock.now(),
    )
    shipment = Shipment.objects.select_related("order").get(pk=shipment_id)
    audit_record(
        actor=Actor.system("fulfillment.telemetry"),
        action="fulfillment.excursion",
        target=excursion,
        after={"shipment_id": shipment_id, "minutes": minutes, "peak_celsius": run.peak},
    )
    publish(
        ExcursionDetected(
            shipment_id=shipment_id,
            shipment_no=shipment.shipment_no,
            order_id=shipment.order_id,
            order_no=shipment.order.order_no,
            person_id=shipment.order.person_id,
            excursion_id=excursion.pk,
            storage=storage,
            minutes=minutes,
            peak_celsius=run.peak,
        )
    )
    return 1


__all__ = [
    "DEFAULT_BANDS",
    "IngestResult",
    "ReadingInput",
    "SafeBand",
    "device_attach",
    "device_authenticate",
    "device_create",
    "excursions_detect",
    "readings_ingest",
    "safe_band",
]
