"""Operators set presales up (GB-4): create, edit before the deposit window opens, cancel.

Invariants
- The terms are checked all at once; a bad one is a 422 `presale_invalid` naming each field,
  and nothing is written (no presale, no stock block).
- Money per unit, in fen: 0 < deposit ≤ worth < price ≤ list price. The balance per unit is
  price − worth (≥ 1 fen: a ¥0 order cannot be paid at the cashier).
- Windows: deposit start < deposit end ≤ balance start < balance end, the deposit window not
  over yet; delivery dates from the balance window's first day (Shanghai), from ≤ to.
- The presale's units are set aside at creation in ONE stock block (`stock_block_reserve`,
  `block_ref`): a presale needs a warehouse that holds all of them, else its quantity is
  refused. The block holds them until the presale ends or is cancelled.
- Editing is allowed only before the deposit window opens (no purchase can exist then); a new
  SKU or quantity closes the old block and reserves a new one, in the same transaction.
- Cancelling is allowed until the balance window opens: unpaid deposit orders are cancelled,
  paid deposits refunded (the merchant cancelled — refundable or not), the block closed —
  right after the commit, through a durable effect (`closing.presale_purchases_settle`).
"""

from __future__ import annotations

import datetime as dt
from dataclasses import asdict, dataclass
from typing import Any

from django.db import transaction

from freshloop.catalog.models import Sku
from freshloop.catalog.selectors import sku_get_sellable
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.effects import effect_enqueue
from freshloop.core.errors import NotFound
from freshloop.core.ids import new_id
from freshloop.groupbuy.presale.closing import SETTLE_EFFECT
from freshloop.groupbuy.presale.errors import PresaleInvalid, PresaleStateInvalid
from freshloop.groupbuy.presale.locks import presale_lock
from freshloop.groupbuy.presale.models import Presale, PresaleStatus
from freshloop.inventory.services import stock_block_close, stock_block_reserve

CHANNEL = "groupbuy"
MAX_QUANTITY = 100_000
MAX_PER_PERSON_LIMIT = 99
NAME_MAX = 60
REASON_MAX = 200


@dataclass(frozen=True)
class PresaleTerms:
    """What an operator sets; money in fen, times aware."""

    name: str
    sku_id: int
    quantity: int
    price_fen: int
    deposit_fen: int
    deposit_worth_fen: int
    deposit_starts_at: dt.datetime
    deposit_ends_at: dt.datetime
    balance_starts_at: dt.datetime
    balance_ends_at: dt.datetime
    delivery_from: dt.date
    delivery_to: dt.date
    per_person_limit: int = 1
    deposit_refundable: bool = False
    image_url: str = ""


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _aware(value: object) -> bool:
    return isinstance(value, dt.datetime) and value.tzinfo is not None


def _money_problems(terms: PresaleTerms, list_price_fen: int | None) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    price, deposit, worth = terms.price_fen, terms.deposit_fen, terms.deposit_worth_fen
    if not _is_count(price) or price < 1:
        return [("price_fen", "预售价须为正整数（分）")]
    if list_price_fen is not None and price > list_price_fen:
        problems.append(("price_fen", "预售价不能高于商品原价"))
    if not _is_count(deposit) or not 1 <= deposit < price:
        problems.append(("deposit_fen", "定金须大于 0 且低于预售价"))
    elif not _is_count(worth) or worth < deposit:
        problems.append(("deposit_worth_fen", "定金抵扣金额不能低于定金"))
    elif worth >= price:
        problems.append(("deposit_worth_fen", "定金抵扣金额须低于预售价（尾款至少 0.01 元）"))
    return problems


def _window_problems(terms: PresaleTerms, now: dt.datetime) -> list[tuple[str, str]]:
    times = {
        "deposit_starts_at": terms.deposit_starts_at,
        "deposit_ends_at": terms.deposit_ends_at,
        "balance_starts_at": terms.balance_starts_at,
        "balance_ends_at": terms.balance_ends_at,
    }
    naive = [(field, "请填写带时区的时间") for field, value in times.items() if not _aware(value)]
    if naive:
        return naive
    problems: list[tuple[str, str]] = []
    if terms.deposit_ends_at <= terms.deposit_starts_at:
        problems.append(("deposit_ends_at", "定金截止时间须晚于开始时间"))
    elif terms.deposit_ends_at <= now:
        problems.append(("deposit_ends_at", "定金截止时间须晚于现在"))
    if terms.balance_starts_at < terms.deposit_ends_at:
        problems.append(("balance_starts_at", "尾款开始时间不能早于定金截止时间"))
    if terms.balance_ends_at <= terms.balance_starts_at:
        problems.append(("balance_ends_at", "尾款截止时间须晚于尾款开始时间"))
    dates_ok = isinstance(terms.delivery_from, dt.date) and isinstance(terms.delivery_to, dt.date)
    if not dates_ok:
        problems.append(("delivery_from", "请填写发货日期"))
    elif terms.delivery_from < clock.to_shanghai(terms.balance_starts_at).date():
        problems.append(("delivery_from", "发货开始日期不能早于尾款开始日期"))
    elif terms.delivery_to < terms.delivery_from:
        problems.append(("delivery_to", "发货截止日期不能早于发货开始日期"))
    return problems


def _sku_for(terms: PresaleTerms) -> tuple[Sku | None, list[tuple[str, str]]]:
    if not _is_count(terms.sku_id):
        return None, [("sku_id", "请选择商品")]
    try:
        return sku_get_sellable(sku_id=terms.sku_id, channel=CHANNEL), []
    except NotFound:
        return None, [("sku_id", "商品不存在、已下架或不在社区团购渠道销售")]


def presale_terms_check(terms: PresaleTerms, *, now: dt.datetime) -> Sku:
    """The SKU the terms sell, or `PresaleInvalid` listing every problem (nothing written)."""
    sku, problems = _sku_for(terms)
    if not isinstance(terms.name, str) or not 1 <= len(terms.name.strip()) <= NAME_MAX:
        problems.append(("name", f"请填写预售名称（最多 {NAME_MAX} 字）"))
    if not isinstance(terms.image_url, str) or len(terms.image_url) > 300:
        problems.append(("image_url", "图片地址过长"))
    if not _is_count(terms.quantity) or not 1 <= terms.quantity <= MAX_QUANTITY:
        problems.append(("quantity", f"预售数量须在 1 到 {MAX_QUANTITY} 之间"))
    if (
        not _is_count(terms.per_person_limit)
        or not 1 <= terms.per_person_limit <= MAX_PER_PERSON_LIMIT
    ):
        problems.append(("per_person_limit", f"每人限购须在 1 到 {MAX_PER_PERSON_LIMIT} 之间"))
    if not isinstance(terms.deposit_refundable, bool):
        problems.append(("deposit_refundable", "请选择定金是否可退"))
    problems += _money_problems(terms, sku.price_fen if sku is not None else None)
    problems += _window_problems(terms, now)
    if problems or sku is None:
        raise PresaleInvalid.for_fields(problems)
    return sku


def _set_aside(presale_no: str, sku: Sku, quantity: int, actor: Actor) -> str:
    # Fits inventory's 40-character order_ref; a new suffix per block (an edit makes a new one).
    block_ref = f"PSB_{presale_no.removeprefix('PS_')}-{new_id('B')[-4:]}"
    if stock_block_reserve(block_ref=block_ref, sku=sku, quantity=quantity, actor=actor) is None:
        raise PresaleInvalid.for_fields(
            [("quantity", "没有一个仓库有足够的可售库存预留给本次预售")]
        )
    return block_ref


def presale_snapshot(presale: Presale) -> dict[str, Any]:
    return {
        "name": presale.name,
        "sku_id": presale.sku_id,
        "quantity": presale.quantity,
        "units_taken": presale.units_taken,
        "price_fen": presale.price_fen,
        "deposit_fen": presale.deposit_fen,
        "deposit_worth_fen": presale.deposit_worth_fen,
        "per_person_limit": presale.per_person_limit,
        "deposit_refundable": presale.deposit_refundable,
        "deposit_starts_at": presale.deposit_starts_at,
        "deposit_ends_at": presale.deposit_ends_at,
        "balance_starts_at": presale.balance_starts_at,
        "balance_ends_at": presale.balance_ends_at,
        "delivery_from": presale.delivery_from,
        "delivery_to": presale.delivery_to,
        "status": presale.status,
        "block_ref": presale.block_ref,
    }


def _apply(presale: Presale, terms: PresaleTerms, sku: Sku) -> None:
    fields = asdict(terms)
    fields.pop("sku_id")
    fields["name"] = terms.name.strip()
    for name, value in fields.items():
        setattr(presale, name, value)
    presale.sku = sku
    presale.list_price_fen = sku.price_fen


@transaction.atomic
def presale_create(*, terms: PresaleTerms, actor: Actor) -> Presale:
    """Create a presale and set its units aside (see the module docstring). It opens for
    deposits by itself when its deposit window starts (`presales_advance`)."""
    now = clock.now()
    sku = presale_terms_check(terms, now=now)
    presale_no = new_id("PS")
    presale = Presale(presale_no=presale_no, created_by=actor.label[:150], created_at=now)
    _apply(presale, terms, sku)
    presale.block_ref = _set_aside(presale_no, sku, terms.quantity, actor)
    presale.updated_at = now
    presale.save(force_insert=True)
    audit_record(
        actor=actor,
        action="groupbuy.presale.create",
        target=presale,
        after=presale_snapshot(presale),
    )
    return presale


@transaction.atomic
def presale_update(*, presale_no: str, terms: PresaleTerms, actor: Actor) -> Presale:
    """Replace a presale's terms before its deposit window opens."""
    presale = presale_lock(presale_no)
    now = clock.now()
    if presale.status != PresaleStatus.DRAFT or now >= presale.deposit_starts_at:
        raise PresaleStateInvalid("预售已开始或已结束，不能修改", detail={"status": presale.status})
    sku = presale_terms_check(terms, now=now)
    before = presale_snapshot(presale)
    restock = sku.pk != presale.sku_id or terms.quantity != presale.quantity
    _apply(presale, terms, sku)
    if restock:
        # The old block first: its units may be the very ones the new block needs.
        stock_block_close(block_ref=presale.block_ref, actor=actor)
        presale.block_ref = _set_aside(presale.presale_no, sku, terms.quantity, actor)
    presale.updated_at = now
    presale.save()
    audit_record(
        actor=actor,
        action="groupbuy.presale.update",
        target=presale,
        before=before,
        after=presale_snapshot(presale),
    )
    return presale


@transaction.atomic
def presale_cancel(*, presale_no: str, reason: str, actor: Actor) -> Presale:
    """Cancel a presale before its balance window opens (see the module docstring). The status
    commits first (no deposit can start after it); its purchases are then settled by the
    effect `groupbuy.presale_settle`, written in this transaction and run right after the
    commit — or by the relay, and by the periodic job, if this process dies first."""
    text = reason.strip() if isinstance(reason, str) else ""
    if not 1 <= len(text) <= REASON_MAX:
        raise PresaleInvalid.for_fields([("reason", f"请填写取消原因（最多 {REASON_MAX} 字）")])
    presale = presale_lock(presale_no)
    if presale.status == PresaleStatus.CANCELLED:
        return presale
    if presale.status == PresaleStatus.ENDED or clock.now() >= presale.balance_starts_at:
        raise PresaleStateInvalid(
            "尾款已开始支付或预售已结束，不能取消", detail={"status": presale.status}
        )
    before = presale_snapshot(presale)
    presale.status = PresaleStatus.CANCELLED
    presale.cancel_reason = text
    presale.ended_at = presale.updated_at = clock.now()
    presale.save(update_fields=["status", "cancel_reason", "ended_at", "updated_at"])
    audit_record(
        actor=actor,
        action="groupbuy.presale.cancel",
        target=presale,
        before=before,
        after={"status": presale.status, "reason": text},
    )
    effect_enqueue(
        name=SETTLE_EFFECT,
        payload={"presale_id": presale.pk},
        dedupe_key=f"{SETTLE_EFFECT}:{presale.pk}",
    )
    return presale
