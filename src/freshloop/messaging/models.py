"""What became of each outbound message: a text's provider id and delivery receipt, the
marketing policy's decision on every message sent to a person (consent, caps, quiet hours),
and what the WeCom sandbox was asked to send."""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from freshloop.core import clock
from freshloop.core.fields import EncryptedJSONField, EncryptedTextField
from freshloop.core.models import OutboxMessage
from freshloop.identity.models import Person


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


# --- the outbound message policy (docs/operator-guide.md, "Outbound message policy") -----


class MessageClass(models.TextChoices):
    # Login codes, payment, refund and shipping notices: sent at once, no caps, no quiet
    # hours, no consent needed (the person asked for them or must be told).
    TRANSACTIONAL = "transactional", "交易类"
    # Everything else (journeys, mass messages, reminders): passes `marketing_send`'s policy.
    MARKETING = "marketing", "营销类"


class MarketingChannel(models.TextChoices):
    """Channels a marketing message may leave by; consent and caps are kept per channel."""

    SMS = "sms", "短信"
    # 1:1 customer messages through WeCom 企业群发 (add_msg_template): a staff member must
    # confirm each task in the WeCom client before it reaches the customer.
    WECOM = "wecom", "企业微信"
    IN_APP = "in_app", "站内信"


class ConsentSource(models.TextChoices):
    SELF = "self", "本人退订/订阅"
    STAFF = "staff", "员工操作"
    IMPORT = "import", "导入"


class MarketingConsent(models.Model):
    """A person's marketing consent on one channel (opt-out model: no row means allowed).

    The row is also the lock every marketing send for this person and channel takes
    (`locks.consent_lock`), so two sends racing for the last place under a cap queue up.
    """

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="marketing_consents", verbose_name="用户"
    )
    channel = models.CharField("通道", max_length=16, choices=MarketingChannel.choices)
    opted_out = models.BooleanField("已退订", default=False)
    source = models.CharField("变更来源", max_length=16, choices=ConsentSource.choices, blank=True)
    changed_at = models.DateTimeField("变更时间", null=True, blank=True)

    class Meta:
        verbose_name = "营销消息订阅"
        verbose_name_plural = "营销消息订阅"
        constraints = [
            models.UniqueConstraint(fields=["person", "channel"], name="marketing_consent_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.person_id}/{self.channel} {'opted out' if self.opted_out else 'ok'}"


class DispatchStatus(models.TextChoices):
    QUEUED = "queued", "已排队"
    HELD = "held", "免打扰暂缓"
    PENDING_CONFIRMATION = "pending_confirmation", "待员工确认"
    SENT = "sent", "已发送"
    SUPPRESSED = "suppressed", "未发送(规则拦截)"
    FAILED = "failed", "发送失败"


# Statuses that count against caps, from the moment the send was queued (`queued_at`).
COUNTED_STATUSES = (
    DispatchStatus.QUEUED,
    DispatchStatus.PENDING_CONFIRMATION,
    DispatchStatus.SENT,
)


class MarketingDispatch(models.Model):
    """The decision on one outbound message for one person, and what became of it.

    Marketing sends get one each from `marketing_send` (queued, held, suppressed); a
    transactional send recorded through `transactional_send` gets one too, for the timeline.
    A held send keeps its content (sealed) until it is released or erased.
    """

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="marketing_dispatches", verbose_name="用户"
    )
    channel = models.CharField("通道", max_length=16, choices=MarketingChannel.choices)
    message_class = models.CharField("消息类别", max_length=16, choices=MessageClass.choices)
    purpose = models.CharField("用途", max_length=64)
    source = models.CharField("来源", max_length=128, blank=True)
    dedupe_key = models.CharField("去重键", max_length=128, unique=True)
    status = models.CharField("状态", max_length=24, choices=DispatchStatus.choices)
    reason_code = models.CharField("原因代码", max_length=32)
    reason = models.CharField("原因", max_length=128)
    scheduled_for = models.DateTimeField("计划发送时间", null=True, blank=True)
    outbox_message = models.OneToOneField(
        OutboxMessage,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="marketing_dispatch",
        verbose_name="外发消息",
    )
    held_payload = EncryptedJSONField("暂缓内容", default=dict, blank=True)
    held_destination = EncryptedTextField("暂缓收件方", blank=True)
    created_at = models.DateTimeField("创建时间")
    decided_at = models.DateTimeField("判定时间")
    queued_at = models.DateTimeField("排队时间", null=True, blank=True)
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)

    class Meta:
        verbose_name = "消息发送判定"
        verbose_name_plural = "消息发送判定"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["person", "channel", "queued_at"], name="dispatch_cap_idx"),
            models.Index(fields=["status", "scheduled_for"], name="dispatch_held_idx"),
            models.Index(fields=["person", "created_at"], name="dispatch_timeline_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.channel}/{self.person_id} {self.status} ({self.reason_code})"
