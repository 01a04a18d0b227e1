"""Warehouses and what they can store. Issue #4 adds stock levels and reservations."""

from __future__ import annotations

from django.db import models

from freshloop.catalog.models import StorageCondition


class Warehouse(models.Model):
    code = models.SlugField("编码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=64)
    province = models.CharField("省份", max_length=32)
    city = models.CharField("城市", max_length=32)
    address = models.CharField("地址", max_length=200, blank=True)
    supports_ambient = models.BooleanField("常温", default=True)
    supports_chilled = models.BooleanField("冷藏", default=False)
    supports_frozen = models.BooleanField("冷冻", default=False)
    is_active = models.BooleanField("启用", default=True)

    class Meta:
        verbose_name = "仓库"
        verbose_name_plural = "仓库"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def can_store(self, storage: str) -> bool:
        return {
            StorageCondition.AMBIENT: self.supports_ambient,
            StorageCondition.CHILLED: self.supports_chilled,
            StorageCondition.FROZEN: self.supports_frozen,
        }.get(StorageCondition(storage), False)


class StockLevel(models.Model):
    """How many units of one SKU one warehouse holds (on hand) and has promised (reserved).

    available = on_hand - reserved. The check constraint is the last line of defence against
    overselling; services never reach it because they reserve with a conditional UPDATE.
    """

    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="stock_levels")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_levels")
    on_hand = models.IntegerField("在库", default=0)
    reserved = models.IntegerField("已预占", default=0)
    updated_at = models.DateTimeField("更新时间", auto_now=True)

    class Meta:
        verbose_name = "库存"
        verbose_name_plural = "库存"
        ordering = ["sku_id", "warehouse_id"]
        constraints = [
            models.UniqueConstraint(fields=["sku", "warehouse"], name="inventory_stock_unique"),
            models.CheckConstraint(
                condition=models.Q(reserved__gte=0), name="inventory_stock_reserved_nonneg"
            ),
            models.CheckConstraint(
                condition=models.Q(on_hand__gte=models.F("reserved")),
                name="inventory_stock_never_oversold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.warehouse_id}"

    @property
    def available(self) -> int:
        return self.on_hand - self.reserved


class BatchStock(models.Model):
    """Units of one production lot in one warehouse; shipping takes the earliest expiry first."""

    batch = models.ForeignKey("catalog.Batch", on_delete=models.PROTECT, related_name="stock")
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="batch_stock")
    quantity = models.IntegerField("数量", default=0)
    # A recalled (or otherwise blocked) lot: its units stay on hand, counted, but nothing
    # reserves, picks or ships them until the hold is lifted.
    on_hold = models.BooleanField("冻结", default=False)
    hold_reason = models.CharField("冻结原因", max_length=200, blank=True)

    class Meta:
        verbose_name = "批次库存"
        verbose_name_plural = "批次库存"
        constraints = [
            models.UniqueConstraint(fields=["batch", "warehouse"], name="inventory_batch_unique"),
            models.CheckConstraint(
                condition=models.Q(quantity__gte=0), name="inventory_batch_nonneg"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.batch_id}@{self.warehouse_id}: {self.quantity}"


class ReservationStatus(models.TextChoices):
    ACTIVE = "active", "预占中"
    SHIPPED = "shipped", "已出库"
    RELEASED = "released", "已释放"


class Reservation(models.Model):
    """Units promised to one order. Unpaid orders hold them until `expires_at`; paid ones until
    they ship.

    A **block** (`is_block`) sets units aside once for many orders to come — a live flash
    sale's units when it opens — so that each of those orders is drawn from it (`block`)
    without touching the stock level's hot row. While the block is active, `reserved` counts
    the block's `quantity` and not its drawn reservations: a drawn reservation released goes
    back to the block, one shipped shrinks it. Closing the block gives its undrawn units back;
    from then on its drawn reservations count in `reserved` like any other.
    """

    order_ref = models.CharField("订单号", max_length=40, db_index=True)
    stock = models.ForeignKey(StockLevel, on_delete=models.PROTECT, related_name="reservations")
    quantity = models.PositiveIntegerField("数量")
    is_block = models.BooleanField("整批预留", default=False)
    block = models.ForeignKey(
        "self",
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="drawn",
        verbose_name="取自整批预留",
    )
    status = models.CharField(
        "状态", max_length=16, choices=ReservationStatus.choices, default=ReservationStatus.ACTIVE
    )
    expires_at = models.DateTimeField("支付截止", null=True, blank=True)
    created_at = models.DateTimeField("创建时间")
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = "库存预占"
        verbose_name_plural = "库存预占"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.order_ref} × {self.quantity}"


class MovementKind(models.TextChoices):
    RECEIVE = "receive", "入库"
    ADJUST = "adjust", "调整"
    STOCKTAKE = "stocktake", "盘点"
    RESERVE = "reserve", "预占"
    RELEASE = "release", "释放"
    SHIP = "ship", "出库"


class StockMovement(models.Model):
    """Append-only history of every change to a stock level: why on hand or reserved moved."""

    stock = models.ForeignKey(StockLevel, on_delete=models.PROTECT, related_name="movements")
    kind = models.CharField("类型", max_length=16, choices=MovementKind.choices)
    on_hand_delta = models.IntegerField("在库变化", default=0)
    reserved_delta = models.IntegerField("预占变化", default=0)
    ref = models.CharField("关联单号", max_length=64, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)
    actor = models.CharField("操作人", max_length=64, blank=True)
    created_at = models.DateTimeField("时间", db_index=True)

    class Meta:
        verbose_name = "库存流水"
        verbose_name_plural = "库存流水"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.on_hand_delta:+d}/{self.reserved_delta:+d}"


class StockTake(models.Model):
    warehouse = models.ForeignKey(Warehouse, on_delete=models.PROTECT, related_name="stock_takes")
    note = models.CharField("备注", max_length=200, blank=True)
    actor = models.CharField("盘点人", max_length=64)
    lines = models.JSONField("差异", default=list)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "盘点"
        verbose_name_plural = "盘点"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"盘点 #{self.pk} {self.warehouse_id}"
