"""Who works in community operations: community managers and marketers (admins always may);
the chat-sidebar page and its API also for customer service, who often own the groups."""

from __future__ import annotations

from freshloop.core.permissions import Role

COMMUNITY_ROLES = (Role.COMMUNITY_MANAGER, Role.MARKETER)
SIDEBAR_ROLES = (Role.COMMUNITY_MANAGER, Role.CUSTOMER_SERVICE, Role.MARKETER)
