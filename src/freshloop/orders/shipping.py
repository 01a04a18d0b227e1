"""Shipping rules (运费模板): which rule a destination gets, and the fee it gives a parcel.

Rules change rarely and every checkout and cart reads them, so each process keeps them for
`RULES_CACHE_SECONDS`; a change made in this process applies at once (the cache is dropped on
save), other processes see it within those seconds."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterable
from dataclasses import dataclass

from django.core.exceptions import ValidationError
from django.db import transaction

from freshloop.catalog.models import Sku, StorageCondition
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.inventory.selectors import province_short
from freshloop.orders.errors import ShippingRuleInvalid
from freshloop.orders.models import ShippingRule

RULES_CACHE_SECONDS = 10.0


@dataclass(frozen=True)
class ShippingTerms:
    """The fee of one parcel to one destination, and from how much it would be free."""

    rule_name: str
    fee_fen: int
    free_shipping_from_fen: int  # 0: never free
    cold_chain: bool


# The terms when no rule is configured (the brand's rule before templates existed).
DEFAULT_RULE = ShippingRule(
    name="全国默认", base_fee_fen=800, cold_chain_surcharge_fen=700, free_shipping_from_fen=9900
)

_cache_lock = threading.Lock()
_cache: tuple[float, list[ShippingRule]] | None = None


def shipping_rules_forget() -> None:
    """Drop this process's copy of the rules (after a save, and in tests)."""
    global _cache
    with _cache_lock:
        _cache = None


def _active_rules() -> list[ShippingRule]:
    global _cache
    with _cache_lock:
        if _cache is not None and time.monotonic() - _cache[0] < RULES_CACHE_SECONDS:
            return _cache[1]
    rules = list(ShippingRule.objects.filter(is_active=True).order_by("pk"))
    with _cache_lock:
        _cache = (time.monotonic(), rules)
    return rules


def shipping_rule_for(province: str) -> ShippingRule:
    """The rule naming `province`, else the nationwide one, else the built-in default."""
    short = province_short(province) if province else ""
    rules = _active_rules()
    named = next((rule for rule in rules if short and short in rule.provinces), None)
    nationwide = next((rule for rule in rules if not rule.provinces), None)
    return named or nationwide or DEFAULT_RULE


def shipping_terms_for(items: Iterable[tuple[Sku, int]], *, province: str = "") -> ShippingTerms:
    """What a parcel of `items` costs to `province` ("" when not known yet: the nationwide
    rule), before any free-shipping threshold, member benefit or coupon."""
    rule = shipping_rule_for(province)
    cold = any(sku.product.storage != StorageCondition.AMBIENT for sku, _ in items)
    return ShippingTerms(
        rule_name=rule.name,
        fee_fen=rule.base_fee_fen + (rule.cold_chain_surcharge_fen if cold else 0),
        free_shipping_from_fen=rule.free_shipping_from_fen,
        cold_chain=cold,
    )


def shipping_rule_save(*, actor: Actor, rule: ShippingRule) -> ShippingRule:
    """Create or change a rule from the back office: provinces normalised, validated, audited."""
    rule.provinces = sorted(
        {province_short(str(p)) for p in rule.provinces or [] if str(p).strip()}
    )
    rule.updated_at = clock.now()
    try:
        rule.full_clean()
    except ValidationError as error:
        raise ShippingRuleInvalid(detail=error.message_dict) from error
    with transaction.atomic():
        if rule.is_active:
            _refuse_overlaps(rule)
        before = (
            ShippingRule.objects.filter(pk=rule.pk).values().first()
            if rule.pk is not None
            else None
        )
        rule.save()
        audit_record(
            actor=actor,
            action="orders.shipping_rule_save",
            target=rule,
            before=dict(before) if before else None,
            after=dict(ShippingRule.objects.filter(pk=rule.pk).values().get()),
        )
    # Now for this thread's next read, and again once committed for the readers that may
    # have cached the old rules meanwhile.
    shipping_rules_forget()
    transaction.on_commit(shipping_rules_forget)
    return rule


def _refuse_overlaps(rule: ShippingRule) -> None:
    """One active rule per province, and one nationwide rule: otherwise which applies would
    depend on the order they were created in."""
    others = list(ShippingRule.objects.filter(is_active=True).exclude(pk=rule.pk))
    if not rule.provinces:
        clash = next((other for other in others if not other.provinces), None)
        if clash is not None:
            raise ShippingRuleInvalid(
                f"已有全国默认模板「{clash.name}」", detail={"provinces": ["已有全国默认模板"]}
            )
        return
    for other in others:
        shared = sorted(set(other.provinces) & set(rule.provinces))
        if shared:
            raise ShippingRuleInvalid(
                f"{'、'.join(shared)} 已在模板「{other.name}」中",
                detail={"provinces": shared, "rule": other.name},
            )
