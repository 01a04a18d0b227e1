"""Row locks of fulfillment, always in primary-key order."""

from __future__ import annotations

from freshloop.fulfillment.models import Allocation, Carrier, Shipment


def allocation_lock(*, order_id: int) -> Allocation | None:
    """The order's allocation row, locked: one decision per order at a time."""
    return Allocation.objects.select_for_update().filter(order_id=order_id).first()


def carrier_lock(carrier_id: int) -> None:
    """A carrier's row, locked while its credential is written: two operators rotating the
    same secret at once write one after the other (and the first write creates the row)."""
    list(Carrier.objects.select_for_update().filter(pk=carrier_id).values_list("pk"))


def shipment_lock(shipment_id: int) -> Shipment:
    """One parcel, locked: its status moves one step at a time."""
    return Shipment.objects.select_for_update().get(pk=shipment_id)


# --- automated after-sales ------------------------------------------------------------------

from freshloop.fulfillment.models import AfterSalesRule, AutoDecision  # noqa: E402


def aftersales_rule_lock(rule_id: int) -> None:
    """A rule's row, locked while a decision under it counts its limits (per customer, per
    day), so two claims at the same moment cannot both slip under a limit."""
    list(AfterSalesRule.objects.select_for_update().filter(pk=rule_id).values_list("pk"))


def auto_decision_lock(decision_id: int) -> AutoDecision | None:
    """A held decision, locked: an operator approves or rejects it once."""
    return AutoDecision.objects.select_for_update().filter(pk=decision_id).first()


# --- cold-chain telemetry ---


def shipments_lock_for_readings(shipment_ids: list[int]) -> None:
    """The parcels a readings batch touches, locked in primary-key order: two batches of one
    parcel detect its excursions one after the other, so neither misses the other's readings
    and an excursion is announced once."""
    list(
        Shipment.objects.select_for_update()
        .filter(pk__in=sorted(set(shipment_ids)))
        .order_by("pk")
        .values_list("pk", flat=True)
    )
