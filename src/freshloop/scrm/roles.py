"""Who works in SCRM: the console's community managers and marketers (admins always may)."""

from __future__ import annotations

from freshloop.core.permissions import Role

JOURNEY_ROLES = (Role.COMMUNITY_MANAGER, Role.MARKETER)
