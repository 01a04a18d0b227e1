"""The keyword assistant: rules, what a customer's group message triggers, and the replies.

A rule matches a customer's text message by keyword (`contains`, case-insensitive) or by a
regular expression. Regexes run on our own server against customers' text, so they are
checked when saved (`pattern_problems`): at most `REGEX_MAX_CHARS` characters, no
backreferences or lookaround, no repeat inside a repeat (`(a+)+`) and no alternation inside a
repeat (`(a|ab)*`) — the shapes that backtrack exponentially — and bounded counts at most
`REPEAT_MAX`. The text they run on is at most 500 characters. Python's `re` has no timeout,
so this is refusal by shape, not a time limit; what it lets through is at worst polynomial
on 500 characters.

The first enabled rule (lowest id) whose scope holds the group and whose pattern matches
wins. It answers at most once per group per `cooldown_seconds`: the cooldown is claimed by
one conditional UPDATE of the (rule, group) row, or by inserting that row, so two messages
at the same instant produce one reply on SQLite and PostgreSQL alike. A check-in rule checks
every sender in (the cooldown only limits its reply).

Where the reply goes: an internal group with a robot (`GroupRobot`) gets it posted at once
through the robot's webhook; a customer group gets it *prepared* for the group owner, who
sends it with one tap from the WeCom chat sidebar (`/console/community/sidebar/`), because
WeCom has no API that posts into a customer group by itself. A prepared reply expires after
`REPLY_TTL` (a late answer to a chat that moved on does more harm than good).
"""

from __future__ import annotations

import datetime as dt
import logging
import re
from importlib import import_module
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q

from freshloop.catalog.models import Product
from freshloop.community.checkin import checkin_do
from freshloop.community.errors import ReplyNotFound, ReplyNotPending, RuleInvalid, RuleNotFound
from freshloop.community.inbound import wecom_corp_id
from freshloop.community.models import (
    AssistantReply,
    AssistantRule,
    GroupMessage,
    GroupRobot,
    ReplyChannel,
    ReplyKind,
    ReplyStatus,
    RuleCooldown,
    RuleMatch,
    SenderType,
)
from freshloop.community.robot import RobotProvider, robot_post
from freshloop.community.schemas import RuleIn
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import DomainError
from freshloop.identity.services import IdentifierInput, identify
from freshloop.promotions.models import RedeemCode

logger = logging.getLogger(__name__)

# The regex parser of the standard library (what `re.compile` itself runs first); it has no
# type stubs, hence Any.
sre_parse: Any = import_module("re._parser")
sre_constants: Any = import_module("re._constants")

REGEX_MAX_CHARS = 100
REPEAT_MAX = 100
REPLY_TTL = dt.timedelta(hours=24)
MAX_RULES = 200
CHECKIN_DEFAULT_REPLY = "签到成功！已连续签到 {streak} 天，本次获得 {points} 积分。"
SWEEP_AFTER = dt.timedelta(seconds=60)
SWEEP_GIVE_UP = dt.timedelta(days=1)

_REPEATS = {sre_constants.MAX_REPEAT, sre_constants.MIN_REPEAT, sre_constants.POSSESSIVE_REPEAT}
_FORBIDDEN = {
    sre_constants.GROUPREF: "不支持反向引用",
    sre_constants.GROUPREF_EXISTS: "不支持条件分组",
    sre_constants.ASSERT: "不支持前后断言",
    sre_constants.ASSERT_NOT: "不支持前后断言",
}


def _children(op: Any, arg: Any) -> list[Any]:
    if op in _REPEATS:
        return [arg[2]]
    if op == sre_constants.SUBPATTERN:
        return [arg[3]]
    if op == sre_constants.BRANCH:
        return list(arg[1])
    if op == sre_constants.ATOMIC_GROUP:
        return [arg]
    return []


def _shape_problem(items: Any, *, inside_repeat: bool) -> str | None:
    for op, arg in items:
        if op in _FORBIDDEN:
            return _FORBIDDEN[op]
        repeats_many = op in _REPEATS and arg[1] > 1
        if op in _REPEATS and arg[1] != sre_constants.MAXREPEAT and arg[1] > REPEAT_MAX:
            return f"重复次数不能超过 {REPEAT_MAX}"
        if inside_repeat and repeats_many:
            return "不支持嵌套的重复（如 (a+)+），它可能让匹配极慢"
        if inside_repeat and op == sre_constants.BRANCH:
            return "不支持重复的分支（如 (a|ab)*），它可能让匹配极慢"
        for child in _children(op, arg):
            problem = _shape_problem(child, inside_repeat=inside_repeat or repeats_many)
            if problem:
                return problem
    return None


def pattern_problems(*, match: str, pattern: str) -> list[tuple[str, str]]:
    """Why a rule's pattern cannot be saved ([] when it can)."""
    if not pattern.strip():
        return [("pattern", "请填写关键词")]
    if match == RuleMatch.CONTAINS:
        return []
    if len(pattern) > REGEX_MAX_CHARS:
        return [("pattern", f"正则表达式不能超过 {REGEX_MAX_CHARS} 个字符")]
    try:
        parsed = sre_parse.parse(pattern)
    except (re.error, RecursionError, OverflowError) as error:
        return [("pattern", f"正则表达式写法有误：{error}")]
    problem = _shape_problem(parsed, inside_repeat=False)
    return [("pattern", problem)] if problem else []


def rule_matches(*, rule: AssistantRule, text: str) -> bool:
    if rule.match == RuleMatch.CONTAINS:
        return rule.pattern.strip().casefold() in text.casefold()
    return re.search(rule.pattern, text, flags=re.IGNORECASE) is not None


def _rule_problems(body: RuleIn) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    if not body.name.strip():
        problems.append(("name", "请填写规则名称"))
    problems += pattern_problems(match=body.match, pattern=body.pattern)
    for index, chat_id in enumerate(body.chat_ids):
        if not chat_id.strip() or len(chat_id) > 64:
            problems.append((f"chat_ids.{index}", "群ID 须为 1–64 个字符"))
    if body.reply_kind == ReplyKind.TEXT and not body.reply_text.strip():
        problems.append(("reply_text", "请填写回复内容"))
    if body.reply_kind == ReplyKind.COUPON:
        code = body.redeem_code.strip().upper()
        if not RedeemCode.objects.filter(code=code, is_active=True).exists():
            problems.append(("redeem_code", "兑换码不存在或已停用"))
    if body.reply_kind == ReplyKind.PRODUCT and (
        body.product_id is None or not Product.objects.filter(pk=body.product_id).exists()
    ):
        problems.append(("product_id", "商品不存在"))
    return problems


def _rule_fields(body: RuleIn) -> dict[str, Any]:
    problems = _rule_problems(body)
    if problems:
        raise RuleInvalid.for_fields(problems)
    return {
        "name": body.name.strip(),
        "match": body.match,
        "pattern": body.pattern.strip() if body.match == RuleMatch.CONTAINS else body.pattern,
        "chat_ids": sorted({chat_id.strip() for chat_id in body.chat_ids}),
        "reply_kind": body.reply_kind,
        "reply_text": body.reply_text.strip(),
        "redeem_code": body.redeem_code.strip().upper(),
        "product_id": body.product_id if body.reply_kind == ReplyKind.PRODUCT else None,
        "cooldown_seconds": body.cooldown_seconds,
        "enabled": body.enabled,
    }


def rule_create(*, body: RuleIn, actor: Actor) -> AssistantRule:
    fields = _rule_fields(body)
    now = clock.now()
    with transaction.atomic():
        if AssistantRule.objects.count() >= MAX_RULES:
            raise RuleInvalid(f"规则最多 {MAX_RULES} 条", detail=[])
        rule = AssistantRule.objects.create(
            **fields, created_by=actor.label[:150], created_at=now, updated_at=now
        )
        audit_record(actor=actor, action="community.rule_create", target=rule, after=fields)
    return rule


def rule_update(*, rule_id: int, body: RuleIn, actor: Actor) -> AssistantRule:
    """Replace every field of a rule."""
    fields = _rule_fields(body)
    with transaction.atomic():
        if not AssistantRule.objects.filter(pk=rule_id).update(**fields, updated_at=clock.now()):
            raise RuleNotFound(detail={"rule_id": rule_id})
        rule = AssistantRule.objects.get(pk=rule_id)
        audit_record(actor=actor, action="community.rule_update", target=rule, after=fields)
    return rule


def rules_for_chat(chat_id: str) -> list[AssistantRule]:
    rules = AssistantRule.objects.filter(enabled=True).order_by("pk")
    return [rule for rule in rules if not rule.chat_ids or chat_id in rule.chat_ids]


def cooldown_claim(*, rule: AssistantRule, chat_id: str, now: dt.datetime) -> bool:
    """Whether this message may answer: True for exactly one caller per cooldown window."""
    until = now + dt.timedelta(seconds=rule.cooldown_seconds)
    if RuleCooldown.objects.filter(rule=rule, chat_id=chat_id, until__lte=now).update(until=until):
        return True
    try:
        with transaction.atomic():
            RuleCooldown.objects.create(rule=rule, chat_id=chat_id, until=until)
    except IntegrityError:
        return False  # the row exists and is still cooling (or another caller just made it)
    return True


def _link(path: str) -> str:
    return f"{settings.FRESHLOOP.public_base_url.rstrip('/')}{path}"


def _content(rule: AssistantRule, extra: dict[str, object]) -> str:
    if rule.reply_kind == ReplyKind.CHECKIN:
        return (rule.reply_text or CHECKIN_DEFAULT_REPLY).format_map(_Blank(extra))
    if rule.reply_kind == ReplyKind.COUPON:
        lead = rule.reply_text or "送您一张优惠券"
        return f"{lead}\n领券：打开 {_link('/m/coupons')} 输入兑换码 {rule.redeem_code}"
    if rule.reply_kind == ReplyKind.PRODUCT:
        product = Product.objects.filter(pk=rule.product_id or 0).first()
        name = product.name if product is not None else "商品"
        lead = rule.reply_text or "为您推荐"
        return f"{lead}\n【{name}】{_link(f'/m/products/{rule.product_id}')}"
    return rule.reply_text


class _Blank(dict[str, object]):
    """`format_map` that leaves an unknown {name} as it was written."""

    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def _sender_person_for_checkin(message: GroupMessage) -> int:
    if message.sender_person_id is not None:
        return message.sender_person_id
    person = identify(
        identifiers=[
            IdentifierInput(
                type="wecom_external_userid", value=message.sender, scope=wecom_corp_id()
            )
        ],
        source="wecom_group",
    ).person
    GroupMessage.objects.filter(pk=message.pk).update(sender_person_id=person.pk)
    return person.pk


def reply_prepare(
    *, chat_id: str, content: str, source: str, rule: AssistantRule | None = None, msgid: str = ""
) -> AssistantReply:
    now = clock.now()
    robot = GroupRobot.objects.filter(chat_id=chat_id).exists()
    return AssistantReply.objects.create(
        chat_id=chat_id,
        rule=rule,
        trigger_msgid=msgid,
        source=source,
        content=content,
        channel=ReplyChannel.ROBOT if robot else ReplyChannel.SIDEBAR,
        created_at=now,
        expires_at=now + REPLY_TTL,
    )


def message_handle(
    *, message: GroupMessage, robot: RobotProvider | None = None
) -> AssistantReply | None:
    """Let the assistant look at one stored message (once: `handled_at` is claimed first)."""
    now = clock.now()
    if not GroupMessage.objects.filter(pk=message.pk, handled_at__isnull=True).update(
        handled_at=now
    ):
        return None
    if message.sender_type != SenderType.CUSTOMER or message.msgtype != "text" or not message.text:
        return None
    rule = next(
        (r for r in rules_for_chat(message.chat_id) if rule_matches(rule=r, text=message.text)),
        None,
    )
    if rule is None:
        return None
    extra: dict[str, object] = {}
    if rule.reply_kind == ReplyKind.CHECKIN:
        try:
            person_id = _sender_person_for_checkin(message)
        except DomainError as error:  # an external_userid identity cannot take
            logger.warning("check-in sender %s not identified: %s", message.sender, error.text)
            return None
        result = checkin_do(
            person_id=person_id,
            chat_id=message.chat_id,
            channel="keyword",
        )
        if result.already:
            return None  # no second "签到成功" for the same person the same day
        extra = {"streak": result.checkin.streak, "points": result.checkin.points}
    with transaction.atomic():
        if not cooldown_claim(rule=rule, chat_id=message.chat_id, now=now):
            return None
        reply = reply_prepare(
            chat_id=message.chat_id,
            content=_content(rule, extra),
            source="rule",
            rule=rule,
            msgid=message.msgid,
        )
    if reply.channel == ReplyChannel.ROBOT:
        reply_robot_send(reply=reply, provider=robot)
    return reply


def messages_handle(*, messages: list[GroupMessage]) -> list[AssistantReply]:
    """The assistant over newly stored messages; one that fails is left for the sweeper."""
    replies: list[AssistantReply] = []
    for message in messages:
        try:
            reply = message_handle(message=message)
        except Exception:
            logger.exception("assistant failed on group message %s", message.msgid)
            GroupMessage.objects.filter(pk=message.pk).update(handled_at=None)
            continue
        if reply is not None:
            replies.append(reply)
    return replies


def messages_sweep(*, limit: int = 500) -> int:
    """Messages stored but never handled (the process died in between): handle them now."""
    now = clock.now()
    stale = list(
        GroupMessage.objects.filter(
            handled_at__isnull=True,
            received_at__lte=now - SWEEP_AFTER,
            # a message that keeps failing is given up after a day (its error is logged)
            received_at__gte=now - SWEEP_GIVE_UP,
        ).order_by("pk")[:limit]
    )
    messages_handle(messages=stale)
    return len(stale)


def reply_robot_send(*, reply: AssistantReply, provider: RobotProvider | None = None) -> bool:
    """Post a robot reply through the group's webhook; sent or failed is recorded."""
    robot = GroupRobot.objects.filter(chat_id=reply.chat_id).first()
    if robot is None:
        return False
    answer = robot_post(
        chat_id=reply.chat_id,
        webhook_key=robot.webhook_key,
        content=reply.content,
        provider=provider,
    )
    AssistantReply.objects.filter(pk=reply.pk, status=ReplyStatus.PREPARED).update(
        status=ReplyStatus.SENT if answer.ok else ReplyStatus.FAILED,
        sent_at=clock.now(),
        sent_by="robot",
        delivery_ref=(answer.ref or answer.detail)[:128],
    )
    reply.refresh_from_db()
    return answer.ok


def reply_mark_sent(*, reply_id: int, via: str, actor: Actor) -> AssistantReply:
    """The group owner sent a prepared reply from the sidebar (or copied it, or the sandbox
    simulated the send): it leaves the list. Only a prepared, unexpired reply can be sent."""
    now = clock.now()
    updated = AssistantReply.objects.filter(
        pk=reply_id, status=ReplyStatus.PREPARED, channel=ReplyChannel.SIDEBAR, expires_at__gt=now
    ).update(
        status=ReplyStatus.SENT, sent_at=now, sent_by=actor.label[:150], delivery_ref=via[:128]
    )
    reply = AssistantReply.objects.filter(pk=reply_id).first()
    if reply is None:
        raise ReplyNotFound(detail={"reply_id": reply_id})
    if not updated:
        raise ReplyNotPending(detail={"reply_id": reply_id, "status": reply.status})
    return reply


def replies_expire(*, now: dt.datetime | None = None) -> int:
    moment = now or clock.now()
    return AssistantReply.objects.filter(
        Q(status=ReplyStatus.PREPARED) & Q(expires_at__lte=moment)
    ).update(status=ReplyStatus.EXPIRED)
