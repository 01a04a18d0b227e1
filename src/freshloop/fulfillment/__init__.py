"""Fulfillment (SPEC FF-1…FF-4): from a paid order to a delivered parcel — cold-chain-aware
allocation to warehouses and carriers, FEFO picking, shipments and their tracking, cold-chain
telemetry, automated after-sales and the ERP / WMS / TMS edge. Above orders and payments, below
live, group buying and food: it never imports them."""
