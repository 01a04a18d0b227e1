"""What starts an automatic after-sales decision: a buyer's case, an excursion on a parcel, a
parcel delivered late, a recalled lot. Durable handlers (delivered at least once, after a crash
too); each decision is idempotent by its trigger key, so a repeat changes nothing.

A buyer's case is decided right after its commit (the buyer sees the answer on the next page);
excursions, late parcels and recalls are decided on the worker, so the logger's, the carrier's
and the operator's requests never wait on refunds and messages."""

from __future__ import annotations

import datetime as dt

from freshloop.core import clock
from freshloop.core.events import subscribe
from freshloop.fulfillment.aftersales_decisions import Claim, aftersales_evaluate, refundable_units
from freshloop.fulfillment.events import ExcursionDetected, LotRecalled, ShipmentStatusChanged
from freshloop.fulfillment.models import AfterSalesTrigger, Shipment, ShipmentStatus
from freshloop.fulfillment.recall import recall_process
from freshloop.orders.events import AfterSalesCaseOpened
from freshloop.orders.models import AfterSalesCase, AfterSalesStatus


def _parcel_units(shipment: Shipment) -> dict[int, int]:
    units: dict[int, int] = {}
    for line_id, quantity in shipment.lines.values_list("order_line_id", "quantity"):
        units[line_id] = units.get(line_id, 0) + quantity
    return units


@subscribe(AfterSalesCaseOpened, durable=True)
def on_case_opened(event: AfterSalesCaseOpened) -> None:
    case = AfterSalesCase.objects.select_related("order").filter(case_no=event.case_no).first()
    if case is None or case.status != AfterSalesStatus.SUBMITTED:
        return
    aftersales_evaluate(
        claim=Claim(
            trigger=AfterSalesTrigger.COMPLAINT,
            key=f"complaint:{case.case_no}",
            order=case.order,
            units=[
                {"line_id": int(i["line_id"]), "quantity": int(i["quantity"])} for i in case.lines
            ],
            case=case,
            reason=case.reason,
            reason_label=case.get_reason_display(),
            has_photo=case.photos.exists(),
        )
    )


@subscribe(ExcursionDetected, durable=True, background=True)
def on_excursion(event: ExcursionDetected) -> None:
    """One compensation per parcel, whatever number of excursions it had."""
    shipment = Shipment.objects.select_related("order").filter(pk=event.shipment_id).first()
    if shipment is None:
        return
    aftersales_evaluate(
        claim=Claim(
            trigger=AfterSalesTrigger.EXCURSION,
            key=f"excursion:{shipment.pk}",
            order=shipment.order,
            units=refundable_units(shipment.order, _parcel_units(shipment)),
            shipment=shipment,
            excursion_minutes=event.minutes,
            peak_celsius=event.peak_celsius,
            storage=event.storage or shipment.storage,
        )
    )


def late_hours(shipment: Shipment) -> int:
    """Whole hours between the end of the promised day (Shanghai) and the delivery."""
    if shipment.promised_on is None or shipment.delivered_at is None:
        return 0
    promised_end = dt.datetime.combine(
        shipment.promised_on + dt.timedelta(days=1), dt.time(), tzinfo=clock.SHANGHAI
    )
    late = shipment.delivered_at - promised_end
    return max(0, int(late.total_seconds() // 3600))


@subscribe(ShipmentStatusChanged, durable=True, background=True)
def on_status_changed(event: ShipmentStatusChanged) -> None:
    if event.status != ShipmentStatus.DELIVERED or not event.late:
        return
    shipment = Shipment.objects.select_related("order").filter(pk=event.shipment_id).first()
    if shipment is None:
        return
    aftersales_evaluate(
        claim=Claim(
            trigger=AfterSalesTrigger.LATE_DELIVERY,
            key=f"late:{shipment.pk}",
            order=shipment.order,
            units=refundable_units(shipment.order, _parcel_units(shipment)),
            shipment=shipment,
            late_hours=late_hours(shipment),
            storage=shipment.storage,
        )
    )


@subscribe(LotRecalled, durable=True, background=True)
def on_lot_recalled(event: LotRecalled) -> None:
    """On the worker: a recall may reach thousands of parcels, never inside the operator's
    request."""
    recall_process(recall_id=event.recall_id)
