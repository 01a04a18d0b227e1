"""Batch recall (FF-3): an operator flags a production lot unsafe; every customer who received
it — found through the parcels that carried it (`ShipmentLine.batch`), shipped ones only — is
reached by the after-sales rule set (trigger `lot_recalled`), and the recall keeps a report.

Units of the lot still in a warehouse are recorded on the recall (`blocked_stock`) and put on
hold through inventory (`inventory.services.lot_hold`): still on hand, but no reservation
counts them, no allocation plans with them, and a parcel allocated from the lot before the
recall cannot book them out at hand-over (a lot shortfall alert instead).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict

from django.db import IntegrityError, transaction
from django.db.models import Q, Sum

from freshloop.catalog.models import Batch
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.fulfillment.aftersales_decisions import Claim, aftersales_evaluate, refundable_units
from freshloop.fulfillment.errors import RecallExists, RecallInvalid, RecallNotFound
from freshloop.fulfillment.events import LotRecalled
from freshloop.fulfillment.models import (
    AfterSalesAction,
    AfterSalesTrigger,
    AutoDecision,
    DecisionStatus,
    Recall,
    Shipment,
    ShipmentLine,
    ShipmentStatus,
)
from freshloop.inventory.models import BatchStock
from freshloop.inventory.services import lot_hold

SHIPPED_STATUSES = frozenset(
    {
        ShipmentStatus.HANDED_OVER,
        ShipmentStatus.IN_TRANSIT,
        ShipmentStatus.OUT_FOR_DELIVERY,
        ShipmentStatus.DELIVERED,
    }
)
"""A parcel with one of these statuses left the warehouse; an exception counts only when the
carrier had it (`handed_over_at` set)."""


@transaction.atomic
def recall_create(*, batch_id: int, reason: str, actor: Actor) -> Recall:
    """Flag a lot unsafe: the recall is recorded with the lot's stock still in warehouses,
    and `LotRecalled` starts reaching its customers after commit."""
    reason = reason.strip()
    problems = []
    if not reason:
        problems.append(("reason", "请填写召回原因"))
    elif len(reason) > 200:
        problems.append(("reason", "召回原因不能超过 200 个字"))
    batch = Batch.objects.select_related("sku").filter(pk=batch_id).first()
    if batch is None:
        problems.append(("batch_id", "批次不存在"))
    if problems:
        raise RecallInvalid.for_fields(problems)
    assert batch is not None
    blocked = [
        {"warehouse": code, "quantity": quantity}
        for code, quantity in BatchStock.objects.filter(batch=batch, quantity__gt=0)
        .order_by("warehouse__code")
        .values_list("warehouse__code", "quantity")
    ]
    try:
        with transaction.atomic():
            recall = Recall.objects.create(
                batch=batch,
                reason=reason,
                created_by=actor.label[:64],
                blocked_stock=blocked,
                created_at=clock.now(),
            )
    except IntegrityError:
        raise RecallExists(detail={"batch_id": batch_id}) from None
    # What is still in warehouses stops here: nothing reserves, allocates or ships it.
    lot_hold(batch_id=batch.pk, reason=f"召回：{reason}", actor=actor)
    audit_record(
        actor=actor,
        action="fulfillment.recall_create",
        target=recall,
        after={
            "batch": batch.batch_no,
            "sku": batch.sku.code,
            "reason": reason,
            "blocked_stock": blocked,
        },
    )
    publish(LotRecalled(recall_id=recall.pk, batch_id=batch.pk, reason=reason))
    return recall


def recalled_shipments(*, batch_id: int) -> dict[int, dict[int, int]]:
    """Parcels that left a warehouse with units of the lot: {shipment id: {order line id:
    units of the lot}}."""
    lines = (
        ShipmentLine.objects.filter(batch_id=batch_id)
        .filter(_left_the_warehouse())
        .values_list("shipment_id", "order_line_id", "quantity")
    )
    found: dict[int, dict[int, int]] = defaultdict(dict)
    for shipment_id, line_id, quantity in lines:
        found[shipment_id][line_id] = found[shipment_id].get(line_id, 0) + quantity
    return dict(found)


def _left_the_warehouse() -> Q:
    return Q(shipment__status__in=SHIPPED_STATUSES) | Q(
        shipment__status=ShipmentStatus.EXCEPTION, shipment__handed_over_at__isnull=False
    )


def recall_process(*, recall_id: int) -> int:
    """Start the rule set for every parcel that carried the lot (idempotent: one decision per
    recall and parcel); returns how many parcels were reached."""
    recall = Recall.objects.select_related("batch__sku__product").filter(pk=recall_id).first()
    if recall is None:
        raise RecallNotFound(detail={"recall_id": recall_id})
    batch = recall.batch
    label = f"{batch.sku.product.name}（批次 {batch.batch_no}）"
    parcels = recalled_shipments(batch_id=batch.pk)
    shipments = Shipment.objects.select_related("order").in_bulk(list(parcels))
    for shipment_id in sorted(parcels):
        shipment = shipments[shipment_id]
        aftersales_evaluate(
            claim=Claim(
                trigger=AfterSalesTrigger.LOT_RECALLED,
                key=f"recall:{recall.pk}:{shipment_id}",
                order=shipment.order,
                units=refundable_units(shipment.order, parcels[shipment_id]),
                shipment=shipment,
                recall=recall,
                storage=shipment.storage,
                lot_label=label,
            )
        )
    Recall.objects.filter(pk=recall.pk).update(processed=True)
    return len(parcels)


@dataclasses.dataclass(frozen=True)
class RecallReport:
    recall: Recall
    parcels: int
    customers: int
    units: int
    refunds: int
    refunded_fen: int
    pending_approval: int
    handed_to_service: int
    blocked_units: int


def recall_report(*, recall_id: int) -> RecallReport:
    """Whom the recall reached and what it paid, from its decisions."""
    recall = Recall.objects.select_related("batch").filter(pk=recall_id).first()
    if recall is None:
        raise RecallNotFound(detail={"recall_id": recall_id})
    decisions = AutoDecision.objects.filter(recall=recall)
    refunds = decisions.filter(
        status=DecisionStatus.EXECUTED,
        action__in=[AfterSalesAction.FULL_REFUND, AfterSalesAction.PARTIAL_REFUND],
    ).exclude(refund_no="")
    units = ShipmentLine.objects.filter(
        batch_id=recall.batch_id, shipment_id__in=decisions.values("shipment_id")
    ).aggregate(total=Sum("quantity"))["total"]
    return RecallReport(
        recall=recall,
        parcels=decisions.count(),
        customers=decisions.values("person_id").distinct().count(),
        units=units or 0,
        refunds=refunds.count(),
        refunded_fen=refunds.aggregate(total=Sum("amount_fen"))["total"] or 0,
        pending_approval=decisions.filter(status=DecisionStatus.PENDING_APPROVAL).count(),
        handed_to_service=decisions.filter(
            status__in=[DecisionStatus.MANUAL, DecisionStatus.FAILED]
        ).count(),
        blocked_units=sum(int(row["quantity"]) for row in recall.blocked_stock),
    )


def batch_ids_recalled() -> set[int]:
    """Lots under recall: picking must not take them (read by allocation / picking)."""
    return set(Recall.objects.values_list("batch_id", flat=True))
