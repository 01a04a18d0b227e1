"""Row locks of presale (GB-4). Order of locks across tables, always: a purchase row, then an
order (orders' own lock), then the presale row — the presale's row last, held only from the
counter's UPDATE to the commit, because every deposit of a presale writes it."""

from __future__ import annotations

from django.db.models import F

from freshloop.groupbuy.presale.errors import PresaleNotFound, PresalePurchaseNotFound
from freshloop.groupbuy.presale.models import Presale, PresalePurchase, PresaleStatus


def presale_lock(presale_no: str) -> Presale:
    """One presale, locked: an operator's edit or cancel and the closing job take turns."""
    presale = (
        Presale.objects.select_for_update().select_related("sku").filter(presale_no=presale_no)
    ).first()
    if presale is None:
        raise PresaleNotFound(detail={"presale_no": presale_no})
    return presale


def purchase_lock(purchase_no: str) -> PresalePurchase:
    """One buyer's purchase, locked: two balance payments, or a payment and the closing job,
    decide one after the other on the purchase's current state."""
    purchase = (
        PresalePurchase.objects.select_for_update()
        .select_related("presale", "presale__sku")
        .filter(purchase_no=purchase_no)
        .first()
    )
    if purchase is None:
        raise PresalePurchaseNotFound(detail={"purchase_no": purchase_no})
    return purchase


def presale_units_take(*, presale_id: int, quantity: int) -> bool:
    """Count `quantity` more units against the presale if it still has them and still takes
    deposits. One conditional UPDATE: it locks the presale's row until the caller's commit, so
    every deposit of one presale passes here one at a time and the counter never passes
    `quantity` (what keeps a presale from being oversold)."""
    return (
        Presale.objects.filter(
            pk=presale_id,
            status__in=(PresaleStatus.DRAFT, PresaleStatus.DEPOSIT_OPEN),
            units_taken__lte=F("quantity") - quantity,
        ).update(units_taken=F("units_taken") + quantity)
        > 0
    )


def presale_units_give_back(*, presale_id: int, quantity: int) -> None:
    """A cancelled, unpaid deposit's units count no more (the caller moved its purchase out
    of the counted statuses in the same transaction, exactly once)."""
    Presale.objects.filter(pk=presale_id, units_taken__gte=quantity).update(
        units_taken=F("units_taken") - quantity
    )
