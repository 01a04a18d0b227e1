"""Catalog (SPEC BM-1): categories, products (SPU), SKUs with prices in fen, the food attributes
that decide how they are stored and shipped, batches with production and expiry dates, images,
and the channels each product is sold in."""

from __future__ import annotations

from django.db import models


class StorageCondition(models.TextChoices):
    AMBIENT = "ambient", "常温"
    CHILLED = "chilled", "冷藏(0-4℃)"
    FROZEN = "frozen", "冷冻(-18℃)"


class SalesChannel(models.TextChoices):
    LIVE = "live", "直播间"
    SHOP = "shop", "商城"
    GROUPBUY = "groupbuy", "社区团购"
    PARTNER = "partner", "合作方"


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
    certifications = models.JSONField(
        "认证", default=list, blank=True, help_text="如 有机认证、绿色食品"
    )
    allergens = models.JSONField("过敏原", default=list, blank=True, help_text="如 乳、蛋、麸质")
    description = models.TextField("描述", blank=True)
    image_url = models.CharField("主图", max_length=300, blank=True)
    sold_in_live = models.BooleanField("直播间可售", default=True)
    sold_in_shop = models.BooleanField("商城可售", default=True)
    sold_in_groupbuy = models.BooleanField("团购可售", default=True)
    is_active = models.BooleanField("上架", default=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "商品(SPU)"
        verbose_name_plural = "商品(SPU)"
        ordering = ["id"]

    def __str__(self) -> str:
        return self.name

    def sold_in(self, channel: str) -> bool:
        """Partners sell what the shop sells; each other channel has its own switch."""
        return {
            SalesChannel.LIVE: self.sold_in_live,
            SalesChannel.SHOP: self.sold_in_shop,
            SalesChannel.GROUPBUY: self.sold_in_groupbuy,
            SalesChannel.PARTNER: self.sold_in_shop,
        }.get(SalesChannel(channel), False)


class ProductImage(models.Model):
    """One picture of a product (optionally of one SKU): the cleaned original plus the sizes the
    pages use, all made once at upload by `product_image_add` (core/images.py)."""

    product = models.ForeignKey(Product, on_delete=models.CASCADE, related_name="images")
    sku = models.ForeignKey(
        "Sku",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="images",
        verbose_name="SKU",
        help_text="留空表示整个商品通用",
    )
    alt = models.CharField("图片说明", max_length=120, blank=True, help_text="读屏软件朗读的文字")
    sort_order = models.PositiveIntegerField("排序", default=0)
    original = models.FileField("原图", max_length=255)
    webp_400 = models.FileField("WebP 400px", max_length=255)
    webp_1080 = models.FileField("WebP 1080px", max_length=255)
    jpeg_1080 = models.FileField("JPEG 1080px", max_length=255)
    width = models.PositiveIntegerField("宽(px)", default=0)
    height = models.PositiveIntegerField("高(px)", default=0)
    created_at = models.DateTimeField("上传时间")

    class Meta:
        verbose_name = "商品图片"
        verbose_name_plural = "商品图片"
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return self.alt or f"{self.product.name} 图片 {self.pk}"

    @property
    def url(self) -> str:
        """The one address every browser can show (the 1080 px JPEG)."""
        return self.jpeg_1080.url if self.jpeg_1080 else ""

    @property
    def srcset(self) -> str:
        return f"{self.webp_400.url} 400w, {self.webp_1080.url} 1080w"


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


class Batch(models.Model):
    """One production lot of a SKU: what the consumer sees as 生产日期 / 保质期至, and what
    fulfillment picks first-expiry-first-out. Quantities live in inventory, per warehouse."""

    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="batches")
    batch_no = models.CharField("批次号", max_length=64)
    produced_on = models.DateField("生产日期")
    expires_on = models.DateField("到期日期")
    origin_detail = models.CharField("产地/牧场", max_length=128, blank=True)
    inspection_note = models.CharField("检验结果", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "批次"
        verbose_name_plural = "批次"
        ordering = ["expires_on", "id"]
        constraints = [
            models.UniqueConstraint(fields=["sku", "batch_no"], name="catalog_batch_unique_no"),
            models.CheckConstraint(
                condition=models.Q(expires_on__gte=models.F("produced_on")),
                name="catalog_batch_expires_after_production",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku.code} {self.batch_no}"
