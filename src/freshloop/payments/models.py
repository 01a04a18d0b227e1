"""Payments against orders, every provider callback received, and refunds (SPEC BM-3).

A payment is one attempt to collect an order's total through one provider; `payment_no` is
the `out_trade_no` the provider knows it by. The provider's `transaction_id` is unique per
provider, so a replayed callback can never book the same money twice.
"""

from __future__ import annotations

from django.db import models

from freshloop.orders.models import Order, PaymentProvider


class PaymentStatus(models.TextChoices):
    CREATED = "created", "待支付"
    SUCCEEDED = "succeeded", "支付成功"
    FAILED = "failed", "支付失败"
    CLOSED = "closed", "已关闭"
    REFUNDED = "refunded", "已退款"
    PARTIALLY_REFUNDED = "partially_refunded", "部分退款"


PAID_STATUSES = (
    PaymentStatus.SUCCEEDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.PARTIALLY_REFUNDED,
)


class Payment(models.Model):
    payment_no = models.CharField("支付单号", max_length=40, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="payments")
    provider = models.CharField("支付渠道", max_length=16, choices=PaymentProvider.choices)
    client_kind = models.CharField("客户端", max_length=16)
    amount_fen = models.PositiveIntegerField("金额(分)")
    status = models.CharField(
        "状态", max_length=24, choices=PaymentStatus.choices, default=PaymentStatus.CREATED
    )
    transaction_id = models.CharField("渠道流水号", max_length=64, blank=True)
    prompt = models.JSONField("支付指引", default=dict, blank=True)
    refunded_fen = models.PositiveIntegerField("已退(分)", default=0)
    created_at = models.DateTimeField("创建时间")
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间")
    # 查单: when the provider was last asked about an open payment (reconciliation backs off).
    last_queried_at = models.DateTimeField("最近查单时间", null=True, blank=True)

    class Meta:
        verbose_name = "支付"
        verbose_name_plural = "支付"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "transaction_id"],
                condition=~models.Q(transaction_id=""),
                name="payments_payment_provider_transaction_uniq",
            ),
            # At most one open attempt per order and provider: a retried "pay" reuses it.
            models.UniqueConstraint(
                fields=["order", "provider"],
                condition=models.Q(status="created"),
                name="payments_payment_one_open_per_provider",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_fen__lte=models.F("amount_fen")),
                name="payments_payment_refund_not_above_amount",
            ),
        ]

    def __str__(self) -> str:
        return self.payment_no


class NotificationKind(models.TextChoices):
    PAYMENT = "payment", "支付通知"
    REFUND = "refund", "退款通知"
    QUERY = "query", "主动查单"
    CONTRACT = "contract", "签约/解约通知"


class PaymentNotificationLog(models.Model):
    """One row per callback received, accepted or not. Holds no secrets and no body: only
    its SHA-256, so a disputed callback can be matched against the provider's records."""

    provider = models.CharField("支付渠道", max_length=16, choices=PaymentProvider.choices)
    kind = models.CharField("类型", max_length=16, choices=NotificationKind.choices)
    verified = models.BooleanField("验签通过", default=False)
    outcome = models.CharField("处理结果", max_length=40)
    detail = models.CharField("说明", max_length=200, blank=True)
    out_trade_no = models.CharField("支付单号", max_length=64, blank=True)
    transaction_id = models.CharField("渠道流水号", max_length=64, blank=True)
    body_sha256 = models.CharField("报文SHA-256", max_length=64)
    received_at = models.DateTimeField("接收时间", db_index=True)

    class Meta:
        verbose_name = "支付回调记录"
        verbose_name_plural = "支付回调记录"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.provider} {self.kind} {self.outcome}"


class RefundStatus(models.TextChoices):
    PENDING = "pending", "退款中"
    SUCCEEDED = "succeeded", "退款成功"
    FAILED = "failed", "退款失败"


class RefundOrigin(models.TextChoices):
    ORDER_REFUND = "order_refund", "订单退款"
    LATE_PAYMENT = "late_payment", "无效支付自动退回"


class Refund(models.Model):
    refund_no = models.CharField("退款单号", max_length=40, unique=True)
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    origin = models.CharField("来源", max_length=16, choices=RefundOrigin.choices)
    amount_fen = models.PositiveIntegerField("金额(分)")
    status = models.CharField(
        "状态", max_length=16, choices=RefundStatus.choices, default=RefundStatus.PENDING
    )
    provider_refund_id = models.CharField("渠道退款单号", max_length=64, blank=True)
    reason = models.CharField("原因", max_length=200, blank=True)
    attempts = models.PositiveIntegerField("提交次数", default=0)
    last_error = models.CharField("最近错误", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间")
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    refunded_at = models.DateTimeField("退款时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "退款"
        verbose_name_plural = "退款"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.refund_no


class WechatPlatformCertificate(models.Model):
    """A WeChat Pay platform certificate fetched with the certificate download API.

    Trusted (by its serial) beside the configured keys until it expires, so WeChat Pay can
    rotate certificates without anyone editing the configuration."""

    serial_no = models.CharField("证书序列号", max_length=64, unique=True)
    certificate_pem = models.TextField("证书(PEM)")
    effective_at = models.DateTimeField("生效时间")
    expires_at = models.DateTimeField("过期时间")
    fetched_at = models.DateTimeField("下载时间")

    class Meta:
        verbose_name = "微信支付平台证书"
        verbose_name_plural = "微信支付平台证书"
        ordering = ["-expires_at"]

    def __str__(self) -> str:
        return self.serial_no


class ContractStatus(models.TextChoices):
    SIGNING = "signing", "待签约"
    ACTIVE = "active", "已签约"
    TERMINATED = "terminated", "已解约"


class PaymentContract(models.Model):
    """A customer's standing authority for a provider to charge them without the till
    (WeChat Pay 委托代扣, Alipay 周期扣款). `contract_no` is ours (WeChat's contract_code,
    Alipay's external_agreement_no); `provider_contract_id` is the provider's (contract_id,
    agreement_no), known once the signing callback arrives."""

    contract_no = models.CharField("签约协议号", max_length=40, unique=True)
    person = models.ForeignKey(
        "identity.Person", on_delete=models.PROTECT, related_name="payment_contracts"
    )
    provider = models.CharField("支付渠道", max_length=16, choices=PaymentProvider.choices)
    status = models.CharField(
        "状态", max_length=16, choices=ContractStatus.choices, default=ContractStatus.SIGNING
    )
    provider_contract_id = models.CharField("渠道协议号", max_length=64, blank=True)
    display_account = models.CharField("签约展示名", max_length=32, blank=True)
    prompt = models.JSONField("签约指引", default=dict, blank=True)
    signed_at = models.DateTimeField("签约时间", null=True, blank=True)
    terminated_at = models.DateTimeField("解约时间", null=True, blank=True)
    termination_detail = models.CharField("解约说明", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "代扣协议"
        verbose_name_plural = "代扣协议"
        ordering = ["-id"]
        constraints = [
            # One live contract per customer and provider: signing again while one is active
            # answers the active one instead of asking the provider for a second.
            models.UniqueConstraint(
                fields=["person", "provider"],
                condition=models.Q(status="active"),
                name="payments_contract_one_active_per_provider",
            ),
            models.UniqueConstraint(
                fields=["provider", "provider_contract_id"],
                condition=~models.Q(provider_contract_id=""),
                name="payments_contract_provider_id_uniq",
            ),
        ]

    def __str__(self) -> str:
        return self.contract_no
