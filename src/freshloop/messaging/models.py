"""What became of each text message after it left: the provider's id and its delivery receipt."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from freshloop.core import clock
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


class WecomSandboxMessageKind(models.TextChoices):
    SINGLE = "single", "1:1 群发（客户）"
    GROUP = "group", "客户群群发"
    MOMENT = "moment", "客户朋友圈"
    WELCOME = "welcome", "好友欢迎语"
    GROUP_WELCOME_TEMPLATE = "group_welcome_template", "入群欢迎语模板"


class WecomSandboxMessage(models.Model):
    """One message the WeCom sandbox "sent": what a customer's simulated phone shows.

    Written by `SandboxWecomClient` for every outbound call that carries content, one row per
    recipient (a customer for 1:1 and moments and welcomes, a group for group messages), so
    the whole loop can be watched without a real corp. Never written with a real corp.
    """

    kind = models.CharField("类型", max_length=32, choices=WecomSandboxMessageKind.choices)
    staff_userid = models.CharField("发送成员", max_length=64, blank=True)
    external_userid = models.CharField("客户 external_userid", max_length=64, blank=True)
    chat_id = models.CharField("客户群 chat_id", max_length=64, blank=True)
    wecom_id = models.CharField("msgid / jobid / 模板 ID", max_length=64, blank=True)
    text = models.TextField("文本", blank=True)
    attachments = models.JSONField("附件", default=list, blank=True)
    created_at = models.DateTimeField("时间", default=clock.now)

    class Meta:
        verbose_name = "企业微信沙箱消息"
        verbose_name_plural = "企业微信沙箱消息"
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["external_userid", "created_at"], name="wecom_sbx_contact_idx"),
            models.Index(fields=["chat_id", "created_at"], name="wecom_sbx_chat_idx"),
            models.Index(fields=["wecom_id"], name="wecom_sbx_wecom_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.external_userid or self.chat_id} {self.wecom_id}"
