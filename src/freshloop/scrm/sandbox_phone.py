"""The console's simulated phone for the WeCom sandbox: who the sandbox corp's customers are,
what each one's phone shows, and "模拟客户添加员工" — a customer adding a staff member the way
WeCom's callback reports it, so the whole loop (OneID, 新好友 journey, win-back message) can be
shown without a real corp."""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.events import publish
from freshloop.identity.errors import InvalidIdentifier
from freshloop.identity.models import Person
from freshloop.identity.selectors import person_by_identifier
from freshloop.identity.services import IdentifierInput, identify
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.models import (
    MarketingDispatch,
    WecomSandboxMessage,
    WecomSandboxMessageKind,
)
from freshloop.messaging.selectors import wecom_sandbox_messages_for_contact
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    sandbox_contact_add,
    sandbox_contacts,
    sandbox_group_name,
    sandbox_staff,
)
from freshloop.promotions.models import Coupon, CouponSource
from freshloop.scrm.errors import SandboxContactInvalid
from freshloop.scrm.models import WecomContact

MAX_NAME_CHARS = 20
PHONE_STATE = "sandbox_phone"  # the 渠道 state of contacts added from the console


def sandbox_in_use() -> bool:
    """The phone page exists only while no real corp is configured: with a real corp the
    customers' phones are real, and nothing is recorded."""
    return not settings.FRESHLOOP.wecom.configured


@dataclass(frozen=True)
class SandboxCustomer:
    external_userid: str
    name: str
    staff: list[str]  # 跟进人 in the sandbox directory
    unionid: str
    contact: WecomContact | None  # None until scrm has seen WeCom's add callback
    messages: int


def sandbox_customers() -> list[SandboxCustomer]:
    """The sandbox corp's customers: its directory, joined with the contacts scrm keeps (and
    those it keeps that the directory forgot, e.g. after the cache was cleared)."""
    directory = {contact.external_userid: contact for contact in sandbox_contacts()}
    rows = {
        contact.external_userid: contact
        for contact in WecomContact.objects.select_related("person").order_by("external_userid")
    }
    ids = sorted(set(directory) | set(rows))
    counts: dict[str, int] = {}
    for external_userid in WecomSandboxMessage.objects.filter(external_userid__in=ids).values_list(
        "external_userid", flat=True
    ):
        counts[external_userid] = counts.get(external_userid, 0) + 1
    customers = []
    for external_userid in ids:
        seen = directory.get(external_userid)
        row = rows.get(external_userid)
        customers.append(
            SandboxCustomer(
                external_userid=external_userid,
                name=seen.name if seen else (row.name if row else ""),
                staff=[follow.userid for follow in seen.follow_users] if seen else [],
                unionid=seen.unionid if seen else "",
                contact=row,
                messages=counts.get(external_userid, 0),
            )
        )
    return customers


def sandbox_customer(*, external_userid: str) -> SandboxCustomer | None:
    for customer in sandbox_customers():
        if customer.external_userid == external_userid:
            return customer
    return None


def _card(attachment: dict[str, Any]) -> dict[str, str]:
    """One attachment as the phone draws it: a link card (title, desc, url), a mini-program
    card or a picture."""
    kind = str(attachment.get("msgtype", ""))
    body = attachment.get(kind, {}) if isinstance(attachment.get(kind), dict) else {}
    picture = str(body.get("picurl", "") or body.get("pic_url", ""))
    return {
        "kind": kind,
        "title": str(body.get("title", "")),
        "desc": str(body.get("desc", "")),
        "url": str(body.get("url", "") or body.get("page", "")),
        # a picture sent by URL is drawn; one uploaded to WeCom (media_id) cannot be
        "picurl": picture if picture.startswith(("https://", "http://")) else "",
    }


def _mass_message_ids(wecom_ids: list[str]) -> set[str]:
    """Which of these WeCom message ids were sent by a mass message (企业群发), so the phone
    can label them: the policy's decision for the send names its source ("mass:<id>")."""
    if not wecom_ids:
        return set()
    return set(
        MarketingDispatch.objects.filter(
            outbox_message__provider_message_id__in=wecom_ids, source__startswith="mass:"
        ).values_list("outbox_message__provider_message_id", flat=True)
    )


def phone_messages(*, external_userid: str, limit: int = 100) -> list[dict[str, Any]]:
    """What the customer's phone shows, oldest first (a chat reads downwards), each message
    with where it arrived: the 1:1 chat with the staff member, a customer group, moments."""
    rows = wecom_sandbox_messages_for_contact(external_userid=external_userid, limit=limit)
    mass = _mass_message_ids(
        [row.wecom_id for row in rows if row.kind == WecomSandboxMessageKind.SINGLE]
    )
    groups: dict[str, str] = {}
    messages = []
    for row in reversed(rows):
        if row.chat_id and row.chat_id not in groups:
            groups[row.chat_id] = sandbox_group_name(chat_id=row.chat_id) or row.chat_id
        messages.append(
            {
                "id": row.pk,
                "kind": row.kind,
                "where": {
                    WecomSandboxMessageKind.GROUP: "group",
                    WecomSandboxMessageKind.MOMENT: "moment",
                }.get(WecomSandboxMessageKind(row.kind), "chat"),
                "kind_label": row.get_kind_display(),
                "mass": row.wecom_id in mass,
                "staff": row.staff_userid,
                "group": groups.get(row.chat_id, ""),
                "text": row.text,
                "cards": [_card(attachment) for attachment in row.attachments or []],
                "at": row.created_at,
            }
        )
    return messages


def journey_coupons(*, customer: SandboxCustomer, limit: int = 5) -> list[Coupon]:
    """The coupons journeys gave this customer, newest first: WeCom shows no coupon, so the
    phone page shows them beside it (the shopper finds them under /m/coupons)."""
    if customer.contact is None:
        return []
    return list(
        Coupon.objects.filter(person_id=customer.contact.person_id, source=CouponSource.JOURNEY)
        .select_related("template")
        .order_by("-issued_at", "-pk")[:limit]
    )


def sandbox_customer_add(
    *, name: str, staff_userid: str, phone: str = "", actor: Actor
) -> tuple[str, Person | None]:
    """A simulated customer adds `staff_userid` in WeCom: the sandbox directory gains the
    customer and the same event WeCom's callback publishes (add_external_contact) follows, so
    scrm ties the contact to a OneID and enrols it in the 新好友 journeys.

    With `phone`, the customer is an existing shopper: their OneID gets the new external_userid
    first (identify with the phone and the external_userid together), so the callback's
    `contact_sync` resolves to that person — the WeCom contact joins their orders and carts.
    A real corp gets the same join from the unionid or a phone the staff member records.
    Returns the new external_userid and the person it joined (None: a new OneID)."""
    name = name.strip()
    phone = phone.strip()
    problems: list[tuple[str, str]] = []
    if not name:
        problems.append(("name", "请填写客户的微信昵称"))
    elif len(name) > MAX_NAME_CHARS:
        problems.append(("name", f"微信昵称最多 {MAX_NAME_CHARS} 个字"))
    if staff_userid not in sandbox_staff():
        problems.append(("staff_userid", "请选择沙箱企业里的员工"))
    person: Person | None = None
    if phone:
        try:
            person = person_by_identifier(identifier_type="phone", value=phone)
        except InvalidIdentifier:
            problems.append(("phone", "手机号格式不正确"))
        else:
            if person is None:
                problems.append(("phone", "没有找到使用这个手机号的顾客"))
    if problems:
        raise SandboxContactInvalid.for_fields(problems)
    corp_id = SandboxWecomClient.corp_id
    external_userid = f"wm_sandbox_{secrets.token_hex(6)}"
    with transaction.atomic():
        if person is not None:
            person = identify(
                identifiers=[
                    IdentifierInput(type="phone", value=phone),
                    IdentifierInput(
                        type="wecom_external_userid", value=external_userid, scope=corp_id
                    ),
                ],
                source="wecom",
                actor=actor,
            ).person
        welcome_code = sandbox_contact_add(
            staff_userid=staff_userid, external_userid=external_userid, name=name
        )
        publish(
            WecomContactChanged(
                corp_id=corp_id,
                change_type="add_external_contact",
                staff_userid=staff_userid,
                external_userid=external_userid,
                wecom_time=int(clock.now().timestamp()),
                event_key=f"sandbox-add:{external_userid}",
                state=PHONE_STATE,
                welcome_code=welcome_code,
            )
        )
    return external_userid, person
