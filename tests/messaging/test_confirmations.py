"""wecom_confirmations_poll: WeCom sends a staff member must confirm end sent, failed with
WeCom's reason, or not made when nobody confirms in time. WeCom itself is the one thing
replaced: a corp whose staff confirm (or not) as each test says."""

from __future__ import annotations

import datetime as dt
import itertools
from typing import Any

import pytest

from freshloop.core import clock
from freshloop.core.clock import SHANGHAI
from freshloop.core.outbox import outbox_relay
from freshloop.identity.models import Person
from freshloop.messaging.errors import WecomRateLimited
from freshloop.messaging.models import DispatchStatus, MarketingDispatch
from freshloop.messaging.services import (
    WECOM_CHANNEL,
    marketing_send,
    wecom_confirmations_poll,
    wecom_payload,
)
from freshloop.messaging.wecom.types import (
    WecomMassMessageResult,
    WecomSendResultPage,
    WecomSendStatus,
)
from tests.factories import make_person

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 3, 2, 10, 0, tzinfo=SHANGHAI)


class StaffOnWecom:
    """A real corp as seen through the API: a send task per add_msg_template; what each
    recipient's state is, the test decides (`confirm`), two results to a page."""

    name = "test-corp"

    def __init__(self) -> None:
        self._ids = itertools.count(1)
        self.recipients: dict[str, tuple[str, str]] = {}  # external_userid → (msgid, sender)
        self.states: dict[str, int] = {}
        self.busy = False
        self.asked: list[tuple[str, str]] = []

    def add_msg_template(self, **kwargs: Any) -> WecomMassMessageResult:
        msgid = f"msg{next(self._ids)}"
        for external_userid in kwargs["external_userids"]:
            self.recipients[external_userid] = (msgid, kwargs["sender"])
        return WecomMassMessageResult(msgid=msgid)

    def confirm(self, external_userid: str, status: int) -> None:
        self.states[external_userid] = status

    def groupmsg_send_result(
        self, *, msgid: str, userid: str, cursor: str = "", limit: int = 500
    ) -> WecomSendResultPage:
        if self.busy:
            raise WecomRateLimited(errcode=45009, errmsg="api freq out of limit")
        self.asked.append((msgid, userid))
        mine = [
            WecomSendStatus(
                userid=userid,
                status=self.states.get(external, 0),
                external_userid=external,
                send_time=int(MORNING.timestamp()) + 300,
            )
            for external, (sent_msgid, sender) in sorted(self.recipients.items())
            if (sent_msgid, sender) == (msgid, userid)
        ]
        start = int(cursor or 0)
        following = str(start + 2) if start + 2 < len(mine) else ""
        return WecomSendResultPage(items=tuple(mine[start : start + 2]), next_cursor=following)


@pytest.fixture
def corp(monkeypatch: pytest.MonkeyPatch) -> StaffOnWecom:
    staff = StaffOnWecom()
    monkeypatch.setattr("freshloop.messaging.wecom.sender.wecom_client", lambda: staff)
    return staff


def sent_by_lin(person: Person, external_userid: str) -> MarketingDispatch:
    with clock.frozen(MORNING):
        dispatch = marketing_send(
            person_id=person.pk,
            channel=WECOM_CHANNEL,
            payload=wecom_payload(sender="fl_staff_lin", text="春笋上新，给您留了一份"),
            purpose="spring_promo",
            source="journey:12:step:3",
            dedupe_key=f"confirm-test:{external_userid}",
            destination=external_userid,
        )
        outbox_relay()
    dispatch.refresh_from_db()
    return dispatch


def status_of(dispatch: MarketingDispatch) -> tuple[str, str]:
    dispatch.refresh_from_db()
    return dispatch.status, dispatch.reason


class TestWecomConfirmationsPoll:
    def test_each_recipient_gets_what_wecom_reports(self, corp: StaffOnWecom) -> None:
        # given five customers sent a message 林 has to confirm, each one its own send task
        dispatches = {
            name: sent_by_lin(make_person(), f"wm_{name}")
            for name in ("sent", "gone", "limit", "waiting", "sent2")
        }
        assert {d.status for d in dispatches.values()} == {DispatchStatus.PENDING_CONFIRMATION}
        # when 林 sent two, one customer had deleted 林, one had had a mass message already,
        # and one is still in 林's list
        corp.confirm("wm_sent", 1)
        corp.confirm("wm_sent2", 1)
        corp.confirm("wm_gone", 2)
        corp.confirm("wm_limit", 3)
        with clock.frozen(MORNING + dt.timedelta(hours=1)):
            poll = wecom_confirmations_poll(client=corp)

        # then each decision says what happened
        assert (poll.asked, poll.sent, poll.failed, poll.waiting, poll.expired) == (5, 2, 2, 1, 0)
        assert status_of(dispatches["sent"])[0] == DispatchStatus.SENT
        assert dispatches["sent"].sent_at == MORNING + dt.timedelta(minutes=5)
        assert status_of(dispatches["gone"]) == (DispatchStatus.FAILED, "客户已不是员工的好友")
        assert status_of(dispatches["limit"])[0] == DispatchStatus.FAILED
        assert "接收上限" in status_of(dispatches["limit"])[1]
        assert status_of(dispatches["waiting"])[0] == DispatchStatus.PENDING_CONFIRMATION

    def test_a_send_nobody_confirms_in_three_days_was_not_made(self, corp: StaffOnWecom) -> None:
        # given a message 林 never confirms
        dispatch = sent_by_lin(make_person(), "wm_forgotten")
        # when the poll runs two days later, then four days later
        with clock.frozen(MORNING + dt.timedelta(days=2)):
            wecom_confirmations_poll(client=corp)
        still = status_of(dispatch)
        with clock.frozen(MORNING + dt.timedelta(days=4)):
            poll = wecom_confirmations_poll(client=corp)

        # then it waits, and then it counts as not sent (and no longer against the caps)
        assert still[0] == DispatchStatus.PENDING_CONFIRMATION
        assert poll.expired == 1
        assert status_of(dispatch) == (DispatchStatus.FAILED, "员工 3 天内未确认发送")

    def test_polling_again_changes_nothing(self, corp: StaffOnWecom) -> None:
        # given a confirmed send already recorded
        dispatch = sent_by_lin(make_person(), "wm_once")
        corp.confirm("wm_once", 1)
        with clock.frozen(MORNING + dt.timedelta(hours=1)):
            wecom_confirmations_poll(client=corp)
        # when the poll runs again
        with clock.frozen(MORNING + dt.timedelta(hours=2)):
            poll = wecom_confirmations_poll(client=corp)
        # then WeCom is not asked again and the decision stays
        assert (poll.asked, poll.sent) == (0, 0)
        assert status_of(dispatch)[0] == DispatchStatus.SENT

    def test_wecom_busy_leaves_everything_for_the_next_round(self, corp: StaffOnWecom) -> None:
        # given a confirmed send, and WeCom answering "rate limited"
        dispatch = sent_by_lin(make_person(), "wm_busy")
        corp.confirm("wm_busy", 1)
        corp.busy = True
        # when the poll runs, then again once WeCom answers
        with clock.frozen(MORNING + dt.timedelta(hours=1)):
            first = wecom_confirmations_poll(client=corp)
        corp.busy = False
        with clock.frozen(MORNING + dt.timedelta(hours=2)):
            second = wecom_confirmations_poll(client=corp)
        # then nothing was recorded wrongly the first time, and the second records it
        assert (first.asked, first.sent) == (0, 0)
        assert (second.asked, second.sent) == (1, 1)
        assert status_of(dispatch)[0] == DispatchStatus.SENT
