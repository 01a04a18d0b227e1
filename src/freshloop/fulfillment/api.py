"""/api/v1/fulfillment: each feature's endpoints on their own router, mounted here."""

from __future__ import annotations

from ninja import Router

router = Router(tags=["履约"])


# --- automated after-sales, recalls, ERP/WMS/TMS integration -------------------------------
from freshloop.fulfillment.aftersales_api import router as aftersales_router  # noqa: E402
from freshloop.fulfillment.integration_api import router as integration_router  # noqa: E402

router.add_router("", aftersales_router)
router.add_router("", integration_router)

# --- shipments & tracking, telemetry ---
from freshloop.fulfillment.api_tracking import router as tracking_router  # noqa: E402

router.add_router("", tracking_router)

# --- allocation (issue 16, FF-1) ----------------------------------------------------------------
from freshloop.fulfillment.allocation_api import router as allocation_router  # noqa: E402

router.add_router("", allocation_router)
