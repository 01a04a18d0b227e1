"""Reads of presale (GB-4). A buyer's reads take the signed-in person and filter by them: no
selector answers another buyer's purchase."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db.models import Q

from freshloop.catalog.selectors import sku_picture
from freshloop.core import clock
from freshloop.groupbuy.presale.errors import PresaleNotFound, PresalePurchaseNotFound
from freshloop.groupbuy.presale.models import (
    PRESALE_RUNNING,
    Presale,
    PresalePurchase,
    PresaleStatus,
)
from freshloop.identity.models import Person


def presale_get(*, presale_no: str) -> Presale:
    presale = (
        Presale.objects.select_related("sku", "sku__product").filter(presale_no=presale_no).first()
    )
    if presale is None:
        raise PresaleNotFound(detail={"presale_no": presale_no})
    return presale


def presale_image_url(presale: Presale) -> str:
    """The card's picture: the operator's, else the SKU's first picture, else none."""
    if presale.image_url:
        return presale.image_url
    picture = sku_picture(presale.sku)
    return picture.url if picture is not None else ""


@dataclass(frozen=True)
class PresaleCard:
    """What a product card shows for a presale (the live room's, the H5 share card's).
    Money in fen; times aware UTC (the page shows them in Shanghai time)."""

    presale_no: str
    name: str
    image_url: str
    status: str
    status_label: str
    list_price_fen: int
    price_fen: int
    deposit_fen: int
    deposit_worth_fen: int
    balance_fen: int
    deposit_refundable: bool
    deposit_starts_at: dt.datetime
    deposit_ends_at: dt.datetime
    balance_starts_at: dt.datetime
    balance_ends_at: dt.datetime
    delivery_from: dt.date
    delivery_to: dt.date
    per_person_limit: int
    quantity: int
    remaining: int
    deposit_open_now: bool


def presale_card(*, presale_no: str, now: dt.datetime | None = None) -> PresaleCard:
    """The card's data of one presale; `deposit_open_now` says whether its button takes a
    deposit at `now` (the deposit API decides again)."""
    return presale_card_of(presale_get(presale_no=presale_no), now=now)


def presale_card_of(presale: Presale, *, now: dt.datetime | None = None) -> PresaleCard:
    """`presale_card` of a presale already loaded."""
    moment = now or clock.now()
    return PresaleCard(
        presale_no=presale.presale_no,
        name=presale.name,
        image_url=presale_image_url(presale),
        status=presale.status,
        status_label=presale.get_status_display(),
        list_price_fen=presale.list_price_fen,
        price_fen=presale.price_fen,
        deposit_fen=presale.deposit_fen,
        deposit_worth_fen=presale.deposit_worth_fen,
        balance_fen=presale.balance_unit_fen,
        deposit_refundable=presale.deposit_refundable,
        deposit_starts_at=presale.deposit_starts_at,
        deposit_ends_at=presale.deposit_ends_at,
        balance_starts_at=presale.balance_starts_at,
        balance_ends_at=presale.balance_ends_at,
        delivery_from=presale.delivery_from,
        delivery_to=presale.delivery_to,
        per_person_limit=presale.per_person_limit,
        quantity=presale.quantity,
        remaining=max(0, presale.quantity - presale.units_taken),
        deposit_open_now=(
            presale.status in (PresaleStatus.DRAFT, PresaleStatus.DEPOSIT_OPEN)
            and presale.deposit_starts_at <= moment < presale.deposit_ends_at
            and presale.units_taken < presale.quantity
        ),
    )


def presale_cards_for_live_session(
    *, session_code: str, now: dt.datetime | None = None
) -> list[PresaleCard]:
    """The cards of the running presales launched in a live session, the one whose deposit
    opens first first. Ended and cancelled presales drop out by themselves."""
    if not session_code:
        return []
    rows = (
        Presale.objects.select_related("sku", "sku__product")
        .filter(live_session_code=session_code, status__in=PRESALE_RUNNING)
        .order_by("deposit_starts_at", "pk")
    )
    return [presale_card_of(presale, now=now) for presale in rows]


def presales_list(
    *, status: str | None = None, limit: int = 20, offset: int = 0
) -> tuple[int, list[Presale]]:
    """Operators' list, newest first."""
    rows = Presale.objects.select_related("sku", "sku__product")
    if status:
        rows = rows.filter(status=status)
    return rows.count(), list(rows.order_by("-id")[offset : offset + limit])


def purchases_of_person(
    *, person: Person, limit: int = 20, offset: int = 0
) -> tuple[int, list[PresalePurchase]]:
    """The signed-in buyer's own purchases, newest first."""
    rows = PresalePurchase.objects.select_related("presale").filter(person=person)
    return rows.count(), list(rows.order_by("-id")[offset : offset + limit])


def purchases_of_person_in_presale(*, person: Person, presale: Presale) -> list[PresalePurchase]:
    """The signed-in buyer's own purchases of one presale, newest first."""
    return list(
        PresalePurchase.objects.select_related("presale")
        .filter(person=person, presale=presale)
        .order_by("-id")
    )


def purchase_of_person(*, person: Person, purchase_no: str) -> PresalePurchase:
    """One of the buyer's own purchases; another buyer's answers as unknown."""
    purchase = (
        PresalePurchase.objects.select_related("presale")
        .filter(person=person, purchase_no=purchase_no)
        .first()
    )
    if purchase is None:
        raise PresalePurchaseNotFound(detail={"purchase_no": purchase_no})
    return purchase


def purchase_of_person_for_order(*, person: Person, order_no: str) -> PresalePurchase | None:
    """The buyer's own presale purchase that `order_no` is the deposit or the balance order of
    (the order page links the two); None for any other order, or another buyer's."""
    return (
        PresalePurchase.objects.select_related("presale")
        .filter(person=person)
        .filter(Q(deposit_order_no=order_no) | Q(balance_order_no=order_no))
        .first()
    )
