"""What each identifier type is: strong or weak, and how many one person may hold.

These rules drive both online resolution (identify) and the batch rebuild, so the two
always agree. A *single-valued* type may appear at most once per (type, scope) in one
person: one phone, one openid per WeChat app, one unionid, one member number. Weak types
(a device, a shared store card) are evidence too, but they are only considered after all
strong evidence, so they can never decide between two strong claims.
"""

from __future__ import annotations

from dataclasses import dataclass

from freshloop.identity.models import IdentifierType


@dataclass(frozen=True)
class IdentifierRule:
    strong: bool
    single_valued: bool
    scoped: bool
    # Lower comes first when the API reports which person a call resolved to.
    priority: int
    label: str


IDENTIFIER_RULES: dict[str, IdentifierRule] = {
    IdentifierType.MEMBER_NO: IdentifierRule(True, True, False, 0, "会员号"),
    IdentifierType.PHONE: IdentifierRule(True, True, False, 1, "手机号"),
    IdentifierType.WECHAT_UNIONID: IdentifierRule(True, True, False, 2, "微信 unionid"),
    IdentifierType.WECOM_EXTERNAL_USERID: IdentifierRule(True, True, True, 3, "企业微信外部联系人"),
    IdentifierType.WECHAT_OPENID: IdentifierRule(True, True, True, 4, "微信 openid"),
    IdentifierType.DOUYIN_OPENID: IdentifierRule(True, True, True, 5, "抖音 openid"),
    IdentifierType.EMAIL: IdentifierRule(True, False, False, 6, "邮箱"),
    IdentifierType.STORE_CARD: IdentifierRule(False, False, False, 7, "门店卡"),
    IdentifierType.DEVICE_ID: IdentifierRule(False, False, False, 8, "设备ID"),
}


def rule_for(identifier_type: str) -> IdentifierRule:
    return IDENTIFIER_RULES[identifier_type]
