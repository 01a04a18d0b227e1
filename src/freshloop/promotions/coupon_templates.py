"""Coupon templates (what a coupon gives, to whom, for how long) and redeem codes: validated once,\nwritten with an audit record."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction

from freshloop.catalog.models import Category, Product
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.promotions.errors import (
    CouponTemplateInvalid,
    CouponTemplateLocked,
    RedeemCodeInvalid,
)
from freshloop.promotions.locks import coupon_template_lock, redeem_code_lock
from freshloop.promotions.models import (
    CouponKind,
    CouponTemplate,
    RedeemCode,
)
from freshloop.promotions.validation import MAX_PERCENT_BP, REDEEM_CODE, SLUG, ids_check, is_int


@dataclasses.dataclass(frozen=True, kw_only=True)
class CouponTemplateSpec:
    """Everything a marketer sets on a coupon template (see models.CouponTemplate)."""

    code: str
    name: str
    kind: str
    amount_off_fen: int = 0
    percent_off_bp: int = 0
    cap_fen: int | None = None
    threshold_fen: int = 0
    live_only: bool = False
    live_session_id: str = ""
    new_customer_only: bool = False
    valid_from: dt.datetime | None = None
    valid_until: dt.datetime | None = None
    valid_days: int | None = None
    per_user_limit: int = 1
    total_limit: int | None = None
    budget_fen: int | None = None
    product_ids: Sequence[int] = ()
    category_ids: Sequence[int] = ()
    is_active: bool = True
    stackable_with_campaigns: bool = False
    description: str = ""


# Fields that decide what an issued coupon is worth; frozen once any coupon exists.
TEMPLATE_VALUE_FIELDS = ("kind", "amount_off_fen", "percent_off_bp", "cap_fen", "threshold_fen")
_TEMPLATE_MODEL_FIELDS = (
    "name",
    "description",
    "kind",
    "amount_off_fen",
    "percent_off_bp",
    "cap_fen",
    "threshold_fen",
    "live_only",
    "live_session_id",
    "new_customer_only",
    "valid_from",
    "valid_until",
    "valid_days",
    "per_user_limit",
    "total_limit",
    "budget_fen",
    "is_active",
    "stackable_with_campaigns",
)


def _invalid(message: str, field: str, value: Any) -> CouponTemplateInvalid:
    return CouponTemplateInvalid(message, detail={"field": field, "value": value})


def coupon_template_validate(spec: CouponTemplateSpec) -> None:
    if not SLUG.match(spec.code):
        raise _invalid("编码只能包含小写字母、数字、-、_", "code", spec.code)
    if not spec.name.strip() or len(spec.name) > 64:
        raise _invalid("名称必填，且不超过 64 字", "name", spec.name)
    if spec.kind not in CouponKind.values:
        raise _invalid("未知的优惠券类型", "kind", spec.kind)
    for field in ("amount_off_fen", "percent_off_bp", "threshold_fen", "per_user_limit"):
        value = getattr(spec, field)
        if not is_int(value) or value < 0:
            raise _invalid("数值必须是非负整数", field, value)
    for field in ("cap_fen", "total_limit", "budget_fen", "valid_days"):
        value = getattr(spec, field)
        if value is not None and (not is_int(value) or value < 0):
            raise _invalid("数值必须是非负整数", field, value)
    if spec.kind in {CouponKind.FIXED, CouponKind.THRESHOLD} and spec.amount_off_fen <= 0:
        raise _invalid("减免金额必须大于 0", "amount_off_fen", spec.amount_off_fen)
    if spec.kind == CouponKind.THRESHOLD and spec.threshold_fen < spec.amount_off_fen:
        raise _invalid("满减券的门槛不能低于减免金额", "threshold_fen", spec.threshold_fen)
    if spec.kind == CouponKind.PERCENT:
        if not 0 < spec.percent_off_bp < MAX_PERCENT_BP:
            raise _invalid("折扣须在 0.01%-99.99% 之间", "percent_off_bp", spec.percent_off_bp)
        if spec.cap_fen == 0:
            raise _invalid("封顶金额必须大于 0（不封顶请留空）", "cap_fen", spec.cap_fen)
    else:
        if spec.percent_off_bp or spec.cap_fen is not None:
            raise _invalid("只有折扣券可以设置折扣与封顶", "percent_off_bp", spec.percent_off_bp)
    if spec.kind in {CouponKind.PERCENT, CouponKind.FREE_SHIPPING} and spec.amount_off_fen:
        raise _invalid("该类型不使用减免金额", "amount_off_fen", spec.amount_off_fen)
    if spec.live_session_id and not spec.live_only:
        raise _invalid("限定直播场次时须勾选仅限直播间", "live_session_id", spec.live_session_id)
    if len(spec.live_session_id) > 64:
        raise _invalid("直播场次编号过长", "live_session_id", spec.live_session_id)
    for field in ("valid_from", "valid_until"):
        moment = getattr(spec, field)
        if moment is not None and moment.tzinfo is None:
            raise _invalid("时间必须带时区", field, str(moment))
    if spec.valid_until is None and not spec.valid_days:
        raise _invalid("请设置截止时间或领取后有效天数", "valid_until", None)
    if spec.valid_from and spec.valid_until and spec.valid_from >= spec.valid_until:
        raise _invalid("截止时间必须晚于生效时间", "valid_until", spec.valid_until.isoformat())
    if spec.per_user_limit < 1:
        raise _invalid("每人限领至少 1 张", "per_user_limit", spec.per_user_limit)
    if spec.total_limit is not None and spec.total_limit < 1:
        raise _invalid("发放总量至少 1 张（不限请留空）", "total_limit", spec.total_limit)


def _template_snapshot(template: CouponTemplate) -> dict[str, Any]:
    data = {field: getattr(template, field) for field in _TEMPLATE_MODEL_FIELDS}
    data["code"] = template.code
    if template.pk:
        data["product_ids"] = sorted(template.products.values_list("pk", flat=True))
        data["category_ids"] = sorted(template.categories.values_list("pk", flat=True))
    return data


@transaction.atomic
def coupon_template_create(*, actor: Actor, spec: CouponTemplateSpec) -> CouponTemplate:
    """Create a coupon template after checking every rule (amounts, validity, limits)."""
    coupon_template_validate(spec)
    product_ids = ids_check(Product, spec.product_ids, "product_ids", _invalid)
    category_ids = ids_check(Category, spec.category_ids, "category_ids", _invalid)
    if CouponTemplate.objects.filter(code=spec.code).exists():
        raise _invalid("编码已被使用", "code", spec.code)
    now = clock.now()
    template = CouponTemplate(
        code=spec.code,
        created_at=now,
        updated_at=now,
        **{field: getattr(spec, field) for field in _TEMPLATE_MODEL_FIELDS},
    )
    try:
        with transaction.atomic():
            template.save()
    except IntegrityError as error:
        raise _invalid("编码已被使用", "code", spec.code) from error
    template.products.set(product_ids)
    template.categories.set(category_ids)
    audit_record(
        actor=actor,
        action="coupon_template.create",
        target=template,
        after=_template_snapshot(template),
    )
    return template


def coupon_template_update_check(*, template: CouponTemplate, spec: CouponTemplateSpec) -> None:
    """What an edit may not do given what has happened: change the value of issued coupons,
    or put limits and budget below what was already issued or spent."""
    if spec.code != template.code:
        raise _invalid("编码创建后不能修改", "code", spec.code)
    if template.issued_count > 0:
        changed = [f for f in TEMPLATE_VALUE_FIELDS if getattr(spec, f) != getattr(template, f)]
        if changed:
            raise CouponTemplateLocked(detail={"fields": changed})
    if spec.total_limit is not None and spec.total_limit < template.issued_count:
        raise _invalid("发放总量不能少于已发放数量", "total_limit", spec.total_limit)
    if spec.budget_fen is not None and spec.budget_fen < template.spent_fen:
        raise _invalid("预算不能少于已用预算", "budget_fen", spec.budget_fen)


@transaction.atomic
def coupon_template_update(
    *, actor: Actor, template: CouponTemplate, spec: CouponTemplateSpec
) -> CouponTemplate:
    """Change a template. Once coupons exist their value (kind, amounts) is frozen, and limits
    and budget can never drop below what has already been issued or spent."""
    coupon_template_validate(spec)
    product_ids = ids_check(Product, spec.product_ids, "product_ids", _invalid)
    category_ids = ids_check(Category, spec.category_ids, "category_ids", _invalid)
    current = coupon_template_lock(template.pk)
    before = _template_snapshot(current)
    coupon_template_update_check(template=current, spec=spec)
    fields = {field: getattr(spec, field) for field in _TEMPLATE_MODEL_FIELDS}
    fields["updated_at"] = clock.now()
    # Counters (issued_count, spent_fen) are never written from here, only by conditional
    # updates, so an edit racing a checkout cannot undo its charge.
    CouponTemplate.objects.filter(pk=current.pk).update(**fields)
    current.refresh_from_db()
    current.products.set(product_ids)
    current.categories.set(category_ids)
    audit_record(
        actor=actor,
        action="coupon_template.update",
        target=current,
        before=before,
        after=_template_snapshot(current),
    )
    return current


# --- redeem codes ---------------------------------------------------------------------------


def redeem_code_normalise(code: str) -> str:
    return code.strip().upper()


@transaction.atomic
def redeem_code_create(
    *,
    actor: Actor,
    template: CouponTemplate,
    code: str,
    max_claims: int | None = None,
    valid_until: dt.datetime | None = None,
    is_active: bool = True,
) -> RedeemCode:
    """A shareable code (3-32 letters/digits, stored upper-case) that claims `template`."""
    normalised = redeem_code_normalise(code)
    if not REDEEM_CODE.match(normalised):
        raise RedeemCodeInvalid("兑换码须为 3-32 位字母、数字、-、_", detail={"code": code})
    if max_claims is not None and (not is_int(max_claims) or max_claims < 1):
        raise RedeemCodeInvalid(
            "最多领取次数至少为 1（不限请留空）", detail={"max_claims": max_claims}
        )
    if valid_until is not None and valid_until.tzinfo is None:
        raise RedeemCodeInvalid("时间必须带时区")
    if RedeemCode.objects.filter(code=normalised).exists():
        raise RedeemCodeInvalid("兑换码已存在", detail={"code": normalised})
    try:
        with transaction.atomic():
            redeem = RedeemCode.objects.create(
                template=template,
                code=normalised,
                max_claims=max_claims,
                valid_until=valid_until,
                is_active=is_active,
                created_at=clock.now(),
            )
    except IntegrityError as error:
        raise RedeemCodeInvalid("兑换码已存在", detail={"code": normalised}) from error
    audit_record(
        actor=actor,
        action="redeem_code.create",
        target=redeem,
        after={"code": normalised, "template": template.code, "max_claims": max_claims},
    )
    return redeem


@transaction.atomic
def redeem_code_update(
    *,
    actor: Actor,
    redeem_code: RedeemCode,
    max_claims: int | None,
    valid_until: dt.datetime | None,
    is_active: bool,
) -> RedeemCode:
    current = redeem_code_lock(redeem_code.pk)
    if max_claims is not None and (not is_int(max_claims) or max_claims < current.claimed_count):
        raise RedeemCodeInvalid("最多领取次数不能少于已领取次数", detail={"max_claims": max_claims})
    before = {
        "max_claims": current.max_claims,
        "valid_until": current.valid_until,
        "is_active": current.is_active,
    }
    RedeemCode.objects.filter(pk=current.pk).update(
        max_claims=max_claims, valid_until=valid_until, is_active=is_active
    )
    current.refresh_from_db()
    audit_record(
        actor=actor,
        action="redeem_code.update",
        target=current,
        before=before,
        after={"max_claims": max_claims, "valid_until": valid_until, "is_active": is_active},
    )
    return current
