"""The sandbox cashier at /m/pay/<payment_no>: stands in for the provider's payment page.

Pressing a button makes the server act as the payment platform: it builds the callback the
platform would send, signed with the sandbox platform key and encrypted with the sandbox
APIv3 key, and hands it to the same `payment_notification_handle` that real callbacks reach.
"""

from __future__ import annotations

import logging

from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import render
from django.utils.http import url_has_allowed_host_and_scheme
from django.views.decorators.http import require_http_methods

from freshloop.core.money import format_fen
from freshloop.payments.contracts import contract_notification_handle
from freshloop.payments.models import ContractStatus, Payment, PaymentContract, PaymentStatus
from freshloop.payments.providers import ProviderUnavailable, payment_provider
from freshloop.payments.providers.contracts import ContractNotificationKind
from freshloop.payments.providers.sandbox import SandboxProvider
from freshloop.payments.services import payment_notification_handle

logger = logging.getLogger(__name__)


def _error(request: HttpRequest, message: str, status: int) -> HttpResponse:
    return render(request, "web/h5/error.html", {"message": message}, status=status)


def _same_site_next(request: HttpRequest, default: str) -> str:
    # Like a provider's page, the sandbox returns the buyer where they came from — only ever
    # to a path on this site.
    next_url = request.GET.get("next", "")
    if not (next_url.startswith("/") and url_has_allowed_host_and_scheme(next_url, None)):
        return default
    return next_url


@require_http_methods(["GET", "POST"])
def sandbox_pay_page(request: HttpRequest, payment_no: str) -> HttpResponse:
    provider = payment_provider("sandbox")
    if not isinstance(provider, SandboxProvider):
        return _error(request, "当前未启用沙箱支付", 404)
    payment = (
        Payment.objects.select_related("order")
        .filter(payment_no=payment_no[:40], provider="sandbox")
        .first()
    )
    if payment is None:
        return _error(request, "支付单不存在", 404)
    order_url = f"/m/orders/{payment.order.order_no}"
    next_url = _same_site_next(request, order_url)
    if request.method == "POST":
        if payment.status != PaymentStatus.CREATED:
            return HttpResponseRedirect(next_url)
        action = request.POST.get("action")
        succeed = action in {"succeed", "succeed_silently"}
        if succeed:
            try:
                provider.record_paid(payment_no=payment.payment_no, amount_fen=payment.amount_fen)
            except ProviderUnavailable:
                return _error(request, "该支付单已在渠道关闭，请回到订单重新发起支付", 409)
        if action == "succeed_silently":
            # The platform took the money but its callback is lost: only 查单 will book it.
            return HttpResponseRedirect(next_url)
        headers, body = provider.build_payment_notification(
            payment_no=payment.payment_no, amount_fen=payment.amount_fen, succeed=succeed
        )
        outcome = payment_notification_handle(provider="sandbox", headers=headers, body=body)
        if not outcome.accepted:
            logger.error("sandbox payment %s was not accepted: %s", payment_no, outcome.code)
            return _error(request, f"支付未被受理（{outcome.code}）", 409)
        return HttpResponseRedirect(next_url)
    return render(
        request,
        "payments/sandbox_pay.html",
        {
            "payment": payment,
            "order": payment.order,
            "amount": format_fen(payment.amount_fen),
            "payable": payment.status == PaymentStatus.CREATED,
            "order_url": next_url,
        },
    )


@require_http_methods(["GET", "POST"])
def sandbox_contract_page(request: HttpRequest, contract_no: str) -> HttpResponse:
    """The sandbox's signing page (委托代扣 签约): signing makes the server act as the platform
    and send the signed callback that alone activates the contract."""
    provider = payment_provider("sandbox")
    if not isinstance(provider, SandboxProvider):
        return _error(request, "当前未启用沙箱支付", 404)
    contract = PaymentContract.objects.filter(
        contract_no=contract_no[:40], provider="sandbox"
    ).first()
    if contract is None:
        return _error(request, "签约协议不存在", 404)
    next_url = _same_site_next(request, "/m/subscriptions")
    signable = contract.status == ContractStatus.SIGNING
    if request.method == "POST":
        action = request.POST.get("action")
        if not signable or action not in {"sign", "sign_refusing"}:
            return HttpResponseRedirect(next_url)
        provider.contracts.record_signed(
            contract_no=contract.contract_no, refuse_charges=action == "sign_refusing"
        )
        headers, body = provider.contracts.build_contract_notification(
            contract_no=contract.contract_no, kind=ContractNotificationKind.SIGNED
        )
        outcome = contract_notification_handle(provider="sandbox", headers=headers, body=body)
        if not outcome.accepted:
            logger.error("sandbox contract %s was not accepted: %s", contract_no, outcome.code)
            return _error(request, f"签约未被受理（{outcome.code}）", 409)
        return HttpResponseRedirect(next_url)
    return render(
        request,
        "payments/sandbox_contract.html",
        {"contract": contract, "signable": signable, "next_url": next_url},
    )
