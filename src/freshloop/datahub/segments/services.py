"""DH-4 segments, the writes: saved segments (create, change, delete), their materialised
members, and one coupon for each member.

Saved segments are materialised on save (`segment_save_and_materialise`), on demand and hourly
(`segments.tasks`); a member merged away or erased leaves every segment at once
(`segments.subscribers`). Rules are checked by `segments.grammar.segment_validate` and
evaluated by `segments.selectors.segment_evaluate`.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import logging
from typing import Any

from django.db import IntegrityError, transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.events import publish
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.models import Segment, SegmentCouponIssue, SegmentMember
from freshloop.datahub.segments.errors import (
    SegmentBusy,
    SegmentInvalid,
    SegmentIssueKeyReused,
    SegmentNotFound,
    SegmentNotMaterialised,
)
from freshloop.datahub.segments.evaluation import id_chunks
from freshloop.datahub.segments.events import JOINED_CHUNK, SegmentMembersJoined
from freshloop.datahub.segments.grammar import segment_validate, unprintable
from freshloop.datahub.segments.locks import segment_lock, segments_lock
from freshloop.datahub.segments.selectors import segment_evaluate, segment_get, segment_member_ids
from freshloop.identity.models import Person
from freshloop.promotions.models import CouponSource, CouponTemplate
from freshloop.promotions.services import coupon_issue

logger = logging.getLogger(__name__)

MEMBER_BATCH = 1000
MAX_IDEMPOTENCY_KEY = 64


def _segment_name(name: Any) -> str:
    if not isinstance(name, str) or not name.strip():
        raise SegmentInvalid("请填写人群名称", detail={"field": "name"})
    clean = name.strip()
    if len(clean) > 64:
        raise SegmentInvalid("人群名称不能超过 64 个字符", detail={"field": "name"})
    if unprintable(clean):
        raise SegmentInvalid("人群名称不能包含控制字符", detail={"field": "name"})
    return clean


def _segment_description(description: Any) -> str:
    if not isinstance(description, str) or len(description.strip()) > 200:
        raise SegmentInvalid("说明应为不超过 200 个字符的文本", detail={"field": "description"})
    clean = description.strip()
    if unprintable(clean, allowed="\n"):
        raise SegmentInvalid("说明不能包含控制字符", detail={"field": "description"})
    return clean


@transaction.atomic
def segment_save(
    *,
    name: str,
    definition: Any,
    actor: Actor,
    description: str = "",
    segment: Segment | None = None,
) -> Segment:
    """Create a segment, or change `segment`'s name, description and rules (audited). Members
    are not recomputed here: call `segment_materialise`, or save with
    `segment_save_and_materialise` as the console does."""
    clean_name = _segment_name(name)
    clean_description = _segment_description(description)
    clean_definition = segment_validate(definition)
    taken = Segment.objects.filter(name=clean_name)
    if segment is not None:
        taken = taken.exclude(pk=segment.pk)
    if taken.exists():
        raise SegmentInvalid("人群名称已存在", detail={"field": "name", "name": clean_name})
    now = clock.now()
    before = None
    if segment is None:
        segment = Segment(created_by=actor.label[:64], created_at=now)
        action = "datahub.segment_create"
    else:
        segment = segment_lock(segment.pk)
        before = {
            "name": segment.name,
            "description": segment.description,
            "definition": segment.definition,
        }
        action = "datahub.segment_update"
    segment.name = clean_name
    segment.description = clean_description
    segment.definition = clean_definition
    segment.updated_at = now
    try:
        with transaction.atomic():
            segment.save()
    except IntegrityError as error:  # the same name saved a moment ago by someone else
        raise SegmentInvalid(
            "人群名称已存在", detail={"field": "name", "name": clean_name}
        ) from error
    audit_record(
        actor=actor,
        action=action,
        target=segment,
        before=before,
        after={
            "name": clean_name,
            "description": clean_description,
            "definition": clean_definition,
        },
    )
    return segment


@transaction.atomic
def segment_save_and_materialise(
    *,
    name: str,
    definition: Any,
    actor: Actor,
    description: str = "",
    segment: Segment | None = None,
    now: dt.datetime | None = None,
    store: EventStore | None = None,
) -> Segment:
    """Save and compute the members in one transaction: if the evaluation fails (the event
    store is busy, say) the change is not kept either, so a segment never shows rules its
    members were not computed from."""
    saved = segment_save(
        name=name, definition=definition, actor=actor, description=description, segment=segment
    )
    return segment_materialise(segment=saved, now=now, actor=actor, store=store)


def segment_materialise(
    *,
    segment: Segment,
    now: dt.datetime | None = None,
    actor: Actor | None = None,
    store: EventStore | None = None,
) -> Segment:
    """Recompute a segment's members and replace them in one transaction.

    The evaluation reads the event store outside the transaction (it can take a moment); if
    the rules changed meanwhile, the result is thrown away and computed again, so members
    always belong to the rules stored beside them. The people who were not members before
    are announced (`SegmentMembersJoined`, on commit) for journeys triggered by 进入人群.
    """
    moment = now or clock.now()
    actor = actor or Actor.system("datahub.segments_materialise")
    definition = Segment.objects.filter(pk=segment.pk).values_list("definition", flat=True).first()
    if definition is None:
        raise SegmentNotFound(detail={"segment_id": segment.pk})
    for _ in range(3):
        members = segment_evaluate(definition=definition, now=moment, store=store)
        with transaction.atomic():
            locked = segment_lock(segment.pk)
            if locked.definition != definition:
                definition = locked.definition
                continue
            before = locked.member_count
            earlier = set(
                SegmentMember.objects.filter(segment=locked).values_list("person_id", flat=True)
            )
            SegmentMember.objects.filter(segment=locked).delete()
            SegmentMember.objects.bulk_create(
                [SegmentMember(segment=locked, person_id=pid) for pid in sorted(members)],
                batch_size=MEMBER_BATCH,
            )
            locked.member_count = len(members)
            locked.materialised_at = clock.now()
            locked.save(update_fields=["member_count", "materialised_at"])
            audit_record(
                actor=actor,
                action="datahub.segment_materialise",
                target=locked,
                before={"member_count": before},
                after={"member_count": locked.member_count},
            )
            _members_joined_announce(locked, sorted(set(members) - earlier))
            return locked
    raise SegmentBusy(detail={"segment_id": segment.pk})


def _members_joined_announce(segment: Segment, newcomers: list[int]) -> None:
    if not newcomers or segment.materialised_at is None:
        return
    chunks = [
        tuple(newcomers[start : start + JOINED_CHUNK])
        for start in range(0, len(newcomers), JOINED_CHUNK)
    ]
    for part, person_ids in enumerate(chunks, start=1):
        publish(
            SegmentMembersJoined(
                segment_id=segment.pk,
                segment_name=segment.name,
                person_ids=person_ids,
                materialised_at=segment.materialised_at,
                part=part,
                parts=len(chunks),
            )
        )


def segments_materialise_all(*, now: dt.datetime | None = None) -> int:
    """Re-materialise every saved segment (hourly job); one bad segment does not stop the rest.
    Returns how many were refreshed."""
    refreshed = 0
    for segment in Segment.objects.order_by("pk"):
        try:
            segment_materialise(segment=segment, now=now)
        except SegmentNotFound:
            continue  # deleted since the list was read
        except Exception:
            # Whatever went wrong with this one (rules from an older grammar, a store error),
            # the others still get their hourly refresh; the log carries the traceback.
            logger.exception("segment %s could not be materialised", segment.pk)
            continue
        refreshed += 1
    return refreshed


@transaction.atomic
def segment_delete(*, segment: Segment, actor: Actor) -> None:
    locked = segment_lock(segment.pk)
    audit_record(
        actor=actor,
        action="datahub.segment_delete",
        target=locked,
        before={
            "name": locked.name,
            "definition": locked.definition,
            "member_count": locked.member_count,
        },
    )
    locked.delete()


def segment_members_forget(*, person_id: int) -> int:
    """Take a person out of every materialised segment: merged-away and erased people are never
    members, even before the next materialisation. Returns how many segments lost them."""
    with transaction.atomic():
        segment_ids = set(
            SegmentMember.objects.filter(person_id=person_id).values_list("segment_id", flat=True)
        )
        if not segment_ids:
            return 0
        for segment in segments_lock(segment_ids):
            removed, _ = SegmentMember.objects.filter(segment=segment, person_id=person_id).delete()
            if removed:
                segment.member_count = max(0, segment.member_count - removed)
                segment.save(update_fields=["member_count"])
    return len(segment_ids)


@dataclasses.dataclass(frozen=True)
class SegmentCouponOutcome:
    issued: int
    skipped: dict[str, int]  # reason -> people
    replayed: bool = False  # the answer of an earlier request with the same key


def segment_issue_coupon(
    *, segment: Segment, template: CouponTemplate, actor: Actor, idempotency_key: str = ""
) -> SegmentCouponOutcome:
    """Give every materialised member one coupon of `template` (limits are the template's;
    people merged or erased since the last materialisation are skipped by the issuer and
    reported as such).

    With an `idempotency_key`, the issue and its record commit together: the same key again
    returns the first answer (`replayed`), the same key for another template is refused, and
    two requests racing with one key issue once (the second waits on the key's unique index).
    """
    segment = segment_get(segment_id=segment.pk)
    if segment.materialised_at is None:
        raise SegmentNotMaterialised(detail={"segment_id": segment.pk})
    key = idempotency_key.strip()
    if len(key) > MAX_IDEMPOTENCY_KEY:
        raise SegmentInvalid("幂等键过长", detail={"max_length": MAX_IDEMPOTENCY_KEY})
    if not key:
        return _issue_to_members(segment, template, actor)
    with transaction.atomic():
        try:
            with transaction.atomic():
                record: SegmentCouponIssue | None = SegmentCouponIssue.objects.create(
                    segment=segment,
                    template=template,
                    idempotency_key=key,
                    created_by=actor.label[:64],
                    created_at=clock.now(),
                )
        except IntegrityError:
            record = None  # the key was used (or is being used) by another request
        if record is not None:
            outcome = _issue_to_members(segment, template, actor)
            record.issued, record.skipped = outcome.issued, outcome.skipped
            record.save(update_fields=["issued", "skipped"])
            return outcome
    earlier = SegmentCouponIssue.objects.filter(segment=segment, idempotency_key=key).first()
    if earlier is None:
        # The insert failed for another reason (the segment or template was deleted meanwhile):
        # nothing was issued; the caller sees why when it asks again.
        segment_get(segment_id=segment.pk)
        raise SegmentBusy(detail={"idempotency_key": key})
    if earlier.template_id != template.pk:
        raise SegmentIssueKeyReused(
            detail={"idempotency_key": key, "template_id": earlier.template_id}
        )
    return SegmentCouponOutcome(issued=earlier.issued, skipped=dict(earlier.skipped), replayed=True)


def _issue_to_members(
    segment: Segment, template: CouponTemplate, actor: Actor
) -> SegmentCouponOutcome:
    people: list[Person] = []
    for chunk in id_chunks(segment_member_ids(segment=segment)):
        people.extend(Person.objects.filter(pk__in=chunk).order_by("pk"))
    result = coupon_issue(
        template=template,
        people=people,
        source=CouponSource.SEGMENT,
        source_ref=f"segment:{segment.pk}",
        actor=actor,
    )
    skipped: dict[str, int] = {}
    for skip in result.skipped:
        skipped[skip.reason] = skipped.get(skip.reason, 0) + 1
    return SegmentCouponOutcome(issued=len(result.issued), skipped=skipped)
