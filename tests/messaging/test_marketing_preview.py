"""`marketing_preview` is a dry run of the policy: for each person it says what a marketing
send at a given moment would come to — the same rules, in the same order, with the counts a
batch send reads — and writes nothing."""

from __future__ import annotations

import pytest

from freshloop.core import clock
from freshloop.identity.models import Person, PersonStatus
from freshloop.messaging.errors import MarketingChannelUnknown
from freshloop.messaging.models import MarketingConsent, MarketingDispatch
from freshloop.messaging.selectors import marketing_preview, marketing_quiet_release
from freshloop.messaging.services import marketing_opt_out, marketing_send
from tests.factories import make_person
from tests.messaging.test_policy import STAFF, shanghai
from tests.messaging.test_policy_batch import send_many, wecom

pytestmark = pytest.mark.django_db


def messaged_at(person: Person, hour: int, key: str) -> None:
    with clock.frozen(shanghai(1, hour)):
        marketing_send(
            person_id=person.pk,
            channel="wecom",
            payload={"sender": "fl_staff_lin", "text": "早上好", "links": []},
            destination="wm_x",
            purpose="journey",
            source="journey:9:step:1",
            dedupe_key=key,
        )


class TestMarketingPreview:
    def test_it_foretells_what_a_batch_send_decides(self) -> None:
        # given a fresh customer (listed twice), one opted out, one erased, one messaged today
        fresh, opted_out, erased, messaged = (make_person() for _ in range(4))
        marketing_opt_out(person_id=opted_out.pk, channel="wecom", source="self", actor=STAFF)
        Person.objects.filter(pk=erased.pk).update(status=PersonStatus.ERASED)
        messaged_at(messaged, 9, "earlier")
        people = [fresh, opted_out, erased, messaged]
        rows_before = (MarketingDispatch.objects.count(), MarketingConsent.objects.count())
        # when the preview is asked for 10:00
        preview = marketing_preview(
            person_ids=[p.pk for p in people], channel="wecom", at=shanghai(1, 10)
        )
        # then it says what the send will decide, reason by reason, and wrote nothing
        assert preview == {
            fresh.pk: "allowed",
            opted_out.pk: "opted_out",
            erased.pk: "person_erased",
            messaged.pk: "frequency_cap",
        }
        assert (MarketingDispatch.objects.count(), MarketingConsent.objects.count()) == (
            rows_before
        )
        decided = send_many([wecom(person, f"k{person.pk}") for person in people], shanghai(1, 10))
        outcome = {
            d.person_id: "allowed" if d.status == "queued" else d.reason_code
            for d in decided.values()
        }
        assert outcome == preview

    def test_inside_quiet_hours_it_decides_as_of_their_end(self) -> None:
        # given a customer messaged at 09:00 today
        person = make_person()
        messaged_at(person, 9, "earlier")
        # when asked for 23:00: held to 08:00 tomorrow, when today's cap no longer binds
        at = shanghai(1, 23)
        assert marketing_preview(person_ids=[person.pk], channel="wecom", at=at) == {
            person.pk: "quiet_hours"
        }
        assert marketing_quiet_release(at=at) == shanghai(2, 8)
        assert marketing_quiet_release(at=shanghai(1, 10)) is None

    def test_an_unknown_channel_is_refused(self) -> None:
        with pytest.raises(MarketingChannelUnknown):
            marketing_preview(person_ids=[], channel="pigeon")
