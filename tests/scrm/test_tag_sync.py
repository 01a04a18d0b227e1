"""WeCom corp tags ↔ FreshLoop manual tags, through the sandbox: the tag list mirrored, tags a
staff member puts on a customer in WeCom arriving on the OneID, manual tags going out with
mark_tag after commit — idempotent on replays and never echoing an inbound change back."""

from __future__ import annotations

from typing import Any

import pytest

from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.datahub.tags.selectors import manual_tags_list
from freshloop.datahub.tags.services import manual_tag_add, manual_tag_remove
from freshloop.identity.models import Person
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    sandbox_contact_add,
    sandbox_contacts,
)
from freshloop.scrm.models import WecomContact, WecomContactTag, WecomTag
from freshloop.scrm.tag_sync import corp_tags_sync, manual_tag_push, tags_full_sync
from tests.factories import make_person
from tests.scrm.wecom_helpers import callback, committed, contact, wecom_calls

pytestmark = pytest.mark.django_db
__all__ = ["committed", "wecom_calls"]  # fixtures

OPERATOR = Actor(type="user", id="5", label="运营小王")
VIP, NEW = "et_sandbox_vip", "et_sandbox_new"


def sandbox_tags(external_userid: str, staff: str = "fl_staff_lin") -> tuple[str, ...]:
    (found,) = [c for c in sandbox_contacts() if c.external_userid == external_userid]
    return next(f.tag_ids for f in found.follow_users if f.userid == staff)


def person_of(external_userid: str) -> Person:
    """The contact's person (synced from WeCom the first time)."""
    found = WecomContact.objects.filter(external_userid=external_userid).first()
    return Person.objects.get(pk=(found or contact(external_userid)).person_id)


class TestCorpTagsSync:
    def test_mirrors_the_groups_with_one_manual_tag_each(self) -> None:
        result = corp_tags_sync()
        assert (result.created, result.updated, result.deleted) == (2, 0, 0)
        assert {(t.tag_id, t.group_name, t.freshloop_tag) for t in WecomTag.objects.all()} == {
            (VIP, "客户等级", "VIP"),
            (NEW, "客户等级", "新客"),
        }
        assert corp_tags_sync() == type(result)(created=0, updated=0, deleted=0)

    def test_a_name_two_groups_share_gets_its_group_name(self) -> None:
        corp_tags_sync()
        group = SandboxWecomClient().add_corp_tag(group_name="会员体系", tag_names=["VIP"])
        corp_tags_sync()
        row = WecomTag.objects.get(tag_id=group.tags[0].tag_id)
        assert row.freshloop_tag == "会员体系·VIP"

    def test_a_tag_deleted_in_wecom_is_no_longer_synced(self) -> None:
        corp_tags_sync()
        SandboxWecomClient().del_corp_tag(tag_ids=[NEW])
        assert corp_tags_sync().deleted == 1
        assert WecomTag.objects.get(tag_id=NEW).deleted


class TestInbound:
    def test_a_new_contact_brings_its_wecom_tags_to_the_oneid(self, committed: Any) -> None:
        with committed():
            callback("add_external_contact", "wm_sandbox_0001")
        assert manual_tags_list(person_id=person_of("wm_sandbox_0001").pk) == ["VIP"]

    def test_tags_changed_in_wecom_follow_on_the_edit_callback(
        self, committed: Any, wecom_calls: list[Any]
    ) -> None:
        person = person_of("wm_sandbox_0001")
        # The staff member swaps VIP for 新客 in WeCom.
        SandboxWecomClient().mark_tag(
            userid="fl_staff_lin",
            external_userid="wm_sandbox_0001",
            add_tag=[NEW],
            remove_tag=[VIP],
        )
        wecom_calls.clear()
        with committed():
            callback("edit_external_contact", "wm_sandbox_0001")
        assert manual_tags_list(person_id=person.pk) == ["新客"]
        # No echo: the changes the sync made are not sent back to WeCom.
        assert [name for name, _ in wecom_calls if name == "mark_tag"] == []
        assert sandbox_tags("wm_sandbox_0001") == (NEW,)

    def test_a_replayed_edit_changes_nothing(self, committed: Any) -> None:
        person = person_of("wm_sandbox_0001")
        audits = AuditLog.objects.filter(action__startswith="datahub.manual_tag").count()
        for _ in range(2):
            with committed():
                callback("edit_external_contact", "wm_sandbox_0001")
        assert manual_tags_list(person_id=person.pk) == ["VIP"]
        assert AuditLog.objects.filter(action__startswith="datahub.manual_tag").count() == audits

    def test_a_tag_added_in_freshloop_and_not_yet_pushed_survives_an_unrelated_read(
        self, committed: Any
    ) -> None:
        person = person_of("wm_sandbox_0001")
        manual_tag_add(person=person, tag="新客", actor=OPERATOR)  # not committed → not pushed
        contact("wm_sandbox_0001")  # an unrelated read of the contact
        assert set(manual_tags_list(person_id=person.pk)) == {"VIP", "新客"}

    def test_an_unknown_tag_id_refreshes_the_tag_list_once(self) -> None:
        group = SandboxWecomClient().add_corp_tag(group_name="来源", tag_names=["直播间"])
        SandboxWecomClient().mark_tag(
            userid="fl_staff_lin",
            external_userid="wm_sandbox_0002",
            add_tag=[group.tags[0].tag_id],
        )
        person = person_of("wm_sandbox_0002")
        assert manual_tags_list(person_id=person.pk) == ["直播间"]


class TestOutbound:
    def test_a_manual_tag_goes_to_wecom_after_commit(
        self, committed: Any, wecom_calls: list[Any]
    ) -> None:
        person = person_of("wm_sandbox_0002")
        with committed():
            manual_tag_add(person=person, tag="新客", actor=OPERATOR)
        assert sandbox_tags("wm_sandbox_0002") == (NEW,)
        assert wecom_calls == [
            (
                "mark_tag",
                {
                    "userid": "fl_staff_lin",
                    "external_userid": "wm_sandbox_0002",
                    "add_tag": [NEW],
                    "remove_tag": None,
                },
            )
        ]
        with committed():
            manual_tag_remove(person=person, tag="新客", actor=OPERATOR)
        assert sandbox_tags("wm_sandbox_0002") == ()
        assert not WecomContactTag.objects.filter(tag_id=NEW).exists()

    def test_a_replayed_push_sends_nothing(self, committed: Any, wecom_calls: list[Any]) -> None:
        person = person_of("wm_sandbox_0002")
        with committed():
            manual_tag_add(person=person, tag="新客", actor=OPERATOR)
        wecom_calls.clear()
        assert manual_tag_push(person_id=person.pk, tag="新客") == "in_step"
        assert wecom_calls == []

    def test_the_edit_callback_of_our_own_push_does_not_echo(
        self, committed: Any, wecom_calls: list[Any]
    ) -> None:
        person = person_of("wm_sandbox_0002")
        with committed():
            manual_tag_add(person=person, tag="新客", actor=OPERATOR)
            # WeCom tells us about the tag we just put on.
        with committed():
            callback("edit_external_contact", "wm_sandbox_0002")
        assert len([call for call in wecom_calls if call[0] == "mark_tag"]) == 1
        assert manual_tags_list(person_id=person.pk) == ["新客"]

    def test_what_is_not_pushed(self, committed: Any) -> None:
        person = person_of("wm_sandbox_0002")
        assert manual_tag_push(person_id=person.pk, tag="只在鲜环") == "not_synced"
        assert manual_tag_push(person_id=make_person().pk, tag="新客") == "no_contact"
        assert (
            manual_tag_push(
                person_id=person.pk, tag="新客", actor_type="system", actor_id="scrm.wecom_tags"
            )
            == "echo"
        )

    def test_a_relation_gone_in_wecom_is_stale_not_an_endless_retry(self) -> None:
        person = person_of("wm_sandbox_0002")
        manual_tag_add(person=person, tag="新客", actor=OPERATOR)
        # The sandbox loses the relation (the staff member deleted the customer).
        from freshloop.messaging.wecom.sandbox_store import directory, save

        found = directory()
        found["follows"] = {
            k: v for k, v in found["follows"].items() if k != "fl_staff_lin|wm_sandbox_0002"
        }
        found["follows"]["fl_staff_zhou|wm_sandbox_0002"] = {"remark": "", "tags": [], "at": 0}
        save(found)
        assert manual_tag_push(person_id=person.pk, tag="新客") == "stale"


class TestFullSync:
    def test_reads_every_contacts_tags_and_is_idempotent(self) -> None:
        for external_userid, staff in [
            ("wm_sandbox_0001", "fl_staff_lin"),
            ("wm_sandbox_0002", "fl_staff_lin"),
            ("wm_sandbox_0003", "fl_staff_zhou"),
        ]:
            contact(external_userid, staff)
        client = SandboxWecomClient()
        # Changed in WeCom while callbacks were lost:
        client.mark_tag(userid="fl_staff_zhou", external_userid="wm_sandbox_0003", add_tag=[NEW])
        client.mark_tag(userid="fl_staff_lin", external_userid="wm_sandbox_0001", remove_tag=[VIP])
        result = tags_full_sync()
        assert (result.contacts, result.added, result.removed) == (3, 1, 1)
        assert manual_tags_list(person_id=person_of("wm_sandbox_0003").pk) == ["新客"]
        assert manual_tags_list(person_id=person_of("wm_sandbox_0001").pk) == []
        again = tags_full_sync()
        assert (again.added, again.removed) == (0, 0)

    def test_a_contact_wecom_does_not_list_keeps_its_tags(self) -> None:
        person = person_of("wm_sandbox_0001")
        # Our 跟进人 is out of date: WeCom lists the customer under nobody we ask about.
        WecomContact.objects.filter(person=person).update(follow_userid="fl_staff_zhou")
        result = tags_full_sync()
        assert (result.contacts, result.removed) == (0, 0)
        assert manual_tags_list(person_id=person.pk) == ["VIP"]

    def test_a_customer_of_a_new_staff_member(self) -> None:
        sandbox_contact_add(staff_userid="fl_staff_wu", external_userid="wm_x", name="吴")
        contact("wm_x", "fl_staff_wu")
        SandboxWecomClient().mark_tag(userid="fl_staff_wu", external_userid="wm_x", add_tag=[VIP])
        assert tags_full_sync().added == 1
