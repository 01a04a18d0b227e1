"""Group deals for tests, set up through the real services."""

from __future__ import annotations

import datetime as dt
from contextlib import AbstractContextManager
from typing import Any

from django.test import TestCase

from freshloop.core import clock
from freshloop.core.outbox import outbox_relay
from freshloop.groupbuy.deals.models import GroupDeal
from freshloop.groupbuy.deals.services import deal_create
from freshloop.identity.models import Person
from freshloop.payments.services import payment_sandbox_pay
from tests.factories import make_sku
from tests.groupbuy.factories import OPERATOR

LIST_PRICE_FEN = 4990
# 2 人 ¥39.9, 3 人 ¥35.9, 4 人 ¥29.9: small groups keep the cases readable.
TIERS = [
    {"size": 2, "price_fen": 3990},
    {"size": 3, "price_fen": 3590},
    {"size": 4, "price_fen": 2990},
]


def make_deal(*, stock: int = 100, quantity: int = 40, **overrides: Any) -> GroupDeal:
    """A running three-tier deal on a fresh SKU with `stock` units, `quantity` of them on deal."""
    fields: dict[str, Any] = {
        "title": "阳澄湖大闸蟹拼团",
        "sku_id": make_sku(price_fen=LIST_PRICE_FEN, stock=stock, name="大闸蟹").pk,
        "tiers": TIERS,
        "quantity": quantity,
        "group_minutes": 60,
        "starts_at": clock.now() - dt.timedelta(minutes=1),
        "ends_at": clock.now() + dt.timedelta(days=1),
        "actor": OPERATOR,
    }
    return deal_create(**(fields | overrides))


def pay(order_no: str, person: Person) -> None:
    """The buyer pays at the sandbox cashier (the whole way: payment, signed callback), and
    what its commit sets off runs (the group hears of it)."""
    with committed():
        payment_sandbox_pay(order_no=order_no, person_id=person.pk)


def committed() -> AbstractContextManager[Any]:
    """Run what a commit runs (after-commit handlers) when the block ends: a test's
    transaction never commits."""
    return TestCase.captureOnCommitCallbacks(execute=True)


def worker_runs() -> None:
    """The worker's relay delivers what is due (refund effects, then the payments module's
    refund submissions), each delivery's own after-commit work included."""
    for _ in range(3):
        with committed():
            outbox_relay()
