"""Tables of commission (GB-2). Registered through `groupbuy.models`, which imports this file.

- `LeaderOrder`: a paid order attributed to the buyer's leader, with the pickup point as it was
  at payment and the pickup code the buyer shows.
- `CommissionRule`: a rate in basis points for a depth (1 = the order's leader, 2 = their
  recruiter …), for a level, a product or a category, valid over a period.
- `CommissionAccrual`: what one leader earns on one order at one depth, and how much of it
  refunds took back (a working row; the money itself is in the ledger).
- `LedgerTransaction` / `LedgerLeg`: the append-only double-entry journal. Every transaction's
  legs sum to zero; a leg's `amount_fen` credits its account when positive and debits it when
  negative. Rows are never changed or deleted (model and queryset guards below).
- `SettlementRun` / `SettlementStatement`: an operator's payout run for a period and one
  statement per leader, approved by a second operator, then marked paid.
"""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import Q

from freshloop.core.fields import EncryptedJSONField

HARD_MAX_DEPTH = 3
"""Never more levels than this whatever the settings say (docs/groupbuy-commission.md: the
anti-pyramid-selling rules; platforms keep to 2–3)."""


class PickupStatus(models.TextChoices):
    AWAITING = "awaiting", "待自提"
    PICKED_UP = "picked_up", "已自提"
    REFUNDED = "refunded", "已退款"


class LeaderOrder(models.Model):
    """One paid order attributed to a leader (at most one row per order)."""

    order = models.OneToOneField(
        "orders.Order", on_delete=models.PROTECT, related_name="+", verbose_name="订单"
    )
    order_no = models.CharField("订单号", max_length=40)
    leader = models.ForeignKey(
        "groupbuy.GroupLeader",
        on_delete=models.PROTECT,
        related_name="attributed_orders",
        verbose_name="团长",
    )
    person = models.ForeignKey(
        "identity.Person", on_delete=models.PROTECT, related_name="+", verbose_name="顾客"
    )
    channel = models.CharField("渠道", max_length=16)
    paid_at = models.DateTimeField("支付时间")
    paid_fen = models.PositiveBigIntegerField("实付(分)")
    shipping_fen = models.PositiveBigIntegerField("运费(分)", default=0)
    gmv_fen = models.PositiveBigIntegerField("销售额(分)", help_text="实付减运费")
    refunded_fen = models.PositiveBigIntegerField("已退款(分)", default=0)
    gmv_refunded_fen = models.PositiveBigIntegerField("销售额中已退(分)", default=0)
    refund_nos = models.JSONField("已处理退款单", default=list, blank=True)
    pickup_code = models.CharField("提货码", max_length=8)
    pickup_name = models.CharField("自提点名称", max_length=64)
    pickup_address = EncryptedJSONField("自提点地址", default=dict, blank=True)
    pickup_hours = models.CharField("营业时间", max_length=64)
    pickup_status = models.CharField(
        "自提状态", max_length=16, choices=PickupStatus.choices, default=PickupStatus.AWAITING
    )
    picked_up_at = models.DateTimeField("自提时间", null=True, blank=True)
    attributed_at = models.DateTimeField("归属时间")

    class Meta:
        verbose_name = "团长订单"
        verbose_name_plural = "团长订单"
        ordering = ["-paid_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["leader", "pickup_code"], name="groupbuy_leader_order_pickup_code"
            )
        ]
        indexes = [
            models.Index(fields=["leader", "paid_at"], name="groupbuy_lorder_leader_paid"),
            models.Index(fields=["leader", "pickup_status"], name="groupbuy_lorder_pickup"),
        ]

    def __str__(self) -> str:
        return f"{self.order_no} → {self.leader_id}"


class CommissionRule(models.Model):
    """A rate for one depth. Scope: a product, or a category (and its sub-categories), or
    neither (the level's default); `level` empty means every level. The most specific valid
    rule wins (commission/rules.py)."""

    depth = models.PositiveSmallIntegerField("层级", help_text="1 = 下单顾客的团长，2 = 其推荐人")
    level = models.ForeignKey(
        "groupbuy.LeaderLevel",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="团长等级",
        help_text="留空表示所有等级",
    )
    product = models.ForeignKey(
        "catalog.Product",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="商品",
    )
    category = models.ForeignKey(
        "catalog.Category",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="类目",
    )
    rate_bp = models.PositiveIntegerField("佣金率(基点)", help_text="100 基点 = 1%")
    cap_fen = models.PositiveBigIntegerField(
        "每单上限(分)", null=True, blank=True, help_text="本规则在一张订单上最多产生的佣金"
    )
    valid_from = models.DateTimeField("生效时间")
    valid_until = models.DateTimeField("失效时间", null=True, blank=True)
    note = models.CharField("备注", max_length=200, blank=True)
    created_by = models.CharField("创建人", max_length=150, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "佣金规则"
        verbose_name_plural = "佣金规则"
        ordering = ["depth", "-valid_from", "-id"]
        constraints = [
            models.CheckConstraint(
                condition=~(Q(product__isnull=False) & Q(category__isnull=False)),
                name="groupbuy_rule_product_or_category",
            ),
            models.CheckConstraint(
                condition=Q(depth__gte=1) & Q(depth__lte=HARD_MAX_DEPTH),
                name="groupbuy_rule_depth_range",
            ),
            models.CheckConstraint(
                condition=Q(rate_bp__lte=10_000), name="groupbuy_rule_rate_range"
            ),
            models.CheckConstraint(
                condition=Q(valid_until__isnull=True) | Q(valid_until__gte=models.F("valid_from")),
                name="groupbuy_rule_valid_period",
            ),
        ]

    def __str__(self) -> str:
        return f"L{self.depth} {self.rate_bp}bp #{self.pk}"


class CommissionAccrual(models.Model):
    """What `beneficiary` earns on one attributed order at one depth. `amount_fen` is what
    was accrued and never changes; `reversed_fen` grows with refunds; `matured_at` is set
    when the rest became settleable. The ledger holds the money; this row finds it."""

    leader_order = models.ForeignKey(
        LeaderOrder, on_delete=models.PROTECT, related_name="accruals", verbose_name="团长订单"
    )
    beneficiary = models.ForeignKey(
        "groupbuy.GroupLeader", on_delete=models.PROTECT, related_name="+", verbose_name="受益团长"
    )
    depth = models.PositiveSmallIntegerField("层级")
    base_fen = models.PositiveBigIntegerField("计佣金额(分)")
    amount_fen = models.PositiveBigIntegerField("佣金(分)")
    reversed_fen = models.PositiveBigIntegerField("已冲回(分)", default=0)
    breakdown = models.JSONField("计算明细", default=dict, blank=True)
    matures_at = models.DateTimeField("可结算时间", db_index=True)
    matured_at = models.DateTimeField("转为可结算", null=True, blank=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "佣金记录"
        verbose_name_plural = "佣金记录"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["leader_order", "depth"], name="groupbuy_accrual_order_depth"
            ),
            models.CheckConstraint(
                condition=Q(reversed_fen__lte=models.F("amount_fen")),
                name="groupbuy_accrual_reversed_not_above",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.leader_order_id} L{self.depth} {self.amount_fen}"


class LedgerAccount(models.TextChoices):
    COMMISSION_EXPENSE = "commission_expense", "平台佣金费用"
    LEADER_PENDING = "leader_pending", "团长待结算(售后期内)"
    LEADER_SETTLEABLE = "leader_settleable", "团长可结算"
    LEADER_PAYABLE = "leader_payable", "团长应付(已审核)"
    CASH = "cash", "平台资金(已打款)"


class LedgerKind(models.TextChoices):
    ACCRUE = "accrue", "佣金计提"
    MATURE = "mature", "售后期满"
    REVERSE = "reverse", "退款冲回"
    SETTLE = "settle", "结算审核"
    PAY = "pay", "结算打款"


class AppendOnlyError(RuntimeError):
    """A ledger row was about to be changed or removed; the ledger only grows."""


class _AppendOnlyQuerySet(models.QuerySet[Any]):
    def update(self, **kwargs: Any) -> int:
        raise AppendOnlyError("佣金账本只能追加，不能修改")

    def delete(self) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("佣金账本只能追加，不能删除")


class _AppendOnly(models.Model):
    objects = _AppendOnlyQuerySet.as_manager()

    class Meta:
        abstract = True

    def save(self, *args: Any, **kwargs: Any) -> None:
        if self.pk is not None:
            raise AppendOnlyError("佣金账本只能追加，不能修改")
        super().save(*args, **kwargs)

    def delete(self, *args: Any, **kwargs: Any) -> tuple[int, dict[str, int]]:
        raise AppendOnlyError("佣金账本只能追加，不能删除")


class LedgerTransaction(_AppendOnly):
    """One movement of commission money: its legs sum to zero. `ref` makes posting
    idempotent ("accrue:<accrual>", "reverse:<refund_no>:<accrual>", "settle:<statement_no>" …)."""

    ref = models.CharField("业务键", max_length=96, unique=True)
    kind = models.CharField("类型", max_length=16, choices=LedgerKind.choices)
    leader = models.ForeignKey(
        "groupbuy.GroupLeader", on_delete=models.PROTECT, related_name="+", verbose_name="团长"
    )
    accrual = models.ForeignKey(
        CommissionAccrual,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="佣金记录",
    )
    statement = models.ForeignKey(
        "SettlementStatement",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="结算单",
    )
    order_no = models.CharField("订单号", max_length=40, blank=True)
    memo = models.CharField("说明", max_length=200, blank=True)
    actor_label = models.CharField("操作人", max_length=150, blank=True)
    occurred_at = models.DateTimeField("记账时间", db_index=True)

    class Meta:
        verbose_name = "佣金账本凭证"
        verbose_name_plural = "佣金账本凭证"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.ref}"


class LedgerLeg(_AppendOnly):
    """One side of a transaction. Positive credits `account`, negative debits it; every leg
    carries the transaction's leader, so a leader's legs across all accounts sum to zero too."""

    transaction = models.ForeignKey(
        LedgerTransaction, on_delete=models.PROTECT, related_name="legs", verbose_name="凭证"
    )
    account = models.CharField("科目", max_length=24, choices=LedgerAccount.choices)
    leader = models.ForeignKey(
        "groupbuy.GroupLeader", on_delete=models.PROTECT, related_name="+", verbose_name="团长"
    )
    amount_fen = models.BigIntegerField("金额(分)", help_text="正数贷记，负数借记")
    kind = models.CharField("类型", max_length=16, choices=LedgerKind.choices)
    occurred_at = models.DateTimeField("记账时间")

    class Meta:
        verbose_name = "佣金账本分录"
        verbose_name_plural = "佣金账本分录"
        ordering = ["-id"]
        constraints = [
            models.CheckConstraint(condition=~Q(amount_fen=0), name="groupbuy_leg_not_zero")
        ]
        indexes = [
            models.Index(
                fields=["leader", "account", "occurred_at"], name="groupbuy_leg_leader_acct"
            )
        ]

    def __str__(self) -> str:
        return f"{self.account} {self.amount_fen:+d}"


class SettlementStatus(models.TextChoices):
    DRAFT = "draft", "待审核"
    APPROVED = "approved", "已审核"
    PAID = "paid", "已打款"
    CANCELLED = "cancelled", "已作废"


class SettlementRun(models.Model):
    """An operator's payout run: what matured before `period_end`, one statement per leader
    owed money. At most one run waits for approval at a time (the partial unique below)."""

    run_no = models.CharField("结算批次号", max_length=40, unique=True)
    period_start = models.DateTimeField("周期开始", null=True, blank=True)
    period_end = models.DateTimeField("周期截止")
    status = models.CharField(
        "状态", max_length=16, choices=SettlementStatus.choices, default=SettlementStatus.DRAFT
    )
    total_fen = models.BigIntegerField("合计(分)", default=0)
    statement_count = models.PositiveIntegerField("结算单数", default=0)
    created_by = models.CharField("创建人", max_length=150)
    created_at = models.DateTimeField("创建时间")
    approved_by = models.CharField("审核人", max_length=150, blank=True)
    approved_at = models.DateTimeField("审核时间", null=True, blank=True)
    cancelled_by = models.CharField("作废人", max_length=150, blank=True)
    cancelled_at = models.DateTimeField("作废时间", null=True, blank=True)

    class Meta:
        verbose_name = "佣金结算批次"
        verbose_name_plural = "佣金结算批次"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["status"],
                condition=Q(status="draft"),
                name="groupbuy_settlement_one_draft",
            )
        ]

    def __str__(self) -> str:
        return self.run_no


class SettlementStatement(models.Model):
    """One leader's statement in a run: the balance carried in (`opening_fen`, negative when
    refunds after an earlier payout left a receivable), what matured and what refunds took
    back in the period, and `amount_fen` to pay (always positive)."""

    statement_no = models.CharField("结算单号", max_length=40, unique=True)
    run = models.ForeignKey(
        SettlementRun, on_delete=models.PROTECT, related_name="statements", verbose_name="批次"
    )
    leader = models.ForeignKey(
        "groupbuy.GroupLeader",
        on_delete=models.PROTECT,
        related_name="commission_statements",
        verbose_name="团长",
    )
    opening_fen = models.BigIntegerField("期初结转(分)", default=0)
    matured_fen = models.BigIntegerField("本期可结算(分)", default=0)
    reversed_fen = models.BigIntegerField("本期冲回(分)", default=0)
    amount_fen = models.BigIntegerField("应结算(分)")
    status = models.CharField(
        "状态", max_length=16, choices=SettlementStatus.choices, default=SettlementStatus.DRAFT
    )
    paid_at = models.DateTimeField("打款时间", null=True, blank=True)
    paid_by = models.CharField("打款操作人", max_length=150, blank=True)
    payment_ref = models.CharField("打款流水号", max_length=64, blank=True)
    created_at = models.DateTimeField("创建时间")

    class Meta:
        verbose_name = "佣金结算单"
        verbose_name_plural = "佣金结算单"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(fields=["run", "leader"], name="groupbuy_statement_run_leader"),
            models.CheckConstraint(
                condition=Q(amount_fen__gt=0), name="groupbuy_statement_amount_positive"
            ),
        ]

    def __str__(self) -> str:
        return self.statement_no
