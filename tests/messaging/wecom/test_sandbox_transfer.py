"""The sandbox's tag administration and customer transfers behave as WeCom documents them."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.messaging.errors import WecomError, WecomRequestInvalid, WecomUnknownStaff
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    sandbox_contacts,
    sandbox_staff_resign,
    sandbox_transfer_settle,
)

pytestmark = pytest.mark.django_db
MORNING = dt.datetime(2026, 12, 4, 2, 0, tzinfo=dt.UTC)


def tags_of(external_userid: str) -> set[str]:
    (found,) = [c for c in sandbox_contacts() if c.external_userid == external_userid]
    return {tag for follow in found.follow_users for tag in follow.tag_ids}


class TestCorpTags:
    def test_add_creates_the_group_then_reuses_it(self) -> None:
        client = SandboxWecomClient()
        first = client.add_corp_tag(group_name="渠道", tag_names=["直播"])
        second = client.add_corp_tag(group_name="渠道", tag_names=["社群"])
        assert first.group_id == second.group_id
        (group,) = client.corp_tag_list(group_ids=[first.group_id])
        assert [tag.name for tag in group.tags] == ["直播", "社群"]

    def test_a_duplicate_or_overlong_name_is_refused(self) -> None:
        client = SandboxWecomClient()
        with pytest.raises(WecomError) as raised:
            client.add_corp_tag(group_name="客户等级", tag_names=["VIP"])
        assert raised.value.errcode == 40071
        with pytest.raises(WecomRequestInvalid):
            client.add_corp_tag(group_name="渠道", tag_names=["长" * 31])

    def test_delete_takes_the_tag_off_customers(self) -> None:
        client = SandboxWecomClient()
        client.del_corp_tag(tag_ids=["et_sandbox_vip"])
        assert "et_sandbox_vip" not in tags_of("wm_sandbox_0001")
        with pytest.raises(WecomRequestInvalid):
            client.del_corp_tag(tag_ids=["et_sandbox_vip"])


class TestTransfer:
    def test_waits_24_hours_then_moves_the_customer_with_its_tags(self) -> None:
        client = SandboxWecomClient()
        with clock.frozen(MORNING):
            answer = client.transfer_customer(
                handover_userid="fl_staff_lin",
                takeover_userid="fl_staff_zhou",
                external_userids=["wm_sandbox_0001", "wm_sandbox_0003"],
            )
            assert [(a.external_userid, a.errcode) for a in answer] == [
                ("wm_sandbox_0001", 0),
                ("wm_sandbox_0003", 84061),  # not 林's customer
            ]
            page = client.transfer_result(
                handover_userid="fl_staff_lin", takeover_userid="fl_staff_zhou"
            )
            assert [(c.external_userid, c.status) for c in page.customers] == [
                ("wm_sandbox_0001", 2)
            ]
        with clock.frozen(MORNING + dt.timedelta(hours=24)):
            page = client.transfer_result(
                handover_userid="fl_staff_lin", takeover_userid="fl_staff_zhou"
            )
        assert [c.status for c in page.customers] == [1]
        (found,) = [c for c in sandbox_contacts() if c.external_userid == "wm_sandbox_0001"]
        assert [(f.userid, f.tag_ids) for f in found.follow_users] == [
            ("fl_staff_zhou", ("et_sandbox_vip",))
        ]

    def test_resigned_staff_list_their_unassigned_customers(self) -> None:
        client = SandboxWecomClient()
        sandbox_staff_resign(userid="fl_staff_lin")
        assert "fl_staff_lin" not in client.follow_user_list()
        page = client.unassigned_list()
        assert [(i.handover_userid, i.external_userid) for i in page.items] == [
            ("fl_staff_lin", "wm_sandbox_0001"),
            ("fl_staff_lin", "wm_sandbox_0002"),
        ]
        with pytest.raises(WecomRequestInvalid):  # 在职继承 of a departed member
            client.transfer_customer(
                handover_userid="fl_staff_lin",
                takeover_userid="fl_staff_zhou",
                external_userids=["wm_sandbox_0001"],
            )
        client.transfer_customer(
            handover_userid="fl_staff_lin",
            takeover_userid="fl_staff_zhou",
            external_userids=["wm_sandbox_0001"],
            resigned=True,
        )
        assert [i.external_userid for i in client.unassigned_list().items] == ["wm_sandbox_0002"]

    def test_requests_wecom_refuses(self) -> None:
        client = SandboxWecomClient()
        with pytest.raises(WecomUnknownStaff):
            client.transfer_customer(
                handover_userid="fl_staff_lin", takeover_userid="ghost", external_userids=["x"]
            )
        with pytest.raises(WecomRequestInvalid):
            client.transfer_customer(
                handover_userid="fl_staff_lin",
                takeover_userid="fl_staff_zhou",
                external_userids=[f"wm_{n}" for n in range(101)],
            )
        with pytest.raises(WecomRequestInvalid):
            client.transfer_customer(
                handover_userid="fl_staff_lin",
                takeover_userid="fl_staff_lin",
                external_userids=["wm_sandbox_0001"],
            )

    def test_settle_plays_the_refusing_customer(self) -> None:
        client = SandboxWecomClient()
        client.transfer_customer(
            handover_userid="fl_staff_lin",
            takeover_userid="fl_staff_zhou",
            external_userids=["wm_sandbox_0002"],
        )
        sandbox_transfer_settle(external_userid="wm_sandbox_0002", status=3)
        page = client.transfer_result(
            handover_userid="fl_staff_lin", takeover_userid="fl_staff_zhou"
        )
        assert [c.status for c in page.customers] == [3]
        with pytest.raises(WecomRequestInvalid):
            sandbox_transfer_settle(external_userid="wm_sandbox_0002", status=1)
