"""Fulfillment jobs: batch allocation of paid orders, the sandbox carrier walking demo parcels
along, and the tracking subscription a handed-over parcel needs at its carrier (an outside
call: after commit, on the worker, retried)."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task, db_task, lock_task

from freshloop.core.events import subscribe
from freshloop.fulfillment.allocating import allocations_run
from freshloop.fulfillment.carriers import carrier_provider
from freshloop.fulfillment.events import ShipmentStatusChanged
from freshloop.fulfillment.models import Shipment, ShipmentStatus
from freshloop.fulfillment.shipments import sandbox_carrier_tick, tracking_callback_url


@db_periodic_task(crontab(minute="*"), name="fulfillment.sandbox_carrier_tick")
def sandbox_tick() -> None:
    sandbox_carrier_tick()


@subscribe(ShipmentStatusChanged, durable=True, background=True)
def tracking_subscribe_on_hand_over(event: ShipmentStatusChanged) -> None:
    """Ask the carrier to push the route once the parcel left the warehouse. Repeating it is
    harmless (Kuaidi100 answers 501 for a waybill already subscribed)."""
    if event.status != ShipmentStatus.HANDED_OVER:
        return
    shipment = Shipment.objects.select_related("carrier", "order").get(pk=event.shipment_id)
    if not shipment.waybill_no:
        return
    carrier_provider(shipment.carrier).subscribe_tracking(
        waybill_no=shipment.waybill_no,
        receiver_city=str(dict(shipment.order.address or {}).get("city", "")),
        callback_url=tracking_callback_url(shipment.carrier.code),
    )


# --- allocation (issue 16, FF-1) ----------------------------------------------------------------


@db_periodic_task(crontab(minute="*"), name="fulfillment.allocate_pending")
@lock_task("fulfillment.allocate_pending")
def allocate_pending() -> int:
    """Every minute: allocate all pending paid orders together, one batch. The lock keeps
    two batches from solving over the same stock."""
    return len(allocations_run().allocated)


@db_task(name="fulfillment.allocate_soon")
@lock_task("fulfillment.allocate_pending")
def allocate_soon() -> int:
    """The kick a few seconds after a payment (`subscribers.allocation_on_paid`): the same
    batch as the periodic job, under the same lock, without waiting for the minute."""
    return len(allocations_run().allocated)
