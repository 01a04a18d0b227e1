"""What follows a flash sale's buys: each claim follows its order (paid → paid, cancelled →
its units back to the sale), and `flash_sale_reconcile` (job `live.flash_reconcile`, every
minute) repairs what a crash can leave behind (see its docstring). The buys themselves are in
`flash_sale.services`."""

from __future__ import annotations

import dataclasses
import datetime as dt

from django.db import transaction
from django.db.models import F

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.live import events
from freshloop.live.flash_sale.redis_stock import flash_engine, gate_reconcile
from freshloop.live.flash_sale.services import RECONCILE_GRACE_SECONDS, flash_sales_close_due
from freshloop.live.models import ClaimStatus, FlashSale, FlashSaleClaim
from freshloop.orders.models import Order, OrderStatus


def _close_claims(*, order_no: str, to_status: str, actor: Actor) -> list[FlashSaleClaim]:
    """Move the order's held claims to `to_status` (paid or released), each exactly once."""
    closed = []
    now = clock.now()
    for claim in (
        FlashSaleClaim.objects.select_related("flash_sale__session")
        .filter(order_ref=order_no, status=ClaimStatus.HELD)
        .order_by("pk")
    ):
        moved = FlashSaleClaim.objects.filter(pk=claim.pk, status=ClaimStatus.HELD).update(
            status=to_status, closed_at=now
        )
        if not moved:
            continue  # a concurrent or retried handler did it
        sale = claim.flash_sale
        if to_status == ClaimStatus.RELEASED:
            FlashSale.objects.filter(pk=sale.pk).update(claimed=F("claimed") - claim.quantity)
        else:
            FlashSale.objects.filter(pk=sale.pk).update(paid=F("paid") + claim.quantity)
        audit_record(
            actor=actor,
            action=f"live.flash_sale.claim_{to_status}",
            target=claim,
            before={"status": ClaimStatus.HELD},
            after={"status": to_status, "quantity": claim.quantity, "order_no": order_no},
        )
        publish(
            events.FlashSaleClaimClosed(
                session_code=sale.session.code,
                flash_sale_id=sale.pk,
                person_id=claim.person_id,
                quantity=claim.quantity,
                order_no=order_no,
                status=to_status,
            )
        )
        claim.status = to_status
        closed.append(claim)
    return closed


def flash_sale_claims_release(*, order_no: str, actor: Actor) -> list[FlashSaleClaim]:
    """The order was cancelled: its claims' units are sellable again (database and Redis)."""
    with transaction.atomic():
        released = _close_claims(order_no=order_no, to_status=ClaimStatus.RELEASED, actor=actor)
        engine = flash_engine()
        for claim in released:
            sale_id, person_id, units = claim.flash_sale_id, claim.person_id, claim.quantity
            session_code = claim.flash_sale.session.code

            def after_commit(
                sale_id: int = sale_id,
                person_id: int = person_id,
                units: int = units,
                session_code: str = session_code,
            ) -> None:
                left: int | None = None
                if engine is not None:
                    # If this never runs (crash), reconcile re-derives the counters.
                    left = engine.give_back(
                        flash_sale_id=sale_id, person_id=person_id, quantity=units
                    )
                if left is None:
                    sale = FlashSale.objects.get(pk=sale_id)
                    left = sale.quantity - sale.claimed
                publish(
                    events.FlashSaleStockChanged(
                        session_code=session_code, flash_sale_id=sale_id, remaining=left
                    )
                )

            transaction.on_commit(after_commit, robust=True)
    return released


@transaction.atomic
def flash_sale_claims_paid(*, order_no: str, actor: Actor) -> list[FlashSaleClaim]:
    """The order was paid: its claims are paid for good."""
    return _close_claims(order_no=order_no, to_status=ClaimStatus.PAID, actor=actor)


# --- reconciliation ---------------------------------------------------------------------------


@dataclasses.dataclass
class ReconcileReport:
    rolled_back: list[str] = dataclasses.field(default_factory=list)  # pending, never settled
    settled_cleared: list[str] = dataclasses.field(default_factory=list)  # settled, still pending
    rederived: list[int] = dataclasses.field(default_factory=list)  # sales whose counters moved
    claims_released: list[str] = dataclasses.field(default_factory=list)  # order cancelled
    claims_paid: list[str] = dataclasses.field(default_factory=list)  # order paid
    closed: list[int] = dataclasses.field(default_factory=list)  # sales past their end


def _repair_claims(report: ReconcileReport) -> None:
    """Held claims whose order was cancelled or paid while the event handler failed."""
    held = dict(
        FlashSaleClaim.objects.filter(status=ClaimStatus.HELD)
        .exclude(order_ref="")
        .values_list("order_ref", "pk")
    )
    if not held:
        return
    statuses = dict(Order.objects.filter(order_no__in=list(held)).values_list("order_no", "status"))
    actor = Actor.system("live.flash_reconcile")
    for order_no in sorted(held):
        status = statuses.get(order_no)
        if status == OrderStatus.CANCELLED:
            if flash_sale_claims_release(order_no=order_no, actor=actor):
                report.claims_released.append(order_no)
        elif status not in (None, OrderStatus.PENDING_PAYMENT) and flash_sale_claims_paid(
            order_no=order_no, actor=actor
        ):
            report.claims_paid.append(order_no)


def flash_sale_reconcile(*, older_than_seconds: int = RECONCILE_GRACE_SECONDS) -> ReconcileReport:
    """Repair what a crash can leave behind; safe to run at any time, any number of times.

    - Sales past their end are closed.
    - Held claims whose order was cancelled or paid (the event handler failed) are closed.
    - Redis mode, for each sale in Redis: a pending reservation older than the grace period
      with no database claim is rolled back (the process died between the Lua reservation and
      the settlement: its units are sellable again); one whose claim exists only loses its
      pending record (died after settlement). Then `left` and the per-person counts are
      re-derived from the database plus the still-pending reservations, if they disagree.

    The database is the truth: it holds the orders, the money and the never-oversold CHECK;
    Redis is a fast gate in front of it that a restart, a flush or a crash can make stale.
    """
    report = ReconcileReport()
    report.closed = flash_sales_close_due()
    _repair_claims(report)
    engine = flash_engine()
    if engine is not None:
        repairs = gate_reconcile(engine, grace=dt.timedelta(seconds=older_than_seconds))
        report.rolled_back = repairs.rolled_back
        report.settled_cleared = repairs.settled_cleared
        report.rederived = repairs.rederived
    return report
