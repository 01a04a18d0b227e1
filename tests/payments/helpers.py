"""Payment test set-up: orders through the real services, and the providers' side of the wire
(WeChat Pay's platform key and APIv3 key, Alipay's key) built per their published specs."""

from __future__ import annotations

import base64
import datetime as dt
import json
import secrets
from collections.abc import Callable
from contextlib import AbstractContextManager
from dataclasses import dataclass
from functools import lru_cache
from typing import Any
from urllib.parse import parse_qsl, urlencode, urlparse

import responses
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import padding, rsa
from cryptography.hazmat.primitives.asymmetric.rsa import RSAPrivateKey
from cryptography.x509.oid import NameOID

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.identity.models import Person
from freshloop.orders.models import Order
from freshloop.orders.services import order_refund_request, refund_request_approve
from freshloop.payments.models import Payment, Refund, RefundStatus
from freshloop.payments.providers import wechat_v3
from freshloop.payments.services import payment_create, payment_notification_handle
from tests import factories
from tests.factories import make_person, make_sku

WECHAT_MCHID = "1900000109"
WECHAT_APPID = "wxd678efh567hg6787"
WECHAT_PUBLIC_KEY_ID = "PUB_KEY_ID_0114232134912410000000000000"
ALIPAY_APP_ID = "2021000000000001"


def make_order(*, person: Person | None = None, price_fen: int = 6000, quantity: int = 2) -> Order:
    """An unpaid order of one SKU, placed through the orders module's checkout."""
    sku = make_sku(price_fen=price_fen, stock=quantity + 5)
    return factories.make_order(person or make_person(), (sku, quantity))


@lru_cache(maxsize=8)
def rsa_key(name: str) -> RSAPrivateKey:
    """One 2048-bit key per role, generated once per test run."""
    return rsa.generate_private_key(public_exponent=65537, key_size=2048)


def private_pem(key: RSAPrivateKey) -> str:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    ).decode()


def public_pem(key: RSAPrivateKey) -> str:
    return (
        key.public_key()
        .public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
        .decode()
    )


def self_signed_certificate(key: RSAPrivateKey, serial: int) -> str:
    name = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, "Tenpay.com Root CA test")])
    now = dt.datetime.now(dt.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(key.public_key())
        .serial_number(serial)
        .not_valid_before(now - dt.timedelta(days=1))
        .not_valid_after(now + dt.timedelta(days=365))
        .sign(key, hashes.SHA256())
    )
    return certificate.public_bytes(serialization.Encoding.PEM).decode()


# --- WeChat Pay, acting as the platform ----------------------------------------------------


@dataclass
class WechatPlatform:
    """What WeChat Pay holds: its platform key, and the merchant's APIv3 key (shared secret)."""

    private_key: RSAPrivateKey
    serial: str
    apiv3_key: str

    def notification(
        self,
        resource: dict[str, Any],
        *,
        event_type: str = "TRANSACTION.SUCCESS",
        original_type: str = "transaction",
        now: dt.datetime | None = None,
        apiv3_key: str | None = None,
        signing_key: RSAPrivateKey | None = None,
    ) -> tuple[dict[str, str], bytes]:
        return wechat_v3.build_notification(
            private_key=signing_key or self.private_key,
            serial=self.serial,
            apiv3_key=(apiv3_key or self.apiv3_key).encode(),
            event_type=event_type,
            original_type=original_type,
            resource=resource,
            summary="支付成功",
            now=now or clock.now(),
        )

    def response_headers(self, body: bytes) -> dict[str, str]:
        """WeChat Pay signs its API responses the same way it signs callbacks."""
        return {
            **wechat_v3.sign_headers(
                private_key=self.private_key,
                serial=self.serial,
                body=body,
                timestamp=int(dt.datetime.now(dt.UTC).timestamp()),
            ),
            "Content-Type": "application/json",
        }


def wechat_transaction(
    *,
    out_trade_no: str,
    total: int,
    transaction_id: str = "4200000000202405011234567890",
    trade_state: str = "SUCCESS",
    mchid: str = WECHAT_MCHID,
    appid: str = WECHAT_APPID,
) -> dict[str, Any]:
    """A `transaction` resource with the fields of the published 支付成功回调通知."""
    return {
        "mchid": mchid,
        "appid": appid,
        "out_trade_no": out_trade_no,
        "transaction_id": transaction_id,
        "trade_type": "JSAPI",
        "trade_state": trade_state,
        "trade_state_desc": "支付成功",
        "bank_type": "CMC",
        "attach": "",
        "success_time": "2024-05-01T10:34:56+08:00",
        "payer": {"openid": "oUpF8uMuAJO_M2pxb1Q9zNjWeS6o"},
        "amount": {
            "total": total,
            "payer_total": total,
            "currency": "CNY",
            "payer_currency": "CNY",
        },
    }


def wechat_refund_resource(
    *, out_refund_no: str, out_trade_no: str, refund: int, total: int, status: str = "SUCCESS"
) -> dict[str, Any]:
    """A `refund` resource with the fields of the published 退款结果通知."""
    return {
        "mchid": WECHAT_MCHID,
        "out_trade_no": out_trade_no,
        "transaction_id": "4200000000202405011234567890",
        "out_refund_no": out_refund_no,
        "refund_id": "50000000382019052709732678859",
        "refund_status": status,
        "success_time": "2024-05-02T10:00:00+08:00",
        "user_received_account": "招商银行信用卡0403",
        "amount": {"total": total, "refund": refund, "payer_total": total, "payer_refund": refund},
    }


def wechat_env(platform: WechatPlatform, merchant_key: RSAPrivateKey) -> dict[str, str]:
    return {
        "FRESHLOOP_WECHATPAY_MCHID": WECHAT_MCHID,
        "FRESHLOOP_WECHATPAY_APPID": WECHAT_APPID,
        "FRESHLOOP_WECHATPAY_CERT_SERIAL_NO": "444F4864EA9B34415ABCDEF0123456789ABCDEF0",
        "FRESHLOOP_WECHATPAY_PRIVATE_KEY": private_pem(merchant_key),
        "FRESHLOOP_WECHATPAY_APIV3_KEY": platform.apiv3_key,
        "FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY": public_pem(platform.private_key),
        "FRESHLOOP_WECHATPAY_PLATFORM_PUBLIC_KEY_ID": platform.serial,
        "FRESHLOOP_PAYMENTS_NOTIFY_BASE_URL": "https://shop.example.com",
    }


# --- Alipay, acting as the platform --------------------------------------------------------


def rsa2_sign(key: RSAPrivateKey, message: str) -> str:
    signature = key.sign(message.encode(), padding.PKCS1v15(), hashes.SHA256())
    return base64.b64encode(signature).decode()


def rsa2_verify(public_key_pem: str, message: str, signature: str) -> bool:
    from cryptography.exceptions import InvalidSignature

    key = serialization.load_pem_public_key(public_key_pem.encode())
    try:
        key.verify(
            base64.b64decode(signature), message.encode(), padding.PKCS1v15(), hashes.SHA256()
        )  # type: ignore[union-attr, call-arg]
    except InvalidSignature:
        return False
    return True


def alipay_signing_string(params: dict[str, str], *, request: bool = False) -> str:
    """Alipay's rule: sort by key, join k=v with &, leaving out `sign` (and, for async
    notifications, `sign_type`; requests sign `sign_type` too)."""
    left_out = {"sign"} if request else {"sign", "sign_type"}
    return "&".join(
        f"{key}={value}" for key, value in sorted(params.items()) if key not in left_out
    )


def alipay_notification(
    key: RSAPrivateKey,
    *,
    out_trade_no: str,
    total_amount: str,
    trade_no: str = "2024050122001400000000000001",
    app_id: str = ALIPAY_APP_ID,
    trade_status: str = "TRADE_SUCCESS",
    extra: dict[str, str] | None = None,
) -> bytes:
    """An async notification (异步通知) as Alipay posts it: form-encoded, RSA2-signed."""
    params = {
        "notify_time": "2024-05-01 10:35:00",
        "notify_type": "trade_status_sync",
        "notify_id": secrets.token_hex(16),
        "app_id": app_id,
        "charset": "utf-8",
        "version": "1.0",
        "sign_type": "RSA2",
        "trade_no": trade_no,
        "out_trade_no": out_trade_no,
        "trade_status": trade_status,
        "total_amount": total_amount,
        "receipt_amount": total_amount,
        "buyer_pay_amount": total_amount,
        "gmt_create": "2024-05-01 10:34:00",
        "gmt_payment": "2024-05-01 10:34:56",
        "subject": "鲜环订单",
        "buyer_id": "2088102177846880",
        "seller_id": "2088101106499364",
        **(extra or {}),
    }
    params["sign"] = rsa2_sign(key, alipay_signing_string(params))
    return urlencode(params).encode()


ALIPAY_TRADE_NO = "2024050122001400000000000001"
ALIPAY_QR_CODE = "https://qr.alipay.com/bax08431ljhokirwl38f00a7"


def alipay_trade(
    *,
    out_trade_no: str,
    total_amount: str,
    trade_status: str = "TRADE_SUCCESS",
    send_pay_date: str = "2024-05-01 10:34:56",
    trade_no: str = ALIPAY_TRADE_NO,
    extra: dict[str, Any] | None = None,
) -> dict[str, Any]:
    """An alipay_trade_query_response node with the fields of the published sample
    (docs.open.alipay.com/api_1/alipay.trade.query)."""
    return {
        "code": "10000",
        "msg": "Success",
        "trade_no": trade_no,
        "out_trade_no": out_trade_no,
        "buyer_logon_id": "159****5620",
        "trade_status": trade_status,
        "total_amount": total_amount,
        "buyer_pay_amount": total_amount,
        "point_amount": "0.00",
        "invoice_amount": total_amount,
        "send_pay_date": send_pay_date,
        "receipt_amount": total_amount,
        "buyer_user_id": "2088101117955611",
        **(extra or {}),
    }


def alipay_failure(sub_code: str, sub_msg: str) -> dict[str, Any]:
    """A business failure node: code 40004 with Alipay's sub_code, signed like a success."""
    return {"code": "40004", "msg": "Business Failed", "sub_code": sub_code, "sub_msg": sub_msg}


class FakeAlipayGateway:
    """Stands in for https://openapi.alipay.com/gateway.do: checks the app's RSA2 signature on
    the request and answers with a response signed by Alipay's key, as the API documents.

    `answers[method]` replaces the default answer node of one method; a list there is answered
    in turn (one per call). `signing_key` signs answers with another key (a forgery),
    `unsigned` leaves `sign` out."""

    def __init__(self, *, alipay_key: RSAPrivateKey, app_public_key_pem: str) -> None:
        self.alipay_key = alipay_key
        self.app_public_key_pem = app_public_key_pem
        self.requests: list[dict[str, Any]] = []
        self.refund_answer: dict[str, Any] = {"fund_change": "Y"}
        self.answers: dict[str, dict[str, Any] | list[dict[str, Any]]] = {}
        self.signing_key: RSAPrivateKey | None = None
        self.unsigned = False

    def _default_answer(self, method: str, biz: dict[str, Any]) -> dict[str, Any]:
        ok = {"code": "10000", "msg": "Success", "out_trade_no": biz.get("out_trade_no", "")}
        if method == "alipay.trade.precreate":
            return {**ok, "qr_code": ALIPAY_QR_CODE}
        if method == "alipay.trade.close":
            return {**ok, "trade_no": ALIPAY_TRADE_NO}
        if method == "alipay.trade.query":
            return alipay_failure("ACQ.TRADE_NOT_EXIST", "交易不存在")
        return {
            **ok,
            "trade_no": ALIPAY_TRADE_NO,
            "buyer_logon_id": "159****5620",
            "refund_fee": biz.get("refund_amount", ""),
            "gmt_refund_pay": "2024-05-02 10:00:00",
            **self.refund_answer,
        }

    def __call__(self, url: str) -> str:
        params = dict(parse_qsl(urlparse(url).query, keep_blank_values=True))
        signature = params.pop("sign")
        assert rsa2_verify(
            self.app_public_key_pem, alipay_signing_string(params, request=True), signature
        )
        method = params["method"]
        biz = json.loads(params["biz_content"])
        self.requests.append(
            {"method": method, "biz_content": biz, "params": params, "sign": signature}
        )
        planned = self.answers.get(method)
        if isinstance(planned, list):
            content = planned.pop(0)
        else:
            content = planned if planned is not None else self._default_answer(method, biz)
        content_json = json.dumps(content, ensure_ascii=False, separators=(",", ":"))
        node = f'"{method.replace(".", "_")}_response":{content_json}'
        if self.unsigned:
            return f"{{{node}}}"
        sign = rsa2_sign(self.signing_key or self.alipay_key, content_json)
        return f'{{{node},"sign":"{sign}"}}'


def alipay_env(alipay_key: RSAPrivateKey, app_key: RSAPrivateKey) -> dict[str, str]:
    return {
        "FRESHLOOP_ALIPAY_APP_ID": ALIPAY_APP_ID,
        "FRESHLOOP_ALIPAY_APP_PRIVATE_KEY": private_pem(app_key),
        "FRESHLOOP_ALIPAY_PUBLIC_KEY": public_pem(alipay_key),
        "FRESHLOOP_PAYMENTS_NOTIFY_BASE_URL": "https://shop.example.com",
    }


# --- a WeChat Pay refund waiting for its notification, through the real services ----------

REFUND_OPERATOR = Actor(type="user", id="7", label="客服小陈")
WECHAT_REFUNDS_URL = "https://api.mch.weixin.qq.com/v3/refund/domestic/refunds"
WECHAT_H5_URL = "https://api.mch.weixin.qq.com/v3/pay/transactions/h5"


def approve_refund(
    order: Order, amount_fen: int, committed: Callable[[], AbstractContextManager[Any]]
) -> str:
    """An operator approves a refund; its OrderRefundApproved handler submits it after commit
    (`committed` runs what a commit would run; a transactional test passes `nullcontext`)."""
    request = order_refund_request(
        order_no=order.order_no, reason="坏了一盒", actor=REFUND_OPERATOR, amount_fen=amount_fen
    )
    with committed():
        refund_request_approve(refund_no=request.refund_no, actor=REFUND_OPERATOR)
    return request.refund_no


@dataclass
class WechatRefundCase:
    """A WeChat-paid order with one approved refund that WeChat Pay answered PROCESSING to."""

    platform: WechatPlatform
    order: Order
    payment: Payment
    refund_no: str
    refund_fen: int

    def notification(
        self, status: str, *, refund_fen: int | None = None, out_trade_no: str = ""
    ) -> tuple[dict[str, str], bytes]:
        """The signed 退款结果通知 WeChat Pay posts for the refund in `status`."""
        return self.platform.notification(
            wechat_refund_resource(
                out_refund_no=self.refund_no,
                out_trade_no=out_trade_no or self.payment.payment_no,
                refund=self.refund_fen if refund_fen is None else refund_fen,
                total=self.payment.amount_fen,
                status=status,
            ),
            event_type=f"REFUND.{status}",
            original_type="refund",
        )


def wechat_h5_payment(platform: WechatPlatform) -> Payment:
    """An unpaid order with a WeChat Pay H5 payment opened through `payment_create` (the prepay
    call answered, signed, from `responses`)."""
    prepay = b'{"h5_url":"https://wx.tenpay.com/cgi-bin/mmpayweb-bin/checkmweb?prepay_id=wx1"}'
    responses.add(
        responses.POST, WECHAT_H5_URL, body=prepay, headers=platform.response_headers(prepay)
    )
    order = make_order()
    return payment_create(
        order_no=order.order_no,
        person_id=order.person_id,
        provider="wechatpay",
        client_kind="h5",
        client_ip="14.23.150.211",
    )


def wechat_refund_case(
    platform: WechatPlatform,
    committed: Callable[[], AbstractContextManager[Any]],
    *,
    refund_fen: int = 1500,
) -> WechatRefundCase:
    """Pay an order through WeChat Pay H5 (prepay and the payment callback signed as WeChat Pay
    signs them), then approve a refund WeChat Pay accepts as PROCESSING. Needs `responses`
    started: WeChat Pay's API answers from it."""
    payment = wechat_h5_payment(platform)
    headers, body = platform.notification(
        wechat_transaction(out_trade_no=payment.payment_no, total=payment.amount_fen)
    )
    paid = payment_notification_handle(provider="wechatpay", headers=headers, body=body)
    assert paid.code == "paid"
    answer = json.dumps({"refund_id": "5000000038", "status": "PROCESSING"}).encode()
    responses.add(
        responses.POST, WECHAT_REFUNDS_URL, body=answer, headers=platform.response_headers(answer)
    )
    order = Order.objects.get(pk=payment.order_id)
    refund_no = approve_refund(order, refund_fen, committed)
    assert Refund.objects.get(refund_no=refund_no).status == RefundStatus.PENDING
    return WechatRefundCase(
        platform=platform,
        order=order,
        payment=Payment.objects.get(pk=payment.pk),
        refund_no=refund_no,
        refund_fen=refund_fen,
    )
