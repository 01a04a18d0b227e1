"""Promotions jobs."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.promotions.services import coupons_expire


@db_periodic_task(crontab(minute="*/10"), name="promotions.coupons_expire")
def expire_coupons() -> None:
    coupons_expire()
