"""The sandbox's customer groups: created, joined, left and renamed as people do it in the
app, and answered by groupchat/list and groupchat/get like a real corp."""

from __future__ import annotations

import datetime as dt

import pytest

from freshloop.core import clock
from freshloop.messaging.errors import WecomError
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    sandbox_contact_add,
    sandbox_group_create,
    sandbox_group_join,
    sandbox_group_leave,
    sandbox_group_rename,
)

pytestmark = pytest.mark.django_db

NOON = dt.datetime(2026, 12, 4, 4, 0, tzinfo=dt.UTC)


class TestSandboxGroupCreate:
    def test_the_owner_is_the_first_member_and_the_group_is_listed(self) -> None:
        with clock.frozen(NOON):
            sandbox_group_create(chat_id="wr_new", name="新群", owner="fl_staff_zhou")

        client = SandboxWecomClient()
        listed = client.groupchat_list(owner_userids=["fl_staff_zhou"])
        assert [chat.chat_id for chat in listed.chats] == ["wr_new"]
        chat = client.groupchat_get(chat_id="wr_new")
        assert (chat.name, chat.owner, chat.create_time) == (
            "新群",
            "fl_staff_zhou",
            int(NOON.timestamp()),
        )
        assert [(m.userid, m.type) for m in chat.members] == [("fl_staff_zhou", 1)]

    def test_an_unknown_owner_is_refused_like_wecom(self) -> None:
        with pytest.raises(WecomError) as refused:
            sandbox_group_create(chat_id="wr_new", name="新群", owner="nobody")
        assert refused.value.errcode == 40003


class TestSandboxGroupJoin:
    def test_join_time_and_scene_are_answered_and_a_leave_removes_the_member(self) -> None:
        sandbox_group_create(chat_id="wr_new", name="新群", owner="fl_staff_lin")
        sandbox_contact_add(
            staff_userid="fl_staff_lin", external_userid="wm_x", name="小王", unionid="o_x"
        )
        with clock.frozen(NOON):
            sandbox_group_join(chat_id="wr_new", userid="wm_x", join_scene=3)
            sandbox_group_join(chat_id="wr_new", userid="wm_x")  # already in: no change

        member = SandboxWecomClient().groupchat_get(chat_id="wr_new").members[1]
        assert (member.userid, member.type, member.join_time, member.join_scene) == (
            "wm_x",
            2,
            int(NOON.timestamp()),
            3,
        )
        assert (member.name, member.unionid) == ("小王", "o_x")

        sandbox_group_leave(chat_id="wr_new", userid="wm_x")
        sandbox_group_rename(chat_id="wr_new", name="新名字")
        chat = SandboxWecomClient().groupchat_get(chat_id="wr_new")
        assert [m.userid for m in chat.members] == ["fl_staff_lin"]
        assert chat.name == "新名字"

    def test_an_unknown_group_is_40050(self) -> None:
        with pytest.raises(WecomError) as refused:
            sandbox_group_join(chat_id="wr_nope", userid="wm_x")
        assert refused.value.errcode == 40050
