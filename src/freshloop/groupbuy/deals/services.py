"""Group deals 拼团 (GB-3): operators set up tiered deals; customers (or leaders) start groups,
others join; a group closes full, or at its time limit — at a better tier everyone gets the
difference back, below the smallest tier every member is refunded in full.

Rules (docs/groupbuy-deals.md):
- **Price.** A joiner pays the tier reached by the places already taken plus their own
  (`GroupDeal.price_for_size(seats + 1)`), read just before their order is written. Places
  are counted again under the group's row lock, so two people joining at once may both pay a
  tier too high — never too low for what the group then holds — and get the difference back
  when it closes. Everyone ends at the price of the tier the paid members reached.
- **A join is one transaction** on the one order path (BM-7): the order (channel `groupbuy`,
  the tier price as a trusted special price, units drawn from the deal's stock block), the
  member row, then — last, so the two hot rows are held only to the commit — one seat of the
  group and the units of the deal, both conditional UPDATEs (deals/locks.py). A refusal
  anywhere rolls all of it back; the deal's check constraint is the last word on overselling.
- **Places.** One place per person per deal at a time (a unique constraint), up to
  `per_person_limit` units. An unpaid order past its payment window gives its place and units
  back (`OrderCancelled`).
- **Closing** (`group_close_due`, job `groupbuy.deal_groups_close` every minute, and at once
  when the last place of a full group is paid): members still unpaid are cancelled (or
  counted, if their money just arrived); then success or failure as above. Each refund is a
  durable effect written in the closing transaction (`groupbuy.deal_refund`): its consumer
  asks for and approves the refund on the order in one transaction that also records the
  refund number on the member, so it happens once however often it is delivered and survives
  a crash at any instant. Money goes back through the original payment (payments module).
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Sequence
from typing import Any

from django.db import IntegrityError, transaction

from freshloop.catalog.selectors import sku_get_sellable
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.core.ids import new_id
from freshloop.groupbuy.attachments import customer_attach
from freshloop.groupbuy.deals.errors import (
    AlreadyInDeal,
    DealInputInvalid,
    DealLimitExceeded,
    DealNotFound,
    DealNotOpen,
    DealSoldOut,
    GroupClosed,
    GroupNotFound,
    LeaderOnlyDeal,
)
from freshloop.groupbuy.deals.locks import (
    deal_units_take,
    group_seat_take,
)
from freshloop.groupbuy.deals.models import (
    HOLDING_STATUSES,
    DealGroup,
    DealStatus,
    GroupDeal,
    GroupMember,
    GroupStatus,
)
from freshloop.groupbuy.deals.refunds import (
    deal_groups_close_due,
    group_close,
    member_order_cancelled,
    member_order_paid,
    member_order_refunded,
    member_refund,
)
from freshloop.groupbuy.models import GroupLeader, LeaderCustomer, LeaderStatus
from freshloop.identity.models import Person
from freshloop.inventory.selectors import stock_available_by_sku
from freshloop.inventory.services import stock_block_close, stock_block_reserve
from freshloop.orders.models import Order
from freshloop.orders.selectors import order_for_idempotency_key
from freshloop.orders.services import (
    CheckoutItem,
    CheckoutRequest,
    OrderCreateResult,
    SpecialPrice,
    order_create,
)
from freshloop.promotions.pricing import SpecialPriceKind

__all__ = [
    "deal_groups_close_due",
    "group_close",
    "member_order_cancelled",
    "member_order_paid",
    "member_order_refunded",
    "member_refund",
]

logger = logging.getLogger(__name__)

DEAL_PRICE_LABEL = "拼团价"
MAX_TIERS = 5
MAX_GROUP_SIZE = 100
MAX_GROUP_MINUTES = 7 * 24 * 60
MAX_PER_PERSON_LIMIT = 20
# An unpaid join holds its place this long (shorter when the group closes sooner).
JOIN_PAYMENT_WINDOW = dt.timedelta(minutes=15)
MIN_PAYMENT_WINDOW = dt.timedelta(minutes=1)


# --- set-up -------------------------------------------------------------------------------------


def _is_count(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _checked_tiers(raw: object, list_price_fen: int) -> list[dict[str, int]]:
    """Tiers as stored: sizes ascending from 2, prices descending, every price below the list
    price; field errors name the tier."""
    if not isinstance(raw, list) or not 1 <= len(raw) <= MAX_TIERS:
        raise DealInputInvalid.for_fields([("tiers", f"请设置 1 到 {MAX_TIERS} 档阶梯价")])
    tiers: list[dict[str, int]] = []
    for index, tier in enumerate(raw):
        size = tier.get("size") if isinstance(tier, dict) else None
        price = tier.get("price_fen") if isinstance(tier, dict) else None
        field = f"tiers[{index}]"
        if not (
            isinstance(size, int)
            and isinstance(price, int)
            and _is_count(size)
            and _is_count(price)
        ):
            raise DealInputInvalid.for_fields([(field, "每档须有整数的人数和价格")])
        if not 2 <= size <= MAX_GROUP_SIZE:
            raise DealInputInvalid.for_fields([(field, f"成团人数须在 2 到 {MAX_GROUP_SIZE} 之间")])
        if not 1 <= price < list_price_fen:
            raise DealInputInvalid.for_fields([(field, "拼团价须大于 0 且低于原价")])
        if tiers and (size <= tiers[-1]["size"] or price >= tiers[-1]["price_fen"]):
            raise DealInputInvalid.for_fields([(field, "人数须逐档增加，价格须逐档降低")])
        tiers.append({"size": size, "price_fen": price})
    return tiers


def deal_create(
    *,
    title: str,
    sku_id: int,
    tiers: Sequence[dict[str, Any]],
    quantity: int,
    group_minutes: int,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    per_person_limit: int = 1,
    leader_only: bool = False,
    actor: Actor,
) -> GroupDeal:
    """Set up a tiered deal and set its units aside (one stock block, as a flash sale does)."""
    problems: list[tuple[str, str]] = []
    if not isinstance(title, str) or not 1 <= len(title.strip()) <= 64:
        problems.append(("title", "请填写活动名称（64 字以内）"))
    if not _is_count(quantity) or quantity < 1:
        problems.append(("quantity", "活动库存须至少 1 件"))
    if not _is_count(group_minutes) or not 10 <= group_minutes <= MAX_GROUP_MINUTES:
        problems.append(("group_minutes", "成团时限须在 10 分钟到 7 天之间"))
    if not _is_count(per_person_limit) or not 1 <= per_person_limit <= MAX_PER_PERSON_LIMIT:
        problems.append(("per_person_limit", f"每人限购须在 1 到 {MAX_PER_PERSON_LIMIT} 之间"))
    if not (isinstance(starts_at, dt.datetime) and isinstance(ends_at, dt.datetime)):
        problems.append(("ends_at", "请填写开始和结束时间"))
    elif starts_at.tzinfo is None or ends_at.tzinfo is None:
        problems.append(("ends_at", "时间须带时区，如 2026-12-01T08:00:00+08:00"))
    elif ends_at <= starts_at or ends_at <= clock.now():
        problems.append(("ends_at", "结束时间须晚于开始时间和现在"))
    if problems:
        raise DealInputInvalid.for_fields(problems)
    sku = sku_get_sellable(sku_id=sku_id, channel="groupbuy")
    checked = _checked_tiers(list(tiers), sku.price_fen)
    available = stock_available_by_sku(sku_ids=[sku.pk]).get(sku.pk, 0)
    if quantity > available:
        raise DealInputInvalid.for_fields(
            [("quantity", f"活动库存不能超过可售库存 {available} 件")]
        )
    now = clock.now()
    with transaction.atomic():
        deal = GroupDeal.objects.create(
            deal_no=new_id("GD"),
            title=title.strip(),
            sku=sku,
            tiers=checked,
            min_size=checked[0]["size"],
            max_size=checked[-1]["size"],
            group_minutes=group_minutes,
            per_person_limit=per_person_limit,
            quantity=quantity,
            leader_only=bool(leader_only),
            starts_at=starts_at,
            ends_at=ends_at,
            created_by=actor.label[:150],
            created_at=now,
            updated_at=now,
        )
        # None when no single warehouse holds all the units: joins then reserve from the
        # shelf one by one (the deal's own counter still caps them at `quantity`).
        stock_block_reserve(block_ref=deal.block_ref, sku=sku, quantity=quantity, actor=actor)
        audit_record(
            actor=actor,
            action="groupbuy.deal.create",
            target=deal,
            after={"sku_id": sku.pk, "tiers": checked, "quantity": quantity},
        )
    return deal


def deal_end(*, deal_no: str, actor: Actor) -> GroupDeal:
    """Stop a deal now: no new groups or joins; open groups still close at their own time.
    The units no member holds go back to the shelf. Idempotent."""
    with transaction.atomic():
        deal = GroupDeal.objects.filter(deal_no=deal_no).first()
        if deal is None:
            raise DealNotFound(detail={"deal_no": deal_no})
        if deal.status == DealStatus.ENDED:
            return deal
        GroupDeal.objects.filter(pk=deal.pk).update(status=DealStatus.ENDED, updated_at=clock.now())
        stock_block_close(block_ref=deal.block_ref, actor=actor)
        audit_record(actor=actor, action="groupbuy.deal.end", target=deal)
    deal.refresh_from_db()
    return deal


# --- joining ------------------------------------------------------------------------------------


def _active_leadership(person: Person) -> GroupLeader | None:
    return GroupLeader.objects.filter(person=person, status=LeaderStatus.ACTIVE).first()


def _group_leader_for(person: Person) -> GroupLeader | None:
    """Whom a new group sells for: the starter if they lead, else the starter's own leader."""
    own = _active_leadership(person)
    if own is not None:
        return own
    attachment = (
        LeaderCustomer.objects.select_related("leader")
        .filter(person=person, leader__status=LeaderStatus.ACTIVE)
        .first()
    )
    return attachment.leader if attachment is not None else None


def _payment_window(closes_at: dt.datetime, now: dt.datetime) -> dt.timedelta:
    """An unpaid place is held at most until the group's deadline."""
    return max(MIN_PAYMENT_WINDOW, min(JOIN_PAYMENT_WINDOW, closes_at - now))


def _replayed(person: Person, idempotency_key: str) -> OrderCreateResult | None:
    if not idempotency_key:
        return None
    order = order_for_idempotency_key(person=person, idempotency_key=idempotency_key)
    if order is None or not GroupMember.objects.filter(order_no=order.order_no).exists():
        return None
    return OrderCreateResult(order, created=False)


def _check_quantity(deal: GroupDeal, quantity: object) -> int:
    if not _is_count(quantity) or not 1 <= quantity <= deal.per_person_limit:  # type: ignore[operator]
        raise DealLimitExceeded(
            detail={"quantity": quantity, "per_person_limit": deal.per_person_limit}
        )
    return int(quantity)  # type: ignore[call-overload]


def group_start(
    *,
    deal_no: str,
    person: Person,
    quantity: int = 1,
    address: dict[str, Any] | None = None,
    address_id: int | None = None,
    idempotency_key: str = "",
) -> tuple[DealGroup, OrderCreateResult]:
    """Start a new group of a deal and take its first place (a leader may start one to share
    without buying: see `group_open_for_leader`)."""
    replay = _replayed(person, idempotency_key)
    if replay is not None:
        member = GroupMember.objects.select_related("group").get(order_no=replay.order.order_no)
        return member.group, replay
    deal = GroupDeal.objects.select_related("sku").filter(deal_no=deal_no).first()
    if deal is None:
        raise DealNotFound(detail={"deal_no": deal_no})
    quantity = _check_quantity(deal, quantity)
    leader = _group_leader_for(person)
    if deal.leader_only and (leader is None or leader.person_id != person.pk):
        raise LeaderOnlyDeal(detail={"deal_no": deal_no})
    _check_open(deal, clock.now())
    result = _join(
        deal=deal,
        group=None,
        leader=leader,
        person=person,
        quantity=quantity,
        address=address or {},
        address_id=address_id,
        idempotency_key=idempotency_key,
    )
    member = GroupMember.objects.select_related("group").get(order_no=result.order.order_no)
    return member.group, result


def group_open_for_leader(*, deal_no: str, leader_person: Person) -> DealGroup:
    """An active leader opens an empty group to share with their customers (团长开团)."""
    deal = GroupDeal.objects.filter(deal_no=deal_no).first()
    if deal is None:
        raise DealNotFound(detail={"deal_no": deal_no})
    leader = _active_leadership(leader_person)
    if leader is None:
        raise LeaderOnlyDeal(detail={"deal_no": deal_no})
    now = clock.now()
    _check_open(deal, now)
    group = _group_row(deal, starter=leader_person, leader=leader, now=now)
    group.save(force_insert=True)
    audit_record(
        actor=Actor.consumer(leader_person.one_id),
        action="groupbuy.deal.group_open",
        target=group,
        after={"deal_no": deal.deal_no, "leader_no": leader.leader_no},
    )
    return group


def _check_open(deal: GroupDeal, now: dt.datetime) -> None:
    """New groups only while the deal runs and has units left."""
    if not (deal.status == DealStatus.ACTIVE and deal.starts_at <= now < deal.ends_at):
        raise DealNotOpen(detail={"starts_at": deal.starts_at, "ends_at": deal.ends_at})
    if deal.units_held >= deal.quantity:
        raise DealSoldOut(detail={"deal_no": deal.deal_no})


def _group_row(
    deal: GroupDeal, *, starter: Person, leader: GroupLeader | None, now: dt.datetime
) -> DealGroup:
    return DealGroup(
        group_no=new_id("GG"),
        deal=deal,
        leader=leader,
        starter=starter,
        opened_at=now,
        closes_at=now + dt.timedelta(minutes=deal.group_minutes),
    )


def group_join(
    *,
    group_no: str,
    person: Person,
    quantity: int = 1,
    address: dict[str, Any] | None = None,
    address_id: int | None = None,
    idempotency_key: str = "",
) -> OrderCreateResult:
    """Take a place in someone's group: the unpaid order at the current tier's price."""
    replay = _replayed(person, idempotency_key)
    if replay is not None:
        return replay
    group = (
        DealGroup.objects.select_related("deal__sku", "leader").filter(group_no=group_no).first()
    )
    if group is None:
        raise GroupNotFound(detail={"group_no": group_no})
    quantity = _check_quantity(group.deal, quantity)
    return _join(
        deal=group.deal,
        group=group,
        leader=group.leader,
        person=person,
        quantity=quantity,
        address=address or {},
        address_id=address_id,
        idempotency_key=idempotency_key,
    )


def _join(
    *,
    deal: GroupDeal,
    group: DealGroup | None,
    leader: GroupLeader | None,
    person: Person,
    quantity: int,
    address: dict[str, Any],
    address_id: int | None,
    idempotency_key: str,
) -> OrderCreateResult:
    """Take a place in `group`, or in a new group of `deal` when it is None (the group is
    written in the same transaction, so a refused first join leaves no empty group)."""
    now = clock.now()
    if group is not None and (
        group.status != GroupStatus.OPEN or group.closes_at <= now or group.seats >= deal.max_size
    ):
        raise GroupClosed(detail={"group_no": group.group_no, "status": group.status})
    if deal.status != DealStatus.ACTIVE or deal.units_held + quantity > deal.quantity:
        raise DealSoldOut(detail={"deal_no": deal.deal_no})  # early answer; decided below
    held = GroupMember.objects.filter(deal=deal, person=person, status__in=HOLDING_STATUSES)
    held_in = held.values_list("group__group_no", flat=True).first()
    if held_in is not None:
        # The place may be this very request's, taken by its first attempt a moment ago.
        replay = _replayed(person, idempotency_key)
        if replay is not None:
            return replay
        raise AlreadyInDeal(detail={"group_no": held_in})
    unit_price = deal.price_for_size((group.seats if group is not None else 0) + 1)
    new_group = _group_row(deal, starter=person, leader=leader, now=now) if group is None else None
    target = group if group is not None else new_group
    assert target is not None

    def take_place(order: Order) -> None:
        """Inside the order's own transaction, after it is written: the place, then the two hot
        rows last (see deals/locks.py) — the group's seat and the deal's units."""
        if new_group is not None:
            new_group.pk = None  # a transient retry of the transaction writes it again
            new_group.save(force_insert=True)
        member = GroupMember.objects.create(
            group=target,
            deal=deal,
            person=person,
            order_no=order.order_no,
            quantity=quantity,
            unit_price_fen=unit_price,
            joined_at=now,
        )
        audit_record(
            actor=Actor.consumer(person.one_id),
            action="groupbuy.deal.join",
            target=member,
            after={
                "group_no": target.group_no,
                "order_no": order.order_no,
                "quantity": quantity,
                "unit_price_fen": unit_price,
            },
        )
        if not group_seat_take(group_id=target.pk, max_size=deal.max_size, now=now):
            raise GroupClosed(detail={"group_no": target.group_no})
        if not deal_units_take(deal_id=deal.pk, quantity=quantity, now=now):
            raise DealSoldOut(detail={"deal_no": deal.deal_no})

    try:
        # Priced before the write transaction (orders.order_create); the place is written in it.
        order, created = order_create(
            request=CheckoutRequest(
                person=person,
                channel="groupbuy",
                source_ref=target.group_no,
                items=[CheckoutItem(sku_id=deal.sku_id, quantity=quantity)],
                address=dict(address),
                address_id=address_id,
                idempotency_key=idempotency_key,
                special_prices={
                    deal.sku_id: SpecialPrice(
                        unit_price_fen=unit_price,
                        label=DEAL_PRICE_LABEL,
                        ref=target.group_no,
                        max_quantity=quantity,
                        kind=SpecialPriceKind.GROUP_DEAL_TIER,
                    )
                },
                stock_blocks={deal.sku_id: deal.block_ref},
                payment_window=_payment_window(target.closes_at, now),
                on_written=take_place,
            )
        )
    except (DomainError, IntegrityError) as refused:
        # A retry that raced its first attempt under the same key gets that attempt's order
        # (its group is another new one when both opened a group, so the order path alone
        # would call the key reused).
        replay = _replayed(person, idempotency_key)
        if replay is not None:
            return replay
        if isinstance(refused, IntegrityError):
            # The one-place-per-deal constraint: another join of this person won the race.
            raise AlreadyInDeal(detail={"deal_no": deal.deal_no}) from None
        raise
    if not created:
        return OrderCreateResult(order, created=False)
    _attach_to_group_leader(person, target)
    return OrderCreateResult(order, created=True)


def _attach_to_group_leader(person: Person, group: DealGroup) -> None:
    """A customer with no leader who joins a leader's group becomes that leader's customer,
    as if they had followed the leader's invite link (the share card carries it). Someone
    already attached keeps their leader (the attribution window rules, docs/groupbuy.md)."""
    leader = group.leader
    if leader is None or leader.person_id == person.pk:
        return
    if LeaderCustomer.objects.filter(person=person).exists():
        return
    try:
        customer_attach(person=person, invite_code=leader.invite_code, source="invite_link")
    except DomainError as refused:
        # The leader paused, or another attach won the race: the order stands either way.
        logger.info("join of %s not attached to %s: %s", person.pk, leader.leader_no, refused.code)
