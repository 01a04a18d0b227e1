"""Each role's working home in the console: what that person opens the console to do.

`/console/` lands a person with one role on that role's home; an admin, or someone holding
several roles, gets the overview with a link to each of their homes (`/console/home/<role>/`).
What a home shows comes from the owning module's selectors; this file only composes them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.http import HttpRequest

from freshloop.core import clock
from freshloop.core.permissions import Role, user_is_admin, user_roles
from freshloop.datahub.segments.selectors import segment_list
from freshloop.inventory.selectors import lots_expiring, stock_by_warehouse
from freshloop.live.host.selectors import live_session_list_for_host
from freshloop.orders.selectors import (
    aftersales_case_count_open,
    aftersales_case_list_open,
    refund_request_count_pending,
    refund_request_list_pending,
)
from freshloop.scrm.selectors import (
    NO_COUNTS,
    journey_counts,
    journey_list,
    staff_tasks_open,
    staff_tasks_open_count,
)

NEAR_EXPIRY_DAYS = 7
# The most urgent lots, earliest expiry first; the rest are one click away in the admin.
NEAR_EXPIRY_SHOWN = 15


@dataclass(frozen=True)
class RoleHome:
    role: Role
    title: str
    template: str
    context: Callable[[HttpRequest], dict[str, Any]]
    # A home that is a page of its own elsewhere (the marketer's is the data dashboard).
    redirect_to: str = ""


def _live_host(request: HttpRequest) -> dict[str, Any]:
    today, upcoming = live_session_list_for_host(user=request.user)
    return {"today_sessions": today, "upcoming_sessions": upcoming}


def _customer_service(request: HttpRequest) -> dict[str, Any]:
    return {
        "refunds": refund_request_list_pending(limit=20),
        "refunds_waiting": refund_request_count_pending(),
        "cases": aftersales_case_list_open(limit=20),
        "cases_waiting": aftersales_case_count_open(),
        "tasks": list(staff_tasks_open(limit=5)),
        "tasks_waiting": staff_tasks_open_count(),
        "wecom_configured": settings.FRESHLOOP.wecom.configured,
    }


def _supply_chain(request: HttpRequest) -> dict[str, Any]:
    today = clock.to_shanghai(clock.now()).date()
    lots = lots_expiring(today=today, within_days=NEAR_EXPIRY_DAYS, limit=NEAR_EXPIRY_SHOWN + 1)
    return {
        "more_lots": len(lots) > NEAR_EXPIRY_SHOWN,
        "warehouses": stock_by_warehouse(),
        "lots": [
            {"lot": lot, "days_left": (lot.batch.expires_on - today).days}
            for lot in lots[:NEAR_EXPIRY_SHOWN]
        ],
        "near_expiry_days": NEAR_EXPIRY_DAYS,
        "today": today,
    }


def _community_manager(request: HttpRequest) -> dict[str, Any]:
    counts = journey_counts()
    return {
        "segments": segment_list(),
        "wecom_configured": settings.FRESHLOOP.wecom.configured,
        "journeys": [
            {"journey": journey, "counts": counts.get(journey.pk, NO_COUNTS)}
            for journey in journey_list()
        ],
    }


def _nothing(request: HttpRequest) -> dict[str, Any]:
    return {}


ROLE_HOMES: dict[Role, RoleHome] = {
    home.role: home
    for home in [
        RoleHome(Role.LIVE_HOST, "主播工作台", "web/console/homes/live_host.html", _live_host),
        RoleHome(
            Role.CUSTOMER_SERVICE,
            "客服工作台",
            "web/console/homes/customer_service.html",
            _customer_service,
        ),
        RoleHome(
            Role.SUPPLY_CHAIN, "供应链工作台", "web/console/homes/supply_chain.html", _supply_chain
        ),
        RoleHome(
            Role.COMMUNITY_MANAGER,
            "社群运营工作台",
            "web/console/homes/community_manager.html",
            _community_manager,
        ),
        RoleHome(Role.MARKETER, "营销数据看板", "", _nothing, redirect_to="/console/data/"),
        RoleHome(Role.GROUP_LEADER, "团长工作台", "web/console/homes/group_leader.html", _nothing),
    ]
}


def homes_for(user: Any) -> list[RoleHome]:
    """The homes a console user may open: an admin every one, anyone else their roles'."""
    if user_is_admin(user):
        return list(ROLE_HOMES.values())
    held = user_roles(user)
    return [home for role, home in ROLE_HOMES.items() if role in held]
