"""People (OneIDs), their identifiers, login codes and consumer tokens.

Identifier values are PII: stored encrypted, found through a blind index (core.crypto).
"""

from __future__ import annotations

from django.db import models

from freshloop.core.fields import EncryptedJSONField, EncryptedTextField
from freshloop.core.ids import new_id


def new_one_id() -> str:
    return new_id("P")


class IdentifierType(models.TextChoices):
    PHONE = "phone", "手机号"
    WECHAT_OPENID = "wechat_openid", "微信 openid"
    WECHAT_UNIONID = "wechat_unionid", "微信 unionid"
    WECOM_EXTERNAL_USERID = "wecom_external_userid", "企业微信外部联系人"
    DOUYIN_OPENID = "douyin_openid", "抖音 openid"
    DEVICE_ID = "device_id", "设备ID"
    EMAIL = "email", "邮箱"
    MEMBER_NO = "member_no", "会员号"
    STORE_CARD = "store_card", "门店卡"


class PersonStatus(models.TextChoices):
    ACTIVE = "active", "有效"
    MERGED = "merged", "已合并"
    ERASED = "erased", "已删除(PIPL)"


class Person(models.Model):
    """One customer, whatever door they came in by. `one_id` is the public identifier.

    A merged person keeps its row (so old references resolve) and points at the survivor
    through `merged_into`; an erased person keeps its row and facts but no PII.
    """

    one_id = models.CharField(
        "OneID", max_length=40, unique=True, default=new_one_id, editable=False
    )
    status = models.CharField(
        "状态", max_length=16, choices=PersonStatus.choices, default=PersonStatus.ACTIVE
    )
    merged_into = models.ForeignKey(
        "self",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="merged_people",
        verbose_name="合并到",
    )
    display_name = models.CharField("昵称", max_length=64, blank=True)
    traits = models.JSONField("属性", default=dict, blank=True)
    # Traits that identify a person (name, address, birthday) are sealed, not queryable.
    private_traits = EncryptedJSONField("敏感属性", default=dict, blank=True)
    # Per trait: when and from which source its current value came (last write wins).
    trait_sources = models.JSONField("属性来源", default=dict, blank=True)
    source = models.CharField("首次来源", max_length=32, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")
    erased_at = models.DateTimeField("删除时间", null=True, blank=True)

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户(OneID)"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.display_name or self.one_id


class Identifier(models.Model):
    """One way to recognise a person. Unique per (type, scope, value) across all people."""

    person = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="identifiers", verbose_name="用户"
    )
    type = models.CharField("类型", max_length=32, choices=IdentifierType.choices)
    scope = models.CharField(
        "作用域", max_length=64, blank=True, help_text="如微信 app id、企业微信 corp id"
    )
    value = EncryptedTextField("值")
    value_index = models.CharField("盲索引", max_length=64, db_index=True)
    verified = models.BooleanField("已验证", default=False)
    source = models.CharField("来源", max_length=32, blank=True)
    created_at = models.DateTimeField("创建时间")
    last_seen_at = models.DateTimeField("最近出现", null=True, blank=True)

    class Meta:
        verbose_name = "身份标识"
        verbose_name_plural = "身份标识"
        constraints = [
            models.UniqueConstraint(
                fields=["type", "scope", "value_index"], name="identifier_type_scope_value_uniq"
            )
        ]

    def __str__(self) -> str:
        return f"{self.get_type_display()} {self.pk}"


class OtpChallenge(models.Model):
    """A one-time login code sent to a phone. Only its keyed hash is stored."""

    phone_index = models.CharField(max_length=64, db_index=True)
    code_hash = models.CharField(max_length=64)
    attempts = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    consumed_at = models.DateTimeField(null=True, blank=True)
    ip_address = models.GenericIPAddressField(null=True, blank=True)

    class Meta:
        verbose_name = "登录验证码"
        verbose_name_plural = "登录验证码"
        indexes = [models.Index(fields=["phone_index", "-created_at"], name="otp_phone_recent_idx")]

    def __str__(self) -> str:
        return f"otp#{self.pk}"


class ConsumerToken(models.Model):
    """A consumer's login (bearer token or H5 session). Only the SHA-256 of the token is stored."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="tokens")
    token_hash = models.CharField(max_length=64, unique=True)
    method = models.CharField("登录方式", max_length=16)
    created_at = models.DateTimeField()
    expires_at = models.DateTimeField()
    revoked_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "消费者登录"
        verbose_name_plural = "消费者登录"

    def __str__(self) -> str:
        return f"token#{self.pk} {self.method}"


class IdentifierLink(models.Model):
    """Evidence that two identifiers belong to one person: they arrived in one identify call,
    or an operator accepted a match. Stored once per pair, smaller id on the left."""

    left = models.ForeignKey(Identifier, on_delete=models.CASCADE, related_name="links_as_left")
    right = models.ForeignKey(Identifier, on_delete=models.CASCADE, related_name="links_as_right")
    source = models.CharField("来源", max_length=32)
    first_seen_at = models.DateTimeField("首次出现")

    class Meta:
        verbose_name = "标识关联"
        verbose_name_plural = "标识关联"
        constraints = [
            models.UniqueConstraint(fields=["left", "right"], name="identifier_link_pair_uniq"),
            models.CheckConstraint(
                condition=models.Q(left__lt=models.F("right")), name="identifier_link_ordered"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.left_id}—{self.right_id}"


class MergeRecord(models.Model):
    """One person folded into another: who, why, and which identifier proved it.

    `evidence` is the survivor's identifier the merged person's identifiers were linked to
    (directly, or through the identifiers in `evidence_detail["via"]`); `evidence_detail`
    names both ends by id and type, the link's source, and for a review-queue merge the
    operator's decision and the match candidate's score and compared fields. It never holds
    an identifier's value, masked or not: screens mask the live identifier, so an erasure
    reaches the merge history too.
    """

    from_person = models.ForeignKey(
        Person,
        on_delete=models.PROTECT,
        related_name="merged_away_records",
        verbose_name="被并入的用户",
    )
    into_person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="merge_records", verbose_name="并入到"
    )
    reason = models.CharField("原因", max_length=32)
    evidence = models.ForeignKey(
        Identifier,
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="+",
        verbose_name="证据标识",
    )
    evidence_detail = models.JSONField("证据详情", default=dict, blank=True)
    match_candidate = models.ForeignKey(
        "MatchCandidate",
        null=True,
        blank=True,
        on_delete=models.SET_NULL,
        related_name="merge_records",
        verbose_name="审核候选",
    )
    source = models.CharField("来源", max_length=32, blank=True)
    actor_label = models.CharField("操作者", max_length=150, blank=True)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "合并记录"
        verbose_name_plural = "合并记录"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.from_person_id} → {self.into_person_id}"


class ConflictStatus(models.TextChoices):
    OPEN = "open", "待审核"
    MERGED = "merged", "已合并"
    DISMISSED = "dismissed", "确认不是同一人"


class IdentityConflict(models.Model):
    """A link the merge rules refused, kept for an operator to look at."""

    left = models.ForeignKey(Identifier, on_delete=models.CASCADE, related_name="+")
    right = models.ForeignKey(Identifier, on_delete=models.CASCADE, related_name="+")
    reason = models.CharField("原因", max_length=32)
    detail = models.CharField("说明", max_length=200, blank=True)
    status = models.CharField(
        "状态", max_length=16, choices=ConflictStatus.choices, default=ConflictStatus.OPEN
    )
    created_at = models.DateTimeField("发现时间")
    resolved_at = models.DateTimeField("处理时间", null=True, blank=True)
    resolved_by = models.CharField("处理人", max_length=150, blank=True)

    class Meta:
        verbose_name = "身份冲突"
        verbose_name_plural = "身份冲突"
        constraints = [
            models.UniqueConstraint(fields=["left", "right"], name="identity_conflict_pair_uniq")
        ]
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"conflict {self.left_id}/{self.right_id} {self.reason}"


class IdentitySplit(models.Model):
    """An operator's decision that two sets of identifiers are different people. Remembered so
    the same evidence never merges them again (the partition refuses such links)."""

    person = models.ForeignKey(
        Person, on_delete=models.PROTECT, related_name="splits", verbose_name="原用户"
    )
    new_person = models.ForeignKey(
        Person,
        null=True,
        on_delete=models.PROTECT,
        related_name="split_origins",
        verbose_name="拆出的用户",
    )
    reason = models.CharField("原因", max_length=200)
    actor_label = models.CharField("操作者", max_length=150)
    created_at = models.DateTimeField("时间")

    class Meta:
        verbose_name = "拆分记录"
        verbose_name_plural = "拆分记录"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"split#{self.pk} of {self.person_id}"


class IdentitySplitMember(models.Model):
    SIDES = [("a", "拆出"), ("b", "保留")]

    split = models.ForeignKey(IdentitySplit, on_delete=models.CASCADE, related_name="members")
    identifier = models.ForeignKey(
        Identifier, on_delete=models.CASCADE, related_name="split_memberships"
    )
    side = models.CharField(max_length=1, choices=SIDES)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["split", "identifier"], name="split_member_uniq")
        ]

    def __str__(self) -> str:
        return f"{self.split_id}:{self.identifier_id}:{self.side}"


class MatchStatus(models.TextChoices):
    PENDING = "pending", "待审核"
    ACCEPTED = "accepted", "已合并"
    REJECTED = "rejected", "不是同一人"


class MatchCandidate(models.Model):
    """Two people who probably are one (probabilistic matching), waiting for an operator.

    Accepting merges them (as operator evidence); rejecting is remembered so the pair is
    never proposed again.
    """

    person_a = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="+", verbose_name="用户 A"
    )
    person_b = models.ForeignKey(
        Person, on_delete=models.CASCADE, related_name="+", verbose_name="用户 B"
    )
    score = models.FloatField("匹配概率")
    match_weight = models.FloatField("匹配权重", default=0)
    evidence = models.JSONField("依据", default=dict)
    status = models.CharField(
        "状态", max_length=16, choices=MatchStatus.choices, default=MatchStatus.PENDING
    )
    created_at = models.DateTimeField("发现时间")
    decided_at = models.DateTimeField("处理时间", null=True, blank=True)
    decided_by = models.CharField("处理人", max_length=150, blank=True)

    class Meta:
        verbose_name = "疑似同一人"
        verbose_name_plural = "疑似同一人(审核队列)"
        constraints = [
            models.UniqueConstraint(
                fields=["person_a", "person_b"], name="match_candidate_pair_uniq"
            ),
            models.CheckConstraint(
                condition=models.Q(person_a__lt=models.F("person_b")),
                name="match_candidate_ordered",
            ),
        ]
        ordering = ["-score", "-id"]

    def __str__(self) -> str:
        return f"{self.person_a_id}≈{self.person_b_id} ({self.score:.2f})"
