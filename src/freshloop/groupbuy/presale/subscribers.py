"""What presale reacts to: its orders being paid or cancelled.

In-transaction handlers: they run inside the transaction that pays or cancels the order, so
the purchase's state commits (or rolls back) with the order's — no crash can separate them
and no outbox row is needed. They touch only presale's own rows with conditional UPDATEs, and
return at once for any order that is not a presale's (channel and source_ref say so).
"""

from __future__ import annotations

from freshloop.core import clock
from freshloop.core.events import subscribe
from freshloop.groupbuy.presale import closing  # noqa: F401  (registers the refund effect)
from freshloop.groupbuy.presale.locks import presale_units_give_back
from freshloop.groupbuy.presale.models import PresalePurchase, PurchaseStatus
from freshloop.orders.events import OrderCancelled, OrderEventBase, OrderPaid, OrderRefunded

PRESALE_REF_PREFIX = "PS_"


def _is_presale_order(event: OrderEventBase) -> bool:
    return event.channel == "groupbuy" and event.source_ref.startswith(PRESALE_REF_PREFIX)


@subscribe(OrderPaid, in_transaction=True)
def presale_order_paid(event: OrderPaid) -> None:
    """A deposit paid → the purchase waits for its balance; a balance paid → it is complete."""
    if not _is_presale_order(event):
        return
    now = clock.now()
    deposit = PresalePurchase.objects.filter(
        deposit_order_no=event.order_no, status=PurchaseStatus.DEPOSIT_PENDING
    ).update(status=PurchaseStatus.DEPOSIT_PAID, deposit_paid_at=now)
    if deposit:
        return
    PresalePurchase.objects.filter(
        balance_order_no=event.order_no, status=PurchaseStatus.DEPOSIT_PAID
    ).update(status=PurchaseStatus.BALANCE_PAID, balance_paid_at=now, closed_at=now)


@subscribe(OrderCancelled, in_transaction=True)
def presale_order_cancelled(event: OrderCancelled) -> None:
    """An unpaid deposit order cancelled (by the buyer, or timed out) → the purchase is
    cancelled and its units count no more, so another buyer can take them (the order's
    reservation went back into the block with the cancellation). A cancelled balance order
    changes nothing here: the deposit stands and the buyer may try again in the window."""
    if not _is_presale_order(event):
        return
    purchase = (
        PresalePurchase.objects.filter(
            deposit_order_no=event.order_no, status=PurchaseStatus.DEPOSIT_PENDING
        )
        .values_list("pk", "presale_id", "quantity")
        .first()
    )
    if purchase is None:
        return
    pk, presale_id, quantity = purchase
    moved = PresalePurchase.objects.filter(pk=pk, status=PurchaseStatus.DEPOSIT_PENDING).update(
        status=PurchaseStatus.CANCELLED, closed_at=clock.now()
    )
    if moved:
        presale_units_give_back(presale_id=presale_id, quantity=quantity)


@subscribe(OrderRefunded, in_transaction=True)
def presale_deposit_refunded(event: OrderRefunded) -> None:
    """A paid deposit refunded in full before the presale closed (customer service) → the
    purchase is cancelled: no balance can be paid on a deposit that went back, and its units
    count no more (orders released the deposit's reservation with the refund). A refund the
    closing itself asked for finds the purchase already refunded and changes nothing."""
    if not event.fully or not _is_presale_order(event):
        return
    purchase = (
        PresalePurchase.objects.filter(
            deposit_order_no=event.order_no, status=PurchaseStatus.DEPOSIT_PAID
        )
        .values_list("pk", "presale_id", "quantity")
        .first()
    )
    if purchase is None:
        return
    pk, presale_id, quantity = purchase
    moved = PresalePurchase.objects.filter(pk=pk, status=PurchaseStatus.DEPOSIT_PAID).update(
        status=PurchaseStatus.CANCELLED, closed_at=clock.now()
    )
    if moved:
        presale_units_give_back(presale_id=presale_id, quantity=quantity)
