"""Flash sales in the live room (SPEC LV-4): units of one SKU at a special price, for a limited
time, to thousands of buyers at once — never oversold, at most `per_user_limit` per person.

A buy has two steps:

1. **Gate** — claim the units or refuse at once.
   - Embedded (no `REDIS_URL`): a conditional UPDATE
     `claimed = claimed + q WHERE claimed + q <= quantity AND running`, then, still holding the
     row lock that UPDATE took, the person's held + paid claims are summed and checked against
     the limit. Every buyer of one sale passes through that row lock one at a time until commit
     (PostgreSQL re-reads the row after waiting, READ COMMITTED gives the sum a fresh snapshot;
     SQLite runs IMMEDIATE transactions one at a time), so two buys of one person can never
     both see "under the limit".
   - Redis: one Lua script checks the units left and the person's count, takes both and
     records a pending claim (claim_ref → person, quantity, time). Losers never touch the
     database.
2. **Settle** — in one database transaction: the order through `orders.services.order_create`
   (channel "live", `source_ref` = session code, the flash price as a trusted `SpecialPrice`,
   quantity capped at the claim, units drawn from the sale's block), the `FlashSaleClaim`
   (held), then — last, so the sale's row is locked only until the commit — the same
   conditional UPDATE and limit check as the embedded gate (the database stays the truth and
   cannot be oversold even if Redis drifts).
   Any failure rolls the transaction back; in Redis mode the pending reservation is given back.

Stock: when a sale opens, its units are set aside in one block (`inventory.stock_block_reserve`,
one reservation for the whole sale, `flash_block_ref`); each settlement draws its order's
reservation from the block and never writes the stock level, so settlements queue on nothing
but the sale's own row — and take that lock last, just before commit. A cancelled order's
units go back to the block (the sale can sell them again); when the sale ends the undrawn units
go back to the shelf and the orders keep theirs. If no single warehouse holds all the units,
there is no block and each order reserves from the shelf as any order does.

Units come back when the claim's order is cancelled (buyer, or unpaid past the 15-minute
deadline — `OrderCancelled`); a paid order (`OrderPaid`) makes the claim paid. Both are
idempotent conditional updates, in `flash_sale.claims`, with `flash_sale_reconcile` (job
`live.flash_reconcile`, every minute) that repairs what a crash can leave behind.
"""

from __future__ import annotations

import datetime as dt
import functools
import logging
from collections.abc import Sequence
from typing import Any

from django.db import transaction
from django.db.models import Sum

from freshloop.catalog.models import Sku
from freshloop.catalog.selectors import sku_get_sellable
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.db import retry_transient
from freshloop.core.errors import NotFound
from freshloop.core.events import publish
from freshloop.core.ids import new_id
from freshloop.identity.models import Person
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.inventory.services import stock_block_close, stock_block_reserve
from freshloop.live import events
from freshloop.live.flash_sale.errors import (
    FlashSaleAlreadyRunning,
    FlashSaleInvalid,
    FlashSaleLimitExceeded,
    FlashSaleNotOpen,
    FlashSaleQuantityInvalid,
    FlashSaleSessionNotLive,
    FlashSaleSoldOut,
)
from freshloop.live.flash_sale.locks import sale_units_take, writer_turn
from freshloop.live.flash_sale.redis_stock import (
    HELD_OR_PAID,
    FlashRedis,
    flash_engine,
    gate_load,
    gate_reserve,
)
from freshloop.live.flash_sale.selectors import FLASH_PRICE_LABEL
from freshloop.live.locks import live_session_lock
from freshloop.live.models import (
    FlashSale,
    FlashSaleClaim,
    FlashSaleStatus,
    LiveSession,
    LiveStatus,
)
from freshloop.orders.models import Order
from freshloop.orders.selectors import order_for_idempotency_key
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    OrderCreateResult,
    SpecialPrice,
    order_create,
)

MAX_PER_USER_LIMIT = 99
MIN_DURATION_SECONDS = 10
MAX_DURATION_SECONDS = 24 * 60 * 60
RECONCILE_GRACE_SECONDS = 30

logger = logging.getLogger(__name__)


# --- start and end ----------------------------------------------------------------------------


def _snapshot(sale: FlashSale) -> dict[str, Any]:
    return {
        "sku_id": sale.sku_id,
        "price_fen": sale.price_fen,
        "quantity": sale.quantity,
        "claimed": sale.claimed,
        "paid": sale.paid,
        "per_user_limit": sale.per_user_limit,
        "ends_at": sale.ends_at,
        "status": sale.status,
    }


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _close_expired(*, session: LiveSession, sku: Sku, now: dt.datetime) -> None:
    for sale in FlashSale.objects.filter(
        session=session, sku=sku, status=FlashSaleStatus.RUNNING, ends_at__lte=now
    ).order_by("pk"):
        _end(sale, actor=Actor.system("live.flash_sale"), reason="到时自动结束", now=now)


@transaction.atomic
def flash_sale_start(
    *,
    session: LiveSession,
    sku: Sku,
    price_fen: int,
    quantity: int,
    per_user_limit: int = 1,
    duration_seconds: int,
    actor: Actor,
) -> FlashSale:
    """Put `quantity` units of `sku` on sale at `price_fen` in a live session, from now for
    `duration_seconds`. One running sale per SKU per session; the price must be below the list
    price and the units must be in stock now. They are set aside at once, in one block for the
    whole sale when one warehouse holds them all (see the module docstring)."""
    for name, value in (
        ("price_fen", price_fen),
        ("quantity", quantity),
        ("per_user_limit", per_user_limit),
        ("duration_seconds", duration_seconds),
    ):
        if not _is_count(value):
            raise FlashSaleInvalid(f"{name} 必须是整数", detail={name: value})
    # The session row lock serialises starts in one session ("one running sale per SKU").
    try:
        locked = live_session_lock(session.pk)
    except LiveSession.DoesNotExist:
        raise NotFound("直播场次不存在", detail={"session_id": session.pk}) from None
    if locked.status != LiveStatus.LIVE:
        raise FlashSaleSessionNotLive(detail={"status": locked.status})
    sku = sku_get_sellable(sku_id=sku.pk, channel="live")
    if not 1 <= price_fen < sku.price_fen:
        raise FlashSaleInvalid(
            "秒杀价须低于原价且大于 0", detail={"price_fen": price_fen, "list_fen": sku.price_fen}
        )
    if not 1 <= per_user_limit <= MAX_PER_USER_LIMIT:
        raise FlashSaleInvalid(
            f"每人限购须在 1 到 {MAX_PER_USER_LIMIT} 之间",
            detail={"per_user_limit": per_user_limit},
        )
    if not MIN_DURATION_SECONDS <= duration_seconds <= MAX_DURATION_SECONDS:
        raise FlashSaleInvalid(
            "秒杀时长须在 10 秒到 24 小时之间", detail={"duration_seconds": duration_seconds}
        )
    available = stock_available_by_sku(sku_ids=[sku.pk]).get(sku.pk, 0)
    if not 1 <= quantity <= available:
        raise FlashSaleInvalid(
            "秒杀数量须至少 1 件且不超过可售库存",
            detail={"quantity": quantity, "available": available},
        )
    now = clock.now()
    _close_expired(session=locked, sku=sku, now=now)
    if FlashSale.objects.filter(session=locked, sku=sku, status=FlashSaleStatus.RUNNING).exists():
        raise FlashSaleAlreadyRunning(detail={"sku_id": sku.pk})
    sale = FlashSale.objects.create(
        session=locked,
        sku=sku,
        price_fen=price_fen,
        quantity=quantity,
        per_user_limit=per_user_limit,
        starts_at=now,
        ends_at=now + dt.timedelta(seconds=duration_seconds),
        created_at=now,
    )
    audit_record(actor=actor, action="live.flash_sale.start", target=sale, after=_snapshot(sale))
    stock_block_reserve(block_ref=flash_block_ref(sale.pk), sku=sku, quantity=quantity, actor=actor)
    # Best effort: a buyer meeting an unloaded gate loads it, and flash_reconcile re-derives it.
    transaction.on_commit(lambda: gate_load(sale.pk), robust=True)
    publish(
        events.FlashSaleStarted(
            session_code=locked.code,
            flash_sale_id=sale.pk,
            sku_id=sku.pk,
            price_fen=price_fen,
            quantity=quantity,
            per_user_limit=per_user_limit,
            ends_at=sale.ends_at,
        )
    )
    publish(
        events.FlashSaleStockChanged(
            session_code=locked.code, flash_sale_id=sale.pk, remaining=quantity
        )
    )
    return sale


def flash_block_ref(flash_sale_id: int) -> str:
    """The reference of the stock block a sale's units are set aside in."""
    return f"flash-sale:{flash_sale_id}"


def _end(sale: FlashSale, *, actor: Actor, reason: str, now: dt.datetime) -> bool:
    ended = FlashSale.objects.filter(pk=sale.pk, status=FlashSaleStatus.RUNNING).update(
        status=FlashSaleStatus.ENDED, ends_at=min(sale.ends_at, now)
    )
    if not ended:
        return False
    # After the status UPDATE: a settlement still running holds the sale's row until it
    # commits, so the block is closed with every committed draw counted.
    stock_block_close(block_ref=flash_block_ref(sale.pk), actor=actor)
    sale.refresh_from_db()
    audit_record(
        actor=actor,
        action="live.flash_sale.end",
        target=sale,
        after={**_snapshot(sale), "reason": reason},
    )
    engine = flash_engine()
    if engine is not None:
        sale_id = sale.pk
        # Best effort: flash_reconcile closes what a Redis outage left open.
        transaction.on_commit(lambda: engine.close(flash_sale_id=sale_id), robust=True)
    publish(
        events.FlashSaleEnded(
            session_code=sale.session.code,
            flash_sale_id=sale.pk,
            claimed=sale.claimed,
            paid=sale.paid,
            reason=reason,
        )
    )
    return True


@transaction.atomic
def flash_sale_end(*, flash_sale: FlashSale, actor: Actor) -> FlashSale:
    """Stop a running sale now (the host's button). Claims already made stay valid: their
    buyers can still pay within the order's deadline. Ending an ended sale changes nothing."""
    _end(flash_sale, actor=actor, reason="主播结束秒杀", now=clock.now())
    flash_sale.refresh_from_db()
    return flash_sale


def flash_sales_close_due(*, now: dt.datetime | None = None) -> list[int]:
    """Mark running sales whose time is up as ended (the gate already refuses them)."""
    moment = now or clock.now()
    closed = []
    for sale in (
        FlashSale.objects.select_related("session")
        .filter(status=FlashSaleStatus.RUNNING, ends_at__lte=moment)
        .order_by("pk")
    ):
        with transaction.atomic():
            if _end(
                sale, actor=Actor.system("live.flash_reconcile"), reason="到时自动结束", now=moment
            ):
                closed.append(sale.pk)
    return closed


# --- buy --------------------------------------------------------------------------------------


class _Replayed(Exception):
    """The idempotency key already made this buyer's order: undo this attempt, answer with it."""

    def __init__(self, order: Order) -> None:
        self.order = order
        super().__init__(order.order_no)


def _check_buy_quantity(sale: FlashSale, quantity: int) -> None:
    if not _is_count(quantity) or quantity < 1:
        raise FlashSaleQuantityInvalid("购买数量须为正整数", detail={"quantity": quantity})
    if quantity > sale.per_user_limit:
        raise FlashSaleLimitExceeded(
            f"每人限购 {sale.per_user_limit} 件",
            detail={"quantity": quantity, "per_user_limit": sale.per_user_limit},
        )


def _ensure_open(sale: FlashSale, now: dt.datetime) -> None:
    if sale.status != FlashSaleStatus.RUNNING or now >= sale.ends_at:
        raise FlashSaleNotOpen(detail={"flash_sale_id": sale.pk, "ends_at": sale.ends_at})
    if now < sale.starts_at:
        raise FlashSaleNotOpen("秒杀尚未开始", detail={"starts_at": sale.starts_at})


def _replayed_order(*, sale: FlashSale, person: Person, idempotency_key: str) -> Order | None:
    # Checked before a unit is claimed, so a retry never takes a second one; what a key's
    # reuse means is order_create's rule (it answers the reuse with its own error).
    order = order_for_idempotency_key(person=person, idempotency_key=idempotency_key)
    if order is None:
        return None
    if not FlashSaleClaim.objects.filter(flash_sale=sale, order_ref=order.order_no).exists():
        return None  # not this sale's: order_create refuses the reused key with its own error
    return order


def _limit_exceeded(sale: FlashSale, held: int) -> FlashSaleLimitExceeded:
    return FlashSaleLimitExceeded(
        f"每人限购 {sale.per_user_limit} 件，您已抢到 {held} 件",
        detail={"held": held, "per_user_limit": sale.per_user_limit},
    )


def _sold_out_or_closed(sale_id: int, now: dt.datetime) -> Exception:
    current = FlashSale.objects.get(pk=sale_id)
    if current.status != FlashSaleStatus.RUNNING or now >= current.ends_at:
        return FlashSaleNotOpen(detail={"flash_sale_id": sale_id})
    return FlashSaleSoldOut(detail={"flash_sale_id": sale_id, "remaining": 0})


def _settle(
    *,
    sale: FlashSale,
    person: Person,
    quantity: int,
    address: dict[str, Any],
    address_id: int | None = None,
    coupon_ids: Sequence[int],
    idempotency_key: str,
    claim_ref: str,
    gated: bool,
) -> tuple[Order, int]:
    """Claim the units in the database, create the order and record the claim — one
    transaction. Returns the order and the units left."""
    now = clock.now()
    if not gated:
        # A read, not a write: sold-out answers need no turn at the write lock. (Behind the
        # Redis gate only reservation holders get here; the UPDATE below still decides.)
        total, claimed = (
            FlashSale.objects.filter(pk=sale.pk).values_list("quantity", "claimed").get()
        )
        if claimed + quantity > total:
            raise FlashSaleSoldOut(detail={"flash_sale_id": sale.pk, "remaining": 0})
        held = (
            FlashSaleClaim.objects.filter(
                flash_sale_id=sale.pk, person=person, status__in=HELD_OR_PAID
            ).aggregate(units=Sum("quantity"))["units"]
            or 0
        )
        if held + quantity > sale.per_user_limit:  # early answer; decided again below
            raise _limit_exceeded(sale, held)
    with transaction.atomic():
        order, _ = order_create(
            request=CheckoutRequest(
                person=person,
                channel="live",
                source_ref=sale.session.code,
                items=[CheckoutItem(sku_id=sale.sku_id, quantity=quantity)],
                coupon_ids=list(coupon_ids),
                address=dict(address),
                address_id=address_id,
                idempotency_key=idempotency_key,
                special_prices={
                    sale.sku_id: SpecialPrice(
                        unit_price_fen=sale.price_fen,
                        label=FLASH_PRICE_LABEL,
                        ref=claim_ref,
                        max_quantity=quantity,
                    )
                },
                stock_blocks={sale.sku_id: flash_block_ref(sale.pk)},
            )
        )
        if FlashSaleClaim.objects.filter(order_ref=order.order_no).exists():
            raise _Replayed(order)  # a concurrent retry with the same key won; undo ours
        claim = FlashSaleClaim.objects.create(
            flash_sale_id=sale.pk,
            person=person,
            quantity=quantity,
            order_ref=order.order_no,
            claim_ref=claim_ref,
            created_at=now,
        )
        audit_record(
            actor=Actor.consumer(person.one_id),
            action="live.flash_sale.claim",
            target=claim,
            after={
                "flash_sale_id": sale.pk,
                "quantity": quantity,
                "order_no": order.order_no,
                "price_fen": sale.price_fen,
            },
        )
        publish(
            events.FlashSaleClaimed(
                session_code=sale.session.code,
                flash_sale_id=sale.pk,
                person_id=person.pk,
                quantity=quantity,
                order_no=order.order_no,
            )
        )
        # The sale's row last: it is the one row every settlement writes, locked from here to
        # the commit, so only two statements run under it. This conditional UPDATE is what
        # keeps the sale from being oversold.
        left = sale_units_take(flash_sale_id=sale.pk, quantity=quantity, now=now)
        if left is None:
            raise _sold_out_or_closed(sale.pk, now)
        # Under that lock (see the module docstring) the person's claims, this one included,
        # are summed afresh: two buys of one person can never both see "under the limit".
        held = (
            FlashSaleClaim.objects.filter(
                flash_sale_id=sale.pk, person=person, status__in=HELD_OR_PAID
            ).aggregate(units=Sum("quantity"))["units"]
            or 0
        )
        if held > sale.per_user_limit:
            raise _limit_exceeded(sale, held - quantity)
        return order, left


def flash_sale_buy(
    *,
    flash_sale: FlashSale,
    person: Person,
    quantity: int,
    address: dict[str, Any],
    address_id: int | None = None,
    coupon_ids: Sequence[int] = (),
    idempotency_key: str = "",
) -> OrderCreateResult:
    """Buy flash-sale units: claim them (or be refused at once) and get the unpaid order at
    the flash price. A retry with the same idempotency key returns the same order, with
    `created` False (racing retries included): the API answers 201 or 200 by it."""
    sale = flash_sale
    _check_buy_quantity(sale, quantity)
    engine = flash_engine()
    claim_ref = new_id("FC")
    if engine is None:
        replay = _replayed_order(sale=sale, person=person, idempotency_key=idempotency_key)
        if replay is not None:
            return OrderCreateResult(replay, created=False)
        _ensure_open(sale, clock.now())
        if sale.claimed + quantity > sale.quantity:
            # Cheap early answer from the row just read; the conditional UPDATE decides for real.
            raise FlashSaleSoldOut(detail={"flash_sale_id": sale.pk, "remaining": 0})
    else:
        # Redis answers first, with no database read: sold out, over the limit or closed cost
        # one round trip. Only a key that reserved here before is looked up (a retry gets its
        # order back, even once the sale is sold out or over).
        if clock.now() < sale.starts_at:
            raise FlashSaleNotOpen("秒杀尚未开始", detail={"starts_at": sale.starts_at})
        reserve = functools.partial(
            gate_reserve,
            engine,
            sale=sale,
            person=person,
            quantity=quantity,
            claim_ref=claim_ref,
            idempotency_key=idempotency_key,
        )
        if not reserve():
            replay = _replayed_order(sale=sale, person=person, idempotency_key=idempotency_key)
            if replay is not None:
                return OrderCreateResult(replay, created=False)
            reserve(check_key=False)

    def settle() -> tuple[Order, int]:
        return _settle(
            sale=sale,
            person=person,
            quantity=quantity,
            address=address,
            address_id=address_id,
            coupon_ids=coupon_ids,
            idempotency_key=idempotency_key,
            claim_ref=claim_ref,
            gated=engine is not None,
        )

    try:
        with writer_turn(sale.pk):
            order, left = retry_transient(settle)
    except _Replayed as replayed:
        if engine is not None:
            engine.rollback(flash_sale_id=sale.pk, claim_ref=claim_ref)
        return OrderCreateResult(replayed.order, created=False)
    except BaseException:
        # No leak: the database rolled back; the Redis reservation is given back here (and by
        # flash_sale_reconcile if this process dies before this line).
        if engine is not None:
            engine.rollback(flash_sale_id=sale.pk, claim_ref=claim_ref)
        raise
    if engine is not None:
        left = _gate_settled(engine, sale_id=sale.pk, claim_ref=claim_ref, db_left=left)
    publish(
        events.FlashSaleStockChanged(
            session_code=sale.session.code, flash_sale_id=sale.pk, remaining=max(0, left)
        )
    )
    return OrderCreateResult(order, created=True)


def _gate_settled(engine: FlashRedis, *, sale_id: int, claim_ref: str, db_left: int) -> int:
    """Tell the gate the claim is in the database; the units left for the room's counter.

    The purchase has committed: whatever Redis does now, the buyer is answered with the order.
    If Redis fails here its pending record stays, and `flash_sale_reconcile` (every minute)
    finds the database claim under that ref and clears it — the units stay counted once.
    """
    try:
        engine.settled(flash_sale_id=sale_id, claim_ref=claim_ref)
        left = engine.left(flash_sale_id=sale_id)
    except Exception:  # the Redis client's errors and whatever a broken connection raises
        logger.warning(
            "flash sale %s: Redis unreachable after claim %s committed; reconcile will clear it",
            sale_id,
            claim_ref,
            exc_info=True,
        )
        return db_left
    return db_left if left is None else left
