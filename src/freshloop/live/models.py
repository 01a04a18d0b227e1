"""Live sessions (SPEC LV-1…LV-4): the session and its products, viewers bound to their OneID,
comments, reservations, lucky draws and flash sales.

A session's public id is its `code` ("L_…"); it is the `source_ref` of every order placed in the
room and the `live_session_id` of every live coupon and analytics event.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models

from freshloop.identity.models import Person


class LiveStatus(models.TextChoices):
    SCHEDULED = "scheduled", "预告中"
    LIVE = "live", "直播中"
    ENDED = "ended", "已结束"
    REPLAY = "replay", "可回放"


class LiveSession(models.Model):
    code = models.CharField("场次编号", max_length=40, unique=True)
    title = models.CharField("标题", max_length=64)
    description = models.CharField("简介", max_length=300, blank=True)
    cover_url = models.CharField("封面", max_length=300, blank=True)
    host = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.PROTECT,
        related_name="live_sessions",
        verbose_name="主播",
    )
    scheduled_at = models.DateTimeField("开播时间")
    status = models.CharField(
        "状态", max_length=16, choices=LiveStatus.choices, default=LiveStatus.SCHEDULED
    )
    stream_name = models.SlugField("流名称", max_length=64, unique=True)
    replay_url = models.CharField("回放地址", max_length=300, blank=True)
    members_only = models.BooleanField("仅会员可看", default=False)
    coupon_templates = models.ManyToManyField(
        "promotions.CouponTemplate",
        blank=True,
        related_name="live_sessions",
        verbose_name="直播间优惠券",
    )
    started_at = models.DateTimeField("开播于", null=True, blank=True)
    ended_at = models.DateTimeField("结束于", null=True, blank=True)
    peak_viewers = models.PositiveIntegerField("峰值在线", default=0)
    likes = models.PositiveBigIntegerField("点赞数", default=0)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "直播场次"
        verbose_name_plural = "直播场次"
        ordering = ["-scheduled_at", "-id"]

    def __str__(self) -> str:
        return self.title


class LiveProduct(models.Model):
    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="products")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="+")
    sort_order = models.PositiveIntegerField("排序", default=0)
    pinned_at = models.DateTimeField("置顶于", null=True, blank=True)

    class Meta:
        verbose_name = "直播商品"
        verbose_name_plural = "直播商品"
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(fields=["session", "sku"], name="live_product_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.sku_id}"


class LiveReservation(models.Model):
    """A viewer asked to be reminded before the session starts."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="reservations")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="live_reservations")
    created_at = models.DateTimeField("预约时间")
    reminded_at = models.DateTimeField("提醒时间", null=True, blank=True)

    class Meta:
        verbose_name = "直播预约"
        verbose_name_plural = "直播预约"
        constraints = [
            models.UniqueConstraint(fields=["session", "person"], name="live_reservation_unique"),
        ]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.person_id}"


class LiveViewer(models.Model):
    """One person in one session: nickname shown in the room, dwell, and moderation state."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="viewers")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="live_viewings")
    nickname = models.CharField("昵称", max_length=32)
    first_seen_at = models.DateTimeField("进入时间")
    last_seen_at = models.DateTimeField("最近心跳", db_index=True)
    dwell_seconds = models.PositiveIntegerField("观看时长(秒)", default=0)
    muted_until = models.DateTimeField("禁言至", null=True, blank=True)
    banned = models.BooleanField("已拉黑", default=False)

    class Meta:
        verbose_name = "观众"
        verbose_name_plural = "观众"
        constraints = [
            models.UniqueConstraint(fields=["session", "person"], name="live_viewer_unique"),
        ]

    def __str__(self) -> str:
        return self.nickname


class LiveComment(models.Model):
    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="comments")
    viewer = models.ForeignKey(LiveViewer, on_delete=models.CASCADE, related_name="comments")
    text = models.CharField("内容", max_length=200)
    created_at = models.DateTimeField("时间", db_index=True)
    deleted_at = models.DateTimeField("删除时间", null=True, blank=True)
    deleted_by = models.CharField("删除人", max_length=64, blank=True)

    class Meta:
        verbose_name = "评论"
        verbose_name_plural = "评论"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.text[:20]


class LuckyDraw(models.Model):
    """A draw among commenters: the seed and the sorted candidates are kept, so anyone can
    recompute the winners (`live.host.selectors.lucky_draw_verify`)."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="draws")
    prize = models.CharField("奖品", max_length=64)
    winners_count = models.PositiveIntegerField("中奖人数")
    seed = models.CharField("随机种子", max_length=64)
    candidates = models.JSONField("候选观众", default=list)
    winners = models.JSONField("中奖观众", default=list)
    actor = models.CharField("操作人", max_length=64)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "抽奖"
        verbose_name_plural = "抽奖"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.prize


class FlashSaleStatus(models.TextChoices):
    RUNNING = "running", "进行中"
    ENDED = "ended", "已结束"
    CANCELLED = "cancelled", "已取消"


class FlashSale(models.Model):
    """Units of one SKU at a special price in one session, for a limited time.

    `claimed` counts units held by claims that are not released (unpaid ones included) and never
    exceeds `quantity`; `paid` counts units whose order was paid.
    """

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="flash_sales")
    sku = models.ForeignKey("catalog.Sku", on_delete=models.PROTECT, related_name="+")
    price_fen = models.PositiveIntegerField("秒杀价(分)")
    quantity = models.PositiveIntegerField("数量")
    claimed = models.PositiveIntegerField("已抢", default=0)
    paid = models.PositiveIntegerField("已支付", default=0)
    per_user_limit = models.PositiveIntegerField("每人限购", default=1)
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间")
    status = models.CharField(
        "状态", max_length=16, choices=FlashSaleStatus.choices, default=FlashSaleStatus.RUNNING
    )
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "秒杀"
        verbose_name_plural = "秒杀"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(claimed__lte=models.F("quantity")),
                name="live_flash_sale_never_oversold",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.sku_id} × {self.quantity}"


class ClaimStatus(models.TextChoices):
    HELD = "held", "待支付"
    PAID = "paid", "已支付"
    RELEASED = "released", "已释放"


class FlashSaleClaim(models.Model):
    flash_sale = models.ForeignKey(FlashSale, on_delete=models.CASCADE, related_name="claims")
    person = models.ForeignKey(Person, on_delete=models.PROTECT, related_name="flash_claims")
    quantity = models.PositiveIntegerField("数量")
    order_ref = models.CharField("订单号", max_length=40, blank=True, db_index=True)
    claim_ref = models.CharField("抢购凭证", max_length=40, unique=True)
    status = models.CharField(
        "状态", max_length=16, choices=ClaimStatus.choices, default=ClaimStatus.HELD
    )
    created_at = models.DateTimeField("时间")
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = "秒杀订单"
        verbose_name_plural = "秒杀订单"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.claim_ref


class LiveAction(models.TextChoices):
    JOIN = "join", "进入直播间"
    LEAVE = "leave", "离开"
    HEARTBEAT = "heartbeat", "观看心跳"
    CLICK_PRODUCT = "click_product", "点击商品"
    COMMENT = "comment", "评论"
    LIKE = "like", "点赞"
    ADD_TO_CART = "add_to_cart", "加购"
    ORDER = "order", "下单"
    PAY = "pay", "支付"


class LiveActivity(models.Model):
    """Append-only behaviour in the room, one row per action (heartbeats aggregate into the
    viewer's dwell instead). The per-session funnel and the host's stats read it; the data hub
    receives the same facts as `LiveViewerEvent` domain events."""

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="activities")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="live_activities")
    action = models.CharField("行为", max_length=16, choices=LiveAction.choices)
    sku_id = models.BigIntegerField("商品", null=True, blank=True)
    order_ref = models.CharField("订单号", max_length=40, blank=True)
    amount_fen = models.PositiveIntegerField("金额(分)", default=0)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "直播间行为"
        verbose_name_plural = "直播间行为"
        indexes = [models.Index(fields=["session", "action", "created_at"])]

    def __str__(self) -> str:
        return f"{self.session_id}:{self.action}"


class LiveCartStatus(models.TextChoices):
    OPEN = "open", "待支付"
    PAID = "paid", "已支付"
    ABANDONED = "abandoned", "已放弃"
    RECOVERED = "recovered", "已挽回"


class LiveCartIntent(models.Model):
    """A viewer put a product of the room in their cart (加购) and has not paid for it yet.

    Unpaid `cart_abandon_minutes` after the last 加购 it is *abandoned* (LiveCartAbandoned: the
    trigger SCRM journeys win carts back with); a later paid order of the same person with
    that product, within `RECOVERY_DAYS`, makes it *recovered* (LiveCartRecovered, with the
    GMV). One row per viewer, room and SKU.
    """

    session = models.ForeignKey(LiveSession, on_delete=models.CASCADE, related_name="cart_intents")
    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="live_cart_intents")
    sku_id = models.BigIntegerField("商品")
    status = models.CharField(
        "状态", max_length=16, choices=LiveCartStatus.choices, default=LiveCartStatus.OPEN
    )
    added_at = models.DateTimeField("最近加购时间")
    abandoned_at = models.DateTimeField("判定放弃时间", null=True, blank=True)
    paid_at = models.DateTimeField("支付时间", null=True, blank=True)
    order_no = models.CharField("支付订单号", max_length=40, blank=True)
    amount_fen = models.PositiveIntegerField("该商品实付(分)", default=0)

    class Meta:
        verbose_name = "直播间加购"
        verbose_name_plural = "直播间加购"
        constraints = [
            models.UniqueConstraint(
                fields=["session", "person", "sku_id"], name="live_cart_intent_uniq"
            )
        ]
        indexes = [models.Index(fields=["status", "added_at"])]

    def __str__(self) -> str:
        return f"{self.session_id}/{self.person_id}/{self.sku_id} {self.status}"
