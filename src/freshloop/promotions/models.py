"""Promotions: coupon templates and the coupons issued from them, shareable redeem codes,
and campaigns (flash prices per SKU, tiered 满减).

Counters that must never pass a limit (`issued_count`, `spent_fen`, `claimed_count`, a
person's `CouponIssueCount.issued`) only change through conditional UPDATEs in services.py.
"""

from __future__ import annotations

from django.db import models
from django.db.models import F, Q

from freshloop.catalog.models import Category, Product, Sku
from freshloop.core.ids import new_id
from freshloop.identity.models import Person


def new_coupon_code() -> str:
    return new_id("CPN")


class CouponKind(models.TextChoices):
    FIXED = "fixed", "立减券(减X元)"
    PERCENT = "percent", "折扣券(打X折)"
    THRESHOLD = "threshold", "满减券(满X减Y)"
    FREE_SHIPPING = "free_shipping", "免运费券"


class CouponStatus(models.TextChoices):
    AVAILABLE = "available", "可用"
    LOCKED = "locked", "下单占用中"
    USED = "used", "已使用"
    EXPIRED = "expired", "已过期"
    VOID = "void", "已作废"


class CouponSource(models.TextChoices):
    CODE = "code", "兑换码领取"
    SEGMENT = "segment", "人群发放"
    LIVE = "live", "直播间发放"
    MANUAL = "manual", "手动发放"
    JOURNEY = "journey", "客户旅程发放"


class Channel(models.TextChoices):
    LIVE = "live", "直播间"
    SHOP = "shop", "商城"
    GROUPBUY = "groupbuy", "社区团购"


class CouponTemplate(models.Model):
    """What a coupon is worth and who may use it where; coupons are issued from it."""

    code = models.SlugField("编码", max_length=64, unique=True)
    name = models.CharField("名称", max_length=64)
    description = models.CharField("说明", max_length=200, blank=True)
    kind = models.CharField("类型", max_length=16, choices=CouponKind.choices)
    amount_off_fen = models.PositiveIntegerField(
        "减免金额(分)", default=0, help_text="立减券的X、满减券的Y"
    )
    percent_off_bp = models.PositiveIntegerField(
        "折扣(基点)", default=0, help_text="减免比例，万分之一为单位：1000 = 打9折，1200 = 打8.8折"
    )
    cap_fen = models.PositiveIntegerField(
        "最多优惠(分)", null=True, blank=True, help_text="折扣券封顶，空=不封顶"
    )
    threshold_fen = models.PositiveIntegerField(
        "使用门槛(分)", default=0, help_text="适用商品金额满多少可用，0=无门槛"
    )
    live_only = models.BooleanField("仅限直播间", default=False)
    live_session_id = models.CharField(
        "限定直播场次", max_length=64, blank=True, help_text="空=任意直播间"
    )
    new_customer_only = models.BooleanField("仅限新客", default=False)
    valid_from = models.DateTimeField("生效时间", null=True, blank=True)
    valid_until = models.DateTimeField("截止时间", null=True, blank=True)
    valid_days = models.PositiveIntegerField(
        "领取后有效天数", null=True, blank=True, help_text="与截止时间同时设置时取先到者"
    )
    per_user_limit = models.PositiveIntegerField("每人限领", default=1)
    total_limit = models.PositiveIntegerField(
        "发放总量", null=True, blank=True, help_text="空=不限"
    )
    issued_count = models.PositiveIntegerField("已发放", default=0)
    budget_fen = models.PositiveIntegerField(
        "优惠预算(分)", null=True, blank=True, help_text="累计优惠金额上限，空=不限"
    )
    spent_fen = models.PositiveIntegerField("已用预算(分)", default=0)
    products = models.ManyToManyField(
        Product, blank=True, related_name="+", verbose_name="限定商品"
    )
    categories = models.ManyToManyField(
        Category, blank=True, related_name="+", verbose_name="限定类目"
    )
    is_active = models.BooleanField("启用", default=True)
    stackable_with_campaigns = models.BooleanField("可与活动叠加", default=False)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "优惠券模板"
        verbose_name_plural = "优惠券模板"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(total_limit__isnull=True) | Q(issued_count__lte=F("total_limit")),
                name="coupontemplate_issued_within_total",
            ),
            models.CheckConstraint(
                condition=Q(budget_fen__isnull=True) | Q(spent_fen__lte=F("budget_fen")),
                name="coupontemplate_spent_within_budget",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Coupon(models.Model):
    """One coupon in one person's wallet."""

    template = models.ForeignKey(
        CouponTemplate, on_delete=models.PROTECT, related_name="coupons", verbose_name="模板"
    )
    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="coupons", verbose_name="用户"
    )
    code = models.CharField("券码", max_length=40, unique=True, default=new_coupon_code)
    status = models.CharField(
        "状态", max_length=16, choices=CouponStatus.choices, default=CouponStatus.AVAILABLE
    )
    valid_from = models.DateTimeField("生效时间")
    valid_until = models.DateTimeField("失效时间")
    source = models.CharField("来源", max_length=16, choices=CouponSource.choices)
    source_ref = models.CharField("来源引用", max_length=64, blank=True)
    locked_order_ref = models.CharField("占用订单", max_length=64, blank=True, db_index=True)
    used_order_ref = models.CharField("使用订单", max_length=64, blank=True, db_index=True)
    discount_fen = models.PositiveIntegerField("优惠金额(分)", default=0)
    issued_at = models.DateTimeField("发放时间")
    locked_at = models.DateTimeField("占用时间", null=True, blank=True)
    used_at = models.DateTimeField("使用时间", null=True, blank=True)
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "用户优惠券"
        verbose_name_plural = "已发放优惠券"
        ordering = ["-id"]
        indexes = [models.Index(fields=["person", "status"], name="coupon_person_status_idx")]

    def __str__(self) -> str:
        return self.code


class CouponIssueCount(models.Model):
    """How many coupons of a template one person has received: the per-user limit's counter."""

    template = models.ForeignKey(CouponTemplate, on_delete=models.CASCADE, related_name="+")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="+")
    issued = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = "领取计数"
        verbose_name_plural = "领取计数"
        constraints = [
            models.UniqueConstraint(
                fields=["template", "person"], name="couponissuecount_template_person_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.template_id}/{self.person_id}: {self.issued}"


class RedeemCode(models.Model):
    """A shareable code ("MILK2026") anyone may type to claim a coupon of `template`."""

    template = models.ForeignKey(
        CouponTemplate, on_delete=models.PROTECT, related_name="redeem_codes", verbose_name="模板"
    )
    code = models.CharField("兑换码", max_length=32, unique=True, help_text="大写字母与数字")
    max_claims = models.PositiveIntegerField("最多领取次数", null=True, blank=True)
    claimed_count = models.PositiveIntegerField("已领取", default=0)
    valid_until = models.DateTimeField("兑换截止", null=True, blank=True)
    is_active = models.BooleanField("启用", default=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "兑换码"
        verbose_name_plural = "兑换码"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(max_claims__isnull=True) | Q(claimed_count__lte=F("max_claims")),
                name="redeemcode_claims_within_max",
            )
        ]

    def __str__(self) -> str:
        return self.code


class CampaignKind(models.TextChoices):
    FLASH_PRICE = "flash_price", "限时特价"
    TIERED = "tiered", "满减"


class Campaign(models.Model):
    """A time-limited promotion applied without a coupon: flash prices or tiered 满减."""

    code = models.SlugField("编码", max_length=64, unique=True)
    name = models.CharField("名称", max_length=64)
    kind = models.CharField("类型", max_length=16, choices=CampaignKind.choices)
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    channels = models.JSONField("渠道", default=list, help_text='如 ["live", "shop", "groupbuy"]')
    tiers = models.JSONField(
        "满减阶梯",
        default=list,
        blank=True,
        help_text='满减活动：[{"threshold_fen": 9900, "off_fen": 2000}, …]，门槛从低到高',
    )
    products = models.ManyToManyField(
        Product, blank=True, related_name="+", verbose_name="满减限定商品"
    )
    categories = models.ManyToManyField(
        Category, blank=True, related_name="+", verbose_name="满减限定类目"
    )
    budget_fen = models.PositiveIntegerField("优惠预算(分)", null=True, blank=True)
    spent_fen = models.PositiveIntegerField("已用预算(分)", default=0)
    is_active = models.BooleanField("启用", default=True)
    priority = models.IntegerField("优先级", default=0, help_text="同等优惠时数值大的优先")
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "营销活动"
        verbose_name_plural = "营销活动"
        ordering = ["-starts_at", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(budget_fen__isnull=True) | Q(spent_fen__lte=F("budget_fen")),
                name="campaign_spent_within_budget",
            ),
            models.CheckConstraint(
                condition=Q(ends_at__gt=F("starts_at")), name="campaign_ends_after_start"
            ),
        ]

    def __str__(self) -> str:
        return self.name


class CampaignPrice(models.Model):
    campaign = models.ForeignKey(
        Campaign, on_delete=models.CASCADE, related_name="prices", verbose_name="活动"
    )
    sku = models.ForeignKey(Sku, on_delete=models.PROTECT, related_name="+", verbose_name="SKU")
    price_fen = models.PositiveIntegerField("活动价(分)")

    class Meta:
        verbose_name = "活动价"
        verbose_name_plural = "活动价"
        constraints = [
            models.UniqueConstraint(fields=["campaign", "sku"], name="campaignprice_sku_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.sku_id}@{self.price_fen}"


class BudgetChargeStatus(models.TextChoices):
    CHARGED = "charged", "已占用"
    RELEASED = "released", "已退回"


class CampaignBudgetCharge(models.Model):
    """What one order took from a campaign's budget; one row per (campaign, order) keeps
    charge and release idempotent."""

    campaign = models.ForeignKey(Campaign, on_delete=models.PROTECT, related_name="charges")
    order_ref = models.CharField("订单", max_length=64)
    amount_fen = models.PositiveIntegerField("金额(分)")
    status = models.CharField(
        "状态",
        max_length=16,
        choices=BudgetChargeStatus.choices,
        default=BudgetChargeStatus.CHARGED,
    )
    created_at = models.DateTimeField("创建时间")
    released_at = models.DateTimeField("退回时间", null=True, blank=True)

    class Meta:
        verbose_name = "活动预算占用"
        verbose_name_plural = "活动预算占用"
        constraints = [
            models.UniqueConstraint(
                fields=["campaign", "order_ref"], name="campaignbudgetcharge_order_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.campaign_id}/{self.order_ref}"
