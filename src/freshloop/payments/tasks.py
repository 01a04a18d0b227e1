"""Payment jobs: submit refunds to providers (retried while the gateway is unreachable)."""

from __future__ import annotations

from huey.contrib.djhuey import db_task

from freshloop.payments.models import RefundStatus
from freshloop.payments.services import refund_submit


class RefundNotSubmitted(Exception):
    """The provider could not be reached; huey retries the job."""


@db_task(name="payments.refund_submit", retries=8, retry_delay=60)
def refund_submit_job(refund_id: int) -> None:
    refund = refund_submit(refund_id=refund_id)
    if (
        refund.status == RefundStatus.PENDING
        and refund.last_error
        and not refund.provider_refund_id
    ):
        raise RefundNotSubmitted(refund.last_error)
