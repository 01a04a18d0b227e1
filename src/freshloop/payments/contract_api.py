"""Contracts (委托代扣 / 周期扣款) under /api/v1/payments/contracts: the buyer signs, lists and
ends their contracts; providers post signing, termination and charge-result callbacks."""

from __future__ import annotations

import datetime as dt

from django.http import HttpRequest, HttpResponse
from ninja import Router, Schema
from pydantic import Field, field_validator

from freshloop.core.api_errors import raises
from freshloop.core.http import STATUS_ERRORS, error_response
from freshloop.core.middleware import client_ip
from freshloop.core.schemas import InputSchema
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
from freshloop.payments.notifications import NotificationOutcome
from freshloop.payments.providers import payment_provider
from freshloop.payments.selectors import contracts_for

router = Router(tags=["支付 payments"])


class ContractSignIn(InputSchema):
    provider: str = Field(..., min_length=1, max_length=16, title="支付方式")
    return_to: str = Field(
        "",
        max_length=200,
        title="签约后返回的页面",
        pattern=r"^(/[A-Za-z0-9\-_.~!$&'()*+,;=:@%/?]*)?$",
    )

    @field_validator("return_to")
    @classmethod
    def _same_site(cls, value: str) -> str:
        if value.startswith("//") or "\\" in value:
            raise ValueError("return_to must be a path on this site")
        return value


class ContractOut(Schema):
    contract_no: str
    provider: str
    provider_label: str
    status: str = Field(..., description="signing 待签约 / active 已签约 / terminated 已解约")
    status_label: str
    signed_at: dt.datetime | None
    terminated_at: dt.datetime | None
    termination_detail: str
    sign_url: str = Field(..., description="待签约时：打开此地址完成签约")


class ContractProviderOut(Schema):
    provider: str
    label: str


class ContractsOut(Schema):
    providers: list[ContractProviderOut]
    contracts: list[ContractOut]


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


def _ack(outcome: NotificationOutcome) -> HttpResponse:
    return HttpResponse(
        outcome.ack.body, status=outcome.ack.status, content_type=outcome.ack.content_type
    )


def _no_contracts(provider: str) -> HttpResponse | None:
    gateway = payment_provider(provider)
    if gateway is None or getattr(gateway, "contracts", None) is None:
        code, message = STATUS_ERRORS[404]
        return error_response(404, code, message, {"provider": provider[:32]})
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
    return _ack(
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
    return _ack(
        contract_charge_notification_handle(
            provider=provider, headers=request.headers, body=request.body
        )
    )
