"""DH-3 the 360° profile: one customer's identifiers, traits, orders, coupons, live viewing,
tags and cross-channel timeline, with every piece of PII masked or left out.

The customer (阿鲜) logs in with a phone; before that she watched a live session as a guest on
her phone (a device-only OneID), bought and got a coupon as that guest. Linking the device
merges the guest into her. Data is made through the real identity, order, payment, coupon
and live services and the track API, then flushed into a per-test event store.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import AbstractContextManager
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.eventstore.services import buffer_flush_all
from freshloop.datahub.models import EventSource
from freshloop.datahub.profiles.schemas import PersonProfile
from freshloop.datahub.profiles.selectors import (
    TIMELINE_PAGE_SIZE,
    person_for_profile,
    person_profile,
    phones_masked,
    profile_coupons,
    profile_merged_from,
    profile_person_ids,
    profile_timeline,
)
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import IdentifierType, Person
from freshloop.identity.resolver import IdentifierInput, identify
from freshloop.live.models import LiveSession
from freshloop.live.room.services import (
    guest_for_device,
    viewer_device_link,
    viewer_heartbeat,
    viewer_join,
)
from freshloop.orders.models import Order
from freshloop.promotions.models import Coupon
from tests.datahub.helpers import make_source, send_and_flush, track_event
from tests.factories import give_coupon, make_person, make_sku
from tests.live.host.helpers import make_room, say
from tests.orders.helpers import buy, coupon_template, pay

pytestmark = pytest.mark.django_db

NOW = dt.datetime(2026, 3, 10, 12, 0, tzinfo=dt.UTC)  # 20:00 in Shanghai
PHONE = "13912345678"
PHONE_E164 = "+8613912345678"
PRIVATE_NAME = "林小鲜"
PRIVATE_ADDRESS = "张江路 88 弄 6 号"
OPERATOR = Actor.system("tests")
Committed = Callable[[], AbstractContextManager[Any]]


@pytest.fixture(autouse=True)
def _frozen_now() -> Iterator[None]:
    with clock.frozen(NOW):
        yield


@pytest.fixture
def committed(django_capture_on_commit_callbacks: Callable[..., Any]) -> Committed:
    """Each step commits like a request of its own: subscribers (the recorder, merge
    re-pointing, the room's funnel) run when the step ends."""
    return lambda: django_capture_on_commit_callbacks(execute=True)


def hours_ago(hours: float) -> dt.datetime:
    return clock.now() - dt.timedelta(hours=hours)


def seconds(count: int) -> None:
    clock.advance(dt.timedelta(seconds=count))


def customer_with_traits() -> Person:
    """A customer who filled in her H5 profile: public traits, and identifying ones that are
    sealed — plus a note in which she typed her phone number."""
    return identify(
        identifiers=[phone(PHONE)],
        traits={
            "gender": "female",
            "likes_organic": True,
            "diet": ["低糖", "素食"],
            "delivery_note": f"到了打 {PHONE}",
            "name": PRIVATE_NAME,
            "address": PRIVATE_ADDRESS,
        },
        source="h5_profile",
        display_name="阿鲜",
    ).person


@dataclasses.dataclass
class History:
    customer: Person
    guest: Person
    session: LiveSession
    guest_order: Order
    customer_order: Order
    live_order: Order
    guest_coupon: Coupon
    customer_coupon: Coupon


def a_guest_who_logs_in(committed: Committed, *, repoint: bool = True) -> History:
    """
    The guest joins the session at NOW, heartbeats at +30 s and comments; she buys in the
    shop and is given a coupon. Then she logs in: her device is linked to her phone and the
    guest is merged into her (with `repoint=False` the merge's subscribers do not run, as if
    the other modules had not re-pointed their rows yet). As herself she heartbeats at +60 s
    (30 s more), comments once more and buys in the room.

    She also watched as herself from NOW (heartbeats at +30 s and +60 s). Her viewing of the
    session: dwell 30 (guest) + 30 + 30 (herself) = 90 s, 2 comments, bought.
    """
    milk = make_sku(price_fen=12000, stock=50, name="有机鲜牛奶")
    template = coupon_template("minus20")
    with committed():
        customer = customer_with_traits()
        session = make_room(skus=[milk])
    with committed():
        guest = guest_for_device(device_id="device-of-axian-0001")
        viewer_join(session=session, person=guest, nickname="游客")
        viewer_join(session=session, person=customer, nickname="阿鲜")
    seconds(30)
    with committed():
        viewer_heartbeat(session=session, person=guest)
        viewer_heartbeat(session=session, person=customer)
        say_as(session, guest, "有小瓶装吗？")
    with committed():
        guest_order = buy(guest, (milk, 1))
    with committed():
        pay(guest_order)
    with committed():
        guest_coupon = give_coupon(guest, template)
        customer_coupon = give_coupon(customer, coupon_template("freeship", name="满99减20·二"))
    if repoint:
        with committed():
            survivor = viewer_device_link(person=customer, device_id="device-of-axian-0001")
    else:
        survivor = viewer_device_link(person=customer, device_id="device-of-axian-0001")
    assert survivor.pk == customer.pk
    seconds(30)
    with committed():
        viewer_heartbeat(session=session, person=customer)
        say_as(session, customer, "下单了！")
    with committed():
        customer_order = buy(customer, (milk, 2))
        live_order = buy(customer, (milk, 1), channel="live", source_ref=session.code)
    with committed():
        pay(customer_order)
    with committed():
        pay(live_order)
    guest.refresh_from_db()
    customer.refresh_from_db()
    return History(
        customer=customer,
        guest=guest,
        session=session,
        guest_order=guest_order,
        customer_order=customer_order,
        live_order=live_order,
        guest_coupon=guest_coupon,
        customer_coupon=customer_coupon,
    )


def phone(number: str) -> IdentifierInput:
    return IdentifierInput(type=IdentifierType.PHONE, value=number, verified=True)


def unionid(value: str) -> IdentifierInput:
    return IdentifierInput(type=IdentifierType.WECHAT_UNIONID, value=value, verified=True)


def tablet(value: str) -> IdentifierInput:
    return IdentifierInput(type=IdentifierType.DEVICE_ID, value=value)


def say_as(session: LiveSession, person: Person, text: str) -> None:
    from freshloop.live.models import LiveViewer

    say(session, LiveViewer.objects.get(session=session, person=person), text)


def every_text(value: Any) -> list[str]:
    """repr and str of a profile field and of everything inside it."""
    texts = [repr(value), str(value)]
    if dataclasses.is_dataclass(value) and not isinstance(value, type):
        for field in dataclasses.fields(value):
            texts += every_text(getattr(value, field.name))
    elif isinstance(value, list | tuple):
        for item in value:
            texts += every_text(item)
    return texts


# --- who ---------------------------------------------------------------------------------------


class TestPersonForProfile:
    def test_a_merged_away_one_id_leads_to_the_survivor(self, committed: Committed) -> None:
        # given a guest merged into a customer
        history = a_guest_who_logs_in(committed)
        # when the profile is opened by the guest's old OneID, and by the customer's
        by_old = person_for_profile(one_id=history.guest.one_id)
        by_own = person_for_profile(one_id=history.customer.one_id)
        # then both open the customer
        assert by_old is not None
        assert by_own is not None
        assert by_old.pk == by_own.pk == history.customer.pk

    def test_a_chain_of_merges_leads_to_the_last_survivor(self) -> None:
        # given A (a phone), B (a WeChat id) and C (a tablet), oldest first; C is merged into
        # B, then B into A (each group keeps its oldest person)
        a = make_person(phone=PHONE)
        b = identify(identifiers=[unionid("u-1")], source="wechat_oauth").person
        c = identify(identifiers=[tablet("tablet-0001")], source="live").person
        identify(identifiers=[unionid("u-1"), tablet("tablet-0001")], source="wechat_oauth")
        identify(identifiers=[phone(PHONE), unionid("u-1")], source="h5_otp")
        # when the profile is opened by C's OneID
        found = person_for_profile(one_id=c.one_id)
        # then it is A's, and A's profile lists both merged OneIDs in merge order (C's own
        # merge record names B, not A)
        assert found is not None
        assert found.pk == a.pk
        assert profile_merged_from(person=found) == [c.one_id, b.one_id]
        assert profile_person_ids(person=found) == [a.pk, b.pk, c.pk]

    def test_an_unknown_one_id_is_nobody(self) -> None:
        # given a customer
        make_person()
        # when an id nobody has is looked up
        # then there is no profile
        assert person_for_profile(one_id="P_NOSUCHPERSON0000000000000") is None
        assert person_for_profile(one_id="") is None


# --- the whole page ------------------------------------------------------------------------------


class TestPersonProfile:
    def profile(self, committed: Committed, store: EventStore) -> tuple[History, PersonProfile]:
        history = a_guest_who_logs_in(committed)
        with committed():
            manual_tag_add(person=history.customer, tag="VIP", actor=OPERATOR)
        buffer_flush_all(store=store)  # also refreshes the flushed people's computed tags
        survivor = person_for_profile(one_id=history.guest.one_id)
        assert survivor is not None
        return history, person_profile(person=survivor, store=store)

    def test_no_raw_phone_and_no_private_trait_anywhere_in_it(
        self, committed: Committed, store: EventStore
    ) -> None:
        # given a customer whose phone is her identifier, is typed in a trait, and is on her
        # order's delivery address (tests.orders.helpers.ADDRESS), with sealed name/address
        _, profile = self.profile(committed, store)
        # when every field of the profile is turned into text
        texts = [
            (field.name, text)
            for field in dataclasses.fields(profile)
            for text in every_text(getattr(profile, field.name))
        ]
        # then neither the number (either form), nor the sealed traits, nor the delivery
        # address's phone and street appear
        for forbidden in (
            PHONE,
            PHONE_E164,
            PRIVATE_NAME,
            PRIVATE_ADDRESS,
            "13800138000",
            "张江路 1 号",
        ):
            leaking = [name for name, text in texts if forbidden in text]
            assert leaking == [], (forbidden, leaking)

    def test_identifiers_are_masked(self, committed: Committed, store: EventStore) -> None:
        # given the customer with her phone and the guest's device
        _, profile = self.profile(committed, store)
        # then the page has both, masked
        shown = {(i.type, i.masked_value, i.verified) for i in profile.identifiers}
        assert shown == {
            ("phone", "139****5678", True),
            ("device_id", "dev***001", False),
        }

    def test_public_traits_are_shown_and_private_ones_are_not(
        self, committed: Committed, store: EventStore
    ) -> None:
        _, profile = self.profile(committed, store)

        assert profile.traits == [
            ("delivery_note", "到了打 139****5678"),
            ("diet", "低糖、素食"),
            ("性别", "女"),
            ("likes_organic", "是"),
        ]

    def test_orders_and_coupons_of_the_merged_guest_are_hers(
        self, committed: Committed, store: EventStore
    ) -> None:
        history, profile = self.profile(committed, store)

        assert {row.order_no for row in profile.orders.rows} == {
            history.guest_order.order_no,
            history.customer_order.order_no,
            history.live_order.order_no,
        }
        assert (profile.orders.count, profile.orders.paid_count) == (3, 3)
        assert profile.orders.paid_total == "¥480.00"  # 120 + 240 + 120, free shipping
        assert {row.code for row in profile.coupons} == {
            history.guest_coupon.code,
            history.customer_coupon.code,
        }
        assert profile.merged_from == [history.guest.one_id]

    def test_live_viewing_counts_the_guests_too(
        self, committed: Committed, store: EventStore
    ) -> None:
        history, profile = self.profile(committed, store)

        assert [
            (s.code, s.title, s.dwell_seconds, s.dwell, s.comments, s.bought)
            for s in profile.live.sessions
        ] == [(history.session.code, history.session.title, 90, "1 分 30 秒", 2, True)]
        assert (profile.live.total_dwell_seconds, profile.live.total_comments) == (90, 2)
        assert profile.live.sessions[0].first_join == clock.to_shanghai(NOW)

    def test_computed_and_manual_tags_are_present(
        self, committed: Committed, store: EventStore
    ) -> None:
        _, profile = self.profile(committed, store)

        tags = {row.field: (row.label, row.value) for row in profile.computed_tags}
        assert tags["frequency"] == ("购买次数", "3")
        assert tags["monetary_fen"] == ("累计消费", "¥480.00")
        assert tags["lifecycle"] == ("生命周期", "新客")
        assert tags["preferred_channel"][1] == "H5 商城"  # 2 shop orders, 1 in the room
        assert profile.tags_computed_at is not None
        assert profile.manual_tags == ["VIP"]

    def test_predictions_say_none_were_made_yet(
        self, committed: Committed, store: EventStore
    ) -> None:
        _, profile = self.profile(committed, store)

        assert profile.predictions.available is False
        assert profile.predictions.rows == []
        assert "还没有预测" in profile.predictions.note

    def test_the_person_section_is_a_snapshot_not_the_model(
        self, committed: Committed, store: EventStore
    ) -> None:
        history, profile = self.profile(committed, store)

        assert not isinstance(profile.person, Person)
        assert (profile.person.pk, profile.person.one_id) == (
            history.customer.pk,
            history.customer.one_id,
        )
        assert (profile.person.display_name, profile.status_label) == ("阿鲜", "有效")
        assert profile.person.created_at.utcoffset() == dt.timedelta(hours=8)


class TestProfileOrders:
    def test_rows_not_yet_re_pointed_after_a_merge_are_included(
        self, committed: Committed, store: EventStore
    ) -> None:
        # given a merge whose subscribers have not run: the guest's order and coupon are
        # still filed under the guest
        history = a_guest_who_logs_in(committed, repoint=False)
        assert Order.objects.get(pk=history.guest_order.pk).person_id == history.guest.pk
        assert Coupon.objects.get(pk=history.guest_coupon.pk).person_id == history.guest.pk
        buffer_flush_all(store=store)
        # when the survivor's profile is read
        profile = person_profile(person=history.customer, store=store)
        # then the guest's order, coupon, viewing and events are hers all the same
        assert history.guest_order.order_no in {row.order_no for row in profile.orders.rows}
        assert history.guest_coupon.code in {row.code for row in profile.coupons}
        assert profile.live.sessions[0].dwell_seconds == 90
        assert profile.live.sessions[0].comments == 2
        assert any(
            entry.name == "order_paid" and ("订单", history.guest_order.order_no) in entry.details
            for entry in profile.timeline.entries
        )


class TestProfileCoupons:
    def test_a_coupon_past_its_end_is_not_usable_even_before_the_expiry_job(self) -> None:
        # given a coupon valid for a day
        person = make_person()
        coupon = give_coupon(
            person, coupon_template("oneday", valid_until=clock.now() + dt.timedelta(days=1))
        )
        # when the wallet is read now, and two days later (the expiry job has not run)
        today = profile_coupons(person_ids=[person.pk])
        later = profile_coupons(person_ids=[person.pk], now=clock.now() + dt.timedelta(days=2))
        # then it is usable today and shown expired later
        assert [(row.code, row.status, row.usable) for row in today] == [
            (coupon.code, "可用", True)
        ]
        assert [(row.code, row.status, row.usable) for row in later] == [
            (coupon.code, "已过期", False)
        ]


# --- the timeline --------------------------------------------------------------------------------


class TestProfileTimeline:
    def test_channels_are_merged_in_time_order(self, store: EventStore) -> None:
        # given one customer seen in the shop, on WeCom, in a store and by the system
        person = make_person(phone=PHONE)
        _, shop = make_source("shop")
        _, wecom = make_source("wecom")
        _, store_pos = make_source("store")

        def track(source: EventSource, name: str, hours: int, **properties: Any) -> None:
            event = track_event(
                name, occurred_at=hours_ago(hours), one_id=person.one_id, properties=properties
            )
            send_and_flush(source, [event], store)

        track(shop, "search", 5, query="有机牛奶")
        track(wecom, "wecom_add_contact", 4, staff_userid="zhangsan")
        track(store_pos, "store_visit", 3, store_code="SH-01")
        track(shop, "page_view", 2, path="/m/cart")
        track(store_pos, "pos_purchase", 1, store_code="SH-01", amount_fen=3550)
        # when her timeline is read
        page = profile_timeline(person_ids=[person.pk], store=store)
        # then every channel's events are there, newest first, with their details
        assert [(e.name, e.label, e.channel, e.channel_label, e.details) for e in page.entries] == [
            (
                "pos_purchase",
                "门店消费",
                "store",
                "门店 POS",
                [("金额", "¥35.50"), ("门店", "SH-01")],
            ),
            ("page_view", "浏览页面", "shop", "H5 商城", [("页面", "/m/cart")]),
            ("store_visit", "到店", "store", "门店 POS", [("门店", "SH-01")]),
            ("wecom_add_contact", "添加企微好友", "wecom", "企业微信", []),
            ("search", "搜索", "shop", "H5 商城", [("搜索词", "有机牛奶")]),
        ]
        assert [e.occurred_at for e in page.entries] == sorted(
            (e.occurred_at for e in page.entries), reverse=True
        )
        assert page.entries[0].occurred_at == clock.to_shanghai(hours_ago(1))
        assert (page.page, page.pages, page.total) == (1, 1, 5)

    def test_pages_of_fifty(self, store: EventStore) -> None:
        # given 60 page views an hour apart
        person = make_person()
        _, shop = make_source("shop")
        send_and_flush(
            shop,
            [
                track_event(
                    "page_view",
                    occurred_at=hours_ago(hour),
                    one_id=person.one_id,
                    properties={"path": f"/m/p/{hour}"},
                )
                for hour in range(1, 61)
            ],
            store,
        )
        # when the pages are read (and one past the end)
        first = profile_timeline(person_ids=[person.pk], page=1, store=store)
        second = profile_timeline(person_ids=[person.pk], page=2, store=store)
        beyond = profile_timeline(person_ids=[person.pk], page=9, store=store)
        # then 50 and 10, newest first, no event twice; past the end shows the last page
        assert TIMELINE_PAGE_SIZE == 50
        assert (first.total, first.pages, len(first.entries), len(second.entries)) == (
            60,
            2,
            50,
            10,
        )
        paths = [e.details[0][1] for e in first.entries + second.entries]
        assert paths == [f"/m/p/{hour}" for hour in range(1, 61)]
        assert (first.has_previous, first.has_next) == (False, True)
        assert (second.has_previous, second.has_next) == (True, False)
        assert (beyond.page, [e.details for e in beyond.entries]) == (
            2,
            [e.details for e in second.entries],
        )

    def test_only_whitelisted_properties_are_shown(self, store: EventStore) -> None:
        # given events carrying an address, another person's ids, free text with a phone and
        # a custom field
        person = make_person()
        friend = make_person(phone="13700001111")
        _, shop = make_source("shop")
        send_and_flush(
            shop,
            [
                track_event(
                    "share",
                    occurred_at=hours_ago(2),
                    one_id=person.one_id,
                    properties={
                        "target": "wechat_friend",
                        "friend_one_id": friend.one_id,
                        "friend_person_id": friend.pk,
                        "address": "上海市浦东新区张江路 1 号",
                    },
                ),
                track_event(
                    "search",
                    occurred_at=hours_ago(1),
                    one_id=person.one_id,
                    properties={"query": "13700001111 的订单", "phone": "13700001111"},
                ),
            ],
            store,
        )
        # when her timeline is read
        page = profile_timeline(person_ids=[person.pk], store=store)
        # then only the whitelisted properties show, the phone in the search masked
        assert [e.details for e in page.entries] == [
            [("搜索词", "137****1111 的订单")],
            [("分享到", "wechat_friend")],
        ]
        text = repr(page)
        for forbidden in (friend.one_id, "friend_person_id", "张江路", "13700001111"):
            assert forbidden not in text, forbidden

    def test_other_peoples_events_are_not_hers(self, store: EventStore) -> None:
        # given two customers in the shop
        person, other = make_person(), make_person()
        _, shop = make_source("shop")
        send_and_flush(
            shop,
            [
                track_event(
                    "page_view",
                    occurred_at=hours_ago(2),
                    one_id=other.one_id,
                    properties={"path": "/m/other"},
                ),
                track_event(
                    "page_view",
                    occurred_at=hours_ago(1),
                    one_id=person.one_id,
                    properties={"path": "/m/mine"},
                ),
            ],
            store,
        )
        # when her timeline is read
        page = profile_timeline(person_ids=[person.pk], store=store)
        # then only her own event is there
        assert [e.details for e in page.entries] == [[("页面", "/m/mine")]]


class TestTimelineNamesProducts:
    def test_a_sku_and_a_product_read_as_their_names_not_ids(self, store: EventStore) -> None:
        # given a shopper who viewed a product and put one of its SKUs in the cart, and a
        # cart event for a SKU the catalog no longer has
        person = make_person()
        milk = make_sku(price_fen=5990, stock=5, name="牧场鲜牛奶")
        _, shop = make_source("shop")
        send_and_flush(
            shop,
            [
                track_event(
                    "product_view",
                    occurred_at=hours_ago(3),
                    one_id=person.one_id,
                    properties={"product_id": milk.product_id},
                ),
                track_event(
                    "add_to_cart",
                    occurred_at=hours_ago(2),
                    one_id=person.one_id,
                    properties={"sku_id": milk.pk, "product_id": milk.product_id, "quantity": 2},
                ),
                track_event(
                    "add_to_cart",
                    occurred_at=hours_ago(1),
                    one_id=person.one_id,
                    properties={"sku_id": 999999, "quantity": 1},
                ),
            ],
            store,
        )
        # when her timeline is read
        page = profile_timeline(person_ids=[person.pk], store=store)
        # then the events name the product and its spec, never "SKU 21 · 商品 12"
        assert [e.details for e in page.entries] == [
            [("商品", "已删除商品（SKU 999999）"), ("数量", "1")],
            [("商品", f"牧场鲜牛奶 {milk.spec}"), ("数量", "2")],
            [("商品", "牧场鲜牛奶")],
        ]
        assert "SKU" not in repr(page.entries[1:])


class TestPhonesMasked:
    @pytest.mark.parametrize(
        ("text", "shown"),
        [
            ("13912345678", "139****5678"),
            ("+86 139 1234 5678", "139****5678"),
            ("call 8613912345678 now", "call 139****5678 now"),
            ("order 2026031012345678901", "order 2026031012345678901"),  # a longer number
            ("没有号码", "没有号码"),
        ],
    )
    def test_mobile_numbers_in_text_are_masked(self, text: str, shown: str) -> None:
        assert phones_masked(text) == shown
