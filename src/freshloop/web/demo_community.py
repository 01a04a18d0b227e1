"""The demo's community: two customer groups of 林 in the WeCom sandbox with their members
(synced through the same full sync a real corp gets), a 群活码 leading into them, a welcome
template, a weekly topic and a group challenge with a coupon reward.

Idempotent: sandbox groups are created when the sandbox directory lacks them, FreshLoop's
rows are found by chat_id, name or code before anything is created."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.conf import settings
from django.db import transaction

from freshloop.community.models import (
    CustomerGroup,
    GroupChallenge,
    JoinCode,
    TopicPrompt,
    WelcomeTemplate,
)
from freshloop.community.services import (
    JoinCodeGroupSpec,
    WelcomeSpec,
    challenge_create,
    group_welcome_set,
    groups_sync_full,
    join_code_create,
    topic_create,
    welcome_template_create,
)
from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.messaging.wecom import (
    SandboxWecomClient,
    sandbox_contact_add,
    sandbox_group_create,
    sandbox_group_join,
    sandbox_group_name,
)
from freshloop.promotions.models import CouponTemplate
from freshloop.promotions.services import CouponTemplateSpec, coupon_template_create
from freshloop.scrm.models import Journey
from freshloop.scrm.services import journey_version_publish
from freshloop.web.demo_scrm import WELCOME_JOURNEY

SEED_ACTOR = Actor.system("demo_seed")
SHANGHAI = ZoneInfo("Asia/Shanghai")

OWNER = "fl_staff_lin"
FIRST_GROUP = "wr_sandbox_group_01"  # the sandbox's seed group (王阿姨, 李先生)
SECOND_GROUP = "wr_sandbox_group_02"
SECOND_GROUP_NAME = "鲜环福利群 2 群"
# Customers of 林 who joined the groups by QR (the sandbox's own three are in group 1 already).
GROUP_CUSTOMERS = (
    ("wm_demo_group_01", "张阿姨", FIRST_GROUP),
    ("wm_demo_group_02", "赵女士", FIRST_GROUP),
    ("wm_demo_group_03", "孙先生", FIRST_GROUP),
    ("wm_demo_group_04", "周妈妈", SECOND_GROUP),
    ("wm_demo_group_05", "吴小姐", SECOND_GROUP),
)
JOIN_CODE_NAME = "鲜环福利群活码"
WELCOME_NAME = "福利群入群欢迎"
WELCOME_TEXT = (
    "欢迎加入鲜环福利群！每周三晚 8 点直播上新，群里每天有限时秒杀，新人回复「礼包」领券～"
)
TOPIC_TEXT = "周末聊聊：冬天最爱的一道汤是什么？晒图有机会抽鲜牛奶一箱～"
CHALLENGE_NAME = "本周群 GMV 冲 ¥2000"
CHALLENGE_COUPON = "group-challenge-10"


def _sandbox_groups() -> None:
    if not sandbox_group_name(chat_id=SECOND_GROUP):
        sandbox_group_create(chat_id=SECOND_GROUP, name=SECOND_GROUP_NAME, owner=OWNER)
    for external_userid, name, chat_id in GROUP_CUSTOMERS:
        sandbox_contact_add(staff_userid=OWNER, external_userid=external_userid, name=name)
        sandbox_group_join(chat_id=chat_id, userid=external_userid)


def _coupon() -> CouponTemplate:
    template = CouponTemplate.objects.filter(code=CHALLENGE_COUPON).first()
    if template is not None:
        return template
    return coupon_template_create(
        actor=SEED_ACTOR,
        spec=CouponTemplateSpec(
            code=CHALLENGE_COUPON,
            name="社群挑战奖励 满59减10",
            kind="threshold",
            amount_off_fen=1000,
            threshold_fen=5900,
            valid_days=7,
            per_user_limit=5,
            description="群 GMV 挑战达成后发给全体群成员",
        ),
    )


def _next_evening(now: dt.datetime) -> dt.datetime:
    local = now.astimezone(SHANGHAI)
    evening = local.replace(hour=20, minute=0, second=0, microsecond=0)
    if evening <= local:
        evening += dt.timedelta(days=1)
    return evening.astimezone(dt.UTC)


def seed_community() -> dict[str, int]:
    """Groups synced from the sandbox, then the 活码, welcome, topic and challenge."""
    _sandbox_groups()
    synced = groups_sync_full(corp_id=SandboxWecomClient.corp_id, owner_userids=[OWNER]).groups
    created = 0
    with transaction.atomic():
        first = CustomerGroup.objects.get(chat_id=FIRST_GROUP)
        welcome = WelcomeTemplate.objects.filter(name=WELCOME_NAME).first()
        if welcome is None:
            welcome = welcome_template_create(
                spec=WelcomeSpec(
                    name=WELCOME_NAME,
                    text=WELCOME_TEXT,
                    link_title="新人礼包",
                    link_url="https://freshloop.example/m/coupons",
                ),
                actor=SEED_ACTOR,
            )
            created += 1
        if not JoinCode.objects.filter(name=JOIN_CODE_NAME).exists():
            join_code_create(
                name=JOIN_CODE_NAME,
                groups=[
                    JoinCodeGroupSpec(
                        chat_id=chat_id,
                        qr_content=f"https://work.weixin.qq.com/gm/sandbox-{chat_id}",
                        threshold=threshold,
                    )
                    # a low threshold on the first group, so the demo shows the switch soon
                    for chat_id, threshold in ((FIRST_GROUP, 8), (SECOND_GROUP, 200))
                ],
                welcome_template=welcome,
                actor=SEED_ACTOR,
            )
            created += 1
        else:
            group_welcome_set(group=first, template=welcome)
        if not TopicPrompt.objects.filter(group=first, text=TOPIC_TEXT).exists():
            topic_create(
                group=first,
                text=TOPIC_TEXT,
                repeat="weekly",
                first_at=_next_evening(clock.now()),
                actor=SEED_ACTOR,
            )
            created += 1
        if not GroupChallenge.objects.filter(group=first, name=CHALLENGE_NAME).exists():
            now = clock.now()
            challenge_create(
                group=first,
                name=CHALLENGE_NAME,
                target_fen=200000,
                starts_at=now - dt.timedelta(days=1),
                ends_at=now + dt.timedelta(days=6),
                coupon_template=_coupon(),
                actor=SEED_ACTOR,
            )
            created += 1
    return {"groups": synced, "created": created}


def invite_in_welcome_journey() -> bool:
    """The welcome journey's message also invites the new contact to the demo's 群活码 (WeCom
    cannot put a customer into a group; the 活码 link is how a brand does it). Publishes the
    next version once; returns whether it did."""
    journey = Journey.objects.filter(name=WELCOME_JOURNEY).select_related("current_version").first()
    join_code = JoinCode.objects.filter(name=JOIN_CODE_NAME).first()
    if journey is None or journey.current_version is None or join_code is None:
        return False
    steps = [dict(step) for step in journey.current_version.steps]
    if any(step.get("invite_url") for step in steps):
        return False
    for step in steps:
        if step["type"] == "message":
            step["invite_url"] = (
                f"{settings.FRESHLOOP.public_base_url}/community/join/{join_code.code}"
            )
            step["invite_title"] = f"加入「{JOIN_CODE_NAME.removesuffix('活码')}」"
            break
    journey_version_publish(journey=journey, steps=steps, actor=SEED_ACTOR)
    return True
