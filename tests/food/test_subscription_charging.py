"""Subscriptions paid by contract (委托代扣): the order's charge is a durable effect, a refusal
falls back to the pay-now message, and a crash at any step charges once."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.models import OutboxMessage, OutboxStatus
from freshloop.core.outbox import outbox_relay
from freshloop.food import subscription_charging
from freshloop.food.errors import SubscriptionInvalid
from freshloop.food.models import (
    Subscription,
    SubscriptionDelivery,
    SubscriptionDeliveryStatus,
    SubscriptionPayment,
    SubscriptionStatus,
)
from freshloop.food.services import (
    SubscriptionLineIn,
    subscription_create,
    subscription_payment_change,
    subscriptions_run,
)
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.messaging.models import MarketingDispatch
from freshloop.orders.models import Order, OrderStatus
from freshloop.orders.services import orders_expire_unpaid
from freshloop.payments.models import Payment, PaymentContract, PaymentStatus
from freshloop.payments.providers import ProviderUnavailable, payment_provider
from freshloop.payments.providers.contracts import (
    ContractChargeRequest,
    ContractChargeResult,
)
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import contract_sandbox_sign, contract_terminate
from tests.factories import ADDRESS, make_person, make_sku

pytestmark = pytest.mark.django_db

# 09:00 on Monday 7 December in Shanghai: inside every provider's charging hours.
MONDAY = dt.datetime(2026, 12, 7, 1, 0, tzinfo=dt.UTC)
D = dt.date


def _sandbox() -> SandboxProvider:
    sandbox = payment_provider("sandbox")
    assert isinstance(sandbox, SandboxProvider)
    return sandbox


def _sign(person: Person, *, refuse_charges: bool = False) -> PaymentContract:
    return contract_sandbox_sign(person_id=person.pk, refuse_charges=refuse_charges)


def _subscribe(person: Person, payment_method: str = "contract") -> Subscription:
    return subscription_create(
        person=person,
        items=[SubscriptionLineIn(sku_id=make_sku(stock=10, price_fen=2990).pk, quantity=1)],
        cadence_kind="every_days",
        cadence_value=7,
        address=dict(ADDRESS),
        payment_method=payment_method,
    )


def _order_and_charge(relay_rounds: int = 2) -> Order:
    """The job places the due order; the relay then delivers the charge's stages."""
    outcome = subscriptions_run(today=clock.now().date() + dt.timedelta(days=0))
    assert len(outcome.placed) == 1, outcome
    for _ in range(relay_rounds):
        outbox_relay()
    return Order.objects.get(order_no=outcome.placed[0])


def _messages(person: Person) -> list[str]:
    """The purposes of the messages the customer was sent, in order."""
    return list(
        MarketingDispatch.objects.filter(person=person)
        .order_by("pk")
        .values_list("purpose", flat=True)
    )


def _last_body(person: Person) -> str:
    dispatch = MarketingDispatch.objects.filter(person=person).order_by("pk").last()
    assert dispatch is not None
    assert dispatch.outbox_message is not None
    return str(dispatch.outbox_message.payload)


class TestChoosingContractPayment:
    def test_contract_payment_needs_a_signed_contract(self) -> None:
        person = make_person()
        with pytest.raises(SubscriptionInvalid) as refused:
            _subscribe(person)
        assert refused.value.text == "请先开通自动扣款（免密支付）"
        assert not Subscription.objects.exists()

    def test_the_last_signed_contract_is_used_and_can_be_switched_off(self) -> None:
        person = make_person()
        contract = _sign(person)
        with clock.frozen(MONDAY):
            subscription = _subscribe(person)
        assert subscription.payment_contract == contract
        switched = subscription_payment_change(
            person=person,
            subscription_no=subscription.subscription_no,
            payment_method=SubscriptionPayment.PAY_NOW,
        )
        assert (switched.payment_method, switched.payment_contract) == ("pay_now", None)

    def test_another_persons_contract_cannot_be_named(self) -> None:
        other = _sign(make_person())
        person = make_person()
        _sign(person)
        with clock.frozen(MONDAY):
            subscription = _subscribe(person, payment_method="pay_now")
        with pytest.raises(SubscriptionInvalid):
            subscription_payment_change(
                person=person,
                subscription_no=subscription.subscription_no,
                payment_method="contract",
                contract_no=other.contract_no,
            )


class TestCharging:
    def test_the_order_is_charged_by_contract_and_the_customer_told_first(self) -> None:
        person = make_person()
        _sign(person)
        with clock.frozen(MONDAY):
            _subscribe(person)
        with clock.frozen(MONDAY + dt.timedelta(days=0, hours=1)):
            order = _order_and_charge()
        payment = Payment.objects.get(order=order)
        assert order.status == OrderStatus.PAID
        assert (payment.client_kind, payment.status) == ("contract", PaymentStatus.SUCCEEDED)
        assert _messages(person) == ["food_subscription_charge_notice"]  # no pay-now
        delivery = SubscriptionDelivery.objects.get()
        assert (delivery.status, delivery.order_no) == (
            SubscriptionDeliveryStatus.PLACED,
            order.order_no,
        )

    def test_a_refused_charge_falls_back_to_paying_by_hand(self) -> None:
        person = make_person()
        _sign(person, refuse_charges=True)
        with clock.frozen(MONDAY):
            _subscribe(person)
            order = _order_and_charge()
        assert order.status == OrderStatus.PENDING_PAYMENT
        assert _messages(person) == ["food_subscription_charge_notice", "food_subscription_pay"]
        assert "自动扣款未成功：余额不足（沙箱模拟）" in _last_body(person)

    def test_a_contract_ended_before_the_charge_falls_back_to_paying_by_hand(self) -> None:
        person = make_person()
        contract = _sign(person)
        with clock.frozen(MONDAY):
            _subscribe(person)
            outcome = subscriptions_run(today=clock.now().date())
            contract_terminate(person_id=person.pk, contract_no=contract.contract_no)
            outbox_relay()
            outbox_relay()
        order = Order.objects.get(order_no=outcome.placed[0])
        assert order.status == OrderStatus.PENDING_PAYMENT
        assert not Payment.objects.filter(order=order).exists()
        assert _messages(person)[-1] == "food_subscription_pay"
        assert "代扣协议未签约或已解约" in _last_body(person)

    def test_the_provider_down_is_retried_and_charges_once(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        person = make_person()
        _sign(person)
        contracts = _sandbox().contracts
        real_charge = contracts.charge
        calls: list[str] = []

        def flaky(request: ContractChargeRequest) -> ContractChargeResult:
            calls.append(request.payment_no)
            if len(calls) == 1:
                raise ProviderUnavailable("timed out after the platform took the money?")
            return real_charge(request)

        monkeypatch.setattr(contracts, "charge", flaky)
        with clock.frozen(MONDAY):
            _subscribe(person)
            order = _order_and_charge()
            assert order.status == OrderStatus.PENDING_PAYMENT
            charge_row = OutboxMessage.objects.get(payload__data__stage="charge")
            assert (charge_row.status, charge_row.attempts) == (OutboxStatus.PENDING, 1)
        with clock.frozen(MONDAY + dt.timedelta(minutes=10)):  # past the relay's back-off
            outbox_relay()
            outbox_relay()
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID
        assert len(set(calls)) == 1  # the retry asked about the same out_trade_no
        assert Payment.objects.filter(order=order, status=PaymentStatus.SUCCEEDED).count() == 1

    def test_outside_charging_hours_the_charge_waits_for_the_morning(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        person = make_person()
        _sign(person)
        monkeypatch.setattr(_sandbox().contracts, "charge_hours", (7, 22))
        night = dt.datetime(2026, 12, 7, 15, 30, tzinfo=dt.UTC)  # 23:30 in Beijing
        with clock.frozen(night - dt.timedelta(days=1)):
            _subscribe(person)
        with clock.frozen(night):
            order = _order_and_charge()
            assert order.status == OrderStatus.PENDING_PAYMENT
            # the pre-debit notice waits for the morning as the charge does
            waiting = OutboxMessage.objects.filter(
                status=OutboxStatus.PENDING, payload__data__stage="notice"
            ).get()
            assert waiting.next_attempt_at == dt.datetime(2026, 12, 7, 23, 0, tzinfo=dt.UTC)
        with clock.frozen(dt.datetime(2026, 12, 7, 23, 1, tzinfo=dt.UTC)):  # 07:01 Beijing
            outbox_relay()
            outbox_relay()
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID

    def test_the_charge_delay_setting_schedules_the_charge_after_the_notice(
        self, settings: Any
    ) -> None:
        settings.FOOD_SUBSCRIPTION_CONTRACT_CHARGE_DELAY = 24
        person = make_person()
        _sign(person)
        with clock.frozen(MONDAY):
            _subscribe(person)
            order = _order_and_charge()
            assert order.status == OrderStatus.PENDING_PAYMENT
        with clock.frozen(MONDAY + dt.timedelta(hours=24, minutes=1)):
            outbox_relay()
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID


def test_refused_every_time_the_subscription_retries_then_pauses(settings: Any) -> None:
    settings.FOOD_SUBSCRIPTION_CHARGE_ATTEMPTS = 2
    person = make_person()
    _sign(person, refuse_charges=True)
    window = subscription_charging.CONTRACT_PAYMENT_WINDOW
    with clock.frozen(MONDAY):
        subscription = _subscribe(person)
        first = _order_and_charge()
    with clock.frozen(MONDAY + window + dt.timedelta(minutes=1)):
        orders_expire_unpaid()
        retried = subscriptions_run(today=D(2026, 12, 8))
        outbox_relay()
        outbox_relay()
    assert len(retried.placed) == 1
    assert retried.placed[0] != first.order_no
    with clock.frozen(MONDAY + 2 * window + dt.timedelta(minutes=2)):
        orders_expire_unpaid()
        outcome = subscriptions_run(today=D(2026, 12, 8))
    subscription.refresh_from_db()
    assert outcome.gave_up == 1
    assert subscription.status == SubscriptionStatus.PAUSED
    # charged (and refused) once per order, never more
    refused = Payment.objects.filter(status=PaymentStatus.FAILED, client_kind="contract")
    assert refused.count() == 2
    assert not Order.objects.filter(status=OrderStatus.PAID).exists()


def test_contract_orders_wait_longer_for_their_money() -> None:
    person = make_person()
    _sign(person)
    with clock.frozen(MONDAY):
        _subscribe(person)
        order = _order_and_charge(relay_rounds=0)
    assert order.expires_at == MONDAY + subscription_charging.CONTRACT_PAYMENT_WINDOW


class TestApi:
    def test_subscribe_with_contract_and_switch_payment(self) -> None:
        person = make_person()
        _sign(person)
        token, _ = consumer_token_issue(person=person, method="test")
        client = Client(HTTP_AUTHORIZATION=f"Bearer {token}")
        sku = make_sku(stock=10)
        created = client.post(
            "/api/v1/food/subscriptions",
            data=json.dumps(
                {
                    "items": [{"sku_id": sku.pk, "quantity": 1}],
                    "cadence_kind": "every_days",
                    "cadence_value": 7,
                    "address": ADDRESS,
                    "payment_method": "contract",
                }
            ),
            content_type="application/json",
        )
        assert created.status_code == 201, created.content
        assert created.json()["payment_label"] == "自动扣款（免密支付）"
        number = created.json()["subscription_no"]
        switched = client.post(
            f"/api/v1/food/subscriptions/{number}/payment",
            data=json.dumps({"payment_method": "pay_now"}),
            content_type="application/json",
        )
        assert switched.json()["payment_method"] == "pay_now"
        bad = client.post(
            f"/api/v1/food/subscriptions/{number}/payment",
            data=json.dumps({"payment_method": "cash"}),
            content_type="application/json",
        )
        assert bad.status_code == 422


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Any) -> Any:
    """`with committed():` runs what the block queued for after commit (durable handlers)."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


class TestFollowsThePerson:
    def test_merge_moves_subscriptions_and_contracts_and_keeps_one_active(
        self, committed: Any
    ) -> None:
        from freshloop.core.events import publish
        from freshloop.identity.events import IdentityMerged

        # given two people, each with an active contract, the first with a subscription
        merged, survivor = make_person(), make_person()
        moved_contract, kept_contract = _sign(merged), _sign(survivor)
        with clock.frozen(MONDAY):
            subscription = _subscribe(merged)
        # when the first is merged into the second
        with committed():
            publish(
                IdentityMerged(
                    from_person_id=merged.pk,
                    into_person_id=survivor.pk,
                    from_one_id=merged.one_id,
                    into_one_id=survivor.one_id,
                    reason="test",
                )
            )
        # then both follow the survivor, whose own contract stays the active one
        subscription.refresh_from_db()
        moved_contract.refresh_from_db()
        kept_contract.refresh_from_db()
        assert subscription.person_id == survivor.pk
        assert moved_contract.person_id == survivor.pk
        assert (moved_contract.status, kept_contract.status) == ("terminated", "active")

    def test_erasure_cancels_and_forgets_the_address_and_export_lists_them(
        self, committed: Any
    ) -> None:
        from freshloop.core.audit import Actor
        from freshloop.core.events import publish
        from freshloop.identity.events import PersonErased
        from freshloop.identity.services import person_export

        person = make_person()
        _sign(person)
        with clock.frozen(MONDAY):
            subscription = _subscribe(person)
        exported = person_export(actor=Actor.system("test"), one_id=person.one_id)
        assert (
            exported["sections"]["food_subscriptions"][0]["address"]["detail"] == ADDRESS["detail"]
        )
        assert exported["sections"]["payment_contracts"][0]["status"] == "active"
        with committed():
            publish(PersonErased(person_id=person.pk, one_id=person.one_id))
        subscription.refresh_from_db()
        assert subscription.status == SubscriptionStatus.CANCELLED
        assert dict(subscription.address) == {}
