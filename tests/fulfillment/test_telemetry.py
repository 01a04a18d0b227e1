"""Cold-chain telemetry: device keys, idempotent out-of-order ingestion, excursions on
hand-made series (tolerance edges, gaps, late readings creating or extending one)."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core.events import subscribe, unsubscribe
from freshloop.fulfillment.errors import (
    DeviceInactive,
    DeviceKeyInvalid,
    ReadingsInvalid,
    ShipmentNotFound,
)
from freshloop.fulfillment.events import ExcursionDetected
from freshloop.fulfillment.models import Excursion, TelemetryDevice, TemperatureReading
from freshloop.fulfillment.selectors import shipment_readings_series
from freshloop.fulfillment.services import (
    ReadingInput,
    device_authenticate,
    device_create,
    readings_ingest,
)
from freshloop.fulfillment.telemetry import _device_cache, _seen_written, safe_band
from tests.fulfillment.factories import OPERATOR, make_parcel_order

pytestmark = pytest.mark.django_db(transaction=True)

T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _no_device_cache() -> None:
    _device_cache.clear()
    _seen_written.clear()


@pytest.fixture
def announced() -> list[ExcursionDetected]:
    seen: list[ExcursionDetected] = []

    def handler(event: ExcursionDetected) -> None:
        seen.append(event)

    subscribe(ExcursionDetected)(handler)
    yield seen
    unsubscribe(ExcursionDetected, handler)


def logger(storage: str = "chilled") -> TelemetryDevice:
    parcel = make_parcel_order(storage=storage).shipment
    device, _ = device_create(code=f"LOG-{parcel.pk}", actor=OPERATOR, shipment_id=parcel.pk)
    return device


def send(device: TelemetryDevice, *points: tuple[int, float], prefix: str = "r"):
    """Readings at minute offsets from T0, ids from their minute (resending is idempotent)."""
    return readings_ingest(
        device=device,
        readings=[
            ReadingInput(
                reading_id=f"{prefix}{minute}",
                recorded_at=T0 + dt.timedelta(minutes=minute),
                celsius=celsius,
            )
            for minute, celsius in points
        ],
    )


class TestDeviceCreate:
    def test_key_shown_once_only_its_hash_stored(self) -> None:
        device, key = device_create(code="LOG-1", actor=OPERATOR)
        assert key.startswith("fld_")
        assert key not in device.key_hash
        assert device_authenticate(key).pk == device.pk

    def test_wrong_or_inactive_key(self) -> None:
        device, key = device_create(code="LOG-2", actor=OPERATOR)
        with pytest.raises(DeviceKeyInvalid):
            device_authenticate("fld_wrong")
        with pytest.raises(DeviceKeyInvalid):
            device_authenticate("no-prefix")
        TelemetryDevice.objects.filter(pk=device.pk).update(is_active=False)
        _device_cache.clear()
        with pytest.raises(DeviceInactive):
            device_authenticate(key)


class TestReadingsIngest:
    def test_idempotent_and_out_of_order(self) -> None:
        device = logger()
        first = send(device, (10, 2.0), (0, 3.0), (5, 2.5))
        again = send(device, (5, 2.5), (15, 2.0))
        assert (first.accepted, first.duplicates) == (3, 0)
        device.refresh_from_db()
        assert device.last_seen_at is not None
        assert (again.accepted, again.duplicates) == (1, 1)
        series = shipment_readings_series(shipment_id=device.shipment_id)
        assert [p.recorded_at for p in series] == sorted(p.recorded_at for p in series)
        assert TemperatureReading.objects.count() == 4

    def test_refuses_bad_batches_and_writes_nothing(self) -> None:
        device = logger()
        with pytest.raises(ReadingsInvalid):
            send(device, (0, 99.0))
        with pytest.raises(ReadingsInvalid):
            readings_ingest(device=device, readings=[])
        with pytest.raises(ReadingsInvalid):
            readings_ingest(
                device=device,
                readings=[
                    ReadingInput(reading_id="x", recorded_at=dt.datetime(2026, 1, 1), celsius=1.0)
                ],
            )
        with pytest.raises(ShipmentNotFound):
            readings_ingest(
                device=device,
                readings=[
                    ReadingInput(reading_id="x", recorded_at=T0, celsius=1.0, shipment_no="NOPE")
                ],
            )
        assert not TemperatureReading.objects.exists()

    def test_unattached_device_needs_shipment_numbers(self) -> None:
        parcel = make_parcel_order().shipment
        device, _ = device_create(code="LOG-free", actor=OPERATOR)
        with pytest.raises(ReadingsInvalid):
            send(device, (0, 2.0))
        result = readings_ingest(
            device=device,
            readings=[
                ReadingInput(
                    reading_id="a", recorded_at=T0, celsius=2.0, shipment_no=parcel.shipment_no
                )
            ],
        )
        assert result.accepted == 1


class TestExcursionsDetect:
    def test_longer_than_tolerance_is_one_excursion_announced_once(
        self, announced: list[ExcursionDetected]
    ) -> None:
        # given a chilled parcel warm from minute 10 to 45 (back inside at 45)
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (20, 8.5), (30, 7.0), (45, 3.0))
        # then one excursion of 35 minutes, peak 8.5, announced once
        excursion = Excursion.objects.get()
        assert (excursion.minutes, excursion.peak_celsius) == (35, 8.5)
        assert excursion.started_at == T0 + dt.timedelta(minutes=10)
        # and resending the batch announces nothing more
        send(device, (0, 2.0), (10, 6.0), (20, 8.5), (30, 7.0), (45, 3.0))
        assert len(announced) == 1
        assert announced[0].excursion_id == excursion.pk
        assert announced[0].minutes == 35
        assert announced[0].storage == "chilled"

    def test_exactly_the_tolerance_is_tolerated(self, announced: list[ExcursionDetected]) -> None:
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (40, 3.0))  # exactly 30 minutes outside
        assert not Excursion.objects.exists()
        assert not announced
        send(device, (0, 2.0), (50, 6.0), (81, 3.0), prefix="s")  # 31 minutes: an excursion
        assert Excursion.objects.get().minutes == 31

    def test_tolerance_is_configurable(self, settings) -> None:
        settings.FULFILLMENT_EXCURSION_TOLERANCE_MINUTES = {"chilled": 10}
        assert safe_band("chilled").tolerance_minutes == 10
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (25, 3.0))
        assert Excursion.objects.get().minutes == 15

    def test_too_cold_counts_for_chilled_and_frozen_has_no_floor(self) -> None:
        chilled = logger()
        send(chilled, (0, 2.0), (10, -1.5), (50, 1.0))
        assert Excursion.objects.get(shipment_id=chilled.shipment_id).peak_celsius == -1.5
        frozen = logger("frozen")
        send(frozen, (0, -25.0), (10, -40.0), (60, -19.0))
        assert not Excursion.objects.filter(shipment_id=frozen.shipment_id).exists()
        send(frozen, (70, -12.0), (110, -20.0))
        assert Excursion.objects.get(shipment_id=frozen.shipment_id).minutes == 40

    def test_gap_in_readings_does_not_end_a_run(self) -> None:
        # warm at 10, nothing for an hour, warm at 70, back at 75: 65 minutes outside
        device = logger()
        send(device, (0, 2.0), (10, 5.0), (70, 5.5), (75, 2.0))
        assert Excursion.objects.get().minutes == 65

    def test_in_band_readings_with_gaps_are_fine(self) -> None:
        device = logger()
        send(device, (0, 2.0), (120, 3.0), (300, 1.0))
        assert not Excursion.objects.exists()

    def test_open_run_is_found_when_it_passes_the_tolerance(self) -> None:
        # still warm at the last reading: the run so far counts
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (20, 6.0))
        assert not Excursion.objects.exists()
        send(device, (45, 6.5))
        assert Excursion.objects.get().minutes == 35

    def test_late_in_band_reading_closing_a_run_creates_it(self) -> None:
        # given a run of 20 minutes seen so far (10 → 30)
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (30, 7.0))
        assert not Excursion.objects.exists()
        # when the logger's next reading, back in band at 50, arrives: 40 minutes
        send(device, (50, 3.0))
        assert Excursion.objects.get().minutes == 40

    def test_late_reading_creates_an_excursion(self, announced: list[ExcursionDetected]) -> None:
        # given a warm spell of 25 minutes (10 → back inside at 35): tolerated
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (30, 6.0), (35, 3.0))
        assert not Excursion.objects.exists()
        # when a warm reading stamped at minute 3 arrives late, the spell is 32 minutes
        send(device, (3, 7.0), prefix="late")
        # then it is an excursion from minute 3, announced once
        excursion = Excursion.objects.get()
        assert excursion.started_at == T0 + dt.timedelta(minutes=3)
        assert (excursion.minutes, excursion.peak_celsius) == (32, 7.0)
        assert len(announced) == 1

    def test_late_reading_extends_an_excursion_without_announcing_again(
        self, announced: list[ExcursionDetected]
    ) -> None:
        # given an excursion 10 → 50
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (50, 3.0))
        assert Excursion.objects.get().minutes == 40
        # when a warmer reading stamped at minute 5 arrives late
        send(device, (5, 9.0), prefix="late")
        # then the same excursion starts earlier and peaks higher, not announced again
        excursion = Excursion.objects.get()
        assert (excursion.minutes, excursion.peak_celsius) == (45, 9.0)
        assert len(announced) == 1

    def test_two_separate_excursions(self) -> None:
        device = logger()
        send(device, (0, 2.0), (10, 6.0), (50, 3.0), (60, 6.0), (100, 3.0))
        assert Excursion.objects.count() == 2
