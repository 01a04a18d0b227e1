"""A WeChat Pay contract from signing to a booked charge, through our HTTP callbacks and
services, with WeChat's side played by fakes (APIv2 XML, APIv3 JSON signed with its key)."""

from __future__ import annotations

import datetime as dt
import re

import pytest
import responses
from django.test import Client

from freshloop.core import clock
from freshloop.orders.models import OrderStatus
from freshloop.payments.models import ContractStatus, Payment, PaymentStatus
from freshloop.payments.providers.wechat_papay import WechatPapay, parse_xml
from freshloop.payments.services import contract_charge, contract_sign_start
from tests.factories import make_person
from tests.payments.helpers import WechatPlatform, make_order, wechat_transaction
from tests.payments.test_wechat_papay import (  # noqa: F401 (fixtures)
    CONTRACT_ID,
    FakePapay,
    _provider,
    apiv2_key,
    charge_callback,
    contract_callback,
    papay,
    wechat,
)
from tests.payments.test_wechatpay import GATEWAY, _signed

pytestmark = pytest.mark.django_db


@pytest.fixture
def contracts(papay: WechatPapay) -> WechatPapay:  # noqa: F811
    _provider().contracts = papay
    return papay


def _post_xml(url: str, body: bytes) -> tuple[int, dict[str, str]]:
    answer = Client().post(url, data=body, content_type="text/xml")
    return answer.status_code, parse_xml(answer.content)


@responses.activate
def test_sign_charge_and_book_a_wechat_contract(
    wechat_platform: WechatPlatform,
    apiv2_key: str,  # noqa: F811
    wechat: FakePapay,  # noqa: F811
    contracts: WechatPapay,
) -> None:
    person = make_person()
    # given the buyer opened the 公众号 signing page and signed it
    contract = contract_sign_start(person_id=person.pk, provider="wechatpay")
    assert contract.prompt["redirect_url"].startswith(f"{GATEWAY}/papay/entrustweb?")
    status, ack = _post_xml(
        "/api/v1/payments/contracts/notify/wechatpay",
        contract_callback(apiv2_key, contract_code=contract.contract_no),
    )
    contract.refresh_from_db()
    assert (status, ack["return_code"]) == (200, "SUCCESS")
    assert (contract.status, contract.provider_contract_id) == (ContractStatus.ACTIVE, CONTRACT_ID)

    # when an order is charged under it in the morning
    order = make_order(person=person)
    responses.add_callback(
        responses.GET,
        re.compile(rf"{GATEWAY}/v3/pay/transactions/out-trade-no/.*"),
        callback=_signed(
            wechat_platform,
            200,
            {**wechat_transaction(out_trade_no="X", total=0)}
            | {"trade_state": "USERPAYING", "transaction_id": ""},
        ),
    )
    # (WeChat signs its answers with the real time, so the clock cannot be frozen here; the
    # charging hours are tested at night below)
    contracts.charge_hours = (0, 24)
    outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
    payment = Payment.objects.get(order=order)
    # then WeChat was asked to charge the contract, and the charge waits for its result
    path, sent = wechat.requests[-1]
    assert path == "/pay/pappayapply"
    assert (sent["contract_id"], sent["out_trade_no"], sent["total_fee"]) == (
        CONTRACT_ID,
        payment.payment_no,
        str(order.total_fen),
    )
    assert outcome.status == "pending"

    # when WeChat posts the charge's result (APIv2 XML), twice
    result = charge_callback(
        apiv2_key, out_trade_no=payment.payment_no, total_fee=str(order.total_fen)
    )
    first = _post_xml("/api/v1/payments/contracts/notify/wechatpay/charge", result)
    replay = _post_xml("/api/v1/payments/contracts/notify/wechatpay/charge", result)
    # then the money is booked once and the order is paid
    payment.refresh_from_db()
    order.refresh_from_db()
    assert first[1]["return_code"] == replay[1]["return_code"] == "SUCCESS"
    assert payment.status == PaymentStatus.SUCCEEDED
    assert order.status == OrderStatus.PAID


@responses.activate
def test_a_forged_charge_result_books_nothing(
    wechat_platform: WechatPlatform,
    apiv2_key: str,  # noqa: F811
    contracts: WechatPapay,
) -> None:
    person = make_person()
    order = make_order(person=person)
    status, ack = _post_xml(
        "/api/v1/payments/contracts/notify/wechatpay/charge",
        charge_callback("0" * 32, out_trade_no="PAY_X", total_fee=str(order.total_fen)),
    )
    # WeChat's APIv2 reads the answer's return_code, not the HTTP status
    assert (status, ack["return_code"]) == (200, "FAIL")
    order.refresh_from_db()
    assert order.status == OrderStatus.PENDING_PAYMENT


def test_at_night_wechat_is_not_asked(
    wechat_platform: WechatPlatform,
    apiv2_key: str,  # noqa: F811
    wechat: FakePapay,  # noqa: F811
    contracts: WechatPapay,
) -> None:
    person = make_person()
    contract = contract_sign_start(person_id=person.pk, provider="wechatpay")
    _post_xml(
        "/api/v1/payments/contracts/notify/wechatpay",
        contract_callback(apiv2_key, contract_code=contract.contract_no),
    )
    order = make_order(person=person)
    night = dt.datetime(2026, 12, 7, 15, 0, tzinfo=dt.UTC)  # 23:00 in Beijing
    from freshloop.orders.models import Order

    Order.objects.filter(pk=order.pk).update(expires_at=night + dt.timedelta(days=1))
    with clock.frozen(night):
        outcome = contract_charge(order_no=order.order_no, contract_no=contract.contract_no)
    assert outcome.status == "deferred"
    assert not [path for path, _ in wechat.requests if path == "/pay/pappayapply"]
