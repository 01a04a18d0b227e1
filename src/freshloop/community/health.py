"""Group health (社群健康度): per group and overall — members, joins and leaves per day,
active members, orders and GMV from members.

Messages per day and who spoke come from the inbound group-message API (what a 会话存档 relay
posts; see the keyword assistant): without a relay there are no messages, and the page says so.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from zoneinfo import ZoneInfo

from django.db.models import Q

from freshloop.community import selectors
from freshloop.community.challenges import members_gmv_fen
from freshloop.community.models import (
    CustomerGroup,
    GroupMember,
    GroupMemberEvent,
    GroupStatus,
    MemberEventKind,
    MemberType,
)
from freshloop.core import clock
from freshloop.orders.models import BOUGHT_STATUSES, Order

SHANGHAI = ZoneInfo("Asia/Shanghai")
ACTIVE_DAYS = 7
DEFAULT_DAYS = 14


@dataclass(frozen=True)
class DayCounts:
    day: dt.date
    joins: int
    leaves: int
    messages: int


@dataclass(frozen=True)
class GroupHealth:
    groups: int
    members: int
    customers: int
    joins: int
    leaves: int
    active_members: int
    orders: int
    gmv_fen: int
    days: list[DayCounts]
    messages_available: bool

    @property
    def active_rate(self) -> float:
        return self.active_members / self.customers if self.customers else 0.0


def _day_start(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI).astimezone(dt.UTC)


def health_for(
    *, groups: list[CustomerGroup], days: int = DEFAULT_DAYS, now: dt.datetime | None = None
) -> GroupHealth:
    """The health of `groups` over the last `days` calendar days (Shanghai), today included."""
    now = now or clock.now()
    today = now.astimezone(SHANGHAI).date()
    first = today - dt.timedelta(days=days - 1)
    since = _day_start(first)
    active_since = now - dt.timedelta(days=ACTIVE_DAYS)
    group_ids = [group.pk for group in groups]
    chat_ids = [group.chat_id for group in groups]
    current = GroupMember.objects.filter(
        group_id__in=group_ids, left_at__isnull=True, group__status=GroupStatus.ACTIVE
    )
    customers = current.filter(member_type=MemberType.CUSTOMER)
    events = GroupMemberEvent.objects.filter(
        group_id__in=group_ids, at__gte=since, is_customer=True
    )
    per_day: dict[dt.date, list[int]] = {first + dt.timedelta(days=n): [0, 0] for n in range(days)}
    for kind, at in events.values_list("kind", "at"):
        day = at.astimezone(SHANGHAI).date()
        if day in per_day:
            per_day[day][0 if kind == MemberEventKind.JOIN else 1] += 1
    messages: dict[dt.date, int] = {}
    for counts in selectors.group_message_counts(chat_ids=chat_ids, since=since).values():
        for day, count in counts.per_day.items():
            messages[day] = messages.get(day, 0) + count
    person_ids = [pid for pid in customers.values_list("person_id", flat=True) if pid is not None]
    buyers = set(
        Order.objects.filter(
            person_id__in=person_ids, status__in=BOUGHT_STATUSES, paid_at__gte=active_since
        ).values_list("person_id", flat=True)
    )
    active_userids = set(
        customers.filter(Q(join_time__gte=active_since) | Q(person_id__in=buyers)).values_list(
            "userid", flat=True
        )
    )
    spoke = set().union(
        *selectors.group_message_senders(chat_ids=chat_ids, since=active_since).values()
    )
    active_userids |= set(customers.filter(userid__in=spoke).values_list("userid", flat=True))
    orders, gmv = members_gmv_fen(person_ids=person_ids, starts_at=since, ends_at=now)
    return GroupHealth(
        groups=len([group for group in groups if group.status == GroupStatus.ACTIVE]),
        members=current.count(),
        customers=customers.count(),
        joins=sum(counts[0] for counts in per_day.values()),
        leaves=sum(counts[1] for counts in per_day.values()),
        active_members=len(active_userids),
        orders=orders,
        gmv_fen=gmv,
        days=[
            DayCounts(
                day=day,
                joins=counts[0],
                leaves=counts[1],
                messages=messages.get(day, 0),
            )
            for day, counts in sorted(per_day.items())
        ],
        messages_available=selectors.group_messages_connected(),
    )


def group_health(
    *, group: CustomerGroup, days: int = DEFAULT_DAYS, now: dt.datetime | None = None
) -> GroupHealth:
    return health_for(groups=[group], days=days, now=now)


def overall_health(*, days: int = DEFAULT_DAYS, now: dt.datetime | None = None) -> GroupHealth:
    groups = list(CustomerGroup.objects.filter(status=GroupStatus.ACTIVE))
    return health_for(groups=groups, days=days, now=now)
