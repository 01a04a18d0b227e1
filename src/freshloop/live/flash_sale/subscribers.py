"""How flash sales follow the rest: a claim's order paid or cancelled (the units come back on a
cancel), a OneID merge moves the claims, and the PIPL export lists them."""

from __future__ import annotations

from django.db import transaction

from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import subscribe
from freshloop.identity.events import IdentityMerged
from freshloop.identity.services import register_export_section
from freshloop.live.flash_sale.claims import flash_sale_claims_paid, flash_sale_claims_release
from freshloop.live.flash_sale.selectors import flash_claims_export_section
from freshloop.live.models import FlashSaleClaim
from freshloop.orders.events import OrderCancelled, OrderPaid


@subscribe(OrderCancelled)
def claims_released_with_order(event: OrderCancelled) -> None:
    if event.channel == "live":
        flash_sale_claims_release(
            order_no=event.order_no, actor=Actor.system("live.flash_sale.order_cancelled")
        )


@subscribe(OrderPaid)
def claims_paid_with_order(event: OrderPaid) -> None:
    if event.channel == "live":
        flash_sale_claims_paid(
            order_no=event.order_no, actor=Actor.system("live.flash_sale.order_paid")
        )


@subscribe(IdentityMerged, durable=True)
def claims_follow_merge(event: IdentityMerged) -> None:
    with transaction.atomic():
        moved = FlashSaleClaim.objects.filter(person_id=event.from_person_id).update(
            person_id=event.into_person_id
        )
        if moved:
            audit_record(
                actor=Actor.system("live.identity_merged"),
                action="live.flash_sale.claims_repoint",
                target_type="live.FlashSaleClaim",
                target_id=str(event.into_person_id),
                before={"person_id": event.from_person_id},
                after={"person_id": event.into_person_id, "claims": moved},
            )
    # Redis counts per person id: the next reconcile re-derives them from the database.


register_export_section("flash_sale_claims", flash_claims_export_section)
