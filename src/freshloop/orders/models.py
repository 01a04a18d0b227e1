"""Carts, orders, their lines and timeline, and refund requests (SPEC BM-3, BM-7).

One order model for every channel: the live room, the H5 shop, group buying and partner apps
all create orders through `orders.services.checkout`, and the channel and its reference (live
session id, group leader, partner) are recorded on the order.
"""

from __future__ import annotations

from django.db import models

from freshloop.catalog.models import SalesChannel
from freshloop.core.fields import EncryptedJSONField, EncryptedTextField
from freshloop.identity.models import Person


class Cart(models.Model):
    person = models.OneToOneField(Person, on_delete=models.CASCADE, related_name="cart")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "购物车"
        verbose_name_plural = "购物车"

    def __str__(self) -> str:
        return f"购物车 {self.person_id}"


class CartItem(models.Model):
    cart = models.ForeignKey(Cart, on_delete=models.CASCADE, related_name="items")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.CASCADE, related_name="+")
    quantity = models.PositiveIntegerField("数量")
    added_at = models.DateTimeField("加入时间")

    class Meta:
        verbose_name = "购物车商品"
        verbose_name_plural = "购物车商品"
        ordering = ["added_at", "id"]
        constraints = [
            models.UniqueConstraint(fields=["cart", "sku"], name="orders_cart_item_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} × {self.quantity}"


class Address(models.Model):
    """A buyer's saved delivery address (the address book). An order keeps its own copy
    (`Order.address`), so editing or deleting a book entry never changes a placed order.

    At most one default per person (a partial unique constraint); the services keep exactly
    one while any exist. Name, phone and detail are PII, sealed at rest.
    """

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="addresses", verbose_name="用户"
    )
    name = EncryptedTextField("收货人")
    phone = EncryptedTextField("手机号")
    province = models.CharField("省份", max_length=32)
    city = models.CharField("城市", max_length=32)
    district = models.CharField("区县", max_length=32, blank=True)
    detail = EncryptedTextField("详细地址")
    label = models.CharField("标签", max_length=8, blank=True, help_text="如 家 / 公司")
    is_default = models.BooleanField("默认地址", default=False)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "收货地址"
        verbose_name_plural = "收货地址"
        ordering = ["-is_default", "-updated_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person"],
                condition=models.Q(is_default=True),
                name="orders_address_one_default",
            ),
        ]
        indexes = [models.Index(fields=["person", "-updated_at"])]

    def __str__(self) -> str:
        return f"{self.province}{self.city}{self.district}"

    def as_order_address(self) -> dict[str, str]:
        """The copy an order keeps (`Order.address`)."""
        return {
            "name": self.name,
            "phone": self.phone,
            "province": self.province,
            "city": self.city,
            "district": self.district,
            "detail": self.detail,
        }


class OrderStatus(models.TextChoices):
    PENDING_PAYMENT = "pending_payment", "待支付"
    PAID = "paid", "已支付"
    ALLOCATED = "allocated", "已分仓"
    SHIPPED = "shipped", "已发货"
    DELIVERED = "delivered", "已送达"
    COMPLETED = "completed", "已完成"
    CANCELLED = "cancelled", "已取消"
    REFUND_REQUESTED = "refund_requested", "退款中"
    REFUNDED = "refunded", "已退款"
    PARTIALLY_REFUNDED = "partially_refunded", "部分退款"


# Paid and kept (not cancelled, not wholly refunded): what "bought" means to other modules.
BOUGHT_STATUSES: tuple[str, ...] = (
    OrderStatus.PAID,
    OrderStatus.ALLOCATED,
    OrderStatus.SHIPPED,
    OrderStatus.DELIVERED,
    OrderStatus.COMPLETED,
    OrderStatus.PARTIALLY_REFUNDED,
)


class PaymentProvider(models.TextChoices):
    """The payment providers an order can be paid through, by the names people read: the
    payments module keys its gateways by these values (payments.providers)."""

    WECHATPAY = "wechatpay", "微信支付"
    ALIPAY = "alipay", "支付宝"
    SANDBOX = "sandbox", "沙箱支付"
    IMPORT = "import", "历史导入"  # orders imported from an earlier system (orders.history)


class Order(models.Model):
    order_no = models.CharField("订单号", max_length=40, unique=True)
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="orders", verbose_name="用户"
    )
    channel = models.CharField("渠道", max_length=16, choices=SalesChannel.choices)
    source_ref = models.CharField(
        "来源", max_length=64, blank=True, help_text="直播场次 / 团长 / 合作方标识"
    )
    status = models.CharField(
        "状态", max_length=24, choices=OrderStatus.choices, default=OrderStatus.PENDING_PAYMENT
    )
    # Status before a refund request, so a rejected request returns the order where it was.
    status_before_refund = models.CharField(max_length=24, blank=True)
    idempotency_key = models.CharField("幂等键", max_length=64, blank=True)
    request_fingerprint = models.CharField(max_length=32, blank=True)
    subtotal_fen = models.PositiveIntegerField("商品金额(分)")
    discount_fen = models.PositiveIntegerField("优惠(分)", default=0)
    shipping_fen = models.PositiveIntegerField("运费(分)", default=0)
    total_fen = models.PositiveIntegerField("应付(分)")
    paid_fen = models.PositiveIntegerField("实付(分)", default=0)
    refunded_fen = models.PositiveIntegerField("已退(分)", default=0)
    points_used = models.PositiveIntegerField("使用积分", default=0)
    coupon_ids = models.JSONField("使用优惠券", default=list, blank=True)
    price_explanation = models.JSONField("价格明细", default=list, blank=True)
    address = EncryptedJSONField("收货地址", default=dict, blank=True)
    province = models.CharField("省份", max_length=32, blank=True)
    # False for an order that only takes money (a presale deposit): fulfilment never ships it.
    ships = models.BooleanField("需要发货", default=True)
    payment_provider = models.CharField(
        "支付方式", max_length=16, blank=True, choices=PaymentProvider.choices
    )
    transaction_id = models.CharField("支付流水号", max_length=64, blank=True)
    created_at = models.DateTimeField("下单时间", db_index=True)
    expires_at = models.DateTimeField("支付截止", null=True, blank=True)
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "订单"
        verbose_name_plural = "订单"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["person", "idempotency_key"],
                condition=~models.Q(idempotency_key=""),
                name="orders_order_idempotency",
            ),
            models.CheckConstraint(
                condition=models.Q(refunded_fen__lte=models.F("paid_fen")),
                name="orders_refund_not_above_paid",
            ),
        ]
        indexes = [models.Index(fields=["status", "expires_at"])]

    def __str__(self) -> str:
        return self.order_no


class OrderLine(models.Model):
    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="lines")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="+")
    product_name = models.CharField("商品", max_length=128)
    spec = models.CharField("规格", max_length=64)
    unit_price_fen = models.PositiveIntegerField("单价(分)")
    quantity = models.PositiveIntegerField("数量")
    discount_fen = models.PositiveIntegerField("分摊优惠(分)", default=0)
    total_fen = models.PositiveIntegerField("小计(分)")
    refunded_quantity = models.PositiveIntegerField("已退数量", default=0)

    class Meta:
        verbose_name = "订单商品"
        verbose_name_plural = "订单商品"
        ordering = ["id"]

    def __str__(self) -> str:
        return f"{self.product_name} {self.spec} × {self.quantity}"

    @property
    def amount_fen(self) -> int:
        """Unit price × quantity: what the line adds to 商品金额 (its share of discounts is
        `discount_fen`, shown as such, so the lines and 商品金额 agree)."""
        return self.unit_price_fen * self.quantity


class OrderEvent(models.Model):
    """The order's timeline as the consumer and customer service see it."""

    order = models.ForeignKey(Order, on_delete=models.CASCADE, related_name="timeline")
    from_status = models.CharField("原状态", max_length=24, blank=True)
    to_status = models.CharField("新状态", max_length=24)
    note = models.CharField("说明", max_length=200, blank=True)
    actor = models.CharField("操作人", max_length=64, blank=True)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "订单动态"
        verbose_name_plural = "订单动态"
        ordering = ["created_at", "id"]

    def __str__(self) -> str:
        return f"{OrderStatus(self.to_status).label} {self.note}"


class RefundStatus(models.TextChoices):
    REQUESTED = "requested", "待审核"
    APPROVED = "approved", "已同意，退款中"
    REJECTED = "rejected", "已拒绝"
    REFUNDED = "refunded", "已退款"


class RefundRequest(models.Model):
    refund_no = models.CharField("退款单号", max_length=40, unique=True)
    order = models.ForeignKey(Order, on_delete=models.PROTECT, related_name="refund_requests")
    amount_fen = models.PositiveIntegerField("退款金额(分)")
    lines = models.JSONField("退款商品", default=list, help_text="[{line_id, quantity}]")
    reason = models.CharField("原因", max_length=200)
    status = models.CharField(
        "状态", max_length=16, choices=RefundStatus.choices, default=RefundStatus.REQUESTED
    )
    decided_by = models.CharField("审核人", max_length=64, blank=True)
    decision_note = models.CharField("审核意见", max_length=200, blank=True)
    created_at = models.DateTimeField("申请时间")
    decided_at = models.DateTimeField("审核时间", null=True, blank=True)
    refunded_at = models.DateTimeField("退款时间", null=True, blank=True)

    class Meta:
        verbose_name = "退款申请"
        verbose_name_plural = "退款申请"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.refund_no


class ShippingRule(models.Model):
    """运费模板: what a parcel to some provinces costs, and from how much it ships free.

    A parcel pays `base_fee_fen`, plus `cold_chain_surcharge_fen` when anything chilled or
    frozen travels in it; it ships free once the goods after promotions reach
    `free_shipping_from_fen` (0: never free). The rule naming the destination province wins;
    otherwise the one naming no province (全国默认); without either, the built-in defaults
    (orders.pricing: ¥8, +¥7 cold chain, free from ¥99)."""

    name = models.CharField("模板名称", max_length=32)
    provinces = models.JSONField(
        "适用省份",
        default=list,
        blank=True,
        help_text="省份简称，如 新疆、西藏；留空表示全国默认",
    )
    base_fee_fen = models.PositiveIntegerField("基础运费(分)", default=800)
    cold_chain_surcharge_fen = models.PositiveIntegerField("冷链附加费(分)", default=700)
    free_shipping_from_fen = models.PositiveIntegerField(
        "包邮门槛(分)", default=9900, help_text="商品优惠后满此金额包邮；0 表示不包邮"
    )
    is_active = models.BooleanField("启用", default=True)
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "运费模板"
        verbose_name_plural = "运费模板"
        ordering = ["pk"]

    def __str__(self) -> str:
        return self.name


class AfterSalesKind(models.TextChoices):
    REFUND_ONLY = "refund_only", "仅退款"
    RETURN_REFUND = "return_refund", "退货退款"


class AfterSalesReason(models.TextChoices):
    """Why fresh food comes back: the reasons a food brand's customer service sorts cases by."""

    DAMAGED = "damaged", "商品破损"
    SPOILED = "spoiled", "变质/异味"
    EXPIRED = "expired", "临期/过期"
    MISSING = "missing", "少发/漏发"
    WRONG_ITEM = "wrong_item", "发错货"
    COLD_CHAIN = "cold_chain", "冷链温度不达标"
    OTHER = "other", "其他"


class AfterSalesStatus(models.TextChoices):
    SUBMITTED = "submitted", "待处理"
    APPROVED = "approved", "已同意"
    REJECTED = "rejected", "已拒绝"


class AfterSalesCase(models.Model):
    """A buyer's after-sales case (售后工单) on a paid order: which units, why, with photos.
    Customer service approves it (a refund request for those units follows, linked here) or
    rejects it with a note. At most one case per order is open (待处理) at a time."""

    case_no = models.CharField("工单号", max_length=40, unique=True)
    order = models.ForeignKey(
        Order, on_delete=models.PROTECT, related_name="aftersales_cases", verbose_name="订单"
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="aftersales_cases", verbose_name="用户"
    )
    kind = models.CharField("售后类型", max_length=16, choices=AfterSalesKind.choices)
    reason = models.CharField("售后原因", max_length=16, choices=AfterSalesReason.choices)
    description = models.CharField("问题描述", max_length=500, blank=True)
    lines = models.JSONField("售后商品", default=list, help_text="[{line_id, quantity}]")
    status = models.CharField(
        "状态",
        max_length=16,
        choices=AfterSalesStatus.choices,
        default=AfterSalesStatus.SUBMITTED,
        db_index=True,
    )
    refund = models.ForeignKey(
        RefundRequest,
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        verbose_name="退款申请",
    )
    decision_note = models.CharField("处理意见", max_length=200, blank=True)
    decided_by = models.CharField("处理人", max_length=64, blank=True)
    created_at = models.DateTimeField("提交时间")
    decided_at = models.DateTimeField("处理时间", null=True, blank=True)

    class Meta:
        verbose_name = "售后工单"
        verbose_name_plural = "售后工单"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["order"],
                condition=models.Q(status="submitted"),
                name="orders_aftersales_one_open_per_order",
            ),
        ]

    def __str__(self) -> str:
        return self.case_no


class AfterSalesPhoto(models.Model):
    """A buyer's photo of the problem: the cleaned original and its sizes (core/images.py)."""

    case = models.ForeignKey(AfterSalesCase, on_delete=models.CASCADE, related_name="photos")
    sort_order = models.PositiveIntegerField("排序", default=0)
    original = models.FileField("原图", max_length=255)
    webp_400 = models.FileField("WebP 400px", max_length=255)
    webp_1080 = models.FileField("WebP 1080px", max_length=255)
    jpeg_1080 = models.FileField("JPEG 1080px", max_length=255)
    width = models.PositiveIntegerField("宽(px)", default=0)
    height = models.PositiveIntegerField("高(px)", default=0)

    class Meta:
        verbose_name = "售后照片"
        verbose_name_plural = "售后照片"
        ordering = ["sort_order", "id"]

    def __str__(self) -> str:
        return f"照片 {self.sort_order + 1}"

    @property
    def url(self) -> str:
        return self.jpeg_1080.url if self.jpeg_1080 else ""

    @property
    def thumb_url(self) -> str:
        return self.webp_400.url if self.webp_400 else self.url
