"""Carrier rate tables, service speeds and SKU unit weights: what allocation prices parcels
with (SPEC FF-1), and the credentials its pushes are checked with. Written by the seed, the
demo, `/admin/` and the console's carrier page."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from django.db import transaction

from freshloop.core.audit import Actor, audit_record
from freshloop.fulfillment.errors import FulfillmentInvalid
from freshloop.fulfillment.locks import carrier_lock
from freshloop.fulfillment.models import (
    Carrier,
    CarrierCredential,
    CarrierRate,
    CarrierSpeed,
    SkuWeight,
)

SETUP = Actor.system("fulfillment.setup")


@dataclass(frozen=True)
class RateSpec:
    first_fee_fen: int
    first_weight_g: int = 1000
    extra_per_kg_fen: int = 0
    cold_surcharge_fen: int = 0
    zone: str = ""
    destination: str = ""


@transaction.atomic
def carrier_configure(
    *,
    code: str,
    name: str,
    chilled: bool = False,
    frozen: bool = False,
    rates: Sequence[RateSpec] = (),
    speed_factor: float = 1.0,
    days_offset: int = 0,
    actor: Actor = SETUP,
) -> Carrier:
    """Create or update a carrier service with its whole rate table (replaced) and speed —
    what the seed, the demo and the console's carrier page call."""
    if speed_factor <= 0 or not rates:
        raise FulfillmentInvalid(
            detail=[
                {"field": "speed_factor", "message": "时效系数必须大于 0"}
                if speed_factor <= 0
                else {"field": "rates", "message": "至少需要一条运价（默认运价）"}
            ]
        )
    carrier, _ = Carrier.objects.update_or_create(
        code=code,
        defaults={"name": name, "supports_chilled": chilled, "supports_frozen": frozen},
    )
    CarrierRate.objects.filter(carrier=carrier).delete()
    CarrierRate.objects.bulk_create(CarrierRate(carrier=carrier, **vars(rate)) for rate in rates)
    CarrierSpeed.objects.update_or_create(
        carrier=carrier, defaults={"speed_factor": speed_factor, "days_offset": days_offset}
    )
    audit_record(
        actor=actor,
        action="fulfillment.carrier_configure",
        target=carrier,
        after={"rates": len(rates), "speed_factor": speed_factor, "days_offset": days_offset},
    )
    return carrier


def sku_weight_set(*, sku_id: int, weight_g: int) -> None:
    """Record a SKU's packed unit weight (parcels are priced by weight)."""
    if weight_g <= 0 or weight_g > 100_000:
        raise FulfillmentInvalid(
            detail=[{"field": "weight_g", "message": "重量应在 1 克到 100 公斤之间"}]
        )
    SkuWeight.objects.update_or_create(sku_id=sku_id, defaults={"weight_g": weight_g})


CREDENTIAL_SECRETS = ("webhook_secret", "kuaidi100_salt", "kuaidi100_key")
_CREDENTIAL_LIMITS = {
    "webhook_secret": (16, 128, "推送签名密钥"),
    "kuaidi100_company": (1, 32, "快递100公司编码"),
    "kuaidi100_salt": (1, 64, "快递100签名盐"),
    "kuaidi100_key": (1, 64, "快递100授权码"),
}


def carrier_credential_problems(changes: Mapping[str, str]) -> list[tuple[str, str]]:
    """(field, Chinese sentence) for each value that cannot be a credential."""
    problems: list[tuple[str, str]] = []
    for field, value in changes.items():
        if field not in _CREDENTIAL_LIMITS:
            problems.append((field, f"未知的凭证字段 {field}"))
            continue
        shortest, longest, label = _CREDENTIAL_LIMITS[field]
        if value and not shortest <= len(value) <= longest:
            problems.append((field, f"{label}长度应在 {shortest}–{longest} 个字符之间"))
        elif any(char.isspace() or ord(char) < 0x20 for char in value):
            problems.append((field, f"{label}不能包含空白或控制字符"))
    return problems


@transaction.atomic
def carrier_credential_set(
    *, carrier: Carrier, changes: Mapping[str, str], actor: Actor
) -> CarrierCredential:
    """Set or rotate what a carrier's pushes are checked with. Only the fields in `changes` are
    touched (an empty value clears one); the audit row names the fields that changed, never a
    secret's value — the secrets are sealed at rest (EncryptedTextField)."""
    problems = carrier_credential_problems(changes)
    if problems:
        raise FulfillmentInvalid.for_fields(problems)
    carrier_lock(carrier.pk)
    credential, _ = CarrierCredential.objects.get_or_create(carrier=carrier)
    changed = sorted(f for f, v in changes.items() if getattr(credential, f) != v)
    for field in changed:
        setattr(credential, field, changes[field])
    if changed:
        credential.save(update_fields=changed)
        audit_record(
            actor=actor,
            action="fulfillment.carrier_credential_set",
            target=carrier,
            after={"changed": changed, "kuaidi100_company": credential.kuaidi100_company},
        )
    return credential
