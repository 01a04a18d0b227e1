"""WeCom contacts and journey messages: a customer added in WeCom gets their OneID and enters
the 新好友 journey; a journey's message goes 1:1 from the customer's own 跟进人 through the
marketing policy, and lands on the sandbox phone; the abandoned live cart is won back with a
product card."""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from django.conf import settings

from freshloop.catalog.services import product_image_add
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.outbox import outbox_relay
from freshloop.identity.selectors import person_by_identifier
from freshloop.identity.services import IdentifierInput, identify
from freshloop.live.models import LiveAction
from freshloop.live.room.carts import carts_abandon_due
from freshloop.live.room.services import product_action
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.models import MarketingDispatch
from freshloop.messaging.selectors import wecom_sandbox_messages_for_contact
from freshloop.scrm.models import (
    ContactStatus,
    JourneyEnrollment,
    JourneyStepRun,
    JourneyTrigger,
    WecomContact,
)
from freshloop.scrm.services import journey_create, journey_status_set, journeys_run_due
from tests.catalog.test_images import picture
from tests.factories import make_person, make_sku
from tests.live.helpers import make_session

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
LATE = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)  # 23:00 in Shanghai


@pytest.fixture
def at(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[..., Any]:
    """`with at(MORNING, 11):` — that moment plus minutes, after-commit handlers included."""

    @contextlib.contextmanager
    def moment(start: dt.datetime, minutes: float = 0) -> Iterator[None]:
        with (
            clock.frozen(start + dt.timedelta(minutes=minutes)),
            django_capture_on_commit_callbacks(execute=True),
        ):
            yield

    return moment


def contact_added(external_userid: str, staff: str = "fl_staff_lin") -> None:
    publish(
        WecomContactChanged(
            corp_id="ww_sandbox",
            change_type="add_external_contact",
            staff_userid=staff,
            external_userid=external_userid,
            wecom_time=int(clock.now().timestamp()),
            event_key=f"add:{external_userid}:{staff}",
            state="live_qr",
        )
    )


def running(trigger: str, steps: list[dict[str, Any]]) -> Any:
    journey = journey_create(name="测试旅程", trigger=trigger, steps=steps, actor=OPERATOR)
    return journey_status_set(journey=journey, status="active", actor=OPERATOR)


class TestContacts:
    def test_an_added_contact_gets_the_oneid_of_its_wechat_login(
        self, at: Callable[..., Any]
    ) -> None:
        # given a shopper who logged into the H5 shop with WeChat (unionid o_sandbox_union_0001)
        shopper = identify(
            identifiers=[IdentifierInput(type="wechat_unionid", value="o_sandbox_union_0001")],
            source="test",
        ).person
        # when 王阿姨 (that unionid in the sandbox corp) is added by staff member 林
        with at(MORNING):
            contact_added("wm_sandbox_0001")
        # then the contact is tied to the shopper's OneID, followed by 林, from the live QR
        contact = WecomContact.objects.get()
        assert contact.person_id == shopper.pk
        assert (contact.follow_userid, contact.name, contact.state) == (
            "fl_staff_lin",
            "王阿姨",
            "live_qr",
        )
        assert (
            person_by_identifier(
                identifier_type="wecom_external_userid", value="wm_sandbox_0001", scope="ww_sandbox"
            )
            == shopper
        )

    def test_a_customer_who_deleted_the_staff_member_is_not_messaged(
        self, at: Callable[..., Any]
    ) -> None:
        with at(MORNING):
            contact_added("wm_sandbox_0002")
            publish(
                WecomContactChanged(
                    corp_id="ww_sandbox",
                    change_type="del_follow_user",
                    staff_userid="fl_staff_lin",
                    external_userid="wm_sandbox_0002",
                    wecom_time=0,
                    event_key="del:2",
                )
            )
        assert WecomContact.objects.get().status == ContactStatus.LOST


class TestMessages:
    def test_a_new_contact_gets_the_welcome_journeys_message_on_the_sandbox_phone(
        self, at: Callable[..., Any]
    ) -> None:
        # given a running 新好友 journey with a message
        running(
            JourneyTrigger.CONTACT_ADDED,
            [{"type": "message", "text": "您好，我是鲜环的小林，有新鲜好奶第一时间告诉您"}],
        )
        # when a customer is added and the runner and the outbox relay go
        with at(MORNING):
            contact_added("wm_sandbox_0002")
        with at(MORNING, 1):
            assert journeys_run_due().steps == 1
            outbox_relay()
        # then the sandbox phone shows the message from 林, and the decision says sent
        phone = wecom_sandbox_messages_for_contact(external_userid="wm_sandbox_0002")
        assert len(phone) == 1
        assert "有新鲜好奶" in phone[0].text + str(phone[0].attachments)
        dispatch = MarketingDispatch.objects.get()
        assert dispatch.status == "sent"
        assert dispatch.source == f"journey:{JourneyEnrollment.objects.get().journey_id}:step:1"

    def test_at_night_the_message_is_held_until_morning(self, at: Callable[..., Any]) -> None:
        running(JourneyTrigger.CONTACT_ADDED, [{"type": "message", "text": "晚安好奶"}])
        with at(LATE):
            contact_added("wm_sandbox_0002")
        with at(LATE, 1):
            journeys_run_due()
            outbox_relay()
        assert wecom_sandbox_messages_for_contact(external_userid="wm_sandbox_0002") == []
        assert MarketingDispatch.objects.get().status == "held"
        assert "08:00" in JourneyStepRun.objects.get().detail

    def test_a_new_contact_is_invited_to_a_group_through_its_join_code(
        self, at: Callable[..., Any]
    ) -> None:
        # given a welcome journey whose message invites to the brand's 群活码
        join_url = "http://127.0.0.1:8000/community/join/jc_demo"
        running(
            JourneyTrigger.CONTACT_ADDED,
            [
                {
                    "type": "message",
                    "text": "欢迎！进群领新人券～",
                    "invite_url": join_url,
                    "invite_title": "加入「鲜奶福利群」",
                }
            ],
        )
        # when 李先生 adds 林 on WeCom and the step runs
        with at(MORNING):
            contact_added("wm_sandbox_0002")
        with at(MORNING, 1):
            journeys_run_due()
            outbox_relay()
        # then his phone shows 林's message with the invitation card to the 活码's page
        (message,) = wecom_sandbox_messages_for_contact(external_userid="wm_sandbox_0002")
        cards = [card["link"] for card in message.attachments]
        assert [(card["title"], card["url"]) for card in cards] == [
            ("加入「鲜奶福利群」", join_url)
        ]

    def test_someone_who_is_not_a_wecom_contact_is_skipped(self, at: Callable[..., Any]) -> None:
        running(JourneyTrigger.ORDER_PAID, [{"type": "message", "text": "谢谢惠顾"}])
        from freshloop.scrm.services import journey_enroll

        person = make_person()
        with at(MORNING):
            journey_enroll(
                trigger=JourneyTrigger.ORDER_PAID, person_id=person.pk, trigger_key="o1", context={}
            )
            journeys_run_due()
        run = JourneyStepRun.objects.get()
        assert (run.outcome, run.detail) == ("skipped", "不是企业微信好友，无法发送")
        assert not MarketingDispatch.objects.exists()


class TestAbandonedLiveCart:
    def test_the_viewer_gets_a_product_card_from_their_staff_member(
        self, at: Callable[..., Any]
    ) -> None:
        # given a viewer who is 李先生 on WeCom, and the win-back journey
        running(
            JourneyTrigger.LIVE_CART_ABANDONED,
            [{"type": "message", "text": "您在直播间看中的宝贝还在等您～", "product_cards": True}],
        )
        with at(MORNING, -60):
            contact_added("wm_sandbox_0002")
        viewer = WecomContact.objects.get().person
        milk = make_sku(stock=9, price_fen=3990, name="牧场鲜牛奶")
        photo = product_image_add(
            product=milk.product, file=picture(), actor=Actor.system("test"), sku=milk
        )
        session = make_session(skus=[milk])
        # when they add the milk in the room and leave; ten minutes pass
        with at(MORNING):
            product_action(
                session=session, person=viewer, action=LiveAction.ADD_TO_CART, sku_id=milk.pk
            )
        with at(MORNING, 11):
            carts_abandon_due()
        with at(MORNING, 12):
            journeys_run_due()
            outbox_relay()
        # then their phone shows 林's message with the milk's card, tracked to the journey
        phone = wecom_sandbox_messages_for_contact(external_userid="wm_sandbox_0002")
        assert len(phone) == 1
        sent = phone[0].text + str(phone[0].attachments)
        assert "还在等您" in sent
        assert "牧场鲜牛奶" in sent
        assert f"/m/products/{milk.product_id}?sku={milk.pk}&src=j" in sent
        # and the card shows the milk's own picture, as an address WeCom can fetch
        picture_url = f"{settings.FRESHLOOP.public_base_url}{photo.url}"
        assert [card["link"]["picurl"] for card in phone[0].attachments] == [picture_url]
        assert phone[0].staff_userid == "fl_staff_lin"
