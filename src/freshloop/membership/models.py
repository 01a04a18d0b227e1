"""Member levels, one membership per person, and the append-only, hash-chained points ledger.

Invariants kept here (the services keep the rest):
- `Membership.points_balance` never goes below zero (CHECK constraint as the last line).
- A `PointsEntry` is never changed or removed once written: `save()` on an existing row,
  `delete()`, and queryset `update()` / `delete()` all raise. Each entry carries the SHA-256 of
  its canonical form including the previous entry's hash, per person, so an edit made behind
  the ORM's back (raw SQL) breaks the chain and `ledger_verify` finds it.
- Entries of one person are numbered 1, 2, 3… (`seq`, unique per person), so the chain can
  never fork even if two writers raced past the row lock.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from typing import Any

from django.core.validators import MaxValueValidator
from django.db import models

from freshloop.identity.models import Person

GENESIS_HASH = "0" * 64


class MemberLevel(models.Model):
    """A tier. A member qualifies when lifetime spend OR points earned reach the threshold."""

    code = models.SlugField("代码", max_length=32, unique=True)
    name = models.CharField("名称", max_length=32)
    min_lifetime_spend_fen = models.PositiveBigIntegerField("累计消费门槛(分)", default=0)
    min_points_earned = models.PositiveBigIntegerField("累计获得积分门槛", default=0)
    discount_percent = models.PositiveSmallIntegerField(
        "会员折扣(%)",
        default=0,
        validators=[MaxValueValidator(30)],
        help_text="0–30，例如 5 表示 95 折",
    )
    free_shipping = models.BooleanField("包邮", default=False)
    points_multiplier_bp = models.PositiveIntegerField(
        "积分倍率(基点)",
        default=10000,
        validators=[MaxValueValidator(100000)],
        help_text="10000 = 1 倍，15000 = 1.5 倍",
    )
    sort_order = models.PositiveSmallIntegerField("等级顺序", unique=True)

    class Meta:
        verbose_name = "会员等级"
        verbose_name_plural = "会员等级"
        ordering = ["sort_order"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(discount_percent__lte=30), name="member_level_discount_max_30"
            ),
            models.CheckConstraint(
                condition=models.Q(points_multiplier_bp__gte=0)
                & models.Q(points_multiplier_bp__lte=100000),
                name="member_level_multiplier_range",
            ),
        ]

    def __str__(self) -> str:
        return self.name


class Membership(models.Model):
    """One person's membership: level, totals and the current points balance."""

    person = models.OneToOneField(
        Person, on_delete=models.PROTECT, related_name="membership", verbose_name="用户"
    )
    level = models.ForeignKey(
        MemberLevel, on_delete=models.PROTECT, related_name="members", verbose_name="等级"
    )
    lifetime_spend_fen = models.BigIntegerField("累计消费(分)", default=0)
    points_balance = models.BigIntegerField("积分余额", default=0)
    points_earned_total = models.BigIntegerField("累计获得积分", default=0)
    joined_at = models.DateTimeField("入会时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "会员"
        verbose_name_plural = "会员"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(
                condition=models.Q(points_balance__gte=0), name="membership_balance_not_negative"
            ),
            models.CheckConstraint(
                condition=models.Q(lifetime_spend_fen__gte=0),
                name="membership_lifetime_spend_not_negative",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person.one_id} {self.level.name}"


class PointsKind(models.TextChoices):
    EARN = "earn", "下单获得"
    SPEND = "spend", "下单抵扣"
    SPEND_RETURN = "spend_return", "取消退回"
    REVERSE = "reverse", "退款扣回"
    ADJUST = "adjust", "人工调整"
    EXPIRE = "expire", "过期"
    MERGE_OUT = "merge_out", "账号合并转出"
    MERGE_IN = "merge_in", "账号合并转入"


class AppendOnlyError(RuntimeError):
    """A ledger entry was about to be changed or removed; the ledger only grows."""


class PointsEntryQuerySet(models.QuerySet["PointsEntry"]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("积分流水只能追加，不能修改")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("积分流水只能追加，不能删除")


class PointsEntry(models.Model):
    """One movement of points. Append-only; see the module docstring for the hash chain."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="points_entries", verbose_name="用户"
    )
    seq = models.PositiveIntegerField("序号")
    delta = models.BigIntegerField("变动")
    kind = models.CharField("类型", max_length=16, choices=PointsKind.choices)
    # Idempotency key: the order number (earn/spend/spend_return), the refund number (reverse),
    # "<from OneID>><into OneID>" (merges); NULL (not "") for operator adjustments so the
    # partial unique (person, kind, ref) leaves them out.
    ref = models.CharField("业务单号", max_length=64, null=True, blank=True)  # noqa: DJ001
    order_ref = models.CharField("订单号", max_length=64, blank=True, default="")
    # The money the entry was computed from: paid amount (earn) or refunded amount (reverse).
    amount_fen = models.BigIntegerField("计算金额(分)", default=0)
    # Points a refund should have taken back but could not, because they were already spent.
    shortfall = models.BigIntegerField("未能扣回积分", default=0)
    reason = models.CharField("原因", max_length=200, blank=True)
    actor_label = models.CharField("操作人", max_length=150, blank=True)
    balance_after = models.BigIntegerField("变动后余额")
    created_at = models.DateTimeField("时间")
    prev_hash = models.CharField("上一条哈希", max_length=64)
    entry_hash = models.CharField("本条哈希", max_length=64)

    objects = PointsEntryQuerySet.as_manager()

    class Meta:
        verbose_name = "积分流水"
        verbose_name_plural = "积分流水"
        ordering = ["person_id", "seq"]
        constraints = [
            models.UniqueConstraint(fields=["person", "seq"], name="points_entry_person_seq_uniq"),
            models.UniqueConstraint(
                fields=["person", "kind", "ref"],
                condition=models.Q(ref__isnull=False),
                name="points_entry_person_kind_ref_uniq",
            ),
            models.CheckConstraint(
                condition=models.Q(balance_after__gte=0), name="points_entry_balance_not_negative"
            ),
        ]
        indexes = [models.Index(fields=["order_ref"], name="points_entry_order_ref_idx")]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.delta:+d}"

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("积分流水只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("积分流水只能追加，不能删除")

    def canonical(self) -> bytes:
        """The bytes the hash covers: every stored fact of the entry plus the previous hash."""
        created = self.created_at.astimezone(dt.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
        document = {
            "v": 1,
            "person_id": self.person_id,
            "seq": self.seq,
            "delta": self.delta,
            "kind": self.kind,
            "ref": self.ref,
            "order_ref": self.order_ref,
            "amount_fen": self.amount_fen,
            "shortfall": self.shortfall,
            "reason": self.reason,
            "actor_label": self.actor_label,
            "balance_after": self.balance_after,
            "created_at": created,
            "prev_hash": self.prev_hash,
        }
        return json.dumps(
            document, ensure_ascii=False, sort_keys=True, separators=(",", ":")
        ).encode("utf-8")

    def compute_hash(self) -> str:
        return hashlib.sha256(self.canonical()).hexdigest()
