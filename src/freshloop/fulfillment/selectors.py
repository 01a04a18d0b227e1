"""Fulfillment's reads, gathered from the feature files — the one face other modules read."""

from __future__ import annotations

# --- allocation -------------------------------------------------------------------------------
from freshloop.fulfillment.allocation_selectors import (  # noqa: F401
    allocation_for_order,
    allocation_lot_picks,
    allocation_queue,
    near_expiry_report,
)
from freshloop.fulfillment.models import AutoDecision

# --- the order page's date before allocation --------------------------------------------------
from freshloop.fulfillment.promise_preview import (  # noqa: F401
    PreviewParcel,
    PromisePreview,
    order_promise_preview,
    order_promised_on,
)

# --- automated after-sales and recalls --------------------------------------------------------
from freshloop.fulfillment.recall import batch_ids_recalled  # noqa: F401

# --- shipments & tracking, telemetry ----------------------------------------------------------
from freshloop.fulfillment.tracking_selectors import (  # noqa: F401
    ParcelView,
    ReadingPoint,
    excursions_for_operators,
    shipment_readings_series,
    shipments_for_order,
    temperature_chart,
)


def auto_decisions_for_case(*, case_id: int) -> list[AutoDecision]:
    """The automatic decisions taken on an after-sales case, with their explanations."""
    return list(AutoDecision.objects.filter(case_id=case_id).order_by("id"))


def auto_decisions_for_order(*, order_id: int) -> list[AutoDecision]:
    """Every automatic decision about an order (cases, excursions, late parcels, recalls)."""
    return list(AutoDecision.objects.filter(order_id=order_id).order_by("id"))


# --- near-expiry report rows (read by web's 临期库存 page) -----------------------------------
from freshloop.fulfillment.allocation_selectors import NearExpiryRow  # noqa: E402, F401
