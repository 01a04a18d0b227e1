"""Commission test set-up through the real services: leaders and their customers, orders
placed through checkout, paid and refunded through the orders module (the payments module's
calls made directly: the provider is the external edge)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.groupbuy.commission.models import LeaderOrder
from freshloop.groupbuy.commission.services import commission_rule_create
from freshloop.groupbuy.models import GroupLeader
from freshloop.groupbuy.services import customer_attach
from freshloop.identity.models import Person
from freshloop.orders.models import Order
from freshloop.orders.services import (
    order_payment_succeeded,
    order_refund_request,
    order_refund_succeeded,
    refund_request_approve,
)
from tests.factories import make_order, make_person, make_sku
from tests.groupbuy.factories import OPERATOR, make_leader

Committed = Callable[[], AbstractContextManager[Any]]
CS = Actor(type="user", id="7", label="cs-amy")


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Committed:
    """`with committed():` runs what the block queued for after commit (durable handlers)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def customer_of(leader: GroupLeader, person: Person | None = None) -> Person:
    person = person or make_person()
    customer_attach(person=person, invite_code=leader.invite_code, source="qr")
    return person


def recruited_by(recruiter: GroupLeader) -> GroupLeader:
    """An active leader who gave `recruiter`'s invite code when applying."""
    return make_leader(recruiter_invite_code=recruiter.invite_code)


def sku(price_fen: int = 10_000, *, category_code: str = "dairy") -> Sku:
    return make_sku(price_fen=price_fen, stock=100, category_code=category_code)


def paid_order(
    committed: Committed, person: Person, *items: tuple[Sku, int], channel: str = "groupbuy"
) -> Order:
    """An order placed through checkout and paid; OrderPaid's durable handlers have run."""
    order = make_order(person, *items, channel=channel)
    with committed():
        return order_payment_succeeded(
            order_no=order.order_no,
            amount_fen=order.total_fen,
            provider="sandbox",
            transaction_id=f"T{order.order_no}",
            paid_at=clock.now(),
        )


def refund(committed: Committed, order: Order, amount_fen: int) -> Order:
    """Refund `amount_fen` of a paid order: requested, approved, paid back; OrderRefunded's
    durable handlers have run."""
    request = order_refund_request(
        order_no=order.order_no, reason="商品有损坏", actor=CS, amount_fen=amount_fen
    )
    refund_request_approve(refund_no=request.refund_no, actor=CS)
    with committed():
        return order_refund_succeeded(
            order_no=order.order_no,
            refund_no=request.refund_no,
            amount_fen=amount_fen,
            refunded_at=clock.now(),
        )


def rule(depth: int, rate_bp: int, **fields: Any) -> Any:
    fields.setdefault("valid_from", clock.now() - dt.timedelta(days=1))
    return commission_rule_create(actor=OPERATOR, depth=depth, rate_bp=rate_bp, **fields)


def attributed(order: Order) -> LeaderOrder:
    return LeaderOrder.objects.get(order=order)
