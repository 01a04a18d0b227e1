"""Placing many orders in one transaction (a subscription run's orders): `order_create`'s rules
— the same item checks, idempotency keys, address, pricing, fresh-enough stock, timeline and
events — with the reads done once for the batch and the writes in bulk.

- **Reads once**: the SKUs of every request (per channel), the buyers' member benefits, the
  running campaigns (per channel), the orders already placed under the requests' keys.
- **Writes in bulk**: orders, lines, the stock reservation (`inventory.stock_reserve_planned`:
  one guarded UPDATE for every level the batch uses), reservations and movements, timeline
  rows. Each order's `OrderCreated` is published as `order_create` publishes it.
- **One by one** (through `order_create`, in the same transaction): a request that needs what
  only that path does (a whole-cart checkout, coupons, points, a block draw, a saved address by
  id), one whose price charges a campaign budget, a second request under a key already in the
  batch — and every request of the batch if the bulk write meets a race (another checkout took
  the units the plan counted on, or placed an order under one of the keys): the bulk write is
  rolled back to its savepoint and each order then meets its own `OutOfStock` or retry answer.

Every request gets what `order_create` would answer: `OrderCreateResult` (created, or the order
an earlier attempt placed under its key) or the `DomainError` that refused it.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TypeAlias

from django.db import IntegrityError, transaction

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.errors import DomainError
from freshloop.core.events import publish
from freshloop.core.ids import new_id
from freshloop.inventory.errors import OutOfStock, StockPlanStale
from freshloop.inventory.services import (
    OrderStock,
    StockPlan,
    stock_plan_many,
    stock_reserve_planned,
)
from freshloop.membership import services as membership
from freshloop.orders import events
from freshloop.orders.models import Order, OrderEvent, OrderLine, OrderStatus
from freshloop.orders.pricing import CheckoutQuote, checkout_quote, pricing_member
from freshloop.orders.services import (
    CheckoutRequest,
    OrderCreateResult,
    _order_address,
    _request_fingerprint,
    _resolve_items,
    _sellable_skus_read,
    order_create,
    order_line_rows,
    order_row,
)
from freshloop.orders.timeline import (
    PLACED_BY,
    PLACED_NOTE,
    answer_from_written,
    event_base,
    timeline_row,
)
from freshloop.promotions.selectors import campaigns_active

Outcome: TypeAlias = OrderCreateResult | DomainError


@dataclass
class _Priced:
    index: int
    request: CheckoutRequest
    items: list[tuple[Sku, int]]
    address: dict[str, str]
    fingerprint: str
    quote: CheckoutQuote
    order_no: str = ""
    short: list[dict[str, object]] | None = None


def _one_by_one(request: CheckoutRequest) -> bool:
    return bool(
        request.items is None
        or request.coupon_ids
        or request.points
        or request.stock_blocks
        or request.address_id is not None
        or request.on_written is not None
        or len(request.idempotency_key) > 64
    )


def _placed(request: CheckoutRequest) -> Outcome:
    """`order_create` for one request, its refusal as the outcome (the batch goes on)."""
    try:
        with transaction.atomic():
            return order_create(request=request)
    except DomainError as error:
        return error


def orders_create_many(*, requests: Sequence[CheckoutRequest]) -> list[Outcome]:
    """Each request's `OrderCreateResult`, or the `DomainError` that refused it, in order."""
    outcomes: list[Outcome | None] = [None] * len(requests)
    with transaction.atomic():
        later: list[int] = []
        priced = _priced(requests, outcomes, later)
        plan = _stock_plan(priced)
        try:
            with transaction.atomic():
                written, refused = _written(priced, plan)
        except (StockPlanStale, IntegrityError):
            later = sorted(later + [entry.index for entry in priced])
        else:
            for entry, order in written:
                outcomes[entry.index] = OrderCreateResult(order, created=True)
            for entry in refused:
                outcomes[entry.index] = OutOfStock(detail={"skus": entry.short})
        for index in later:
            outcomes[index] = _placed(requests[index])
    assert all(outcome is not None for outcome in outcomes)
    return [outcome for outcome in outcomes if outcome is not None]


def _priced(
    requests: Sequence[CheckoutRequest], outcomes: list[Outcome | None], later: list[int]
) -> list[_Priced]:
    """Check and price the batch's plain requests (reads shared); fill in refusals and
    earlier orders, and list in `later` what goes one by one."""
    plain = [i for i, request in enumerate(requests) if not _one_by_one(request)]
    later.extend(i for i, request in enumerate(requests) if _one_by_one(request))
    earlier = _earlier_orders([requests[i] for i in plain])
    known: dict[str, dict[int, Sku]] = {}
    campaigns = {}
    for channel in {requests[i].channel for i in plain}:
        sku_ids = {
            item.sku_id
            for i in plain
            if requests[i].channel == channel
            for item in requests[i].items or ()
        }
        known[channel] = _sellable_skus_read(sorted(sku_ids), channel)
        campaigns[channel] = campaigns_active(channel=channel, now=clock.now())
    members = {
        person_id: pricing_member(benefits)
        for person_id, benefits in membership.member_benefits_many(
            person_ids=[requests[i].person.pk for i in plain]
        ).items()
    }
    now = clock.now()
    seen_keys: set[tuple[int, str]] = set()
    priced: list[_Priced] = []
    for index in plain:
        request = requests[index]
        key = (request.person.pk, request.idempotency_key)
        if request.idempotency_key and (key in earlier or key in seen_keys):
            later.append(index)  # order_create answers the retry (or IdempotencyKeyReused)
            continue
        seen_keys.add(key)
        try:
            items = _resolve_items(request, known=known.get(request.channel))
            address = _order_address(request)
            quote = checkout_quote(
                person=request.person,
                items=items,
                channel=request.channel,
                source_ref=request.source_ref,
                coupon_ids=[],
                points=0,
                now=now,
                special_prices=request.special_prices,
                need_balance=False,
                province=address["province"],
                member=members.get(request.person.pk),
                campaigns=campaigns[request.channel],
                ships=request.ships,
            )
            quote.raise_for_rejections()
        except DomainError as error:
            outcomes[index] = error
            continue
        if quote.campaign_charges:
            later.append(index)  # a campaign budget is charged under its own lock
            continue
        fingerprint = _request_fingerprint({sku.pk: qty for sku, qty in items}, request)
        priced.append(_Priced(index, request, items, address, fingerprint, quote))
    return priced


def _earlier_orders(requests: Sequence[CheckoutRequest]) -> set[tuple[int, str]]:
    """(person, key) pairs that already have an order: those requests are retries."""
    keyed = [r for r in requests if r.idempotency_key]
    if not keyed:
        return set()
    return set(
        Order.objects.filter(
            person_id__in={r.person.pk for r in keyed},
            idempotency_key__in={r.idempotency_key for r in keyed},
        ).values_list("person_id", "idempotency_key")
    )


def _stock_plan(priced: list[_Priced]) -> StockPlan:
    """Where each priced order's lines would be reserved (a read; `_Priced.order_no` keys it)."""
    for entry in priced:
        entry.order_no = new_id("O")
    return stock_plan_many(
        [
            OrderStock(
                order_ref=entry.order_no,
                lines=entry.items,
                province=entry.address["province"],
                channel=entry.request.channel,
            )
            for entry in priced
        ]
    )


def _written(
    priced: list[_Priced], plan: StockPlan
) -> tuple[list[tuple[_Priced, Order]], list[_Priced]]:
    """Reserve and write the priced orders as planned. Returns the orders written, and the
    requests the stock cannot serve (each refused with `OutOfStock` naming its SKUs, as
    `stock_reserve` would; nothing is written for them)."""
    refused = [entry for entry in priced if entry.order_no in plan.short]
    served = [entry for entry in priced if entry.order_no not in plan.short]
    now = clock.now()
    orders = Order.objects.bulk_create(
        [
            order_row(e.request, e.quote, e.address, e.fingerprint, order_no=e.order_no, now=now)
            for e in served
        ],
        batch_size=500,
    )
    lines = OrderLine.objects.bulk_create(
        [
            row
            for order, e in zip(orders, served, strict=True)
            for row in order_line_rows(order, e.quote)
        ],
        batch_size=1000,
    )
    stock_reserve_planned(plan, expires_at={order.order_no: order.expires_at for order in orders})
    timeline = OrderEvent.objects.bulk_create(
        [
            timeline_row(order, OrderStatus.PENDING_PAYMENT, note=PLACED_NOTE, actor=PLACED_BY)
            for order in orders
        ],
        batch_size=1000,
    )
    lines_of: dict[int, list[OrderLine]] = defaultdict(list)
    for line in lines:
        lines_of[line.order_id].append(line)
    for order, row in zip(orders, timeline, strict=True):
        publish(events.OrderCreated(**event_base(order), total_fen=order.total_fen))
        answer_from_written(order, lines=lines_of[order.pk], timeline=[row])
    for entry in refused:
        entry.short = plan.short[entry.order_no]
    return list(zip(served, orders, strict=True)), refused
