"""Payments API: a consumer opens a payment for their order; providers post callbacks here."""

from __future__ import annotations

import segno
from django.http import HttpRequest, HttpResponse
from ninja import Router

from freshloop.core.api_errors import raises
from freshloop.core.errors import InvalidInput
from freshloop.core.middleware import client_ip
from freshloop.identity.auth import ConsumerAuth, request_person
from freshloop.membership.errors import InsufficientPoints, InvalidPointsRequest, MemberNotFound
from freshloop.orders.errors import OrderNotFound, RefundNotFound
from freshloop.payments.errors import (
    ClientKindUnsupported,
    OrderNotPayable,
    PaymentGatewayError,
    PaymentNotFound,
    PaymentProviderUnavailable,
    RefundAmountInvalid,
    WechatOpenidMissing,
)
from freshloop.payments.models import Payment
from freshloop.payments.notifications import ack_response, unknown_provider_response
from freshloop.payments.providers import payment_provider
from freshloop.payments.schemas import (
    PaymentCreateIn,
    PaymentMethodOut,
    PaymentMethodsOut,
    PaymentOut,
    PromptOut,
)
from freshloop.payments.selectors import payment_methods
from freshloop.payments.services import (
    payment_create,
    payment_notification_handle,
    payment_sync,
    refund_notification_handle,
)

router = Router(tags=["支付 payments"])

# Booking money the provider reports (a callback or a query answer) reaches the order's
# points and, for money an order cannot take, the automatic refund: their guards can answer.
BOOKING_ERRORS = (InsufficientPoints, InvalidPointsRequest, MemberNotFound)


def _qr_svg(request: HttpRequest, content: str) -> str:
    """The QR a phone scans: the provider's code URL, or our own (sandbox) cashier address."""
    if not content:
        return ""
    if content.startswith("/"):
        content = request.build_absolute_uri(content)
    return str(segno.make(content, error="m").svg_data_uri(scale=6, border=2))


def _payment_out(payment: Payment, request: HttpRequest) -> PaymentOut:
    prompt = payment.prompt or {}
    qr_content = str(prompt.get("qr_content", ""))
    return PaymentOut(
        payment_no=payment.payment_no,
        order_no=payment.order.order_no,
        provider=payment.provider,
        client_kind=payment.client_kind,
        amount_fen=payment.amount_fen,
        status=payment.status,
        created_at=payment.created_at,
        prompt=PromptOut(
            kind=str(prompt.get("kind", "")),
            redirect_url=str(prompt.get("redirect_url", "")),
            jsapi={str(k): str(v) for k, v in dict(prompt.get("jsapi") or {}).items()},
            qr_content=qr_content,
            qr_svg=_qr_svg(request, qr_content),
        ),
    )


@router.post(
    "",
    response=PaymentOut,
    auth=ConsumerAuth(),
    summary="为待支付订单发起支付：返回跳转地址或微信 JSAPI 参数",
)
@raises(
    OrderNotFound,
    OrderNotPayable,
    PaymentProviderUnavailable,
    ClientKindUnsupported,
    WechatOpenidMissing,
    PaymentGatewayError,
)
def create_payment(request: HttpRequest, body: PaymentCreateIn) -> PaymentOut:
    person = request_person(request)
    payment = payment_create(
        order_no=body.order_no,
        person_id=person.pk,
        provider=body.provider,
        client_kind=body.client_kind,
        client_ip=client_ip(request) or "",
        return_path=body.return_to,
    )
    return _payment_out(payment, request)


@router.get(
    "/methods",
    response=PaymentMethodsOut,
    auth=ConsumerAuth(),
    summary="当前环境可用的支付方式：微信内 JSAPI、手机浏览器 H5/WAP、电脑扫码",
)
@raises()
def list_methods(request: HttpRequest) -> PaymentMethodsOut:
    person = request_person(request)
    context, methods = payment_methods(
        person_id=person.pk, user_agent=request.headers.get("User-Agent", "")[:512]
    )
    return PaymentMethodsOut(
        context=context.value,
        methods=[
            PaymentMethodOut(
                provider=method.provider,
                client_kind=method.client_kind,
                label=method.label,
                ready=method.ready,
                hint=method.hint,
            )
            for method in methods
        ],
    )


@router.post(
    "/{payment_no}/sync",
    response=PaymentOut,
    auth=ConsumerAuth(),
    summary="查单：向支付渠道查询这笔支付的结果并入账（从支付页返回、扫码等待时调用）",
)
@raises(
    PaymentNotFound,
    PaymentProviderUnavailable,
    PaymentGatewayError,
    RefundAmountInvalid,
    *BOOKING_ERRORS,
)
def sync_payment(request: HttpRequest, payment_no: str) -> PaymentOut:
    person = request_person(request)
    payment = payment_sync(payment_no=payment_no, person_id=person.pk)
    return _payment_out(payment, request)


@router.post(
    "/notify/{provider}",
    auth=None,
    summary="支付渠道异步通知（微信支付 / 支付宝 / 沙箱），按渠道要求的格式应答",
    response={200: None, 204: None, 400: None, 404: None, 500: None},
)
# Besides the unknown provider (404, checked first), these come from guards deep in the refund
# bookkeeping a notification reaches; every expected outcome is answered with the provider's ack.
@raises(
    PaymentProviderUnavailable, RefundAmountInvalid, RefundNotFound, InvalidInput, *BOOKING_ERRORS
)
def payment_notify(request: HttpRequest, provider: str) -> HttpResponse:
    if payment_provider(provider) is None:
        return unknown_provider_response(provider)
    return ack_response(
        payment_notification_handle(provider=provider, headers=request.headers, body=request.body)
    )


@router.post(
    "/notify/{provider}/refund",
    auth=None,
    summary="退款结果异步通知",
    response={200: None, 204: None, 400: None, 404: None, 500: None},
)
@raises(PaymentProviderUnavailable, RefundNotFound, InvalidInput, *BOOKING_ERRORS)
def refund_notify(request: HttpRequest, provider: str) -> HttpResponse:
    if payment_provider(provider) is None:
        return unknown_provider_response(provider)
    return ack_response(
        refund_notification_handle(provider=provider, headers=request.headers, body=request.body)
    )


# --- contracts (委托代扣 / 周期扣款) ---
from freshloop.payments.contract_api import router as contract_router  # noqa: E402

router.add_router("/contracts", contract_router)
