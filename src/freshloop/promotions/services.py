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
from collections.abc import Iterable, Mapping

from django.db import transaction
from django.db.models import F, Q

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.core.events import publish
from freshloop.identity.models import Person, PersonStatus
from freshloop.promotions.campaigns import (
    CampaignSpec,
    campaign_budget_charge,
    campaign_budget_release,
    campaign_create,
    campaign_tiers_validate,
    campaign_update,
    campaign_validate,
)
from freshloop.promotions.coupon_templates import (
    TEMPLATE_VALUE_FIELDS,
    CouponTemplateSpec,
    coupon_template_create,
    coupon_template_update,
    coupon_template_update_check,
    coupon_template_validate,
    redeem_code_create,
    redeem_code_normalise,
    redeem_code_update,
)
from freshloop.promotions.errors import (
    CouponBudgetExhausted,
    CouponLimitReached,
    CouponNotForLive,
    CouponSoldOut,
    CouponTemplateInactive,
    CouponUnavailable,
    RedeemCodeExhausted,
    RedeemCodeExpired,
    RedeemCodeNotFound,
)
from freshloop.promotions.events import CouponsIssued, CouponUsed
from freshloop.promotions.models import (
    Coupon,
    CouponIssueCount,
    CouponSource,
    CouponStatus,
    CouponTemplate,
    RedeemCode,
)
from freshloop.promotions.pricing import STATUS_REASONS
from freshloop.promotions.validation import is_int

# Written in coupon_templates.py, campaigns.py; part of this module's public face.
__all__ = [
    "TEMPLATE_VALUE_FIELDS",
    "CampaignSpec",
    "CouponTemplateSpec",
    "campaign_budget_charge",
    "campaign_budget_release",
    "campaign_create",
    "campaign_tiers_validate",
    "campaign_update",
    "campaign_validate",
    "coupon_template_create",
    "coupon_template_update",
    "coupon_template_update_check",
    "coupon_template_validate",
    "redeem_code_create",
    "redeem_code_normalise",
    "redeem_code_update",
]


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
    negative = [cid for cid, off in discount_by_coupon.items() if not is_int(off) or off < 0]
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
