"""Groups synced with WeCom: full sync, callbacks applied once, members tied to OneIDs."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.community.models import (
    CustomerGroup,
    GroupChangeReceipt,
    GroupMember,
    GroupMemberEvent,
    GroupStatus,
    MemberEventKind,
)
from freshloop.community.services import group_change_apply, groups_sync_full
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.identity.events import IdentityMerged
from freshloop.identity.selectors import person_by_identifier
from freshloop.identity.services import person_erase
from freshloop.messaging.wecom import (
    sandbox_group_create,
    sandbox_group_join,
    sandbox_group_leave,
    sandbox_group_rename,
)
from tests.community.helpers import (
    CORP,
    OWNER,
    chat_changed,
    committed,
    customer,
    join,
    make_group,
    person_of,
)
from tests.factories import make_person

pytestmark = pytest.mark.django_db

MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)


class TestGroupsSyncFull:
    def test_every_group_and_member_is_read_and_customers_get_their_oneid(self) -> None:
        # given two groups in WeCom (plus the sandbox's seed group), none known yet
        sandbox_group_create(chat_id="wr_a", name="鲜环 1 群", owner=OWNER)
        sandbox_group_create(chat_id="wr_b", name="鲜环 2 群", owner="fl_staff_zhou")
        for number in (1, 2):
            sandbox_group_join(chat_id="wr_a", userid=customer(number))
        sandbox_group_join(chat_id="wr_b", userid=customer(3))

        # when
        result = groups_sync_full(corp_id=CORP)

        # then
        assert result.groups == 3
        group = CustomerGroup.objects.get(chat_id="wr_a")
        assert (group.name, group.owner_userid, group.member_count, group.customer_count) == (
            "鲜环 1 群",
            OWNER,
            3,
            2,
        )
        member = GroupMember.objects.get(group=group, userid="wm_group_0001")
        person = person_by_identifier(
            identifier_type="wecom_external_userid", value="wm_group_0001", scope=CORP
        )
        assert person is not None
        assert member.person_id == person.pk
        assert member.unionid == "o_union_group_0001"
        assert GroupMember.objects.get(group=group, userid=OWNER).person_id is None
        assert GroupMemberEvent.objects.filter(group=group, kind="join").count() == 3

    def test_a_second_sync_changes_nothing_and_a_group_gone_is_dismissed(self) -> None:
        sandbox_group_create(chat_id="wr_a", name="鲜环 1 群", owner=OWNER)
        sandbox_group_join(chat_id="wr_a", userid=customer(1))
        groups_sync_full(corp_id=CORP)
        CustomerGroup.objects.create(chat_id="wr_old", name="旧群", synced_at=clock.now())

        result = groups_sync_full(corp_id=CORP)

        assert result.dismissed == 1
        assert CustomerGroup.objects.get(chat_id="wr_old").status == GroupStatus.DISMISSED
        assert GroupMemberEvent.objects.filter(group__chat_id="wr_a").count() == 2

    def test_pages_of_groupchat_list_are_followed(self, monkeypatch: pytest.MonkeyPatch) -> None:
        for index in range(3):
            sandbox_group_create(chat_id=f"wr_p{index}", name=f"群{index}", owner=OWNER)
        from freshloop.messaging.wecom import sandbox as sandbox_module

        original = sandbox_module.SandboxWecomClient.groupchat_list

        def two_per_page(self, **kwargs):  # type: ignore[no-untyped-def]
            kwargs["limit"] = 2
            return original(self, **kwargs)

        monkeypatch.setattr(sandbox_module.SandboxWecomClient, "groupchat_list", two_per_page)

        assert groups_sync_full(corp_id=CORP).groups == 4  # 3 + the seed group


class TestGroupChangeApply:
    def test_create_then_members_joining_and_leaving_are_recorded_with_times(self) -> None:
        with clock.frozen(MORNING):
            make_group("wr_a", customers=2)
        with clock.frozen(MORNING + dt.timedelta(hours=1)):
            join("wr_a", 3)
        with clock.frozen(MORNING + dt.timedelta(hours=2)):
            sandbox_group_leave(chat_id="wr_a", userid="wm_group_0001")
            chat_changed("wr_a", update_detail="del_member", members=["wm_group_0001"])

        group = CustomerGroup.objects.get(chat_id="wr_a")
        assert group.customer_count == 2
        left = GroupMember.objects.get(group=group, userid="wm_group_0001")
        assert left.left_at == MORNING + dt.timedelta(hours=2)
        events = list(
            GroupMemberEvent.objects.filter(group=group, is_customer=True)
            .order_by("at", "userid")
            .values_list("userid", "kind", "at")
        )
        assert events == [
            ("wm_group_0001", MemberEventKind.JOIN, MORNING),
            ("wm_group_0002", MemberEventKind.JOIN, MORNING),
            ("wm_group_0003", MemberEventKind.JOIN, MORNING + dt.timedelta(hours=1)),
            ("wm_group_0001", MemberEventKind.LEAVE, MORNING + dt.timedelta(hours=2)),
        ]

    def test_a_replayed_callback_is_applied_once(self) -> None:
        make_group("wr_a", customers=1)
        sandbox_group_leave(chat_id="wr_a", userid="wm_group_0001")
        event = chat_changed("wr_a", update_detail="del_member", key="leave-1")
        sandbox_group_join(chat_id="wr_a", userid="wm_group_0001")

        applied = group_change_apply(event)  # the same callback delivered again

        assert applied is False
        assert GroupChangeReceipt.objects.filter(event_key="leave-1").count() == 1
        member = GroupMember.objects.get(group__chat_id="wr_a", userid="wm_group_0001")
        assert member.left_at is not None  # the replay did not re-read the group
        assert GroupMemberEvent.objects.filter(kind="leave").count() == 1

    def test_rename_and_dismiss(self) -> None:
        make_group("wr_a", customers=1)
        sandbox_group_rename(chat_id="wr_a", name="鲜环 VIP 群")
        chat_changed("wr_a", update_detail="change_name")
        assert CustomerGroup.objects.get(chat_id="wr_a").name == "鲜环 VIP 群"

        chat_changed("wr_a", change_type="dismiss")

        group = CustomerGroup.objects.get(chat_id="wr_a")
        assert group.status == GroupStatus.DISMISSED
        assert group.dismissed_at is not None

    def test_a_group_wecom_no_longer_knows_counts_as_dismissed(self) -> None:
        chat_changed("wr_unknown", update_detail="add_member")
        assert not CustomerGroup.objects.filter(chat_id="wr_unknown").exists()
        assert GroupChangeReceipt.objects.filter(chat_id="wr_unknown").exists()


class TestPersonIdsReuse:
    def test_a_callback_resolves_only_members_not_resolved_before(
        self, monkeypatch: pytest.MonkeyPatch
    ) -> None:
        make_group("wr_a", customers=3)
        from freshloop.community import groups as groups_module

        calls: list[str] = []
        original = groups_module.identify

        def counting(**kwargs):  # type: ignore[no-untyped-def]
            calls.append(kwargs["identifiers"][0].value)
            return original(**kwargs)

        monkeypatch.setattr(groups_module, "identify", counting)

        join("wr_a", 4)

        assert calls == ["wm_group_0004"]


class TestMembersFollowMerge:
    def test_members_follow_the_surviving_oneid(self) -> None:
        make_group("wr_a", customers=1)
        old = person_of("wr_a", "wm_group_0001")
        survivor = make_person()
        with committed():
            publish(
                IdentityMerged(
                    from_person_id=old.pk,
                    into_person_id=survivor.pk,
                    from_one_id=old.one_id,
                    into_one_id=survivor.one_id,
                    reason="test",
                )
            )
        assert person_of("wr_a", "wm_group_0001") == survivor


class TestMembersErase:
    def test_an_erased_person_leaves_no_name_on_the_member_row(self) -> None:
        make_group("wr_a", customers=1)
        person = person_of("wr_a", "wm_group_0001")
        with committed():
            person_erase(actor=Actor.system("test"), one_id=person.one_id, reason="用户申请删除")
        member = GroupMember.objects.get(userid="wm_group_0001")
        assert (member.person_id, member.name, member.unionid) == (None, "", "")
        assert GroupMemberEvent.objects.filter(userid="wm_group_0001").exists()
