"""Payment jobs: the 查单 sweep over open payments, and WeChat Pay's certificate refresh."""

from __future__ import annotations

from huey import crontab
from huey.contrib.djhuey import db_periodic_task

from freshloop.payments.services import payments_reconcile, wechatpay_certificates_refresh


@db_periodic_task(crontab(minute="*"), name="payments.reconcile")
def reconcile() -> None:
    payments_reconcile()


@db_periodic_task(crontab(hour="*/12", minute="7"), name="payments.wechatpay_certificates")
def wechatpay_certificates() -> None:
    wechatpay_certificates_refresh()
