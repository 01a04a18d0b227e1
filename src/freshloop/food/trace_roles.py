"""Who manages lots' traceability in the console: supply chain (it owns lots and their
inspections); admins always may."""

from __future__ import annotations

from freshloop.core.permissions import Role

TRACE_ROLES = (Role.SUPPLY_CHAIN,)
