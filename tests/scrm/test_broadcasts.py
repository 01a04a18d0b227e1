"""Mass messages (企业群发) and moments: compose with checks, a preview count that is the
marketing policy's own dry run, a send that goes once per customer through the policy (quiet
hours hold it to 08:00), WeCom's send results, and orders attributed by tracking code."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.models import OutboxMessage
from freshloop.core.outbox import outbox_relay
from freshloop.datahub.segments.services import segment_save_and_materialise
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import Person
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.models import DispatchStatus, MarketingDispatch, WecomSandboxMessage
from freshloop.messaging.services import (
    WECOM_CHANNEL,
    marketing_held_release,
    marketing_opt_out,
    marketing_send,
    wecom_confirmations_poll,
    wecom_payload,
)
from freshloop.messaging.wecom import sandbox_contact_add
from freshloop.orders.services import (
    order_refund_request,
    order_refund_succeeded,
    refund_request_approve,
)
from freshloop.scrm import broadcast_results as broadcast_results_module
from freshloop.scrm.errors import (
    BroadcastInvalid,
    BroadcastNotEditable,
    MomentNotEditable,
    MomentRejected,
)
from freshloop.scrm.models import Broadcast, BroadcastStatus, MomentStatus, WecomContact
from freshloop.scrm.selectors import broadcast_preview, broadcast_results
from freshloop.scrm.services import (
    BroadcastDraft,
    MomentDraft,
    broadcast_cancel,
    broadcast_click_record,
    broadcast_create,
    broadcast_schedule,
    broadcast_send,
    broadcast_update,
    moment_create,
    moment_publish,
)
from tests.factories import make_order, make_person, make_sku
from tests.orders.helpers import pay

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)  # 10:00 in Shanghai
LATE = dt.datetime(2026, 12, 4, 15, 0, tzinfo=dt.UTC)  # 23:00 in Shanghai
NEXT_EIGHT = dt.datetime(2026, 12, 5, 0, 0, tzinfo=dt.UTC)  # 08:00 the next morning
TAG = "群发测试"


@pytest.fixture
def at(django_capture_on_commit_callbacks: Callable[..., Any]) -> Callable[..., Any]:
    @contextlib.contextmanager
    def moment(when: dt.datetime) -> Iterator[None]:
        with clock.frozen(when), django_capture_on_commit_callbacks(execute=True):
            yield

    return moment


_capture: list[Callable[..., Any]] = []


@pytest.fixture(autouse=True)
def _capture_fixture(django_capture_on_commit_callbacks: Callable[..., Any]) -> Iterator[None]:
    _capture.append(django_capture_on_commit_callbacks)
    yield
    _capture.clear()


def customer(external_userid: str, staff: str = "fl_staff_lin") -> Person:
    """A WeCom contact of `staff` with a OneID, as WeCom's add callback makes one (its handler
    runs after commit). Call it outside `at`, whose capture would run the handler again."""
    sandbox_contact_add(staff_userid=staff, external_userid=external_userid, name="顾客")
    with _capture[0](execute=True):
        publish(
            WecomContactChanged(
                corp_id="ww_sandbox_corp",
                change_type="add_external_contact",
                staff_userid=staff,
                external_userid=external_userid,
                wecom_time=int(clock.now().timestamp()),
                event_key=f"add:{external_userid}",
            )
        )
    return WecomContact.objects.get(external_userid=external_userid).person


def segment_of(*people: Person, name: str = "群发人群") -> int:
    for person in people:
        manual_tag_add(person=person, tag=TAG, actor=OPERATOR)
    definition = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": TAG}]}
    return segment_save_and_materialise(name=name, definition=definition, actor=OPERATOR).pk


def text_draft(segment: int | None, **fields: Any) -> BroadcastDraft:
    spec: dict[str, Any] = {
        "title": "周末鲜果",
        "kind": "text",
        "text": "周末鲜果上新，草莓买二送一～",
        "segment_id": segment,
    }
    spec.update(fields)
    return BroadcastDraft(**spec)


def already_messaged(person: Person) -> None:
    """One WeCom marketing message today: the daily cap (1 a day) is used."""
    contact = WecomContact.objects.get(person=person)
    marketing_send(
        person_id=person.pk,
        channel=WECOM_CHANNEL,
        payload=wecom_payload(sender=contact.follow_userid, text="早安"),
        destination=contact.external_userid,
        purpose="journey",
        source="journey:1:step:1",
        dedupe_key=f"earlier:{person.pk}",
    )


@pytest.fixture
def audience() -> dict[str, Any]:
    """Four people in one segment: one reachable, one opted out, one capped today, one who is
    not a WeCom contact."""
    with clock.frozen(MORNING - dt.timedelta(hours=1)):
        reachable = customer("wm_bc_ok")
        opted_out = customer("wm_bc_out")
        capped = customer("wm_bc_capped")
        stranger = make_person()
        marketing_opt_out(
            actor=OPERATOR, person_id=opted_out.pk, channel=WECOM_CHANNEL, source="self"
        )
        already_messaged(capped)
        segment_id = segment_of(reachable, opted_out, capped, stranger)
    return {
        "segment_id": segment_id,
        "reachable": reachable,
        "opted_out": opted_out,
        "capped": capped,
        "stranger": stranger,
    }


def reasons(preview: Any) -> dict[str, int]:
    return {reason.code: reason.count for reason in preview.reasons}


class TestBroadcastCheck:
    @pytest.mark.parametrize(
        ("fields", "field"),
        [
            ({"text": "   "}, "text"),
            ({"text": "鲜" * 1334}, "text"),  # 4,002 bytes: over WeCom's 4,000
            ({"title": ""}, "title"),
            ({"kind": "video"}, "kind"),
            ({"segment_id": 999_999}, "segment_id"),
            ({"scheduled_at": MORNING - dt.timedelta(hours=1)}, "scheduled_at"),
            ({"kind": "image", "image_url": "ftp://x"}, "image_url"),
            ({"kind": "product", "product_id": 999_999}, "product_id"),
            ({"kind": "miniprogram", "miniprogram": {"title": "鲜环"}}, "miniprogram.appid"),
        ],
    )
    def test_bad_input_names_the_field(
        self, at: Callable[..., Any], fields: dict[str, Any], field: str
    ) -> None:
        # given a composer's draft with one thing wrong
        with at(MORNING), pytest.raises(BroadcastInvalid) as caught:
            # when it is saved
            broadcast_create(draft=text_draft(None, **fields), actor=OPERATOR)
        # then it is refused, naming the field; nothing is saved
        assert field in [problem["field"] for problem in caught.value.detail]
        assert not Broadcast.objects.exists()

    def test_exactly_4000_bytes_is_accepted(self, at: Callable[..., Any]) -> None:
        with at(MORNING):
            broadcast = broadcast_create(
                draft=text_draft(None, text="鲜" * 1333 + "a"), actor=OPERATOR
            )
        assert len(broadcast.text.encode()) == 4000
        assert broadcast.status == BroadcastStatus.DRAFT
        assert broadcast.audience_label == "全部企业微信好友"


class TestBroadcastPreview:
    def test_counts_honour_consent_caps_and_contacts(
        self, at: Callable[..., Any], audience: dict[str, Any]
    ) -> None:
        # when the preview is asked for 10:00 today
        with at(MORNING):
            preview = broadcast_preview(segment_id=audience["segment_id"], at=MORNING)
        # then only the reachable customer would receive it, and the others say why
        assert (preview.audience, preview.receive, preview.now, preview.held) == (4, 1, 1, 0)
        assert reasons(preview) == {"no_contact": 1, "opted_out": 1, "frequency_cap": 1}
        assert preview.release_at is None

    def test_at_23_00_the_sends_are_held_to_08_00_and_the_cap_is_that_mornings(
        self, at: Callable[..., Any], audience: dict[str, Any]
    ) -> None:
        # when the preview is asked for 23:00: the morning after, today's cap no longer binds
        with at(MORNING):
            preview = broadcast_preview(segment_id=audience["segment_id"], at=LATE)
        # then both contacts who have not opted out are held to 08:00
        assert (preview.receive, preview.now, preview.held) == (2, 0, 2)
        assert reasons(preview) == {"no_contact": 1, "opted_out": 1}
        assert preview.release_at == NEXT_EIGHT

    def test_a_big_audience_read_in_chunks_counts_the_same(
        self, at: Callable[..., Any], audience: dict[str, Any], monkeypatch: pytest.MonkeyPatch
    ) -> None:
        with at(MORNING):
            whole = broadcast_preview(segment_id=audience["segment_id"], at=MORNING)
            monkeypatch.setattr(broadcast_results_module, "CHUNK", 1)
            chunked = broadcast_preview(segment_id=audience["segment_id"], at=MORNING)
        assert chunked == whole

    def test_the_preview_writes_nothing(
        self, at: Callable[..., Any], audience: dict[str, Any]
    ) -> None:
        before = MarketingDispatch.objects.count()
        with at(MORNING):
            broadcast_preview(segment_id=audience["segment_id"], at=MORNING)
        assert MarketingDispatch.objects.count() == before
        assert not OutboxMessage.objects.filter(marketing_dispatch__source__startswith="mass")


class TestBroadcastSend:
    def test_sends_once_per_customer_through_the_policy_even_when_run_twice(
        self, at: Callable[..., Any], audience: dict[str, Any]
    ) -> None:
        # given a mass message scheduled now (its task runs after commit)
        with at(MORNING):
            broadcast = broadcast_create(draft=text_draft(audience["segment_id"]), actor=OPERATOR)
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR, send_now=True)
        with at(MORNING):
            outbox_relay()
        # then the reachable customer got it on their phone
        broadcast.refresh_from_db()
        assert broadcast.status == BroadcastStatus.SENT
        phone = WecomSandboxMessage.objects.filter(text=broadcast.text)
        assert list(phone.values_list("external_userid", "staff_userid")) == [
            ("wm_bc_ok", "fl_staff_lin")
        ]
        # when the send runs again (a retried task, the minute job)
        with at(MORNING + dt.timedelta(minutes=1)):
            again = broadcast_send(broadcast_id=broadcast.pk)
            broadcast.status = BroadcastStatus.SENDING  # even a send interrupted half way
            Broadcast.objects.filter(pk=broadcast.pk).update(status=BroadcastStatus.SENDING)
            resumed = broadcast_send(broadcast_id=broadcast.pk)
            outbox_relay()
        # then nothing is decided or sent twice
        assert not again.started
        assert resumed.started
        assert MarketingDispatch.objects.filter(source=f"mass:{broadcast.pk}").count() == 3
        assert phone.count() == 1
        results = broadcast_results(broadcast=Broadcast.objects.get(pk=broadcast.pk))
        assert (results.audience, results.recipients, results.confirmed) == (4, 3, 1)
        assert {r.code: r.count for r in results.reasons} == {
            "no_contact": 1,
            "opted_out": 1,
            "frequency_cap": 1,
        }
        assert results.not_received == 3

    def test_a_23_00_schedule_is_held_to_08_00(self, at: Callable[..., Any]) -> None:
        # given a customer and a mass message to all WeCom contacts at 23:00
        with clock.frozen(MORNING):
            person = customer("wm_bc_night")
        with at(MORNING):
            broadcast = broadcast_create(draft=text_draft(None, scheduled_at=LATE), actor=OPERATOR)
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR)
            # nothing goes before its time
            assert not broadcast_send(broadcast_id=broadcast.pk).started
        # when the time comes
        with at(LATE):
            assert broadcast_send(broadcast_id=broadcast.pk).recipients == 1
            outbox_relay()
        # then the policy holds it to 08:00: not on the phone yet
        dispatch = MarketingDispatch.objects.get(person=person, source=f"mass:{broadcast.pk}")
        assert (dispatch.status, dispatch.scheduled_for) == (DispatchStatus.HELD, NEXT_EIGHT)
        assert not WecomSandboxMessage.objects.filter(text=broadcast.text).exists()
        assert broadcast_results(broadcast=broadcast).held == 1
        # and at 08:00 it goes out
        with at(NEXT_EIGHT):
            marketing_held_release()
            outbox_relay()
        assert WecomSandboxMessage.objects.filter(
            text=broadcast.text, external_userid="wm_bc_night"
        ).exists()
        assert broadcast_results(broadcast=broadcast).confirmed == 1

    def test_cancelled_and_sent_messages_cannot_change(self, at: Callable[..., Any]) -> None:
        with at(MORNING):
            sent = broadcast_create(draft=text_draft(None), actor=OPERATOR)
            broadcast_schedule(broadcast=sent, actor=OPERATOR, send_now=True)
            later = broadcast_create(draft=text_draft(None, scheduled_at=LATE), actor=OPERATOR)
            broadcast_schedule(broadcast=later, actor=OPERATOR)
            broadcast_cancel(broadcast=later, actor=OPERATOR)
        with at(MORNING):
            for broadcast in (sent, later):
                with pytest.raises(BroadcastNotEditable):
                    broadcast_update(broadcast=broadcast, draft=text_draft(None), actor=OPERATOR)
                with pytest.raises(BroadcastNotEditable):
                    broadcast_cancel(broadcast=broadcast, actor=OPERATOR)
            # a cancelled message is never sent
            assert not broadcast_send(broadcast_id=later.pk).started

    def test_wecom_send_results_confirm_what_waits_for_the_staff_member(
        self, at: Callable[..., Any]
    ) -> None:
        # given a mass message whose send waits for the staff member (as with a real corp:
        # the sandbox confirms at once, so the wait is put back)
        with clock.frozen(MORNING):
            customer("wm_bc_wait")
        with at(MORNING):
            broadcast = broadcast_create(draft=text_draft(None), actor=OPERATOR)
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR, send_now=True)
        with at(MORNING):
            outbox_relay()
            MarketingDispatch.objects.filter(source=f"mass:{broadcast.pk}").update(
                status=DispatchStatus.PENDING_CONFIRMATION
            )
            assert broadcast_results(broadcast=broadcast).pending == 1
        # when the poll asks WeCom (the sandbox reports status 1: sent)
        with at(MORNING + dt.timedelta(minutes=15)):
            changed = wecom_confirmations_poll()
            again = wecom_confirmations_poll()
        # then the send is confirmed, once
        assert (changed.sent, again.sent) == (1, 0)
        assert broadcast_results(broadcast=broadcast).confirmed == 1


class TestAttribution:
    def test_paid_orders_with_the_tracking_code_within_7_days_count(
        self, at: Callable[..., Any]
    ) -> None:
        # given a mass message with a product link, sent at 10:00
        sku = make_sku(price_fen=3900, stock=20)
        with clock.frozen(MORNING):
            buyer = customer("wm_bc_buyer")
        with at(MORNING):
            broadcast = broadcast_create(
                draft=text_draft(None, kind="product", product_id=sku.product_id), actor=OPERATOR
            )
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR, send_now=True)
        with at(MORNING):
            outbox_relay()
        card = WecomSandboxMessage.objects.get(text=broadcast.text).attachments[0]["link"]
        assert card["url"].endswith(f"/m/products/{sku.product_id}?src=bc-{broadcast.pk}")
        code = f"bc-{broadcast.pk}"
        # when orders are paid: with the code on day 2, without it, and with it on day 8
        with at(MORNING + dt.timedelta(days=1)):
            counted = pay(make_order(buyer, (sku, 2), source_ref=code))
            pay(make_order(buyer, (sku, 1)))
        with at(MORNING + dt.timedelta(days=7, minutes=1)):
            pay(make_order(buyer, (sku, 1), source_ref=code))
        # and one with the code left unpaid
        with at(MORNING + dt.timedelta(days=2)):
            make_order(buyer, (sku, 1), source_ref=code)
        # then only the first counts, with its amount paid
        broadcast.refresh_from_db()
        results = broadcast_results(broadcast=broadcast)
        assert (results.orders, results.gmv_fen) == (1, counted.paid_fen)
        assert results.window_ends == MORNING + dt.timedelta(days=7)

    def test_a_refund_comes_off_the_gmv(self, at: Callable[..., Any]) -> None:
        # given a paid order of two through the link, one unit refunded
        sku = make_sku(price_fen=3900, stock=20)
        with clock.frozen(MORNING):
            buyer = customer("wm_bc_refund")
        with at(MORNING):
            broadcast = broadcast_create(
                draft=text_draft(None, kind="product", product_id=sku.product_id), actor=OPERATOR
            )
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR, send_now=True)
        with at(MORNING + dt.timedelta(hours=2)):
            order = pay(make_order(buyer, (sku, 2), source_ref=f"bc-{broadcast.pk}"))
            line = order.lines.get()
            refund = order_refund_request(
                order_no=order.order_no,
                reason="坏了一盒",
                actor=OPERATOR,
                lines=[{"line_id": line.pk, "quantity": 1}],
            )
            refund_request_approve(refund_no=refund.refund_no, actor=OPERATOR)
            order_refund_succeeded(
                order_no=order.order_no,
                refund_no=refund.refund_no,
                amount_fen=refund.amount_fen,
                refunded_at=clock.now(),
            )
        # then the order still counts, for what was paid minus the refund
        broadcast.refresh_from_db()
        results = broadcast_results(broadcast=broadcast)
        assert (results.orders, results.gmv_fen) == (1, order.paid_fen - refund.amount_fen)
        assert refund.amount_fen > 0

    def test_clicks_count_once_per_visitor(self, at: Callable[..., Any]) -> None:
        with at(MORNING):
            broadcast = broadcast_create(draft=text_draft(None), actor=OPERATOR)
            # a link of a message not sent yet is not counted
            assert not broadcast_click_record(
                tracking_code=f"bc-{broadcast.pk}", visitor="a:1", person_id=None
            )
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR, send_now=True)
        with at(MORNING):
            first = broadcast_click_record(
                tracking_code=f"bc-{broadcast.pk}", visitor="a:1", person_id=None
            )
            again = broadcast_click_record(
                tracking_code=f"bc-{broadcast.pk}", visitor="a:1", person_id=None
            )
            other = broadcast_click_record(
                tracking_code=f"bc-{broadcast.pk}", visitor="a:2", person_id=None
            )
            journey_code = broadcast_click_record(
                tracking_code="j1s1", visitor="a:3", person_id=None
            )
        assert (first, again, other, journey_code) == (True, False, True, False)
        assert broadcast_results(broadcast=broadcast).clicks == 2


class TestMoments:
    def test_a_moment_reaches_the_tagged_customers_of_its_staff(
        self, at: Callable[..., Any]
    ) -> None:
        # given a moment for 林's customers tagged VIP (王阿姨, wm_sandbox_0001)
        with at(MORNING):
            moment = moment_create(
                draft=MomentDraft(
                    text="今晚 8 点直播：阳澄湖大闸蟹",
                    kind="link",
                    link_title="直播预告",
                    link_url="https://shop.example.com/live",
                    sender_userids=("fl_staff_lin",),
                    visible_tag_ids=("et_sandbox_vip",),
                ),
                actor=OPERATOR,
            )
            # when it is published
            published = moment_publish(moment=moment, actor=OPERATOR)
            # then WeCom has the task and only the tagged customer sees it
            assert published.status == MomentStatus.PUBLISHED
            assert published.jobid.startswith("job_sandbox_")
            seen = WecomSandboxMessage.objects.filter(wecom_id=published.jobid)
            assert list(seen.values_list("kind", "external_userid")) == [
                ("moment", "wm_sandbox_0001")
            ]
            assert seen.get().attachments[0]["link"]["title"] == "直播预告"
            # and it cannot be handed over twice
            with pytest.raises(MomentNotEditable):
                moment_publish(moment=published, actor=OPERATOR)

    def test_wecom_refusing_it_marks_it_failed(self, at: Callable[..., Any]) -> None:
        with at(MORNING):
            moment = moment_create(
                draft=MomentDraft(text="新品", kind="text", visible_tag_ids=("et_nope",)),
                actor=OPERATOR,
            )
            with pytest.raises(MomentRejected):
                moment_publish(moment=moment, actor=OPERATOR)
        moment.refresh_from_db()
        assert moment.status == MomentStatus.FAILED
        assert moment.error


@pytest.fixture
def no_caps(settings: Any) -> None:
    policy = dataclasses.replace(settings.FRESHLOOP.marketing_policy, caps=())
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, marketing_policy=policy)


class TestWecomLimit:
    def test_the_preview_counts_wecoms_own_limit(
        self, at: Callable[..., Any], no_caps: None, settings: Any
    ) -> None:
        # given WeCom's limit of 1 mass message a day and no caps of our own
        policy = dataclasses.replace(
            settings.FRESHLOOP.marketing_policy, wecom_mass_window="day", wecom_mass_limit=1
        )
        settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, marketing_policy=policy)
        with clock.frozen(MORNING):
            person = customer("wm_bc_limit")
        with at(MORNING):
            already_messaged(person)
            preview = broadcast_preview(segment_id=segment_of(person), at=MORNING)
        assert reasons(preview) == {"wecom_limit": 1}
        assert preview.receive == 0
