"""/api/v1/fulfillment endpoints of shipments & tracking and of cold-chain telemetry: carrier
pushes (signed generic webhook, Kuaidi100 callback), operators picking and handing over
parcels, loggers posting readings, operators creating loggers and reading excursions."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, JsonResponse
from ninja import Field, Router, Schema, Status
from pydantic import BaseModel, ConfigDict

from freshloop.core.api import OperatorAuth
from freshloop.core.api_errors import raises
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.core.permissions import Role
from freshloop.core.schemas import InputSchema, IsoDatetime
from freshloop.fulfillment.carriers.kuaidi100 import ACK
from freshloop.fulfillment.errors import (
    CarrierNotFound,
    DeviceInactive,
    DeviceKeyInvalid,
    FulfillmentInvalid,
    PushMalformed,
    PushSignatureInvalid,
    ReadingsInvalid,
    ShipmentNotFound,
    ShipmentStateInvalid,
)
from freshloop.fulfillment.models import Shipment
from freshloop.fulfillment.shipments import (
    carrier_push_handle,
    kuaidi100_push_handle,
    shipment_hand_over,
    shipment_pick,
)
from freshloop.fulfillment.telemetry import (
    MAX_BATCH,
    ReadingInput,
    device_authenticate,
    device_create,
    readings_ingest,
)
from freshloop.fulfillment.tracking_selectors import excursions_for_operators
from freshloop.orders.errors import OrderNotFound, OrderStateInvalid

router = Router(tags=["履约 · 包裹与冷链"])
SUPPLY_CHAIN = OperatorAuth(Role.SUPPLY_CHAIN)
# A parcel's step moves its order (orders.services.order_allocate / order_ship): their guards
# can answer, though the state machine only calls them when the order is where they expect.
ORDER_FOLLOWS = (InvalidInput, OrderNotFound, OrderStateInvalid, ShipmentNotFound)


class PushOut(Schema):
    received: int
    recorded: int
    moved: int
    unknown_waybills: list[str]


class ShipmentOut(Schema):
    shipment_no: str
    status: str
    waybill_no: str
    handed_over_at: dt.datetime | None
    delivered_at: dt.datetime | None


class ReadingIn(BaseModel):
    """A plain pydantic model, not a ninja Schema: a batch holds up to 500 of them and ninja's
    per-object root validator costs more than the rest of the request. Strict and closed like
    every request body (core.schemas.InputSchema)."""

    model_config = ConfigDict(extra="forbid", strict=True)

    reading_id: str = Field(..., min_length=1, max_length=64, title="读数编号")
    recorded_at: IsoDatetime = Field(..., title="测量时间")
    celsius: float = Field(..., title="温度")
    humidity: float | None = Field(None, title="湿度")
    shipment_no: str = Field(
        "", max_length=40, title="包裹号", description="不填则用设备当前绑定的包裹"
    )


class ReadingsIn(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)

    readings: list[ReadingIn] = Field(..., min_length=1, max_length=MAX_BATCH, title="读数")


class ReadingsOut(Schema):
    accepted: int
    duplicates: int
    excursions_found: int


class DeviceIn(InputSchema):
    code: str = Field(..., min_length=1, max_length=40, title="设备编号")
    name: str = Field("", max_length=64, title="设备名称")
    shipment_no: str = Field("", max_length=40, title="包裹号")


class DeviceOut(Schema):
    id: int
    code: str
    key: str = Field(..., description="设备密钥，只在创建时显示一次")


class ExcursionOut(Schema):
    id: int
    shipment_no: str
    order_no: str
    storage: str
    started_at: dt.datetime
    ended_at: dt.datetime
    minutes: int
    peak_celsius: float


def _shipment_id(shipment_no: str) -> int:
    found = Shipment.objects.filter(shipment_no=shipment_no).values_list("pk", flat=True).first()
    if found is None:
        raise ShipmentNotFound(detail={"shipment_no": shipment_no[:40]})
    return int(found)


def _shipment_out(shipment: Shipment) -> ShipmentOut:
    return ShipmentOut(
        shipment_no=shipment.shipment_no,
        status=shipment.status,
        waybill_no=shipment.waybill_no,
        handed_over_at=shipment.handed_over_at,
        delivered_at=shipment.delivered_at,
    )


@router.post(
    "/carriers/{code}/push",
    auth=None,
    response=PushOut,
    summary="承运商轨迹推送（通用签名 webhook：X-Carrier-Timestamp + X-Carrier-Signature）",
)
@raises(CarrierNotFound, PushSignatureInvalid, PushMalformed, FulfillmentInvalid, *ORDER_FOLLOWS)
def carrier_push(request: HttpRequest, code: str) -> PushOut:
    outcome = carrier_push_handle(carrier_code=code, headers=request.headers, body=request.body)
    return PushOut(**outcome.__dict__)


@router.post(
    "/carriers/{code}/kuaidi100",
    auth=None,
    summary="快递100 订阅推送回调（param + sign，表单提交），按快递100要求应答",
    response={200: None},
)
@raises(CarrierNotFound, PushSignatureInvalid, PushMalformed, FulfillmentInvalid, *ORDER_FOLLOWS)
def kuaidi100_callback(request: HttpRequest, code: str) -> JsonResponse:
    form = {key: request.POST.get(key, "") for key in ("param", "sign")}
    kuaidi100_push_handle(carrier_code=code, form=form)
    return JsonResponse(ACK, json_dumps_params={"ensure_ascii": False})


@router.post(
    "/shipments/{shipment_no}/pick",
    auth=SUPPLY_CHAIN,
    response=ShipmentOut,
    summary="仓库拣货打包：取运单号和面单，包裹进入“已拣货”",
)
@raises(ShipmentNotFound, ShipmentStateInvalid, FulfillmentInvalid, *ORDER_FOLLOWS)
def pick(request: HttpRequest, shipment_no: str) -> ShipmentOut:
    shipment = shipment_pick(
        shipment_id=_shipment_id(shipment_no), actor=Actor.for_user(request.user)
    )
    return _shipment_out(shipment)


@router.post(
    "/shipments/{shipment_no}/hand-over",
    auth=SUPPLY_CHAIN,
    response=ShipmentOut,
    summary="交接承运商：快递员已揽收，订单随第一个包裹变为已发货",
)
@raises(ShipmentNotFound, ShipmentStateInvalid, FulfillmentInvalid, *ORDER_FOLLOWS)
def hand_over(request: HttpRequest, shipment_no: str) -> ShipmentOut:
    shipment = shipment_hand_over(
        shipment_id=_shipment_id(shipment_no), actor=Actor.for_user(request.user)
    )
    return _shipment_out(shipment)


@router.post(
    "/telemetry/readings",
    auth=None,
    response=ReadingsOut,
    summary="温度记录仪批量上报读数（X-Device-Key 或 Authorization: Bearer 设备密钥；按读数编号幂等）",
)
@raises(DeviceKeyInvalid, DeviceInactive, ReadingsInvalid, ShipmentNotFound)
def readings_post(request: HttpRequest, body: ReadingsIn) -> ReadingsOut:
    raw = request.headers.get("X-Device-Key", "")
    if not raw:
        header = request.headers.get("Authorization", "")
        raw = header[7:] if header[:7].lower() == "bearer " else ""
    device = device_authenticate(raw)
    result = readings_ingest(
        device=device,
        readings=[
            ReadingInput(
                reading_id=item.reading_id,
                recorded_at=item.recorded_at,
                celsius=item.celsius,
                humidity=item.humidity,
                shipment_no=item.shipment_no,
            )
            for item in body.readings
        ],
    )
    return ReadingsOut(
        accepted=result.accepted,
        duplicates=result.duplicates,
        excursions_found=result.excursions_found,
    )


@router.post(
    "/telemetry/devices",
    auth=SUPPLY_CHAIN,
    response={201: DeviceOut},
    summary="登记温度记录仪（可绑定包裹）；密钥只显示这一次",
)
@raises(FulfillmentInvalid, ShipmentNotFound)
def device_post(request: HttpRequest, body: DeviceIn) -> Status:
    shipment_id = _shipment_id(body.shipment_no) if body.shipment_no else None
    device, key = device_create(
        code=body.code, name=body.name, shipment_id=shipment_id, actor=Actor.for_user(request.user)
    )
    return Status(201, DeviceOut(id=device.pk, code=device.code, key=key))


@router.get(
    "/excursions",
    auth=SUPPLY_CHAIN,
    response=list[ExcursionOut],
    summary="温度异常列表（新的在前）",
)
@raises()
def excursions_get(request: HttpRequest, limit: int = 100) -> list[ExcursionOut]:
    return [
        ExcursionOut(
            id=excursion.pk,
            shipment_no=excursion.shipment.shipment_no,
            order_no=excursion.shipment.order.order_no,
            storage=excursion.storage,
            started_at=excursion.started_at,
            ended_at=excursion.ended_at,
            minutes=excursion.minutes,
            peak_celsius=excursion.peak_celsius,
        )
        for excursion in excursions_for_operators(limit=limit)
    ]
