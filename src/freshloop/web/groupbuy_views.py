"""Consumer H5 pages of group deals 拼团 (GB-3): the deal (tiers, groups to join, 开团), one
group's share card (who is in, the price now and at the next tier, a live countdown, 参团), and
the buyer's own groups. Anyone can open a deal or a card (it is what gets shared); taking a
place needs a signed-in buyer. Every change goes through /api/v1/groupbuy."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from django.shortcuts import render

from freshloop.core.errors import DomainError
from freshloop.groupbuy.deals.models import HOLDING_STATUSES, GroupDeal
from freshloop.groupbuy.deals.selectors import (
    deal_get,
    deal_open_groups,
    group_card,
    group_get,
    member_places,
)
from freshloop.groupbuy.selectors import leader_for_person
from freshloop.identity.models import Person
from freshloop.orders.selectors import address_list_for_person
from freshloop.web.shop_views import _not_found, _person, consumer_page


def _tiers(deal: GroupDeal, people: int) -> list[dict[str, object]]:
    """The price ladder, with the rung the group stands on marked."""
    reached = [tier for tier in deal.tiers if people >= int(tier["size"])]
    current = reached[-1]["size"] if reached else None
    return [
        {"size": tier["size"], "price_fen": tier["price_fen"], "current": tier["size"] == current}
        for tier in deal.tiers
    ]


def _buyer_context(request: HttpRequest) -> dict[str, object]:
    person = _person(request)
    return {
        "person": person,
        "addresses": address_list_for_person(person=person) if person is not None else [],
        # An active leader may open a group without buying, to share with their customers.
        "leader": leader_for_person(person=person) if person is not None else None,
    }


def h5_deal(request: HttpRequest, deal_no: str) -> HttpResponse:
    try:
        deal = deal_get(deal_no=deal_no)
    except DomainError as error:
        return _not_found(request, error)
    groups = [(group, group_card(group=group)) for group in deal_open_groups(deal=deal)]
    return render(
        request,
        "web/h5/groupbuy/deal.html",
        {
            "deal": deal,
            "tiers": _tiers(deal, 0),
            "groups": groups,
            "units_left": max(0, deal.quantity - deal.units_held),
            **_buyer_context(request),
        },
    )


def h5_group(request: HttpRequest, group_no: str) -> HttpResponse:
    try:
        group = group_get(group_no=group_no)
    except DomainError as error:
        return _not_found(request, error)
    card = group_card(group=group)
    buyer = _buyer_context(request)
    person = buyer["person"]
    return render(
        request,
        "web/h5/groupbuy/group.html",
        {
            "group": group,
            "deal": group.deal,
            "card": card,
            # The visitor's own place in this group, if any: they share it instead of joining.
            "my_place": next(
                (
                    place
                    for place in member_places(person=person)
                    if place.group_id == group.pk and place.status in HOLDING_STATUSES
                ),
                None,
            )
            if isinstance(person, Person)
            else None,
            "tiers": _tiers(group.deal, group.joined if group.final_price_fen else group.seats),
            "empty_places": range(max(0, group.deal.max_size - len(card.member_names))),
            **buyer,
        },
    )


@consumer_page
def h5_my_groups(request: HttpRequest, person: Person) -> HttpResponse:
    return render(request, "web/h5/groupbuy/mine.html", {"places": member_places(person=person)})
