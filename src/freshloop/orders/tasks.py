"""Order jobs: unpaid orders past their deadline are cancelled, releasing stock and coupons."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.orders.services import orders_expire_unpaid


@db_periodic_task(crontab(minute="*"), name="orders.expire_unpaid")
def expire_unpaid() -> None:
    orders_expire_unpaid()
