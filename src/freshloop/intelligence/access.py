"""Who may look at the intelligence console: marketers (models, budget plans) and supply chain
(demand forecasts and stock alerts); admins always."""

from __future__ import annotations

from freshloop.core.console import console_access
from freshloop.core.permissions import Role

MODEL_ROLES = (Role.MARKETER,)
FORECAST_ROLES = (Role.MARKETER, Role.SUPPLY_CHAIN)

__all__ = ["FORECAST_ROLES", "MODEL_ROLES", "console_access"]
