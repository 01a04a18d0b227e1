"""What became of each text message after it left: the provider's id and its delivery receipt."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from freshloop.core.models import OutboxMessage


class SmsDeliveryStatus(models.TextChoices):
    SUBMITTED = "submitted", "已提交服务商"
    DELIVERED = "delivered", "已送达"
    FAILED = "failed", "发送失败"


class SmsDelivery(models.Model):
    """The delivery record of one outbound SMS (an outbox message on channel `sms`).

    Written when the provider accepts the message (its BizId / SerialNo), completed by the
    provider's delivery receipt. The first receipt decides; a replayed receipt changes nothing.
    """

    message = models.OneToOneField(
        OutboxMessage,
        on_delete=models.CASCADE,
        primary_key=True,
        related_name="sms_delivery",
        verbose_name="外发消息",
    )
    provider = models.CharField("服务商", max_length=16)
    provider_message_id = models.CharField("服务商消息ID", max_length=128, blank=True)
    purpose = models.CharField("用途", max_length=64, blank=True)
    status = models.CharField(
        "状态",
        max_length=16,
        choices=SmsDeliveryStatus.choices,
        default=SmsDeliveryStatus.SUBMITTED,
    )
    error_code = models.CharField("错误码", max_length=64, blank=True)
    error_message = models.CharField("错误说明", max_length=255, blank=True)
    submitted_at = models.DateTimeField("提交时间", null=True, blank=True)
    delivered_at = models.DateTimeField("送达时间", null=True, blank=True)
    receipt_received_at = models.DateTimeField("回执接收时间", null=True, blank=True)

    class Meta:
        verbose_name = "短信送达记录"
        verbose_name_plural = "短信送达记录"
        ordering = ["-message_id"]
        constraints = [
            models.UniqueConstraint(
                fields=["provider", "provider_message_id"],
                condition=~Q(provider_message_id=""),
                name="sms_delivery_provider_id_uniq",
            )
        ]

    def __str__(self) -> str:
        return f"sms#{self.message_id} {self.status}"
