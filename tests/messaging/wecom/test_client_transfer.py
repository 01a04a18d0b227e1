"""The real WeCom client's tag administration and customer transfer calls against WeCom's
documented shapes (客户联系 → 客户标签管理, 在职继承, 离职继承): URLs, JSON bodies, answers."""

from __future__ import annotations

import pytest
import responses

from freshloop.messaging.errors import WecomError, WecomUnknownStaff
from tests.messaging.wecom.test_client import (
    BASE,
    OK,
    given_token,
    make_client,
    sent_json,
    token_query,
)

pytestmark = pytest.mark.django_db


class TestTagAdministration:
    @responses.activate
    def test_add_corp_tag_in_a_group_named_by_name(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/add_corp_tag",
            json={
                **OK,
                "tag_group": {
                    "group_id": "etGROUP",
                    "group_name": "FreshLoop 计算标签",
                    "create_time": 1700000000,
                    "order": 1,
                    "tag": [
                        {
                            "id": "etTAG1",
                            "name": "重要价值客户",
                            "create_time": 1700000000,
                            "order": 1,
                        }
                    ],
                },
            },
            match=[token_query()],
        )
        group = make_client().add_corp_tag(
            group_name="FreshLoop 计算标签", tag_names=["重要价值客户"]
        )
        assert sent_json() == {
            "group_name": "FreshLoop 计算标签",
            "tag": [{"name": "重要价值客户"}],
        }
        assert (group.group_id, [(t.tag_id, t.name) for t in group.tags]) == (
            "etGROUP",
            [("etTAG1", "重要价值客户")],
        )

    @responses.activate
    def test_add_corp_tag_to_a_known_group_sends_its_id_only(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/add_corp_tag",
            json={**OK, "tag_group": {"group_id": "etG", "group_name": "g", "tag": []}},
        )
        make_client().add_corp_tag(group_name="ignored", group_id="etG", tag_names=["a", "b"])
        assert sent_json() == {"group_id": "etG", "tag": [{"name": "a"}, {"name": "b"}]}

    @responses.activate
    def test_del_corp_tag(self) -> None:
        given_token()
        responses.post(BASE + "externalcontact/del_corp_tag", json=OK, match=[token_query()])
        make_client().del_corp_tag(tag_ids=["etTAG1"], group_ids=["etGROUP"])
        assert sent_json() == {"tag_id": ["etTAG1"], "group_id": ["etGROUP"]}

    @responses.activate
    def test_follow_user_list(self) -> None:
        given_token()
        responses.get(
            BASE + "externalcontact/get_follow_user_list",
            json={**OK, "follow_user": ["lin", "zhou"]},
            match=[token_query()],
        )
        assert make_client().follow_user_list() == ["lin", "zhou"]


class TestTransfer:
    @responses.activate
    def test_in_service_transfer_with_the_notice(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/transfer_customer",
            json={
                **OK,
                "customer": [
                    {"external_userid": "wmA", "errcode": 0},
                    {"external_userid": "wmB", "errcode": 40128},
                ],
            },
            match=[token_query()],
        )
        answer = make_client().transfer_customer(
            handover_userid="lin",
            takeover_userid="zhou",
            external_userids=["wmA", "wmB"],
            transfer_success_msg="您好，之后由周为您服务",
        )
        assert sent_json() == {
            "handover_userid": "lin",
            "takeover_userid": "zhou",
            "external_userid": ["wmA", "wmB"],
            "transfer_success_msg": "您好，之后由周为您服务",
        }
        assert [(c.external_userid, c.errcode) for c in answer] == [("wmA", 0), ("wmB", 40128)]

    @responses.activate
    def test_resigned_transfer_has_no_notice(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/resigned/transfer_customer",
            json={**OK, "customer": [{"external_userid": "wmA", "errcode": 0}]},
        )
        make_client().transfer_customer(
            handover_userid="lin",
            takeover_userid="zhou",
            external_userids=["wmA"],
            transfer_success_msg="ignored",
            resigned=True,
        )
        assert sent_json() == {
            "handover_userid": "lin",
            "takeover_userid": "zhou",
            "external_userid": ["wmA"],
        }

    @responses.activate
    @pytest.mark.parametrize(
        ("resigned", "endpoint"),
        [(False, "transfer_result"), (True, "resigned/transfer_result")],
    )
    def test_transfer_result_pages(self, resigned: bool, endpoint: str) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/" + endpoint,
            json={
                **OK,
                "customer": [
                    {"external_userid": "wmA", "status": 1, "takeover_time": 1700000000},
                    {"external_userid": "wmB", "status": 2},
                ],
                "next_cursor": "NEXT",
            },
        )
        page = make_client().transfer_result(
            handover_userid="lin", takeover_userid="zhou", cursor="C1", resigned=resigned
        )
        assert sent_json() == {"handover_userid": "lin", "takeover_userid": "zhou", "cursor": "C1"}
        assert [(c.external_userid, c.status, c.takeover_time) for c in page.customers] == [
            ("wmA", 1, 1700000000),
            ("wmB", 2, 0),
        ]
        assert page.next_cursor == "NEXT"

    @responses.activate
    def test_unassigned_list(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/get_unassigned_list",
            json={
                **OK,
                "info": [
                    {
                        "handover_userid": "lin",
                        "external_userid": "wmA",
                        "dimission_time": 1550838571,
                    }
                ],
                "is_last": False,
                "next_cursor": "aSfwejksvhToiMMfFeIGZZ",
            },
        )
        page = make_client().unassigned_list(page_size=5000)
        assert sent_json() == {"page_size": 1000}
        assert [(i.handover_userid, i.external_userid, i.dimission_time) for i in page.items] == [
            ("lin", "wmA", 1550838571)
        ]
        assert (page.is_last, page.next_cursor) == (False, "aSfwejksvhToiMMfFeIGZZ")

    @responses.activate
    def test_an_unknown_takeover_is_typed(self) -> None:
        given_token()
        responses.post(
            BASE + "externalcontact/transfer_customer",
            json={"errcode": 40003, "errmsg": "invalid userid"},
        )
        with pytest.raises(WecomUnknownStaff) as raised:
            make_client().transfer_customer(
                handover_userid="lin", takeover_userid="ghost", external_userids=["wmA"]
            )
        assert isinstance(raised.value, WecomError)
        assert raised.value.errcode == 40003
