"""The traceability console (/console/food/trace/) and the public page's cold chain: supply
chain may manage lots (a marketer and a consumer may not), forms post through the services,
the QR code encodes the lot's full signed address, and the public page shows the cold-chain
steps fulfillment recorded for parcels carrying the lot."""

from __future__ import annotations

import datetime as dt
import io
import os

import pytest
import segno
from django.test import Client
from PIL import Image

from freshloop.core import clock
from freshloop.core.permissions import Role
from freshloop.food.models import TraceMedia, TraceOrigin, TraceRecord, TraceVersion
from freshloop.food.selectors import trace_public_page
from freshloop.food.services import trace_origin_assign, trace_publish, trace_record_add
from freshloop.food.trace_tokens import lot_token, lot_trace_url
from freshloop.fulfillment.services import (
    ReadingInput,
    device_create,
    readings_ingest,
    sandbox_carrier_tick,
    shipment_hand_over,
    shipment_pick,
)
from tests.factories import make_staff_user
from tests.food.trace_helpers import OPERATOR, make_lot, make_origin, panorama, yesterday
from tests.fulfillment.factories import make_parcel_order

pytestmark = pytest.mark.django_db


def operator(role: Role, name: str) -> Client:
    client = Client()
    client.force_login(make_staff_user(name, role))
    return client


@pytest.fixture
def supply() -> Client:
    return operator(Role.SUPPLY_CHAIN, "supply")


class TestPermissions:
    def test_anonymous_visitors_are_sent_to_log_in(self) -> None:
        lot = make_lot()
        for path in ("/console/food/trace/", f"/console/food/trace/lots/{lot.pk}/qr.png"):
            response = Client().get(path)
            assert response.status_code == 302
            assert response["Location"].startswith("/console/login/")

    def test_a_marketer_is_refused_and_writes_nothing(self) -> None:
        lot = make_lot()
        marketer = operator(Role.MARKETER, "marketer")
        assert marketer.get("/console/food/trace/").status_code == 403
        response = marketer.post(
            f"/console/food/trace/lots/{lot.pk}/records",
            {"kind": "inspection", "occurred_on": "2026-01-01", "title": "x", "inspector": "y"},
        )
        assert response.status_code == 403
        response = marketer.post(
            "/console/food/trace/origins/new",
            {"name": "牧场", "address": "某地", "latitude": "1", "longitude": "2"},
        )
        assert response.status_code == 403
        assert not TraceRecord.objects.exists()
        assert not TraceOrigin.objects.exists()

    def test_supply_chain_sees_the_pages(self, supply: Client) -> None:
        lot = make_lot()
        assert supply.get("/console/food/trace/").status_code == 200
        page = supply.get(f"/console/food/trace/lots/{lot.pk}/")
        assert page.status_code == 200
        assert lot_trace_url(lot.pk) in page.content.decode()
        assert supply.get("/console/food/trace/lots/999999/").status_code == 404


class TestConsoleForms:
    def test_origin_record_publish_through_the_console(self, supply: Client) -> None:
        lot = make_lot()
        # when the operator registers a pasture, picks it, adds a record and publishes
        response = supply.post(
            "/console/food/trace/origins/new",
            {
                "name": "锡林郭勒牧场",
                "address": "内蒙古锡林浩特",
                "latitude": "43.9",
                "longitude": "116.1",
            },
        )
        assert response.status_code == 302
        origin = TraceOrigin.objects.get(name="锡林郭勒牧场")
        supply.post(f"/console/food/trace/lots/{lot.pk}/origin", {"origin_id": origin.pk})
        response = supply.post(
            f"/console/food/trace/lots/{lot.pk}/records",
            {
                "kind": "inspection",
                "occurred_on": yesterday().isoformat(),
                "title": "蛋白质含量",
                "inspector": "质检员 王芳",
                "result": "3.3 g/100mL",
            },
        )
        assert response.status_code == 302
        response = supply.post(f"/console/food/trace/lots/{lot.pk}/publish", {"note": "首发"})
        assert response.status_code == 302
        # then version 1 is public with the record
        page = trace_public_page(batch_id=lot.pk)
        assert page is not None
        assert page.version.note == "首发"
        assert page.records[0]["title"] == "蛋白质含量"

    def test_errors_are_shown_under_their_inputs(self, supply: Client) -> None:
        lot = make_lot()
        response = supply.post(
            "/console/food/trace/origins/new",
            {"name": "牧场", "address": "某地", "latitude": "95", "longitude": "116"},
        )
        assert response.status_code == 422
        assert 'data-testid="error-latitude"' in response.content.decode()
        response = supply.post(
            f"/console/food/trace/lots/{lot.pk}/records",
            {"kind": "inspection", "occurred_on": "", "title": "蛋白质", "inspector": "王芳"},
        )
        assert response.status_code == 422
        assert "请填写日期" in response.content.decode()
        response = supply.post(f"/console/food/trace/lots/{lot.pk}/publish")
        assert response.status_code == 422
        assert "请先选择产地再发布" in response.content.decode()
        assert not TraceVersion.objects.exists()

    def test_upload_of_a_panorama_and_a_wrong_file(self, supply: Client) -> None:
        lot = make_lot()
        upload = io.BytesIO(panorama())
        upload.name = "pasture.jpg"
        response = supply.post(
            f"/console/food/trace/lots/{lot.pk}/media",
            {"kind": "panorama", "caption": "牧场全景", "file": upload},
        )
        assert response.status_code == 302
        wrong = io.BytesIO(b"MZ\x90\x00 not a picture")
        wrong.name = "pasture.jpg"
        response = supply.post(
            f"/console/food/trace/lots/{lot.pk}/media", {"kind": "photo", "file": wrong}
        )
        assert response.status_code == 422
        assert "不是有效的图片" in response.content.decode()


class TestQrCode:
    @pytest.mark.parametrize(
        ("fmt", "content_type"), [("png", "image/png"), ("svg", "image/svg+xml")]
    )
    def test_encodes_the_full_signed_address(
        self, supply: Client, fmt: str, content_type: str
    ) -> None:
        lot = make_lot()
        response = supply.get(f"/console/food/trace/lots/{lot.pk}/qr.{fmt}")
        assert response.status_code == 200
        assert response["Content-Type"] == content_type
        assert "attachment" in response["Content-Disposition"]
        # the same bytes as a QR code of the lot's address (segno cannot decode, so compare)
        expected = io.BytesIO()
        code = segno.make(f"http://127.0.0.1:8000/trace/{lot_token(lot.pk)}", error="q")
        if fmt == "png":
            code.save(expected, kind="png", scale=12, border=4)
        else:
            code.save(expected, kind="svg", scale=10, border=4, title=f"溯源码 {lot.batch_no}")
        assert response.content == expected.getvalue()

    def test_unknown_format_is_a_404(self, supply: Client) -> None:
        lot = make_lot()
        assert supply.get(f"/console/food/trace/lots/{lot.pk}/qr.gif").status_code == 404


class TestColdChainOnThePublicPage:
    def test_unshipped_lot_shows_production_only(self) -> None:
        lot = make_lot()
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        trace_publish(batch=lot, actor=OPERATOR)
        page = trace_public_page(batch_id=lot.pk)
        assert page is not None
        assert [step.title for step in page.cold_chain.steps] == ["生产"]
        html = Client().get(f"/trace/{lot_token(lot.pk)}").content.decode()
        assert "该批次尚未发货" in html

    def test_shipped_lot_shows_warehouse_carrier_temperature_and_delivery(self) -> None:
        # given a chilled parcel carrying the lot, picked, handed over and delivered
        parcels = make_parcel_order(promised_on=clock.to_shanghai(clock.now()).date())
        shipment = parcels.shipment
        lot = shipment.lines.get().batch
        assert lot is not None
        shipment_pick(shipment_id=shipment.pk, actor=OPERATOR)
        shipment_hand_over(shipment_id=shipment.pk, actor=OPERATOR)
        while sandbox_carrier_tick():
            pass
        # and a logger that saw 2.1–4.0 ℃ and one warm spell
        device, _ = device_create(code="LOG-TRACE", actor=OPERATOR, shipment_id=shipment.pk)
        start = clock.now() - dt.timedelta(hours=3)
        readings = [
            ReadingInput(
                reading_id=f"r{minute}",
                recorded_at=start + dt.timedelta(minutes=minute),
                celsius=9.5 if 60 <= minute < 100 else 2.1 + (minute % 20) / 10,
            )
            for minute in range(0, 180, 5)
        ]
        readings_ingest(device=device, readings=readings)
        trace_origin_assign(batch=lot, origin=make_origin(), actor=OPERATOR)
        trace_record_add(
            batch=lot,
            kind="inspection",
            occurred_on=yesterday(),
            title="菌落总数",
            inspector="张敏",
            actor=OPERATOR,
        )
        trace_publish(batch=lot, actor=OPERATOR)
        # when a consumer scans the pack
        response = Client().get(f"/trace/{lot_token(lot.pk)}")
        # then the steps run from production through the warehouse and the carrier to delivery
        assert response.status_code == 200
        page = trace_public_page(batch_id=lot.pk)
        assert page is not None
        chain = page.cold_chain
        assert [step.title for step in chain.steps] == ["生产", "出库", "冷链运输", "送达"]
        assert (chain.parcels, chain.delivered) == (1, 1)
        assert (chain.min_celsius, chain.max_celsius) == (2.1, 9.5)
        assert chain.excursions == 1
        html = response.content.decode()
        assert "上海仓" in html
        assert "顺丰冷运" in html
        assert "全程记录温度 2.1～9.5℃" in html
        assert "温度异常 1 次" in html
        # and nothing that names the buyer or the order
        assert parcels.order.order_no not in html


class TestUploadSize:
    def test_a_panorama_over_the_general_body_limit_is_accepted_here_only(
        self, supply: Client
    ) -> None:
        # given a 2:1 panorama of more than the 2 MB every other console form may send
        noise = Image.frombytes("RGB", (2400, 1200), os.urandom(2400 * 1200 * 3))
        out = io.BytesIO()
        noise.save(out, "JPEG", quality=95)
        assert 2 * 1024 * 1024 < len(out.getvalue()) < 10 * 1024 * 1024
        lot = make_lot()
        upload = io.BytesIO(out.getvalue())
        upload.name = "pasture.jpg"
        # when it is uploaded to the lot's media tour, it is stored
        response = supply.post(
            f"/console/food/trace/lots/{lot.pk}/media", {"kind": "panorama", "file": upload}
        )
        assert response.status_code == 302
        assert TraceMedia.objects.filter(profile__batch=lot, kind="panorama").exists()
        # while the same body elsewhere in the console is still refused
        upload.seek(0)
        response = supply.post("/console/fulfillment/recalls/", {"file": upload})
        assert response.status_code == 413
