"""Subscriptions paid by contract (FD-1: 委托代扣 / 周期扣款): when a subscription's order is
placed, the customer is told it will be charged, and a durable effect charges it.

The charge is an effect (`core.effects`: an outbox row written in the order's transaction), so
a process killed at any instant loses no charge and makes none twice:

1. stage "notice": the provider's pre-debit notice (预扣费通知, WeChat Pay requires it), then
   the charge is scheduled `FOOD_SUBSCRIPTION_CONTRACT_CHARGE_DELAY` later (0 by default; a
   WeChat merchant on 通知后24小时扣费 sets 24 h), inside the provider's charging hours;
2. stage "charge": `payments.contract_charge`, idempotent per order (one contract payment,
   one provider out_trade_no). Outside the charging hours it is scheduled again for when
   they open. A refusal (余额不足, contract ended) sends the customer the pay-now message: the
   order waits for them like any subscription order, and if it expires unpaid the job's
   retries and automatic pause apply as for pay-now subscriptions. Nothing ships unpaid:
   only a paid order is allocated.
"""

from __future__ import annotations

import datetime as dt
import logging
from typing import Any

from django.conf import settings
from django.db import transaction

from freshloop.core import clock
from freshloop.core.effects import effect_consumer, effect_enqueue
from freshloop.food.errors import SubscriptionInvalid
from freshloop.food.models import Subscription, SubscriptionPayment
from freshloop.identity.models import Person
from freshloop.messaging.services import TransactionalSend, transactional_send
from freshloop.orders.errors import OrderNotFound
from freshloop.orders.models import Order
from freshloop.payments.errors import ContractNotFound, ContractsUnsupported
from freshloop.payments.models import ContractStatus, PaymentContract
from freshloop.payments.selectors import contract_active_for
from freshloop.payments.services import (
    contract_charge,
    contract_pre_debit_notify,
    next_charge_time,
)

logger = logging.getLogger(__name__)

CHARGE_EFFECT = "food.subscription_charge"
MESSAGE_CHANNEL = "in_app"
# A contract order waits longer for its money than a pay-now one: the charge may wait for the
# provider's charging hours (overnight) and, after a refusal, the customer still has a day.
CONTRACT_PAYMENT_WINDOW = dt.timedelta(hours=36)


def charge_delay() -> dt.timedelta:
    return dt.timedelta(
        hours=float(getattr(settings, "FOOD_SUBSCRIPTION_CONTRACT_CHARGE_DELAY", 0))
    )


def _invalid_payment(message: str) -> SubscriptionInvalid:
    return SubscriptionInvalid(
        message, detail={"fields": [{"field": "payment_method", "message": message}]}
    )


def payment_contract_resolve(
    person: Person, payment_method: str, contract_no: str | None
) -> PaymentContract | None:
    """The contract a subscription with `payment_method` charges under: the customer's active
    one (the named one, else the one signed last). Contract payment without one is refused."""
    if payment_method not in SubscriptionPayment.values:
        raise _invalid_payment("暂不支持该付款方式")
    if payment_method != SubscriptionPayment.CONTRACT:
        return None
    contract = contract_active_for(person_id=person.pk, contract_no=contract_no)
    if contract is None:
        raise _invalid_payment("请先开通自动扣款（免密支付）")
    return contract


def charges_by_contract(subscription: Subscription) -> bool:
    """Whether the subscription's next order is charged by contract. A contract the customer
    ended (here or at the provider) leaves the subscription on pay-now until they sign again."""
    contract = subscription.payment_contract
    return (
        subscription.payment_method == SubscriptionPayment.CONTRACT
        and contract is not None
        and contract.status == ContractStatus.ACTIVE
    )


def contract_charge_schedule(subscription: Subscription, order: Order) -> TransactionalSend:
    """In the order's transaction: the durable charge effect, and the notice to the customer
    (what is charged, when, and that they can still skip or pay another way)."""
    contract = subscription.payment_contract
    assert contract is not None
    effect_enqueue(
        name=CHARGE_EFFECT,
        payload={
            "stage": "notice",
            "order_no": order.order_no,
            "contract_no": contract.contract_no,
            "subscription_no": subscription.subscription_no,
        },
        dedupe_key=f"{CHARGE_EFFECT}:{order.order_no}:notice",
    )
    return TransactionalSend(
        person_id=subscription.person_id,
        payload={
            "title": "订阅订单将自动扣款",
            "body": (
                f"您订阅的{subscription.title}已下单，将通过{contract.get_provider_display()}"
                f"自动扣款 ¥{order.total_fen / 100:.2f}，扣款成功后发货。"
            ),
            "url": f"/m/orders/{order.order_no}",
        },
        purpose="food_subscription_charge_notice",
        source=f"subscription:{subscription.subscription_no}",
        dedupe_key=f"food.sub.charge_notice:{order.order_no}",
    )


def _schedule(payload: dict[str, Any], *, stage: str, due_at: dt.datetime) -> None:
    with transaction.atomic():
        effect_enqueue(
            name=CHARGE_EFFECT,
            payload={**payload, "stage": stage},
            # One row per stage and time: a rerun of this step writes nothing new.
            dedupe_key=f"{CHARGE_EFFECT}:{payload['order_no']}:{stage}:{due_at:%Y%m%d%H%M}",
            due_at=due_at,
        )


def _pay_by_hand(payload: dict[str, Any], reason: str) -> None:
    order = Order.objects.filter(order_no=payload["order_no"]).first()
    if order is None:
        return
    deadline = clock.to_shanghai(order.expires_at) if order.expires_at else None
    until = f"请在 {deadline:%m-%d %H:%M} 前" if deadline else "请尽快"
    transactional_send(
        person_id=order.person_id,
        channel=MESSAGE_CHANNEL,
        payload={
            "title": "订阅订单自动扣款未成功",
            "body": f"自动扣款未成功：{reason}。{until}手动付款，付款后发货。",
            "url": f"/m/orders/{order.order_no}",
        },
        purpose="food_subscription_pay",
        source=f"subscription:{payload.get('subscription_no', '')}",
        dedupe_key=f"food.sub.pay:{order.order_no}",
    )


@effect_consumer(CHARGE_EFFECT, background=True)
def _charge_effect(payload: dict[str, Any]) -> None:
    """Deliver one stage of a contract charge (see the module docstring). Raising makes the
    relay retry with back-off: a provider that cannot be reached is asked again later."""
    order_no = str(payload["order_no"])
    contract_no = str(payload["contract_no"])
    now = clock.now()
    if payload.get("stage") == "notice":
        try:
            notice_at = contract_pre_debit_notify(order_no=order_no, contract_no=contract_no)
        except (ContractsUnsupported, OrderNotFound):
            notice_at = None  # the charge stage finds out and tells the customer
        if notice_at is not None:  # outside the provider's hours: the notice waits too
            _schedule(payload, stage="notice", due_at=notice_at)
            return
        _schedule(payload, stage="charge", due_at=now + charge_delay())
        return
    try:
        outcome = contract_charge(order_no=order_no, contract_no=contract_no)
    except (ContractNotFound, ContractsUnsupported, OrderNotFound) as error:
        logger.warning("contract charge of %s cannot be made: %s", order_no, error.code)
        _pay_by_hand(payload, error.message)
        return
    if outcome.status == "deferred" and outcome.retry_at is not None:
        _schedule(payload, stage="charge", due_at=outcome.retry_at)
    elif outcome.status == "refused":
        _pay_by_hand(payload, outcome.message or "渠道拒绝扣款")
    logger.info("contract charge of %s: %s %s", order_no, outcome.status, outcome.code)


__all__ = [
    "CHARGE_EFFECT",
    "CONTRACT_PAYMENT_WINDOW",
    "charges_by_contract",
    "contract_charge_schedule",
    "next_charge_time",
    "payment_contract_resolve",
]
