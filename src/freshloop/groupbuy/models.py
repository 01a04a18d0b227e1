"""Tables of community group buying (SPEC GB-1…GB-4), one block per feature.

Group leaders (GB-1): a leader is a consumer (an identity.Person who logs in with their phone)
approved by an operator to run a pickup point; their customers attach to them by invite code.
The staff role `group_leader` (core.permissions) is for back-office staff acting for leaders,
not for leaders themselves.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from freshloop.core.fields import EncryptedJSONField, EncryptedTextField

# --- group leaders (GB-1) ---


class LeaderLevel(models.Model):
    """A rung of the leader ladder (见习 / 正式 / 金牌 …), reached by monthly GMV. GB-2's
    commission rates are set per level; operators edit the rungs in the back office."""

    code = models.CharField("代码", max_length=16, unique=True)
    name = models.CharField("名称", max_length=32)
    min_monthly_gmv_fen = models.PositiveBigIntegerField("月销售额门槛（分）", default=0)
    rank = models.PositiveSmallIntegerField("级别序号", unique=True, help_text="越大级别越高")

    class Meta:
        verbose_name = "团长等级"
        verbose_name_plural = "团长等级"
        ordering = ["rank"]

    def __str__(self) -> str:
        return self.name


class LeaderStatus(models.TextChoices):
    APPLIED = "applied", "待审核"
    ACTIVE = "active", "营业中"
    SUSPENDED = "suspended", "已暂停"
    REJECTED = "rejected", "已驳回"


# Statuses whose row holds its resident ID against another leadership: a rejected
# application releases it (the person, or whoever owns the ID, may apply again).
ID_HOLDING_STATUSES = (LeaderStatus.APPLIED, LeaderStatus.ACTIVE, LeaderStatus.SUSPENDED)


class GroupLeader(models.Model):
    """One person's leadership (at most one per person; a rejected one is re-used when they
    apply again). ID fields are sealed; `id_number_index` is their keyed hash, unique among
    leaderships that hold their ID, so one ID cannot run two leaderships."""

    leader_no = models.CharField("团长编号", max_length=40, unique=True)
    person = models.OneToOneField(
        "identity.Person",
        on_delete=models.PROTECT,
        related_name="group_leadership",
        verbose_name="用户",
    )
    display_name = models.CharField("团长昵称", max_length=32)
    status = models.CharField(
        "状态", max_length=16, choices=LeaderStatus.choices, default=LeaderStatus.APPLIED
    )
    level = models.ForeignKey(
        LeaderLevel, on_delete=models.PROTECT, related_name="leaders", verbose_name="等级"
    )
    # The leader whose invite code the applicant gave: GB-2's multi-level commission walks it.
    recruiter = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="recruits",
        verbose_name="推荐团长",
    )
    invite_code = models.CharField("邀请码", max_length=16, unique=True)
    pickup_name = models.CharField("自提点名称", max_length=64)
    pickup_address = EncryptedJSONField(
        "自提点地址", default=dict, blank=True, help_text="name/phone/province/city/district/detail"
    )
    pickup_hours = models.CharField("营业时间", max_length=64)
    # In clear (not PII) so operators can filter leaders by region.
    pickup_province = models.CharField("自提点省份", max_length=32, db_index=True)
    pickup_city = models.CharField("自提点城市", max_length=32)
    real_name = EncryptedTextField("真实姓名", blank=True)
    id_number = EncryptedTextField("身份证号", blank=True)
    id_number_index = models.CharField("身份证号盲索引", max_length=64, blank=True)
    applied_at = models.DateTimeField("申请时间")
    decided_at = models.DateTimeField("审核时间", null=True, blank=True)
    decided_by = models.CharField("审核人", max_length=150, blank=True)
    decision_reason = models.CharField("审核意见", max_length=200, blank=True)
    suspended_reason = models.CharField("暂停原因", max_length=200, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "团长"
        verbose_name_plural = "团长"
        ordering = ["-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["id_number_index"],
                condition=Q(status__in=ID_HOLDING_STATUSES) & ~Q(id_number_index=""),
                name="groupbuy_leader_one_per_id_number",
            )
        ]
        indexes = [models.Index(fields=["status", "applied_at"], name="groupbuy_leader_status")]

    def __str__(self) -> str:
        return f"{self.display_name}（{self.leader_no}）"


class AttachmentSource(models.TextChoices):
    INVITE_LINK = "invite_link", "邀请链接"
    QR = "qr", "扫码"


class LeaderCustomer(models.Model):
    """A customer's current leader: one row per person (the unique person is what keeps two
    attachments from ever existing at once). History is in LeaderAttachmentLog."""

    person = models.OneToOneField(
        "identity.Person",
        on_delete=models.PROTECT,
        related_name="group_leader_attachment",
        verbose_name="顾客",
    )
    leader = models.ForeignKey(
        GroupLeader, on_delete=models.PROTECT, related_name="customers", verbose_name="团长"
    )
    # The last time the customer attached to a (new) leader: the attribution window runs from it.
    attached_at = models.DateTimeField("绑定时间")
    source = models.CharField("绑定方式", max_length=16, choices=AttachmentSource.choices)

    class Meta:
        verbose_name = "团长顾客"
        verbose_name_plural = "团长顾客"
        ordering = ["-attached_at", "-id"]
        indexes = [models.Index(fields=["leader", "attached_at"], name="groupbuy_customer_leader")]

    def __str__(self) -> str:
        return f"{self.person_id} → {self.leader_id}"


class AttachmentReason(models.TextChoices):
    ATTACH = "attach", "首次绑定"
    SWITCH = "switch", "更换团长"
    MERGE = "merge", "OneID 合并"
    ERASE = "erase", "用户删除"


class LeaderAttachmentLog(models.Model):
    """Append-only history of who was whose customer when (GB-2 attributes orders by it)."""

    person = models.ForeignKey(
        "identity.Person", on_delete=models.PROTECT, related_name="+", verbose_name="顾客"
    )
    from_leader = models.ForeignKey(
        GroupLeader,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="原团长",
    )
    to_leader = models.ForeignKey(
        GroupLeader,
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        verbose_name="新团长",
    )
    at = models.DateTimeField("时间", db_index=True)
    reason = models.CharField("原因", max_length=16, choices=AttachmentReason.choices)
    source = models.CharField("绑定方式", max_length=16, blank=True)

    class Meta:
        verbose_name = "团长归属记录"
        verbose_name_plural = "团长归属记录"
        ordering = ["-at", "-id"]

    def __str__(self) -> str:
        return f"{self.person_id}: {self.from_leader_id} → {self.to_leader_id}"


# --- the feature sub-packages' tables, registered with this app by importing them ---
from freshloop.groupbuy.commission import models as commission_models  # noqa: E402, F401
from freshloop.groupbuy.deals import models as deals_models  # noqa: E402, F401
from freshloop.groupbuy.presale import models as presale_models  # noqa: E402, F401
from freshloop.groupbuy.training import models as training_models  # noqa: E402, F401
