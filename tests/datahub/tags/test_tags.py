"""DH-4 computed and manual tags, on small histories computed by hand.

Times are Asia/Shanghai wall-clock; the clock is frozen at 2025-06-30 12:00 there, so "today"
is the business day 2025-06-30 and `ago(n)` is noon of the day n calendar days before. Orders
and refunds are written as the recorder writes them (`record_server_event`), touchpoints go
through the track API (`track_accept`), and every history reaches the store through the real
flush, which also runs the incremental refresh.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Callable, Iterator
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.core.models import AuditLog
from freshloop.datahub.eventstore import flush
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.ingestion.services import track_accept
from freshloop.datahub.models import EventSource, ManualTag
from freshloop.datahub.tags.schemas import LifecycleStage, RfmSegment
from freshloop.datahub.tags.selectors import manual_tags_list, person_tags_get, tag_distribution
from freshloop.datahub.tags.services import (
    manual_tag_add,
    manual_tag_remove,
    tags_recompute_all,
    tags_refresh_people,
)
from freshloop.identity.models import Person
from freshloop.identity.privacy import person_erase
from freshloop.identity.resolver import IdentifierInput, identify
from tests.datahub.helpers import make_source, record_server_event, track_event
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db

SHANGHAI = ZoneInfo("Asia/Shanghai")
NOW = dt.datetime(2025, 6, 30, 12, 0, tzinfo=SHANGHAI)
TODAY = NOW.date()
_orders = itertools.count(1)

Touch = Callable[..., None]


@pytest.fixture(autouse=True)
def _frozen_now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture(autouse=True)
def _empty_identity_cache() -> None:
    # Person ids repeat across tests once their rows are rolled back.
    flush.identity_cache.clear()


def ago(days: int, *, hour: int = 12, minute: int = 0) -> dt.datetime:
    """hour:minute in Shanghai, `days` business days before today."""
    day = TODAY - dt.timedelta(days=days)
    return dt.datetime(day.year, day.month, day.day, hour, minute, tzinfo=SHANGHAI)


def line(category: str, amount_fen: int) -> dict[str, Any]:
    return {
        "sku_id": 1,
        "product_id": 1,
        "product_name": f"{category}商品",
        "category": category,
        "quantity": 1,
        "amount_fen": amount_fen,
    }


def paid(
    person: Person,
    days_ago: int,
    amount_fen: int = 1000,
    *,
    when: dt.datetime | None = None,
    channel: str = "shop",
    coupon_used: bool = False,
    province: str = "",
    city: str = "",
    lines: list[dict[str, Any]] | None = None,
) -> str:
    """A paid order as the recorder writes it; returns its order number."""
    order_no = f"T{next(_orders):06d}"
    record_server_event(
        "order_paid",
        person_id=person.pk,
        occurred_at=when or ago(days_ago),
        channel=channel,
        properties={
            "order_no": order_no,
            "amount_fen": amount_fen,
            "coupon_used": coupon_used,
            "province": province,
            "city": city,
            "lines": lines or [],
        },
        event_id=f"order_paid:{order_no}",
    )
    return order_no


def refunded(person: Person, order_no: str, days_ago: int, amount_fen: int) -> None:
    record_server_event(
        "order_refunded",
        person_id=person.pk,
        occurred_at=ago(days_ago),
        properties={"order_no": order_no, "amount_fen": amount_fen},
        event_id=f"order_refunded:{order_no}:{next(_orders)}",
    )


def live_paid(person: Person, session: str, days_ago: int) -> None:
    """A payment inside a live room, as the recorder writes `LiveViewerEvent(action="pay")`."""
    record_server_event(
        "live_pay",
        person_id=person.pk,
        occurred_at=ago(days_ago),
        channel="live",
        properties={"session_code": session, "amount_fen": 990},
        live_session=session,
    )


@pytest.fixture
def touch() -> Touch:
    """Send one touchpoint event through the track API of a source of `channel`."""
    sources: dict[str, EventSource] = {}

    def send(
        person: Person,
        name: str,
        days_ago: int,
        *,
        channel: str = "shop",
        live_session: str = "",
        **properties: Any,
    ) -> None:
        if channel not in sources:
            sources[channel] = make_source(channel)[1]
        result = track_accept(
            source=sources[channel],
            events=[
                track_event(
                    name,
                    occurred_at=ago(days_ago),
                    one_id=person.one_id,
                    properties=properties,
                    live_session=live_session,
                )
            ],
        )
        assert result.accepted == 1, result.errors

    return send


def viewed(touch: Touch, person: Person, days_ago: int = 1) -> None:
    touch(person, "page_view", days_ago, path="/m/")


def joined(touch: Touch, person: Person, session: str, days_ago: int) -> None:
    touch(person, "live_join", days_ago, channel="live", live_session=session)


def tags(person: Person, store: EventStore) -> dict[str, Any]:
    row = person_tags_get(person_id=person.pk, store=store)
    assert row is not None, f"no tags for person {person.pk}"
    return row


def all_rows(store: EventStore) -> list[dict[str, Any]]:
    return store.fetch_dicts("SELECT * FROM person_tags ORDER BY person_id")


# --- histories ------------------------------------------------------------------------------

# name: (recency days, frequency, monetary fen, expected rfm_score, expected segment).
# Ten people with distinct values: the quintile cut points are the 2nd, 4th, 6th and 8th
# smallest values (quantile_disc), so the scores go in pairs —
#   recency   0 3 | 7 12 | 20 45 | 70 100 | 200 300   cuts 3, 12, 45, 100    → R 5 5 4 4 3 3 2 2 1 1
#   frequency 1 2 | 3 4  | 5 6   | 7 8    | 9 10      cuts 2, 4, 6, 8
#   monetary  1000 1500 | 2000 2500 | 3000 3500 | 4000 4500 | 6000 8000
#             cuts 1500, 2500, 3500, 4500
# — and a value equal to a cut point is not above it (45 days scores R3, not R2).
POPULATION: dict[str, tuple[int, int, int, str, RfmSegment]] = {
    "ann": (0, 10, 6000, "555", RfmSegment.IMPORTANT_VALUE),
    "bob": (3, 2, 4000, "514", RfmSegment.IMPORTANT_DEVELOP),
    "cai": (7, 8, 1000, "441", RfmSegment.GENERAL_VALUE),
    "dan": (12, 4, 2000, "422", RfmSegment.GENERAL_DEVELOP),
    "eve": (20, 6, 3000, "333", RfmSegment.IMPORTANT_VALUE),
    "fay": (45, 5, 3500, "333", RfmSegment.IMPORTANT_VALUE),
    "gus": (70, 9, 8000, "255", RfmSegment.IMPORTANT_RETAIN),
    "hal": (100, 3, 4500, "224", RfmSegment.IMPORTANT_WIN_BACK),
    "ivy": (200, 7, 1500, "141", RfmSegment.GENERAL_RETAIN),
    "jon": (300, 1, 2500, "112", RfmSegment.GENERAL_WIN_BACK),
}


# Tags that only paid orders give; None for someone who never paid.
ORDER_FIGURES = (
    "recency_days",
    "frequency",
    "monetary_fen",
    "r_score",
    "f_score",
    "m_score",
    "rfm_score",
    "rfm_segment",
    "preferred_channel",
    "province",
    "city",
    "price_sensitivity",
    "coupon_share",
)


def order_history(recency_days: int, frequency: int, monetary_fen: int) -> list[tuple[int, int]]:
    """(days ago, amount) of orders giving exactly these RFM figures: the latest order carries
    the bulk, each older one (a day apart) 100 fen."""
    latest = (recency_days, monetary_fen - 100 * (frequency - 1))
    return [latest] + [(recency_days + k, 100) for k in range(1, frequency)]


@pytest.fixture
def population(store: EventStore) -> dict[str, Person]:
    people = {}
    for name, (recency, frequency, monetary, _, _) in POPULATION.items():
        person = people[name] = make_person()
        for days_ago, amount in order_history(recency, frequency, monetary):
            paid(person, days_ago, amount)
    buffer_flush_all(store=store)
    return people


def guest_and_customer(device: str, phone: str) -> tuple[Person, Person]:
    """A guest known only by a device, and a customer known by a verified phone."""
    guest = identify(identifiers=[IdentifierInput(type="device_id", value=device)], source="live")
    return guest.person, make_person(phone=phone)


def guest_logs_in(device: str, phone: str, *, capture: Any) -> Person:
    """The guest logs in with the phone on the device: identity merges the two OneIDs and
    publishes IdentityMerged (the recorder buffers it, manual tags follow). Returns the
    survivor."""
    with capture(execute=True):
        result = identify(
            identifiers=[
                IdentifierInput(type="phone", value=phone, verified=True),
                IdentifierInput(type="device_id", value=device),
            ],
            source="live",
        )
    assert len(result.merged_from) == 1
    return result.person


@pytest.fixture
def merged_pair(
    store: EventStore, touch: Touch, django_capture_on_commit_callbacks: Any
) -> tuple[Person, Person]:
    """A guest on a device (live viewer, one recent live order) and a phone customer (one old
    order), then the guest logs in with the phone: identity merges them. Returns (survivor,
    merged-away person), both reloaded."""
    guest, customer = guest_and_customer("guest-device", "13900139000")
    joined(touch, guest, "S1", 5)
    joined(touch, guest, "S2", 3)
    paid(guest, 10, 2000, channel="live", coupon_used=True, lines=[line("水果", 2000)])
    paid(
        customer,
        200,
        5000,
        province="浙江",
        city="杭州",
        lines=[line("乳品", 5000)],
    )
    buffer_flush_all(store=store)
    assert tags(guest, store)["lifecycle"] == LifecycleStage.NEW
    assert tags(customer, store)["lifecycle"] == LifecycleStage.LAPSED

    survivor = guest_logs_in(
        "guest-device", "13900139000", capture=django_capture_on_commit_callbacks
    )
    merged_away = guest if survivor.pk == customer.pk else customer
    merged_away.refresh_from_db()
    assert merged_away.merged_into_id == survivor.pk
    buffer_flush_all(store=store)
    return survivor, merged_away


def assert_is_the_merged_history(row: dict[str, Any], survivor: Person) -> None:
    """Both halves of `merged_pair`, added up by hand."""
    assert row["person_id"] == survivor.pk
    assert (row["recency_days"], row["frequency"], row["monetary_fen"]) == (10, 2, 7000)
    # each half alone is 新客 / 已流失; together the 10-day-old order came 190 days after the
    # previous one
    assert row["lifecycle"] == LifecycleStage.WON_BACK
    assert row["top_categories"] == ["乳品", "水果"]
    assert row["preferred_channel"] == "live"  # one order each: the more recent one
    assert (row["province"], row["city"]) == ("浙江", "杭州")
    assert (row["coupon_share"], row["price_sensitivity"]) == (0.5, "中")
    assert (row["live_sessions_30d"], row["live_engagement"]) == (2, "中")


# --- the computation ------------------------------------------------------------------------


class TestTagsRecomputeAll:
    def test_scores_rfm_against_the_quintile_cut_points(
        self, store: EventStore, population: dict[str, Person]
    ) -> None:
        # when every tag is recomputed over the ten-person population
        report = tags_recompute_all(store=store)
        # then the cut points and every person's figures and scores are the hand-computed ones
        assert (report.people, report.with_rfm) == (10, 10)
        assert report.cut_points == {
            "recency_days": [3, 12, 45, 100],
            "frequency": [2, 4, 6, 8],
            "monetary_fen": [1500, 2500, 3500, 4500],
        }
        assert report.computed_at == NOW
        for name, (recency, frequency, monetary, score, _) in POPULATION.items():
            row = tags(population[name], store)
            assert (row["recency_days"], row["frequency"], row["monetary_fen"]) == (
                recency,
                frequency,
                monetary,
            ), name
            assert (row["r_score"], row["f_score"], row["m_score"]) == tuple(
                int(digit) for digit in score
            ), name
            assert row["rfm_score"] == score, name

    def test_maps_every_high_low_combination_to_its_segment(
        self, store: EventStore, population: dict[str, Person]
    ) -> None:
        tags_recompute_all(store=store)

        segments = {name: tags(person, store)["rfm_segment"] for name, person in population.items()}

        assert segments == {name: expected[4] for name, expected in POPULATION.items()}
        # a score of 3 counts as high (eve and fay: 333 is 重要价值客户)
        assert set(segments.values()) == set(RfmSegment)

    def test_equal_values_get_equal_scores(self, store: EventStore) -> None:
        # given ten people who all last ordered 5 days ago, 1000 fen an order: six ordered
        # once, two twice, one three times, one four times — frequency cuts 1, 1, 1, 2
        counts = [1, 1, 1, 1, 1, 1, 2, 2, 3, 4]
        people = [make_person() for _ in counts]
        for person, count in zip(people, counts, strict=True):
            for _ in range(count):
                paid(person, 5, 1000)
        buffer_flush_all(store=store)
        # when
        report = tags_recompute_all(store=store)
        # then every one-time buyer scores the same, and recency ties all score 5
        assert report.cut_points["frequency"] == [1, 1, 1, 2]
        assert [tags(person, store)["rfm_score"] for person in people] == [
            "511",
            "511",
            "511",
            "511",
            "511",
            "511",
            "544",
            "544",
            "555",
            "555",
        ]

    def test_an_order_reported_by_a_client_too_counts_once(
        self, store: EventStore, touch: Touch
    ) -> None:
        # given an order the server recorded and a partner app reported again
        buyer = make_person()
        order_no = paid(buyer, 3, 5_000)
        touch(buyer, "order_paid", 3, channel="partner", order_no=order_no, amount_fen=5_000)
        buffer_flush_all(store=store)

        # when the tags are recomputed
        tags_recompute_all(store=store)

        # then frequency and monetary see one order, and the channel is the server's
        row = tags(buyer, store)
        assert (row["frequency"], row["monetary_fen"]) == (1, 5_000)
        assert row["preferred_channel"] == "shop"
        assert tags_refresh_people(person_ids=[buyer.pk], store=store) == 1
        assert (tags(buyer, store)["frequency"], tags(buyer, store)["monetary_fen"]) == (1, 5_000)

    def test_refunds_reduce_monetary_but_not_frequency(self, store: EventStore) -> None:
        # given an order refunded in two parts and an order refunded whole
        person = make_person()
        partly = paid(person, 20, 5000)
        wholly = paid(person, 10, 3000)
        refunded(person, partly, 18, 1000)
        refunded(person, partly, 2, 500)
        refunded(person, wholly, 9, 3000)
        buffer_flush_all(store=store)
        # when
        tags_recompute_all(store=store)
        # then
        row = tags(person, store)
        assert (row["frequency"], row["monetary_fen"]) == (2, 3500)

    def test_only_orders_of_the_last_365_days_count_for_rfm(self, store: EventStore) -> None:
        # given one person with orders 364 and 365 days ago, another only 365 days ago
        recent = make_person()
        paid(recent, 364, 1000)
        old_order = paid(recent, 365, 2000)
        refunded(recent, old_order, 100, 2000)  # a refund of an order outside the window
        lapsed = make_person()
        paid(lapsed, 365, 9000)
        buffer_flush_all(store=store)
        # when
        report = tags_recompute_all(store=store)
        # then the 365-day-old order is left out, and its owner has no RFM tags at all
        row = tags(recent, store)
        assert (row["recency_days"], row["frequency"], row["monetary_fen"]) == (364, 1, 1000)
        assert row["rfm_score"] == "511"
        old = tags(lapsed, store)
        assert {key: old[key] for key in ("recency_days", "frequency", "monetary_fen")} == {
            "recency_days": None,
            "frequency": None,
            "monetary_fen": None,
        }
        assert (old["r_score"], old["rfm_score"], old["rfm_segment"]) == (None, None, None)
        assert old["lifecycle"] == LifecycleStage.LAPSED
        assert (report.people, report.with_rfm) == (2, 1)

    def test_days_ago_are_shanghai_calendar_days(self, store: EventStore) -> None:
        # 00:30 today in Shanghai is still yesterday in UTC; 23:30 yesterday is 15:30 UTC
        early = make_person()
        paid(early, 0, when=ago(0, hour=0, minute=30))
        late = make_person()
        paid(late, 1, when=ago(1, hour=23, minute=30))
        buffer_flush_all(store=store)

        tags_recompute_all(store=store)

        assert tags(early, store)["recency_days"] == 0
        assert tags(late, store)["recency_days"] == 1

    @pytest.mark.parametrize(
        ("orders_days_ago", "stage"),
        [
            ([30], LifecycleStage.NEW),
            ([30, 2], LifecycleStage.NEW),
            ([31], LifecycleStage.ACTIVE),
            ([200, 10], LifecycleStage.WON_BACK),  # 回流 before 活跃: first rule wins
            ([151, 30], LifecycleStage.WON_BACK),  # gap 121 days
            ([150, 30], LifecycleStage.ACTIVE),  # gap of exactly 120 days is no comeback
            ([200, 31], LifecycleStage.ACTIVE),  # the comeback is more than 30 days old
            ([300, 20, 5], LifecycleStage.WON_BACK),  # a repeat after the comeback
            ([60], LifecycleStage.ACTIVE),
            ([61], LifecycleStage.AT_RISK),
            ([120], LifecycleStage.AT_RISK),
            ([121], LifecycleStage.LAPSED),
            ([500, 400], LifecycleStage.LAPSED),
        ],
    )
    def test_lifecycle_stage_from_the_paid_orders(
        self, store: EventStore, orders_days_ago: list[int], stage: LifecycleStage
    ) -> None:
        person = make_person()
        for days_ago in orders_days_ago:
            paid(person, days_ago)
        buffer_flush_all(store=store)

        tags_recompute_all(store=store)

        assert tags(person, store)["lifecycle"] == stage

    def test_people_with_only_events_are_prospects_without_rfm(
        self, store: EventStore, touch: Touch
    ) -> None:
        # given a visitor who browsed and filled a cart but never paid
        visitor = make_person()
        viewed(touch, visitor)
        touch(visitor, "add_to_cart", 1, sku_id=3)
        buffer_flush_all(store=store)
        # when
        report = tags_recompute_all(store=store)
        # then
        row = tags(visitor, store)
        assert row["lifecycle"] == LifecycleStage.PROSPECT
        assert {key: row[key] for key in ORDER_FIGURES} == dict.fromkeys(ORDER_FIGURES)
        assert (row["top_categories"], row["live_engagement"], row["live_sessions_30d"]) == (
            [],
            "无",
            0,
        )
        assert (report.people, report.with_rfm) == (1, 0)

    def test_top_three_categories_by_spend_over_the_whole_history(self, store: EventStore) -> None:
        # given spend 肉禽 6000 (400 days ago), 乳品 3000, 水果 2000, 蔬菜 2000, and 9000 on
        # lines without a category
        person = make_person()
        paid(person, 400, 6000, lines=[line("肉禽", 6000)])
        paid(person, 20, 4000, lines=[line("乳品", 2000), line("水果", 1000), line("蔬菜", 1000)])
        paid(person, 10, 11000, lines=[line("乳品", 1000), line("水果", 1000), line("", 9000)])
        paid(person, 5, 1000, lines=[line("蔬菜", 1000)])
        no_lines = make_person()
        paid(no_lines, 5, 1000)
        buffer_flush_all(store=store)
        # when
        tags_recompute_all(store=store)
        # then the tie for third place goes by name (水 U+6C34 before 蔬 U+852C)
        assert tags(person, store)["top_categories"] == ["肉禽", "乳品", "水果"]
        assert tags(no_lines, store)["top_categories"] == []

    def test_preferred_channel_is_the_one_with_most_orders(self, store: EventStore) -> None:
        loyal = make_person()  # two old shop orders outweigh one recent live order
        paid(loyal, 300, channel="shop")
        paid(loyal, 200, channel="shop")
        paid(loyal, 1, channel="live")
        tied = make_person()  # one each: the most recent order decides
        paid(tied, 10, channel="shop")
        paid(tied, 5, channel="live")
        same_moment = make_person()  # one each at the same moment: the name decides
        paid(same_moment, 5, channel="shop")
        paid(same_moment, 5, channel="groupbuy")
        buffer_flush_all(store=store)

        tags_recompute_all(store=store)

        assert tags(loyal, store)["preferred_channel"] == "shop"
        assert tags(tied, store)["preferred_channel"] == "live"
        assert tags(same_moment, store)["preferred_channel"] == "groupbuy"

    def test_region_of_the_latest_paid_order_with_a_province(self, store: EventStore) -> None:
        picked_up = make_person()  # the latest order is a pick-up without an address
        paid(picked_up, 30, province="浙江", city="杭州")
        paid(picked_up, 5)
        moved = make_person()
        paid(moved, 30, province="浙江", city="杭州")
        paid(moved, 5, province="上海", city="上海")
        nowhere = make_person()
        paid(nowhere, 5)
        buffer_flush_all(store=store)

        tags_recompute_all(store=store)

        region = {
            name: (tags(person, store)["province"], tags(person, store)["city"])
            for name, person in {"picked_up": picked_up, "moved": moved, "nowhere": nowhere}.items()
        }
        assert region == {
            "picked_up": ("浙江", "杭州"),
            "moved": ("上海", "上海"),
            "nowhere": (None, None),
        }

    @pytest.mark.parametrize(
        ("with_coupon", "without_coupon", "share", "level"),
        [
            (3, 2, 0.6, "高"),
            (4, 1, 0.8, "高"),
            (1, 1, 0.5, "中"),
            (3, 7, 0.3, "中"),
            (2, 5, 2 / 7, "低"),
            (0, 1, 0.0, "低"),
        ],
    )
    def test_price_sensitivity_from_the_share_of_orders_with_a_coupon(
        self, store: EventStore, with_coupon: int, without_coupon: int, share: float, level: str
    ) -> None:
        person = make_person()
        for index in range(with_coupon):
            paid(person, 400 + index, coupon_used=True)  # the whole history counts
        for index in range(without_coupon):
            paid(person, 10 + index, coupon_used=False)
        buffer_flush_all(store=store)

        tags_recompute_all(store=store)

        row = tags(person, store)
        assert row["coupon_share"] == pytest.approx(share)
        assert row["price_sensitivity"] == level

    def test_live_engagement_from_sessions_of_the_last_30_days(
        self, store: EventStore, touch: Touch
    ) -> None:
        # given viewers joining live rooms 0–29 days ago (29 is inside, 30 outside)
        fan, regular, twice, once, buyer, gone, never = (make_person() for _ in range(7))
        for session, days_ago in (("S1", 1), ("S2", 2), ("S3", 3), ("S4", 29)):
            joined(touch, fan, session, days_ago)
        for session, days_ago in (("S1", 1), ("S1", 1), ("S2", 2), ("S3", 3)):
            joined(touch, regular, session, days_ago)  # S1 twice counts once
        joined(touch, twice, "S1", 1)
        joined(touch, twice, "S2", 2)
        touch(twice, "live_comment", 2, channel="live", live_session="S2", length=5)
        joined(touch, once, "S1", 1)
        joined(touch, once, "S0", 30)
        joined(touch, buyer, "S4", 29)
        live_paid(buyer, "S4", 29)
        joined(touch, gone, "S0", 30)
        live_paid(gone, "S0", 30)
        viewed(touch, never)
        buffer_flush_all(store=store)
        # when
        tags_recompute_all(store=store)
        # then a payment in a live room makes any viewer 高
        engagement = {
            name: (tags(person, store)["live_sessions_30d"], tags(person, store)["live_engagement"])
            for name, person in {
                "fan": fan,
                "regular": regular,
                "twice": twice,
                "once": once,
                "buyer": buyer,
                "gone": gone,
                "never": never,
            }.items()
        }
        assert engagement == {
            "fan": (4, "高"),
            "regular": (3, "中"),
            "twice": (2, "中"),
            "once": (1, "低"),
            "buyer": (1, "高"),
            "gone": (0, "无"),
            "never": (0, "无"),
        }

    def test_ignores_events_after_now_so_a_past_recompute_is_reproducible(
        self, store: EventStore
    ) -> None:
        # given orders 40 and 5 days ago, and a refund 2 days ago of the first
        person = make_person()
        first = paid(person, 40, 3000, coupon_used=True)
        paid(person, 5, 1000, channel="live")
        refunded(person, first, 2, 1000)
        late_visitor = make_person()
        paid(late_visitor, 1)
        buffer_flush_all(store=store)
        # when tags are recomputed as of ten days ago
        report = tags_recompute_all(store=store, now=NOW - dt.timedelta(days=10))
        # then only the first order exists, 30 days before that "now", unrefunded
        row = tags(person, store)
        assert (row["recency_days"], row["frequency"], row["monetary_fen"]) == (30, 1, 3000)
        assert (row["lifecycle"], row["preferred_channel"]) == (LifecycleStage.NEW, "shop")
        assert row["computed_at"] == NOW - dt.timedelta(days=10)
        assert person_tags_get(person_id=late_visitor.pk, store=store) is None
        assert report.people == 1

    def test_a_oneid_merge_makes_one_person_of_the_two_histories(
        self, store: EventStore, merged_pair: tuple[Person, Person]
    ) -> None:
        survivor, _ = merged_pair

        report = tags_recompute_all(store=store)

        assert [row["person_id"] for row in all_rows(store)] == [survivor.pk]
        assert_is_the_merged_history(tags(survivor, store), survivor)
        assert report.people == 1


class TestTagsRefreshPeople:
    def test_every_flush_refreshes_the_people_whose_events_landed(self, store: EventStore) -> None:
        # given a customer's first order, flushed
        person = make_person()
        paid(person, 3, 2500, province="四川", city="成都")
        buffer_flush_all(store=store)
        # then the flush already wrote the tags, with no recompute
        row = tags(person, store)
        assert (row["frequency"], row["monetary_fen"], row["lifecycle"]) == (1, 2500, "新客")
        # when a second order is flushed
        paid(person, 1, 500)
        buffer_flush_all(store=store)
        # then the row follows
        assert (tags(person, store)["frequency"], tags(person, store)["monetary_fen"]) == (2, 3000)

    def test_scores_against_the_whole_population_not_the_refreshed_people(
        self, store: EventStore
    ) -> None:
        # given a customer flushed alone (scored against himself: every cut is his own value)
        big = make_person()
        paid(big, 3, 3000)
        paid(big, 4, 2000)
        buffer_flush_all(store=store)
        assert tags(big, store)["rfm_score"] == "511"
        # and four one-time 1000-fen customers of 100 days ago, flushed later: only their rows
        # are refreshed, so his row still carries the old scores
        for _ in range(4):
            paid(make_person(), 100, 1000)
        buffer_flush_all(store=store)
        assert tags(big, store)["rfm_score"] == "511"
        # when his tags alone are refreshed
        written = tags_refresh_people(person_ids=[big.pk], store=store)
        # then he is scored against all five (frequency cuts 1,1,1,1; monetary cuts 1000…)
        assert written == 1
        refreshed = tags(big, store)
        assert refreshed["rfm_score"] == "555"
        tags_recompute_all(store=store)
        assert tags(big, store) == refreshed

    def test_gives_the_same_rows_as_a_full_recompute(
        self,
        store: EventStore,
        population: dict[str, Person],
        merged_pair: tuple[Person, Person],
        touch: Touch,
    ) -> None:
        # given the RFM population, a merged pair, refunds, live viewers, a prospect and
        # orders outside the RFM window, flushed in several batches
        survivor, merged_away = merged_pair
        refunded(population["ann"], paid(population["ann"], 2, 4000, coupon_used=True), 1, 1500)
        joined(touch, population["bob"], "S9", 4)
        live_paid(population["bob"], "S9", 4)
        prospect = make_person()
        viewed(touch, prospect)
        paid(population["jon"], 500, 7000, province="广东", city="广州", lines=[line("水产", 7000)])
        lapsed = make_person()
        paid(lapsed, 365, 90000)  # just outside the RFM window: not part of the population
        buffer_flush_all(store=store)
        everyone = [p.pk for p in population.values()] + [
            prospect.pk,
            lapsed.pk,
            survivor.pk,
            merged_away.pk,
        ]
        # when everyone is refreshed incrementally (the merged-away id counts as the survivor)
        written = tags_refresh_people(person_ids=everyone, store=store)
        incremental = all_rows(store)
        # then the rows are exactly those of the full recompute over the same data
        tags_recompute_all(store=store)
        assert all_rows(store) == incremental
        assert written == len(incremental) == 13
        # and a refresh of one person changes nothing either
        tags_refresh_people(person_ids=[population["ann"].pk], store=store)
        assert all_rows(store) == incremental

    def test_the_flush_carrying_a_merge_leaves_one_row_for_the_merged_person(
        self, store: EventStore, merged_pair: tuple[Person, Person]
    ) -> None:
        survivor, _ = merged_pair

        # (merged_pair's last flush carried IdentityMerged)
        assert [row["person_id"] for row in all_rows(store)] == [survivor.pk]
        assert_is_the_merged_history(tags(survivor, store), survivor)

    def test_a_merged_away_id_refreshes_its_survivor(
        self, store: EventStore, merged_pair: tuple[Person, Person]
    ) -> None:
        survivor, merged_away = merged_pair
        paid(survivor, 1, 1000)
        buffer_flush_all(store=store)
        tags_recompute_all(store=store, now=NOW - dt.timedelta(days=2))  # a stale table

        written = tags_refresh_people(person_ids=[merged_away.pk], store=store)

        assert written == 1
        row = tags(survivor, store)
        assert (row["frequency"], row["monetary_fen"], row["computed_at"]) == (3, 8000, NOW)
        assert [row["person_id"] for row in all_rows(store)] == [survivor.pk]

    def test_nobody_to_refresh_writes_nothing(self, store: EventStore) -> None:
        assert tags_refresh_people(person_ids=[], store=store) == 0
        assert tags_refresh_people(person_ids=[424242], store=store) == 0
        assert all_rows(store) == []


# --- reads -----------------------------------------------------------------------------------


class TestPersonTagsGet:
    def test_a_person_without_events_has_no_tags(self, store: EventStore) -> None:
        assert person_tags_get(person_id=make_person().pk, store=store) is None

    def test_a_merged_away_id_reads_the_survivors_tags(
        self, store: EventStore, merged_pair: tuple[Person, Person]
    ) -> None:
        survivor, merged_away = merged_pair

        row = person_tags_get(person_id=merged_away.pk, store=store)

        assert row is not None
        assert row == tags(survivor, store)
        assert row["person_id"] == survivor.pk

    def test_returns_a_list_of_categories_and_an_aware_time(self, store: EventStore) -> None:
        person = make_person()
        paid(person, 1, 1000, lines=[line("乳品", 1000)])
        buffer_flush_all(store=store)

        row = tags(person, store)

        assert row["top_categories"] == ["乳品"]
        assert row["computed_at"] == NOW
        assert row["computed_at"].utcoffset() == dt.timedelta(0)


class TestTagDistribution:
    @pytest.fixture
    def tagged(self, store: EventStore, population: dict[str, Person], touch: Touch) -> None:
        """The RFM population and two prospects."""
        for _ in range(2):
            viewed(touch, make_person())
        buffer_flush_all(store=store)
        tags_recompute_all(store=store)

    def test_segments_in_their_display_order_with_unknown_last(
        self, store: EventStore, tagged: None
    ) -> None:
        result = tag_distribution(column="rfm_segment", store=store)

        assert list(result.items()) == [
            ("重要价值客户", 3),
            ("重要发展客户", 1),
            ("重要保持客户", 1),
            ("重要挽留客户", 1),
            ("一般价值客户", 1),
            ("一般发展客户", 1),
            ("一般保持客户", 1),
            ("一般挽留客户", 1),
            ("未知", 2),
        ]

    def test_stages_in_their_order_leaving_out_empty_ones(
        self, store: EventStore, tagged: None
    ) -> None:
        # ann…eve first ordered ≤ 30 days ago; fay last 45 days ago; gus, hal 61–120; ivy, jon
        # over 120; and the two prospects (no 回流 here: the stage is left out)
        result = tag_distribution(column="lifecycle", store=store)

        assert list(result.items()) == [
            ("新客", 5),
            ("活跃", 1),
            ("流失预警", 2),
            ("已流失", 2),
            ("潜在", 2),
        ]

    def test_scores_from_five_down(self, store: EventStore, tagged: None) -> None:
        assert list(tag_distribution(column="r_score", store=store).items()) == [
            ("5", 2),
            ("4", 2),
            ("3", 2),
            ("2", 2),
            ("1", 2),
            ("未知", 2),
        ]
        assert list(tag_distribution(column="live_engagement", store=store).items()) == [("无", 12)]

    def test_unlabelled_columns_by_count_then_name_with_unknown_last(
        self, store: EventStore, touch: Touch
    ) -> None:
        # given three people in 浙江, two in 上海, two in 广东 and three without a region
        for province, count in (("广东", 2), ("浙江", 3), ("上海", 2)):
            for _ in range(count):
                paid(make_person(), 3, province=province, city="某市")
        for _ in range(3):
            viewed(touch, make_person())
        buffer_flush_all(store=store)
        tags_recompute_all(store=store)
        # when
        result = tag_distribution(column="province", store=store)
        # then 上 (U+4E0A) sorts before 广 (U+5E7F); 未知 is last although it ties the top
        assert list(result.items()) == [("浙江", 3), ("上海", 2), ("广东", 2), ("未知", 3)]

    def test_categories_count_each_person_once_per_category(self, store: EventStore) -> None:
        first, second = make_person(), make_person()
        paid(first, 3, 3000, lines=[line("乳品", 1000), line("水果", 2000)])
        paid(first, 2, 1000, lines=[line("乳品", 1000)])
        paid(second, 3, 1000, lines=[line("乳品", 1000)])
        buffer_flush_all(store=store)

        assert tag_distribution(column="top_categories", store=store) == {"乳品": 2, "水果": 1}

    def test_an_empty_store_has_an_empty_distribution(self, store: EventStore) -> None:
        assert tag_distribution(column="lifecycle", store=store) == {}

    def test_rejects_a_column_it_does_not_count(self, store: EventStore) -> None:
        with pytest.raises(InvalidInput) as raised:
            tag_distribution(column="person_id; DROP TABLE person_tags", store=store)

        assert raised.value.text == "不支持按该字段统计标签分布"
        assert "lifecycle" in raised.value.detail["allowed"]


# --- manual tags -----------------------------------------------------------------------------


@pytest.fixture
def operator() -> Actor:
    return Actor.for_user(make_staff_user("ops-tagger"))


def audits(action: str) -> list[AuditLog]:
    return list(AuditLog.objects.filter(action=action).order_by("pk"))


class TestManualTagAdd:
    def test_puts_the_stripped_tag_on_the_person_and_audits_it(self, operator: Actor) -> None:
        person = make_person()

        row = manual_tag_add(person=person, tag="  高端乳品  ", actor=operator)

        assert (row.person_id, row.tag, row.created_by, row.created_at) == (
            person.pk,
            "高端乳品",
            "ops-tagger",
            NOW,
        )
        assert manual_tags_list(person_id=person.pk) == ["高端乳品"]
        [audit] = audits("datahub.manual_tag_add")
        assert (audit.actor_type, audit.actor_label, audit.target_id) == (
            "user",
            "ops-tagger",
            str(row.pk),
        )
        assert audit.after == {"person_id": person.pk, "one_id": person.one_id, "tag": "高端乳品"}

    def test_adding_a_tag_the_person_has_changes_nothing(self, operator: Actor) -> None:
        person = make_person()
        first = manual_tag_add(person=person, tag="VIP", actor=operator)

        again = manual_tag_add(person=person, tag=" VIP", actor=operator)

        assert again.pk == first.pk
        assert ManualTag.objects.filter(person=person).count() == 1
        assert len(audits("datahub.manual_tag_add")) == 1

    def test_keeps_tags_apart_per_person_and_in_the_order_added(self, operator: Actor) -> None:
        person, other = make_person(), make_person()
        manual_tag_add(person=person, tag="VIP", actor=operator)
        manual_tag_add(person=person, tag="团长候选", actor=operator)
        manual_tag_add(person=other, tag="VIP", actor=operator)

        assert manual_tags_list(person_id=person.pk) == ["VIP", "团长候选"]
        assert manual_tags_list(person_id=other.pk) == ["VIP"]

    @pytest.mark.parametrize(
        ("tag", "message"),
        [
            ("", "请填写标签"),
            ("   ", "请填写标签"),
            ("鲜" * 33, "标签不能超过 32 个字"),
            (123, "标签应为文字"),
        ],
    )
    def test_rejects_a_tag_that_is_empty_too_long_or_not_text(
        self, operator: Actor, tag: Any, message: str
    ) -> None:
        person = make_person()

        with pytest.raises(InvalidInput) as raised:
            manual_tag_add(person=person, tag=tag, actor=operator)

        assert raised.value.text == message
        assert raised.value.status == 422
        assert not ManualTag.objects.exists()
        assert audits("datahub.manual_tag_add") == []

    def test_thirty_two_characters_fit(self, operator: Actor) -> None:
        row = manual_tag_add(person=make_person(), tag="鲜" * 32, actor=operator)

        assert row.tag == "鲜" * 32

    def test_refused_on_a_merged_person(
        self, store: EventStore, operator: Actor, merged_pair: tuple[Person, Person]
    ) -> None:
        survivor, merged_away = merged_pair

        with pytest.raises(InvalidInput) as raised:
            manual_tag_add(person=merged_away, tag="VIP", actor=operator)

        assert raised.value.text == f"该用户已合并到 {survivor.one_id}，请在合并后的用户上打标签"
        assert raised.value.detail == {"one_id": merged_away.one_id, "merged_into": survivor.one_id}
        assert not ManualTag.objects.exists()

    def test_refused_on_a_person_merged_after_it_was_loaded(
        self, operator: Actor, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given an operator's screen holding both people, loaded before identity merged them
        guest, customer = guest_and_customer("late-guest", "13900139002")
        loaded = {guest.pk: guest, customer.pk: customer}
        survivor = guest_logs_in(
            "late-guest", "13900139002", capture=django_capture_on_commit_callbacks
        )
        stale = next(person for pk, person in loaded.items() if pk != survivor.pk)
        assert stale.merged_into_id is None  # the object in hand does not know
        # when the operator tags the merged-away person from that screen
        with pytest.raises(InvalidInput) as raised:
            manual_tag_add(person=stale, tag="VIP", actor=operator)
        # then it is refused, rather than landing on a person nobody will see again
        assert raised.value.text == f"该用户已合并到 {survivor.one_id}，请在合并后的用户上打标签"
        assert not ManualTag.objects.exists()

    def test_refused_on_an_erased_person(self, operator: Actor) -> None:
        person = make_person()
        person_erase(actor=operator, one_id=person.one_id, reason="用户申请删除")

        with pytest.raises(InvalidInput) as raised:
            manual_tag_add(person=person, tag="VIP", actor=operator)

        assert raised.value.text == "该用户的个人信息已删除，不能再打标签"
        assert not ManualTag.objects.exists()


class TestManualTagRemove:
    def test_takes_the_tag_off_and_audits_it(self, operator: Actor) -> None:
        person = make_person()
        manual_tag_add(person=person, tag="VIP", actor=operator)
        manual_tag_add(person=person, tag="团长候选", actor=operator)

        removed = manual_tag_remove(person=person, tag=" VIP ", actor=operator)

        assert removed is True
        assert manual_tags_list(person_id=person.pk) == ["团长候选"]
        [audit] = audits("datahub.manual_tag_remove")
        assert audit.actor_label == "ops-tagger"
        assert audit.before is not None
        assert {key: audit.before[key] for key in ("person_id", "tag", "created_by")} == {
            "person_id": person.pk,
            "tag": "VIP",
            "created_by": "ops-tagger",
        }

    def test_a_tag_the_person_does_not_have_is_no_change(self, operator: Actor) -> None:
        person, other = make_person(), make_person()
        manual_tag_add(person=other, tag="VIP", actor=operator)

        assert manual_tag_remove(person=person, tag="VIP", actor=operator) is False
        assert manual_tags_list(person_id=other.pk) == ["VIP"]
        assert audits("datahub.manual_tag_remove") == []

    def test_rejects_an_empty_tag(self, operator: Actor) -> None:
        with pytest.raises(InvalidInput) as raised:
            manual_tag_remove(person=make_person(), tag=" ", actor=operator)

        assert raised.value.text == "请填写标签"


class TestManualTagsFollowMerge:
    def test_the_survivor_carries_both_peoples_tags_once(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a guest and a phone customer, each tagged, one tag on both
        operator = Actor.for_user(make_staff_user("ops-merge"))
        guest, customer = guest_and_customer("tagged-guest", "13900139001")
        manual_tag_add(person=guest, tag="直播常客", actor=operator)
        manual_tag_add(person=guest, tag="VIP", actor=operator)
        manual_tag_add(person=customer, tag="VIP", actor=operator)
        manual_tag_add(person=customer, tag="高端乳品", actor=operator)
        # when the guest logs in with the phone and identity merges the two
        survivor = guest_logs_in(
            "tagged-guest", "13900139001", capture=django_capture_on_commit_callbacks
        )
        # then
        merged_away = guest if survivor.pk == customer.pk else customer
        assert sorted(manual_tags_list(person_id=survivor.pk)) == ["VIP", "直播常客", "高端乳品"]
        assert manual_tags_list(person_id=merged_away.pk) == []
        assert ManualTag.objects.count() == 3
