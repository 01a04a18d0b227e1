"""Catalog foundation: categories, products (SPU) and SKUs with the food attributes that
decide how they are stored and shipped. Issue #4 (commerce core) extends this with batches,
media and channel availability."""

from __future__ import annotations

from django.db import models


class StorageCondition(models.TextChoices):
    AMBIENT = "ambient", "常温"
    CHILLED = "chilled", "冷藏(0-4℃)"
    FROZEN = "frozen", "冷冻(-18℃)"


class Category(models.Model):
    code = models.SlugField("编码", max_length=64, unique=True)
    name = models.CharField("名称", max_length=64)
    parent = models.ForeignKey(
        "self", null=True, blank=True, on_delete=models.PROTECT, related_name="children"
    )
    sort_order = models.PositiveIntegerField("排序", default=0)

    class Meta:
        verbose_name = "类目"
        verbose_name_plural = "类目"
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.name


class Product(models.Model):
    """A product as the consumer thinks of it (SPU), e.g. 鲜牛奶."""

    code = models.SlugField("编码", max_length=64, unique=True)
    name = models.CharField("名称", max_length=128)
    category = models.ForeignKey(Category, on_delete=models.PROTECT, related_name="products")
    storage = models.CharField("储存条件", max_length=16, choices=StorageCondition.choices)
    shelf_life_days = models.PositiveIntegerField("保质期(天)")
    origin = models.CharField("产地", max_length=64, blank=True)
    description = models.TextField("描述", blank=True)
    is_active = models.BooleanField("上架", default=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "商品(SPU)"
        verbose_name_plural = "商品(SPU)"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name


class Sku(models.Model):
    """A sellable variant with its own price, e.g. 鲜牛奶 950ml×2."""

    product = models.ForeignKey(Product, on_delete=models.PROTECT, related_name="skus")
    code = models.SlugField("SKU编码", max_length=64, unique=True)
    spec = models.CharField("规格", max_length=64)
    price_fen = models.PositiveIntegerField("售价(分)")
    is_active = models.BooleanField("可售", default=True)

    class Meta:
        verbose_name = "SKU"
        verbose_name_plural = "SKU"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.product.name} {self.spec}"
