"""智能发送 (SC-3): the smart-send mass messages of the coming week planned together by the
message budget optimiser on the customers' real predictions, each recipient sent at their
planned hour through the marketing policy, the ones the caps leave out recorded and not sent."""

from __future__ import annotations

import contextlib
import dataclasses
import datetime as dt
import json
from collections import Counter
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pyarrow as pa
import pytest
from django.test import Client

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.core.models import AuditLog
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.predictions.services import person_predictions_write
from freshloop.datahub.segments.services import segment_save_and_materialise
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import Person
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.models import MarketingDispatch
from freshloop.messaging.wecom import sandbox_contact_add
from freshloop.scrm.broadcasts import broadcasts_due_ids
from freshloop.scrm.errors import BroadcastNotEditable, SmartSendInvalid
from freshloop.scrm.models import (
    Broadcast,
    BroadcastStatus,
    ContactStatus,
    SmartDropReason,
    SmartSendRun,
    SmartSendSlot,
    SmartSlotStatus,
    WecomContact,
)
from freshloop.scrm.services import (
    BroadcastDraft,
    broadcast_create,
    broadcast_schedule,
    broadcast_send,
    broadcast_update,
)
from freshloop.scrm.smart_send import (
    STAFF_DAILY_LIMIT,
    broadcast_smart_set,
    smart_send_broadcasts,
    smart_send_plan,
    smart_slots_for_person,
)
from tests.factories import make_person, make_staff_user

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="社群运营小周")
SHANGHAI = clock.SHANGHAI


def local(day: int, hour: int) -> dt.datetime:
    """December `day`, 2026, at `hour`:00 in Shanghai, as aware UTC."""
    return dt.datetime(2026, 12, day, hour, tzinfo=SHANGHAI).astimezone(dt.UTC)


PLANNING = local(3, 10)  # Thursday 10:00: today's sending has begun, the period starts Friday
FRIDAY_8 = local(4, 8)
LIN, ZHOU = "fl_staff_lin", "fl_staff_zhou"
QUIET = set(range(22, 24)) | set(range(8))


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    path = tmp_path / "events.duckdb"
    settings.DATAHUB_STORE_PATH = path
    return EventStore(path)


_capture: list[Callable[..., Any]] = []


@pytest.fixture(autouse=True)
def _capture_fixture(django_capture_on_commit_callbacks: Callable[..., Any]) -> Iterator[None]:
    _capture.append(django_capture_on_commit_callbacks)
    yield
    _capture.clear()


@contextlib.contextmanager
def at(moment: dt.datetime) -> Iterator[None]:
    with clock.frozen(moment), _capture[0](execute=True):
        yield


def customer(external_userid: str, staff: str = LIN) -> Person:
    """A WeCom contact of `staff` with a OneID, as WeCom's add callback makes one."""
    sandbox_contact_add(staff_userid=staff, external_userid=external_userid, name="顾客")
    with clock.frozen(PLANNING - dt.timedelta(days=1)), _capture[0](execute=True):
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


def segment_of(*people: Person, name: str = "智能发送人群") -> int:
    tag = f"tag-{name}"
    for person in people:
        manual_tag_add(person=person, tag=tag, actor=OPERATOR)
    definition = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": tag}]}
    return segment_save_and_materialise(name=name, definition=definition, actor=OPERATOR).pk


def hours_peaking_at(best: int) -> list[float]:
    shares = [0.01] * 24
    shares[best] += 1.0 - sum(shares)
    return shares


def predictions(store: EventStore, scores: dict[Person, tuple[float, int]]) -> None:
    """Each person's purchase propensity and contact-hour profile peaking at an hour."""
    people = list(scores)
    ids = pa.array([person.pk for person in people], pa.int64())
    person_predictions_write(
        kind="propensity",
        scores=pa.table(
            {
                "person_id": ids,
                "purchase_propensity": pa.array([scores[p][0] for p in people]),
                "propensity_reasons": pa.array([json.dumps([])] * len(people)),
                "propensity_version": pa.array([1] * len(people), pa.int32()),
            }
        ),
        store=store,
    )
    person_predictions_write(
        kind="contact_hour",
        scores=pa.table(
            {
                "person_id": ids,
                "best_contact_hour": pa.array([scores[p][1] for p in people], pa.int8()),
                "contact_hours": pa.array(
                    [hours_peaking_at(scores[p][1]) for p in people], pa.list_(pa.float64())
                ),
                "contact_events": pa.array([20] * len(people), pa.int32()),
                "contact_hour_version": pa.array([1] * len(people), pa.int32()),
            }
        ),
        store=store,
    )


def smart_broadcast(
    segment_id: int, *, title: str = "周末鲜果", days: int = 3, at_time: dt.datetime = FRIDAY_8
) -> Broadcast:
    with at(PLANNING):
        broadcast = broadcast_create(
            draft=BroadcastDraft(
                title=title,
                kind="text",
                text=f"{title}上新～",
                segment_id=segment_id,
                scheduled_at=at_time,
            ),
            actor=OPERATOR,
        )
        broadcast_schedule(broadcast=broadcast, actor=OPERATOR)
        return broadcast_smart_set(
            broadcast=broadcast, enabled=True, days=days, value_fen=2000, actor=OPERATOR
        )


def plan(**options: Any) -> Any:
    with at(PLANNING):
        return smart_send_plan(
            broadcasts=smart_send_broadcasts(now=PLANNING), now=PLANNING, actor=OPERATOR, **options
        )


def slots(**filters: Any) -> list[SmartSendSlot]:
    return list(SmartSendSlot.objects.filter(**filters).order_by("broadcast_id", "person_id"))


def dispatched(broadcast: Broadcast) -> set[int]:
    return set(
        MarketingDispatch.objects.filter(source=f"mass:{broadcast.pk}").values_list(
            "person_id", flat=True
        )
    )


class TestBroadcastSmartSet:
    def test_marks_a_scheduled_message_and_audits_it(self) -> None:
        # given a scheduled mass message
        segment = segment_of(customer("wm_ss_set"))
        # when it is marked 智能发送 over 2 days
        broadcast = smart_broadcast(segment, days=2)
        # then it is, and the change is audited
        broadcast.refresh_from_db()
        assert (broadcast.smart_send, broadcast.smart_days, broadcast.smart_value_fen) == (
            True,
            2,
            2000,
        )
        entry = AuditLog.objects.get(action="scrm.broadcast_smart_set")
        assert entry.after == {"smart_send": True, "smart_days": 2, "smart_value_fen": 2000}

    @pytest.mark.parametrize(
        ("days", "value", "field"),
        [(0, 0, "smart_days"), (8, 0, "smart_days"), (3, -1, "smart_value_fen")],
    )
    def test_bad_settings_name_the_field(self, days: int, value: int, field: str) -> None:
        segment = segment_of(customer("wm_ss_bad"))
        broadcast = smart_broadcast(segment)
        with at(PLANNING), pytest.raises(SmartSendInvalid) as caught:
            broadcast_smart_set(
                broadcast=broadcast, enabled=True, days=days, value_fen=value, actor=OPERATOR
            )
        assert [problem["field"] for problem in caught.value.detail] == [field]

    def test_a_message_already_sending_cannot_change(self, store: EventStore) -> None:
        segment = segment_of(customer("wm_ss_busy"))
        broadcast = smart_broadcast(segment)
        with at(FRIDAY_8):
            broadcast_send(broadcast_id=broadcast.pk)
        with at(FRIDAY_8), pytest.raises(BroadcastNotEditable):
            broadcast_smart_set(
                broadcast=broadcast, enabled=False, days=1, value_fen=0, actor=OPERATOR
            )


class TestSmartSendPlan:
    def test_the_plan_keeps_every_cap_with_real_data(self, store: EventStore) -> None:
        # given 8 customers of two 跟进人 with their predictions, in three overlapping smart
        # messages, and 跟进人 who may send only 3 messages a day
        lin = [customer(f"wm_ss_lin{i}") for i in range(5)]
        zhou = [customer(f"wm_ss_zhou{i}", staff=ZHOU) for i in range(3)]
        everyone = lin + zhou
        predictions(
            store,
            {person: (0.1 + 0.1 * i, (9 + 2 * i) % 24) for i, person in enumerate(everyone)},
        )
        segment = segment_of(*everyone)
        small = segment_of(*lin[:3], *zhou[:1], name="小人群")
        smart_broadcast(segment, title="周末鲜果", days=3)
        smart_broadcast(small, title="会员日", days=1)
        smart_broadcast(segment, title="直播预告", days=2, at_time=local(5, 7))
        # when the coming week is planned
        outcome = plan(staff_daily_limit=3)
        # then no customer gets more than one a day or four in the week, nobody in quiet
        # hours, no 跟进人 more than 3 a day, every message inside its days
        planned = slots(status=SmartSlotStatus.PLANNED)
        assert outcome.slots == len(planned) > 0
        days = [(slot.person_id, clock.to_shanghai(slot.send_at).date()) for slot in planned]
        assert max(Counter(days).values()) == 1
        assert max(Counter(slot.person_id for slot in planned).values()) <= 4
        assert all(clock.to_shanghai(slot.send_at).hour not in QUIET for slot in planned)
        staff_days = Counter(
            (slot.staff, clock.to_shanghai(slot.send_at).date()) for slot in planned
        )
        assert max(staff_days.values()) <= 3
        windows = {"周末鲜果": (4, 6), "会员日": (4, 4), "直播预告": (5, 6)}
        for slot in planned:
            first, last = windows[slot.broadcast.title]
            assert first <= clock.to_shanghai(slot.send_at).day <= last
        # and each recipient has an explanation in Chinese, a planned hour its best one
        assert all("预计价值" in slot.explanation for slot in planned)
        assert {slot.staff for slot in planned} == {LIN, ZHOU}

    def test_customers_are_sent_at_their_best_hour(self, store: EventStore) -> None:
        # given two customers who respond at 09:00 and 20:00
        morning, evening = customer("wm_ss_am"), customer("wm_ss_pm")
        predictions(store, {morning: (0.3, 9), evening: (0.3, 20)})
        smart_broadcast(segment_of(morning, evening), days=1)
        # when planned
        plan()
        # then each goes at their hour on Friday
        by_person = {slot.person_id: slot.send_at for slot in slots()}
        assert by_person == {morning.pk: local(4, 9), evening.pk: local(4, 20)}

    def test_a_customer_without_predictions_still_gets_a_sensible_slot(
        self, store: EventStore
    ) -> None:
        # given the population answering mostly at 19:00, and a customer no model has scored
        scored = [customer(f"wm_ss_scored{i}") for i in range(3)]
        predictions(store, {person: (0.2, 19) for person in scored})
        newcomer = customer("wm_ss_new")
        smart_broadcast(segment_of(*scored, newcomer), days=2)
        # when planned
        plan()
        # then the newcomer is planned at the population's best hour, and told why
        slot = SmartSendSlot.objects.get(person=newcomer)
        assert slot.status == SmartSlotStatus.PLANNED
        assert clock.to_shanghai(slot.send_at).hour == 19
        assert "暂无购买倾向评分" in slot.explanation
        assert "全体客户的平均时段" in slot.explanation
        assert (
            0
            < slot.expected_value_fen
            < SmartSendSlot.objects.get(person=scored[0]).expected_value_fen
        )

    def test_recipients_the_caps_leave_out_are_recorded_with_the_reason(
        self, store: EventStore
    ) -> None:
        # given four customers of one 跟进人 who may send 2 a day, and two one-day messages
        # on the same Friday for one of them
        people = [customer(f"wm_ss_drop{i}") for i in range(4)]
        predictions(store, {p: (0.1 * (i + 1), 10 + i) for i, p in enumerate(people)})
        everyone = smart_broadcast(segment_of(*people), title="周五特价", days=1)
        smart_broadcast(segment_of(people[3], name="加推"), title="加推", days=1)
        # when planned
        outcome = plan(staff_daily_limit=2)
        # then two are planned on Friday, the rest dropped: two by the staff limit and the
        # second message to the same customer by the customer's daily cap
        assert outcome.slots == 2
        dropped = {
            (slot.broadcast.title, slot.person_id): slot.drop_reason
            for slot in slots(status=SmartSlotStatus.DROPPED)
        }
        assert Counter(dropped.values()) == {
            SmartDropReason.STAFF_LIMIT: 2,
            SmartDropReason.CUSTOMER_CAP: 1,
        }
        assert all(slot.send_at is None for slot in slots(status=SmartSlotStatus.DROPPED))
        # the most promising customers are the ones kept
        kept = {slot.person_id for slot in slots(status=SmartSlotStatus.PLANNED)}
        assert kept == {people[3].pk, people[2].pk}
        # and the dropped are never sent, even when the whole day has passed
        with at(local(4, 21)):
            broadcast_send(broadcast_id=everyone.pk)
        sent = {slot.person_id for slot in slots(broadcast=everyone, status=SmartSlotStatus.SENT)}
        left_out = {
            slot.person_id for slot in slots(broadcast=everyone, status=SmartSlotStatus.DROPPED)
        }
        assert len(left_out) >= 2
        assert dispatched(everyone) == sent == {p.pk for p in people} - left_out

    def test_planning_again_gives_the_same_slots(self, store: EventStore) -> None:
        people = [customer(f"wm_ss_again{i}", staff=(LIN, ZHOU)[i % 2]) for i in range(6)]
        predictions(store, {p: (0.05 * (i + 1), 8 + 2 * i) for i, p in enumerate(people)})
        smart_broadcast(segment_of(*people), days=3)
        smart_broadcast(segment_of(*people[:3], name="另一群"), title="会员日", days=2)

        def snapshot() -> list[tuple[Any, ...]]:
            return [
                (s.broadcast_id, s.person_id, s.status, s.drop_reason, s.send_at, s.explanation)
                for s in slots()
            ]

        plan(staff_daily_limit=2)
        first = snapshot()
        # when planned again with nothing changed
        outcome = plan(staff_daily_limit=2)
        # then the slots are the same, not doubled
        assert snapshot() == first
        assert len(first) == 9
        assert SmartSendRun.objects.count() == 2
        assert outcome.planned
        assert not outcome.skipped
        entry = AuditLog.objects.filter(action="scrm.smart_send_plan").latest("pk")
        assert entry.after["slots"] == outcome.slots

    def test_messages_beyond_the_week_wait_and_changes_clear_the_plan(
        self, store: EventStore
    ) -> None:
        person = customer("wm_ss_later")
        segment = segment_of(person)
        soon = smart_broadcast(segment, days=2)
        # Wednesday 09:00: its first whole day is Thursday the 10th, the week's last, and its
        # second day falls outside the week
        straddling = smart_broadcast(segment, title="跨周", days=2, at_time=local(9, 9))
        later = smart_broadcast(segment, title="下周", days=2, at_time=local(12, 9))
        outcome = plan()
        assert outcome.planned == [soon.pk]
        assert set(outcome.skipped) == {straddling.pk}  # `later` is not among the week's
        assert not SmartSendSlot.objects.filter(broadcast__in=[straddling, later]).exists()
        # when the planned message is changed, its plan goes
        with at(PLANNING):
            broadcast_update(
                broadcast=soon,
                draft=BroadcastDraft(
                    title="改了",
                    kind="text",
                    text="改过的",
                    segment_id=segment,
                    scheduled_at=FRIDAY_8,
                ),
                actor=OPERATOR,
            )
        soon.refresh_from_db()
        assert soon.smart_planned_at is None
        assert not SmartSendSlot.objects.filter(broadcast=soon).exists()


class TestSmartBroadcastSend:
    def test_each_recipient_is_sent_at_the_planned_hour(self, store: EventStore) -> None:
        # given a smart message planned: one customer at 09:00, one at 20:00 on Friday
        morning, evening = customer("wm_ss_s_am"), customer("wm_ss_s_pm", staff=ZHOU)
        predictions(store, {morning: (0.3, 9), evening: (0.3, 20)})
        broadcast = smart_broadcast(segment_of(morning, evening), days=1)
        plan()
        # when its time comes (08:00), nobody's hour has come yet
        with at(FRIDAY_8):
            assert broadcast_send(broadcast_id=broadcast.pk).recipients == 0
        broadcast.refresh_from_db()
        assert broadcast.status == BroadcastStatus.SENDING
        assert dispatched(broadcast) == set()
        # the minute job leaves it alone until an hour comes
        assert broadcast.pk not in broadcasts_due_ids(now=local(4, 8) + dt.timedelta(minutes=30))
        assert broadcast.pk in broadcasts_due_ids(now=local(4, 9))
        # at 09:00 the morning customer gets it, through their 跟进人
        with at(local(4, 9)):
            assert broadcast_send(broadcast_id=broadcast.pk).recipients == 1
        assert dispatched(broadcast) == {morning.pk}
        dispatch = MarketingDispatch.objects.get(source=f"mass:{broadcast.pk}")
        assert dispatch.decided_at == local(4, 9)
        assert dispatch.outbox_message is not None
        assert dispatch.outbox_message.payload["sender"] == LIN
        # a second run in the same hour sends nothing again
        with at(local(4, 9) + dt.timedelta(minutes=1)):
            assert broadcast_send(broadcast_id=broadcast.pk).recipients == 0
        # at 20:00 the evening customer, and the message is sent
        with at(local(4, 20)):
            assert broadcast_send(broadcast_id=broadcast.pk).recipients == 1
        assert dispatched(broadcast) == {morning.pk, evening.pk}
        broadcast.refresh_from_db()
        assert broadcast.status == BroadcastStatus.SENT
        assert {slot.status for slot in slots()} == {SmartSlotStatus.SENT}
        assert broadcast.pk not in broadcasts_due_ids(now=local(4, 21))

    def test_a_message_nobody_planned_is_planned_when_its_time_comes(
        self, store: EventStore
    ) -> None:
        # given a smart message whose plan was never made
        person = customer("wm_ss_unplanned")
        predictions(store, {person: (0.4, 8)})
        broadcast = smart_broadcast(segment_of(person), days=1)
        assert not SmartSendSlot.objects.exists()
        # when its time comes (08:00, the customer's best hour)
        with at(FRIDAY_8):
            outcome = broadcast_send(broadcast_id=broadcast.pk)
        # then it is planned and the customer whose hour is now is sent at once
        assert outcome.recipients == 1
        assert SmartSendSlot.objects.get().send_at == FRIDAY_8
        assert dispatched(broadcast) == {person.pk}
        broadcast.refresh_from_db()
        assert broadcast.status == BroadcastStatus.SENT

    def test_a_recipient_no_longer_a_contact_is_dropped_not_sent(self, store: EventStore) -> None:
        person = customer("wm_ss_gone")
        broadcast = smart_broadcast(segment_of(person), days=1)
        plan()
        WecomContact.objects.filter(person=person).update(status=ContactStatus.LOST)
        with at(local(4, 21)):
            assert broadcast_send(broadcast_id=broadcast.pk).recipients == 0
        slot = SmartSendSlot.objects.get()
        assert (slot.status, slot.drop_reason) == (
            SmartSlotStatus.DROPPED,
            SmartDropReason.NO_CONTACT,
        )
        assert dispatched(broadcast) == set()

    def test_a_plain_message_still_goes_to_everyone_at_its_time(self, store: EventStore) -> None:
        people = [customer("wm_ss_plain1"), customer("wm_ss_plain2")]
        predictions(store, {people[0]: (0.3, 20)})
        with at(PLANNING):
            broadcast = broadcast_create(
                draft=BroadcastDraft(
                    title="普通群发",
                    kind="text",
                    text="普通群发",
                    segment_id=segment_of(*people),
                    scheduled_at=FRIDAY_8,
                ),
                actor=OPERATOR,
            )
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR)
        with at(FRIDAY_8):
            assert broadcast_send(broadcast_id=broadcast.pk).recipients == 2
        assert not SmartSendSlot.objects.exists()


class TestSmartSlotsForPerson:
    def test_lists_a_customers_slots_with_their_explanation(self, store: EventStore) -> None:
        person = customer("wm_ss_lookup")
        predictions(store, {person: (0.25, 12)})
        smart_broadcast(segment_of(person), days=2)
        plan()
        found = smart_slots_for_person(person_id=person.pk)
        assert [clock.to_shanghai(slot.send_at).hour for slot in found] == [12]
        assert "购买倾向 25.0%" in found[0].explanation
        assert f"每天最多发送 {STAFF_DAILY_LIMIT} 条" in found[0].explanation
        assert smart_slots_for_person(person_id=make_person().pk) == []


def test_the_caps_come_from_the_marketing_policy(store: EventStore, settings: Any) -> None:
    # given a policy of at most one marketing message in any 7 days
    policy = dataclasses.replace(
        settings.FRESHLOOP.marketing_policy,
        caps=(dataclasses.replace(settings.FRESHLOOP.marketing_policy.caps[0], days=7),),
    )
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, marketing_policy=policy)
    person = customer("wm_ss_policy")
    predictions(store, {person: (0.3, 10)})
    smart_broadcast(segment_of(person), title="一", days=3)
    smart_broadcast(segment_of(person, name="二群"), title="二", days=3)
    plan()
    assert len(slots(status=SmartSlotStatus.PLANNED)) == 1
    assert [slot.drop_reason for slot in slots(status=SmartSlotStatus.DROPPED)] == [
        SmartDropReason.CUSTOMER_CAP
    ]


def console(role: Role) -> Client:
    client = Client()
    client.force_login(make_staff_user(role.value, role))
    return client


PAGE = "/console/scrm/broadcasts/smart/"


class TestSmartSendPage:
    def test_operators_open_it_others_do_not(self) -> None:
        assert console(Role.MARKETER).get(PAGE).status_code == 200
        assert console(Role.COMMUNITY_MANAGER).get(PAGE).status_code == 200
        assert console(Role.CUSTOMER_SERVICE).get(PAGE).status_code == 403
        anonymous = Client().get(PAGE)
        assert anonymous.status_code == 302
        assert anonymous["Location"].startswith("/console/login/")

    def test_mark_plan_and_explain_from_the_console(self, store: EventStore) -> None:
        # given a scheduled mass message to two customers with predictions
        morning, evening = customer("wm_ss_p_am"), customer("wm_ss_p_pm")
        predictions(store, {morning: (0.3, 9), evening: (0.2, 20)})
        with at(PLANNING):
            broadcast = broadcast_create(
                draft=BroadcastDraft(
                    title="周末鲜果",
                    kind="text",
                    text="周末鲜果上新",
                    segment_id=segment_of(morning, evening),
                    scheduled_at=FRIDAY_8,
                ),
                actor=OPERATOR,
            )
            broadcast_schedule(broadcast=broadcast, actor=OPERATOR)
        client = console(Role.MARKETER)
        with clock.frozen(PLANNING):
            # when the operator marks it 智能发送 over 2 days at ¥25 a response
            marked = client.post(
                f"{PAGE}settings",
                {
                    "broadcast": broadcast.pk,
                    "enabled": "1",
                    "smart_days": "2",
                    "smart_value_yuan": "25",
                },
            )
            # and plans the coming week
            planned = client.post(f"{PAGE}plan")
            html = client.get(PAGE).content.decode()
            explained = client.get(PAGE, {"one_id": evening.one_id}).content.decode()
            unknown = client.get(PAGE, {"one_id": "P-nobody"}).content.decode()
        assert marked.status_code == planned.status_code == 302
        broadcast.refresh_from_db()
        assert (broadcast.smart_send, broadcast.smart_days, broadcast.smart_value_fen) == (
            True,
            2,
            2500,
        )
        # then the list shows its slots and the report compares it with 10:00
        assert f'data-broadcast="{broadcast.pk}"' in html
        assert "已规划 1 条群发：2 人次排定发送时间" in html
        assert 'data-testid="budget-kpis"' in html
        assert 'data-testid="budget-staff-chart"' in html
        # the lookup explains the customer's hour; an unknown OneID gets a message
        assert 'data-testid="smart-explanation"' in explained
        assert "12月4日 20:00" in explained
        assert "该客户 20 点响应率最高" in explained
        assert "找不到 OneID 为「P-nobody」的客户" in unknown

    def test_wrong_settings_are_a_message_not_an_error(self) -> None:
        segment = segment_of(customer("wm_ss_p_bad"))
        with at(PLANNING):
            broadcast = broadcast_create(
                draft=BroadcastDraft(title="错", kind="text", text="错", segment_id=segment),
                actor=OPERATOR,
            )
        client = console(Role.COMMUNITY_MANAGER)
        for form in (
            {"broadcast": broadcast.pk, "enabled": "1", "smart_days": "9", "smart_value_yuan": "1"},
            {"broadcast": broadcast.pk, "enabled": "1", "smart_days": "x", "smart_value_yuan": "1"},
            {
                "broadcast": broadcast.pk,
                "enabled": "1",
                "smart_days": "2",
                "smart_value_yuan": "1e999",
            },
            {"broadcast": "99999999999999999999", "enabled": "1", "smart_days": "2"},
        ):
            response = client.post(f"{PAGE}settings", form, follow=True)
            assert response.status_code == 200
            assert 'data-testid="message"' in response.content.decode()
        broadcast.refresh_from_db()
        assert not broadcast.smart_send

    def test_planning_with_nothing_to_plan_says_so(self) -> None:
        response = console(Role.MARKETER).post(f"{PAGE}plan", follow=True)
        assert "未来 7 天没有待发送的智能发送群发" in response.content.decode()
