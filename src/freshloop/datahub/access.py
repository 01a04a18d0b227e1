"""Who may look at the data hub's console pages: staff and the roles that act on customers.

Dashboards and segments are for admins and marketers; profiles also for customer service and
community managers (they answer the customer whose page they open)."""

from __future__ import annotations

from freshloop.core.console import View, console_access
from freshloop.core.permissions import Role

ANALYST_ROLES = (Role.MARKETER,)
PROFILE_ROLES = (Role.MARKETER, Role.CUSTOMER_SERVICE, Role.COMMUNITY_MANAGER)

__all__ = ["ANALYST_ROLES", "PROFILE_ROLES", "View", "console_access"]
