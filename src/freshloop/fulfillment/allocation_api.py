"""/api/v1/fulfillment/allocations: the operators' allocation queue, one order's decision,
retrying a failed one; and the near-expiry stock report. Supply chain works the queue;
customer service may read it (a buyer asks where the parcel comes from)."""

from __future__ import annotations

import datetime as dt
from typing import Literal

from django.http import HttpRequest
from ninja import Path, Query, Router, Schema

from freshloop.core.api import OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.permissions import Role
from freshloop.fulfillment import selectors, services
from freshloop.fulfillment.allocation_selectors import AllocationView
from freshloop.fulfillment.errors import AllocationNotFound, AllocationStateInvalid
from freshloop.orders.models import Order

READ_ROLES = (Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE)
WRITE_ROLES = (Role.SUPPLY_CHAIN,)

router = Router(tags=["履约-分仓"])
OrderNo = Path(..., min_length=1, max_length=40, description="订单号")


class QueueRowOut(Schema):
    order_no: str
    channel: str
    province: str
    status: str
    status_label: str
    error: str
    attempts: int
    created_at: dt.datetime
    decided_at: dt.datetime | None


class QueueOut(Schema):
    items: list[QueueRowOut]


class ParcelLineOut(Schema):
    sku_id: int
    name: str
    quantity: int
    batch_no: str
    expires_on: dt.date | None


class ParcelOut(Schema):
    shipment_no: str
    warehouse: str
    carrier: str
    storage: str
    storage_label: str
    status: str
    status_label: str
    cost_fen: int
    weight_g: int
    transit_days: int
    promised_on: dt.date | None
    lines: list[ParcelLineOut]


class AllocationOut(Schema):
    order_no: str
    status: str
    status_label: str
    explanation: str
    error: str
    cost_fen: int
    promised_on: dt.date | None
    decided_at: dt.datetime | None
    shipments: list[ParcelOut]


class NearExpiryRowOut(Schema):
    sku_code: str
    name: str
    batch_no: str
    warehouse: str
    units: int
    expires_on: dt.date
    days_left: int
    remaining_ratio: float
    action: str
    action_label: str


class NearExpiryOut(Schema):
    items: list[NearExpiryRowOut]


def _order_id(order_no: str) -> int:
    found = Order.objects.filter(order_no=order_no).values_list("pk", flat=True).first()
    if found is None:
        raise AllocationNotFound(detail={"order_no": order_no})
    return found


def _out(order_no: str, view: AllocationView) -> AllocationOut:
    return AllocationOut(
        order_no=order_no,
        status=view.status,
        status_label=view.status_label,
        explanation=view.explanation,
        error=view.error,
        cost_fen=view.cost_fen,
        promised_on=view.promised_on,
        decided_at=view.decided_at,
        shipments=[
            ParcelOut(
                shipment_no=p.shipment_no,
                warehouse=p.warehouse,
                carrier=p.carrier,
                storage=p.storage,
                storage_label=p.storage_label,
                status=p.status,
                status_label=p.status_label,
                cost_fen=p.cost_fen,
                weight_g=p.weight_g,
                transit_days=p.transit_days,
                promised_on=p.promised_on,
                lines=[ParcelLineOut(**vars(line)) for line in p.lines],
            )
            for p in view.shipments
        ],
    )


@router.get(
    "/allocations",
    response=QueueOut,
    summary="分仓队列：待分仓与分仓失败（含原因）",
    auth=OperatorAuth(*READ_ROLES),
)
def allocation_queue(
    request: HttpRequest,
    status: Literal["", "pending", "failed", "allocated"] = Query("", description="只看某一状态"),
) -> QueueOut:
    rows = selectors.allocation_queue(status=status)
    return QueueOut(
        items=[
            QueueRowOut(**{k: v for k, v in vars(row).items() if k != "order_id"}) for row in rows
        ]
    )


@router.get(
    "/allocations/{order_no}",
    response=AllocationOut,
    summary="一个订单的分仓决策、说明与包裹",
    auth=OperatorAuth(*READ_ROLES),
)
@raises(AllocationNotFound)
def allocation_detail(request: HttpRequest, order_no: str = OrderNo) -> AllocationOut:
    view = selectors.allocation_for_order(_order_id(order_no))
    if view is None:
        raise AllocationNotFound(detail={"order_no": order_no})
    return _out(order_no, view)


@router.post(
    "/allocations/{order_no}/retry",
    response=AllocationOut,
    summary="重新分仓（仅分仓失败的订单）",
    auth=OperatorAuth(*WRITE_ROLES),
)
@raises(AllocationNotFound, AllocationStateInvalid)
def allocation_retry(request: HttpRequest, order_no: str = OrderNo) -> AllocationOut:
    order_id = _order_id(order_no)
    services.allocation_retry(order_id=order_id, actor=request_actor(request))
    view = selectors.allocation_for_order(order_id)
    assert view is not None
    return _out(order_no, view)


@router.get(
    "/near-expiry",
    response=NearExpiryOut,
    summary="临期库存报表（含建议处理方式）",
    auth=OperatorAuth(*READ_ROLES),
)
def near_expiry(request: HttpRequest) -> NearExpiryOut:
    rows = selectors.near_expiry_report()
    return NearExpiryOut(
        items=[
            NearExpiryRowOut(**{k: getattr(row, k) for k in NearExpiryRowOut.model_fields})
            for row in rows
        ]
    )
