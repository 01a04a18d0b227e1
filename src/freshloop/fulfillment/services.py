"""Fulfillment's writes, gathered from the feature files (allocation, shipments, telemetry,
after-sales rules, integration) — the one face other modules call."""

from __future__ import annotations

# --- automated after-sales, recalls, integration -------------------------------------------
from freshloop.fulfillment.aftersales_decisions import (  # noqa: F401
    auto_decision_approve,
    auto_decision_reject,
)
from freshloop.fulfillment.aftersales_rules import (  # noqa: F401
    aftersales_rule_create,
    aftersales_rule_delete,
    aftersales_rule_update,
)

# --- allocation -------------------------------------------------------------------------------
from freshloop.fulfillment.allocating import (  # noqa: F401
    allocation_open,
    allocation_retry,
    allocations_run,
)
from freshloop.fulfillment.carrier_rates import (  # noqa: F401
    RateSpec,
    carrier_configure,
    carrier_credential_set,
    sku_weight_set,
)
from freshloop.fulfillment.integration import (  # noqa: F401
    webhook_endpoint_create,
    webhook_endpoint_delete,
    webhook_endpoint_update,
    webhook_signature_verify,
)
from freshloop.fulfillment.integration_imports import (  # noqa: F401
    stock_import,
    stock_import_csv,
)
from freshloop.fulfillment.integration_shipments import (  # noqa: F401
    shipment_updates_import,
    shipment_updates_import_csv,
)
from freshloop.fulfillment.recall import recall_create, recall_process  # noqa: F401

# --- shipments & tracking, telemetry ------------------------------------------------------
from freshloop.fulfillment.shipments import (  # noqa: F401
    AdvanceResult,
    PushOutcome,
    carrier_push_handle,
    kuaidi100_push_handle,
    sandbox_carrier_tick,
    shipment_advance,
    shipment_hand_over,
    shipment_pick,
    shipment_waybill_request,
    webhook_signature,
)
from freshloop.fulfillment.telemetry import (  # noqa: F401
    IngestResult,
    ReadingInput,
    device_attach,
    device_authenticate,
    device_create,
    excursions_detect,
    readings_ingest,
)
