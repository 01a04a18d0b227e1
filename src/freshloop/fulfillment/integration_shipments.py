"""ERP / TMS integration, inbound parcel updates (FF-4): a TMS or a carrier's back office pushes
parcel steps by API or CSV, all-or-nothing with a dry run and per-row errors, like stock.

Rows: `shipment_no`, `status` (created … delivered / exception), `occurred_at` (ISO 8601; a time
without an offset is read as Shanghai time), `description`, `location`, `external_id` (makes a
replayed row harmless). Chinese headers: 包裹号, 状态, 时间, 描述, 地点, 外部编号.

Rows are checked here; each is applied by `shipments.shipment_advance` — the one place a
parcel's status moves, with its rules (idempotent by `external_id`, never backwards, the order
follows its parcels) — so a step it refuses is a row error and rolls every row back.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import DomainError
from freshloop.fulfillment.errors import (
    ImportMalformed,
)
from freshloop.fulfillment.integration_imports import (
    ImportOutcome,
    all_or_nothing,
    csv_rows,
    import_run_record,
)
from freshloop.fulfillment.models import Shipment, ShipmentStatus
from freshloop.fulfillment.shipments import shipment_advance

FIELDS = ("shipment_no", "status", "occurred_at", "description", "location", "external_id")
HEADER_ALIASES = {
    "包裹号": "shipment_no",
    "状态": "status",
    "时间": "occurred_at",
    "描述": "description",
    "地点": "location",
    "外部编号": "external_id",
}
FUTURE_SLACK = dt.timedelta(minutes=10)


@dataclasses.dataclass(frozen=True)
class ShipmentUpdate:
    row: int
    shipment: Shipment
    status: str
    occurred_at: dt.datetime
    description: str
    location: str
    external_id: str


def _moment(text: str) -> dt.datetime | None:
    try:
        moment = dt.datetime.fromisoformat(text)
    except ValueError:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=clock.SHANGHAI)
    return moment


def _check(
    rows: Sequence[Mapping[str, Any]], first_row: int
) -> tuple[list[ShipmentUpdate], list[dict[str, Any]]]:
    numbers = {str(row.get("shipment_no", "")).strip() for row in rows if row}
    shipments = {s.shipment_no: s for s in Shipment.objects.filter(shipment_no__in=numbers)}
    now = clock.now()
    checked: list[ShipmentUpdate] = []
    errors: list[dict[str, Any]] = []
    for index, raw in enumerate(rows):
        number = first_row + index
        if not raw:
            continue
        found: list[dict[str, Any]] = []
        for name in sorted(set(raw) - set(FIELDS)):
            found.append({"row": number, "field": name, "message": "不认识的字段"})
        shipment = shipments.get(str(raw.get("shipment_no", "")).strip())
        if shipment is None:
            found.append({"row": number, "field": "shipment_no", "message": "包裹号不存在"})
        status = str(raw.get("status", "")).strip()
        if status not in ShipmentStatus.values:
            found.append({"row": number, "field": "status", "message": "包裹状态不正确"})
        moment = _moment(str(raw.get("occurred_at", "")).strip())
        if moment is None:
            found.append(
                {"row": number, "field": "occurred_at", "message": "时间格式应为 ISO 8601"}
            )
        elif moment > now + FUTURE_SLACK:
            found.append({"row": number, "field": "occurred_at", "message": "时间不能晚于现在"})
        texts = {}
        for name, limit, label in (
            ("description", 200, "描述"),
            ("location", 64, "地点"),
            ("external_id", 64, "外部编号"),
        ):
            texts[name] = str(raw.get(name) or "").strip()
            if len(texts[name]) > limit:
                found.append(
                    {"row": number, "field": name, "message": f"{label}不能超过 {limit} 个字"}
                )
        errors.extend(found)
        if not found:
            assert shipment is not None
            assert moment is not None
            checked.append(
                ShipmentUpdate(
                    row=number,
                    shipment=shipment,
                    status=status,
                    occurred_at=moment,
                    description=texts["description"],
                    location=texts["location"],
                    external_id=texts["external_id"],
                )
            )
    return checked, errors


def shipment_updates_import(
    *,
    rows: Sequence[Mapping[str, Any]],
    actor: Actor,
    dry_run: bool = False,
    source: str = "api",
    first_row: int = 1,
) -> ImportOutcome:
    """Apply parcel updates all-or-nothing; rows with problems raise `ImportRejected` unless
    `dry_run`, which lists them instead."""
    if not rows:
        raise ImportMalformed("没有需要导入的数据")
    checked, errors = _check(rows, first_row)
    changes: list[dict[str, Any]] = []
    applied = False
    if not errors:
        changes, errors, applied = all_or_nothing(
            lambda: _advance_each(checked, actor, source), dry_run=dry_run
        )
    return import_run_record(
        kind="shipments",
        action="fulfillment.shipment_import",
        rows=rows,
        source=source,
        dry_run=dry_run,
        applied=applied,
        errors=errors,
        changes=changes,
        actor=actor,
    )


def _advance_each(
    checked: list[ShipmentUpdate], actor: Actor, source: str
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """Each row through the parcel state machine, in its own savepoint: a refused step is that
    row's problem (and the caller rolls every row back)."""
    changes: list[dict[str, Any]] = []
    errors: list[dict[str, Any]] = []
    for update in checked:
        try:
            with transaction.atomic():
                shipment_advance(
                    shipment_id=update.shipment.pk,
                    status=update.status,
                    source=f"import:{source}"[:32],
                    occurred_at=update.occurred_at,
                    external_id=update.external_id,
                    description=update.description,
                    location=update.location,
                    actor=actor,
                )
        except DomainError as error:
            errors.append({"row": update.row, "field": "status", "message": error.text})
            continue
        changes.append(
            {"row": update.row, "shipment_no": update.shipment.shipment_no, "status": update.status}
        )
    return changes, errors


def shipment_updates_import_csv(
    *, content: bytes, actor: Actor, dry_run: bool = False
) -> ImportOutcome:
    rows = csv_rows(
        content, required=("shipment_no", "status", "occurred_at"), aliases=HEADER_ALIASES
    )
    return shipment_updates_import(
        rows=rows, actor=actor, dry_run=dry_run, source="csv", first_row=2
    )
