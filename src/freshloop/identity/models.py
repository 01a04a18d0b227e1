"""People (OneIDs), their identifiers, login codes and consumer tokens.

Identifier values are PII: stored encrypted, found through a blind index (core.crypto).
"""

from __future__ import annotations

from django.db import models

from freshloop.core.fields import EncryptedTextField
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


class Person(models.Model):
    """One customer, whatever door they came in by. `one_id` is the public identifier."""

    one_id = models.CharField(
        "OneID", max_length=40, unique=True, default=new_one_id, editable=False
    )
    display_name = models.CharField("昵称", max_length=64, blank=True)
    traits = models.JSONField("属性", default=dict, blank=True)
    source = models.CharField("首次来源", max_length=32, blank=True)
    created_at = models.DateTimeField("创建时间")
    updated_at = models.DateTimeField("更新时间")

    class Meta:
        verbose_name = "用户"
        verbose_name_plural = "用户(OneID)"
        ordering = ["-id"]

    def __str__(self) -> str:
        return self.display_name or self.one_id


class Identifier(models.Model):
    """One way to recognise a person. Unique per (type, scope, value) across all people."""

    person = models.ForeignKey(Person, on_delete=models.CASCADE, related_name="identifiers")
    type = models.CharField("类型", max_length=32, choices=IdentifierType.choices)
    scope = models.CharField(
        "作用域", max_length=64, blank=True, help_text="如微信 app id、企业微信 corp id"
    )
    value = EncryptedTextField("值")
    value_index = models.CharField("盲索引", max_length=64)
    verified = models.BooleanField("已验证", default=False)
    source = models.CharField("来源", max_length=32, blank=True)
    created_at = models.DateTimeField("创建时间")

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
