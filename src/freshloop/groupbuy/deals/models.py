"""Tables of group deals 拼团 (GB-3). Registered through `groupbuy.models`, which imports this
file.

A deal sells units of one SKU at tiered prices by how many join a group (2 人 ¥39.9, 5 人
¥35.9 …). Each group is a few people who join within the deal's time limit; everyone pays the
tier reached when they join and gets the difference back when the group closes at a better
tier; a group that ends below the smallest tier fails and every member is refunded.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q


class DealStatus(models.TextChoices):
    ACTIVE = "active", "进行中"
    ENDED = "ended", "已结束"


class GroupDeal(models.Model):
    """A tiered group deal on one SKU. Its units are set aside in one stock block when it is
    created (`block_ref`); `units_held` counts those held by members (pending or paid) and
    never exceeds `quantity` (a conditional UPDATE decides; see deals/locks.py)."""

    deal_no = models.CharField("活动编号", max_length=40, unique=True)
    title = models.CharField("活动名称", max_length=64)
    sku = models.ForeignKey(
        "catalog.Sku", on_delete=models.PROTECT, related_name="+", verbose_name="商品规格"
    )
    # [{"size": 2, "price_fen": 3990}, {"size": 5, "price_fen": 3590}, …]: sizes ascending,
    # prices descending, every price below the list price.
    tiers = models.JSONField("阶梯价")
    min_size = models.PositiveSmallIntegerField("成团人数")
    max_size = models.PositiveSmallIntegerField("满团人数")
    group_minutes = models.PositiveIntegerField("成团时限（分钟）")
    per_person_limit = models.PositiveSmallIntegerField("每人限购", default=1)
    quantity = models.PositiveIntegerField("活动库存")
    units_held = models.PositiveIntegerField("已占库存", default=0)
    leader_only = models.BooleanField(
        "仅团长开团", default=False, help_text="开启后只有营业中的团长可以开团，顾客只能参团"
    )
    status = models.CharField(
        "状态", max_length=16, choices=DealStatus.choices, default=DealStatus.ACTIVE
    )
    starts_at = models.DateTimeField("开始时间")
    ends_at = models.DateTimeField("结束时间", help_text="此后不能再开团；已开的团按各自时限结束")
    created_by = models.CharField("创建人", max_length=150, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "拼团活动"
        verbose_name_plural = "拼团活动"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(units_held__lte=models.F("quantity")),
                name="groupbuy_deal_never_oversold",
            )
        ]

    def __str__(self) -> str:
        return f"{self.title}（{self.deal_no}）"

    @property
    def block_ref(self) -> str:
        """The stock block this deal's units are set aside in (inventory)."""
        return f"groupdeal:{self.deal_no}"

    def price_for_size(self, size: int) -> int:
        """The unit price when `size` people are in the group: the best tier reached, or the
        first tier's price below the smallest size."""
        price = int(self.tiers[0]["price_fen"])
        for tier in self.tiers:
            if size >= int(tier["size"]):
                price = int(tier["price_fen"])
        return price


class GroupStatus(models.TextChoices):
    OPEN = "open", "拼团中"
    SUCCEEDED = "succeeded", "拼团成功"
    FAILED = "failed", "拼团失败"


class DealGroup(models.Model):
    """One group of a deal. `seats` counts members holding a place (pending payment or paid),
    `joined` the paid ones; a group is full at the deal's `max_size` seats. It closes when
    full and paid (success), or at `closes_at`: success when `joined` reached the smallest
    tier, else failure."""

    group_no = models.CharField("团编号", max_length=40, unique=True)
    deal = models.ForeignKey(
        GroupDeal, on_delete=models.PROTECT, related_name="groups", verbose_name="拼团活动"
    )
    # The leader the group sells for: the leader who started it, or the starter's own leader.
    leader = models.ForeignKey(
        "groupbuy.GroupLeader",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="deal_groups",
        verbose_name="团长",
    )
    starter = models.ForeignKey(
        "identity.Person", on_delete=models.PROTECT, related_name="+", verbose_name="开团人"
    )
    status = models.CharField(
        "状态", max_length=16, choices=GroupStatus.choices, default=GroupStatus.OPEN
    )
    seats = models.PositiveSmallIntegerField("占位人数", default=0)
    joined = models.PositiveSmallIntegerField("已付款人数", default=0)
    final_price_fen = models.PositiveIntegerField("成团价（分）", null=True, blank=True)
    opened_at = models.DateTimeField("开团时间")
    closes_at = models.DateTimeField("截止时间", db_index=True)
    closed_at = models.DateTimeField("结束时间", null=True, blank=True)

    class Meta:
        verbose_name = "拼团"
        verbose_name_plural = "拼团"
        ordering = ["-id"]
        indexes = [models.Index(fields=["status", "closes_at"], name="groupbuy_group_due")]
        constraints = [
            models.CheckConstraint(
                condition=Q(joined__lte=models.F("seats")), name="groupbuy_group_paid_le_seats"
            )
        ]

    def __str__(self) -> str:
        return self.group_no


class MemberStatus(models.TextChoices):
    PENDING = "pending", "待支付"
    JOINED = "joined", "已参团"
    LEFT = "left", "未支付已取消"
    REFUNDED = "refunded", "拼团失败已退款"


# A person holds at most one place per deal at a time (the per-person limit is on it).
HOLDING_STATUSES = (MemberStatus.PENDING, MemberStatus.JOINED)


class RefundKind(models.TextChoices):
    NONE = "", "无"
    DIFFERENCE = "difference", "阶梯差价退款"
    FAILED = "failed", "拼团失败全额退款"


class GroupMember(models.Model):
    """A person's place in a group, with the order that pays for it (the one order path).

    `refund_no` is written in the same transaction as the refund request it names, so a refund
    is asked for at most once per member however often its effect is delivered."""

    group = models.ForeignKey(
        DealGroup, on_delete=models.PROTECT, related_name="members", verbose_name="拼团"
    )
    deal = models.ForeignKey(
        GroupDeal, on_delete=models.PROTECT, related_name="+", verbose_name="拼团活动"
    )
    person = models.ForeignKey(
        "identity.Person", on_delete=models.PROTECT, related_name="+", verbose_name="团员"
    )
    order_no = models.CharField("订单号", max_length=40, unique=True)
    quantity = models.PositiveSmallIntegerField("数量")
    unit_price_fen = models.PositiveIntegerField("参团单价（分）")
    status = models.CharField(
        "状态", max_length=16, choices=MemberStatus.choices, default=MemberStatus.PENDING
    )
    refund_kind = models.CharField(
        "退款类型", max_length=16, choices=RefundKind.choices, default="", blank=True
    )
    refund_fen = models.PositiveIntegerField("退款金额（分）", default=0)
    refund_no = models.CharField("退款单号", max_length=40, blank=True)
    joined_at = models.DateTimeField("参团时间")
    paid_at = models.DateTimeField("付款时间", null=True, blank=True)

    class Meta:
        verbose_name = "团员"
        verbose_name_plural = "团员"
        ordering = ["group", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["deal", "person"],
                condition=Q(status__in=HOLDING_STATUSES),
                name="groupbuy_member_one_place_per_deal",
            )
        ]

    def __str__(self) -> str:
        return f"{self.group_id}: {self.person_id}"
