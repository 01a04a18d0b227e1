"""Carrier providers: the sandbox's waybills and routes, Kuaidi100's push (signature, parsing,
state mapping) and the signed generic webhook, against specification-derived payloads."""

from __future__ import annotations

import json
import time

import pytest

from freshloop.fulfillment.carriers.base import WaybillRequest
from freshloop.fulfillment.carriers.kuaidi100 import (
    Kuaidi100Error,
    Kuaidi100Provider,
    push_sign,
    state_status,
)
from freshloop.fulfillment.carriers.sandbox import SandboxCarrier, sandbox_route
from freshloop.fulfillment.errors import PushMalformed, PushSignatureInvalid
from freshloop.fulfillment.models import CarrierCredential, ShipmentEvent, ShipmentStatus
from freshloop.fulfillment.services import (
    carrier_push_handle,
    kuaidi100_push_handle,
    shipment_waybill_request,
    webhook_signature,
)
from tests.fulfillment.factories import OPERATOR, carrier_secret, make_carrier, make_parcel_order

SALT = "k100-salt-32-characters-long-xyz"


def kuaidi100_param(
    waybill_no: str, *, state: str = "0", ischeck: str = "0", data: list | None = None
) -> str:
    """A push's `param` as Kuaidi100's 推送接口 specification shows it (resultv2 on)."""
    return json.dumps(
        {
            "status": "polling",
            "billstatus": "got",
            "message": "",
            "autoCheck": "0",
            "comOld": "",
            "comNew": "",
            "lastResult": {
                "message": "ok",
                "nu": waybill_no,
                "ischeck": ischeck,
                "condition": "00",
                "com": "shunfeng",
                "status": "200",
                "state": state,
                "data": data
                if data is not None
                else [
                    {
                        "time": "2026-12-01 12:30:00",
                        "ftime": "2026-12-01 12:30:00",
                        "context": "快件已到达【上海青浦集散中心】",
                        "areaName": "上海,上海市,青浦区",
                        "status": "在途",
                        "statusCode": "1001",
                    },
                    {
                        "time": "2026-12-01 09:00:00",
                        "ftime": "2026-12-01 09:00:00",
                        "context": "顺丰速运已收取快件",
                        "status": "揽收",
                        "statusCode": "103",
                    },
                ],
            },
        },
        ensure_ascii=False,
    )


class TestKuaidi100StateMapping:
    @pytest.mark.parametrize(
        ("code", "status"),
        [
            ("0", "in_transit"),
            ("1", "handed_over"),
            ("2", "exception"),
            ("3", "delivered"),
            ("4", "exception"),
            ("5", "out_for_delivery"),
            ("6", "exception"),
            ("7", "in_transit"),
            ("8", "in_transit"),
            ("14", "exception"),
            ("101", "created"),
            ("102", "created"),
            ("103", "handed_over"),
            ("1001", "in_transit"),
            ("501", "out_for_delivery"),
            ("301", "delivered"),
            ("204", "exception"),
            ("abc", None),
            ("", None),
            ("99", None),
        ],
    )
    def test_maps_state_codes(self, code: str, status: str | None) -> None:
        assert state_status(code) == status


class TestKuaidi100ParsePush:
    def test_parses_route_oldest_first_with_stable_ids(self) -> None:
        param = kuaidi100_param("SF100")
        provider = Kuaidi100Provider(company="shunfeng", salt=SALT)
        updates = provider.parse_push({"param": param, "sign": push_sign(param, SALT)})
        assert [u.status for u in updates] == ["handed_over", "in_transit"]
        assert updates[0].occurred_at.isoformat() == "2026-12-01T01:00:00+00:00"  # 09:00 Shanghai
        assert updates[1].location == "上海,上海市,青浦区"
        again = provider.parse_push({"param": param, "sign": push_sign(param, SALT).lower()})
        assert [u.external_id for u in again] == [u.external_id for u in updates]

    def test_ischeck_makes_the_newest_entry_a_delivery(self) -> None:
        data = [
            {"time": "2026-12-02 10:00:00", "context": "已签收，签收人：本人"},
            {"time": "2026-12-01 10:00:00", "context": "运输中"},
        ]
        param = kuaidi100_param("SF101", state="0", ischeck="1", data=data)
        updates = Kuaidi100Provider(company="shunfeng", salt="").parse_push({"param": param})
        assert [u.status for u in updates] == ["in_transit", "delivered"]

    @pytest.mark.parametrize(
        "form",
        [
            {"param": "{}", "sign": ""},
            {"param": kuaidi100_param("SF1"), "sign": "0" * 32},
            {"param": kuaidi100_param("SF1")},
        ],
    )
    def test_bad_or_missing_sign_is_a_signature_error(self, form: dict[str, str]) -> None:
        with pytest.raises(Kuaidi100Error) as caught:
            Kuaidi100Provider(company="shunfeng", salt=SALT).parse_push(form)
        assert caught.value.signature

    @pytest.mark.parametrize(
        "param",
        [
            "not json",
            json.dumps({"status": "polling"}),
            json.dumps({"lastResult": {"nu": "", "data": []}}),
            kuaidi100_param("SF1", data=[{"time": "yesterday", "context": "?"}]),
        ],
    )
    def test_malformed_push_is_refused(self, param: str) -> None:
        with pytest.raises(Kuaidi100Error) as caught:
            Kuaidi100Provider(company="shunfeng", salt=SALT).parse_push(
                {"param": param, "sign": push_sign(param, SALT)}
            )
        assert not caught.value.signature

    def test_subscribe_form_follows_the_specification(self) -> None:
        form = Kuaidi100Provider(company="shunfeng", salt=SALT, key="K").subscribe_form(
            waybill_no="SF1", receiver_city="上海市", callback_url="https://x/cb"
        )
        param = json.loads(form["param"])
        assert form["schema"] == "json"
        assert param["company"] == "shunfeng"
        assert param["number"] == "SF1"
        assert param["key"] == "K"
        assert param["parameters"] == {"callbackurl": "https://x/cb", "salt": SALT, "resultv2": "1"}


class TestSandboxCarrier:
    def test_waybill_is_stable_and_label_complete(self) -> None:
        request = WaybillRequest(
            shipment_no="P1",
            carrier_code="sf",
            storage="chilled",
            weight_g=900,
            sender={"province": "上海"},
            receiver={"province": "浙江省", "city": "杭州市"},
        )
        first = SandboxCarrier().request_waybill(request)
        assert first == SandboxCarrier().request_waybill(request)
        assert first.label["sorting_code"] == "杭州"
        assert first.label["storage"] == "chilled"

    def test_route_passes_both_hubs(self) -> None:
        route = sandbox_route(
            carrier_name="顺丰冷运",
            origin_province="上海",
            origin_city="上海",
            destination_province="广东省",
            destination_city="深圳市",
        )
        assert [step.status for step in route] == ["in_transit"] * 3 + [
            "out_for_delivery",
            "delivered",
        ]
        assert "广州白云转运中心" in route[2].description
        assert "深圳" in route[3].description


@pytest.mark.django_db(transaction=True)
class TestKuaidi100PushHandle:
    def test_applies_route_and_replay_adds_nothing(self) -> None:
        # given a parcel with a waybill of a carrier tracked by Kuaidi100
        parcels = make_parcel_order()
        CarrierCredential.objects.create(
            carrier=parcels.carrier, kuaidi100_company="shunfeng", kuaidi100_salt=SALT
        )
        shipment = shipment_waybill_request(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        param = kuaidi100_param(shipment.waybill_no)
        form = {"param": param, "sign": push_sign(param, SALT)}
        # when the push arrives twice
        first = kuaidi100_push_handle(carrier_code=parcels.carrier.code, form=form)
        second = kuaidi100_push_handle(carrier_code=parcels.carrier.code, form=form)
        # then the route is recorded once and the parcel is in transit
        assert (first.recorded, second.recorded) == (2, 0)
        shipment.refresh_from_db()
        assert shipment.status == ShipmentStatus.IN_TRANSIT

    def test_forged_push_writes_nothing(self) -> None:
        parcels = make_parcel_order()
        CarrierCredential.objects.create(
            carrier=parcels.carrier, kuaidi100_company="shunfeng", kuaidi100_salt=SALT
        )
        shipment = shipment_waybill_request(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        param = kuaidi100_param(shipment.waybill_no)
        with pytest.raises(PushSignatureInvalid):
            kuaidi100_push_handle(
                carrier_code=parcels.carrier.code,
                form={"param": param, "sign": push_sign(param, "other")},
            )
        assert not ShipmentEvent.objects.exists()


def signed(secret: str, body: bytes, timestamp: int | None = None) -> dict[str, str]:
    stamp = str(int(time.time()) if timestamp is None else timestamp)
    return {
        "X-Carrier-Timestamp": stamp,
        "X-Carrier-Signature": webhook_signature(secret, stamp, body),
    }


@pytest.mark.django_db(transaction=True)
class TestCarrierPushHandle:
    def _body(self, waybill_no: str, **event: str) -> bytes:
        item = {
            "id": "ev-1",
            "waybill_no": waybill_no,
            "status": "in_transit",
            "occurred_at": "2026-12-01T10:00:00+08:00",
            "description": "【杭州】已到达",
            **event,
        }
        return json.dumps({"events": [item]}, ensure_ascii=False).encode()

    def test_good_signature_applies_and_replay_is_harmless(self) -> None:
        parcels = make_parcel_order()
        secret = carrier_secret(parcels.carrier)
        shipment = shipment_waybill_request(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        body = self._body(shipment.waybill_no)
        first = carrier_push_handle(
            carrier_code=parcels.carrier.code, headers=signed(secret, body), body=body
        )
        replay = carrier_push_handle(
            carrier_code=parcels.carrier.code, headers=signed(secret, body), body=body
        )
        assert (first.recorded, first.moved, replay.recorded) == (1, 1, 0)

    @pytest.mark.parametrize("case", ["forged", "missing", "stale", "tampered", "no_secret"])
    def test_bad_signature_writes_nothing(self, case: str) -> None:
        parcels = make_parcel_order()
        secret = "" if case == "no_secret" else carrier_secret(parcels.carrier)
        shipment = shipment_waybill_request(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        body = self._body(shipment.waybill_no)
        headers = {
            "forged": signed("not-the-secret", body),
            "missing": {},
            "stale": signed(secret, body, int(time.time()) - 3600),
            "tampered": signed(secret, body.replace(b"in_transit", b"delivered")),
            "no_secret": signed("anything", body),
        }[case]
        with pytest.raises(PushSignatureInvalid):
            carrier_push_handle(carrier_code=parcels.carrier.code, headers=headers, body=body)
        assert not ShipmentEvent.objects.exists()

    @pytest.mark.parametrize(
        "body",
        [
            b"{not json",
            b"[]",
            b'{"events": []}',
            b'{"events": [{"id": "1", "waybill_no": "W", "status": "flying", "occurred_at": "2026-12-01T10:00:00+08:00"}]}',
            b'{"events": [{"id": "1", "waybill_no": "W", "status": "in_transit", "occurred_at": "2026-12-01T10:00:00"}]}',
        ],
    )
    def test_malformed_body_writes_nothing(self, body: bytes) -> None:
        carrier = make_carrier()
        secret = carrier_secret(carrier)
        with pytest.raises(PushMalformed):
            carrier_push_handle(carrier_code=carrier.code, headers=signed(secret, body), body=body)
        assert not ShipmentEvent.objects.exists()


@pytest.mark.django_db(transaction=True)
class TestTrackingSubscribeOnHandOver:
    def test_kuaidi100_subscription_is_requested_after_hand_over(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        # given a carrier tracked through Kuaidi100 (its HTTP edge replaced)
        import httpx

        from freshloop.fulfillment.services import shipment_hand_over

        sent: list[dict[str, str]] = []

        def fake_post(url: str, *, data: dict[str, str], timeout: float) -> httpx.Response:
            sent.append({"url": url, **data})
            return httpx.Response(
                200, json={"result": True, "returnCode": "200", "message": "提交成功"}
            )

        monkeypatch.setattr(httpx, "post", fake_post)
        parcels = make_parcel_order()
        CarrierCredential.objects.create(
            carrier=parcels.carrier,
            kuaidi100_company="shunfeng",
            kuaidi100_salt=SALT,
            kuaidi100_key="K",
        )
        # when the parcel is handed over
        shipment = shipment_hand_over(shipment_id=parcels.shipment.pk, actor=OPERATOR)
        # then Kuaidi100 was asked to push this waybill's route to our callback
        assert len(sent) == 1
        param = json.loads(sent[0]["param"])
        assert sent[0]["url"] == "https://poll.kuaidi100.com/poll"
        assert param["number"] == shipment.waybill_no
        assert param["parameters"]["callbackurl"].endswith(
            f"/api/v1/fulfillment/carriers/{parcels.carrier.code}/kuaidi100"
        )
