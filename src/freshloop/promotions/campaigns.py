"""Campaigns (tiers, flash prices, budgets): validated once, written with an audit record; the\nbudget is charged when an order is placed and released when it is cancelled."""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Mapping, Sequence
from typing import Any

from django.db import IntegrityError, transaction
from django.db.models import F, Q

from freshloop.catalog.models import Category, Product, Sku
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput
from freshloop.promotions.errors import (
    CampaignBudgetExhausted,
    CampaignInvalid,
)
from freshloop.promotions.locks import campaign_lock
from freshloop.promotions.models import (
    BudgetChargeStatus,
    Campaign,
    CampaignBudgetCharge,
    CampaignKind,
    CampaignPrice,
    Channel,
)
from freshloop.promotions.validation import SLUG, ids_check, is_int


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
        if not is_int(threshold) or not is_int(off) or not 0 < off <= threshold:
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
    if spec.budget_fen is not None and (not is_int(spec.budget_fen) or spec.budget_fen < 0):
        raise _campaign_invalid("预算必须是非负整数", "budget_fen", spec.budget_fen)
    if not is_int(spec.priority):
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
        if not is_int(price) or not 0 < price < list_prices[sku_id]:
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
    product_ids = ids_check(Product, spec.product_ids, "product_ids", _campaign_invalid)
    category_ids = ids_check(Category, spec.category_ids, "category_ids", _campaign_invalid)
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
    product_ids = ids_check(Product, spec.product_ids, "product_ids", _campaign_invalid)
    category_ids = ids_check(Category, spec.category_ids, "category_ids", _campaign_invalid)
    current = campaign_lock(campaign.pk)
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
            if not is_int(amount) or amount < 0:
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
