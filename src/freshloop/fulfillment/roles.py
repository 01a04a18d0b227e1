"""Who works in fulfillment: supply chain runs allocation, parcels, cold chain, near-expiry
stock and recalls; customer service also reads parcels and after-sales decisions (admins
always may)."""

from __future__ import annotations

from freshloop.core.permissions import Role

FULFILLMENT_ROLES = (Role.SUPPLY_CHAIN,)
FULFILLMENT_READ_ROLES = (Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE)
# Write actions in the console: allocation retry, recalls (supply chain); after-sales rules and
# decisions are also customer service's (the API lets it, the console follows).
FULFILLMENT_WRITE_ROLES = (Role.SUPPLY_CHAIN,)
AFTERSALES_CONSOLE_ROLES = (Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE)
RECALL_ROLES = (Role.SUPPLY_CHAIN, Role.CUSTOMER_SERVICE)
