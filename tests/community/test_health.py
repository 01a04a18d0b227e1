"""Group health: members, joins and leaves per day, active members, members' orders and GMV."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.community.health import group_health, overall_health
from freshloop.community.inbound import group_messages_store
from freshloop.community.schemas import InboundMessageIn
from freshloop.core import clock
from freshloop.messaging.wecom import sandbox_group_leave
from tests.community.helpers import chat_changed, committed, join, make_group, person_of
from tests.factories import make_order, make_sku
from tests.orders.helpers import pay

pytestmark = pytest.mark.django_db

DAY1 = dt.datetime(2026, 12, 1, 2, 0, tzinfo=dt.UTC)  # 10:00 Shanghai, 1 December


class TestGroupHealth:
    def test_the_numbers_of_one_group(self) -> None:
        with clock.frozen(DAY1 - dt.timedelta(days=10)):
            group = make_group("wr_a", customers=2)  # joined long ago: not active by joining
        with clock.frozen(DAY1):
            join("wr_a", 3)
        with clock.frozen(DAY1 + dt.timedelta(days=1)):
            sandbox_group_leave(chat_id="wr_a", userid="wm_group_0002")
            chat_changed("wr_a", update_detail="del_member")
        with clock.frozen(DAY1 + dt.timedelta(days=2)):
            order = make_order(
                person_of("wr_a", "wm_group_0001"), (make_sku(price_fen=2500, stock=3), 2)
            )
            with committed():
                order = pay(order)

        health = group_health(group=group, days=7, now=DAY1 + dt.timedelta(days=3))

        assert (health.members, health.customers) == (3, 2)  # owner + 0001 + 0003
        assert (health.joins, health.leaves) == (1, 1)
        by_day = {day.day.isoformat(): (day.joins, day.leaves) for day in health.days}
        assert by_day["2026-12-01"] == (1, 0)
        assert by_day["2026-12-02"] == (0, 1)
        assert len(health.days) == 7
        assert health.active_members == 2  # 0003 joined, 0001 ordered, within 7 days
        assert (health.orders, health.gmv_fen) == (1, order.paid_fen)
        assert health.messages_available is False  # no 会话存档 relay has posted yet
        assert all(day.messages == 0 for day in health.days)

    def test_relayed_messages_count_per_day_and_make_speakers_active(self) -> None:
        # given a group whose two customers joined long ago, and a 会话存档 relay posting
        # one customer's two messages on 1 December
        with clock.frozen(DAY1 - dt.timedelta(days=10)):
            group = make_group("wr_m", customers=2)
        sent_ms = int(DAY1.timestamp() * 1000)
        group_messages_store(
            messages=[
                InboundMessageIn(
                    msgid=f"m{n}",
                    chat_id="wr_m",
                    sender="wm_group_0002",
                    sender_type="customer",
                    sent_at=sent_ms + n,
                    msgtype="text",
                    text="今天的牛奶到了吗",
                )
                for n in (1, 2)
            ]
        )

        # when health is read two days later
        health = group_health(group=group, days=7, now=DAY1 + dt.timedelta(days=2))

        # then the day shows two messages and the speaker counts as active
        assert health.messages_available is True
        by_day = {day.day.isoformat(): day.messages for day in health.days}
        assert by_day["2026-12-01"] == 2
        assert sum(by_day.values()) == 2
        assert health.active_members == 1

    def test_overall_adds_the_groups_up(self) -> None:
        make_group("wr_a", customers=2)
        make_group("wr_b", customers=3, first=10)
        health = overall_health()
        assert health.customers == 5
        assert (
            health.groups == 2
        )  # the groups FreshLoop knows (the sandbox's seed group is not synced)
