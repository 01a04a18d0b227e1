"""Promotions writes: templates, issuing and claiming coupons, campaigns, and the checkout
hooks the orders module calls (lock → redeem on payment, release on cancel).

Limits that must hold under concurrency are conditional UPDATEs (`filter(counter < limit)
.update(counter=F(...) + n)`): the database re-checks the condition on the row it updates, so
two buyers racing for the last coupon or the last fen of budget cannot both win, on SQLite
(one writer at a time) and on PostgreSQL (the second UPDATE waits for the first and re-reads).
Rows are always touched in primary-key order: coupons first, then templates/campaigns.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from freshloop.catalog.models import Category, Product, Sku
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.core.events import publish
from freshloop.identity.models import Person, PersonStatus
from freshloop.promotions.errors import (
    CampaignBudgetExhausted,
    CampaignInvalid,
    CouponBudgetExhausted,
    CouponLimitReached,
    CouponNotForLive,
    CouponSoldOut,
    CouponTemplateInactive,
    CouponTemplateInvalid,
    CouponTemplateLocked,
    CouponUnavailable,
    RedeemCodeExhausted,
    RedeemCodeExpired,
    RedeemCodeInvalid,
    RedeemCodeNotFound,
)
from freshloop.promotions.events import CouponsIssued, CouponUsed
from freshloop.promotions.models import (
    BudgetChargeStatus,
    Campaign,
    CampaignBudgetCharge,
    CampaignKind,
    CampaignPrice,
    Channel,
    Coupon,
    CouponIssueCount,
    CouponKind,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    RedeemCode,
)
from freshloop.promotions.pricing import STATUS_REASONS

SLUG = re.compile(r"^[a-z0-9][a-z0-9_-]{0,63}$")
REDEEM_CODE = re.compile(r"^[A-Z0-9][A-Z0-9_-]{2,31}$")
MAX_PERCENT_BP = 10000

# --- coupon templates -----------------------------------------------------------------------


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


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _check_ids(model: type[Product] | type[Category], ids: Sequence[int], field: str) -> list[int]:
    wanted = sorted(set(ids))
    found = set(model.objects.filter(pk__in=wanted).values_list("pk", flat=True))
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise _invalid("限定的商品或类目不存在", field, missing)
    return wanted


def coupon_template_validate(spec: CouponTemplateSpec) -> None:
    if not SLUG.match(spec.code):
        raise _invalid("编码只能包含小写字母、数字、-、_", "code", spec.code)
    if not spec.name.strip() or len(spec.name) > 64:
        raise _invalid("名称必填，且不超过 64 字", "name", spec.name)
    if spec.kind not in CouponKind.values:
        raise _invalid("未知的优惠券类型", "kind", spec.kind)
    for field in ("amount_off_fen", "percent_off_bp", "threshold_fen", "per_user_limit"):
        value = getattr(spec, field)
        if not _is_int(value) or value < 0:
            raise _invalid("数值必须是非负整数", field, value)
    for field in ("cap_fen", "total_limit", "budget_fen", "valid_days"):
        value = getattr(spec, field)
        if value is not None and (not _is_int(value) or value < 0):
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
    product_ids = _check_ids(Product, spec.product_ids, "product_ids")
    category_ids = _check_ids(Category, spec.category_ids, "category_ids")
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
    product_ids = _check_ids(Product, spec.product_ids, "product_ids")
    category_ids = _check_ids(Category, spec.category_ids, "category_ids")
    current = CouponTemplate.objects.select_for_update().get(pk=template.pk)
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
    if max_claims is not None and (not _is_int(max_claims) or max_claims < 1):
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
    current = RedeemCode.objects.select_for_update().get(pk=redeem_code.pk)
    if max_claims is not None and (not _is_int(max_claims) or max_claims < current.claimed_count):
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


# --- issuing --------------------------------------------------------------------------------


SKIP_REASONS = {
    "per_user_limit": "已达到每人领取上限",
    "total_limit": "优惠券已被领完",
    "person_inactive": "用户已合并或已删除",
}


@dataclasses.dataclass(frozen=True)
class IssueSkip:
    person_id: int
    reason: str  # a SKIP_REASONS key

    @property
    def label(self) -> str:
        return SKIP_REASONS[self.reason]


@dataclasses.dataclass(frozen=True)
class IssueResult:
    issued: list[Coupon]
    skipped: list[IssueSkip]


class _TotalLimitReached(Exception):
    pass


def coupon_window(template: CouponTemplate, *, now: dt.datetime) -> tuple[dt.datetime, dt.datetime]:
    """When a coupon issued now is valid: from the later of now and the template's start,
    until the earlier of the template's end and `valid_days` after that start."""
    start = max(now, template.valid_from) if template.valid_from else now
    ends = []
    if template.valid_until is not None:
        ends.append(template.valid_until)
    if template.valid_days:
        ends.append(start + dt.timedelta(days=template.valid_days))
    return start, min(ends)


def _template_issuable(template: CouponTemplate, *, now: dt.datetime) -> None:
    if not template.is_active:
        raise CouponTemplateInactive(detail={"template": template.code})
    if template.valid_until is not None and template.valid_until <= now:
        raise CouponTemplateInactive("优惠券已过发放期", detail={"template": template.code})


def _issue_one(
    *,
    template: CouponTemplate,
    person: Person,
    source: str,
    source_ref: str,
    now: dt.datetime,
) -> Coupon | str:
    """Issue one coupon or say why not ("per_user_limit"); raises _TotalLimitReached."""
    with transaction.atomic():
        counter, _ = CouponIssueCount.objects.get_or_create(template=template, person=person)
        if not CouponIssueCount.objects.filter(
            pk=counter.pk, issued__lt=template.per_user_limit
        ).update(issued=F("issued") + 1):
            return "per_user_limit"
        if not (
            CouponTemplate.objects.filter(pk=template.pk)
            .filter(Q(total_limit__isnull=True) | Q(issued_count__lt=F("total_limit")))
            .update(issued_count=F("issued_count") + 1)
        ):
            raise _TotalLimitReached  # rolls the per-user increment back with the savepoint
        valid_from, valid_until = coupon_window(template, now=now)
        return Coupon.objects.create(
            template=template,
            person=person,
            status=CouponStatus.AVAILABLE,
            valid_from=valid_from,
            valid_until=valid_until,
            source=source,
            source_ref=source_ref[:64],
            issued_at=now,
            updated_at=now,
        )


def _announce(template: CouponTemplate, coupons: list[Coupon], source: str, ref: str) -> None:
    if coupons:
        publish(
            CouponsIssued(
                template_id=template.pk,
                template_code=template.code,
                source=source,
                source_ref=ref,
                person_ids=[coupon.person_id for coupon in coupons],
                coupon_ids=[coupon.pk for coupon in coupons],
            )
        )


@transaction.atomic
def coupon_issue(
    *,
    template: CouponTemplate,
    people: Iterable[Person],
    source: str,
    source_ref: str = "",
    actor: Actor,
) -> IssueResult:
    """Give each person one coupon of `template`. People at the per-user limit, merged or
    erased people, and everyone after the total limit is reached are skipped and reported."""
    if source not in CouponSource.values:
        raise InvalidInput("未知的发放来源", detail={"source": source})
    now = clock.now()
    _template_issuable(template, now=now)
    unique = sorted({person.pk: person for person in people}.values(), key=lambda p: p.pk)
    issued: list[Coupon] = []
    skipped: list[IssueSkip] = []
    sold_out = False
    for person in unique:
        if person.status != PersonStatus.ACTIVE:
            skipped.append(IssueSkip(person.pk, "person_inactive"))
            continue
        if sold_out:
            skipped.append(IssueSkip(person.pk, "total_limit"))
            continue
        try:
            outcome = _issue_one(
                template=template, person=person, source=source, source_ref=source_ref, now=now
            )
        except _TotalLimitReached:
            sold_out = True
            skipped.append(IssueSkip(person.pk, "total_limit"))
            continue
        if isinstance(outcome, str):
            skipped.append(IssueSkip(person.pk, outcome))
        else:
            issued.append(outcome)
    audit_record(
        actor=actor,
        action="coupon.issue",
        target=template,
        after={
            "source": source,
            "source_ref": source_ref,
            "issued": len(issued),
            "skipped": {
                reason: sum(1 for s in skipped if s.reason == reason) for reason in SKIP_REASONS
            },
        },
    )
    _announce(template, issued, source, source_ref)
    return IssueResult(issued=issued, skipped=skipped)


def _issue_single(
    *, template: CouponTemplate, person: Person, source: str, source_ref: str, actor: Actor
) -> Coupon:
    now = clock.now()
    if person.status != PersonStatus.ACTIVE:
        raise CouponUnavailable("该用户不能领券", detail={"one_id": person.one_id})
    try:
        outcome = _issue_one(
            template=template, person=person, source=source, source_ref=source_ref, now=now
        )
    except _TotalLimitReached as error:
        raise CouponSoldOut(detail={"template": template.code}) from error
    if isinstance(outcome, str):
        raise CouponLimitReached(
            detail={"template": template.code, "per_user_limit": template.per_user_limit}
        )
    audit_record(
        actor=actor,
        action="coupon.issue",
        target=outcome,
        after={"template": template.code, "source": source, "source_ref": source_ref},
    )
    _announce(template, [outcome], source, source_ref)
    return outcome


@transaction.atomic
def coupon_claim_by_code(*, person: Person, code: str) -> Coupon:
    """A consumer types a shareable code; they get one coupon of its template."""
    normalised = redeem_code_normalise(code)
    redeem = (
        RedeemCode.objects.select_related("template").filter(code=normalised).first()
        if 0 < len(normalised) <= 32
        else None
    )
    if redeem is None:
        raise RedeemCodeNotFound(detail={"code": normalised[:32]})
    now = clock.now()
    template = redeem.template
    if (
        not redeem.is_active
        or (redeem.valid_until is not None and redeem.valid_until <= now)
        or not template.is_active
        or (template.valid_until is not None and template.valid_until <= now)
    ):
        raise RedeemCodeExpired(detail={"code": normalised})
    if not (
        RedeemCode.objects.filter(pk=redeem.pk)
        .filter(Q(max_claims__isnull=True) | Q(claimed_count__lt=F("max_claims")))
        .update(claimed_count=F("claimed_count") + 1)
    ):
        raise RedeemCodeExhausted(detail={"code": normalised})
    return _issue_single(
        template=template,
        person=person,
        source=CouponSource.CODE,
        source_ref=normalised,
        actor=Actor.consumer(person.one_id),
    )


@transaction.atomic
def coupon_issue_in_live(
    *,
    template: CouponTemplate,
    live_session_id: str,
    person: Person,
    actor: Actor | None = None,
) -> Coupon:
    """A host drops a coupon in a live room: the template must be live-only, and bound to
    this session or to none."""
    if not live_session_id or len(live_session_id) > 64:
        raise InvalidInput("直播场次编号不正确", detail={"live_session_id": live_session_id})
    if not template.live_only or template.live_session_id not in {"", live_session_id}:
        raise CouponNotForLive(
            detail={"template": template.code, "live_session_id": live_session_id}
        )
    _template_issuable(template, now=clock.now())
    return _issue_single(
        template=template,
        person=person,
        source=CouponSource.LIVE,
        source_ref=live_session_id,
        actor=actor or Actor.system(f"live:{live_session_id}"),
    )


@transaction.atomic
def coupon_void(*, actor: Actor, coupon: Coupon, reason: str) -> Coupon:
    """Withdraw an available coupon (issued by mistake). Locked and used coupons stay."""
    if not Coupon.objects.filter(pk=coupon.pk, status=CouponStatus.AVAILABLE).update(
        status=CouponStatus.VOID, updated_at=clock.now()
    ):
        coupon.refresh_from_db()
        raise CouponUnavailable(
            "只有未使用的优惠券可以作废", detail={"coupon": coupon.code, "status": coupon.status}
        )
    coupon.refresh_from_db()
    audit_record(actor=actor, action="coupon.void", target=coupon, after={"reason": reason[:200]})
    return coupon


def coupons_expire(*, now: dt.datetime | None = None) -> int:
    """Mark available coupons past their end as expired (periodic; locked ones wait for
    their order to be paid or released)."""
    moment = now or clock.now()
    return Coupon.objects.filter(status=CouponStatus.AVAILABLE, valid_until__lte=moment).update(
        status=CouponStatus.EXPIRED, updated_at=moment
    )


# --- checkout: lock, redeem, release -------------------------------------------------------


def _unavailable_reason(coupon: Coupon, now: dt.datetime) -> str:
    if coupon.status != CouponStatus.AVAILABLE:
        return STATUS_REASONS.get(coupon.status, "优惠券不可用")
    if coupon.valid_until <= now:
        return "优惠券已过期"
    if coupon.valid_from > now:
        return "优惠券未到使用时间"
    return "优惠券不可用"


def coupons_lock(
    *,
    person_id: int,
    coupon_ids: list[int],
    order_ref: str,
    discount_by_coupon: Mapping[int, int],
    actor: Actor | None = None,
) -> None:
    """Reserve coupons for an unpaid order and charge their templates' budgets.

    Runs inside the caller's transaction (a savepoint: on error nothing of this call stays).
    Each coupon moves available → locked only if it is this person's, available and inside
    its validity window; each template's `spent_fen` grows by the coupon's discount only if it
    stays within `budget_fen`. Repeating the call for the same order is harmless.
    """
    if not order_ref or len(order_ref) > 64:
        raise InvalidInput("订单号不正确", detail={"order_ref": order_ref})
    ids = sorted(set(coupon_ids))
    if len(ids) != len(coupon_ids):
        raise InvalidInput("优惠券重复", detail={"coupon_ids": coupon_ids})
    unknown = sorted(set(discount_by_coupon) - set(ids))
    negative = [cid for cid, off in discount_by_coupon.items() if not _is_int(off) or off < 0]
    if unknown or negative:
        raise InvalidInput("优惠金额与优惠券不匹配", detail={"coupon_ids": unknown or negative})
    who = actor or Actor.system("promotions.coupons_lock")
    with transaction.atomic():
        now = clock.now()
        coupons = {c.pk: c for c in Coupon.objects.select_related("template").filter(pk__in=ids)}
        charges: dict[int, int] = {}
        for coupon_id in ids:
            coupon = coupons.get(coupon_id)
            if coupon is None or coupon.person_id != person_id:
                raise CouponUnavailable("优惠券不存在", detail={"coupon_id": coupon_id})
            if coupon.status == CouponStatus.LOCKED and coupon.locked_order_ref == order_ref:
                continue  # a retry of the same order: already locked and charged
            if not coupon.template.is_active:
                raise CouponUnavailable("优惠券已停用", detail={"coupon_id": coupon_id})
            discount = discount_by_coupon.get(coupon_id, 0)
            took = Coupon.objects.filter(
                pk=coupon_id,
                person_id=person_id,
                status=CouponStatus.AVAILABLE,
                valid_from__lte=now,
                valid_until__gt=now,
            ).update(
                status=CouponStatus.LOCKED,
                locked_order_ref=order_ref,
                discount_fen=discount,
                locked_at=now,
                updated_at=now,
            )
            if not took:
                coupon.refresh_from_db()
                raise CouponUnavailable(
                    _unavailable_reason(coupon, now),
                    detail={"coupon_id": coupon_id, "status": coupon.status},
                )
            charges[coupon.template_id] = charges.get(coupon.template_id, 0) + discount
            audit_record(
                actor=who,
                action="coupon.lock",
                target=coupon,
                after={"order_ref": order_ref, "discount_fen": discount},
            )
        for template_id in sorted(charges):
            amount = charges[template_id]
            if amount and not (
                CouponTemplate.objects.filter(pk=template_id)
                .filter(Q(budget_fen__isnull=True) | Q(budget_fen__gte=F("spent_fen") + amount))
                .update(spent_fen=F("spent_fen") + amount)
            ):
                raise CouponBudgetExhausted(detail={"template_id": template_id, "amount": amount})


def coupons_redeem(*, order_ref: str, actor: Actor | None = None) -> None:
    """The order was paid: its locked coupons become used (repeating is harmless)."""
    who = actor or Actor.system("promotions.coupons_redeem")
    with transaction.atomic():
        now = clock.now()
        locked = Coupon.objects.filter(locked_order_ref=order_ref, status=CouponStatus.LOCKED)
        for coupon in locked.order_by("pk"):
            if Coupon.objects.filter(
                pk=coupon.pk, status=CouponStatus.LOCKED, locked_order_ref=order_ref
            ).update(
                status=CouponStatus.USED, used_order_ref=order_ref, used_at=now, updated_at=now
            ):
                audit_record(
                    actor=who,
                    action="coupon.redeem",
                    target=coupon,
                    after={"order_ref": order_ref, "discount_fen": coupon.discount_fen},
                )
                publish(
                    CouponUsed(
                        coupon_id=coupon.pk,
                        template_id=coupon.template_id,
                        person_id=coupon.person_id,
                        order_ref=order_ref,
                        discount_fen=coupon.discount_fen,
                    )
                )


def coupons_release(*, order_ref: str, actor: Actor | None = None) -> None:
    """The unpaid order was cancelled or timed out: its coupons go back to the wallet (or to
    expired, if their time ran out meanwhile) and their discount back to the budget."""
    who = actor or Actor.system("promotions.coupons_release")
    with transaction.atomic():
        now = clock.now()
        refunds: dict[int, int] = {}
        locked = Coupon.objects.filter(locked_order_ref=order_ref, status=CouponStatus.LOCKED)
        for coupon in locked.order_by("pk"):
            status = CouponStatus.EXPIRED if coupon.valid_until <= now else CouponStatus.AVAILABLE
            if Coupon.objects.filter(
                pk=coupon.pk, status=CouponStatus.LOCKED, locked_order_ref=order_ref
            ).update(
                status=status, locked_order_ref="", discount_fen=0, locked_at=None, updated_at=now
            ):
                refunds[coupon.template_id] = refunds.get(coupon.template_id, 0) + (
                    coupon.discount_fen
                )
                audit_record(
                    actor=who,
                    action="coupon.release",
                    target=coupon,
                    before={"order_ref": order_ref, "discount_fen": coupon.discount_fen},
                    after={"status": status},
                )
        for template_id in sorted(refunds):
            amount = refunds[template_id]
            if amount:
                CouponTemplate.objects.filter(pk=template_id, spent_fen__gte=amount).update(
                    spent_fen=F("spent_fen") - amount
                )


# --- campaigns ------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True, kw_only=True)
class CampaignSpec:
    code: str
    name: str
    kind: str
    starts_at: dt.datetime
    ends_at: dt.datetime
    channels: Sequence[str]
    tiers: Sequence[Mapping[str, Any]] = ()
    prices: Mapping[int, int] = dataclasses.field(default_factory=dict)  # sku_id -> price_fen
    product_ids: Sequence[int] = ()
    category_ids: Sequence[int] = ()
    budget_fen: int | None = None
    is_active: bool = True
    priority: int = 0


def _campaign_invalid(message: str, field: str, value: Any) -> CampaignInvalid:
    return CampaignInvalid(message, detail={"field": field, "value": value})


def campaign_tiers_validate(tiers: Any) -> list[dict[str, int]]:
    """满减 tiers: a non-empty list of {threshold_fen, off_fen}, both strictly ascending,
    each 0 < off_fen <= threshold_fen."""
    if not isinstance(tiers, list | tuple) or not tiers:
        raise _campaign_invalid("满减活动至少需要一档", "tiers", tiers)
    cleaned: list[dict[str, int]] = []
    for tier in tiers:
        if not isinstance(tier, Mapping) or set(tier) != {"threshold_fen", "off_fen"}:
            raise _campaign_invalid("每档须为 {threshold_fen, off_fen}", "tiers", tiers)
        threshold, off = tier["threshold_fen"], tier["off_fen"]
        if not _is_int(threshold) or not _is_int(off) or not 0 < off <= threshold:
            raise _campaign_invalid("每档须满足 0 < 减免 ≤ 门槛（单位：分）", "tiers", tier)
        if cleaned and (threshold <= cleaned[-1]["threshold_fen"] or off <= cleaned[-1]["off_fen"]):
            raise _campaign_invalid("各档门槛与减免须从低到高递增", "tiers", tiers)
        cleaned.append({"threshold_fen": threshold, "off_fen": off})
    return cleaned


def campaign_validate(spec: CampaignSpec) -> tuple[list[dict[str, int]], dict[int, int]]:
    if not SLUG.match(spec.code):
        raise _campaign_invalid("编码只能包含小写字母、数字、-、_", "code", spec.code)
    if not spec.name.strip() or len(spec.name) > 64:
        raise _campaign_invalid("名称必填，且不超过 64 字", "name", spec.name)
    if spec.kind not in CampaignKind.values:
        raise _campaign_invalid("未知的活动类型", "kind", spec.kind)
    if spec.starts_at.tzinfo is None or spec.ends_at.tzinfo is None:
        raise _campaign_invalid("时间必须带时区", "starts_at", str(spec.starts_at))
    if spec.ends_at <= spec.starts_at:
        raise _campaign_invalid("结束时间必须晚于开始时间", "ends_at", spec.ends_at.isoformat())
    channels = list(spec.channels)
    if not channels or any(c not in Channel.values for c in channels):
        raise _campaign_invalid("渠道须为 live / shop / groupbuy 之一或多个", "channels", channels)
    if spec.budget_fen is not None and (not _is_int(spec.budget_fen) or spec.budget_fen < 0):
        raise _campaign_invalid("预算必须是非负整数", "budget_fen", spec.budget_fen)
    if not _is_int(spec.priority):
        raise _campaign_invalid("优先级必须是整数", "priority", spec.priority)
    if spec.kind == CampaignKind.TIERED:
        if spec.prices:
            raise _campaign_invalid("满减活动不设活动价", "prices", dict(spec.prices))
        return campaign_tiers_validate(list(spec.tiers)), {}
    if spec.tiers or spec.product_ids or spec.category_ids:
        raise _campaign_invalid("限时特价活动按 SKU 设活动价，不设满减阶梯或限定范围", "tiers", [])
    if not spec.prices:
        raise _campaign_invalid("限时特价活动至少需要一个 SKU 活动价", "prices", {})
    list_prices = dict(Sku.objects.filter(pk__in=list(spec.prices)).values_list("pk", "price_fen"))
    for sku_id, price in sorted(spec.prices.items()):
        if sku_id not in list_prices:
            raise _campaign_invalid("SKU 不存在", "prices", sku_id)
        if not _is_int(price) or not 0 < price < list_prices[sku_id]:
            raise _campaign_invalid("活动价须大于 0 且低于原价", "prices", {str(sku_id): price})
    return [], dict(spec.prices)


def _campaign_snapshot(campaign: Campaign) -> dict[str, Any]:
    return {
        "code": campaign.code,
        "name": campaign.name,
        "kind": campaign.kind,
        "starts_at": campaign.starts_at,
        "ends_at": campaign.ends_at,
        "channels": campaign.channels,
        "tiers": campaign.tiers,
        "budget_fen": campaign.budget_fen,
        "is_active": campaign.is_active,
        "priority": campaign.priority,
        "prices": {
            str(sku_id): price
            for sku_id, price in campaign.prices.order_by("sku_id").values_list(
                "sku_id", "price_fen"
            )
        },
    }


def _campaign_write(campaign: Campaign, spec: CampaignSpec, tiers: list[dict[str, int]]) -> None:
    campaign.name = spec.name
    campaign.kind = spec.kind
    campaign.starts_at = spec.starts_at
    campaign.ends_at = spec.ends_at
    campaign.channels = sorted(set(spec.channels))
    campaign.tiers = tiers
    campaign.budget_fen = spec.budget_fen
    campaign.is_active = spec.is_active
    campaign.priority = spec.priority
    campaign.updated_at = clock.now()


def _campaign_prices_set(campaign: Campaign, prices: dict[int, int]) -> None:
    CampaignPrice.objects.filter(campaign=campaign).exclude(sku_id__in=list(prices)).delete()
    for sku_id, price in sorted(prices.items()):
        CampaignPrice.objects.update_or_create(
            campaign=campaign, sku_id=sku_id, defaults={"price_fen": price}
        )


@transaction.atomic
def campaign_create(*, actor: Actor, spec: CampaignSpec) -> Campaign:
    tiers, prices = campaign_validate(spec)
    product_ids = _check_ids(Product, spec.product_ids, "product_ids")
    category_ids = _check_ids(Category, spec.category_ids, "category_ids")
    if Campaign.objects.filter(code=spec.code).exists():
        raise _campaign_invalid("编码已被使用", "code", spec.code)
    campaign = Campaign(code=spec.code, created_at=clock.now())
    _campaign_write(campaign, spec, tiers)
    try:
        with transaction.atomic():
            campaign.save()
    except IntegrityError as error:
        raise _campaign_invalid("编码已被使用", "code", spec.code) from error
    _campaign_prices_set(campaign, prices)
    campaign.products.set(product_ids)
    campaign.categories.set(category_ids)
    audit_record(
        actor=actor, action="campaign.create", target=campaign, after=_campaign_snapshot(campaign)
    )
    return campaign


@transaction.atomic
def campaign_update(*, actor: Actor, campaign: Campaign, spec: CampaignSpec) -> Campaign:
    tiers, prices = campaign_validate(spec)
    product_ids = _check_ids(Product, spec.product_ids, "product_ids")
    category_ids = _check_ids(Category, spec.category_ids, "category_ids")
    current = Campaign.objects.select_for_update().get(pk=campaign.pk)
    if spec.code != current.code:
        raise _campaign_invalid("编码创建后不能修改", "code", spec.code)
    if spec.budget_fen is not None and spec.budget_fen < current.spent_fen:
        raise _campaign_invalid("预算不能少于已用预算", "budget_fen", spec.budget_fen)
    before = _campaign_snapshot(current)
    _campaign_write(current, spec, tiers)
    current.save(
        update_fields=[
            "name",
            "kind",
            "starts_at",
            "ends_at",
            "channels",
            "tiers",
            "budget_fen",
            "is_active",
            "priority",
            "updated_at",
        ]
    )
    _campaign_prices_set(current, prices)
    current.products.set(product_ids)
    current.categories.set(category_ids)
    audit_record(
        actor=actor,
        action="campaign.update",
        target=current,
        before=before,
        after=_campaign_snapshot(current),
    )
    return current


def campaign_budget_charge(
    *, order_ref: str, discount_by_campaign: Mapping[int, int], actor: Actor | None = None
) -> None:
    """Take each campaign's discount on this order from its budget (inside the caller's
    transaction; a repeat for the same order is harmless; any exhausted budget fails all)."""
    if not order_ref or len(order_ref) > 64:
        raise InvalidInput("订单号不正确", detail={"order_ref": order_ref})
    who = actor or Actor.system("promotions.campaign_budget_charge")
    with transaction.atomic():
        now = clock.now()
        for campaign_id in sorted(discount_by_campaign):
            amount = discount_by_campaign[campaign_id]
            if not _is_int(amount) or amount < 0:
                raise InvalidInput("活动优惠金额不正确", detail={"campaign_id": campaign_id})
            if amount == 0:
                continue
            if CampaignBudgetCharge.objects.filter(
                campaign_id=campaign_id, order_ref=order_ref
            ).exists():
                continue
            try:
                with transaction.atomic():
                    if not (
                        Campaign.objects.filter(pk=campaign_id)
                        .filter(
                            Q(budget_fen__isnull=True) | Q(budget_fen__gte=F("spent_fen") + amount)
                        )
                        .update(spent_fen=F("spent_fen") + amount)
                    ):
                        if not Campaign.objects.filter(pk=campaign_id).exists():
                            raise _campaign_invalid("活动不存在", "campaign_id", campaign_id)
                        raise CampaignBudgetExhausted(
                            detail={"campaign_id": campaign_id, "amount": amount}
                        )
                    charge = CampaignBudgetCharge.objects.create(
                        campaign_id=campaign_id,
                        order_ref=order_ref,
                        amount_fen=amount,
                        created_at=now,
                    )
            except IntegrityError:
                continue  # the same order charged concurrently; that charge stands
            audit_record(
                actor=who,
                action="campaign.budget_charge",
                target=charge,
                after={"order_ref": order_ref, "amount_fen": amount},
            )


def campaign_budget_release(*, order_ref: str, actor: Actor | None = None) -> None:
    """Give an unpaid order's campaign discounts back to the budgets (idempotent)."""
    who = actor or Actor.system("promotions.campaign_budget_release")
    with transaction.atomic():
        now = clock.now()
        charges = CampaignBudgetCharge.objects.filter(
            order_ref=order_ref, status=BudgetChargeStatus.CHARGED
        ).order_by("pk")
        for charge in charges:
            if CampaignBudgetCharge.objects.filter(
                pk=charge.pk, status=BudgetChargeStatus.CHARGED
            ).update(status=BudgetChargeStatus.RELEASED, released_at=now):
                Campaign.objects.filter(
                    pk=charge.campaign_id, spent_fen__gte=charge.amount_fen
                ).update(spent_fen=F("spent_fen") - charge.amount_fen)
                audit_record(
                    actor=who,
                    action="campaign.budget_release",
                    target=charge,
                    after={"order_ref": order_ref, "amount_fen": charge.amount_fen},
                )


# --- OneID ----------------------------------------------------------------------------------


@transaction.atomic
def promotions_person_repoint(*, from_person_id: int, into_person_id: int) -> None:
    """A merged person's coupons move to the survivor; their per-template claim counts add up
    so the survivor cannot claim again what either of them already had."""
    moved = Coupon.objects.filter(person_id=from_person_id).update(person_id=into_person_id)
    counts = CouponIssueCount.objects.filter(person_id=from_person_id).order_by("pk")
    for count in counts:
        survivor = CouponIssueCount.objects.filter(
            person_id=into_person_id, template_id=count.template_id
        )
        if survivor.update(issued=F("issued") + count.issued):
            count.delete()
        else:
            CouponIssueCount.objects.filter(pk=count.pk).update(person_id=into_person_id)
    if moved:
        audit_record(
            actor=Actor.system("promotions.identity_merged"),
            action="coupon.repoint",
            target_type="identity.Person",
            target_id=str(into_person_id),
            after={"from_person_id": from_person_id, "coupons": moved},
        )
