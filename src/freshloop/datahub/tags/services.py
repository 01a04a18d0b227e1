"""DH-4 tags, the writes: recomputing the computed tags in the event store (the definitions
are in `tags.computation`), and operators' manual tags.

Computed tags live in the event store's `person_tags` table, one row per surviving person (`pid`)
with any event at or before `now`. `tags_recompute_all` rewrites the table in one set-based SQL
statement (nightly job `datahub.tags_recompute`); `tags_refresh_people` runs the same statement
restricted to a few people after every flush.

Manual tags are rows of `ManualTag` in the transactional database, written only through
`manual_tag_add` / `manual_tag_remove` (audited); they follow OneID merges (`tags.subscribers`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import time
from collections.abc import Sequence

from django.db import transaction

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import InvalidInput, NotFound
from freshloop.core.events import publish
from freshloop.datahub.eventstore.selectors import EventStore, event_store, to_naive_utc
from freshloop.datahub.models import ManualTag
from freshloop.datahub.tags.computation import FULL_SQL, QUINTILE_CUTS, SCOPED_SQL, parameters
from freshloop.datahub.tags.events import ManualTagChanged
from freshloop.datahub.tags.locks import manual_tag_lock
from freshloop.identity.models import Person, PersonStatus
from freshloop.identity.services import people_lock

MANUAL_TAG_MAX_LENGTH = 32


@dataclasses.dataclass(frozen=True)
class TagReport:
    people: int  # rows written to person_tags
    with_rfm: int  # of them, people with a paid order in the RFM window
    cut_points: dict[str, list[int]]  # recency / frequency / monetary quintile cut points
    computed_at: dt.datetime
    seconds: float


def tags_recompute_all(
    *, store: EventStore | None = None, now: dt.datetime | None = None
) -> TagReport:
    """Rewrite `person_tags` for every person with any event, in one SQL statement."""
    store = store or event_store()
    moment = to_naive_utc(now or clock.now())
    started = time.perf_counter()
    with store.connect() as connection:
        connection.execute("BEGIN")
        try:
            connection.execute("DELETE FROM person_tags")
            connection.execute(FULL_SQL, parameters(moment))
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
        counts = connection.execute(
            "SELECT COUNT(*), COUNT(r_score), "
            "quantile_disc(recency_days, $q), quantile_disc(frequency, $q), "
            "quantile_disc(monetary_fen, $q) FROM person_tags",
            {"q": list(QUINTILE_CUTS)},
        ).fetchone()
    assert counts is not None
    people, with_rfm, r_cuts, f_cuts, m_cuts = counts
    return TagReport(
        people=int(people),
        with_rfm=int(with_rfm),
        cut_points={
            "recency_days": list(r_cuts or []),
            "frequency": list(f_cuts or []),
            "monetary_fen": list(m_cuts or []),
        },
        computed_at=moment.replace(tzinfo=dt.UTC),
        seconds=time.perf_counter() - started,
    )


def tags_refresh_people(
    *, person_ids: Sequence[int], store: EventStore | None = None, now: dt.datetime | None = None
) -> int:
    """Recompute the tags of these people (merged-away ids count as their survivor); return
    how many rows were written. Their RFM is scored against the whole population's cut points."""
    if not person_ids:
        return 0
    store = store or event_store()
    moment = to_naive_utc(now or clock.now())
    ids = sorted({int(person_id) for person_id in person_ids})
    with store.connect() as connection:
        connection.execute("BEGIN")
        try:
            connection.execute(
                "CREATE TEMP TABLE tag_scope AS "
                "SELECT DISTINCT COALESCE(m.into_person_id, t.person_id) AS pid "
                "FROM (SELECT UNNEST($ids::BIGINT[]) AS person_id) t "
                "LEFT JOIN person_map m ON m.from_person_id = t.person_id",
                {"ids": ids},
            )
            # A survivor's history is also filed under the ids merged into it.
            connection.execute(
                "CREATE TEMP TABLE tag_scope_sources AS "
                "SELECT pid AS person_id FROM tag_scope UNION "
                "SELECT from_person_id FROM person_map WHERE into_person_id IN (SELECT pid FROM tag_scope)"
            )
            connection.execute(
                "DELETE FROM person_tags WHERE person_id IN (SELECT pid FROM tag_scope) "
                "OR person_id IN (SELECT UNNEST($ids::BIGINT[]))",
                {"ids": ids},
            )
            connection.execute(SCOPED_SQL, parameters(moment))
            written = connection.execute(
                "SELECT COUNT(*) FROM person_tags WHERE person_id IN (SELECT pid FROM tag_scope)"
            ).fetchone()
            connection.execute("DROP TABLE tag_scope_sources")
            connection.execute("DROP TABLE tag_scope")
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
    return int(written[0]) if written else 0


# --- manual tags ---------------------------------------------------------------------------


def manual_tag_text_clean(tag: str) -> str:
    """The stored form of a tag an operator typed: stripped, 1–32 characters."""
    if not isinstance(tag, str):
        raise InvalidInput("标签应为文字")
    text = tag.strip()
    if not text:
        raise InvalidInput("请填写标签")
    if len(text) > MANUAL_TAG_MAX_LENGTH:
        raise InvalidInput(
            f"标签不能超过 {MANUAL_TAG_MAX_LENGTH} 个字", detail={"length": len(text)}
        )
    return text


def _taggable(person: Person) -> None:
    if person.merged_into_id is not None or person.status == PersonStatus.MERGED:
        survivor = (
            Person.objects.filter(pk=person.merged_into_id).values_list("one_id", flat=True).first()
            if person.merged_into_id is not None
            else None
        )
        raise InvalidInput(
            f"该用户已合并到 {survivor or '其他 OneID'}，请在合并后的用户上打标签",
            detail={"one_id": person.one_id, "merged_into": survivor},
        )
    if person.status == PersonStatus.ERASED:
        raise InvalidInput("该用户的个人信息已删除，不能再打标签", detail={"one_id": person.one_id})


def manual_tag_add(*, person: Person, tag: str, actor: Actor) -> ManualTag:
    """Put a tag on a person; adding a tag the person already has changes nothing."""
    text = manual_tag_text_clean(tag)
    with transaction.atomic():
        # Decide on the row as it is now, under its lock (a merge locks it too): the object in
        # hand may predate a merge, and a tag put on a merged-away person after its tags moved
        # to the survivor would be lost to every screen.
        current = people_lock([person.pk]).get(person.pk)
        if current is None:
            raise NotFound("用户不存在", detail={"person_id": person.pk})
        _taggable(current)
        row, created = ManualTag.objects.get_or_create(
            person=current,
            tag=text,
            defaults={"created_by": actor.label[:64], "created_at": clock.now()},
        )
        if created:
            audit_record(
                actor=actor,
                action="datahub.manual_tag_add",
                target=row,
                after={"person_id": current.pk, "one_id": current.one_id, "tag": text},
            )
            publish(
                ManualTagChanged(
                    person_id=current.pk,
                    tag=text,
                    added=True,
                    actor_type=actor.type,
                    actor_id=actor.id,
                )
            )
    return row


def manual_tag_remove(*, person: Person, tag: str, actor: Actor) -> bool:
    """Take a tag off a person; return whether there was one to take off."""
    text = manual_tag_text_clean(tag)
    with transaction.atomic():
        row = manual_tag_lock(person=person, tag=text)
        if row is None:
            return False
        audit_record(
            actor=actor,
            action="datahub.manual_tag_remove",
            target=row,
            before={
                "person_id": person.pk,
                "one_id": person.one_id,
                "tag": text,
                "created_by": row.created_by,
                "created_at": row.created_at,
            },
        )
        row.delete()
        publish(
            ManualTagChanged(
                person_id=person.pk, tag=text, added=False, actor_type=actor.type, actor_id=actor.id
            )
        )
    return True
