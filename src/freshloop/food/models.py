"""Tables of the food features (SPEC FD-1…FD-6). Each feature adds its models in its own block
(one section per feature), so features land without touching each other's."""

from __future__ import annotations

from django.db import models

# --- smart subscriptions (FD-1) ---
from freshloop.core.fields import EncryptedJSONField


class SubscriptionStatus(models.TextChoices):
    ACTIVE = "active", "配送中"
    PAUSED = "paused", "已暂停"
    CANCELLED = "cancelled", "已取消"


class SubscriptionPayment(models.TextChoices):
    PAY_NOW = "pay_now", "下单后提醒付款"
    # Charged under the customer's payment contract (委托代扣 / 周期扣款); a refused charge
    # falls back to the pay-now message.
    CONTRACT = "contract", "自动扣款（免密支付）"


class Subscription(models.Model):
    """A household's standing order of one SKU (or a small basket), delivered on a cadence.
    Orders are placed by the daily job through orders' normal checkout; this row only says
    what, where, how often and when next."""

    subscription_no = models.CharField("订阅号", max_length=40, unique=True)
    person = models.ForeignKey(
        "identity.Person", on_delete=models.PROTECT, related_name="food_subscriptions"
    )
    items = models.JSONField("商品", help_text='[{"sku_id": 1, "quantity": 1}]')
    title = models.CharField("名称", max_length=120)
    address = EncryptedJSONField("收货地址", default=dict, blank=True)
    cadence_kind = models.CharField("周期类型", max_length=16)
    cadence_value = models.PositiveSmallIntegerField("周期值")
    next_delivery_date = models.DateField("下次配送日", db_index=True)
    status = models.CharField(
        "状态", max_length=16, choices=SubscriptionStatus.choices, default=SubscriptionStatus.ACTIVE
    )
    paused_until = models.DateField("暂停至", null=True, blank=True)
    pause_reason = models.CharField("暂停原因", max_length=200, blank=True)
    payment_method = models.CharField(
        "付款方式",
        max_length=16,
        choices=SubscriptionPayment.choices,
        default=SubscriptionPayment.PAY_NOW,
    )
    payment_contract = models.ForeignKey(
        "payments.PaymentContract",
        verbose_name="代扣协议",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "订阅"
        verbose_name_plural = "订阅"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "next_delivery_date"], name="food_sub_due")]

    def __str__(self) -> str:
        return f"{self.subscription_no} {self.title}"


class SubscriptionDeliveryStatus(models.TextChoices):
    PLACED = "placed", "已下单"
    FAILED = "failed", "下单失败，待重试"
    GAVE_UP = "gave_up", "多次失败，已暂停订阅"
    SKIPPED = "skipped", "已跳过"


class SubscriptionDelivery(models.Model):
    """One delivery date of a subscription: the unique (subscription, date) row is what makes
    the ordering job idempotent — a rerun finds it and does not order that date again."""

    subscription = models.ForeignKey(
        Subscription, on_delete=models.CASCADE, related_name="deliveries"
    )
    delivery_date = models.DateField("配送日")
    status = models.CharField("状态", max_length=16, choices=SubscriptionDeliveryStatus.choices)
    order_no = models.CharField("订单号", max_length=40, blank=True, db_index=True)
    attempts = models.PositiveSmallIntegerField("下单次数", default=0)
    last_error = models.CharField("最近失败原因", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "订阅配送"
        verbose_name_plural = "订阅配送"
        ordering = ["-delivery_date"]
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "delivery_date"], name="food_sub_delivery_once"
            )
        ]
        indexes = [models.Index(fields=["status", "delivery_date"], name="food_sub_dlv_status")]

    def __str__(self) -> str:
        return f"{self.delivery_date} {self.get_status_display()}"


class SubscriptionDiscount(models.Model):
    """The subscription price of a product, set by operators: percent off the list price of
    every SKU of the product when bought through a subscription (a special price of kind
    "subscription" in promotions' pricing)."""

    product = models.OneToOneField(
        "catalog.Product", on_delete=models.CASCADE, related_name="food_subscription_discount"
    )
    percent_off = models.PositiveSmallIntegerField("订阅立减(%)", help_text="1–50")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "订阅折扣"
        verbose_name_plural = "订阅折扣"

    def __str__(self) -> str:
        return f"{self.product} 订阅 {self.percent_off}% off"


# --- pantry (FD-2) ---


class PantrySource(models.TextChoices):
    ORDER = "order", "订单签收"
    SCAN = "scan", "扫码添加"
    TYPED = "typed", "手动添加"


class PantryStatus(models.TextChoices):
    ACTIVE = "active", "在储"
    USED = "used", "用完了"
    THROWN = "thrown", "扔掉了"


class PantryItem(models.Model):
    """One thing in a person's pantry (冰箱/储物柜) with its expiry date.

    `source_key` makes the automatic import idempotent: an item from a delivered order is keyed
    by its order line and lot ("line:12:lot:3"), so the delivery event delivered twice adds it
    once. Items a person adds by hand have no key. `expires_on` is a Shanghai calendar date (the
    date on the pack)."""

    person = models.ForeignKey(
        "identity.Person", on_delete=models.CASCADE, related_name="+", verbose_name="用户"
    )
    sku = models.ForeignKey(
        "catalog.Sku",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="SKU",
    )
    batch = models.ForeignKey(
        "catalog.Batch",
        on_delete=models.SET_NULL,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="批次",
    )
    name = models.CharField("名称", max_length=128)
    storage = models.CharField("储存条件", max_length=16)
    quantity = models.PositiveIntegerField("数量", default=1)
    expires_on = models.DateField("到期日期")
    expiry_estimated = models.BooleanField(
        "到期日为估算", default=False, help_text="没有批次时按签收日+保质期估算"
    )
    barcode = models.CharField("条码", max_length=13, blank=True)
    source = models.CharField("来源", max_length=16, choices=PantrySource.choices)
    source_key = models.CharField("来源键", max_length=64, null=True, blank=True, unique=True)
    order_no = models.CharField("订单号", max_length=40, blank=True)
    status = models.CharField(
        "状态", max_length=16, choices=PantryStatus.choices, default=PantryStatus.ACTIVE
    )
    closed_on = models.DateField("处理日期", null=True, blank=True)
    reminded_at = models.DateTimeField("提醒时间", null=True, blank=True)
    reminder_outcome = models.CharField(
        "提醒结果",
        max_length=24,
        blank=True,
        help_text="消息发送判定：已排队 / 免打扰暂缓 / 未发送",
    )
    created_at = models.DateTimeField("添加时间")
    closed_at = models.DateTimeField("处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "食品柜物品"
        verbose_name_plural = "食品柜物品"
        ordering = ["expires_on", "id"]
        indexes = [
            models.Index(fields=["person", "status", "expires_on"], name="food_pantry_person_idx"),
            models.Index(fields=["status", "expires_on"], name="food_pantry_due_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.name} 至 {self.expires_on}"


class PantryBarcode(models.Model):
    """Which SKU an EAN-13 on a pack is: scanning it names the item and its storage class.
    Kept by operators here because the catalog has no barcode field."""

    ean = models.CharField("EAN-13 条码", max_length=13, unique=True)
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.CASCADE, related_name="+", verbose_name="SKU"
    )

    class Meta:
        verbose_name = "商品条码"
        verbose_name_plural = "商品条码"

    def __str__(self) -> str:
        return self.ean


class PantryReminderRule(models.Model):
    """How many days before expiry a storage class is reminded (no row: the default in
    `pantry_reminders.DEFAULT_DAYS_BEFORE`)."""

    storage = models.CharField("储存条件", max_length=16, unique=True)
    days_before = models.PositiveIntegerField("提前天数")

    class Meta:
        verbose_name = "临期提醒规则"
        verbose_name_plural = "临期提醒规则"

    def __str__(self) -> str:
        return f"{self.storage}: {self.days_before} 天"


# --- traceability (FD-3) ----------------------------------------------------------------------


class TraceOrigin(models.Model):
    """A farm or pasture lots come from, with where it is: one origin serves many lots."""

    name = models.CharField("产地名称", max_length=64, unique=True)
    address = models.CharField("地址", max_length=200)
    latitude = models.DecimalField("纬度", max_digits=9, decimal_places=6)
    longitude = models.DecimalField("经度", max_digits=9, decimal_places=6)
    description = models.TextField("简介", max_length=2000, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "溯源产地"
        verbose_name_plural = "溯源产地"
        ordering = ["name"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(latitude__gte=-90, latitude__lte=90),
                name="food_traceorigin_latitude_range",
            ),
            models.CheckConstraint(
                condition=models.Q(longitude__gte=-180, longitude__lte=180),
                name="food_traceorigin_longitude_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TraceProfile(models.Model):
    """The traceability draft of one lot (catalog Batch). Operators edit the draft; publishing
    freezes it into a numbered TraceVersion, which is all the public page ever shows — so an
    edit after publication is invisible until it is published as the next version."""

    batch = models.OneToOneField(
        "catalog.Batch", on_delete=models.PROTECT, related_name="+", verbose_name="批次"
    )
    origin = models.ForeignKey(
        TraceOrigin,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="profiles",
        verbose_name="产地",
    )
    has_unpublished_changes = models.BooleanField("有未发布的修改", default=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "批次溯源"
        verbose_name_plural = "批次溯源"
        ordering = ["-updated_at", "-id"]

    def __str__(self) -> str:
        return f"溯源 {self.batch_id}"


class TraceRecordKind(models.TextChoices):
    PRODUCTION = "production", "生产记录"
    INSPECTION = "inspection", "检验报告"
    QUARANTINE = "quarantine", "检疫证明"
    FEED = "feed", "饲养记录"
    OTHER = "other", "其他"


class TraceRecord(models.Model):
    """A production or inspection record of a lot: what, when, by whom, with an optional photo
    (core/images.py variants) and an optional PDF document."""

    profile = models.ForeignKey(TraceProfile, on_delete=models.CASCADE, related_name="records")
    kind = models.CharField("类型", max_length=16, choices=TraceRecordKind.choices)
    occurred_on = models.DateField("日期")
    title = models.CharField("标题", max_length=80)
    inspector = models.CharField("检验/记录人", max_length=64)
    result = models.CharField("结果/说明", max_length=300, blank=True)
    photo_original = models.FileField("照片原图", max_length=255, blank=True)
    photo_jpeg_1080 = models.FileField("照片 JPEG 1080px", max_length=255, blank=True)
    photo_webp_400 = models.FileField("照片 WebP 400px", max_length=255, blank=True)
    document = models.FileField("文件(PDF)", max_length=255, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "溯源记录"
        verbose_name_plural = "溯源记录"
        ordering = ["occurred_on", "id"]

    def __str__(self) -> str:
        return self.title


class TraceMediaKind(models.TextChoices):
    PHOTO = "photo", "照片"
    VIDEO = "video", "视频"
    PANORAMA = "panorama", "360° 全景"


class TraceMedia(models.Model):
    """One stop of the lot's media tour: a photo, a short video or an equirectangular 360°
    panorama (2:1), shown in the browser's panorama viewer."""

    profile = models.ForeignKey(TraceProfile, on_delete=models.CASCADE, related_name="media")
    kind = models.CharField("类型", max_length=16, choices=TraceMediaKind.choices)
    caption = models.CharField("说明", max_length=120, blank=True)
    sort_order = models.PositiveIntegerField("排序", default=0)
    file = models.FileField("文件", max_length=255)
    """The original: the full-size image (a panorama needs every pixel) or the video."""
    jpeg_1080 = models.FileField("JPEG 1080px", max_length=255, blank=True)
    webp_400 = models.FileField("WebP 400px", max_length=255, blank=True)
    width = models.PositiveIntegerField("宽(px)", default=0)
    height = models.PositiveIntegerField("高(px)", default=0)
    created_at = models.DateTimeField("上传时间")

    class Meta:
        verbose_name = "溯源影像"
        verbose_name_plural = "溯源影像"
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.caption or f"{self.get_kind_display()} {self.pk}"


class TraceVersion(models.Model):
    """A published, frozen state of a lot's traceability: the snapshot the public page shows
    and, against the previous version, what changed (the page's 修改记录)."""

    profile = models.ForeignKey(TraceProfile, on_delete=models.CASCADE, related_name="versions")
    number = models.PositiveIntegerField("版本号")
    snapshot = models.JSONField("内容快照")
    changes = models.JSONField("修改内容", default=list)
    note = models.CharField("修改说明", max_length=200, blank=True)
    published_by = models.CharField("发布人", max_length=64)
    published_at = models.DateTimeField("发布时间")

    class Meta:
        verbose_name = "溯源版本"
        verbose_name_plural = "溯源版本"
        ordering = ["-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["profile", "number"], name="food_traceversion_unique_number"
            )
        ]

    def __str__(self) -> str:
        return f"v{self.number}"


# --- regional pools and seasonal calendar (FD-5, FD-6) ---


class RegionScope(models.TextChoices):
    ZONE = "zone", "南北方"
    PROVINCE = "province", "省份"
    CITY = "city", "城市"


class RegionAction(models.TextChoices):
    PIN = "pin", "置顶"
    BOOST = "boost", "加权"
    HIDE = "hide", "隐藏"


class RegionRule(models.Model):
    """An operator's rule for one region and one product (or every product of a category):
    pin it to the top, boost it by a weight, or hide it there, between two optional instants.
    A region is a zone (南方 / 北方), a province (广东省) or a city (广州市)."""

    scope = models.CharField("区域级别", max_length=12, choices=RegionScope.choices)
    region = models.CharField("区域", max_length=32, help_text="南方 / 北方，或省份、城市全称")
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="商品",
    )
    category = models.ForeignKey(
        "catalog.Category",
        null=True,
        blank=True,
        on_delete=models.CASCADE,
        related_name="+",
        verbose_name="类目",
    )
    action = models.CharField("动作", max_length=8, choices=RegionAction.choices)
    weight = models.IntegerField("权重", default=0, help_text="加权时越大越靠前")
    valid_from = models.DateTimeField("生效时间", null=True, blank=True)
    valid_until = models.DateTimeField("失效时间", null=True, blank=True)
    is_active = models.BooleanField("启用", default=True)
    note = models.CharField("备注", max_length=100, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "区域商品规则"
        verbose_name_plural = "区域商品规则"
        ordering = ["scope", "region", "-weight", "id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(product__isnull=False, category__isnull=True)
                | models.Q(product__isnull=True, category__isnull=False),
                name="food_region_rule_one_target",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.region} {self.get_action_display()}"


class CalendarTemplate(models.Model):
    """What to prepare for one solar term or festival (冬至 → 饺子、速冻; 中秋 → 礼盒): applying
    it for a year creates drafts (inactive campaign and coupon template, and — composed by the
    console in web — a broadcast draft and a live session draft) for the operator to edit."""

    occasion = models.CharField("节气/节日", max_length=16, help_text="如 冬至、中秋节")
    name = models.CharField("模板名称", max_length=64)
    products = models.ManyToManyField(
        "catalog.Product", blank=True, related_name="+", verbose_name="主推商品"
    )
    lead_days = models.PositiveIntegerField("提前天数", default=7)
    duration_days = models.PositiveIntegerField("活动天数", default=10)
    tier_threshold_fen = models.PositiveIntegerField("满减门槛(分)", default=0)
    tier_off_fen = models.PositiveIntegerField("满减金额(分)", default=0)
    coupon_off_fen = models.PositiveIntegerField("优惠券面额(分)", default=0)
    coupon_threshold_fen = models.PositiveIntegerField("优惠券门槛(分)", default=0)
    message_text = models.TextField("群发文案", blank=True)
    live_title = models.CharField("直播标题", max_length=64, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "节令营销模板"
        verbose_name_plural = "节令营销模板"
        ordering = ["occasion", "id"]

    def __str__(self) -> str:
        return self.name


class CalendarDraft(models.Model):
    """One draft a template created for one year: applying the template again finds these and
    creates nothing twice."""

    template = models.ForeignKey(
        CalendarTemplate, on_delete=models.CASCADE, related_name="drafts", verbose_name="模板"
    )
    year = models.PositiveIntegerField("年份")
    kind = models.CharField("草稿类型", max_length=16)
    ref = models.CharField("草稿编号", max_length=64)
    label = models.CharField("说明", max_length=100, blank=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "节令草稿"
        verbose_name_plural = "节令草稿"
        ordering = ["-year", "template_id", "kind"]
        constraints = [
            models.UniqueConstraint(
                fields=["template", "year", "kind"], name="food_calendar_draft_once"
            ),
        ]

    KIND_LABELS = {
        "campaign": "满减活动",
        "coupon": "优惠券",
        "live": "直播",
        "broadcast": "群发",
        "content": "文案素材",
    }

    def __str__(self) -> str:
        return f"{self.year} {self.kind} {self.ref}"

    @property
    def kind_label(self) -> str:
        return self.KIND_LABELS.get(self.kind, self.kind)
