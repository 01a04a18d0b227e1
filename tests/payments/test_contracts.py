"""Payment contracts (委托代扣 / 周期扣款) through the sandbox platform: signing, its callbacks,
ending a contract, and charging orders under one — idempotent across a crash."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.models import OutboxMessage
from freshloop.identity.models import Person
from freshloop.identity.services import consumer_token_issue
from freshloop.orders.models import Order, OrderStatus
from freshloop.payments.contracts import contract_notification_handle
from freshloop.payments.errors import (
    ContractNotFound,
    ContractsUnsupported,
    PaymentGatewayError,
    PaymentProviderUnavailable,
)
from freshloop.payments.models import (
    ContractStatus,
    Payment,
    PaymentContract,
    PaymentNotificationLog,
    PaymentStatus,
)
from freshloop.payments.providers import ProviderUnavailable, payment_provider
from freshloop.payments.providers.contracts import (
    ContractChargeRequest,
    ContractChargeResult,
    ContractNotificationKind,
)
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import (
    contract_charge,
    contract_sandbox_sign,
    contract_sign_start,
    contract_terminate,
    next_charge_time,
)
from tests.factories import make_person
from tests.payments.helpers import make_order

pytestmark = pytest.mark.django_db

BEIJING = dt.timezone(dt.timedelta(hours=8))


def _sandbox() -> SandboxProvider:
    sandbox = payment_provider("sandbox")
    assert isinstance(sandbox, SandboxProvider)
    return sandbox


def _signed(person: Person, *, refuse_charges: bool = False) -> PaymentContract:
    """A contract the person signed on the sandbox's page (its callback applied)."""
    return contract_sandbox_sign(person_id=person.pk, refuse_charges=refuse_charges)


class TestSigning:
    def test_sign_start_opens_a_contract_waiting_for_the_signing_page(self) -> None:
        person = make_person()
        contract = contract_sign_start(
            person_id=person.pk, provider="sandbox", return_path="/m/subscriptions"
        )
        assert contract.status == ContractStatus.SIGNING
        assert contract.prompt["redirect_url"] == (
            f"/m/pay/contracts/{contract.contract_no}?next=%2Fm%2Fsubscriptions"
        )
        # what the buyer sees on the provider's page: never a nickname or a phone number
        assert contract.display_account.startswith("鲜环会员 ")

    def test_only_the_verified_callback_activates_and_a_replay_is_a_duplicate(self) -> None:
        person = make_person()
        contract = contract_sign_start(person_id=person.pk, provider="sandbox")
        contracts = _sandbox().contracts
        headers, body = contracts.build_contract_notification(
            contract_no=contract.contract_no, kind=ContractNotificationKind.SIGNED
        )
        first = contract_notification_handle(provider="sandbox", headers=headers, body=body)
        again = contract_notification_handle(provider="sandbox", headers=headers, body=body)
        contract.refresh_from_db()
        assert (first.code, again.code) == ("signed", "duplicate")
        assert contract.status == ContractStatus.ACTIVE
        assert contract.provider_contract_id == contracts.contract_id_for(contract.contract_no)
        assert contract.signed_at is not None

    def test_a_forged_callback_changes_nothing(self) -> None:
        contract = contract_sign_start(person_id=make_person().pk, provider="sandbox")
        headers, body = _sandbox().contracts.build_contract_notification(
            contract_no=contract.contract_no, kind=ContractNotificationKind.SIGNED
        )
        tampered = body.replace(b'"event_type":"PAPAY.SIGN"', b'"event_type":"PAPAY.SIGN "')
        outcome = contract_notification_handle(provider="sandbox", headers=headers, body=tampered)
        contract.refresh_from_db()
        assert (outcome.accepted, outcome.code) == (False, "forged")
        assert contract.status == ContractStatus.SIGNING
        assert PaymentNotificationLog.objects.get(kind="contract").verified is False

    def test_a_verified_callback_about_an_unknown_contract_is_refused_and_alerted(self) -> None:
        headers, body = _sandbox().contracts.build_contract_notification(
            contract_no="CTR_NOT_OURS", kind=ContractNotificationKind.SIGNED
        )
        outcome = contract_notification_handle(provider="sandbox", headers=headers, body=body)
        assert (outcome.accepted, outcome.code) == (False, "unknown_contract")
        assert OutboxMessage.objects.filter(channel="alert").exists()

    def test_signing_again_replaces_the_active_contract(self) -> None:
        person = make_person()
        first = _signed(person)
        assert contract_sign_start(person_id=person.pk, provider="sandbox") == first
        # the customer signs a second time at the provider (e.g. after ending it there)
        PaymentContract.objects.filter(pk=first.pk).update(status=ContractStatus.SIGNING)
        second = contract_sign_start(person_id=person.pk, provider="sandbox")
        PaymentContract.objects.filter(pk=first.pk).update(status=ContractStatus.ACTIVE)
        second = _signed_existing(second)
        first.refresh_from_db()
        assert second.status == ContractStatus.ACTIVE
        assert first.status == ContractStatus.TERMINATED
        assert first.termination_detail == "已被新签约替代"

    def test_a_provider_without_contracts_is_refused(self, monkeypatch: pytest.MonkeyPatch) -> None:
        person = make_person()
        with pytest.raises(PaymentProviderUnavailable):
            contract_sign_start(person_id=person.pk, provider="nosuch")
        monkeypatch.setattr(_sandbox(), "contracts", None)  # no contract plan configured
        with pytest.raises(ContractsUnsupported):
            contract_sign_start(person_id=person.pk, provider="sandbox")
        assert not PaymentContract.objects.exists()


def _signed_existing(contract: PaymentContract) -> PaymentContract:
    contracts = _sandbox().contracts
    contracts.record_signed(contract_no=contract.contract_no, refuse_charges=False)
    headers, body = contracts.build_contract_notification(
        contract_no=contract.contract_no, kind=ContractNotificationKind.SIGNED
    )
    assert contract_notification_handle(provider="sandbox", headers=headers, body=body).accepted
    contract.refresh_from_db()
    return contract


class TestTermination:
    def test_the_customer_ends_it_here_and_at_the_provider(self) -> None:
        person = make_person()
        contract = _signed(person)
        ended = contract_terminate(person_id=person.pk, contract_no=contract.contract_no)
        assert ended.status == ContractStatus.TERMINATED
        # the platform no longer charges under it
        order = make_order(person=person)
        PaymentContract.objects.filter(pk=contract.pk).update(status=ContractStatus.ACTIVE)
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        assert (outcome.status, outcome.code) == ("refused", "CONTRACT_NOT_EXIST")

    def test_another_persons_contract_is_not_found(self) -> None:
        contract = _signed(make_person())
        with pytest.raises(ContractNotFound):
            contract_terminate(person_id=make_person().pk, contract_no=contract.contract_no)
        contract.refresh_from_db()
        assert contract.status == ContractStatus.ACTIVE

    def test_the_providers_termination_callback_ends_it_once(self) -> None:
        contract = _signed(make_person())
        headers, body = _sandbox().contracts.build_contract_notification(
            contract_no=contract.contract_no,
            kind=ContractNotificationKind.TERMINATED,
            detail="用户在微信支付中解约",
        )
        codes = [
            contract_notification_handle(provider="sandbox", headers=headers, body=body).code
            for _ in range(2)
        ]
        contract.refresh_from_db()
        assert codes == ["terminated", "duplicate"]
        assert contract.status == ContractStatus.TERMINATED
        assert contract.termination_detail == "用户在微信支付中解约"


class TestCharging:
    def test_an_order_is_charged_and_booked_through_the_payment_path(self) -> None:
        person = make_person()
        contract = _signed(person)
        order = make_order(person=person)
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        order.refresh_from_db()
        payment = Payment.objects.get(order=order)
        assert outcome.status == "paid"
        assert order.status == OrderStatus.PAID
        assert (payment.client_kind, payment.status) == ("contract", PaymentStatus.SUCCEEDED)
        assert payment.amount_fen == order.total_fen

    def test_charging_again_charges_nothing_more(self) -> None:
        person = make_person()
        contract = _signed(person)
        order = make_order(person=person)
        outcomes = [
            contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
            for _ in range(3)
        ]
        assert {outcome.status for outcome in outcomes} == {"paid"}
        assert Payment.objects.filter(order=order).count() == 1

    def test_a_refusal_fails_the_payment_and_leaves_the_order_to_be_paid_by_hand(self) -> None:
        person = make_person()
        contract = _signed(person, refuse_charges=True)
        order = make_order(person=person)
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        order.refresh_from_db()
        assert (outcome.status, outcome.code) == ("refused", "NOTENOUGH")
        assert outcome.message == "余额不足（沙箱模拟）"
        assert Payment.objects.get(order=order).status == PaymentStatus.FAILED
        assert order.status == OrderStatus.PENDING_PAYMENT

    def test_a_crash_after_the_payment_row_charges_the_same_payment_on_retry(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        person = make_person()
        contract = _signed(person)
        order = make_order(person=person)
        contracts = _sandbox().contracts
        real_charge = contracts.charge
        asked: list[str] = []

        def unreachable(request: ContractChargeRequest) -> ContractChargeResult:
            asked.append(request.payment_no)
            raise ProviderUnavailable("connection reset")

        monkeypatch.setattr(contracts, "charge", unreachable)
        with pytest.raises(PaymentGatewayError):
            contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        monkeypatch.setattr(contracts, "charge", real_charge)
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        payment = Payment.objects.get(order=order)
        assert outcome.status == "paid"
        assert asked == [payment.payment_no]  # the retry asked about the same out_trade_no

    def test_an_accepted_charge_whose_query_fails_is_pending_not_an_error(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        person = make_person()
        contract = _signed(person)
        order = make_order(person=person)

        def unreachable(payment_no: str) -> None:
            raise ProviderUnavailable("query timed out")

        monkeypatch.setattr(_sandbox(), "query_payment", unreachable)
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        assert (outcome.status, outcome.code) == ("pending", "query_failed")
        # the money was taken: the reconciliation sweep books it once the query answers
        monkeypatch.undo()
        with clock.frozen(clock.now() + dt.timedelta(minutes=5)):
            from freshloop.payments.services import payments_reconcile

            assert payments_reconcile()["paid"] == 1
        order.refresh_from_db()
        assert order.status == OrderStatus.PAID

    def test_an_open_cashier_payment_is_closed_before_the_charge(self) -> None:
        from freshloop.payments.services import payment_create

        person = make_person()
        contract = _signed(person)
        order = make_order(person=person)
        cashier = payment_create(
            order_no=order.order_no, person_id=person.pk, provider="sandbox", client_kind="h5"
        )
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        cashier.refresh_from_db()
        assert outcome.status == "paid"
        assert cashier.status == PaymentStatus.CLOSED

    def test_an_expired_order_is_not_charged(self) -> None:
        person = make_person()
        contract = _signed(person)
        order = make_order(person=person)
        Order.objects.filter(pk=order.pk).update(expires_at=clock.now() - dt.timedelta(minutes=1))
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        assert outcome.status == "not_payable"
        assert not Payment.objects.filter(order=order).exists()

    def test_an_ended_contract_is_refused_without_asking_the_provider(self) -> None:
        person = make_person()
        contract = _signed(person)
        contract_terminate(person_id=person.pk, contract_no=contract.contract_no)
        order = make_order(person=person)
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        assert (outcome.status, outcome.code) == ("refused", "contract_not_active")
        assert not Payment.objects.filter(order=order).exists()

    def test_another_persons_contract_cannot_pay_an_order(self) -> None:
        contract = _signed(make_person())
        order = make_order(person=make_person())
        with pytest.raises(ContractNotFound):
            contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        assert not Payment.objects.filter(order=order).exists()

    def test_outside_the_providers_hours_the_charge_is_deferred_to_the_morning(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        person = make_person()
        contract = _signed(person)
        order = make_order(person=person)
        monkeypatch.setattr(_sandbox().contracts, "charge_hours", (7, 22))
        late = dt.datetime(2026, 12, 7, 23, 30, tzinfo=BEIJING)
        Order.objects.filter(pk=order.pk).update(expires_at=late + dt.timedelta(hours=24))
        with clock.frozen(late.astimezone(dt.UTC)):
            outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
        assert outcome.status == "deferred"
        assert outcome.retry_at == dt.datetime(2026, 12, 8, 7, 0, tzinfo=BEIJING)
        assert not Payment.objects.filter(order=order).exists()


@pytest.mark.parametrize(
    ("local", "expected"),
    [
        ((9, 0), (7, 9, 0)),  # inside: now
        ((6, 59), (7, 7, 0)),  # before opening: today 07:00
        ((22, 0), (8, 7, 0)),  # at closing: tomorrow 07:00
        ((23, 59), (8, 7, 0)),
    ],
)
def test_next_charge_time_keeps_wechats_hours(
    local: tuple[int, int], expected: tuple[int, int, int]
) -> None:
    now = dt.datetime(2026, 12, 7, *local, tzinfo=BEIJING)
    day, hour, minute = expected
    assert next_charge_time((7, 22), now) == dt.datetime(
        2026, 12, day, hour, minute, tzinfo=BEIJING
    )


def client_for(person: Person) -> Client:
    token, _ = consumer_token_issue(person=person, method="test")
    return Client(HTTP_AUTHORIZATION=f"Bearer {token}")


class TestApiAndPage:
    def test_sign_list_and_terminate_through_the_api(self) -> None:
        person = make_person()
        client = client_for(person)
        signed = client.post(
            "/api/v1/payments/contracts",
            data=json.dumps({"provider": "sandbox", "return_to": "/m/subscriptions"}),
            content_type="application/json",
        )
        assert signed.status_code == 200, signed.content
        body: dict[str, Any] = signed.json()
        assert body["status"] == "signing"
        # the buyer opens the signing page and agrees
        page = client.get(body["sign_url"])
        assert page.status_code == 200
        assert "同意并开通" in page.content.decode()
        agreed = client.post(body["sign_url"], data={"action": "sign"})
        assert agreed.status_code == 302
        assert agreed["Location"] == "/m/subscriptions"
        listed = client.get("/api/v1/payments/contracts").json()
        assert [c["status"] for c in listed["contracts"]] == ["active"]
        assert {"provider": "sandbox", "label": "沙箱支付"} in listed["providers"]
        ended = client.post(f"/api/v1/payments/contracts/{body['contract_no']}/terminate")
        assert ended.json()["status"] == "terminated"

    def test_another_persons_contract_is_404_and_bad_input_is_400(self) -> None:
        contract = _signed(make_person())
        client = client_for(make_person())
        answer = client.post(f"/api/v1/payments/contracts/{contract.contract_no}/terminate")
        assert (answer.status_code, answer.json()["code"]) == (404, "contract_not_found")
        bad = client.post(
            "/api/v1/payments/contracts",
            data=json.dumps({"provider": "sandbox", "return_to": "//evil.example"}),
            content_type="application/json",
        )
        assert bad.status_code == 422  # validation: the return path must be on this site
        unsupported = client.post(
            "/api/v1/payments/contracts",
            data=json.dumps({"provider": "nosuch"}),
            content_type="application/json",
        )
        assert unsupported.status_code == 422
        assert unsupported.json()["code"] == "payment_provider_unavailable"

    def test_callbacks_answer_in_the_providers_format(self, client: Client) -> None:
        contract = contract_sign_start(person_id=make_person().pk, provider="sandbox")
        headers, body = _sandbox().contracts.build_contract_notification(
            contract_no=contract.contract_no, kind=ContractNotificationKind.SIGNED
        )
        http_headers = {f"HTTP_{k.upper().replace('-', '_')}": v for k, v in headers.items()}
        ok = client.post(
            "/api/v1/payments/contracts/notify/sandbox",
            data=body,
            content_type="application/json",
            **http_headers,
        )
        forged = client.post(
            "/api/v1/payments/contracts/notify/sandbox",
            data=body + b" ",
            content_type="application/json",
            **http_headers,
        )
        unknown = client.post(
            "/api/v1/payments/contracts/notify/nosuch", data=b"{}", content_type="application/json"
        )
        assert ok.status_code == 204
        assert forged.status_code == 400
        assert unknown.status_code == 404
        contract.refresh_from_db()
        assert contract.status == ContractStatus.ACTIVE

    def test_the_signing_page_is_only_for_sandbox_contracts(self, client: Client) -> None:
        assert client.get("/m/pay/contracts/CTR_NOPE").status_code == 404
