"""Holds on lots: a lot flagged unsafe (a recall) keeps its units on hand — they are still in
the warehouse, to be counted and destroyed or returned — but no reservation counts them, no
pick takes them and no parcel ships them (`freshness.held_back_units`, `freshness.fefo_pick`,
`picking.take_picked_lots`, fulfillment's allocation ledger)."""

from __future__ import annotations

from django.db import transaction

from freshloop.core.audit import Actor, audit_record
from freshloop.inventory.models import BatchStock


@transaction.atomic
def lot_hold(*, batch_id: int, reason: str, actor: Actor) -> int:
    """Put every warehouse's units of lot `batch_id` on hold; returns the units held.
    Idempotent: a lot already on hold keeps its first reason. The caller says why (a recall
    names its reason); a blank reason is recorded as 已冻结."""
    reason = reason.strip() or "已冻结"
    rows = list(
        BatchStock.objects.filter(batch_id=batch_id, on_hold=False).values_list(
            "pk", "warehouse_id", "quantity"
        )
    )
    if not rows:
        return 0
    BatchStock.objects.filter(pk__in=[pk for pk, _, _ in rows]).update(
        on_hold=True, hold_reason=reason[:200]
    )
    units = sum(quantity for _, _, quantity in rows)
    audit_record(
        actor=actor,
        action="inventory.lot_hold",
        target_type="catalog.Batch",
        target_id=str(batch_id),
        after={
            "batch_id": batch_id,
            "reason": reason[:200],
            "units": units,
            "warehouses": sorted(warehouse_id for _, warehouse_id, _ in rows),
        },
    )
    return units
