"""DH-6 operations dashboard: every figure against a small history computed by hand.

Times are Asia/Shanghai wall-clock (`at(...)`); the clock is frozen at 2025-06-30 12:00 so the
repurchase windows and retention months have a fixed "now".
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import itertools
import json
from collections.abc import Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from django.contrib.auth.models import User
from django.test import Client, RequestFactory

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.datahub.dashboards.errors import (
    AcquisitionSpendInvalid,
    DashboardChannelUnknown,
    DashboardChartUnknown,
    DashboardDateInvalid,
    DashboardFilterInvalid,
    DashboardPeriodReversed,
    DashboardPeriodTooLong,
)
from freshloop.datahub.dashboards.schemas import CHARTS, DashboardFilter, dashboard_filter_parse
from freshloop.datahub.dashboards.selectors import (
    CHART_SELECTORS,
    chart_csv,
    dashboard_acquisition_cost,
    dashboard_channel_mix,
    dashboard_funnel,
    dashboard_gmv_trend,
    dashboard_live_sessions,
    dashboard_repurchase,
    dashboard_retention,
    dashboard_top_products,
    live_session_choices,
    spend_in_period,
    trend_granularity,
)
from freshloop.datahub.dashboards.services import acquisition_spend_delete, acquisition_spend_record
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.ingestion.services import track_accept
from freshloop.datahub.models import AcquisitionSpend, EventSource
from freshloop.identity.models import Person
from tests.datahub.helpers import make_source, record_server_event, track_event
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 6, 30, 12, 0, tzinfo=SHANGHAI)
MARCH = DashboardFilter(start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 31))
OPERATOR = Actor.system("tests")
_orders = itertools.count(1)


@pytest.fixture(autouse=True)
def _frozen_now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


def at(month: int, day: int, hour: int = 12, minute: int = 0, year: int = 2025) -> dt.datetime:
    return dt.datetime(year, month, day, hour, minute, tzinfo=SHANGHAI)


def march(**changes: Any) -> DashboardFilter:
    return dataclasses.replace(MARCH, **changes)


def paid(
    person: Person,
    when: dt.datetime,
    amount_fen: int,
    *,
    channel: str = "shop",
    live_session: str = "",
    order_no: str | None = None,
    lines: list[dict[str, Any]] | None = None,
    campaign: str | None = None,
) -> str:
    """A paid order as the recorder writes it (deterministic event id per order)."""
    order_no = order_no or f"FL{next(_orders):06d}"
    properties: dict[str, Any] = {
        "order_no": order_no,
        "amount_fen": amount_fen,
        "coupon_used": False,
        "lines": lines or [],
    }
    if campaign:
        properties["campaign"] = campaign
    record_server_event(
        "order_paid",
        person_id=person.pk,
        occurred_at=when,
        channel=channel,
        properties=properties,
        live_session=live_session,
        event_id=f"order_paid:{order_no}",
    )
    return order_no


def refunded(
    person: Person,
    when: dt.datetime,
    amount_fen: int,
    order_no: str,
    *,
    channel: str = "shop",
    live_session: str = "",
) -> None:
    record_server_event(
        "order_refunded",
        person_id=person.pk,
        occurred_at=when,
        channel=channel,
        properties={"order_no": order_no, "amount_fen": amount_fen},
        live_session=live_session,
        event_id=f"order_refunded:{order_no}:{next(_orders)}",
    )


def in_room(person: Person, name: str, session: str, when: dt.datetime, **properties: Any) -> None:
    """A viewer's action in a live room, as the recorder writes `LiveViewerEvent`s."""
    record_server_event(
        name,
        person_id=person.pk,
        occurred_at=when,
        channel="live",
        properties={"session_code": session, **properties},
        live_session=session,
    )


def merged(from_person: Person, into_person: Person, when: dt.datetime) -> None:
    record_server_event(
        "identity_merged",
        person_id=into_person.pk,
        occurred_at=when,
        channel="server",
        properties={"from_person_id": from_person.pk, "into_person_id": into_person.pk},
    )


def tracked(
    source: EventSource, person: Person, name: str, when: dt.datetime, **properties: Any
) -> None:
    result = track_accept(
        source=source,
        events=[track_event(name, occurred_at=when, one_id=person.one_id, properties=properties)],
    )
    assert result.accepted == 1, result.errors


def line(product_id: int, name: str, amount_fen: int, quantity: int = 1) -> dict[str, Any]:
    return {
        "sku_id": product_id * 10,
        "product_id": product_id,
        "product_name": name,
        "category": "乳品",
        "quantity": quantity,
        "amount_fen": amount_fen,
    }


def people(count: int) -> list[Person]:
    return [make_person() for _ in range(count)]


# --- the filter -------------------------------------------------------------------------------


class TestDashboardFilterParse:
    def test_no_dates_mean_the_last_30_days_up_to_today_in_shanghai(self) -> None:
        # 2025-06-30 12:00 in Shanghai: today is the 30th, 30 days back is 06-01.
        parsed = dashboard_filter_parse({})

        assert parsed == DashboardFilter(start=dt.date(2025, 6, 1), end=dt.date(2025, 6, 30))

    def test_reads_dates_channel_and_live_session(self) -> None:
        parsed = dashboard_filter_parse(
            {"start": "2025-03-01", "end": "2025-03-31", "channel": "live", "live_session": "S1"}
        )

        assert parsed == DashboardFilter(
            start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 31), channel="live", live_session="S1"
        )

    @pytest.mark.parametrize(
        ("params", "error"),
        [
            ({"start": "2025-13-01"}, DashboardDateInvalid),
            ({"start": "20250301"}, DashboardDateInvalid),
            ({"end": "yesterday"}, DashboardDateInvalid),
            ({"start": "2025-03-31", "end": "2025-03-01"}, DashboardPeriodReversed),
            ({"start": "2022-03-01", "end": "2025-03-01"}, DashboardPeriodTooLong),
            ({"channel": "tiktok"}, DashboardChannelUnknown),
            ({"channel": "server"}, DashboardChannelUnknown),
            ({"channel": "shop", "live_session": "S1"}, DashboardFilterInvalid),
        ],
    )
    def test_bad_input_is_a_typed_error_with_a_chinese_message(
        self, params: dict[str, str], error: type[Exception]
    ) -> None:
        with pytest.raises(error) as raised:
            dashboard_filter_parse(params)

        assert raised.value.status == 422  # type: ignore[attr-defined]
        assert any("\u4e00" <= char <= "\u9fff" for char in str(raised.value))

    def test_three_years_to_the_day_is_allowed(self) -> None:
        # 2022-03-01 .. 2025-02-28 is 365 + 366 (2024) + 365 = 1096 days, the maximum.
        parsed = dashboard_filter_parse({"start": "2022-03-01", "end": "2025-02-28"})

        assert parsed.days == 1096


# --- 1. funnel --------------------------------------------------------------------------------


@pytest.fixture
def funnel_history(store: EventStore) -> dict[str, Person]:
    """Shop: alice views and adds to cart and pays, bob and carol only view (carol twice).
    Live: dave joins S1, adds to cart, pays; erin only joins S1; frank joins S2 and pays.
    gina viewed in February (outside March)."""
    alice, bob, carol, dave, erin, frank, gina = people(7)
    shop = make_source("shop")[1]
    tracked(shop, alice, "product_view", at(3, 2), product_id=1)
    tracked(shop, alice, "add_to_cart", at(3, 2, 13), sku_id=10)
    tracked(shop, bob, "page_view", at(3, 3), path="/m/")
    tracked(shop, carol, "product_view", at(3, 4), product_id=1)
    tracked(shop, carol, "product_view", at(3, 5), product_id=2)
    tracked(shop, gina, "product_view", at(2, 27), product_id=1)
    paid(alice, at(3, 2, 14), 9900)
    in_room(dave, "live_join", "S1", at(3, 10, 20))
    in_room(dave, "live_add_to_cart", "S1", at(3, 10, 20, 5), sku_id=10)
    paid(dave, at(3, 10, 20, 8), 5000, channel="live", live_session="S1")
    in_room(erin, "live_join", "S1", at(3, 10, 20, 1))
    in_room(frank, "live_join", "S2", at(3, 20, 20))
    paid(frank, at(3, 20, 20, 30), 4000, channel="live", live_session="S2")
    buffer_flush_all(store=store)
    return {"alice": alice, "bob": bob, "carol": carol}


class TestDashboardFunnel:
    def test_counts_unique_people_per_step_with_step_rates(
        self, store: EventStore, funnel_history: dict[str, Person]
    ) -> None:
        result = dashboard_funnel(MARCH, store=store)

        # view: alice, bob, carol (twice, once), dave, erin, frank = 6 (gina is February)
        # cart: alice, dave = 2;  pay: alice, dave, frank = 3
        assert [s["people"] for s in result["steps"]] == [6, 2, 3]
        assert [s["rate_from_previous"] for s in result["steps"]] == [None, 2 / 6, 3 / 2]
        assert result["overall_rate"] == 3 / 6

    def test_a_channel_keeps_that_channels_events_and_orders(
        self, store: EventStore, funnel_history: dict[str, Person]
    ) -> None:
        result = dashboard_funnel(march(channel="shop"), store=store)

        # shop views: alice, bob, carol = 3; shop cart: alice = 1; shop orders: alice = 1
        assert [s["people"] for s in result["steps"]] == [3, 1, 1]
        assert result["overall_rate"] == 1 / 3

    def test_a_live_session_uses_its_room_and_its_orders(
        self, store: EventStore, funnel_history: dict[str, Person]
    ) -> None:
        result = dashboard_funnel(march(live_session="S1"), store=store)

        # S1 joins: dave, erin = 2; S1 add-to-cart: dave = 1; orders paid in S1: dave = 1
        assert [s["people"] for s in result["steps"]] == [2, 1, 1]
        assert result["overall_rate"] == 1 / 2

    def test_a_merged_person_counts_once(
        self, store: EventStore, funnel_history: dict[str, Person]
    ) -> None:
        merged(funnel_history["carol"], funnel_history["bob"], at(3, 6))
        buffer_flush_all(store=store)

        result = dashboard_funnel(MARCH, store=store)

        # carol now is bob: viewers alice, bob, dave, erin, frank = 5
        assert [s["people"] for s in result["steps"]] == [5, 2, 3]

    def test_an_empty_store_gives_zeros_not_errors(self, store: EventStore) -> None:
        result = dashboard_funnel(MARCH, store=store)

        assert [s["people"] for s in result["steps"]] == [0, 0, 0]
        assert result["overall_rate"] is None
        assert result["empty"] is True


# --- 2. acquisition cost ----------------------------------------------------------------------


@pytest.fixture
def acquisition_history(store: EventStore) -> dict[str, Person]:
    """New in March: alice (shop, campaign 春季投放), dave (live S1), frank (live S2).
    Not new: bob (first order January), gina (first order April), ivy (paid first in March but
    merged into hank, whose first order was February)."""
    alice, bob, dave, frank, gina, hank, ivy = people(7)
    paid(alice, at(3, 5), 9900, campaign="春季投放")
    paid(bob, at(1, 10), 5000)
    paid(bob, at(3, 7), 5000)
    paid(dave, at(3, 10, 20), 5000, channel="live", live_session="S1")
    paid(frank, at(3, 20, 20), 4000, channel="live", live_session="S2")
    paid(gina, at(4, 2), 3000, channel="live", live_session="S3")
    paid(hank, at(2, 20), 2000)
    paid(ivy, at(3, 12), 2500)
    merged(ivy, hank, at(3, 25))
    buffer_flush_all(store=store)
    for channel, campaign, starts_on, ends_on, amount_fen in [
        ("live", "", dt.date(2025, 2, 15), dt.date(2025, 3, 16), 30000),
        ("live", "S1", dt.date(2025, 3, 10), dt.date(2025, 3, 10), 5000),
        ("shop", "春季投放", dt.date(2025, 3, 1), dt.date(2025, 4, 29), 12000),
        ("shop", "", dt.date(2025, 4, 1), dt.date(2025, 4, 30), 99900),
    ]:
        acquisition_spend_record(
            channel=channel,
            campaign=campaign,
            starts_on=starts_on,
            ends_on=ends_on,
            amount_fen=amount_fen,
            actor=OPERATOR,
        )
    return {"ivy": ivy, "hank": hank}


class TestSpendInPeriod:
    def test_prorates_by_overlapping_days_half_up(self) -> None:
        spend = AcquisitionSpend(
            channel="live",
            starts_on=dt.date(2025, 2, 15),
            ends_on=dt.date(2025, 3, 16),
            amount_fen=100,
        )

        # 30 days covered (Feb 15..Mar 16), 16 of them in March: 100 × 16 / 30 = 53.33 → 53
        assert spend_in_period(spend, MARCH.start, MARCH.end) == 53
        # one day of 30: 3.33 → 3;  nothing after the spend ended
        assert spend_in_period(spend, dt.date(2025, 3, 16), dt.date(2025, 3, 20)) == 3
        assert spend_in_period(spend, dt.date(2025, 3, 17), dt.date(2025, 3, 20)) == 0


class TestDashboardAcquisitionCost:
    def test_spend_per_new_customer_per_channel_and_campaign(
        self, store: EventStore, acquisition_history: dict[str, Person]
    ) -> None:
        result = dashboard_acquisition_cost(MARCH, store=store)

        # live spend in March: 30000 × 16/30 = 16000, plus S1's 5000 = 21000; new: dave, frank
        # live / S1: 5000 ÷ dave = 5000
        # shop spend: 12000 × 31/60 = 6200 (the April record is outside); new: alice → 6200
        # shop / 春季投放: 6200 ÷ alice (her first order carried the campaign) = 6200
        assert [
            (r["channel"], r["campaign"], r["spend_fen"], r["new_customers"], r["cac_fen"])
            for r in result["rows"]
        ] == [
            ("live", "", 21000, 2, 10500),
            ("live", "S1", 5000, 1, 5000),
            ("shop", "", 6200, 1, 6200),
            ("shop", "春季投放", 6200, 1, 6200),
        ]
        # total: (21000 + 6200) ÷ 3 = 9066.67 → 9067
        assert result["total"] == {"spend_fen": 27200, "new_customers": 3, "cac_fen": 9067}

    def test_a_merged_person_is_new_only_if_the_survivor_is(
        self, store: EventStore, acquisition_history: dict[str, Person]
    ) -> None:
        result = dashboard_acquisition_cost(march(channel="shop"), store=store)

        # ivy's March order is hank's second order (hank's first: February): shop new = alice
        assert result["rows"][0]["new_customers"] == 1

    def test_channel_and_live_session_filters(
        self, store: EventStore, acquisition_history: dict[str, Person]
    ) -> None:
        live = dashboard_acquisition_cost(march(channel="live"), store=store)
        session = dashboard_acquisition_cost(march(live_session="S1"), store=store)

        assert [(r["campaign"], r["cac_fen"]) for r in live["rows"]] == [("", 10500), ("S1", 5000)]
        assert [(r["campaign"], r["spend_fen"], r["new_customers"]) for r in session["rows"]] == [
            ("S1", 5000, 1)
        ]

    def test_spend_without_new_customers_has_no_cost_per_customer(self, store: EventStore) -> None:
        acquisition_spend_record(
            channel="groupbuy",
            campaign="",
            starts_on=dt.date(2025, 3, 1),
            ends_on=dt.date(2025, 3, 31),
            amount_fen=8000,
            actor=OPERATOR,
        )

        result = dashboard_acquisition_cost(MARCH, store=store)

        assert result["rows"] == [
            {
                "channel": "groupbuy",
                "channel_label": "社区团购",
                "campaign": "",
                "spend_fen": 8000,
                "new_customers": 0,
                "cac_fen": None,
            }
        ]


# --- 3. repurchase ----------------------------------------------------------------------------


@pytest.fixture
def repurchase_history(store: EventStore) -> None:
    """Cohort of March–May (now: 2025-06-30):
    a first 03-01, again 03-20 (19 days)      b first 03-02, again 04-20 (49 days)
    c first 03-03, again 05-25 (83 days)      d first 03-05 (live), never again
    e first 05-10, again 05-15 (5 days)       f first 06-05: outside the period
    g first January, again in March: not new"""
    a, b, c, d, e, f, g = people(7)
    paid(a, at(3, 1, 10), 1000)
    paid(a, at(3, 20), 1000, channel="groupbuy")
    paid(b, at(3, 2), 1000)
    paid(b, at(4, 20), 1000)
    paid(c, at(3, 3), 1000)
    paid(c, at(5, 25), 1000)
    paid(d, at(3, 5), 1000, channel="live", live_session="S1")
    paid(e, at(5, 10), 1000)
    paid(e, at(5, 15), 1000)
    paid(f, at(6, 5), 1000)
    paid(f, at(6, 6), 1000)
    paid(g, at(1, 5), 1000)
    paid(g, at(3, 10), 1000)
    buffer_flush_all(store=store)


class TestDashboardRepurchase:
    PERIOD = DashboardFilter(start=dt.date(2025, 3, 1), end=dt.date(2025, 5, 31))

    def test_shares_of_mature_new_customers_who_paid_again(
        self, store: EventStore, repurchase_history: None
    ) -> None:
        result = dashboard_repurchase(self.PERIOD, store=store)

        # cohort a b c d e = 5
        # 30 days: all 5 mature (e: 05-10 + 30 = 06-09 ≤ 06-30); again a, e → 2/5
        # 60 days: e immature (07-09); a b c d mature; again a, b → 2/4
        # 90 days: e immature; a: 03-01 + 90 = 05-30 ≤ 06-30 mature; again a, b, c → 3/4
        assert result["cohort"] == 5
        assert [
            (w["days"], w["eligible"], w["repurchased"], w["immature"], w["rate"])
            for w in result["windows"]
        ] == [(30, 5, 2, 0, 2 / 5), (60, 4, 2, 1, 2 / 4), (90, 4, 3, 1, 3 / 4)]

    def test_a_channel_picks_the_cohort_by_its_first_order(
        self, store: EventStore, repurchase_history: None
    ) -> None:
        result = dashboard_repurchase(dataclasses.replace(self.PERIOD, channel="live"), store=store)

        # first orders in live: d only, who never came back → 0/1 in every window
        assert result["cohort"] == 1
        assert [w["rate"] for w in result["windows"]] == [0.0, 0.0, 0.0]

    def test_a_recent_period_has_no_mature_customers_yet(
        self, store: EventStore, repurchase_history: None
    ) -> None:
        june = DashboardFilter(start=dt.date(2025, 6, 1), end=dt.date(2025, 6, 30))

        result = dashboard_repurchase(june, store=store)

        # f: first 06-05 + 30 = 07-05 > now: nobody is mature, no rate rather than 0%
        assert result["cohort"] == 1
        assert [(w["eligible"], w["immature"], w["rate"]) for w in result["windows"]] == [
            (0, 1, None),
            (0, 1, None),
            (0, 1, None),
        ]


# --- 4. GMV trend -----------------------------------------------------------------------------


@pytest.fixture
def gmv_history(store: EventStore) -> None:
    buyer, other = people(2)
    first = paid(buyer, at(3, 1, 9), 10000)
    paid(other, at(3, 1, 10), 5000, channel="live", live_session="S1")
    # 23:30 in Shanghai is still the 3rd (15:30 UTC)
    paid(buyer, at(3, 3, 23, 30), 8000, order_no="FL-LATE")
    refunded(buyer, at(3, 3, 11), 2000, first)
    # 00:30 on the 8th in Shanghai (16:30 UTC on the 7th): outside 03-01..03-07
    paid(other, at(3, 8, 0, 30), 7000)
    refunded(buyer, at(3, 8), 1000, first)
    buffer_flush_all(store=store)


class TestDashboardGmvTrend:
    WEEK = DashboardFilter(start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 7))

    def test_paid_minus_refunded_and_orders_per_shanghai_day(
        self, store: EventStore, gmv_history: None
    ) -> None:
        result = dashboard_gmv_trend(self.WEEK, store=store)

        assert result["granularity"] == "day"
        assert [p["start"] for p in result["points"]] == [f"2025-03-0{d}" for d in range(1, 8)]
        # 03-01: 10000 + 5000, 2 orders;  03-03: 8000 paid − 2000 refunded, 1 order
        assert [(p["gmv_fen"], p["orders"]) for p in result["points"]] == [
            (15000, 2),
            (0, 0),
            (6000, 1),
            (0, 0),
            (0, 0),
            (0, 0),
            (0, 0),
        ]
        assert result["total"] == {
            "paid_fen": 23000,
            "refunded_fen": 2000,
            "gmv_fen": 21000,
            "orders": 3,
        }

    def test_a_channel_filter(self, store: EventStore, gmv_history: None) -> None:
        result = dashboard_gmv_trend(dataclasses.replace(self.WEEK, channel="shop"), store=store)

        # shop: 10000 + 8000 − 2000 = 16000 over 2 orders
        assert result["total"]["gmv_fen"] == 16000
        assert result["total"]["orders"] == 2

    def test_an_order_reported_twice_counts_once(
        self, store: EventStore, gmv_history: None
    ) -> None:
        partner = make_source("partner")[1]
        buyer = make_person()
        tracked(partner, buyer, "order_paid", at(3, 3, 23, 30), order_no="FL-LATE", amount_fen=8000)
        buffer_flush_all(store=store)

        result = dashboard_gmv_trend(self.WEEK, store=store)

        assert result["total"]["orders"] == 3
        assert result["total"]["gmv_fen"] == 21000

    def test_long_periods_are_bucketed_by_week_then_month(
        self, store: EventStore, gmv_history: None
    ) -> None:
        half_year = DashboardFilter(start=dt.date(2025, 1, 1), end=dt.date(2025, 6, 30))
        two_years = DashboardFilter(start=dt.date(2024, 1, 1), end=dt.date(2025, 6, 30))

        weekly = dashboard_gmv_trend(half_year, store=store)

        assert trend_granularity(MARCH) == "day"
        assert weekly["granularity"] == "week"
        assert trend_granularity(two_years) == "month"
        # the first week is clipped to the period: Wed 01-01 .. Sun 01-05
        assert (weekly["points"][0]["start"], weekly["points"][0]["end"]) == (
            "2025-01-01",
            "2025-01-05",
        )
        by_start = {p["start"]: p for p in weekly["points"]}
        # Sat 03-01 is in the week of Mon 02-24; Mon 03-03 starts a week; Sat 03-08 in it too
        assert by_start["2025-02-24"]["gmv_fen"] == 15000
        # 03-03: 8000 − 2000; 03-08: 7000 − 1000 → 12000 over 2 orders
        assert (by_start["2025-03-03"]["gmv_fen"], by_start["2025-03-03"]["orders"]) == (12000, 2)
        monthly = dashboard_gmv_trend(two_years, store=store)
        assert len(monthly["points"]) == 18
        assert {p["label"]: p["gmv_fen"] for p in monthly["points"]}["2025-03"] == 15000 + 12000


# --- 5. retention -----------------------------------------------------------------------------


class TestDashboardRetention:
    def test_monthly_cohorts_paying_again_in_later_months(self, store: EventStore) -> None:
        p1, p2, p3, p4, old = people(5)
        paid(p1, at(3, 5), 1000)
        paid(p1, at(4, 10), 1000)
        paid(p1, at(6, 2), 1000)
        paid(p2, at(3, 20), 1000)
        paid(p2, at(5, 1), 1000)
        paid(p3, at(3, 25), 1000)
        paid(p4, at(4, 2), 1000)
        paid(p4, at(4, 28), 1000)  # the same month: not a later month
        paid(p4, at(5, 3), 1000)
        paid(old, at(1, 3), 1000)
        paid(old, at(3, 9), 1000)  # January's customer, not March's
        buffer_flush_all(store=store)
        period = DashboardFilter(start=dt.date(2025, 3, 15), end=dt.date(2025, 4, 10))

        result = dashboard_retention(period, store=store)

        # months after March up to June (now): 3 columns
        assert result["max_offset"] == 3
        march_row, april_row = result["cohorts"]
        # March (the whole month, though the period starts on the 15th): p1 p2 p3
        #   +1 April: p1 → 1/3;  +2 May: p2 → 1/3;  +3 June: p1 → 1/3 (June still running)
        assert (march_row["month"], march_row["size"]) == ("2025-03", 3)
        assert [(c["people"], c["rate"], c["in_progress"]) for c in march_row["cells"]] == [
            (1, 1 / 3, False),
            (1, 1 / 3, False),
            (1, 1 / 3, True),
        ]
        # April: p4  +1 May: 1/1;  +2 June: 0/1;  +3 July: not yet
        assert (april_row["month"], april_row["size"]) == ("2025-04", 1)
        assert april_row["cells"][0]["rate"] == 1.0
        assert april_row["cells"][1]["rate"] == 0.0
        assert april_row["cells"][2] is None

    def test_an_empty_store(self, store: EventStore) -> None:
        result = dashboard_retention(MARCH, store=store)

        assert result["empty"] is True
        assert result["cohorts"][0]["size"] == 0


# --- 6. channel mix ---------------------------------------------------------------------------


class TestDashboardChannelMix:
    def test_gmv_orders_and_share_per_channel(self, store: EventStore) -> None:
        a, b = people(2)
        first = paid(a, at(3, 2), 10000)
        paid(b, at(3, 4), 8000)
        refunded(a, at(3, 9), 2000, first)
        paid(a, at(3, 10), 5000, channel="live", live_session="S1")
        paid(b, at(3, 11), 3000, channel="groupbuy")
        paid(b, at(4, 1), 9999, channel="groupbuy")  # April
        buffer_flush_all(store=store)

        result = dashboard_channel_mix(MARCH, store=store)

        # shop 10000 + 8000 − 2000 = 16000 (2 orders); live 5000 (1); groupbuy 3000 (1)
        # total 24000
        assert [
            (r["channel"], r["gmv_fen"], r["orders"], r["gmv_share"]) for r in result["rows"]
        ] == [
            ("live", 5000, 1, 5000 / 24000),
            ("shop", 16000, 2, 16000 / 24000),
            ("groupbuy", 3000, 1, 3000 / 24000),
        ]
        assert result["total_gmv_fen"] == 24000


# --- 7. top products --------------------------------------------------------------------------


class TestDashboardTopProducts:
    def test_the_ten_products_with_the_most_line_gmv(self, store: EventStore) -> None:
        a, b = people(2)
        # product 1 in two orders: 3000 + 4500 = 7500 (3 units); products 2..11: 100 × id
        paid(a, at(3, 2), 3000, lines=[line(1, "牧场鲜奶", 3000, 2)])
        paid(
            b, at(3, 3), 4500, lines=[line(1, "牧场鲜奶", 4500)], channel="live", live_session="S1"
        )
        paid(
            a,
            at(3, 4),
            sum(100 * i for i in range(2, 12)),
            lines=[line(i, f"商品{i}", 100 * i) for i in range(2, 12)],
        )
        paid(b, at(4, 1), 99999, lines=[line(99, "四月新品", 99999)])
        buffer_flush_all(store=store)

        result = dashboard_top_products(MARCH, store=store)

        # 7500, then 1100 (商品11) down to 300 (商品3); 商品2 (200) is 11th; April's is out
        assert [(r["product_name"], r["gmv_fen"]) for r in result["rows"]] == [
            ("牧场鲜奶", 7500),
            *((f"商品{i}", 100 * i) for i in range(11, 2, -1)),
        ]
        assert (result["rows"][0]["quantity"], result["rows"][0]["orders"]) == (3, 2)

    def test_channel_and_live_session_filters(self, store: EventStore) -> None:
        a = make_person()
        paid(a, at(3, 2), 3000, lines=[line(1, "牧场鲜奶", 3000)])
        paid(a, at(3, 3), 800, lines=[line(2, "酸奶", 800)], channel="live", live_session="S1")
        paid(a, at(3, 4), 600, lines=[line(3, "奶酪", 600)], channel="live", live_session="S2")
        buffer_flush_all(store=store)

        shop = dashboard_top_products(march(channel="shop"), store=store)
        session = dashboard_top_products(march(live_session="S1"), store=store)

        assert [r["product_name"] for r in shop["rows"]] == ["牧场鲜奶"]
        assert [r["product_name"] for r in session["rows"]] == ["酸奶"]


# --- 8. live sessions -------------------------------------------------------------------------


@pytest.fixture
def live_history(store: EventStore) -> None:
    dave, erin, gina, frank = people(4)
    in_room(dave, "live_join", "S1", at(3, 10, 20))
    in_room(erin, "live_join", "S1", at(3, 10, 20, 1))
    in_room(gina, "live_join", "S1", at(3, 10, 20, 2))
    in_room(dave, "live_heartbeat", "S1", at(3, 10, 20, 1), dwell_seconds=60)
    in_room(dave, "live_heartbeat", "S1", at(3, 10, 20, 2), dwell_seconds=120)
    in_room(dave, "live_leave", "S1", at(3, 10, 20, 5), dwell_seconds=300)
    in_room(erin, "live_heartbeat", "S1", at(3, 10, 20, 3), dwell_seconds=90)
    in_room(dave, "live_comment", "S1", at(3, 10, 20, 1), length=4)
    in_room(dave, "live_comment", "S1", at(3, 10, 20, 2), length=6)
    in_room(erin, "live_comment", "S1", at(3, 10, 20, 2), length=2)
    in_room(dave, "live_click_product", "S1", at(3, 10, 20, 3), sku_id=10)
    in_room(dave, "live_click_product", "S1", at(3, 10, 20, 3), sku_id=20)
    in_room(dave, "live_add_to_cart", "S1", at(3, 10, 20, 4), sku_id=10)
    in_room(erin, "live_add_to_cart", "S1", at(3, 10, 20, 4), sku_id=20)
    first = paid(dave, at(3, 10, 20, 4), 5000, channel="live", live_session="S1")
    paid(dave, at(3, 10, 20, 5), 3000, channel="live", live_session="S1")
    paid(erin, at(3, 10, 20, 5), 2000, channel="live", live_session="S1")
    refunded(dave, at(3, 12), 1000, first, channel="live", live_session="S1")
    in_room(frank, "live_join", "S2", at(3, 20, 20))
    paid(frank, at(3, 20, 20, 30), 4000, channel="live", live_session="S2")
    in_room(frank, "live_join", "S3", at(4, 2, 20))  # April
    buffer_flush_all(store=store)


class TestDashboardLiveSessions:
    def test_one_row_per_session_latest_first(self, store: EventStore, live_history: None) -> None:
        result = dashboard_live_sessions(MARCH, store=store)

        s2, s1 = result["rows"]
        # S1: viewers dave erin gina = 3; dwell max per viewer 300, 90, 0 → 390 / 3 = 130 s
        # comments 2 + 1 = 3; clicks 2; add-to-cart 2; orders 3: 5000 + 3000 + 2000 − 1000
        # buyers dave erin = 2 → conversion 2/3
        assert {k: v for k, v in s1.items() if k not in ("first_at", "title")} == {
            "live_session": "S1",
            "viewers": 3,
            "average_dwell_seconds": 130,
            "comments": 3,
            "product_clicks": 2,
            "add_to_cart": 2,
            "orders": 3,
            "gmv_fen": 9000,
            "buyers": 2,
            "conversion": 2 / 3,
        }
        assert (s2["live_session"], s2["viewers"], s2["gmv_fen"], s2["conversion"]) == (
            "S2",
            1,
            4000,
            1.0,
        )

    def test_filters(self, store: EventStore, live_history: None) -> None:
        only_s1 = dashboard_live_sessions(march(live_session="S1"), store=store)
        shop = dashboard_live_sessions(march(channel="shop"), store=store)

        assert [r["live_session"] for r in only_s1["rows"]] == ["S1"]
        assert shop["rows"] == []
        assert shop["empty"] is True

    def test_session_titles_come_from_the_live_module(self, store: EventStore) -> None:
        from tests.live.helpers import make_session

        session = make_session(status="scheduled")
        in_room(make_person(), "live_join", session.code, at(3, 10))
        buffer_flush_all(store=store)

        result = dashboard_live_sessions(MARCH, store=store)
        choices = live_session_choices(store=store)

        assert result["rows"][0]["title"] == session.title
        assert choices == [{"code": session.code, "title": session.title, "day": "2025-03-10"}]


# --- CSV --------------------------------------------------------------------------------------


class TestChartSelectors:
    def test_every_chart_has_one_selector_and_every_selector_a_chart(self) -> None:
        assert list(CHART_SELECTORS) == list(CHARTS)


class TestChartCsv:
    def test_funnel_csv_has_a_bom_and_chinese_headers(
        self, store: EventStore, funnel_history: dict[str, Person]
    ) -> None:
        text = chart_csv("funnel", MARCH, store=store)

        assert text.startswith("\ufeff")
        assert text[1:].splitlines() == [
            "环节,人数,环节转化率",
            "浏览,6,",
            "加购,2,33.33%",  # 2 / 6
            "支付,3,150.00%",  # 3 / 2
        ]

    def test_money_is_in_yuan(self, store: EventStore, gmv_history: None) -> None:
        week = DashboardFilter(start=dt.date(2025, 3, 1), end=dt.date(2025, 3, 3))

        lines = chart_csv("gmv", week, store=store)[1:].splitlines()

        assert lines[0] == "开始日期,结束日期,支付金额(元),退款金额(元),GMV(元),支付订单数"
        assert lines[1] == "2025-03-01,2025-03-01,150.00,0.00,150.00,2"
        assert lines[3] == "2025-03-03,2025-03-03,80.00,20.00,60.00,1"

    def test_typed_text_cannot_become_an_excel_formula(self, store: EventStore) -> None:
        paid(make_person(), at(3, 2), 100, lines=[line(1, '=HYPERLINK("x")', 100)])
        buffer_flush_all(store=store)

        text = chart_csv("products", MARCH, store=store)

        assert '"\'=HYPERLINK(""x"")"' in text

    def test_every_chart_has_a_csv_even_when_empty(self, store: EventStore) -> None:
        for name in (
            "funnel",
            "cac",
            "repurchase",
            "gmv",
            "retention",
            "channels",
            "products",
            "live-sessions",
        ):
            text = chart_csv(name, MARCH, store=store)
            assert text.startswith("\ufeff"), name
            assert text.count("\n") >= 1, name

    def test_unknown_chart(self, store: EventStore) -> None:
        with pytest.raises(DashboardChartUnknown):
            chart_csv("profit", MARCH, store=store)


# --- the spend service and its admin ----------------------------------------------------------


class TestAcquisitionSpendRecord:
    def test_records_and_audits(self) -> None:
        spend = acquisition_spend_record(
            channel="live",
            campaign=" 千川 3 月 ",
            starts_on=dt.date(2025, 3, 1),
            ends_on=dt.date(2025, 3, 31),
            amount_fen=120000,
            actor=OPERATOR,
            note="投放后台导出",
        )

        assert (spend.campaign, spend.amount_fen, spend.created_by) == (
            "千川 3 月",
            120000,
            "tests",
        )
        audit = AuditLog.objects.get(action="datahub.acquisition_spend_record")
        assert audit.target_id == str(spend.pk)
        assert audit.after is not None
        assert audit.after["amount_fen"] == 120000

    @pytest.mark.parametrize(
        ("changes", "message"),
        [
            ({"channel": "tiktok"}, "未知的渠道"),
            ({"channel": "server"}, "未知的渠道"),
            ({"ends_on": dt.date(2025, 2, 28)}, "结束日期不能早于开始日期"),
            ({"amount_fen": 0}, "花费金额应大于 0"),
            ({"amount_fen": -5}, "花费金额应大于 0"),
            ({"campaign": "活" * 65}, "活动名称不能超过 64 个字"),
        ],
    )
    def test_rejects_bad_input_and_writes_nothing(
        self, changes: dict[str, Any], message: str
    ) -> None:
        arguments: dict[str, Any] = {
            "channel": "live",
            "campaign": "",
            "starts_on": dt.date(2025, 3, 1),
            "ends_on": dt.date(2025, 3, 31),
            "amount_fen": 100,
            **changes,
        }

        with pytest.raises(AcquisitionSpendInvalid, match=message):
            acquisition_spend_record(actor=OPERATOR, **arguments)

        assert not AcquisitionSpend.objects.exists()
        assert not AuditLog.objects.filter(action__startswith="datahub.acquisition").exists()

    def test_delete_is_audited(self) -> None:
        spend = acquisition_spend_record(
            channel="shop",
            campaign="",
            starts_on=dt.date(2025, 3, 1),
            ends_on=dt.date(2025, 3, 1),
            amount_fen=100,
            actor=OPERATOR,
        )

        acquisition_spend_delete(spend=spend, actor=OPERATOR)

        assert not AcquisitionSpend.objects.exists()
        audit = AuditLog.objects.get(action="datahub.acquisition_spend_delete")
        assert audit.before is not None
        assert audit.before["amount_fen"] == 100


class TestAcquisitionSpendAdmin:
    def test_the_form_takes_yuan_and_saves_through_the_service(self) -> None:
        from django.contrib import admin

        from freshloop.datahub.admin import AcquisitionSpendAdmin, AcquisitionSpendForm

        user = make_staff_user("boss", superuser=True)
        request = RequestFactory().post("/admin/")
        request.user = user
        form = AcquisitionSpendForm(
            data={
                "channel": "live",
                "campaign": "S1",
                "starts_on": "2025-03-10",
                "ends_on": "2025-03-10",
                "amount_yuan": "50.5",
            }
        )
        assert form.is_valid(), form.errors
        model_admin = AcquisitionSpendAdmin(AcquisitionSpend, admin.site)

        model_admin.save_model(request, form.instance, form, change=False)

        spend = AcquisitionSpend.objects.get()
        assert (spend.amount_fen, spend.created_by) == (5050, "boss")
        assert AuditLog.objects.filter(action="datahub.acquisition_spend_record").count() == 1

    def test_the_form_shows_the_services_refusal(self) -> None:
        from freshloop.datahub.admin import AcquisitionSpendForm

        form = AcquisitionSpendForm(
            data={
                "channel": "live",
                "starts_on": "2025-03-10",
                "ends_on": "2025-03-01",
                "amount_yuan": "10",
            }
        )

        assert not form.is_valid()
        assert form.errors["ends_on"] == ["结束日期不能早于开始日期"]


# --- the pages --------------------------------------------------------------------------------


@pytest.fixture
def marketer_client() -> Client:
    client = Client()
    client.force_login(make_staff_user("marketer", Role.MARKETER))
    return client


class TestDashboardPage:
    def test_a_marketer_gets_the_dashboard(
        self, store: EventStore, marketer_client: Client
    ) -> None:
        response = marketer_client.get("/console/data/")

        page = response.content.decode()
        assert response.status_code == 200
        assert "数据看板" in page
        assert "vendor/echarts/echarts.min.js" in page
        assert "datahub/dashboard.js" in page
        for name in ("funnel", "cac", "repurchase", "gmv", "retention", "channels", "products"):
            assert f'data-chart="{name}"' in page, name
        assert "下载 CSV" in page
        for period in ("近7天", "近30天", "近90天", "自定义"):
            assert period in page, period

    def test_a_customer_without_a_role_is_refused(self, store: EventStore) -> None:
        client = Client()
        client.force_login(User.objects.create_user(username="shopper", password="x-1234"))

        assert client.get("/console/data/").status_code == 403
        assert client.get("/console/data/charts/funnel").status_code == 403

    def test_other_staff_roles_are_refused(self, store: EventStore) -> None:
        client = Client()
        client.force_login(make_staff_user("cs", Role.CUSTOMER_SERVICE))

        assert client.get("/console/data/").status_code == 403

    def test_anonymous_visitors_go_to_the_login_page(self, store: EventStore) -> None:
        response = Client().get("/console/data/charts/funnel")

        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")

    def test_a_bad_filter_in_the_address_still_renders_with_the_default(
        self, store: EventStore, marketer_client: Client
    ) -> None:
        response = marketer_client.get("/console/data/?start=nope")

        assert response.status_code == 200
        assert "日期格式不正确" in response.content.decode()


class TestDashboardChartEndpoint:
    def test_json_for_a_chart(
        self, store: EventStore, funnel_history: dict[str, Person], marketer_client: Client
    ) -> None:
        response = marketer_client.get(
            "/console/data/charts/funnel", {"start": "2025-03-01", "end": "2025-03-31"}
        )

        body = response.json()
        assert response.status_code == 200
        assert body["chart"] == "funnel"
        assert body["filter"] == {
            "start": "2025-03-01",
            "end": "2025-03-31",
            "channel": None,
            "live_session": None,
        }
        assert [s["people"] for s in body["data"]["steps"]] == [6, 2, 3]

    def test_csv_download(
        self, store: EventStore, funnel_history: dict[str, Person], marketer_client: Client
    ) -> None:
        response = marketer_client.get(
            "/console/data/charts/funnel",
            {"start": "2025-03-01", "end": "2025-03-31", "format": "csv"},
        )

        assert response.status_code == 200
        assert response["Content-Type"] == "text/csv; charset=utf-8"
        assert "attachment" in response["Content-Disposition"]
        assert response.content.startswith(b"\xef\xbb\xbf\xe7\x8e\xaf\xe8\x8a\x82")  # BOM + 环节
        assert response.content.decode("utf-8-sig").splitlines()[1] == "浏览,6,"

    @pytest.mark.parametrize(
        ("path", "params", "status", "code"),
        [
            ("funnel", {"start": "2025-02-30"}, 422, "dashboard_date_invalid"),
            (
                "funnel",
                {"start": "2025-03-31", "end": "2025-03-01"},
                422,
                "dashboard_period_reversed",
            ),
            ("gmv", {"start": "2020-01-01", "end": "2025-01-01"}, 422, "dashboard_period_too_long"),
            ("channels", {"channel": "moon"}, 422, "dashboard_channel_unknown"),
            ("cac", {"channel": "shop", "live_session": "S1"}, 422, "dashboard_filter_invalid"),
            ("profit", {}, 404, "dashboard_chart_unknown"),
            ("funnel", {"format": "xlsx"}, 400, "dashboard_format_unknown"),
        ],
    )
    def test_bad_requests_get_a_coded_chinese_error(
        self,
        store: EventStore,
        marketer_client: Client,
        path: str,
        params: dict[str, str],
        status: int,
        code: str,
    ) -> None:
        response = marketer_client.get(f"/console/data/charts/{path}", params)

        assert response.status_code == status
        body = json.loads(response.content)
        assert body["code"] == code
        assert any("\u4e00" <= char <= "\u9fff" for char in body["message"])

    @pytest.mark.parametrize(
        "name",
        [
            "funnel",
            "cac",
            "repurchase",
            "gmv",
            "retention",
            "channels",
            "products",
            "live-sessions",
        ],
    )
    def test_every_chart_answers_on_an_empty_store(
        self, store: EventStore, marketer_client: Client, name: str
    ) -> None:
        response = marketer_client.get(f"/console/data/charts/{name}")

        assert response.status_code == 200
        assert response.json()["data"]["empty"] is True
