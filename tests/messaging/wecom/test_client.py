"""The real WeCom client against WeCom's documented request and answer shapes (客户联系 API),
with `responses` standing in for qyapi.weixin.qq.com: URLs, the access_token query, JSON bodies,
the token dropped and fetched again once, back-off on rate limits, typed permanent errors."""

from __future__ import annotations

import json
from typing import Any

import pytest
import responses
from responses import matchers

from freshloop.messaging.errors import (
    WecomError,
    WecomInvalidSecret,
    WecomIpNotAllowed,
    WecomNoPermission,
    WecomRateLimited,
    WecomUnavailable,
    WecomUnknownExternalUser,
)
from freshloop.messaging.wecom import (
    WechatpyWecomClient,
    WecomContent,
    WecomImage,
    WecomLink,
    WecomMiniProgram,
)

BASE = "https://qyapi.weixin.qq.com/cgi-bin/"
TOKEN_URL = BASE + "gettoken"
OK = {"errcode": 0, "errmsg": "ok"}


def make_client(sleeps: list[float] | None = None, **kwargs: Any) -> WechatpyWecomClient:
    record = sleeps if sleeps is not None else []
    return WechatpyWecomClient(
        corp_id="ww_corp", secret="contact-secret", sleep=record.append, **kwargs
    )


def given_token(token: str = "TOKEN-1") -> None:
    responses.get(
        TOKEN_URL,
        json={"errcode": 0, "errmsg": "ok", "access_token": token, "expires_in": 7200},
        match=[matchers.query_param_matcher({"corpid": "ww_corp", "corpsecret": "contact-secret"})],
    )


def sent_json(index: int = -1) -> dict[str, Any]:
    body = responses.calls[index].request.body
    assert body is not None
    return json.loads(body)  # type: ignore[no-any-return]


def token_query(token: str = "TOKEN-1") -> Any:
    return matchers.query_param_matcher({"access_token": token}, strict_match=False)


@pytest.mark.django_db
class TestCustomers:
    @responses.activate
    def test_external_contact_list(self) -> None:
        given_token()
        responses.get(
            BASE + "externalcontact/list",
            json={**OK, "external_userid": ["wmA", "wmB"]},
            match=[matchers.query_param_matcher({"access_token": "TOKEN-1", "userid": "lin"})],
        )
        assert make_client().external_contact_list(userid="lin") == ["wmA", "wmB"]

    @responses.activate
    def test_external_contact_get_reads_every_follow_user_page(self) -> None:
        given_token()
        contact = {"external_userid": "wmA", "name": "王阿姨", "type": 1, "unionid": "oU1"}
        responses.get(
            BASE + "externalcontact/get",
            json={
                **OK,
                "external_contact": contact,
                "follow_user": [
                    {
                        "userid": "lin",
                        "remark": "老客",
                        "createtime": 1700000000,
                        "tags": [
                            {"group_name": "等级", "tag_name": "VIP", "tag_id": "etVIP", "type": 1}
                        ],
                        "state": "live",
                    }
                ],
                "next_cursor": "C2",
            },
            match=[
                matchers.query_param_matcher({"access_token": "TOKEN-1", "external_userid": "wmA"})
            ],
        )
        responses.get(
            BASE + "externalcontact/get",
            json={**OK, "external_contact": contact, "follow_user": [{"userid": "zhou"}]},
            match=[
                matchers.query_param_matcher(
                    {"access_token": "TOKEN-1", "external_userid": "wmA", "cursor": "C2"}
                )
            ],
        )
        result = make_client().external_contact_get(external_userid="wmA")
        assert result.name == "王阿姨"
        assert result.unionid == "oU1"
        assert [user.userid for user in result.follow_users] == ["lin", "zhou"]
        assert result.follow_users[0].tag_ids == ("etVIP",)
        assert result.follow_users[0].state == "live"

    @responses.activate
    def test_batch_get_by_user_pages_with_a_cursor(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/batch/get_by_user",
            json={
                **OK,
                "external_contact_list": [
                    {
                        "external_contact": {"external_userid": "wmA", "name": "A"},
                        "follow_info": {"userid": "lin", "tag_id": ["et1", "et2"]},
                    }
                ],
                "next_cursor": "NEXT",
            },
            match=[token_query()],
        )
        page = make_client().external_contacts_by_staff(userids=["lin"], cursor="C1", limit=500)
        assert sent_json() == {"userid_list": ["lin"], "cursor": "C1", "limit": 100}
        assert page.next_cursor == "NEXT"
        assert page.contacts[0].external_userid == "wmA"
        assert page.contacts[0].follow_users[0].tag_ids == ("et1", "et2")

    @responses.activate
    def test_remark_sends_only_the_given_fields(self) -> None:
        given_token()
        responses.post(BASE + "externalcontact/remark", json=OK, match=[token_query()])
        make_client().external_contact_remark(userid="lin", external_userid="wmA", remark="老客")
        assert sent_json() == {"userid": "lin", "external_userid": "wmA", "remark": "老客"}

    @responses.activate
    def test_corp_tags_and_mark_tag(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/get_corp_tag_list",
            json={
                **OK,
                "tag_group": [
                    {
                        "group_id": "g1",
                        "group_name": "等级",
                        "tag": [
                            {"id": "etVIP", "name": "VIP", "order": 1},
                            {"id": "etOLD", "name": "旧", "deleted": True},
                        ],
                    }
                ],
            },
            match=[token_query()],
        )
        responses.post(BASE + "externalcontact/mark_tag", json=OK, match=[token_query()])
        client = make_client()
        (group,) = client.corp_tag_list(group_ids=["g1"])
        assert sent_json() == {"group_id": ["g1"]}
        assert [(tag.tag_id, tag.name) for tag in group.tags] == [("etVIP", "VIP")]
        client.mark_tag(userid="lin", external_userid="wmA", add_tag=["etVIP"], remove_tag=["x"])
        assert sent_json() == {
            "userid": "lin",
            "external_userid": "wmA",
            "add_tag": ["etVIP"],
            "remove_tag": ["x"],
        }


@pytest.mark.django_db
class TestMassMessages:
    @responses.activate
    def test_add_msg_template_to_customers(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/add_msg_template",
            json={**OK, "fail_list": ["wmGone"], "msgid": "msgGCAAA"},
            match=[token_query()],
        )
        content = WecomContent(
            text="今晚 8 点直播",
            attachments=(
                WecomImage(media_id="MEDIA"),
                WecomLink(title="螺蛳粉", url="https://shop.example/p/1", picurl="https://p/1.jpg"),
                WecomMiniProgram(title="下单", appid="wxapp", page="/p/1", pic_media_id="M2"),
            ),
        )
        result = make_client().add_msg_template(
            chat_type="single", content=content, sender="lin", external_userids=["wmA", "wmGone"]
        )
        assert result.msgid == "msgGCAAA"
        assert result.fail_list == ("wmGone",)
        assert sent_json() == {
            "chat_type": "single",
            "sender": "lin",
            "external_userid": ["wmA", "wmGone"],
            "text": {"content": "今晚 8 点直播"},
            "attachments": [
                {"msgtype": "image", "image": {"media_id": "MEDIA"}},
                {
                    "msgtype": "link",
                    "link": {
                        "title": "螺蛳粉",
                        "url": "https://shop.example/p/1",
                        "picurl": "https://p/1.jpg",
                    },
                },
                {
                    "msgtype": "miniprogram",
                    "miniprogram": {
                        "title": "下单",
                        "pic_media_id": "M2",
                        "appid": "wxapp",
                        "page": "/p/1",
                    },
                },
            ],
        }

    @responses.activate
    def test_add_msg_template_to_groups(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/add_msg_template",
            json={**OK, "msgid": "m2"},
            match=[token_query()],
        )
        make_client().add_msg_template(
            chat_type="group", content=WecomContent(text="hi"), sender="lin", chat_ids=["wrA"]
        )
        assert sent_json() == {
            "chat_type": "group",
            "sender": "lin",
            "chat_id_list": ["wrA"],
            "text": {"content": "hi"},
        }

    @responses.activate
    def test_send_result(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/get_groupmsg_send_result",
            json={
                **OK,
                "next_cursor": "",
                "send_list": [
                    {
                        "external_userid": "wmA",
                        "userid": "lin",
                        "status": 1,
                        "send_time": 1552536375,
                    },
                    {"external_userid": "wmB", "userid": "lin", "status": 3},
                ],
            },
            match=[token_query()],
        )
        page = make_client().groupmsg_send_result(msgid="m1", userid="lin")
        assert sent_json() == {"msgid": "m1", "userid": "lin", "limit": 500}
        assert [(item.external_userid, item.status) for item in page.items] == [
            ("wmA", 1),
            ("wmB", 3),
        ]

    @responses.activate
    def test_add_moment_task(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/add_moment_task",
            json={**OK, "jobid": "job1"},
            match=[token_query()],
        )
        jobid = make_client().add_moment_task(
            content=WecomContent(text="新鲜到货"), sender_userids=["lin"], customer_tag_ids=["et1"]
        )
        assert jobid == "job1"
        assert sent_json() == {
            "text": {"content": "新鲜到货"},
            "visible_range": {
                "sender_list": {"user_list": ["lin"]},
                "external_contact_list": {"tag_list": ["et1"]},
            },
        }

    @responses.activate
    def test_welcome_messages(self) -> None:
        given_token()
        responses.post(BASE + "externalcontact/send_welcome_msg", json=OK, match=[token_query()])
        responses.post(
            BASE + "externalcontact/group_welcome_template/add",
            json={**OK, "template_id": "tpl1"},
            match=[token_query()],
        )
        client = make_client()
        client.send_welcome_msg(welcome_code="WC", content=WecomContent(text="欢迎"))
        assert sent_json() == {"welcome_code": "WC", "text": {"content": "欢迎"}}
        template_id = client.group_welcome_template_add(
            content=WecomContent(
                text="欢迎入群", attachments=(WecomLink(title="福利", url="https://x"),)
            )
        )
        assert template_id == "tpl1"
        assert sent_json() == {
            "notify": 1,
            "text": {"content": "欢迎入群"},
            "link": {"title": "福利", "url": "https://x"},
        }


@pytest.mark.django_db
class TestGroupChats:
    @responses.activate
    def test_list_and_get(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/groupchat/list",
            json={**OK, "group_chat_list": [{"chat_id": "wrA", "status": 0}], "next_cursor": "N"},
            match=[token_query()],
        )
        responses.post(
            BASE + "externalcontact/groupchat/get",
            json={
                **OK,
                "group_chat": {
                    "chat_id": "wrA",
                    "name": "福利群",
                    "owner": "lin",
                    "create_time": 1572505490,
                    "member_list": [
                        {"userid": "lin", "type": 1, "join_time": 1572505491, "join_scene": 1},
                        {"userid": "wmA", "type": 2, "unionid": "oU1", "join_scene": 3},
                    ],
                    "admin_list": [{"userid": "zhou"}],
                },
            },
            match=[token_query()],
        )
        client = make_client()
        page = client.groupchat_list(owner_userids=["lin"], limit=50)
        assert sent_json() == {
            "status_filter": 0,
            "limit": 50,
            "owner_filter": {"userid_list": ["lin"]},
        }
        assert page.chats[0].chat_id == "wrA"
        assert page.next_cursor == "N"
        chat = client.groupchat_get(chat_id="wrA")
        assert sent_json() == {"chat_id": "wrA", "need_name": 1}
        assert chat.name == "福利群"
        assert [(m.userid, m.type) for m in chat.members] == [("lin", 1), ("wmA", 2)]
        assert chat.admins == ("zhou",)


@pytest.mark.django_db
class TestTokenAndRetries:
    @responses.activate
    def test_the_token_is_fetched_once_and_shared_between_clients(self) -> None:
        given_token()
        responses.get(BASE + "externalcontact/list", json={**OK, "external_userid": []})
        make_client().external_contact_list(userid="lin")
        make_client().external_contact_list(userid="lin")
        assert sum(call.request.url.startswith(TOKEN_URL) for call in responses.calls) == 1

    @pytest.mark.parametrize("errcode", [40014, 42001, 40082])
    @responses.activate
    def test_an_expired_token_is_dropped_and_the_call_made_once_more(self, errcode: int) -> None:
        # given a cached token WeCom no longer accepts
        given_token("OLD")
        responses.get(
            BASE + "externalcontact/list",
            json={"errcode": errcode, "errmsg": "access_token expired"},
            match=[token_query("OLD")],
        )
        responses.get(
            BASE + "externalcontact/list",
            json={**OK, "external_userid": ["wmA"]},
            match=[token_query("NEW")],
        )
        sleeps: list[float] = []
        client = make_client(sleeps)
        client._client.fetch_access_token()  # OLD is now the shared, cached token
        responses.replace(
            responses.GET,
            TOKEN_URL,
            json={"errcode": 0, "access_token": "NEW", "expires_in": 7200},
        )
        # when a call is made / then it is repeated with a fresh token, without waiting
        assert client.external_contact_list(userid="lin") == ["wmA"]
        assert sleeps == []

    @responses.activate
    def test_a_token_refused_twice_is_not_retried_again(self) -> None:
        responses.get(TOKEN_URL, json={"errcode": 0, "access_token": "T", "expires_in": 7200})
        responses.get(BASE + "externalcontact/list", json={"errcode": 40014, "errmsg": "bad"})
        with pytest.raises(WecomError) as raised:
            make_client().external_contact_list(userid="lin")
        assert raised.value.errcode == 40014
        list_calls = [c for c in responses.calls if "externalcontact/list" in c.request.url]
        assert len(list_calls) == 2

    @pytest.mark.parametrize("errcode", [45009, 45033, -1])
    @responses.activate
    def test_rate_limits_back_off_exponentially_then_succeed(self, errcode: int) -> None:
        given_token()
        for _ in range(2):
            responses.post(
                BASE + "externalcontact/mark_tag", json={"errcode": errcode, "errmsg": "limit"}
            )
        responses.post(BASE + "externalcontact/mark_tag", json=OK)
        sleeps: list[float] = []
        make_client(sleeps, max_attempts=3, backoff_seconds=0.5).mark_tag(
            userid="lin", external_userid="wmA", add_tag=["et1"]
        )
        assert sleeps == [0.5, 1.0]

    @responses.activate
    def test_rate_limits_give_up_after_the_bounded_tries(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/mark_tag", json={"errcode": 45033, "errmsg": "concurrency"}
        )
        sleeps: list[float] = []
        with pytest.raises(WecomRateLimited) as raised:
            make_client(sleeps, max_attempts=3, backoff_seconds=1).mark_tag(
                userid="lin", external_userid="wmA", add_tag=["et1"]
            )
        assert sleeps == [1, 2]
        assert raised.value.errcode == 45033
        assert raised.value.status == 503

    @responses.activate
    def test_an_http_failure_is_unavailable_after_retries(self) -> None:
        given_token()
        responses.post(BASE + "externalcontact/mark_tag", status=502)
        sleeps: list[float] = []
        with pytest.raises(WecomUnavailable):
            make_client(sleeps, max_attempts=2).mark_tag(
                userid="lin", external_userid="wmA", add_tag=["et1"]
            )
        assert len(sleeps) == 1


@pytest.mark.django_db
class TestPermanentErrors:
    @pytest.mark.parametrize(
        ("errcode", "error", "words"),
        [
            (84061, WecomUnknownExternalUser, "不存在外部联系人的关系"),
            (40096, WecomUnknownExternalUser, "不合法的外部联系人"),
            (48002, WecomNoPermission, "无权限"),
            (60011, WecomNoPermission, "无权限"),
            (60020, WecomIpNotAllowed, "IP"),
        ],
    )
    @responses.activate
    def test_are_typed_with_chinese_messages_and_not_retried(
        self, errcode: int, error: type[Exception], words: str
    ) -> None:
        given_token()
        responses.get(BASE + "externalcontact/get", json={"errcode": errcode, "errmsg": "x"})
        sleeps: list[float] = []
        with pytest.raises(error) as raised:
            make_client(sleeps).external_contact_get(external_userid="wmA")
        assert words in str(raised.value)
        assert raised.value.detail == {"errcode": errcode, "errmsg": "x"}  # type: ignore[attr-defined]
        assert sleeps == []
        assert len([c for c in responses.calls if "externalcontact/get" in c.request.url]) == 1

    @responses.activate
    def test_a_wrong_secret_is_typed_when_the_token_is_fetched(self) -> None:
        responses.get(TOKEN_URL, json={"errcode": 40001, "errmsg": "invalid credential"})
        with pytest.raises(WecomInvalidSecret) as raised:
            make_client().external_contact_list(userid="lin")
        assert "secret" in str(raised.value)
        assert len(responses.calls) == 1
