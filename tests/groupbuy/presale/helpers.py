"""Presale test set-up through the real services: a presale on a fresh SKU, deposits and
balances placed and paid as a buyer would (the payment confirmed by orders' own service)."""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
from typing import Any

from freshloop.catalog.models import Sku
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.groupbuy.presale.models import Presale, PresalePurchase
from freshloop.groupbuy.presale.services import (
    PresaleTerms,
    presale_balance_pay,
    presale_create,
    presale_deposit_pay,
)
from freshloop.identity.models import Person
from freshloop.orders.models import Order
from freshloop.orders.services import order_payment_succeeded
from tests.factories import ADDRESS, make_sku

OPERATOR = Actor(type="user", id="1", label="ops-lily")
UTC = dt.UTC
T0 = dt.datetime(2026, 12, 10, 2, 0, tzinfo=UTC)
"""The moment a presale is created (10:00 in Shanghai)."""
DEPOSIT_STARTS = T0 + dt.timedelta(hours=1)
DEPOSIT_ENDS = T0 + dt.timedelta(days=2)
BALANCE_STARTS = T0 + dt.timedelta(days=3)
BALANCE_ENDS = T0 + dt.timedelta(days=5)
IN_DEPOSIT = DEPOSIT_STARTS + dt.timedelta(hours=1)
IN_BALANCE = BALANCE_STARTS + dt.timedelta(hours=1)
AFTER_BALANCE = BALANCE_ENDS + dt.timedelta(minutes=1)

LIST_FEN = 12900
PRICE_FEN = 9900
DEPOSIT_FEN = 1000
WORTH_FEN = 3000
_keys = itertools.count(1)
_transactions = itertools.count(1)


def terms(sku: Sku, **overrides: Any) -> PresaleTerms:
    """List ¥129, presale ¥99, deposit ¥10 worth ¥30, so the balance is ¥69 a unit."""
    base = PresaleTerms(
        name="阳澄湖大闸蟹预售",
        sku_id=sku.pk,
        quantity=10,
        price_fen=PRICE_FEN,
        deposit_fen=DEPOSIT_FEN,
        deposit_worth_fen=WORTH_FEN,
        deposit_starts_at=DEPOSIT_STARTS,
        deposit_ends_at=DEPOSIT_ENDS,
        balance_starts_at=BALANCE_STARTS,
        balance_ends_at=BALANCE_ENDS,
        delivery_from=dt.date(2026, 12, 16),
        delivery_to=dt.date(2026, 12, 20),
        per_person_limit=2,
    )
    return dataclasses.replace(base, **overrides)


def make_presale_sku(stock: int = 30) -> Sku:
    return make_sku(price_fen=LIST_FEN, stock=stock, name="大闸蟹礼盒")


def make_presale(sku: Sku | None = None, **overrides: Any) -> Presale:
    with clock.frozen(T0):
        return presale_create(terms=terms(sku or make_presale_sku(), **overrides), actor=OPERATOR)


def deposit(
    presale: Presale,
    person: Person,
    quantity: int = 1,
    *,
    key: str = "",
    at: dt.datetime = IN_DEPOSIT,
) -> PresalePurchase:
    """Place a deposit order as a request would (the presale read fresh)."""
    with clock.frozen(at):
        return presale_deposit_pay(
            presale=Presale.objects.get(pk=presale.pk),
            person=person,
            quantity=quantity,
            address=dict(ADDRESS),
            idempotency_key=key or f"presale-key-{next(_keys)}",
        ).purchase


def pay(order_no: str, *, at: dt.datetime) -> Order:
    order = Order.objects.get(order_no=order_no)
    with clock.frozen(at):
        return order_payment_succeeded(
            order_no=order_no,
            amount_fen=order.total_fen,
            provider="sandbox",
            transaction_id=f"sandbox-{next(_transactions)}",
            paid_at=at,
        )


def paid_deposit(presale: Presale, person: Person, quantity: int = 1) -> PresalePurchase:
    purchase = deposit(presale, person, quantity)
    pay(purchase.deposit_order_no, at=IN_DEPOSIT)
    return PresalePurchase.objects.get(pk=purchase.pk)


def balance(purchase: PresalePurchase, *, at: dt.datetime = IN_BALANCE) -> Order:
    with clock.frozen(at):
        return presale_balance_pay(purchase_no=purchase.purchase_no, person=purchase.person).order


def fresh(purchase: PresalePurchase) -> PresalePurchase:
    return PresalePurchase.objects.get(pk=purchase.pk)
