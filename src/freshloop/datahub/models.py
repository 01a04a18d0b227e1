"""Data hub tables in the transactional database.

Behaviour itself lives in the analytics event store (DuckDB, `datahub.eventstore`); here live the
things that need transactions: who may write events (sources and their keys), which events are
registered, the write-ahead buffer that makes accepted events crash-safe, operators' manual tags,
saved segments and their members, and the acquisition spend the dashboards divide by.
"""

from __future__ import annotations

from django.db import models

from freshloop.identity.models import Person


class SourceChannel(models.TextChoices):
    LIVE = "live", "直播间"
    SHOP = "shop", "H5 商城"
    WECOM = "wecom", "企业微信"
    GROUPBUY = "groupbuy", "社区团购"
    STORE = "store", "门店 POS"
    DOUYIN = "douyin", "抖音"
    PARTNER = "partner", "合作方"
    SERVER = "server", "系统事件"


class EventSource(models.Model):
    """A touchpoint that writes events with its own write key; the key decides the channel,
    so a client cannot claim to be another channel."""

    name = models.CharField("名称", max_length=64, unique=True)
    channel = models.CharField("渠道", max_length=16, choices=SourceChannel.choices)
    key_prefix = models.CharField("密钥前缀", max_length=16, unique=True)
    key_hash = models.CharField(max_length=64)
    is_active = models.BooleanField("启用", default=True)
    created_by = models.CharField("创建人", max_length=64, blank=True)
    created_at = models.DateTimeField("创建时间")
    last_used_at = models.DateTimeField("最近使用", null=True, blank=True)

    class Meta:
        verbose_name = "事件来源"
        verbose_name_plural = "事件来源(写入密钥)"

    def __str__(self) -> str:
        return f"{self.name} ({self.get_channel_display()})"


class EventDefinition(models.Model):
    """An event schema registered by an operator, beside the built-in ones in
    `ingestion.schemas.BUILTIN_EVENTS`.

    `fields` maps a property name to {"type": "string|integer|number|boolean|object|array",
    "required": bool, "max_length": int (strings)}.
    """

    name = models.CharField("事件名", max_length=64, unique=True)
    description = models.CharField("说明", max_length=200, blank=True)
    fields = models.JSONField("属性定义", default=dict, blank=True)
    is_active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "事件定义"
        verbose_name_plural = "事件定义"

    def __str__(self) -> str:
        return self.name


class BufferedEvent(models.Model):
    """Write-ahead log of accepted events: a row exists before the client hears "accepted" and
    is marked flushed only after the event store committed it, so a crash in between loses
    nothing (the next flush writes it; the store drops the copy it may already hold).

    Flushed rows stay for the de-duplication window (`DATAHUB_DEDUPE_DAYS`) so a replayed
    event id is recognised at the door, then the daily job prunes them.
    """

    event_id = models.CharField(max_length=64, unique=True)
    source = models.CharField(max_length=64)
    payload = models.TextField()
    received_at = models.DateTimeField()
    flushed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "事件缓冲"
        verbose_name_plural = "事件缓冲"
        indexes = [models.Index(fields=["flushed_at", "id"], name="datahub_buffer_pending")]

    def __str__(self) -> str:
        return self.event_id


class ManualTag(models.Model):
    """A tag an operator put on a person by hand (computed tags live in the event store)."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="manual_tags")
    tag = models.CharField("标签", max_length=32)
    created_by = models.CharField("添加人", max_length=64)
    created_at = models.DateTimeField("添加时间")

    class Meta:
        verbose_name = "手工标签"
        verbose_name_plural = "手工标签"
        constraints = [
            models.UniqueConstraint(fields=["person", "tag"], name="datahub_manual_tag_unique")
        ]

    def __str__(self) -> str:
        return self.tag


class Segment(models.Model):
    """A saved audience: `definition` is the rule tree the segment builder edits
    (see `datahub.segments.grammar`); members are materialised on schedule."""

    name = models.CharField("人群名称", max_length=64, unique=True)
    description = models.CharField("说明", max_length=200, blank=True)
    definition = models.JSONField("规则")
    member_count = models.PositiveIntegerField("人数", default=0)
    materialised_at = models.DateTimeField("最近计算", null=True, blank=True)
    created_by = models.CharField("创建人", max_length=64)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "人群"
        verbose_name_plural = "人群(圈选)"

    def __str__(self) -> str:
        return self.name


class SegmentMember(models.Model):
    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="members")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")

    class Meta:
        verbose_name = "人群成员"
        verbose_name_plural = "人群成员"
        constraints = [
            models.UniqueConstraint(fields=["segment", "person"], name="datahub_segment_member")
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.person_id}"


class SegmentCouponIssue(models.Model):
    """One coupon issue to a segment's members under an `Idempotency-Key`: a retried request
    (a timeout, a second tab) answers what the first one did instead of issuing again."""

    segment = models.ForeignKey(Segment, on_delete=models.CASCADE, related_name="coupon_issues")
    template = models.ForeignKey(
        "promotions.CouponTemplate", on_delete=models.CASCADE, related_name="+"
    )
    idempotency_key = models.CharField("幂等键", max_length=64)
    issued = models.PositiveIntegerField("发放张数", default=0)
    skipped = models.JSONField("跳过(按原因)", default=dict)
    created_by = models.CharField("发放人", max_length=64)
    created_at = models.DateTimeField("发放时间")

    class Meta:
        verbose_name = "人群发券记录"
        verbose_name_plural = "人群发券记录"
        constraints = [
            models.UniqueConstraint(
                fields=["segment", "idempotency_key"], name="datahub_segment_issue_key"
            )
        ]

    def __str__(self) -> str:
        return f"{self.segment_id}:{self.idempotency_key}"


class AcquisitionSpend(models.Model):
    """Money spent to acquire customers in a channel/campaign over a period (entered by
    operators): the numerator of the new-customer acquisition cost."""

    channel = models.CharField("渠道", max_length=16, choices=SourceChannel.choices)
    campaign = models.CharField("活动", max_length=64, blank=True)
    starts_on = models.DateField("开始日期")
    ends_on = models.DateField("结束日期")
    amount_fen = models.PositiveBigIntegerField("花费(分)")
    note = models.CharField("备注", max_length=200, blank=True)
    created_by = models.CharField("录入人", max_length=64)
    created_at = models.DateTimeField("录入时间")

    class Meta:
        verbose_name = "获客花费"
        verbose_name_plural = "获客花费"
        ordering = ["-starts_on"]

    def __str__(self) -> str:
        return f"{self.get_channel_display()} {self.campaign} {self.starts_on}~{self.ends_on}"
