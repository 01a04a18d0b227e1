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


# --- live-heat demand forecast (DH-8) -------------------------------------------------------
#
# One refresh of one scheduled session is a `SessionForecastRun`: when it ran, on data up to
# which moment, what came of it (forecast stored, too little data, failed) and why. A run that
# forecast stores one `SessionForecast` line per SKU × warehouse. A new forecast of a session
# replaces the previous one: its lines are deleted in the same transaction, so a session has
# the lines of its latest forecasting run only, while the run rows stay as the history of
# refreshes (the console shows why a session has no forecast). Shortages become
# `StockAlertRecord`s: at most one OPEN record per session × SKU × warehouse, updated while the
# shortage lasts, RESOLVED when a later forecast finds none or the session has begun.


class ForecastOutcome(models.TextChoices):
    FORECAST = "forecast", "已预测"
    TOO_LITTLE_DATA = "too_little_data", "数据不足"
    SKIPPED = "skipped", "已跳过"
    FAILED = "failed", "失败"


class SessionForecastRun(models.Model):
    session = models.ForeignKey(
        "live.LiveSession", on_delete=models.CASCADE, related_name="+", verbose_name="直播场次"
    )
    # The data cutoff: every input was read as it stood at this moment (no later data).
    as_of = models.DateTimeField("数据截止")
    # The session's start when forecast: a later reschedule makes the forecast stale.
    session_starts_at = models.DateTimeField("预测时开播时间")
    created_at = models.DateTimeField("运行时间")
    trigger = models.CharField("发起", max_length=64)
    outcome = models.CharField("结果", max_length=16, choices=ForecastOutcome.choices)
    message = models.CharField("说明", max_length=500, blank=True)
    detail = models.JSONField("详情", default=dict, blank=True)

    class Meta:
        verbose_name = "直播需求预测记录"
        verbose_name_plural = "直播需求预测记录"
        ordering = ("-created_at", "-pk")
        indexes = [
            models.Index(fields=("session", "-created_at"), name="intelligence_fc_run_session"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id} {self.created_at:%Y-%m-%d %H:%M} {self.get_outcome_display()}"


class SessionForecast(models.Model):
    """Demand of one SKU at one warehouse on a session's day, as one run forecast it.

    `forecast_units` = `baseline_units` (regular non-live demand that day) + `live_units`
    (this warehouse's share of what the session itself sells); `demand_units` and
    `safety_stock_units` are both rounded up to whole units, as the stock check uses them;
    `available_units` is the stock expected to be left for the session day."""

    run = models.ForeignKey(SessionForecastRun, on_delete=models.CASCADE, related_name="lines")
    session = models.ForeignKey(
        "live.LiveSession", on_delete=models.CASCADE, related_name="+", verbose_name="直播场次"
    )
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.PROTECT, related_name="+", verbose_name="SKU"
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name="仓库"
    )
    day = models.DateField("直播日(上海)")
    forecast_units = models.FloatField("预测需求(件)")
    baseline_units = models.FloatField("日常需求(件)")
    baseline_sigma = models.FloatField("日常需求波动σ")
    live_units = models.FloatField("直播销量(件)")
    share = models.FloatField("分仓比例")
    demand_units = models.PositiveIntegerField("需求(整件)")
    safety_stock_units = models.PositiveIntegerField("安全库存(件)")
    available_units = models.IntegerField("开播日可用(件)")
    baseline_method = models.CharField("日常需求方法", max_length=16)
    live_method = models.CharField("直播销量方法", max_length=16)
    inputs = models.JSONField("模型输入", default=dict)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "直播需求预测"
        verbose_name_plural = "直播需求预测"
        ordering = ("session_id", "sku_id", "warehouse_id")
        constraints = [
            models.UniqueConstraint(
                fields=("run", "sku", "warehouse"), name="intelligence_forecast_line_unique"
            ),
        ]
        indexes = [
            models.Index(fields=("session", "sku"), name="intelligence_fc_session_sku"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.sku_id}@{self.warehouse_id} {self.forecast_units:.1f}"


class AlertStatus(models.TextChoices):
    OPEN = "open", "待处理"
    RESOLVED = "resolved", "已解除"


class StockAlertRecord(models.Model):
    """A warehouse expected to run short for a session: demand + safety stock over what will
    be available, with the suggested transfers (from warehouses with a surplus) and purchase."""

    session = models.ForeignKey(
        "live.LiveSession", on_delete=models.CASCADE, related_name="+", verbose_name="直播场次"
    )
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.PROTECT, related_name="+", verbose_name="SKU"
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name="仓库"
    )
    run = models.ForeignKey(
        SessionForecastRun,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="alerts",
        verbose_name="最近一次预测",
    )
    demand_units = models.PositiveIntegerField("预计需求(件)")
    safety_stock_units = models.PositiveIntegerField("安全库存(件)")
    available_units = models.IntegerField("开播日可用(件)")
    shortage_units = models.PositiveIntegerField("缺口(件)")
    # [{"from_warehouse_id": 2, "from_warehouse_name": "北京仓", "units": 30}, …]
    transfers = models.JSONField("建议调拨", default=list, blank=True)
    purchase_units = models.PositiveIntegerField("建议采购(件)", default=0)
    reason = models.TextField("原因")
    status = models.CharField(
        "状态", max_length=12, choices=AlertStatus.choices, default=AlertStatus.OPEN
    )
    resolution = models.CharField("解除原因", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")
    resolved_at = models.DateTimeField("解除时间", null=True, blank=True)

    class Meta:
        verbose_name = "缺货预警"
        verbose_name_plural = "缺货预警"
        ordering = ("-created_at", "-pk")
        constraints = [
            models.UniqueConstraint(
                fields=("session", "sku", "warehouse"),
                condition=Q(status="open"),
                name="intelligence_one_open_alert",
            ),
        ]
        indexes = [
            models.Index(fields=("session", "status"), name="intelligence_alert_session"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.sku_id}@{self.warehouse_id} 缺 {self.shortage_units}"
