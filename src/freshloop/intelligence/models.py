"""The model registry (DH-7): every trained version of every model, with what it was trained
on, how it scored on held-out time and the artefact that re-scores people without retraining.

Per kind, exactly one version is ACTIVE (it produced the scores people have now) and at most one
is PREVIOUS (kept for a one-step rollback); older ones are RETIRED but kept for the record.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class ModelKind(models.TextChoices):
    CHURN = "churn", "流失风险"
    PROPENSITY = "propensity", "30天购买概率"
    CLV = "clv", "客户终身价值"
    CONTACT_HOUR = "contact_hour", "最佳触达时段"


class VersionStatus(models.TextChoices):
    ACTIVE = "active", "使用中"
    PREVIOUS = "previous", "上一版本（可回退）"
    RETIRED = "retired", "已停用"


class ModelVersion(models.Model):
    kind = models.CharField("模型", max_length=16, choices=ModelKind.choices)
    version = models.PositiveIntegerField("版本")
    status = models.CharField(
        "状态", max_length=12, choices=VersionStatus.choices, default=VersionStatus.ACTIVE
    )
    trained_at = models.DateTimeField("训练时间")
    trained_by = models.CharField("训练发起", max_length=64)
    # The moments that define the data: features as of `cutoff`; the held-out evaluation's
    # features as of `eval_cutoff` with outcomes up to `cutoff` (see customer_models).
    cutoff = models.DateTimeField("数据截止")
    train_cutoff = models.DateTimeField("训练窗口起点", null=True, blank=True)
    eval_cutoff = models.DateTimeField("评估窗口起点", null=True, blank=True)
    horizon_days = models.PositiveSmallIntegerField("预测窗口(天)", default=30)
    features = models.JSONField("特征", default=list)
    params = models.JSONField("参数", default=dict)
    metrics = models.JSONField("指标", default=dict)
    curves = models.JSONField("曲线", default=dict)
    artifact = models.TextField("模型文件")
    people_scored = models.PositiveIntegerField("打分人数", default=0)
    seconds = models.FloatField("训练耗时(秒)", default=0)

    class Meta:
        verbose_name = "模型版本"
        verbose_name_plural = "模型版本"
        ordering = ("kind", "-version")
        constraints = [
            models.UniqueConstraint(fields=("kind", "version"), name="intelligence_kind_version"),
            models.UniqueConstraint(
                fields=("kind",),
                condition=Q(status="active"),
                name="intelligence_one_active_per_kind",
            ),
            models.UniqueConstraint(
                fields=("kind",),
                condition=Q(status="previous"),
                name="intelligence_one_previous_per_kind",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} v{self.version}"


class RunOutcome(models.TextChoices):
    TRAINED = "trained", "已训练"
    TOO_LITTLE_DATA = "too_little_data", "数据不足"
    FAILED = "failed", "失败"


class TrainingRun(models.Model):
    """One attempt to (re)train a model kind: the console shows why a night produced nothing."""

    kind = models.CharField("模型", max_length=16, choices=ModelKind.choices)
    started_at = models.DateTimeField("开始时间")
    finished_at = models.DateTimeField("结束时间")
    trigger = models.CharField("发起", max_length=64)
    outcome = models.CharField("结果", max_length=16, choices=RunOutcome.choices)
    message = models.CharField("说明", max_length=500, blank=True)
    detail = models.JSONField("详情", default=dict, blank=True)
    version = models.ForeignKey(
        ModelVersion, null=True, blank=True, on_delete=models.SET_NULL, related_name="runs"
    )

    class Meta:
        verbose_name = "训练记录"
        verbose_name_plural = "训练记录"
        ordering = ("-started_at", "-pk")
        indexes = [models.Index(fields=("kind", "-started_at"), name="intelligence_run_kind")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.started_at:%Y-%m-%d %H:%M} {self.get_outcome_display()}"
