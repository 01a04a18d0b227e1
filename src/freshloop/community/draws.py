"""Lucky draws for a group (群抽奖), the live room's draw applied to a group.

The candidates are the people who checked in from the group and/or the customers who spoke in
it (their OneID known) within the window; sorted and stored with a fresh random seed, the
winners are `live.host.selectors.draw_winners(seed, candidates, k)` — the same public,
replayable choice the live room makes, so `group_draw_verify` (and anyone with the stored
seed and list) can recompute them. The winners are announced as a prepared reply for the
group owner (or posted by the robot of an internal group).
"""

from __future__ import annotations

import datetime as dt
import secrets

from django.db import transaction

from freshloop.community.assistant import reply_prepare, reply_robot_send
from freshloop.community.errors import DrawInvalid, DrawNoCandidates
from freshloop.community.models import (
    CheckIn,
    DrawPool,
    GroupDraw,
    GroupMessage,
    ReplyChannel,
    SenderType,
)
from freshloop.community.schemas import GroupDrawIn
from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.identity.models import Person
from freshloop.live.host.selectors import draw_winners


def draw_candidates(*, chat_id: str, pool: str, start: dt.datetime, end: dt.datetime) -> list[int]:
    """Person ids, ascending, of the group's participants in [start, end)."""
    ids: set[int] = set()
    if pool in {DrawPool.CHECKIN, DrawPool.BOTH}:
        ids.update(
            CheckIn.objects.filter(
                chat_id=chat_id, created_at__gte=start, created_at__lt=end
            ).values_list("person_id", flat=True)
        )
    if pool in {DrawPool.MESSAGE, DrawPool.BOTH}:
        ids.update(
            pid
            for pid in GroupMessage.objects.filter(
                chat_id=chat_id,
                sender_type=SenderType.CUSTOMER,
                sender_person__isnull=False,
                sent_at__gte=start,
                sent_at__lt=end,
            ).values_list("sender_person_id", flat=True)
            if pid is not None
        )
    return sorted(ids)


def person_label(person: Person) -> str:
    """How a winner is named in the group: the nickname, else the OneID's last 6 characters."""
    return person.display_name or f"用户{person.one_id[-6:]}"


def winner_names(*, winners: list[int]) -> list[str]:
    people = Person.objects.in_bulk(winners)
    return [person_label(people[pid]) if pid in people else f"#{pid}" for pid in winners]


def group_draw_run(*, body: GroupDrawIn, actor: Actor) -> GroupDraw:
    chat_id = body.chat_id.strip()
    title, prize = body.title.strip(), body.prize.strip()
    problems = [
        (field, message)
        for field, value, message in (
            ("chat_id", chat_id, "请填写群ID"),
            ("title", title, "请填写抽奖名称"),
            ("prize", prize, "请填写奖品"),
        )
        if not value
    ]
    if problems:
        raise DrawInvalid.for_fields(problems)
    end = clock.now()
    start = end - dt.timedelta(hours=body.window_hours)
    candidates = draw_candidates(chat_id=chat_id, pool=body.pool, start=start, end=end)
    if not candidates:
        raise DrawNoCandidates(detail={"chat_id": chat_id, "pool": body.pool})
    k = min(body.winners_count, len(candidates))
    seed = secrets.token_hex(16)
    winners = draw_winners(seed, candidates, k)
    names = winner_names(winners=winners)
    content = (
        f"🎉 {title} 开奖啦！奖品：{prize}\n"
        f"中奖的是：{'、'.join(names)}\n"
        f"共 {len(candidates)} 人参与，抽奖编号可核验（种子 {seed[:8]}…）。请中奖的朋友私信群主领奖～"
    )
    with transaction.atomic():
        announcement = reply_prepare(chat_id=chat_id, content=content, source="draw")
        draw = GroupDraw.objects.create(
            chat_id=chat_id,
            title=title,
            prize=prize,
            pool=body.pool,
            window_start=start,
            window_end=end,
            winners_count=k,
            seed=seed,
            candidates=candidates,
            winners=winners,
            announcement=announcement,
            created_by=actor.label[:150],
            created_at=end,
        )
        audit_record(
            actor=actor,
            action="community.draw_run",
            target=draw,
            after={"chat_id": chat_id, "winners": winners, "candidates": len(candidates)},
        )
    if announcement.channel == ReplyChannel.ROBOT:
        reply_robot_send(reply=announcement)
    return draw


def group_draw_verify(*, draw: GroupDraw) -> bool:
    """Recompute the winners from the stored seed and candidates."""
    candidates = [int(c) for c in draw.candidates]
    if candidates != sorted(set(candidates)) or draw.winners_count > len(candidates):
        return False
    return draw_winners(draw.seed, candidates, draw.winners_count) == list(draw.winners)
