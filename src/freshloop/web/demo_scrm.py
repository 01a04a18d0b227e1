"""The demo's SCRM: a running win-back journey for abandoned live carts, a 新好友 welcome
journey, and the WeCom sandbox's three customers tied to OneIDs — one of them (李先生) the demo
shopper with phone 13700001004, so the whole loop can be shown: that shopper adds to cart in
the live room, leaves, and 林's message with the product card and a coupon lands on 李先生's
simulated phone (/console/scrm/sandbox/wm_sandbox_0002).

Idempotent: the coupon template and the journeys are found by code and name, the contacts by
external_userid (WeCom's callback path is idempotent per contact and staff member)."""

from __future__ import annotations

import datetime as dt
from typing import Any

from django.db import transaction

from freshloop.catalog.selectors import product_list_for_channel
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.core.clock import SHANGHAI
from freshloop.core.events import publish
from freshloop.identity.selectors import person_by_identifier
from freshloop.identity.services import IdentifierInput, identify
from freshloop.messaging.events import WecomContactChanged
from freshloop.messaging.wecom import SandboxWecomClient
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import CouponTemplateSpec, coupon_template_create
from freshloop.scrm.models import Broadcast, Journey, JourneyTrigger, WecomContact
from freshloop.scrm.services import (
    BroadcastDraft,
    broadcast_create,
    broadcast_schedule,
    broadcast_send,
    journey_create,
    journey_status_set,
)

SEED_ACTOR = Actor.system("demo_seed")

WINBACK_COUPON = "live-winback-5"
WINBACK_JOURNEY = "直播间加购挽回"
WELCOME_JOURNEY = "新好友欢迎"
WINBACK_MESSAGE = "您在直播间看中的宝贝还在等您～"
WINBACK_TASK = "回访：直播间加购仍未支付"
BROADCAST_SENT = "周末鲜奶特惠（已发送）"
BROADCAST_NEXT = "冬至饺子季预告"
WELCOME_MESSAGE = "您好，我是鲜环优选的专属顾问～新鲜好物每周直播上新，有任何问题随时找我。"
# The demo shopper whose OneID the sandbox's 李先生 joins (identity example: shop + WeChat).
LOOP_PHONE = "13700001004"
LOOP_CONTACT = "wm_sandbox_0002"
# The sandbox directory's customers and the staff member who added each (SEED_DIRECTORY).
SANDBOX_CONTACTS = (
    ("wm_sandbox_0001", "fl_staff_lin"),
    (LOOP_CONTACT, "fl_staff_lin"),
    ("wm_sandbox_0003", "fl_staff_zhou"),
)


def _winback_coupon() -> tuple[CouponTemplate, int]:
    """A small, no-threshold, time-limited coupon: enough to tip a cart over, cheap to give."""
    template = CouponTemplate.objects.filter(code=WINBACK_COUPON).first()
    if template is not None:
        return template, 0
    spec = CouponTemplateSpec(
        code=WINBACK_COUPON,
        name="直播间挽回券 立减5元",
        kind="fixed",
        amount_off_fen=500,
        valid_days=3,
        per_user_limit=3,
        description="无门槛，领取后 3 天内有效",
    )
    return coupon_template_create(actor=SEED_ACTOR, spec=spec), 1


def _journey(name: str, trigger: str, steps: list[dict[str, Any]]) -> int:
    if Journey.objects.filter(name=name, trigger=trigger).exists():
        return 0
    journey = journey_create(name=name, trigger=trigger, steps=steps, actor=SEED_ACTOR)
    journey_status_set(journey=journey, status="active", actor=SEED_ACTOR)
    return 1


def _contacts() -> int:
    """The sandbox's customers through WeCom's callback path (handled on the seed's commit)."""
    corp_id = SandboxWecomClient.corp_id
    if person_by_identifier(identifier_type="phone", value=LOOP_PHONE) is not None:
        # The external_userid joins the shopper's OneID before WeCom's callback is handled,
        # as the console's 模拟客户添加员工 form does with a phone.
        identify(
            identifiers=[
                IdentifierInput(type="phone", value=LOOP_PHONE),
                IdentifierInput(type="wecom_external_userid", value=LOOP_CONTACT, scope=corp_id),
            ],
            source="wecom",
            actor=SEED_ACTOR,
        )
    known = set(WecomContact.objects.values_list("external_userid", flat=True))
    contacts = 0
    for external_userid, staff in SANDBOX_CONTACTS:
        if external_userid in known:
            continue
        publish(
            WecomContactChanged(
                corp_id=corp_id,
                change_type="add_external_contact",
                staff_userid=staff,
                external_userid=external_userid,
                wecom_time=int(clock.now().timestamp()),
                event_key=f"demo-add:{external_userid}:{staff}",
                state="demo_seed",
            )
        )
        contacts += 1
    return contacts


def seed_scrm() -> dict[str, int]:
    """The contacts first, in their own transaction: they are 林's and 周's customers from
    before the journeys, so they get no welcome today — a welcome would use up the day's
    marketing cap (1 per customer per day by default) and hold back the win-back message the
    demo wants to show."""
    with transaction.atomic():
        contacts = _contacts()
    with transaction.atomic():
        coupon, coupons = _winback_coupon()
        journeys = _journey(
            WINBACK_JOURNEY,
            JourneyTrigger.LIVE_CART_ABANDONED,
            [
                {"type": "message", "text": WINBACK_MESSAGE, "product_cards": True},
                {"type": "coupon", "template_id": coupon.pk},
                {"type": "wait", "minutes": 120},
                {"type": "condition", "check": "unpaid_since_entry"},
                {"type": "task", "title": WINBACK_TASK, "due_minutes": 60},
            ],
        )
        journeys += _journey(
            WELCOME_JOURNEY,
            JourneyTrigger.CONTACT_ADDED,
            [{"type": "message", "text": WELCOME_MESSAGE}],
        )
    broadcasts = _broadcasts()
    return {
        "journeys": journeys,
        "winback_coupons": coupons,
        "wecom_contacts": contacts,
        "broadcasts": broadcasts,
    }


def _broadcasts() -> int:
    """A mass message sent yesterday at 10:00 (so its results show, and it does not use up
    today's marketing cap the win-back message needs) and one scheduled for tomorrow."""
    if Broadcast.objects.filter(title__in=[BROADCAST_SENT, BROADCAST_NEXT]).exists():
        return 0
    product = product_list_for_channel(channel="shop").first()
    today = clock.now().astimezone(SHANGHAI).replace(hour=10, minute=0, second=0, microsecond=0)
    with clock.frozen(today - dt.timedelta(days=1)):
        sent = broadcast_create(
            draft=BroadcastDraft(
                title=BROADCAST_SENT,
                kind="product" if product else "text",
                text="周末鲜奶第二件半价，点卡片直接下单～",
                product_id=product.pk if product else None,
            ),
            actor=SEED_ACTOR,
        )
        broadcast_schedule(broadcast=sent, actor=SEED_ACTOR, send_now=True)
        broadcast_send(broadcast_id=sent.pk)
    upcoming = broadcast_create(
        draft=BroadcastDraft(
            title=BROADCAST_NEXT,
            kind="text",
            text="冬至吃饺子！本周六晚 8 点直播间，手工水饺限时 9.9 元。",
            scheduled_at=today + dt.timedelta(days=1),
        ),
        actor=SEED_ACTOR,
    )
    broadcast_schedule(broadcast=upcoming, actor=SEED_ACTOR)
    return 2
