"""群活码: one public address whose QR always leads into the first group that is not full.

WeCom caps joining a group by QR at 200 members, so a poster printed with one group's QR stops
working when that group fills. A `JoinCode` lists groups in order, each with its own 加入群聊
QR (the content its image decodes to: the operator pastes it, or WeCom's
groupchat/get_join_way gives it) and the customer count at which it counts as full (1–200).
The public page `/community/join/<code>` counts a scan and shows the QR of the first group
below its threshold; the next scan after it fills shows the next group's; a group appended to
the list takes over when all before it are full.

Chosen over WeCom's own 「加入群聊」 API (externalcontact/groupchat/add_join_way): that one
rotates by itself but takes at most 5 groups, needs the 「加入群聊」 advanced interface bought
for third-party apps, and only manages configs its app created — FreshLoop's rotation works
with any group's QR and any number of groups. docs/community.md explains both.
"""

from __future__ import annotations

import re
import secrets
from dataclasses import dataclass

from django.db import transaction
from django.db.models import F

from freshloop.community.errors import CommunityInvalid, GroupNotFound, JoinCodeNotFound
from freshloop.community.models import (
    CustomerGroup,
    GroupStatus,
    JoinCode,
    JoinCodeGroup,
    WelcomeTemplate,
)
from freshloop.core import clock
from freshloop.core.audit import Actor

MAX_THRESHOLD = 200  # WeCom: joining by QR stops at 200 members
MAX_GROUPS = 100
MAX_NAME_CHARS = 64
MAX_QR_CHARS = 500
CODE_RE = re.compile(r"^[a-z0-9-]{3,32}$")


@dataclass(frozen=True)
class JoinCodeGroupSpec:
    chat_id: str
    qr_content: str
    threshold: int = MAX_THRESHOLD


def _check_groups(specs: list[JoinCodeGroupSpec], offset: int = 0) -> list[tuple[str, str]]:
    problems: list[tuple[str, str]] = []
    for index, spec in enumerate(specs, start=offset):
        if not 1 <= spec.threshold <= MAX_THRESHOLD:
            problems.append((f"groups.{index}.threshold", "满员人数应在 1 到 200 之间"))
        content = spec.qr_content.strip()
        if not content or len(content) > MAX_QR_CHARS:
            problems.append((f"groups.{index}.qr_content", "请填写群二维码内容（最多 500 字）"))
        elif not content.startswith(("https://", "http://")):
            problems.append((f"groups.{index}.qr_content", "群二维码内容应为 http(s) 链接"))
    return problems


def _groups_for(specs: list[JoinCodeGroupSpec], offset: int = 0) -> list[CustomerGroup]:
    chat_ids = [spec.chat_id for spec in specs]
    found = {
        group.chat_id: group
        for group in CustomerGroup.objects.filter(chat_id__in=chat_ids, status=GroupStatus.ACTIVE)
    }
    unknown = [
        (f"groups.{index}.chat_id", f"没有这个客户群：{chat_id[:64]}")
        for index, chat_id in enumerate(chat_ids, start=offset)
        if chat_id not in found
    ]
    if unknown:
        raise GroupNotFound(unknown[0][1], detail=[{"field": f, "message": m} for f, m in unknown])
    return [found[chat_id] for chat_id in chat_ids]


@transaction.atomic
def join_code_create(
    *,
    name: str,
    groups: list[JoinCodeGroupSpec],
    welcome_template: WelcomeTemplate | None = None,
    actor: Actor,
) -> JoinCode:
    problems: list[tuple[str, str]] = []
    name = name.strip()
    if not name or len(name) > MAX_NAME_CHARS:
        problems.append(("name", "请填写活码名称（最多 64 字）"))
    if not groups or len(groups) > MAX_GROUPS:
        problems.append(("groups", "请至少选择 1 个群（最多 100 个）"))
    if len({spec.chat_id for spec in groups}) != len(groups):
        problems.append(("groups", "同一个群只能加入一次"))
    problems += _check_groups(groups)
    if problems:
        raise CommunityInvalid.for_fields(problems)
    found = _groups_for(groups)
    code = JoinCode.objects.create(
        code=secrets.token_hex(5),
        name=name,
        welcome_template=welcome_template,
        created_by=actor.label[:64],
        created_at=clock.now(),
    )
    JoinCodeGroup.objects.bulk_create(
        JoinCodeGroup(
            join_code=code,
            group=group,
            position=position,
            threshold=spec.threshold,
            qr_content=spec.qr_content.strip(),
        )
        for position, (spec, group) in enumerate(zip(groups, found, strict=True))
    )
    if welcome_template is not None:
        CustomerGroup.objects.filter(pk__in=[group.pk for group in found]).update(
            welcome_template=welcome_template
        )
    return code


@transaction.atomic
def join_code_group_append(*, join_code: JoinCode, group: JoinCodeGroupSpec) -> JoinCodeGroup:
    """A new group at the end: used once every group before it is full."""
    entries = JoinCodeGroup.objects.filter(join_code=join_code)
    count = entries.count()
    problems = _check_groups([group], offset=count)
    if count >= MAX_GROUPS:
        problems.append(("groups", "一个活码最多 100 个群"))
    if entries.filter(group__chat_id=group.chat_id).exists():
        problems.append((f"groups.{count}.chat_id", "这个群已在活码中"))
    if problems:
        raise CommunityInvalid.for_fields(problems)
    (found,) = _groups_for([group], offset=count)
    last = entries.order_by("-position").values_list("position", flat=True).first()
    if join_code.welcome_template_id is not None:
        CustomerGroup.objects.filter(pk=found.pk).update(
            welcome_template_id=join_code.welcome_template_id
        )
    return JoinCodeGroup.objects.create(
        join_code=join_code,
        group=found,
        position=(last + 1) if last is not None else 0,
        threshold=group.threshold,
        qr_content=group.qr_content.strip(),
    )


def join_code_current(*, join_code: JoinCode) -> JoinCodeGroup | None:
    """The group a scan leads to now: the first, in order, that is active and below its
    threshold of customers; None when every group is full."""
    for entry in JoinCodeGroup.objects.filter(join_code=join_code).select_related("group"):
        group = entry.group
        if group.status == GroupStatus.ACTIVE and group.customer_count < entry.threshold:
            return entry
    return None


def join_code_scan(*, code: str) -> tuple[JoinCode, JoinCodeGroup | None]:
    """A visitor opened the 活码's page: count the scan and say which group's QR to show."""
    join_code = JoinCode.objects.filter(code=code[:32]).first()
    if join_code is None:
        raise JoinCodeNotFound()
    entry = join_code_current(join_code=join_code)
    JoinCode.objects.filter(pk=join_code.pk).update(scans=F("scans") + 1)
    if entry is not None:
        JoinCodeGroup.objects.filter(pk=entry.pk).update(scans=F("scans") + 1)
    return join_code, entry
