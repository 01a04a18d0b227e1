"""The outbound message policy: every marketing send passes consent, frequency caps, quiet
hours (Asia/Shanghai), WeCom's own 企业群发 limit and dedupe, and leaves a decision on the
person's timeline; transactional sends bypass all of it."""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import pytest
from django.test import Client

from config.env import (
    ConfigurationError,
    FrequencyCap,
    MarketingPolicySettings,
    _load_marketing_policy,
)
from freshloop.core import clock, outbox
from freshloop.core.audit import Actor
from freshloop.core.clock import SHANGHAI
from freshloop.core.models import AuditLog, OutboxMessage, OutboxStatus
from freshloop.core.outbox import outbox_relay, sms_payload
from freshloop.identity.events import IdentityMerged
from freshloop.identity.models import Person
from freshloop.identity.privacy import person_erase, person_export
from freshloop.messaging.errors import (
    ConsentSourceUnknown,
    MarketingChannelUnknown,
    MarketingPersonUnknown,
)
from freshloop.messaging.models import DispatchStatus, MarketingConsent, MarketingDispatch
from freshloop.messaging.policy import quiet_hours_end, wecom_mass_window
from freshloop.messaging.selectors import (
    marketing_opted_out_channels,
    marketing_timeline_for_person,
)
from freshloop.messaging.services import (
    PolicyRecordingSender,
    marketing_confirmation_record,
    marketing_held_release,
    marketing_opt_in,
    marketing_opt_out,
    marketing_send,
    sms_send,
    transactional_send,
)
from freshloop.messaging.subscribers import policy_follows_merge
from freshloop.messaging.tasks import release_held_marketing
from tests.factories import make_person, make_staff_user

STAFF = Actor(type="user", id="7", label="运营小王")
NO_CAPS = MarketingPolicySettings(caps=())


def shanghai(day: int, hour: int, minute: int = 0, second: int = 0, month: int = 3) -> dt.datetime:
    return dt.datetime(2027, month, day, hour, minute, second, tzinfo=SHANGHAI)


def use_policy(settings: Any, policy: MarketingPolicySettings) -> None:
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, marketing_policy=policy)


_keys = iter(range(1, 10**9))


def send(
    person: Person,
    at: dt.datetime,
    *,
    channel: str = "sms",
    key: str | None = None,
    source: str = "journey:12:step:3",
) -> MarketingDispatch:
    with clock.frozen(at):
        return marketing_send(
            person_id=person.pk,
            channel=channel,
            payload=sms_payload("spring_promo", {"name": "春笋"}) if channel == "sms" else {},
            purpose="spring_promo",
            source=source,
            dedupe_key=key or f"test:{next(_keys)}",
        )


def release(at: dt.datetime) -> Any:
    with clock.frozen(at):
        return marketing_held_release()


class RecordingWecomSender:
    """Plays the WeCom client: takes the task (add_msg_template) and answers its msgid."""

    channel = "wecom"

    def __init__(self) -> None:
        self.sent: list[int] = []

    def send(self, message: OutboxMessage) -> str:
        self.sent.append(message.pk)
        return f"msgid-{message.pk}"


@pytest.fixture
def wecom_sender(monkeypatch: pytest.MonkeyPatch) -> RecordingWecomSender:
    inner = RecordingWecomSender()
    monkeypatch.setitem(outbox._senders, "wecom", PolicyRecordingSender(inner))
    return inner


@pytest.mark.django_db
class TestConsent:
    def test_an_opt_out_holds_on_its_channel_only_and_opting_back_in_lifts_it(
        self, settings: Any
    ) -> None:
        use_policy(settings, NO_CAPS)
        # given a person who said 退订 to texts
        person = make_person()
        marketing_opt_out(
            actor=Actor.consumer(person.one_id), person_id=person.pk, channel="sms", source="self"
        )
        # when a journey texts them and messages them on WeCom
        text = send(person, shanghai(2, 10))
        wecom = send(person, shanghai(2, 10), channel="wecom")
        # then the text is suppressed with the reason, WeCom is not affected
        assert (text.status, text.reason_code, text.reason) == (
            DispatchStatus.SUPPRESSED,
            "opted_out",
            "已退订短信",
        )
        assert text.outbox_message_id is None
        assert wecom.status == DispatchStatus.QUEUED
        assert marketing_opted_out_channels(person_id=person.pk) == ["sms"]
        # when staff record that they subscribed again
        marketing_opt_in(actor=STAFF, person_id=person.pk, channel="sms", source="staff")
        # then texts go out again
        assert send(person, shanghai(2, 11)).status == DispatchStatus.QUEUED

    def test_each_change_is_audited_with_its_source(self) -> None:
        person = make_person()
        marketing_opt_out(actor=STAFF, person_id=person.pk, channel="wecom", source="import")
        marketing_opt_out(actor=STAFF, person_id=person.pk, channel="wecom", source="import")
        marketing_opt_in(
            actor=Actor.consumer(person.one_id), person_id=person.pk, channel="wecom", source="self"
        )
        consent = MarketingConsent.objects.get(person=person, channel="wecom")
        changes = list(
            AuditLog.objects.filter(target_id=str(consent.pk), action__startswith="messaging.")
            .order_by("pk")
            .values_list("action", "actor_label", "after")
        )
        # the repeated opt-out changed nothing and wrote nothing
        assert [(action, actor) for action, actor, _ in changes] == [
            ("messaging.opt_out", "运营小王"),
            ("messaging.opt_in", person.one_id),
        ]
        assert changes[0][2]["source"] == "import"
        assert changes[1][2]["source"] == "self"

    def test_bad_channel_source_or_person_is_refused(self) -> None:
        person = make_person()
        with pytest.raises(MarketingChannelUnknown):
            marketing_opt_out(actor=STAFF, person_id=person.pk, channel="fax", source="staff")
        with pytest.raises(ConsentSourceUnknown):
            marketing_opt_out(actor=STAFF, person_id=person.pk, channel="sms", source="guess")
        with pytest.raises(MarketingChannelUnknown):
            send(person, shanghai(2, 10), channel="fax")
        with pytest.raises(MarketingPersonUnknown):
            marketing_send(
                person_id=987654321,
                channel="sms",
                payload={},
                purpose="p",
                source="s",
                dedupe_key="nobody",
            )


@pytest.mark.django_db
class TestFrequencyCap:
    def test_one_a_day_per_channel_and_the_day_ends_at_shanghai_midnight(
        self, settings: Any
    ) -> None:
        use_policy(
            settings,
            MarketingPolicySettings(
                caps=(FrequencyCap(limit=1, days=1),), quiet_start_minute=0, quiet_end_minute=0
            ),
        )
        person = make_person()
        # given one text sent at 10:00
        assert send(person, shanghai(2, 10)).status == DispatchStatus.QUEUED
        # when another comes at 23:59:59 the same (Shanghai) day
        late = send(person, shanghai(2, 23, 59, 59))
        # then it is suppressed with the cap in words; WeCom is counted on its own
        assert (late.status, late.reason) == (
            DispatchStatus.SUPPRESSED,
            "超过频次上限（每天 1 条）",
        )
        assert send(person, shanghai(2, 23, 59, 59), channel="wecom").status == "queued"
        # and at 00:00 the next day a new window has begun
        assert send(person, shanghai(3, 0, 0, 0)).status == DispatchStatus.QUEUED

    def test_four_a_week_over_the_seven_days_ending_today(self, settings: Any) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=4, days=7),)))
        person = make_person()
        # given texts on 1, 2, 3 and 4 March
        for day in (1, 2, 3, 4):
            assert send(person, shanghai(day, 10)).status == DispatchStatus.QUEUED
        # then 7 March (1–7 holds four) is refused, 8 March (2–8 holds three) is not
        refused = send(person, shanghai(7, 21, 59))
        assert refused.reason == "超过频次上限（每周 4 条）"
        assert send(person, shanghai(8, 8)).status == DispatchStatus.QUEUED

    def test_suppressed_sends_do_not_use_up_the_cap(self, settings: Any) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=1, days=1),)))
        person = make_person()
        marketing_opt_out(actor=STAFF, person_id=person.pk, channel="sms", source="staff")
        assert send(person, shanghai(2, 9)).reason_code == "opted_out"
        marketing_opt_in(actor=STAFF, person_id=person.pk, channel="sms", source="staff")
        assert send(person, shanghai(2, 10)).status == DispatchStatus.QUEUED


@pytest.mark.django_db
class TestQuietHours:
    @pytest.mark.parametrize(
        ("at", "held"),
        [
            (shanghai(2, 7, 59, 59), True),
            (shanghai(2, 8, 0, 0), False),
            (shanghai(2, 21, 59, 59), False),
            (shanghai(2, 22, 0, 0), True),
            (shanghai(2, 23, 0), True),
            (shanghai(3, 0, 30), True),
        ],
    )
    def test_the_window_is_22_00_to_08_00_in_shanghai(
        self, settings: Any, at: dt.datetime, held: bool
    ) -> None:
        use_policy(settings, NO_CAPS)
        dispatch = send(make_person(), at)
        assert (dispatch.status == DispatchStatus.HELD) is held
        assert (dispatch.outbox_message_id is None) is held

    def test_held_at_23_00_released_at_08_00_not_at_07_59(self, settings: Any) -> None:
        use_policy(settings, NO_CAPS)
        person = make_person()
        # when a journey step texts at 23:00
        held = send(person, shanghai(2, 23))
        # then it is held to 08:00 the next morning, with the reason people read
        assert held.status == DispatchStatus.HELD
        assert held.reason == "免打扰时段，08:00 发送"
        assert held.scheduled_for == shanghai(3, 8)
        assert not OutboxMessage.objects.filter(channel="sms").exists()
        # when the release job runs at 07:59 nothing leaves; at 08:00 it does
        assert release(shanghai(3, 7, 59)).due == 0
        with clock.frozen(shanghai(3, 8)):
            release_held_marketing.call_local()
        held.refresh_from_db()
        assert (held.status, held.reason_code) == (DispatchStatus.QUEUED, "released")
        assert held.queued_at == shanghai(3, 8)
        message = OutboxMessage.objects.get(pk=held.outbox_message_id)
        assert message.payload["template"] == "spring_promo"
        assert message.destination.startswith("+86")
        # the sealed copy kept while it waited is gone
        assert held.held_payload == {}
        assert release(shanghai(3, 8, 1)).due == 0  # released once

    def test_caps_and_consent_are_checked_again_at_release(self, settings: Any) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=1, days=1),)))
        person, other = make_person(), make_person()
        # given two sends held overnight for one person, one for another who then opts out
        first = send(person, shanghai(2, 23))
        second = send(person, shanghai(2, 23, 30), source="mass:7")
        quitter = send(other, shanghai(2, 23))
        marketing_opt_out(actor=STAFF, person_id=other.pk, channel="sms", source="self")
        # when they are released at 08:00
        outcome = release(shanghai(3, 8))
        # then the cap of one a day lets one through; the opt-out stops the other's
        assert (outcome.queued, outcome.suppressed) == (1, 2)
        for dispatch in (first, second, quitter):
            dispatch.refresh_from_db()
        assert first.status == DispatchStatus.QUEUED
        assert (second.status, second.reason) == (
            DispatchStatus.SUPPRESSED,
            "超过频次上限（每天 1 条）",
        )
        assert (quitter.status, quitter.reason) == (DispatchStatus.SUPPRESSED, "已退订短信")

    def test_a_delivery_that_falls_into_quiet_hours_waits_for_the_morning(
        self, settings: Any
    ) -> None:
        use_policy(settings, NO_CAPS)
        person = make_person()
        # given a promotion allowed at 21:50 and a refund notice, both queued, and a worker
        # that was down until 23:30
        promo = send(person, shanghai(2, 21, 50))
        with clock.frozen(shanghai(2, 21, 50)):
            notice = transactional_send(
                person_id=person.pk,
                channel="sms",
                payload=sms_payload("refund_notice", {"amount": "39.90"}),
                purpose="refund_notice",
                source="order:SO9",
                dedupe_key="refund:SO9",
                destination="+8613800138000",
            )
        # when the relay catches up at 23:30
        with clock.frozen(shanghai(2, 23, 30)):
            outbox_relay()
        promo_message = OutboxMessage.objects.get(pk=promo.outbox_message_id)
        # then the notice goes; the promotion waits for 08:00, the night not counted a failure
        assert OutboxMessage.objects.get(pk=notice.outbox_message_id).status == "sent"
        assert (promo_message.status, promo_message.attempts) == ("pending", 0)
        assert promo_message.next_attempt_at == shanghai(3, 8)
        assert "08:00" in promo_message.last_error
        # and at 08:00 it is delivered
        with clock.frozen(shanghai(3, 8)):
            outbox_relay()
        promo_message.refresh_from_db()
        assert promo_message.status == "sent"

    def test_quiet_hours_are_configurable_and_can_be_switched_off(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        monkeypatch.setenv("FRESHLOOP_MARKETING_QUIET_HOURS", "21:30-09:15")
        config = _load_marketing_policy()
        assert quiet_hours_end(shanghai(2, 21, 29), config) is None
        assert quiet_hours_end(shanghai(2, 21, 30), config) == shanghai(3, 9, 15)
        assert quiet_hours_end(shanghai(3, 9, 14), config) == shanghai(3, 9, 15)
        monkeypatch.setenv("FRESHLOOP_MARKETING_QUIET_HOURS", "off")
        assert quiet_hours_end(shanghai(2, 23), _load_marketing_policy()) is None
        monkeypatch.setenv("FRESHLOOP_MARKETING_QUIET_HOURS", "25:00-08:00")
        with pytest.raises(ConfigurationError):
            _load_marketing_policy()


class TestPolicySettings:
    def test_defaults_are_one_a_day_four_a_week_quiet_22_to_8_wecom_monthly(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        for name in (
            "FRESHLOOP_MARKETING_CAPS",
            "FRESHLOOP_MARKETING_QUIET_HOURS",
            "FRESHLOOP_WECOM_MASS_WINDOW",
            "FRESHLOOP_WECOM_MASS_LIMIT",
        ):
            monkeypatch.delenv(name, raising=False)
        config = _load_marketing_policy()
        assert config.caps == (FrequencyCap(1, 1), FrequencyCap(4, 7))
        assert (config.quiet_start_minute, config.quiet_end_minute) == (22 * 60, 8 * 60)
        assert (config.wecom_mass_window, config.wecom_mass_limit) == ("month", 0)

    def test_caps_parse_and_bad_ones_refuse_to_start(self, monkeypatch: pytest.MonkeyPatch) -> None:
        monkeypatch.setenv("FRESHLOOP_MARKETING_CAPS", "2/1d, 6/30d")
        assert _load_marketing_policy().caps == (FrequencyCap(2, 1), FrequencyCap(6, 30))
        monkeypatch.setenv("FRESHLOOP_MARKETING_CAPS", "off")
        assert _load_marketing_policy().caps == ()
        for bad in ("1/day", "x/1d", "1/0d"):
            monkeypatch.setenv("FRESHLOOP_MARKETING_CAPS", bad)
            with pytest.raises(ConfigurationError):
                _load_marketing_policy()


@pytest.mark.django_db
class TestWecomLimit:
    def test_the_platform_monthly_number_is_the_days_of_the_month(self) -> None:
        config = MarketingPolicySettings()
        assert wecom_mass_window(shanghai(10, 12, month=2), config).limit == 28
        assert wecom_mass_window(shanghai(10, 12, month=3), config).label == "每月 31 条"
        # the month begins at Shanghai midnight
        assert wecom_mass_window(shanghai(1, 0, month=3), config).starts_at == shanghai(1, 0)

    def test_a_configured_monthly_limit_stops_the_fifth_and_resets_next_month(
        self, settings: Any
    ) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(), wecom_mass_limit=4))
        person = make_person()
        for day in (3, 10, 17, 24):
            assert send(person, shanghai(day, 10), channel="wecom").status == "queued"
        fifth = send(person, shanghai(31, 21), channel="wecom")
        assert (fifth.status, fifth.reason_code, fifth.reason) == (
            DispatchStatus.SUPPRESSED,
            "wecom_limit",
            "超过企业微信群发上限（每月 4 条）",
        )
        # texts are not WeCom mass messages
        assert send(person, shanghai(31, 21)).status == DispatchStatus.QUEUED
        assert send(person, shanghai(1, 8, month=4), channel="wecom").status == "queued"

    def test_the_daily_rule_allows_one_a_day(self, settings: Any) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(), wecom_mass_window="day"))
        person = make_person()
        assert send(person, shanghai(2, 9), channel="wecom").status == "queued"
        second = send(person, shanghai(2, 20), channel="wecom")
        assert second.reason == "超过企业微信群发上限（每天 1 条）"
        assert send(person, shanghai(3, 9), channel="wecom").status == "queued"


@pytest.mark.django_db
class TestStaffConfirmedSends:
    def test_pending_confirmation_counts_from_queueing_and_becomes_sent_on_confirmation(
        self, settings: Any, wecom_sender: RecordingWecomSender
    ) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=1, days=1),)))
        person = make_person()
        # given a WeCom message queued at 10:00 and handed to WeCom as a staff task
        dispatch = send(person, shanghai(2, 10), channel="wecom")
        with clock.frozen(shanghai(2, 10, 1)):
            assert outbox_relay().sent == 1
        dispatch.refresh_from_db()
        assert dispatch.status == DispatchStatus.PENDING_CONFIRMATION
        assert wecom_sender.sent == [dispatch.outbox_message_id]
        # when another comes before the staff member confirmed: the pending one counts
        assert send(person, shanghai(2, 15), channel="wecom").reason_code == "frequency_cap"
        # when the staff member confirms
        assert dispatch.outbox_message_id is not None
        marketing_confirmation_record(
            outbox_message_id=dispatch.outbox_message_id, sent=True, sent_at=shanghai(2, 16)
        )
        dispatch.refresh_from_db()
        assert (dispatch.status, dispatch.sent_at) == (DispatchStatus.SENT, shanghai(2, 16))

    def test_a_task_the_staff_member_never_sent_stops_counting(
        self, settings: Any, wecom_sender: RecordingWecomSender
    ) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=1, days=1),)))
        person = make_person()
        dispatch = send(person, shanghai(2, 10), channel="wecom")
        with clock.frozen(shanghai(2, 10, 1)):
            outbox_relay()
        assert dispatch.outbox_message_id is not None
        marketing_confirmation_record(
            outbox_message_id=dispatch.outbox_message_id, sent=False, reason="客户已不是好友"
        )
        dispatch.refresh_from_db()
        assert (dispatch.status, dispatch.reason) == (DispatchStatus.FAILED, "客户已不是好友")
        assert send(person, shanghai(2, 15), channel="wecom").status == DispatchStatus.QUEUED

    def test_a_marketing_text_is_sent_once_the_provider_takes_it(self, settings: Any) -> None:
        use_policy(settings, NO_CAPS)
        dispatch = send(make_person(), shanghai(2, 10))
        with clock.frozen(shanghai(2, 10, 1)):
            assert outbox_relay().sent == 1
        dispatch.refresh_from_db()
        assert (dispatch.status, dispatch.sent_at) == (DispatchStatus.SENT, shanghai(2, 10, 1))


@pytest.mark.django_db
class TestDedupe:
    def test_a_retried_journey_step_never_sends_twice(self, settings: Any) -> None:
        use_policy(settings, NO_CAPS)
        person = make_person()
        first = send(person, shanghai(2, 10), key="journey:12:step:3:person:1")
        again = send(person, shanghai(2, 10, 5), key="journey:12:step:3:person:1")
        assert again.pk == first.pk
        assert MarketingDispatch.objects.filter(person=person).count() == 1
        assert OutboxMessage.objects.filter(channel="sms").count() == 1

    def test_a_held_step_retried_after_its_release_stays_one_message(self, settings: Any) -> None:
        use_policy(settings, NO_CAPS)
        person = make_person()
        send(person, shanghai(2, 23), key="mass:7:person:1")
        release(shanghai(3, 8))
        send(person, shanghai(3, 9), key="mass:7:person:1")
        assert OutboxMessage.objects.filter(channel="sms").count() == 1


@pytest.mark.django_db
class TestTransactionalBypass:
    def test_a_payment_notice_ignores_opt_out_quiet_hours_and_caps_and_is_not_counted(
        self, settings: Any
    ) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=1, days=1),)))
        person = make_person()
        marketing_opt_out(actor=STAFF, person_id=person.pk, channel="wecom", source="self")
        # when a refund notice goes out at 23:00 to someone who opted out of WeCom marketing
        with clock.frozen(shanghai(2, 23)):
            notice = transactional_send(
                person_id=person.pk,
                channel="wecom",
                payload={"text": "退款已到账"},
                purpose="refund_notice",
                source="order:SO1",
                dedupe_key="refund:SO1",
            )
        # then it is queued at once
        assert (notice.status, notice.message_class) == (DispatchStatus.QUEUED, "transactional")
        assert OutboxMessage.objects.get(pk=notice.outbox_message_id).status == "pending"
        # and does not use up the person's marketing cap
        with clock.frozen(shanghai(3, 9)):
            transactional_send(
                person_id=person.pk,
                channel="wecom",
                payload={"text": "已发货"},
                purpose="shipping_notice",
                source="order:SO1",
                dedupe_key="shipped:SO1",
            )
        marketing_opt_in(actor=STAFF, person_id=person.pk, channel="wecom", source="self")
        assert send(person, shanghai(3, 10), channel="wecom").status == DispatchStatus.QUEUED

    def test_a_login_code_text_is_unchanged_no_decision_at_all(self, settings: Any) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=0, days=1),)))
        with clock.frozen(shanghai(2, 23, 30)):
            message = sms_send(
                phone_e164="+8613800138000",
                template="login_code",
                params={"code": "123456"},
                dedupe_key="otp:1",
                urgent=True,
            )
        assert message.status == OutboxStatus.PENDING
        assert message.next_attempt_at == shanghai(2, 23, 30)
        assert not MarketingDispatch.objects.exists()


@pytest.mark.django_db
class TestTimeline:
    def test_each_message_says_who_sent_it_or_why_it_did_not_go(self, settings: Any) -> None:
        use_policy(settings, MarketingPolicySettings(caps=(FrequencyCap(limit=1, days=1),)))
        person = make_person()
        send(person, shanghai(2, 10), source="journey:12:step:3")
        send(person, shanghai(2, 11), source="mass:7")
        send(person, shanghai(2, 23), source="journey:12:step:4")
        entries = marketing_timeline_for_person(person_id=person.pk)
        assert [e.summary for e in entries] == [
            "暂缓：免打扰时段，08:00 发送",
            "未发送：超过频次上限（每天 1 条）",
            "由旅程 12 第 3 步发送（排队中）",
        ]
        assert entries[1].source_label == "群发 7"
        assert entries[0].scheduled_for == shanghai(3, 8)


@pytest.mark.django_db
class TestErase:
    def test_erasure_destroys_held_content_and_nothing_is_released(
        self, settings: Any, django_capture_on_commit_callbacks: Any
    ) -> None:
        use_policy(settings, NO_CAPS)
        person = make_person()
        marketing_opt_out(actor=STAFF, person_id=person.pk, channel="wecom", source="self")
        sent = send(person, shanghai(2, 10))
        held = send(person, shanghai(2, 23))
        assert held.held_payload
        exported = person_export(actor=STAFF, one_id=person.one_id)["sections"]["messaging"]
        assert exported["opted_out_channels"] == ["wecom"]
        assert len(exported["messages"]) == 2
        # when the person is erased
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(actor=STAFF, one_id=person.one_id, reason="用户申请注销")
        # then the held send is suppressed with its content gone, and never released
        held.refresh_from_db()
        assert (held.status, held.reason_code) == (DispatchStatus.SUPPRESSED, "person_erased")
        assert (held.held_payload, held.held_destination, held.scheduled_for) == ({}, "", None)
        assert release(shanghai(3, 8)).due == 0
        assert not MarketingConsent.objects.filter(person=person).exists()
        # the marketing text still waiting in the outbox is withdrawn, address and all
        sent.refresh_from_db()
        assert (sent.status, sent.reason_code) == (DispatchStatus.SUPPRESSED, "person_erased")
        withdrawn = OutboxMessage.objects.get(pk=sent.outbox_message_id)
        assert (withdrawn.status, withdrawn.destination, withdrawn.payload) == ("failed", "", {})
        # the decisions stay only as anonymous facts
        assert MarketingDispatch.objects.filter(person=person).count() == 2
        # and no new marketing send reaches an erased person
        assert send(person, shanghai(4, 10)).reason_code == "person_erased"


@pytest.mark.django_db
class TestMerge:
    def test_an_opt_out_on_either_oneid_holds_for_the_survivor(self, settings: Any) -> None:
        use_policy(settings, NO_CAPS)
        survivor, duplicate = make_person(), make_person()
        marketing_opt_out(actor=STAFF, person_id=duplicate.pk, channel="sms", source="self")
        marketing_opt_in(actor=STAFF, person_id=survivor.pk, channel="sms", source="staff")
        earlier = send(duplicate, shanghai(2, 9), channel="wecom")
        policy_follows_merge(
            IdentityMerged(
                from_person_id=duplicate.pk,
                into_person_id=survivor.pk,
                from_one_id=duplicate.one_id,
                into_one_id=survivor.one_id,
                reason="same phone",
            )
        )
        assert marketing_opted_out_channels(person_id=survivor.pk) == ["sms"]
        earlier.refresh_from_db()
        assert earlier.person_id == survivor.pk
        assert send(survivor, shanghai(2, 10)).reason_code == "opted_out"


@pytest.mark.django_db
class TestBackOffice:
    def test_decisions_are_listed_and_shown_without_the_sealed_content(self, settings: Any) -> None:
        use_policy(settings, NO_CAPS)
        held = send(make_person(), shanghai(2, 23), source="mass:7")
        client = Client()
        client.force_login(make_staff_user("root", superuser=True))
        listing = client.get("/admin/messaging/marketingdispatch/")
        page = client.get(f"/admin/messaging/marketingdispatch/{held.pk}/change/")
        consents = client.get("/admin/messaging/marketingconsent/")
        assert (listing.status_code, page.status_code, consents.status_code) == (200, 200, 200)
        assert "免打扰时段，08:00 发送" in listing.content.decode()
        assert "spring_promo" in page.content.decode()
        assert "params_sealed" not in page.content.decode()
