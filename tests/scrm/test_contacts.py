"""Contacts: the WeCom tags a new contact carries arrive on its OneID; the contact list shows
each contact's 跟进人, WeCom tags and latest transfer, filtered by staff and status."""

from __future__ import annotations

import pytest

from freshloop.core.audit import Actor
from freshloop.datahub.tags.selectors import manual_tags_list
from freshloop.scrm.models import ContactStatus, WecomContact
from freshloop.scrm.selectors import contact_staff, contacts_list
from freshloop.scrm.transfer import contacts_transfer
from tests.scrm.wecom_helpers import contact

pytestmark = pytest.mark.django_db


class TestContactSync:
    def test_a_contact_tagged_in_wecom_gets_the_manual_tag(self) -> None:
        found = contact("wm_sandbox_0001")
        assert manual_tags_list(person_id=found.person_id) == ["VIP"]

    def test_syncing_again_changes_nothing(self) -> None:
        first = contact("wm_sandbox_0001")
        again = contact("wm_sandbox_0001")
        assert first.pk == again.pk
        assert manual_tags_list(person_id=again.person_id) == ["VIP"]


class TestContactsList:
    def test_rows_carry_follow_user_tags_and_latest_transfer(self) -> None:
        contact("wm_sandbox_0001")
        contact("wm_sandbox_0002")
        contact("wm_sandbox_0003", "fl_staff_zhou")
        contacts_transfer(
            handover_userid="fl_staff_lin",
            takeover_userids=["fl_staff_zhou"],
            kind="in_service",
            external_userids=["wm_sandbox_0002"],
            actor=Actor.system("test"),
        )
        rows = {row.contact.external_userid: row for row in contacts_list(staff="fl_staff_lin")}
        assert set(rows) == {"wm_sandbox_0001", "wm_sandbox_0002"}
        assert rows["wm_sandbox_0001"].tags == ["客户等级/VIP"]
        assert rows["wm_sandbox_0001"].transfer is None
        transfer = rows["wm_sandbox_0002"].transfer
        assert transfer is not None
        assert transfer.takeover_userid == "fl_staff_zhou"
        assert contact_staff() == ["fl_staff_lin", "fl_staff_zhou"]

    def test_filter_by_status(self) -> None:
        contact("wm_sandbox_0001")
        contact("wm_sandbox_0002")
        WecomContact.objects.filter(external_userid="wm_sandbox_0002").update(
            status=ContactStatus.LOST
        )
        rows = contacts_list(status=ContactStatus.LOST)
        assert [row.contact.external_userid for row in rows] == ["wm_sandbox_0002"]
