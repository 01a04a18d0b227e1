"""Tables of presale (GB-4). Registered through `groupbuy.models`, which imports this file.

A `Presale` sells `quantity` units of one SKU ahead of delivery: a deposit (定金) paid in the
deposit window is worth more than it cost (定金膨胀) against the balance (尾款) paid in the
balance window. Each buyer's purchase is a `PresalePurchase`, linking its two orders (both on
the one order path, channel `groupbuy`). Money in fen; times aware UTC.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q


class PresaleStatus(models.TextChoices):
    DRAFT = "draft", "未开始"
    DEPOSIT_OPEN = "deposit_open", "定金支付中"
    BALANCE_OPEN = "balance_open", "尾款支付中"
    ENDED = "ended", "已结束"
    CANCELLED = "cancelled", "已取消"


# Statuses in which the presale's stock block still holds its units.
PRESALE_RUNNING = (PresaleStatus.DRAFT, PresaleStatus.DEPOSIT_OPEN, PresaleStatus.BALANCE_OPEN)


class Presale(models.Model):
    """One presale of one SKU. `units_taken` counts the units of every deposit not cancelled
    (a cancelled, unpaid deposit order gives its units back to the counter); it never exceeds
    `quantity` (a check constraint, and the conditional UPDATE in `locks.presale_units_take`
    that every deposit goes through)."""

    presale_no = models.CharField("预售编号", max_length=40, unique=True)
    name = models.CharField("预售名称", max_length=60)
    image_url = models.CharField("卡片图片", max_length=300, blank=True)
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.PROTECT, related_name="+", verbose_name="SKU"
    )
    quantity = models.PositiveIntegerField("预售数量")
    units_taken = models.PositiveIntegerField("已付定金件数", default=0)
    list_price_fen = models.PositiveIntegerField("原价（分）")
    price_fen = models.PositiveIntegerField("预售价（分）")
    deposit_fen = models.PositiveIntegerField("定金（分）")
    deposit_worth_fen = models.PositiveIntegerField("定金抵扣（分）", help_text="定金膨胀后可抵")
    per_person_limit = models.PositiveSmallIntegerField("每人限购", default=1)
    deposit_refundable = models.BooleanField(
        "定金可退", default=False, help_text="否：尾款期结束未付尾款，定金不退"
    )
    deposit_starts_at = models.DateTimeField("定金开始")
    deposit_ends_at = models.DateTimeField("定金截止")
    balance_starts_at = models.DateTimeField("尾款开始")
    balance_ends_at = models.DateTimeField("尾款截止")
    delivery_from = models.DateField("发货开始日期")
    delivery_to = models.DateField("发货截止日期")
    status = models.CharField(
        "状态", max_length=16, choices=PresaleStatus.choices, default=PresaleStatus.DRAFT
    )
    block_ref = models.CharField("库存整批预留", max_length=64)
    # The live session (`LiveSession.code`) whose room shows this presale as a product card;
    # blank when none. A code and not a foreign key: live and groupbuy are siblings that never
    # import each other (web composes them), so the room asks groupbuy by code.
    live_session_code = models.CharField("直播场次", max_length=40, blank=True, db_index=True)
    cancel_reason = models.CharField("取消原因", max_length=200, blank=True)
    created_by = models.CharField("创建人", max_length=150)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")
    ended_at = models.DateTimeField("结束时间", null=True, blank=True)
    # Set once every purchase of an ended or cancelled presale is settled and its block
    # closed; until then the periodic job settles it again (harmless to repeat).
    settled_at = models.DateTimeField("结算完成时间", null=True, blank=True)

    class Meta:
        verbose_name = "预售"
        verbose_name_plural = "预售"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(units_taken__lte=F("quantity")), name="groupbuy_presale_not_oversold"
            ),
        ]
        indexes = [models.Index(fields=["status", "balance_ends_at"], name="groupbuy_presale_due")]

    def __str__(self) -> str:
        return f"{self.name}（{self.presale_no}）"

    @property
    def balance_unit_fen(self) -> int:
        """尾款 per unit: the presale price less what the deposit is worth."""
        return self.price_fen - self.deposit_worth_fen


class PurchaseStatus(models.TextChoices):
    DEPOSIT_PENDING = "deposit_pending", "待付定金"
    DEPOSIT_PAID = "deposit_paid", "已付定金"
    BALANCE_PAID = "balance_paid", "已付尾款"
    CANCELLED = "cancelled", "已取消"
    FORFEITED = "forfeited", "定金不退"
    REFUNDED = "refunded", "定金已退"


# Purchases whose units count in Presale.units_taken and against the per-person limit.
PURCHASE_COUNTED = (
    PurchaseStatus.DEPOSIT_PENDING,
    PurchaseStatus.DEPOSIT_PAID,
    PurchaseStatus.BALANCE_PAID,
    PurchaseStatus.FORFEITED,
    PurchaseStatus.REFUNDED,
)


class PresalePurchase(models.Model):
    """One buyer's purchase intent: the deposit order and, later, the balance order.

    The unit prices are copied from the presale when the deposit is placed: the balance is
    what was promised then. `balance_order_no` is the current balance order (a cancelled,
    unpaid one is replaced by the next attempt)."""

    purchase_no = models.CharField("预售单号", max_length=40, unique=True)
    presale = models.ForeignKey(
        Presale, on_delete=models.PROTECT, related_name="purchases", verbose_name="预售"
    )
    person = models.ForeignKey(
        "identity.Person", on_delete=models.PROTECT, related_name="+", verbose_name="买家"
    )
    quantity = models.PositiveSmallIntegerField("件数")
    deposit_unit_fen = models.PositiveIntegerField("定金单价（分）")
    worth_unit_fen = models.PositiveIntegerField("定金抵扣单价（分）")
    balance_unit_fen = models.PositiveIntegerField("尾款单价（分）")
    deposit_order_no = models.CharField("定金订单", max_length=40, unique=True)
    balance_order_no = models.CharField("尾款订单", max_length=40, blank=True, db_index=True)
    status = models.CharField(
        "状态",
        max_length=16,
        choices=PurchaseStatus.choices,
        default=PurchaseStatus.DEPOSIT_PENDING,
    )
    deposit_paid_at = models.DateTimeField("定金支付时间", null=True, blank=True)
    balance_paid_at = models.DateTimeField("尾款支付时间", null=True, blank=True)
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "预售订单"
        verbose_name_plural = "预售订单"
        ordering = ["-id"]
        indexes = [
            models.Index(fields=["presale", "status"], name="groupbuy_presale_purchase_st"),
            models.Index(fields=["person", "created_at"], name="groupbuy_presale_purchase_p"),
        ]

    def __str__(self) -> str:
        return self.purchase_no
