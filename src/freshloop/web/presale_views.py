"""Consumer H5 pages of presale 预售 (GB-4): the presale's card (deposit and what it is worth,
the price, the three windows in Shanghai time, units left, a countdown to the window that
matters now, 付定金 and — in the balance window — 付尾款 for the buyer's purchases), and the
buyer's own presales. Anyone may open a presale (reminders, shares and live rooms link to
it); paying needs a signed-in buyer. Every payment goes through /api/v1/groupbuy.

Also the live room's presale cards: `presale_room_offers` is registered with live's room
(`WebConfig.ready`) — web composes the two siblings, which never import each other."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from freshloop.core import clock
from freshloop.core.errors import DomainError
from freshloop.core.money import format_fen
from freshloop.groupbuy.presale.models import Presale, PresalePurchase, PresaleStatus
from freshloop.groupbuy.presale.selectors import (
    PresaleCard,
    presale_card_of,
    presale_cards_for_live_session,
    presale_get,
    purchases_of_person,
    purchases_of_person_in_presale,
)
from freshloop.identity.models import Person
from freshloop.orders.selectors import address_list_for_person
from freshloop.web.shop_views import _not_found, _person, consumer_page

MY_PRESALES_SHOWN = 50


@dataclass(frozen=True)
class Phase:
    """Where the presale stands at a moment: what the countdown counts down to."""

    code: str  # before_deposit | deposit | between | balance | over
    label: str  # the countdown's words: "距定金开始" …
    until: dt.datetime | None
    status_label: str  # what the presale is doing now, by the clock: "定金支付中" …


def presale_phase(presale: Presale, now: dt.datetime) -> Phase:
    """The window that matters now, by the clock (the job that moves `status` may run late)."""
    if presale.status in (PresaleStatus.ENDED, PresaleStatus.CANCELLED):
        label = presale.get_status_display()
        return Phase("over", label, None, label)
    if now < presale.deposit_starts_at:
        return Phase("before_deposit", "距定金开始", presale.deposit_starts_at, "未开始")
    if now < presale.deposit_ends_at:
        return Phase("deposit", "距定金截止", presale.deposit_ends_at, "定金支付中")
    if now < presale.balance_starts_at:
        return Phase("between", "距尾款开始", presale.balance_starts_at, "等待付尾款")
    if now < presale.balance_ends_at:
        return Phase("balance", "距尾款截止", presale.balance_ends_at, "尾款支付中")
    return Phase("over", "已结束", None, "已结束")


def _seconds_until(moment: dt.datetime | None, now: dt.datetime) -> int:
    return max(0, int((moment - now).total_seconds())) if moment is not None else 0


def deposit_worth_text(card: PresaleCard) -> str:
    """定金膨胀 in words: "¥10.00 抵 ¥30.00"."""
    return f"{format_fen(card.deposit_fen)} 抵 {format_fen(card.deposit_worth_fen)}"


def _purchase_row(purchase: PresalePurchase, phase: Phase) -> dict[str, Any]:
    """One purchase as the pages show it: the amounts, and what the buyer may do now."""
    quantity = purchase.quantity
    return {
        "purchase": purchase,
        "deposit_total_fen": purchase.deposit_unit_fen * quantity,
        "worth_total_fen": purchase.worth_unit_fen * quantity,
        "price_total_fen": (purchase.worth_unit_fen + purchase.balance_unit_fen) * quantity,
        "balance_total_fen": purchase.balance_unit_fen * quantity,
        "can_pay_deposit": purchase.status == "deposit_pending" and phase.code == "deposit",
        "can_pay_balance": purchase.status == "deposit_paid" and phase.code == "balance",
    }


def h5_presale(request: HttpRequest, presale_no: str) -> HttpResponse:
    try:
        presale = presale_get(presale_no=presale_no)
    except DomainError as error:
        return _not_found(request, error)
    now = clock.now()
    card = presale_card_of(presale, now=now)
    phase = presale_phase(presale, now)
    person = _person(request)
    purchases = (
        purchases_of_person_in_presale(person=person, presale=presale) if person is not None else []
    )
    return render(
        request,
        "web/h5/groupbuy/presale.html",
        {
            "presale": presale,
            "card": card,
            "worth_text": deposit_worth_text(card),
            "saved_fen": card.deposit_worth_fen - card.deposit_fen,
            "phase": phase,
            "seconds_left": _seconds_until(phase.until, now),
            "person": person,
            "addresses": address_list_for_person(person=person) if person is not None else [],
            "rows": [_purchase_row(purchase, phase) for purchase in purchases],
            "quantities": range(1, max(1, min(card.per_person_limit, card.remaining)) + 1),
        },
    )


@consumer_page
def h5_my_presales(request: HttpRequest, person: Person) -> HttpResponse:
    now = clock.now()
    _, purchases = purchases_of_person(person=person, limit=MY_PRESALES_SHOWN)
    rows = [_purchase_row(p, presale_phase(p.presale, now)) for p in purchases]
    return render(request, "web/h5/groupbuy/presales_mine.html", {"rows": rows})


def _action_label(card: PresaleCard, now: dt.datetime) -> str:
    if card.deposit_open_now:
        return "付定金"
    if now < card.deposit_starts_at:
        return "即将开始"
    if card.balance_starts_at <= now < card.balance_ends_at:
        return "付尾款"
    return "查看"


def presale_room_offers(session_code: str) -> list[dict[str, Any]]:
    """The live room's offer cards of the presales launched in `session_code` (the shape
    `live.room.selectors.RoomOfferSource` asks for)."""
    now = clock.now()
    return [
        {
            "key": f"presale:{card.presale_no}",
            "badge": "预售",
            "name": card.name,
            "image_url": card.image_url,
            "price_fen": card.price_fen,
            "list_price_fen": card.list_price_fen,
            "note": f"定金 {deposit_worth_text(card)} · 剩 {card.remaining} 件",
            "action_label": _action_label(card, now),
            "href": f"/m/groupbuy/presales/{card.presale_no}",
        }
        for card in presale_cards_for_live_session(session_code=session_code, now=now)
    ]
