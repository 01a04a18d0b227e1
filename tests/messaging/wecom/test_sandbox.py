"""The WeCom sandbox: the same calls, checked like WeCom checks them, every send recorded for
the simulated phone (selectors.wecom_sandbox_messages_for_contact)."""

from __future__ import annotations

import dataclasses
from typing import Any

import pytest

from config.env import WecomSettings
from freshloop.messaging.errors import (
    WecomRequestInvalid,
    WecomUnknownExternalUser,
    WecomUnknownGroupChat,
    WecomUnknownStaff,
)
from freshloop.messaging.models import WecomSandboxMessage, WecomSandboxMessageKind
from freshloop.messaging.selectors import wecom_sandbox_messages_for_contact
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    WechatpyWecomClient,
    WecomContent,
    WecomLink,
    sandbox_contact_add,
    wecom_client,
)

pytestmark = pytest.mark.django_db


class TestWecomClientChoice:
    def test_no_corp_means_the_sandbox(self) -> None:
        assert isinstance(wecom_client(), SandboxWecomClient)

    def test_a_configured_corp_means_the_real_client(self, settings: Any) -> None:
        settings.FRESHLOOP = dataclasses.replace(
            settings.FRESHLOOP, wecom=WecomSettings(corp_id="ww1", contact_secret="s")
        )
        assert isinstance(wecom_client(), WechatpyWecomClient)


class TestAddMsgTemplate:
    def test_records_one_message_per_customer(self) -> None:
        # given two customers of fl_staff_lin in the seed directory
        client = SandboxWecomClient()
        # when a 1:1 mass message is created for them and one stranger's id
        result = client.add_msg_template(
            chat_type="single",
            sender="fl_staff_lin",
            external_userids=["wm_sandbox_0001", "wm_sandbox_0002", "wm_sandbox_0003"],
            content=WecomContent(
                text="直播间专属券", attachments=(WecomLink(title="券", url="https://x"),)
            ),
        )
        # then both of his customers got it, and zhou's customer is in fail_list
        assert result.msgid.startswith("msg_sandbox_")
        assert result.fail_list == ("wm_sandbox_0003",)
        rows = WecomSandboxMessage.objects.filter(wecom_id=result.msgid).order_by("external_userid")
        assert [(r.external_userid, r.staff_userid, r.kind) for r in rows] == [
            ("wm_sandbox_0001", "fl_staff_lin", WecomSandboxMessageKind.SINGLE),
            ("wm_sandbox_0002", "fl_staff_lin", WecomSandboxMessageKind.SINGLE),
        ]
        assert rows[0].text == "直播间专属券"
        assert rows[0].attachments == [
            {"msgtype": "link", "link": {"title": "券", "url": "https://x"}}
        ]

    def test_empty_content_is_refused_as_wecom_would(self) -> None:
        with pytest.raises(WecomRequestInvalid) as raised:
            SandboxWecomClient().add_msg_template(
                chat_type="single",
                sender="fl_staff_lin",
                external_userids=["wm_sandbox_0001"],
                content=WecomContent(text="  "),
            )
        assert raised.value.errcode == 40058
        assert WecomSandboxMessage.objects.count() == 0

    def test_text_over_4000_bytes_is_refused(self) -> None:
        with pytest.raises(WecomRequestInvalid):
            SandboxWecomClient().add_msg_template(
                chat_type="single",
                sender="fl_staff_lin",
                external_userids=["wm_sandbox_0001"],
                content=WecomContent(text="鲜" * 1400),  # 4,200 bytes in UTF-8
            )

    def test_an_unknown_sender_is_refused(self) -> None:
        with pytest.raises(WecomUnknownStaff):
            SandboxWecomClient().add_msg_template(
                chat_type="single",
                sender="nobody",
                external_userids=["wm_sandbox_0001"],
                content=WecomContent(text="hi"),
            )

    def test_group_messages_go_to_the_senders_groups(self) -> None:
        result = SandboxWecomClient().add_msg_template(
            chat_type="group", sender="fl_staff_lin", content=WecomContent(text="群福利")
        )
        rows = WecomSandboxMessage.objects.filter(wecom_id=result.msgid)
        assert [(r.chat_id, r.kind) for r in rows] == [
            ("wr_sandbox_group_01", WecomSandboxMessageKind.GROUP)
        ]

    def test_send_result_reports_what_was_recorded(self) -> None:
        client = SandboxWecomClient()
        result = client.add_msg_template(
            chat_type="single",
            sender="fl_staff_lin",
            external_userids=["wm_sandbox_0001"],
            content=WecomContent(text="hi"),
        )
        page = client.groupmsg_send_result(msgid=result.msgid, userid="fl_staff_lin")
        assert [(i.external_userid, i.status) for i in page.items] == [("wm_sandbox_0001", 1)]


class TestDirectory:
    def test_an_unknown_customer_is_typed(self) -> None:
        with pytest.raises(WecomUnknownExternalUser) as raised:
            SandboxWecomClient().external_contact_get(external_userid="wm_nobody")
        assert raised.value.errcode == 40096

    def test_remark_needs_the_relation(self) -> None:
        with pytest.raises(WecomUnknownExternalUser) as raised:
            SandboxWecomClient().external_contact_remark(
                userid="fl_staff_zhou", external_userid="wm_sandbox_0001", remark="x"
            )
        assert raised.value.errcode == 84061

    def test_mark_tag_checks_the_tags_and_keeps_them(self) -> None:
        client = SandboxWecomClient()
        with pytest.raises(WecomRequestInvalid):
            client.mark_tag(
                userid="fl_staff_lin", external_userid="wm_sandbox_0002", add_tag=["et_nope"]
            )
        client.mark_tag(
            userid="fl_staff_lin", external_userid="wm_sandbox_0002", add_tag=["et_sandbox_new"]
        )
        contact = client.external_contact_get(external_userid="wm_sandbox_0002")
        assert contact.follow_users[0].tag_ids == ("et_sandbox_new",)

    def test_an_added_contact_can_be_listed_and_welcomed(self) -> None:
        # given a viewer who adds fl_staff_zhou (the demo's simulated callback does this)
        welcome_code = sandbox_contact_add(
            staff_userid="fl_staff_zhou", external_userid="wm_new_viewer", name="新观众"
        )
        client = SandboxWecomClient()
        assert "wm_new_viewer" in client.external_contact_list(userid="fl_staff_zhou")
        page = client.external_contacts_by_staff(userids=["fl_staff_zhou"])
        assert {c.external_userid for c in page.contacts} == {"wm_sandbox_0003", "wm_new_viewer"}
        # when the staff member's welcome is sent
        client.send_welcome_msg(welcome_code=welcome_code, content=WecomContent(text="欢迎！"))
        # then the viewer's phone shows it
        (message,) = wecom_sandbox_messages_for_contact(external_userid="wm_new_viewer")
        assert (message.kind, message.text, message.staff_userid) == (
            WecomSandboxMessageKind.WELCOME,
            "欢迎！",
            "fl_staff_zhou",
        )

    def test_a_forged_welcome_code_is_refused(self) -> None:
        with pytest.raises(WecomRequestInvalid):
            SandboxWecomClient().send_welcome_msg(
                welcome_code="sandbox-welcome:fl_staff_lin:wm_sandbox_0003",
                content=WecomContent(text="hi"),
            )

    def test_groups(self) -> None:
        client = SandboxWecomClient()
        page = client.groupchat_list(owner_userids=["fl_staff_lin"])
        assert [c.chat_id for c in page.chats] == ["wr_sandbox_group_01"]
        chat = client.groupchat_get(chat_id="wr_sandbox_group_01")
        assert [(m.userid, m.type) for m in chat.members] == [
            ("fl_staff_lin", 1),
            ("wm_sandbox_0001", 2),
            ("wm_sandbox_0002", 2),
        ]
        with pytest.raises(WecomUnknownGroupChat):
            client.groupchat_get(chat_id="wr_nope")


class TestSimulatedPhone:
    def test_shows_1to1_group_and_moment_messages_newest_first(self) -> None:
        client = SandboxWecomClient()
        client.add_msg_template(
            chat_type="single",
            sender="fl_staff_lin",
            external_userids=["wm_sandbox_0001"],
            content=WecomContent(text="1:1"),
        )
        client.add_msg_template(
            chat_type="group", sender="fl_staff_lin", content=WecomContent(text="群消息")
        )
        client.add_moment_task(content=WecomContent(text="朋友圈"), sender_userids=["fl_staff_lin"])
        client.add_moment_task(
            content=WecomContent(text="周的朋友圈"), sender_userids=["fl_staff_zhou"]
        )
        phone = wecom_sandbox_messages_for_contact(external_userid="wm_sandbox_0001")
        assert [m.text for m in phone] == ["朋友圈", "群消息", "1:1"]
        # and another customer sees none of lin's 1:1 message
        other = wecom_sandbox_messages_for_contact(external_userid="wm_sandbox_0003")
        assert [m.text for m in other] == ["周的朋友圈"]

    def test_moments_narrowed_by_customer_tag(self) -> None:
        SandboxWecomClient().add_moment_task(
            content=WecomContent(text="VIP 专享"), customer_tag_ids=["et_sandbox_vip"]
        )
        rows = WecomSandboxMessage.objects.filter(kind=WecomSandboxMessageKind.MOMENT)
        assert [r.external_userid for r in rows] == ["wm_sandbox_0001"]


class TestAddMsgTemplateWithoutCustomers:
    def test_goes_to_every_customer_of_the_sender(self) -> None:
        result = SandboxWecomClient().add_msg_template(
            chat_type="single", sender="fl_staff_lin", content=WecomContent(text="全部客户")
        )
        rows = WecomSandboxMessage.objects.filter(wecom_id=result.msgid)
        assert sorted(r.external_userid for r in rows) == ["wm_sandbox_0001", "wm_sandbox_0002"]
