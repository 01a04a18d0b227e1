"""Data hub computed tags pushed to WeCom: the operator's choice, the tag created in WeCom when
missing, contacts marked and unmarked in batches, nothing sent twice, nothing read back."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from freshloop.core.audit import Actor
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.tags.selectors import manual_tags_list, person_tags_get
from freshloop.identity.services import IdentifierInput, identify
from freshloop.messaging.wecom import SandboxWecomClient, sandbox_contacts
from freshloop.scrm.errors import ComputedTagInvalid
from freshloop.scrm.models import ComputedTagPush, WecomContact, WecomTag, WecomTagKind
from freshloop.scrm.tag_push import COMPUTED_GROUP, computed_tag_push_set, computed_tags_push
from freshloop.scrm.tag_sync import tags_full_sync
from tests.datahub.helpers import paid_buyer
from tests.scrm.wecom_helpers import CORP, contact, wecom_calls

pytestmark = pytest.mark.django_db
__all__ = ["wecom_calls"]  # fixtures

OPERATOR = Actor(type="user", id="5", label="运营小王")


@pytest.fixture
def store(tmp_path: Path, settings: Any) -> EventStore:
    settings.DATAHUB_STORE_PATH = tmp_path / "events.duckdb"
    return EventStore(settings.DATAHUB_STORE_PATH)


def buyer_with_contact(store: EventStore, external_userid: str, phone: str) -> tuple[Any, str]:
    """A paid buyer (tagged by the data hub) who is also the WeCom contact `external_userid`."""
    person = paid_buyer(store, phone=phone)
    identify(
        identifiers=[
            IdentifierInput(type="phone", value=phone),
            IdentifierInput(type="wecom_external_userid", value=external_userid, scope=CORP),
        ],
        source="test",
    )
    assert contact(external_userid).person_id == person.pk
    tags = person_tags_get(person_id=person.pk, store=store)
    assert tags is not None
    return person, str(tags["rfm_segment"])


def carried(external_userid: str) -> set[str]:
    (found,) = [c for c in sandbox_contacts() if c.external_userid == external_userid]
    return {tag for follow in found.follow_users for tag in follow.tag_ids}


class TestComputedTagPushSet:
    def test_an_unknown_column_or_value_is_refused(self) -> None:
        with pytest.raises(ComputedTagInvalid):
            computed_tag_push_set(column="monetary_fen", value="1", enabled=True, actor=OPERATOR)
        with pytest.raises(ComputedTagInvalid) as raised:
            computed_tag_push_set(column="rfm_segment", value="土豪", enabled=True, actor=OPERATOR)
        assert raised.value.status == 422

    def test_setting_twice_keeps_one_row(self) -> None:
        for _ in range(2):
            computed_tag_push_set(
                column="rfm_segment", value="重要价值客户", enabled=True, actor=OPERATOR
            )
        assert ComputedTagPush.objects.count() == 1


class TestComputedTagsPush:
    def test_creates_the_tag_and_marks_the_contacts_who_have_the_value(
        self, store: EventStore, wecom_calls: list[Any]
    ) -> None:
        person, segment = buyer_with_contact(store, "wm_sandbox_0002", "13800138001")
        contact("wm_sandbox_0001")  # a contact without a paid order: no segment
        computed_tag_push_set(column="rfm_segment", value=segment, enabled=True, actor=OPERATOR)
        result = computed_tags_push(store=store, batch=1)
        assert (result.pushes, result.marked, result.unmarked, result.failed) == (1, 1, 0, 0)
        tag = WecomTag.objects.get(kind=WecomTagKind.COMPUTED)
        assert (tag.group_name, tag.name) == (COMPUTED_GROUP, segment)
        assert tag.tag_id in carried("wm_sandbox_0002")
        assert tag.tag_id not in carried("wm_sandbox_0001")
        assert [name for name, _ in wecom_calls] == ["add_corp_tag", "mark_tag"]
        assert ComputedTagPush.objects.get().pushed_count == 1
        # A second run sends nothing and creates no second tag.
        again = computed_tags_push(store=store)
        assert (again.marked, again.unmarked) == (0, 0)
        assert [name for name, _ in wecom_calls] == ["add_corp_tag", "mark_tag"]
        # The computed tag is not read back into manual tags by the inbound sync.
        tags_full_sync()
        assert segment not in manual_tags_list(person_id=person.pk)

    def test_switched_off_it_is_taken_off_everyone(self, store: EventStore) -> None:
        _, segment = buyer_with_contact(store, "wm_sandbox_0002", "13800138002")
        computed_tag_push_set(column="rfm_segment", value=segment, enabled=True, actor=OPERATOR)
        computed_tags_push(store=store)
        tag_id = ComputedTagPush.objects.get().wecom_tag_id
        computed_tag_push_set(column="rfm_segment", value=segment, enabled=False, actor=OPERATOR)
        result = computed_tags_push(store=store)
        assert result.unmarked == 1
        assert tag_id not in carried("wm_sandbox_0002")

    def test_an_existing_tag_of_that_name_is_reused(self, store: EventStore) -> None:
        _, segment = buyer_with_contact(store, "wm_sandbox_0002", "13800138003")
        made = SandboxWecomClient().add_corp_tag(group_name=COMPUTED_GROUP, tag_names=[segment])
        computed_tag_push_set(column="rfm_segment", value=segment, enabled=True, actor=OPERATOR)
        computed_tags_push(store=store)
        assert ComputedTagPush.objects.get().wecom_tag_id == made.tags[0].tag_id

    def test_a_contact_no_longer_related_is_counted_as_failed(self, store: EventStore) -> None:
        _, segment = buyer_with_contact(store, "wm_sandbox_0002", "13800138004")
        WecomContact.objects.filter(external_userid="wm_sandbox_0002").update(
            follow_userid="fl_staff_zhou"
        )
        computed_tag_push_set(column="rfm_segment", value=segment, enabled=True, actor=OPERATOR)
        assert computed_tags_push(store=store).failed == 1
