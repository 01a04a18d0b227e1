"""Community test set-up: sandbox groups with members, the callbacks WeCom would send,
signed inbound posts and assistant rules."""

from __future__ import annotations

import dataclasses
import itertools
import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from django.test import Client, TestCase

from freshloop.community.assistant import rule_create
from freshloop.community.inbound import inbound_signature
from freshloop.community.models import AssistantRule, CustomerGroup, GroupMember
from freshloop.community.schemas import RuleIn
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.identity.models import Person
from freshloop.messaging.events import WecomGroupChatChanged
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    sandbox_contact_add,
    sandbox_group_create,
    sandbox_group_join,
)

CORP = SandboxWecomClient.corp_id
OWNER = "fl_staff_lin"
_keys = itertools.count(1)


@contextmanager
def committed() -> Iterator[None]:
    """Run what commits inside (durable handlers included) as if each write committed: the
    test's own transaction never does."""
    with TestCase.captureOnCommitCallbacks(execute=True):
        yield


def chat_changed(
    chat_id: str,
    change_type: str = "update",
    update_detail: str = "",
    members: list[str] | None = None,
    key: str = "",
) -> WecomGroupChatChanged:
    """Publish the change_external_chat event the callback endpoint would (after commit)."""
    event = WecomGroupChatChanged(
        corp_id=CORP,
        change_type=change_type,
        chat_id=chat_id,
        wecom_time=int(clock.now().timestamp()),
        event_key=key or f"test-{next(_keys)}",
        update_detail=update_detail,
        join_scene=3 if update_detail == "add_member" else 0,
        member_ids=list(members or []),
    )
    with committed():
        publish(event)
    return event


def customer(number: int, name: str = "") -> str:
    """A sandbox customer of OWNER: its external_userid."""
    external_userid = f"wm_group_{number:04d}"
    sandbox_contact_add(
        staff_userid=OWNER,
        external_userid=external_userid,
        name=name or f"客户{number}",
        unionid=f"o_union_group_{number:04d}",
    )
    return external_userid


def make_group(chat_id: str, customers: int = 0, first: int = 1, name: str = "") -> CustomerGroup:
    """A sandbox group owned by OWNER with `customers` customers, known to FreshLoop through
    the `create` callback (synced through the real handler)."""
    sandbox_group_create(chat_id=chat_id, name=name or f"群 {chat_id}", owner=OWNER)
    for number in range(first, first + customers):
        sandbox_group_join(chat_id=chat_id, userid=customer(number))
    chat_changed(chat_id, change_type="create")
    return CustomerGroup.objects.get(chat_id=chat_id)


def join(chat_id: str, number: int) -> str:
    userid = customer(number)
    sandbox_group_join(chat_id=chat_id, userid=userid)
    chat_changed(chat_id, update_detail="add_member", members=[userid])
    return userid


def person_of(chat_id: str, userid: str) -> Person:
    member = GroupMember.objects.select_related("person").get(group__chat_id=chat_id, userid=userid)
    assert member.person is not None
    return member.person


SECRET = "relay-shared-secret-for-tests"
URL = "/api/v1/community/inbound/messages"
OPERATOR = Actor(type="user", id="1", label="社群运营")
CHAT = "wrOgQhDgAAMYQiS5ol9G7gK9JVAAAA"

_ids = itertools.count(1)


def message(
    text: str = "你好",
    *,
    chat_id: str = CHAT,
    sender: str = "wmEAlECwAAHrbWYDOK5u3Af13xlYDDNQ",
    sender_type: str = "customer",
    msgtype: str = "text",
    msgid: str | None = None,
) -> dict[str, Any]:
    return {
        "msgid": msgid or f"msg-{next(_ids)}",
        "chat_id": chat_id,
        "sender": sender,
        "sender_type": sender_type,
        "sent_at": int(clock.now().timestamp() * 1000),
        "msgtype": msgtype,
        "text": text,
    }


def signed_post(
    client: Client,
    body: bytes | dict[str, Any],
    *,
    secret: str = SECRET,
    timestamp: int | None = None,
    signature: str | None = None,
) -> Any:
    raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
    stamp = str(timestamp if timestamp is not None else int(clock.now().timestamp()))
    headers = {
        "HTTP_X_FRESHLOOP_TIMESTAMP": stamp,
        "HTTP_X_FRESHLOOP_SIGNATURE": signature
        if signature is not None
        else inbound_signature(secret=secret, timestamp=stamp, body=raw),
    }
    return client.post(URL, data=raw, content_type="application/json", **headers)


def make_rule(**fields: Any) -> AssistantRule:
    spec: dict[str, Any] = {
        "name": "发货咨询",
        "match": "contains",
        "pattern": "发货",
        "reply_kind": "text",
        "reply_text": "下单后 24 小时内冷链发货～",
        "cooldown_seconds": 300,
    }
    spec.update(fields)
    return rule_create(body=RuleIn(**spec), actor=OPERATOR)


def use_community(settings: Any, **fields: Any) -> None:
    """Set community settings (config/env.py `CommunitySettings`) for one test."""
    settings.FRESHLOOP = dataclasses.replace(
        settings.FRESHLOOP,
        community=dataclasses.replace(settings.FRESHLOOP.community, **fields),
    )
