"""Contracts (委托代扣 / 周期扣款) under /api/v1/payments/contracts: the buyer signs, lists and
ends their contracts; providers post signing, termination and charge-result callbacks."""

from __future__ import annotations

from django.http import HttpRequest, HttpResponse
from ninja import Router

from freshloop.core.api_errors import raises
from freshloop.core.middleware import client_ip
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.membership.errors import InsufficientPoints, InvalidPointsRequest, MemberNotFound
from freshloop.payments.contracts import (
    contract_charge_notification_handle,
    contract_notification_handle,
    contract_out,
    contract_providers,
    contract_sign_start,
    contract_terminate,
)
from freshloop.payments.errors import (
    ContractNotFound,
    ContractsUnsupported,
    PaymentGatewayError,
    PaymentProviderUnavailable,
    RefundAmountInvalid,
)
from freshloop.payments.models import PaymentContract
from freshloop.payments.notifications import ack_response, unknown_provider_response
from freshloop.payments.providers import payment_provider
from freshloop.payments.schemas import (
    ContractOut,
    ContractProviderOut,
    ContractSignIn,
    ContractsOut,
)
from freshloop.payments.selectors import contracts_for

router = Router(tags=["支付 payments"])


def _out(contract: PaymentContract) -> ContractOut:
    return ContractOut(**contract_out(contract))


@router.get("", response=ContractsOut, auth=ConsumerAuth(), summary="我的自动扣款协议与可签约渠道")
@raises()
def list_contracts(request: HttpRequest) -> ContractsOut:
    person = request_person(request)
    contracts = contracts_for(person_id=person.pk)
    return ContractsOut(
        providers=[
            ContractProviderOut(provider=n, label=label) for n, label in contract_providers()
        ],
        contracts=[_out(contract) for contract in contracts],
    )


@router.post(
    "",
    response=ContractOut,
    auth=ConsumerAuth(),
    summary="开通自动扣款：返回签约页地址（已签约则返回现有协议）",
)
@raises(PaymentProviderUnavailable, ContractsUnsupported, PaymentGatewayError)
def sign_contract(request: HttpRequest, body: ContractSignIn) -> ContractOut:
    person = request_person(request)
    contract = contract_sign_start(
        person_id=person.pk,
        provider=body.provider,
        return_path=body.return_to,
        client_ip=client_ip(request) or "",
    )
    return _out(contract)


@router.post(
    "/{contract_no}/terminate",
    response=ContractOut,
    auth=ConsumerAuth(),
    summary="解约：关闭自动扣款（之后的订阅订单改为下单后提醒付款）",
)
@raises(ContractNotFound, ContractsUnsupported, PaymentProviderUnavailable, PaymentGatewayError)
def terminate_contract(request: HttpRequest, contract_no: str) -> ContractOut:
    person = request_person(request)
    return _out(contract_terminate(person_id=person.pk, contract_no=contract_no))


def _no_contracts(provider: str) -> HttpResponse | None:
    gateway = payment_provider(provider)
    if gateway is None or getattr(gateway, "contracts", None) is None:
        return unknown_provider_response(provider)
    return None


@router.post(
    "/notify/{provider}",
    auth=None,
    summary="签约 / 解约结果异步通知，按渠道要求的格式应答",
    response={200: None, 204: None, 400: None, 404: None, 500: None},
)
@raises(PaymentProviderUnavailable, ContractsUnsupported)
def contract_notify(request: HttpRequest, provider: str) -> HttpResponse:
    missing = _no_contracts(provider)
    if missing is not None:
        return missing
    return ack_response(
        contract_notification_handle(provider=provider, headers=request.headers, body=request.body)
    )


@router.post(
    "/notify/{provider}/charge",
    auth=None,
    summary="代扣扣款结果异步通知（微信支付 APIv2 格式），入账方式与支付通知相同",
    response={200: None, 204: None, 400: None, 404: None, 500: None},
)
# Booking a charge reaches the order's points and the late-payment refund, as a payment does.
@raises(
    PaymentProviderUnavailable,
    ContractsUnsupported,
    RefundAmountInvalid,
    InsufficientPoints,
    InvalidPointsRequest,
    MemberNotFound,
)
def charge_notify(request: HttpRequest, provider: str) -> HttpResponse:
    missing = _no_contracts(provider)
    if missing is not None:
        return missing
    return ack_response(
        contract_charge_notification_handle(
            provider=provider, headers=request.headers, body=request.body
        )
    )
