"""Platform tables: outbox, audit log, worker heartbeat, rate-limit counters."""

from __future__ import annotations

from django.db import models

from freshloop.core.fields import EncryptedTextField


class OutboxStatus(models.TextChoices):
    PENDING = "pending", "待发送"
    SENT = "sent", "已发送"
    FAILED = "failed", "发送失败"


class OutboxMessage(models.Model):
    """A message that must leave the system (SMS, WeCom, webhook), written in the same
    transaction as the fact that caused it and delivered later by the relay job.

    Because the row commits with the business change, a crash after commit loses nothing:
    the relay finds the row still pending and sends it.
    """

    channel = models.CharField("通道", max_length=32, db_index=True)
    destination = EncryptedTextField("收件方", blank=True)
    payload = models.JSONField("内容", default=dict)
    dedupe_key = models.CharField("去重键", max_length=128, unique=True, null=True, blank=True)
    status = models.CharField(
        "状态", max_length=16, choices=OutboxStatus.choices, default=OutboxStatus.PENDING
    )
    attempts = models.PositiveIntegerField("尝试次数", default=0)
    next_attempt_at = models.DateTimeField("下次尝试时间")
    last_error = models.TextField("最近错误", blank=True)
    provider_message_id = models.CharField("服务商消息ID", max_length=128, blank=True)
    created_at = models.DateTimeField("创建时间")
    sent_at = models.DateTimeField("发送时间", null=True, blank=True)

    class Meta:
        verbose_name = "外发消息"
        verbose_name_plural = "外发消息(Outbox)"
        indexes = [models.Index(fields=["status", "next_attempt_at"], name="outbox_due_idx")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.channel}#{self.pk} {self.status}"


class AuditLog(models.Model):
    """Who changed what, when, from which state to which. Append-only by convention and by
    the back office (read-only admin)."""

    actor_type = models.CharField("操作者类型", max_length=16)
    actor_id = models.CharField("操作者ID", max_length=64, blank=True)
    actor_label = models.CharField("操作者", max_length=150, blank=True)
    action = models.CharField("动作", max_length=64, db_index=True)
    target_type = models.CharField("对象类型", max_length=64)
    target_id = models.CharField("对象ID", max_length=64)
    before = models.JSONField("变更前", null=True, blank=True)
    after = models.JSONField("变更后", null=True, blank=True)
    request_id = models.CharField("请求ID", max_length=64, blank=True)
    ip_address = models.GenericIPAddressField("IP", null=True, blank=True)
    created_at = models.DateTimeField("时间", db_index=True)

    class Meta:
        verbose_name = "审计日志"
        verbose_name_plural = "审计日志"
        indexes = [models.Index(fields=["target_type", "target_id"], name="audit_target_idx")]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.actor_label or self.actor_type} {self.action} {self.target_type}:{self.target_id}"


class WorkerHeartbeat(models.Model):
    """One row per worker name, touched by a periodic job; /healthz reads its age."""

    worker = models.CharField(max_length=64, unique=True)
    seen_at = models.DateTimeField()
    hostname = models.CharField(max_length=255, blank=True)

    class Meta:
        verbose_name = "后台任务心跳"
        verbose_name_plural = "后台任务心跳"

    def __str__(self) -> str:
        return f"{self.worker} @ {self.seen_at:%Y-%m-%d %H:%M:%S}"


class RateLimitCounter(models.Model):
    """Fixed-window counters for the database rate limiter (used when Redis is not configured)."""

    key = models.CharField(max_length=200)
    window_start = models.BigIntegerField()
    count = models.PositiveIntegerField(default=0)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["key", "window_start"], name="ratelimit_key_window_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.key}@{self.window_start}={self.count}"


class ApiKey(models.Model):
    """A key a server-side source (live room backend, POS, ERP) uses to call the API.

    The raw key is shown once at creation; only its SHA-256 is stored. `prefix` finds the row
    without scanning, `scopes` limits what the key may do.
    """

    name = models.CharField("名称", max_length=100)
    prefix = models.CharField("前缀", max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    scopes = models.JSONField("权限范围", default=list)
    is_active = models.BooleanField("启用", default=True)
    created_by = models.CharField("创建人", max_length=150, blank=True)
    created_at = models.DateTimeField("创建时间")
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True)

    class Meta:
        verbose_name = "API 密钥"
        verbose_name_plural = "API 密钥"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.name} ({self.prefix}…)"
