"""What fulfillment keeps: carriers, each paid order's allocation (the solver's decision and
its explanation) and the shipments (one per parcel) it produced, with their lines (which lot)
and status timeline. Features add their tables below, one block each."""

from __future__ import annotations

from django.db import models

from freshloop.catalog.models import StorageCondition


class Carrier(models.Model):
    """A carrier's service (顺丰冷运, 京东冷链, 中通快递 …): what it can keep cold and how fast."""

    code = models.SlugField("编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    supports_chilled = models.BooleanField("冷藏运输", default=False)
    supports_frozen = models.BooleanField("冷冻运输", default=False)
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "承运商"
        verbose_name_plural = "承运商"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def can_carry(self, storage: str) -> bool:
        if storage == StorageCondition.CHILLED:
            return self.supports_chilled
        if storage == StorageCondition.FROZEN:
            return self.supports_frozen
        return True


class AllocationStatus(models.TextChoices):
    PENDING = "pending", "待分仓"
    ALLOCATED = "allocated", "已分仓"
    FAILED = "failed", "分仓失败"


class Allocation(models.Model):
    """The decision for one paid order: which warehouse(s) and carrier(s), at what cost, by
    when — and why, in words the order page shows."""

    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="allocation", verbose_name="订单"
    )
    status = models.CharField(
        "状态",
        max_length=16,
        choices=AllocationStatus.choices,
        default=AllocationStatus.PENDING,
        db_index=True,
    )
    cost_fen = models.PositiveIntegerField("物流成本(分)", default=0)
    promised_on = models.DateField("承诺送达", null=True, blank=True)
    explanation = models.CharField("分仓说明", max_length=300, blank=True)
    batch_ref = models.CharField(
        "批量分仓", max_length=64, blank=True, help_text="一起分仓的一批订单（如一场秒杀）"
    )
    error = models.CharField("失败原因", max_length=300, blank=True)
    attempts = models.PositiveIntegerField("尝试次数", default=0)
    created_at = models.DateTimeField("创建时间")
    decided_at = models.DateTimeField("分仓时间", null=True, blank=True)

    class Meta:
        verbose_name = "分仓决策"
        verbose_name_plural = "分仓决策"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.order_id} {self.get_status_display()}"


class ShipmentStatus(models.TextChoices):
    CREATED = "created", "已创建"
    PICKED = "picked", "已拣货"
    HANDED_OVER = "handed_over", "已交接承运商"
    IN_TRANSIT = "in_transit", "运输中"
    OUT_FOR_DELIVERY = "out_for_delivery", "派送中"
    DELIVERED = "delivered", "已签收"
    EXCEPTION = "exception", "异常"


class Shipment(models.Model):
    """One parcel of an order: from one warehouse, by one carrier, in one storage class (a
    chilled item never travels in an ambient parcel)."""

    shipment_no = models.CharField("包裹号", max_length=40, unique=True)
    allocation = models.ForeignKey(
        Allocation, on_delete=models.PROTECT, related_name="shipments", verbose_name="分仓决策"
    )
    order = models.ForeignKey(
        "orders.Order", on_delete=models.PROTECT, related_name="shipments", verbose_name="订单"
    )
    warehouse = models.ForeignKey(
        "inventory.Warehouse", on_delete=models.PROTECT, related_name="+", verbose_name="发货仓"
    )
    carrier = models.ForeignKey(
        Carrier, on_delete=models.PROTECT, related_name="shipments", verbose_name="承运商"
    )
    storage = models.CharField("温层", max_length=16, choices=StorageCondition.choices)
    status = models.CharField(
        "状态",
        max_length=20,
        choices=ShipmentStatus.choices,
        default=ShipmentStatus.CREATED,
        db_index=True,
    )
    waybill_no = models.CharField("运单号", max_length=64, blank=True, db_index=True)
    label = models.JSONField("面单数据", default=dict, blank=True)
    cost_fen = models.PositiveIntegerField("运费成本(分)", default=0)
    weight_g = models.PositiveIntegerField("重量(克)", default=0)
    transit_days = models.PositiveIntegerField("时效(天)", default=0)
    promised_on = models.DateField("承诺送达", null=True, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")
    handed_over_at = models.DateTimeField("交接时间", null=True, blank=True)
    delivered_at = models.DateTimeField("签收时间", null=True, blank=True)

    class Meta:
        verbose_name = "包裹"
        verbose_name_plural = "包裹"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.shipment_no


class ShipmentLine(models.Model):
    """Units of one order line in one parcel, from one lot (FEFO chose it)."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="lines")
    order_line = models.ForeignKey("orders.OrderLine", on_delete=models.PROTECT, related_name="+")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="+")
    batch = models.ForeignKey(
        "catalog.Batch",
        on_delete=models.PROTECT,
        related_name="shipment_lines",
        null=True,
        blank=True,
        verbose_name="批次",
    )
    quantity = models.PositiveIntegerField("数量")

    class Meta:
        verbose_name = "包裹商品"
        verbose_name_plural = "包裹商品"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.shipment_id}: {self.sku_id} × {self.quantity}"


class ShipmentEvent(models.Model):
    """One step of a parcel's timeline, from a carrier push, the sandbox or an operator.
    `external_id` makes a replayed push harmless."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="events")
    status = models.CharField("状态", max_length=20, choices=ShipmentStatus.choices)
    description = models.CharField("描述", max_length=200, blank=True)
    location = models.CharField("地点", max_length=64, blank=True)
    source = models.CharField("来源", max_length=32)
    external_id = models.CharField("外部编号", max_length=64, blank=True)
    occurred_at = models.DateTimeField("发生时间", db_index=True)
    recorded_at = models.DateTimeField("记录时间")

    class Meta:
        verbose_name = "包裹轨迹"
        verbose_name_plural = "包裹轨迹"
        ordering = ["occurred_at", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["shipment", "external_id"],
                condition=~models.Q(external_id=""),
                name="fulfillment_event_once",
            )
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.status}"


# --- automated after-sales: rules, decisions, customer-service tasks, recalls --------------


class AfterSalesTrigger(models.TextChoices):
    COMPLAINT = "complaint", "顾客提交售后"
    EXCURSION = "excursion", "运输温度超标"
    LATE_DELIVERY = "late_delivery", "超时送达"
    LOT_RECALLED = "lot_recalled", "批次召回"


class AfterSalesAction(models.TextChoices):
    FULL_REFUND = "full_refund", "全额退款"
    PARTIAL_REFUND = "partial_refund", "部分退款"
    REPLACEMENT = "replacement", "补发（转客服）"
    COUPON = "coupon", "补偿优惠券"
    SERVICE_TASK = "service_task", "转客服处理"


class AfterSalesRule(models.Model):
    """One rule of the automatic after-sales rule set, configured in the console: WHEN a
    trigger fires, IF its conditions hold, THEN its action — the first active rule by
    priority (smallest first) that matches decides."""

    name = models.CharField("规则名称", max_length=64)
    priority = models.PositiveIntegerField("优先级", default=100, help_text="数字越小越先匹配")
    is_active = models.BooleanField("启用", default=True)
    trigger = models.CharField("触发", max_length=16, choices=AfterSalesTrigger.choices)
    reasons = models.JSONField("售后原因", default=list, blank=True, help_text="留空表示任意原因")
    requires_photo = models.BooleanField("需要照片", default=False)
    min_late_hours = models.PositiveIntegerField("超时至少(小时)", default=0)
    min_excursion_minutes = models.PositiveIntegerField("超温至少(分钟)", default=0)
    amount_min_fen = models.PositiveIntegerField("金额不低于(分)", null=True, blank=True)
    amount_max_fen = models.PositiveIntegerField("金额不超过(分)", null=True, blank=True)
    member_levels = models.JSONField("会员等级", default=list, blank=True, help_text="等级代码")
    max_recent_claims = models.PositiveIntegerField("近期售后次数上限", null=True, blank=True)
    claims_window_days = models.PositiveIntegerField("统计天数", default=30)
    action = models.CharField("动作", max_length=16, choices=AfterSalesAction.choices)
    refund_percent = models.PositiveSmallIntegerField("退款比例(%)", null=True, blank=True)
    refund_fen = models.PositiveIntegerField("退款金额(分)", null=True, blank=True)
    coupon_template = models.ForeignKey(
        "promotions.CouponTemplate",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="补偿券",
    )
    approval_above_fen = models.PositiveIntegerField("超过此金额需审批(分)", null=True, blank=True)
    customer_limit_count = models.PositiveIntegerField(
        "每位顾客自动处理上限(次)", null=True, blank=True
    )
    customer_limit_days = models.PositiveIntegerField("顾客上限周期(天)", default=30)
    daily_limit_fen = models.PositiveIntegerField("每日自动退款上限(分)", null=True, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "售后自动规则"
        verbose_name_plural = "售后自动规则"
        ordering = ["priority", "id"]

    def __str__(self) -> str:
        return self.name


class DecisionStatus(models.TextChoices):
    EXECUTED = "executed", "已自动处理"
    PENDING_APPROVAL = "pending_approval", "待审批"
    REJECTED = "rejected", "审批驳回"
    MANUAL = "manual", "转人工"
    FAILED = "failed", "执行失败"


class AutoDecision(models.Model):
    """One automatic after-sales decision: what triggered it (one decision per trigger key),
    which rule matched, the facts it saw, what it did and how it was explained."""

    trigger = models.CharField("触发", max_length=16, choices=AfterSalesTrigger.choices)
    trigger_key = models.CharField("触发键", max_length=96, unique=True)
    rule = models.ForeignKey(
        AfterSalesRule, on_delete=models.SET_NULL, null=True, blank=True, related_name="decisions"
    )
    person = models.ForeignKey("identity.Person", on_delete=models.PROTECT, related_name="+")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+")
    case = models.ForeignKey(
        "orders.AfterSalesCase",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="auto_decisions",
    )
    shipment = models.ForeignKey(
        Shipment, on_delete=models.PROTECT, null=True, blank=True, related_name="auto_decisions"
    )
    recall = models.ForeignKey(
        "Recall", on_delete=models.PROTECT, null=True, blank=True, related_name="decisions"
    )
    inputs = models.JSONField("输入快照", default=dict)
    action = models.CharField("动作", max_length=16, choices=AfterSalesAction.choices, blank=True)
    amount_fen = models.PositiveIntegerField("金额(分)", default=0)
    refund_lines = models.JSONField("退款商品", default=list, blank=True)
    status = models.CharField("状态", max_length=20, choices=DecisionStatus.choices, db_index=True)
    explanation = models.CharField("说明", max_length=300)
    refund_no = models.CharField("退款单号", max_length=40, blank=True)
    coupon_id = models.BigIntegerField("优惠券", null=True, blank=True)
    decided_by = models.CharField("审批人", max_length=64, blank=True)
    created_at = models.DateTimeField("创建时间", db_index=True)
    decided_at = models.DateTimeField("处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "售后自动决策"
        verbose_name_plural = "售后自动决策"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.trigger_key} {self.status}"


class ServiceTaskStatus(models.TextChoices):
    OPEN = "open", "待处理"
    DONE = "done", "已完成"


class ServiceTask(models.Model):
    """Work for customer service an automatic decision handed over (a replacement to send, a
    case no rule covers, an action that could not run)."""

    decision = models.ForeignKey(AutoDecision, on_delete=models.CASCADE, related_name="tasks")
    order = models.ForeignKey("orders.Order", on_delete=models.PROTECT, related_name="+")
    title = models.CharField("事项", max_length=200)
    status = models.CharField(
        "状态", max_length=8, choices=ServiceTaskStatus.choices, default=ServiceTaskStatus.OPEN
    )
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "客服任务"
        verbose_name_plural = "客服任务"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.title


class Recall(models.Model):
    """A production lot flagged unsafe; its report says whom it reached and what it paid."""

    batch = models.ForeignKey("catalog.Batch", on_delete=models.PROTECT, related_name="+")
    reason = models.CharField("召回原因", max_length=200)
    created_by = models.CharField("发起人", max_length=64)
    blocked_stock = models.JSONField(
        "冻结库存", default=list, help_text="[{warehouse, quantity}] 召回时仓内未发出的该批次"
    )
    processed = models.BooleanField("已处理", default=False)
    created_at = models.DateTimeField("发起时间")

    class Meta:
        verbose_name = "批次召回"
        verbose_name_plural = "批次召回"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["batch"], name="fulfillment_recall_once_per_batch")
        ]

    def __str__(self) -> str:
        return f"召回 {self.batch_id}"


# --- ERP / WMS / TMS integration: outbound webhooks, inbound imports ----------------------

from freshloop.core.fields import EncryptedTextField  # noqa: E402


class WebhookEndpoint(models.Model):
    """An outside system (ERP, WMS, TMS) that receives signed event notifications."""

    name = models.CharField("名称", max_length=64)
    url = models.URLField("地址", max_length=300)
    secret = EncryptedTextField("签名密钥")
    event_types = models.JSONField("订阅事件", default=list)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "Webhook 订阅"
        verbose_name_plural = "Webhook 订阅"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class ImportRun(models.Model):
    """One CSV or API import (stock levels, shipment updates): applied whole or not at all."""

    kind = models.CharField("类型", max_length=16)
    source = models.CharField("来源", max_length=16, default="csv")
    dry_run = models.BooleanField("试运行", default=False)
    applied = models.BooleanField("已生效", default=False)
    rows = models.PositiveIntegerField("行数", default=0)
    errors = models.JSONField("错误", default=list, blank=True)
    actor = models.CharField("操作人", max_length=64)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "导入记录"
        verbose_name_plural = "导入记录"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.kind} {self.created_at:%Y-%m-%d %H:%M}"


# --- shipments & tracking: carrier credentials ------------------------------------------------


class CarrierCredential(models.Model):
    """What a carrier's pushes are checked with: the generic webhook's HMAC secret and, for a
    carrier tracked through Kuaidi100 (快递100), the subscription's salt and key. Kept here,
    not in settings, so an operator can rotate them without a deploy."""

    carrier = models.OneToOneField(
        Carrier, on_delete=models.CASCADE, related_name="credential", verbose_name="承运商"
    )
    # The secrets are sealed at rest like every other key FreshLoop keeps (core.fields); the
    # company code is not a secret and is filtered on (which carriers Kuaidi100 tracks).
    webhook_secret = EncryptedTextField("推送签名密钥", blank=True)
    kuaidi100_company = models.CharField("快递100公司编码", max_length=32, blank=True)
    kuaidi100_salt = EncryptedTextField("快递100签名盐", blank=True)
    kuaidi100_key = EncryptedTextField("快递100授权码", blank=True)

    class Meta:
        verbose_name = "承运商凭证"
        verbose_name_plural = "承运商凭证"

    def __str__(self) -> str:
        return str(self.carrier_id)


# --- cold-chain telemetry ---------------------------------------------------------------------


class TelemetryDevice(models.Model):
    """A temperature logger travelling in a parcel. Its key is shown once at creation; only
    its SHA-256 is kept (`key_hash`), so the table leaks nothing that can post readings."""

    code = models.CharField("设备编号", max_length=40, unique=True)
    name = models.CharField("名称", max_length=64, blank=True)
    key_prefix = models.CharField("密钥前缀", max_length=12)
    key_hash = models.CharField("密钥摘要", max_length=64, unique=True)
    shipment = models.ForeignKey(
        Shipment,
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="devices",
        verbose_name="当前包裹",
    )
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间")
    last_seen_at = models.DateTimeField("最近上报", null=True, blank=True)

    class Meta:
        verbose_name = "温度记录仪"
        verbose_name_plural = "温度记录仪"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.code


class TemperatureReading(models.Model):
    """One reading of a logger. `(device, reading_id)` is unique: a batch sent twice adds
    nothing. Readings may arrive in any order; `recorded_at` is when the logger measured."""

    device = models.ForeignKey(TelemetryDevice, on_delete=models.CASCADE, related_name="+")
    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="readings")
    reading_id = models.CharField("读数编号", max_length=64)
    recorded_at = models.DateTimeField("测量时间")
    celsius = models.FloatField("温度(°C)")
    humidity = models.FloatField("湿度(%)", null=True, blank=True)

    class Meta:
        verbose_name = "温度读数"
        verbose_name_plural = "温度读数"
        constraints = [
            models.UniqueConstraint(
                fields=["device", "reading_id"], name="fulfillment_reading_once"
            )
        ]
        indexes = [
            models.Index(fields=["shipment", "recorded_at"], name="fulfillment_reading_series")
        ]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.recorded_at:%H:%M} {self.celsius}"


class Excursion(models.Model):
    """A stretch of time a parcel's temperature stayed outside its storage class's safe band
    for longer than tolerated. Recomputed when late readings land in or next to it: it may
    grow (`ended_at`, `peak_celsius`, `minutes`), and `announced` records that
    ExcursionDetected went out — once per excursion."""

    shipment = models.ForeignKey(Shipment, on_delete=models.CASCADE, related_name="excursions")
    storage = models.CharField("温层", max_length=16, choices=StorageCondition.choices)
    started_at = models.DateTimeField("开始")
    ended_at = models.DateTimeField("结束")
    peak_celsius = models.FloatField("峰值(°C)")
    minutes = models.PositiveIntegerField("持续(分钟)")
    announced = models.BooleanField("已通知", default=False)
    detected_at = models.DateTimeField("发现时间")

    class Meta:
        verbose_name = "温度异常"
        verbose_name_plural = "温度异常"
        ordering = ["-started_at"]

    def __str__(self) -> str:
        return f"{self.shipment_id} {self.minutes}min"


# --- allocation: carrier rates and speeds, unit weights (issue 16, FF-1) ----------------------


class RateZone(models.TextChoices):
    LOCAL = "local", "同省"
    REGIONAL = "regional", "同区域"
    NATIONAL = "national", "跨区域"
    REMOTE = "remote", "偏远地区"


class CarrierRate(models.Model):
    """What a carrier charges for one parcel: first weight + each extra kg (rounded up), plus
    a cold-chain surcharge for chilled and frozen parcels.

    A rate may name the zone between warehouse and destination (`fulfillment.geo.zone_of`) and
    a destination (a province like 广东 or a region like 华南); blank means any. The most
    specific row wins: province over region over blank, then a named zone over blank — so a
    carrier needs one blank/blank row as its default."""

    carrier = models.ForeignKey(
        Carrier, on_delete=models.CASCADE, related_name="rates", verbose_name="承运商"
    )
    zone = models.CharField("区段", max_length=16, choices=RateZone.choices, blank=True)
    destination = models.CharField(
        "目的地",
        max_length=32,
        blank=True,
        help_text="省份（如 广东）或区域（如 华南），留空为默认",
    )
    first_weight_g = models.PositiveIntegerField("首重(克)", default=1000)
    first_fee_fen = models.PositiveIntegerField("首重费用(分)")
    extra_per_kg_fen = models.PositiveIntegerField("续重每公斤(分)", default=0)
    cold_surcharge_fen = models.PositiveIntegerField("冷链附加费(分)", default=0)

    class Meta:
        verbose_name = "承运商运价"
        verbose_name_plural = "承运商运价"
        ordering = ["carrier_id", "destination", "zone"]
        constraints = [
            models.UniqueConstraint(
                fields=["carrier", "zone", "destination"], name="fulfillment_rate_unique"
            )
        ]

    def __str__(self) -> str:
        return f"{self.carrier_id} {self.zone or '*'} {self.destination or '*'}"


class CarrierSpeed(models.Model):
    """A carrier service's speed against the distance-based days (`fulfillment.geo`):
    days = max(1, round(base × speed_factor) + days_offset). Without a row: factor 1, offset 0."""

    carrier = models.OneToOneField(
        Carrier, on_delete=models.CASCADE, related_name="speed", verbose_name="承运商"
    )
    speed_factor = models.FloatField("时效系数", default=1.0)
    days_offset = models.IntegerField("时效加减(天)", default=0)

    class Meta:
        verbose_name = "承运商时效"
        verbose_name_plural = "承运商时效"

    def __str__(self) -> str:
        return f"{self.carrier_id} ×{self.speed_factor} {self.days_offset:+d}"


DEFAULT_UNIT_WEIGHT_G = 500
"""A SKU's packed weight when nobody recorded one (the catalog has no weight field)."""


class SkuWeight(models.Model):
    """The packed weight of one unit of a SKU (with its ice packs for cold goods): parcels are
    priced by weight. The catalog has no weight, so fulfillment keeps it; SKUs without a row
    weigh `DEFAULT_UNIT_WEIGHT_G`."""

    sku = models.OneToOneField(
        "catalog.Sku", on_delete=models.CASCADE, related_name="+", verbose_name="SKU"
    )
    weight_g = models.PositiveIntegerField("单件重量(克)")

    class Meta:
        verbose_name = "SKU 重量"
        verbose_name_plural = "SKU 重量"

    def __str__(self) -> str:
        return f"{self.sku_id}: {self.weight_g} g"
