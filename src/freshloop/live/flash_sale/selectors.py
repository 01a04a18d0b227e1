"""Reads of flash sales: a sale, its effective status and units left, a buyer's price preview,
and a person's claims for the PIPL export."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from freshloop.core import clock
from freshloop.core.errors import NotFound
from freshloop.identity.models import Person
from freshloop.live.flash_sale.errors import FlashSaleNotFound
from freshloop.live.flash_sale.redis_stock import flash_engine
from freshloop.live.models import FlashSale, FlashSaleClaim, FlashSaleStatus, LiveSession
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutQuote,
    CheckoutRequest,
    SpecialPrice,
    checkout_preview,
)

FLASH_PRICE_LABEL = "直播秒杀价"


def flash_sale_get(*, flash_sale_id: int) -> FlashSale:
    sale = FlashSale.objects.select_related("session", "sku__product").filter(pk=flash_sale_id)
    found = sale.first()
    if found is None:
        raise FlashSaleNotFound(detail={"flash_sale_id": flash_sale_id})
    return found


def flash_sale_effective_status(sale: FlashSale, *, now: dt.datetime | None = None) -> str:
    """A running sale whose time is up is ended, whether or not the job has closed it yet."""
    moment = now or clock.now()
    if sale.status == FlashSaleStatus.RUNNING and moment >= sale.ends_at:
        return FlashSaleStatus.ENDED
    return sale.status


def flash_sale_remaining(sale: FlashSale) -> int:
    """Units still to be had. Redis mode reads the gate (it counts reservations being settled
    right now); the database figure is the settled one."""
    engine = flash_engine()
    if engine is not None and sale.status == FlashSaleStatus.RUNNING:
        left = engine.left(flash_sale_id=sale.pk)
        if left is not None:
            return left
    return max(0, sale.quantity - sale.claimed)


def flash_claims_export_section(person: Person) -> list[dict[str, Any]]:
    """PIPL export: the person's flash-sale claims (no personal data beyond the reference)."""
    return [
        {
            "claim_ref": claim.claim_ref,
            "session": claim.flash_sale.session.code,
            "sku_id": claim.flash_sale.sku_id,
            "price_fen": claim.flash_sale.price_fen,
            "quantity": claim.quantity,
            "order_ref": claim.order_ref,
            "status": claim.status,
            "created_at": claim.created_at.isoformat(),
        }
        for claim in FlashSaleClaim.objects.select_related("flash_sale__session")
        .filter(person=person)
        .order_by("pk")
    ]


def flash_sale_quote(
    *,
    session: LiveSession,
    flash_sale_id: int,
    person: Person,
    quantity: int,
    coupon_ids: Sequence[int] = (),
) -> CheckoutQuote:
    """What buying `quantity` at the flash price would cost (coupons and delivery included).
    A preview only: the price is granted for real when the claim succeeds."""
    sale = FlashSale.objects.filter(pk=flash_sale_id, session=session).first()
    if sale is None:
        raise NotFound("秒杀不存在", detail={"flash_sale_id": flash_sale_id})
    return checkout_preview(
        request=CheckoutRequest(
            person=person,
            channel="live",
            source_ref=session.code,
            items=[CheckoutItem(sku_id=sale.sku_id, quantity=quantity)],
            coupon_ids=list(coupon_ids),
            special_prices={
                sale.sku_id: SpecialPrice(
                    unit_price_fen=sale.price_fen,
                    label=FLASH_PRICE_LABEL,
                    ref=f"flash:{sale.pk}:preview",
                    max_quantity=sale.per_user_limit,
                )
            },
        )
    )


def flash_sale_pending_count(*, flash_sale_id: int) -> int:
    """Reservations taken at the Redis gate and not settled yet (0 without Redis)."""
    engine = flash_engine()
    return len(engine.pending(flash_sale_id=flash_sale_id)) if engine is not None else 0
