"""Group-buying jobs (one block per feature): they take ids or a time, load, call a service.
Every one is harmless to repeat."""

from __future__ import annotations

# --- group deals 拼团 (GB-3) ---
from huey import crontab
from huey.contrib.djhuey import db_periodic_task, lock_task

from freshloop.groupbuy.deals.services import deal_groups_close_due


@db_periodic_task(crontab(minute="*"), name="groupbuy.deal_groups_close")
@lock_task("groupbuy.deal_groups_close")
def deal_groups_close() -> int:
    """Every minute: close the groups past their time limit (refunds follow as effects)."""
    return len(deal_groups_close_due())


# --- commission (GB-2) ---
from freshloop.core import clock  # noqa: E402
from freshloop.groupbuy.commission.relevel import previous_month  # noqa: E402
from freshloop.groupbuy.commission.services import (  # noqa: E402
    accruals_mature,
    leaders_relevel,
)


@db_periodic_task(crontab(minute="*/15"), name="groupbuy.commission_mature")
@lock_task("groupbuy.commission_mature")
def commission_mature() -> int:
    """Every 15 minutes: commission whose after-sales window is over becomes settleable."""
    return accruals_mature()


@db_periodic_task(crontab(day="1", hour="1", minute="30"), name="groupbuy.leaders_relevel")
@lock_task("groupbuy.leaders_relevel")
def commission_leaders_relevel() -> int:
    """On the 1st (09:30 Shanghai): leaders move between levels by last month's GMV."""
    today = clock.to_shanghai(clock.now()).date()
    return len(leaders_relevel(month=previous_month(today)))


# --- presale (GB-4) ---
from freshloop.groupbuy.presale.services import presales_advance  # noqa: E402


@db_periodic_task(crontab(minute="*"), name="groupbuy.presales_advance")
@lock_task("groupbuy.presales_advance")
def presale_windows_advance() -> int:
    """Every minute: presales open and close by their windows, balance reminders go out (each
    once), ended presales settle their deposits (forfeit or refund) and return their stock."""
    result = presales_advance()
    return len(result.opened) + len(result.balance_opened) + len(result.closed)
