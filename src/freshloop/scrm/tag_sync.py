"""WeCom corp tags (企业标签) synced both ways with FreshLoop's manual tags (SC-1).

- The corp tag list (`get_corp_tag_list`) is mirrored as `WecomTag` rows; each corp tag maps to
  one manual tag (its name; "组名·标签名" when two groups share a name).
- **Inbound**: what WeCom says a contact carries (`externalcontact/get` on an edit callback, or
  the full sync's `batch/get_by_user`) is compared with `WecomContactTag`, the mirror of what
  the contact carried when last read or written. Only the difference is applied to the OneID's
  manual tags, by the actor `SYNC_ACTOR`: a replay changes nothing, and a tag FreshLoop added
  but has not pushed yet is not taken off by an unrelated read.
- **Outbound**: `datahub.tags.events.ManualTagChanged` (durable, on the worker) → `mark_tag`
  on the contact's 跟进人 relation when the person's manual tags and the mirror disagree. A
  change the inbound sync made carries `SYNC_ACTOR` and is never sent back; and even a
  replayed or reordered event compares the present state, so nothing loops or repeats.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor
from freshloop.datahub.tags.selectors import manual_tags_list
from freshloop.datahub.tags.services import manual_tag_add, manual_tag_remove
from freshloop.identity.models import Person
from freshloop.messaging.errors import WecomRequestInvalid, WecomUnknownExternalUser
from freshloop.messaging.wecom import WecomClient, wecom_client
from freshloop.scrm.models import (
    ContactStatus,
    WecomContact,
    WecomContactTag,
    WecomTag,
    WecomTagKind,
)

logger = logging.getLogger(__name__)

SYNC_ACTOR = Actor.system("scrm.wecom_tags")
MANUAL_TAG_MAX = 32
INVALID_TAG = 40068  # WeCom: the tag id is not (or no longer) a corp tag
STAFF_BATCH = 100  # batch/get_by_user takes up to 100 staff members per call


@dataclasses.dataclass(frozen=True)
class CorpTagSyncResult:
    created: int
    updated: int
    deleted: int


@dataclasses.dataclass(frozen=True)
class TagChanges:
    added: tuple[str, ...] = ()  # manual tags put on the person
    removed: tuple[str, ...] = ()  # manual tags taken off


@dataclasses.dataclass(frozen=True)
class FullSyncResult:
    tags: CorpTagSyncResult
    contacts: int  # contacts WeCom listed (and whose tags were applied)
    added: int
    removed: int


def _free_name(name: str, group_name: str, taken: set[str]) -> str:
    plain = name.strip()[:MANUAL_TAG_MAX]
    if plain and plain not in taken:
        return plain
    return f"{group_name}·{name}".strip()[:MANUAL_TAG_MAX]


def corp_tags_sync(*, client: WecomClient | None = None) -> CorpTagSyncResult:
    """Mirror WeCom's corp tag list: new tags get a manual tag name, renamed ones keep theirs
    (so people keep their tag), tags gone from WeCom are marked deleted (no longer synced)."""
    groups = (client or wecom_client()).corp_tag_list()
    now = clock.now()
    created = updated = 0
    with transaction.atomic():
        rows = {row.tag_id: row for row in WecomTag.objects.all()}
        taken = {
            row.freshloop_tag
            for row in rows.values()
            if row.kind == WecomTagKind.CORP and not row.deleted and row.freshloop_tag
        }
        seen: set[str] = set()
        for group in groups:
            for tag in group.tags:
                seen.add(tag.tag_id)
                row = rows.get(tag.tag_id)
                if row is None:
                    freshloop_tag = _free_name(tag.name, group.name, taken)
                    taken.add(freshloop_tag)
                    WecomTag.objects.create(
                        tag_id=tag.tag_id,
                        group_id=group.group_id,
                        group_name=group.name[:64],
                        name=tag.name[:64],
                        freshloop_tag=freshloop_tag,
                        synced_at=now,
                    )
                    created += 1
                elif (row.name, row.group_name, row.deleted) != (tag.name, group.name, False):
                    WecomTag.objects.filter(pk=row.pk).update(
                        name=tag.name[:64], group_name=group.name[:64], deleted=False, synced_at=now
                    )
                    updated += 1
        deleted = (
            WecomTag.objects.filter(deleted=False)
            .exclude(tag_id__in=seen)
            .update(deleted=True, synced_at=now)
        )
    return CorpTagSyncResult(created=created, updated=updated, deleted=deleted)


def contact_tags_apply(
    *, contact: WecomContact, tag_ids: Iterable[str], client: WecomClient | None = None
) -> TagChanges:
    """WeCom says `contact` carries `tag_ids` now: put the difference from the mirror onto the
    person's manual tags (corp tags only; computed tags FreshLoop pushed are not read back).
    A tag id we do not know refreshes the corp tag list once."""
    now_ids = set(tag_ids)
    mirror = set(contact.wecom_tags.values_list("tag_id", flat=True))
    if now_ids == mirror:
        return TagChanges()
    known = {row.tag_id: row for row in WecomTag.objects.filter(tag_id__in=now_ids | mirror)}
    if now_ids - set(known):
        corp_tags_sync(client=client)
        known = {row.tag_id: row for row in WecomTag.objects.filter(tag_id__in=now_ids | mirror)}

    def manual(tag_id: str) -> str:
        row = known.get(tag_id)
        if row is None or row.kind != WecomTagKind.CORP or row.deleted:
            return ""
        return row.freshloop_tag

    added = sorted({manual(tag_id) for tag_id in now_ids - mirror} - {""})
    removed = sorted({manual(tag_id) for tag_id in mirror - now_ids} - {""})
    # A manual tag still carried through another of its tag ids stays.
    still = {manual(tag_id) for tag_id in now_ids}
    removed = [tag for tag in removed if tag not in still]
    with transaction.atomic():
        person = Person.objects.get(pk=contact.person_id)
        WecomContactTag.objects.filter(contact=contact, tag_id__in=mirror - now_ids).delete()
        WecomContactTag.objects.bulk_create(
            [WecomContactTag(contact=contact, tag_id=tag_id) for tag_id in now_ids - mirror],
            ignore_conflicts=True,
        )
        for tag in added:
            manual_tag_add(person=person, tag=tag, actor=SYNC_ACTOR)
        taken_off = [
            tag for tag in removed if manual_tag_remove(person=person, tag=tag, actor=SYNC_ACTOR)
        ]
    return TagChanges(added=tuple(added), removed=tuple(taken_off))


def contact_tags_from_wecom(
    *, contact: WecomContact, follow_tag_ids: Iterable[Iterable[str]]
) -> TagChanges:
    """The union of the corp tags every staff member following the contact put on it."""
    return contact_tags_apply(
        contact=contact, tag_ids={tag_id for tags in follow_tag_ids for tag_id in tags}
    )


def tags_full_sync(*, client: WecomClient | None = None) -> FullSyncResult:
    """Read the corp tag list and every active contact's tags (batch/get_by_user, 100 staff
    members a call) and apply them as the inbound sync does. Idempotent."""
    client = client or wecom_client()
    tag_result = corp_tags_sync(client=client)
    contacts = {
        contact.external_userid: contact
        for contact in WecomContact.objects.filter(status=ContactStatus.ACTIVE)
    }
    staff = sorted({contact.follow_userid for contact in contacts.values()})
    tags: dict[str, set[str]] = {}  # only contacts WeCom listed: a missing one is not "no tags"
    for start in range(0, len(staff), STAFF_BATCH):
        cursor = ""
        while True:
            page = client.external_contacts_by_staff(
                userids=staff[start : start + STAFF_BATCH], cursor=cursor
            )
            for found in page.contacts:
                if found.external_userid in contacts:
                    carried = tags.setdefault(found.external_userid, set())
                    for follow in found.follow_users:
                        carried.update(follow.tag_ids)
            cursor = page.next_cursor
            if not cursor:
                break
    added = removed = 0
    for external_userid, tag_ids in tags.items():
        changes = contact_tags_apply(contact=contacts[external_userid], tag_ids=tag_ids)
        added += len(changes.added)
        removed += len(changes.removed)
    return FullSyncResult(tags=tag_result, contacts=len(tags), added=added, removed=removed)


def manual_tag_push(*, person_id: int, tag: str, actor_type: str = "", actor_id: str = "") -> str:
    """Send one manual tag change to WeCom (the outbound half); returns what was done:
    `echo` (the inbound sync made it), `not_synced` (no corp tag of that name), `no_contact`,
    `in_step` (WeCom already agrees), `added` / `removed`, or `stale` (WeCom no longer knows
    the relation or the tag: nothing to send, the next full sync repairs the mirror)."""
    if (actor_type, actor_id) == (SYNC_ACTOR.type, SYNC_ACTOR.id):
        return "echo"
    contact = (
        WecomContact.objects.filter(person_id=person_id, status=ContactStatus.ACTIVE)
        .order_by("-updated_at", "-id")
        .first()
    )
    if contact is None:
        return "no_contact"
    if not WecomTag.objects.exists():
        corp_tags_sync()  # never synced yet: learn WeCom's tags once
    wecom_tag = (
        WecomTag.objects.filter(freshloop_tag=tag, kind=WecomTagKind.CORP, deleted=False)
        .order_by("pk")
        .first()
    )
    if wecom_tag is None:
        return "not_synced"
    # Decide on the state now, not on the event: a replayed or late event sends nothing wrong.
    wanted = tag in manual_tags_list(person_id=person_id)
    carried = WecomContactTag.objects.filter(contact=contact, tag_id=wecom_tag.tag_id).exists()
    if wanted == carried:
        return "in_step"
    try:
        wecom_client().mark_tag(
            userid=contact.follow_userid,
            external_userid=contact.external_userid,
            add_tag=[wecom_tag.tag_id] if wanted else None,
            remove_tag=None if wanted else [wecom_tag.tag_id],
        )
    except WecomUnknownExternalUser:
        logger.warning("mark_tag: %s no longer follows %s", contact.follow_userid, contact.pk)
        return "stale"
    except WecomRequestInvalid as error:
        if error.errcode != INVALID_TAG:
            raise
        WecomTag.objects.filter(pk=wecom_tag.pk).update(deleted=True, synced_at=clock.now())
        return "stale"
    if wanted:
        WecomContactTag.objects.get_or_create(contact=contact, tag_id=wecom_tag.tag_id)
        return "added"
    WecomContactTag.objects.filter(contact=contact, tag_id=wecom_tag.tag_id).delete()
    return "removed"
