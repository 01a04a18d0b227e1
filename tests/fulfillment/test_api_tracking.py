"""The HTTP face of shipments & tracking and telemetry: carrier pushes, the Kuaidi100 callback,
operators picking / handing over, loggers posting readings, the excursion list."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.test import Client

from freshloop.core.permissions import Role
from freshloop.fulfillment.models import (
    CarrierCredential,
    Excursion,
    ShipmentEvent,
    TelemetryDevice,
    TemperatureReading,
)
from freshloop.fulfillment.services import device_create, shipment_waybill_request
from freshloop.fulfillment.telemetry import _device_cache
from freshloop.orders.models import OrderStatus
from tests.factories import make_staff_user
from tests.fulfillment.factories import OPERATOR, carrier_secret, make_parcel_order
from tests.fulfillment.test_carriers import SALT, kuaidi100_param, push_sign, signed

pytestmark = pytest.mark.django_db(transaction=True)

READINGS = "/api/v1/fulfillment/telemetry/readings"
T0 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)


@pytest.fixture(autouse=True)
def _no_device_cache() -> None:
    _device_cache.clear()


def readings_body(*points: tuple[int, float], prefix: str = "r") -> str:
    return json.dumps(
        {
            "readings": [
                {
                    "reading_id": f"{prefix}{minute}",
                    "recorded_at": (T0 + dt.timedelta(minutes=minute)).isoformat(),
                    "celsius": celsius,
                    "humidity": 80.0,
                }
                for minute, celsius in points
            ]
        }
    )


class TestReadingsPost:
    def test_ingests_idempotently_and_finds_excursions(self, client: Client) -> None:
        parcel = make_parcel_order().shipment
        _, key = device_create(code="LOG-A", actor=OPERATOR, shipment_id=parcel.pk)
        body = readings_body((0, 2.0), (10, 7.0), (50, 3.0))
        first = client.post(READINGS, body, content_type="application/json", HTTP_X_DEVICE_KEY=key)
        again = client.post(
            READINGS, body, content_type="application/json", HTTP_AUTHORIZATION=f"Bearer {key}"
        )
        assert first.status_code == 200, first.content
        assert first.json() == {"accepted": 3, "duplicates": 0, "excursions_found": 1}
        assert again.json() == {"accepted": 0, "duplicates": 3, "excursions_found": 0}
        assert Excursion.objects.count() == 1

    def test_wrong_key_401_inactive_403_nothing_written(self, client: Client) -> None:
        parcel = make_parcel_order().shipment
        device, key = device_create(code="LOG-B", actor=OPERATOR, shipment_id=parcel.pk)
        body = readings_body((0, 2.0))
        missing = client.post(READINGS, body, content_type="application/json")
        wrong = client.post(
            READINGS, body, content_type="application/json", HTTP_X_DEVICE_KEY="fld_forged"
        )
        TelemetryDevice.objects.filter(pk=device.pk).update(is_active=False)
        off = client.post(READINGS, body, content_type="application/json", HTTP_X_DEVICE_KEY=key)
        assert (missing.status_code, missing.json()["code"]) == (401, "device_key_invalid")
        assert (wrong.status_code, wrong.json()["code"]) == (401, "device_key_invalid")
        assert (off.status_code, off.json()["code"]) == (403, "device_inactive")
        assert not TemperatureReading.objects.exists()

    def test_batches_over_500_and_bad_readings_are_422(self, client: Client) -> None:
        parcel = make_parcel_order().shipment
        _, key = device_create(code="LOG-C", actor=OPERATOR, shipment_id=parcel.pk)
        too_many = client.post(
            READINGS,
            readings_body(*((m, 2.0) for m in range(501))),
            content_type="application/json",
            HTTP_X_DEVICE_KEY=key,
        )
        too_hot = client.post(
            READINGS,
            readings_body((0, 500.0)),
            content_type="application/json",
            HTTP_X_DEVICE_KEY=key,
        )
        broken = client.post(READINGS, "{", content_type="application/json", HTTP_X_DEVICE_KEY=key)
        assert too_many.status_code == 422
        assert (too_hot.status_code, too_hot.json()["code"]) == (422, "readings_invalid")
        assert too_hot.json()["detail"][0]["field"] == "readings.0.celsius"
        assert broken.status_code in {400, 422}
        assert not TemperatureReading.objects.exists()


class TestCarrierPush:
    def test_signed_push_moves_the_parcel_and_replay_is_harmless(self, client: Client) -> None:
        parcels = make_parcel_order()
        secret = carrier_secret(parcels.carrier)
        shipment = shipment_waybill_request(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        body = json.dumps(
            {
                "events": [
                    {
                        "id": "e1",
                        "waybill_no": shipment.waybill_no,
                        "status": "handed_over",
                        "occurred_at": "2026-12-01T10:00:00+08:00",
                        "description": "【上海青浦】已揽收",
                    }
                ]
            },
            ensure_ascii=False,
        ).encode()
        url = f"/api/v1/fulfillment/carriers/{parcels.carrier.code}/push"
        headers = {
            f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed(secret, body).items()
        }
        first = client.post(url, body, content_type="application/json", **headers)
        replay = client.post(url, body, content_type="application/json", **headers)
        assert first.json() == {"received": 1, "recorded": 1, "moved": 1, "unknown_waybills": []}
        assert replay.json()["recorded"] == 0
        parcels.order.refresh_from_db()
        assert parcels.order.status == OrderStatus.SHIPPED

    def test_forged_malformed_and_unknown_carrier(self, client: Client) -> None:
        parcels = make_parcel_order()
        secret = carrier_secret(parcels.carrier)
        url = f"/api/v1/fulfillment/carriers/{parcels.carrier.code}/push"
        body = b'{"events": [{"id": "e1", "waybill_no": "W", "status": "delivered", "occurred_at": "2026-12-01T10:00:00+08:00"}]}'
        forged = {
            f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed("guess", body).items()
        }
        malformed = b"{oops"
        good_for_malformed = {
            f"HTTP_{k.upper().replace('-', '_')}": v for k, v in signed(secret, malformed).items()
        }
        answers = [
            client.post(url, body, content_type="application/json", **forged),
            client.post(url, body, content_type="application/json"),
            client.post(url, malformed, content_type="application/json", **good_for_malformed),
            client.post(
                "/api/v1/fulfillment/carriers/nobody/push",
                body,
                content_type="application/json",
                **forged,
            ),
        ]
        assert [(a.status_code, a.json()["code"]) for a in answers] == [
            (403, "push_signature_invalid"),
            (403, "push_signature_invalid"),
            (422, "push_malformed"),
            (404, "carrier_not_found"),
        ]
        assert not ShipmentEvent.objects.exists()


class TestKuaidi100Callback:
    def test_answers_as_kuaidi100_expects(self, client: Client) -> None:
        parcels = make_parcel_order()
        CarrierCredential.objects.create(
            carrier=parcels.carrier, kuaidi100_company="shunfeng", kuaidi100_salt=SALT
        )
        shipment = shipment_waybill_request(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        param = kuaidi100_param(shipment.waybill_no)
        url = f"/api/v1/fulfillment/carriers/{parcels.carrier.code}/kuaidi100"
        ok = client.post(url, {"param": param, "sign": push_sign(param, SALT)})
        forged = client.post(url, {"param": param, "sign": "F" * 32})
        assert ok.status_code == 200
        assert ok.json() == {
            "result": True,
            "returnCode": "200",
            "message": "成功",
        }
        assert (forged.status_code, forged.json()["code"]) == (403, "push_signature_invalid")
        assert ShipmentEvent.objects.filter(shipment=shipment).count() == 2


class TestOperatorActions:
    def test_pick_and_hand_over_need_supply_chain(self, client: Client) -> None:
        parcels = make_parcel_order()
        base = f"/api/v1/fulfillment/shipments/{parcels.shipment.shipment_no}"
        assert client.post(f"{base}/pick").status_code == 401
        client.force_login(make_staff_user("marketer", Role.MARKETER))
        assert client.post(f"{base}/pick").status_code == 403
        client.force_login(make_staff_user("wms", Role.SUPPLY_CHAIN))
        picked = client.post(f"{base}/pick")
        assert picked.status_code == 200
        assert picked.json()["status"] == "picked"
        handed = client.post(f"{base}/hand-over")
        assert handed.json()["status"] == "handed_over"
        again = client.post(f"{base}/pick")
        assert (again.status_code, again.json()["code"]) == (409, "shipment_state_invalid")
        missing = client.post("/api/v1/fulfillment/shipments/NOPE/pick")
        assert (missing.status_code, missing.json()["code"]) == (404, "shipment_not_found")

    def test_device_creation_and_excursion_list(self, client: Client) -> None:
        parcels = make_parcel_order()
        client.force_login(make_staff_user("wms2", Role.SUPPLY_CHAIN))
        created = client.post(
            "/api/v1/fulfillment/telemetry/devices",
            {"code": "LOG-API", "shipment_no": parcels.shipment.shipment_no},
            content_type="application/json",
        )
        assert created.status_code == 201
        key = created.json()["key"]
        client.post(
            READINGS,
            readings_body((0, 2.0), (10, 9.0), (60, 2.0)),
            content_type="application/json",
            HTTP_X_DEVICE_KEY=key,
        )
        listed = client.get("/api/v1/fulfillment/excursions").json()
        assert [(e["shipment_no"], e["minutes"], e["peak_celsius"]) for e in listed] == [
            (parcels.shipment.shipment_no, 50, 9.0)
        ]
        duplicate = client.post(
            "/api/v1/fulfillment/telemetry/devices",
            {"code": "LOG-API"},
            content_type="application/json",
        )
        assert (duplicate.status_code, duplicate.json()["code"]) == (422, "fulfillment_invalid")
