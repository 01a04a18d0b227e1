"""ERP / WMS / TMS integration API: webhook subscriptions (supply chain in the console) and
inbound stock updates (an integration client's API key, or supply chain uploading a CSV)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.http import HttpRequest
from ninja import File, Path, Query, Router, Schema, Status, UploadedFile
from pydantic import Field

from freshloop.core.api import ApiKeyAuth, OperatorAuth, request_actor
from freshloop.core.api_errors import raises
from freshloop.core.apikeys import SCOPES
from freshloop.core.permissions import Role
from freshloop.core.schemas import MAX_ID, InputSchema
from freshloop.fulfillment import integration, integration_imports, integration_shipments
from freshloop.fulfillment.errors import (
    ImportMalformed,
    ImportRejected,
    WebhookEndpointInvalid,
    WebhookEndpointNotFound,
)
from freshloop.fulfillment.models import WebhookEndpoint

INTEGRATION_SCOPE = "fulfillment:integration"
# The scope an ERP/WMS client's key needs (core.apikeys lists every module's scopes).
SCOPES.setdefault(INTEGRATION_SCOPE, "ERP/WMS 库存与物流对接")
INTEGRATION_ROLES = (Role.SUPPLY_CHAIN,)

router = Router(tags=["履约：ERP/WMS/TMS 对接"])

CsvFile = File(..., title="CSV 文件", description="UTF-8（或 GB18030）CSV，首行为列名")
DryRun = Query(False, title="试运行（只校验，不修改）")
EndpointId = Path(..., title="订阅编号", ge=1, le=MAX_ID)


class WebhookEndpointIn(InputSchema):
    name: str = Field(..., title="名称", max_length=64)
    url: str = Field(..., title="接收地址", max_length=300)
    event_types: list[str] = Field(..., title="订阅事件", max_length=10)
    is_active: bool = Field(True, title="是否启用")


class WebhookEndpointOut(Schema):
    id: int
    name: str
    url: str
    event_types: list[str]
    is_active: bool
    created_at: dt.datetime


class WebhookEndpointCreatedOut(WebhookEndpointOut):
    secret: str = Field(..., description="签名密钥，只在创建时返回一次")


class WebhookEndpointListOut(Schema):
    items: list[WebhookEndpointOut]
    event_types: dict[str, str]


class StockImportRowIn(InputSchema):
    warehouse: str = Field(..., title="仓库编码", max_length=32)
    sku: str = Field(..., title="SKU 编码", max_length=64)
    mode: str = Field(..., title="类型：receive 入库 / adjust 调整 / count 盘点", max_length=16)
    quantity: int = Field(..., title="数量", ge=-1_000_000, le=1_000_000)
    batch_no: str = Field("", title="批次号", max_length=64)
    produced_on: str = Field("", title="生产日期（YYYY-MM-DD）", max_length=10)
    reason: str = Field("", title="原因", max_length=200)


class StockImportIn(InputSchema):
    rows: list[StockImportRowIn] = Field(..., title="库存变动", min_length=1, max_length=5000)
    dry_run: bool = Field(False, title="试运行（只校验，不修改）")


class ShipmentUpdateRowIn(InputSchema):
    shipment_no: str = Field(..., title="包裹号", max_length=40)
    status: str = Field(..., title="包裹状态", max_length=20)
    occurred_at: str = Field(..., title="发生时间（ISO 8601）", max_length=40)
    description: str = Field("", title="描述", max_length=200)
    location: str = Field("", title="地点", max_length=64)
    external_id: str = Field("", title="外部编号", max_length=64)


class ShipmentUpdatesIn(InputSchema):
    rows: list[ShipmentUpdateRowIn] = Field(..., title="包裹状态", min_length=1, max_length=5000)
    dry_run: bool = Field(False, title="试运行（只校验，不修改）")


class StockImportOut(Schema):
    import_id: int
    rows: int
    applied: bool
    dry_run: bool
    errors: list[dict[str, Any]]
    changes: list[dict[str, Any]]


def _endpoint_out(endpoint: WebhookEndpoint) -> WebhookEndpointOut:
    return WebhookEndpointOut(
        id=endpoint.pk,
        name=endpoint.name,
        url=endpoint.url,
        event_types=endpoint.event_types,
        is_active=endpoint.is_active,
        created_at=endpoint.created_at,
    )


@router.get(
    "/integration/webhooks",
    auth=OperatorAuth(*INTEGRATION_ROLES),
    response=WebhookEndpointListOut,
    summary="Webhook 订阅列表",
)
def webhooks_list(request: HttpRequest) -> WebhookEndpointListOut:
    return WebhookEndpointListOut(
        items=[_endpoint_out(endpoint) for endpoint in WebhookEndpoint.objects.all()],
        event_types=integration.EVENT_TYPES,
    )


@router.post(
    "/integration/webhooks",
    auth=OperatorAuth(*INTEGRATION_ROLES),
    response={201: WebhookEndpointCreatedOut},
    summary="新建 Webhook 订阅（返回签名密钥）",
)
@raises(WebhookEndpointInvalid)
def webhooks_create(
    request: HttpRequest, body: WebhookEndpointIn
) -> Status[WebhookEndpointCreatedOut]:
    endpoint = integration.webhook_endpoint_create(
        spec=body.model_dump(), actor=request_actor(request)
    )
    out = _endpoint_out(endpoint)
    return Status(201, WebhookEndpointCreatedOut(**out.model_dump(), secret=endpoint.secret))


@router.put(
    "/integration/webhooks/{endpoint_id}",
    auth=OperatorAuth(*INTEGRATION_ROLES),
    response=WebhookEndpointOut,
    summary="修改 Webhook 订阅",
)
@raises(WebhookEndpointInvalid, WebhookEndpointNotFound)
def webhooks_update(
    request: HttpRequest, body: WebhookEndpointIn, endpoint_id: int = EndpointId
) -> WebhookEndpointOut:
    endpoint = integration.webhook_endpoint_update(
        endpoint_id=endpoint_id, spec=body.model_dump(), actor=request_actor(request)
    )
    return _endpoint_out(endpoint)


@router.delete(
    "/integration/webhooks/{endpoint_id}",
    auth=OperatorAuth(*INTEGRATION_ROLES),
    response={204: None},
    summary="删除 Webhook 订阅",
)
@raises(WebhookEndpointNotFound)
def webhooks_delete(request: HttpRequest, endpoint_id: int = EndpointId) -> Status[None]:
    integration.webhook_endpoint_delete(endpoint_id=endpoint_id, actor=request_actor(request))
    return Status(204, None)


def _import_out(outcome: integration_imports.ImportOutcome) -> StockImportOut:
    return StockImportOut(
        import_id=outcome.run.pk,
        rows=outcome.rows,
        applied=outcome.applied,
        dry_run=outcome.dry_run,
        errors=outcome.errors,
        changes=outcome.changes,
    )


@router.post(
    "/integration/stock",
    auth=[ApiKeyAuth(INTEGRATION_SCOPE), OperatorAuth(*INTEGRATION_ROLES)],
    response=StockImportOut,
    summary="库存变动（ERP/WMS 推送，整批生效或整批不生效；dry_run 只校验）",
)
@raises(ImportMalformed, ImportRejected)
def stock_update(request: HttpRequest, body: StockImportIn) -> StockImportOut:
    outcome = integration_imports.stock_import(
        rows=[row.model_dump() for row in body.rows],
        actor=request_actor(request),
        dry_run=body.dry_run,
        source="api",
    )
    return _import_out(outcome)


@router.post(
    "/integration/stock/csv",
    auth=[ApiKeyAuth(INTEGRATION_SCOPE), OperatorAuth(*INTEGRATION_ROLES)],
    response=StockImportOut,
    summary="上传库存 CSV（列：warehouse,sku,mode,quantity,batch_no,produced_on,reason）",
)
@raises(ImportMalformed, ImportRejected)
def stock_csv(
    request: HttpRequest,
    file: UploadedFile = CsvFile,
    dry_run: bool = DryRun,
) -> StockImportOut:
    content = file.read(integration_imports.MAX_BYTES + 1)
    outcome = integration_imports.stock_import_csv(
        content=content, actor=request_actor(request), dry_run=dry_run
    )
    return _import_out(outcome)


@router.post(
    "/integration/shipments",
    auth=[ApiKeyAuth(INTEGRATION_SCOPE), OperatorAuth(*INTEGRATION_ROLES)],
    response=StockImportOut,
    summary="包裹状态回传（TMS 推送，整批生效或整批不生效；dry_run 只校验）",
)
@raises(ImportMalformed, ImportRejected)
def shipment_updates(request: HttpRequest, body: ShipmentUpdatesIn) -> StockImportOut:
    outcome = integration_shipments.shipment_updates_import(
        rows=[row.model_dump() for row in body.rows],
        actor=request_actor(request),
        dry_run=body.dry_run,
        source="api",
    )
    return _import_out(outcome)


@router.post(
    "/integration/shipments/csv",
    auth=[ApiKeyAuth(INTEGRATION_SCOPE), OperatorAuth(*INTEGRATION_ROLES)],
    response=StockImportOut,
    summary="上传包裹状态 CSV（列：shipment_no,status,occurred_at,description,location,external_id）",
)
@raises(ImportMalformed, ImportRejected)
def shipment_updates_csv(
    request: HttpRequest, file: UploadedFile = CsvFile, dry_run: bool = DryRun
) -> StockImportOut:
    content = file.read(integration_imports.MAX_BYTES + 1)
    outcome = integration_shipments.shipment_updates_import_csv(
        content=content, actor=request_actor(request), dry_run=dry_run
    )
    return _import_out(outcome)
