"""Data hub computed tags pushed to WeCom as corp tags (SC-1).

An operator picks which values of which computed tags to push (`computed_tag_push_set`, e.g.
rfm_segment = 重要价值客户). `computed_tags_push` (the `scrm.tags_push` job, nightly after the
data hub recomputes, and on demand) creates the WeCom tag in the group `COMPUTED_GROUP` when it
is missing, then marks the contacts who have that value and unmarks those who no longer have it
(or every carrier, once the push is switched off), `batch` contacts at a time. The mirror
`WecomContactTag` says who carries it, so a second run sends nothing.
"""

from __future__ import annotations

import dataclasses
import logging

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.tags.schemas import DISTRIBUTION_LABELS
from freshloop.datahub.tags.selectors import tag_values_for_people
from freshloop.messaging.errors import WecomUnknownExternalUser
from freshloop.messaging.wecom import WecomClient, wecom_client
from freshloop.scrm.errors import ComputedTagInvalid
from freshloop.scrm.models import (
    ComputedTagPush,
    ContactStatus,
    WecomContact,
    WecomContactTag,
    WecomTag,
    WecomTagKind,
)

logger = logging.getLogger(__name__)

COMPUTED_GROUP = "FreshLoop 计算标签"
PUSH_BATCH = 100
# Computed tags whose values are a fixed list of labels (a tag per label makes sense).
PUSHABLE: dict[str, list[str]] = {
    column: [str(label) for label in DISTRIBUTION_LABELS[column] or []]
    for column in ("rfm_segment", "lifecycle", "price_sensitivity", "live_engagement")
}
COLUMN_LABELS = {
    "rfm_segment": "RFM",
    "lifecycle": "生命周期",
    "price_sensitivity": "价格敏感度",
    "live_engagement": "直播活跃度",
}


@dataclasses.dataclass(frozen=True)
class PushResult:
    pushes: int  # settings handled
    marked: int
    unmarked: int
    failed: int  # contacts WeCom no longer relates to their 跟进人 (skipped)


def wecom_tag_name(column: str, value: str) -> str:
    """The WeCom tag's name: levels get their column ("价格敏感度·高"), segments stand alone."""
    if column in ("rfm_segment", "lifecycle"):
        return value[:30]
    return f"{COLUMN_LABELS[column]}·{value}"[:30]


def computed_tag_push_set(
    *, column: str, value: str, enabled: bool, actor: Actor
) -> ComputedTagPush:
    """Start or stop pushing one computed tag value (idempotent; audited)."""
    if column not in PUSHABLE:
        raise ComputedTagInvalid(
            "这个计算标签不能推送到企业微信",
            detail={"column": column, "allowed": sorted(PUSHABLE)},
        )
    if value not in PUSHABLE[column]:
        raise ComputedTagInvalid(
            "没有这个标签值", detail={"column": column, "value": value, "allowed": PUSHABLE[column]}
        )
    now = clock.now()
    with transaction.atomic():
        push, created = ComputedTagPush.objects.get_or_create(
            column=column,
            value=value,
            defaults={
                "enabled": enabled,
                "created_by": actor.label[:64],
                "created_at": now,
                "updated_at": now,
            },
        )
        changed = not created and push.enabled != enabled
        if changed:
            ComputedTagPush.objects.filter(pk=push.pk).update(enabled=enabled, updated_at=now)
            push.refresh_from_db()
        if created or changed:
            audit_record(
                actor=actor,
                action="scrm.computed_tag_push_set",
                target=push,
                after={"column": column, "value": value, "enabled": enabled},
            )
    return push


def _ensure_tag(push: ComputedTagPush, client: WecomClient) -> str:
    """The WeCom tag id of the push: the known one, one of that name in our group, or new."""
    if (
        push.wecom_tag_id
        and WecomTag.objects.filter(tag_id=push.wecom_tag_id, deleted=False).exists()
    ):
        return push.wecom_tag_id
    name = wecom_tag_name(push.column, push.value)
    group_id = ""
    for group in client.corp_tag_list():
        if group.name != COMPUTED_GROUP:
            continue
        group_id = group.group_id
        for tag in group.tags:
            if tag.name == name:
                return _remember(push, tag.tag_id, group.group_id, name)
    created = client.add_corp_tag(group_name=COMPUTED_GROUP, group_id=group_id, tag_names=[name])
    (tag,) = [tag for tag in created.tags if tag.name == name][:1] or created.tags[:1]
    return _remember(push, tag.tag_id, created.group_id, name)


def _remember(push: ComputedTagPush, tag_id: str, group_id: str, name: str) -> str:
    now = clock.now()
    WecomTag.objects.update_or_create(
        tag_id=tag_id,
        defaults={
            "group_id": group_id,
            "group_name": COMPUTED_GROUP,
            "name": name,
            "freshloop_tag": "",
            "kind": WecomTagKind.COMPUTED,
            "deleted": False,
            "synced_at": now,
        },
    )
    ComputedTagPush.objects.filter(pk=push.pk).update(wecom_tag_id=tag_id)
    push.wecom_tag_id = tag_id
    return tag_id


def _mark(client: WecomClient, contact: WecomContact, tag_id: str, *, add: bool) -> bool:
    try:
        client.mark_tag(
            userid=contact.follow_userid,
            external_userid=contact.external_userid,
            add_tag=[tag_id] if add else None,
            remove_tag=None if add else [tag_id],
        )
    except WecomUnknownExternalUser:
        return False
    if add:
        WecomContactTag.objects.get_or_create(contact=contact, tag_id=tag_id)
    else:
        WecomContactTag.objects.filter(contact=contact, tag_id=tag_id).delete()
    return True


def computed_tags_push(
    *,
    client: WecomClient | None = None,
    store: EventStore | None = None,
    batch: int = PUSH_BATCH,
) -> PushResult:
    """Bring every push setting's WeCom tag in line with the computed tags (see the module)."""
    client = client or wecom_client()
    marked = unmarked = failed = handled = 0
    for push in ComputedTagPush.objects.order_by("pk"):
        if not push.enabled and not push.wecom_tag_id:
            continue
        handled += 1
        tag_id = _ensure_tag(push, client) if push.enabled else push.wecom_tag_id
        carriers = set(
            WecomContactTag.objects.filter(
                tag_id=tag_id, contact__status=ContactStatus.ACTIVE
            ).values_list("contact_id", flat=True)
        )
        contacts = WecomContact.objects.filter(status=ContactStatus.ACTIVE).order_by("pk")
        last = 0
        while True:
            chunk = list(contacts.filter(pk__gt=last)[:batch])
            if not chunk:
                break
            last = chunk[-1].pk
            values = (
                tag_values_for_people(
                    column=push.column, person_ids=[c.person_id for c in chunk], store=store
                )
                if push.enabled
                else {}
            )
            for contact in chunk:
                wanted = values.get(contact.person_id) == push.value
                if wanted == (contact.pk in carriers):
                    continue
                if not _mark(client, contact, tag_id, add=wanted):
                    failed += 1
                elif wanted:
                    marked += 1
                else:
                    unmarked += 1
        ComputedTagPush.objects.filter(pk=push.pk).update(
            last_pushed_at=clock.now(),
            pushed_count=WecomContactTag.objects.filter(
                tag_id=tag_id, contact__status=ContactStatus.ACTIVE
            ).count(),
        )
    return PushResult(pushes=handled, marked=marked, unmarked=unmarked, failed=failed)
