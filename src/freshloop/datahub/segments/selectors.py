"""DH-4 segments, the reads: saved segments and their members, evaluating rules to people (the
builder's live count, materialisation), the members as CSV, the PIPL export section, and what
the segment builder offers.

The builder's menus are derived from the validator's own whitelists (`segments.grammar`), so a
menu never offers a rule the server would refuse, plus the values worth suggesting: tag labels,
channels, categories, manual tags and traits in use.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
from typing import Any

from freshloop.catalog.models import Category
from freshloop.core import clock
from freshloop.core.spreadsheet import spreadsheet_cell
from freshloop.datahub.dashboards.schemas import CHANNELS
from freshloop.datahub.eventstore.selectors import EventStore, event_store
from freshloop.datahub.ingestion.selectors import event_labels
from freshloop.datahub.models import ManualTag, Segment, SegmentMember
from freshloop.datahub.segments.errors import SegmentNotFound
from freshloop.datahub.segments.evaluation import Evaluation, id_chunks
from freshloop.datahub.segments.grammar import (
    EVENT_MEASURES,
    EVENT_OPERATORS,
    KIND_LABELS,
    MANUAL_TAG_OPERATORS,
    MAX_CONDITIONS,
    MAX_DEPTH,
    OPERATOR_LABELS,
    REGION_OPERATORS,
    REGION_SCOPES,
    TAG_OPERATORS,
    TRAIT_OPERATORS,
    segment_validate,
)
from freshloop.datahub.tags.schemas import DISTRIBUTION_LABELS, SEGMENT_FIELDS, Level
from freshloop.datahub.traits import KNOWN_TRAITS
from freshloop.food.selectors import region_choices
from freshloop.identity.models import Identifier, IdentifierType, Person, PersonStatus
from freshloop.identity.selectors import identifier_mask


def segment_get(*, segment_id: int) -> Segment:
    segment = Segment.objects.filter(pk=segment_id).first()
    if segment is None:
        raise SegmentNotFound(detail={"segment_id": segment_id})
    return segment


def segment_list() -> list[Segment]:
    """Every saved segment, the most recently changed first."""
    return list(Segment.objects.order_by("-updated_at", "-pk"))


def segment_member_ids(*, segment: Segment) -> list[int]:
    return list(
        SegmentMember.objects.filter(segment=segment)
        .order_by("person_id")
        .values_list("person_id", flat=True)
    )


def segments_export_section(person: Person) -> list[dict[str, Any]]:
    """PIPL export: the saved segments the person is a member of."""
    rows = (
        SegmentMember.objects.filter(person=person)
        .select_related("segment")
        .order_by("segment__name")
    )
    return [
        {
            "segment": row.segment.name,
            "materialised_at": row.segment.materialised_at.isoformat()
            if row.segment.materialised_at
            else None,
        }
        for row in rows
    ]


CSV_HEADER = ["OneID", "昵称", "手机号(脱敏)", "生命周期", "RFM 分群", "RFM 得分"]


def segment_csv(*, segment: Segment, store: EventStore | None = None) -> str:
    """The materialised members as CSV: OneID, nickname, masked phone, lifecycle and RFM.

    Never raw PII: phones are masked the way every screen masks them. People merged away or
    erased since the materialisation are left out. Starts with a byte-order mark so Excel reads
    the Chinese as UTF-8.
    """
    member_ids = segment_member_ids(segment=segment)
    tags: dict[int, tuple[Any, Any, Any]] = {}
    if member_ids:
        for row in (store or event_store()).fetch(
            "SELECT person_id, lifecycle, rfm_segment, rfm_score FROM person_tags "
            "WHERE list_contains($ids, person_id)",
            {"ids": member_ids},
        ):
            tags[row[0]] = (row[1], row[2], row[3])
    buffer = io.StringIO()
    writer = csv.writer(buffer)
    writer.writerow(CSV_HEADER)
    for chunk in id_chunks(member_ids):
        people = (
            Person.objects.filter(
                pk__in=chunk, status=PersonStatus.ACTIVE, merged_into__isnull=True
            )
            .order_by("pk")
            .only("one_id", "display_name")
        )
        phones: dict[int, str] = {}
        for identifier in Identifier.objects.filter(
            person_id__in=chunk, type=IdentifierType.PHONE
        ).order_by("-verified", "pk"):
            phones.setdefault(identifier.person_id, identifier_mask(identifier))
        for person in people:
            lifecycle, rfm_segment, rfm_score = tags.get(person.pk, (None, None, None))
            writer.writerow(
                [
                    spreadsheet_cell(person.one_id),
                    spreadsheet_cell(person.display_name),
                    spreadsheet_cell(phones.get(person.pk, "")),
                    spreadsheet_cell(lifecycle),
                    spreadsheet_cell(rfm_segment),
                    spreadsheet_cell(rfm_score),
                ]
            )
    return "\ufeff" + buffer.getvalue()


# --- evaluation --------------------------------------------------------------------------------


def segment_evaluate(
    *,
    definition: Any,
    now: dt.datetime | None = None,
    store: EventStore | None = None,
) -> set[int]:
    """The ids of the active people a definition selects (validated first)."""
    clean = segment_validate(definition)
    evaluation = Evaluation(now=now or clock.now(), store=store or event_store())
    try:
        result = evaluation.rule(clean)
    finally:
        evaluation.close()
    return result & evaluation.active


def segment_preview(
    *, definition: Any, now: dt.datetime | None = None, store: EventStore | None = None
) -> int:
    """How many people a definition selects now (the builder's live count)."""
    return len(segment_evaluate(definition=definition, now=now, store=store))


# --- the builder's menus -----------------------------------------------------------------------


def _pairs(values: list[str]) -> list[dict[str, str]]:
    return [{"value": str(value), "label": str(value)} for value in values]


def _tag_values(field: str) -> list[dict[str, str]]:
    if field == "preferred_channel":
        return [{"value": value, "label": label} for value, label in CHANNELS.items()]
    if field == "top_categories":
        return _pairs(
            list(Category.objects.order_by("sort_order", "name").values_list("name", flat=True))
        )
    if field in ("price_sensitivity",):
        return _pairs([Level.HIGH, Level.MEDIUM, Level.LOW])
    labels = DISTRIBUTION_LABELS.get(field)
    if labels and field not in ("r_score", "f_score", "m_score"):
        return _pairs(labels)
    return []


def builder_schema() -> dict[str, Any]:
    """Menus and limits for the builder page (JSON-ready)."""
    return {
        "kinds": KIND_LABELS,
        "operator_labels": OPERATOR_LABELS,
        "tag_fields": [
            {
                "key": key,
                "label": field.label,
                "type": field.type,
                "operators": list(TAG_OPERATORS[field.type]),
                "values": _tag_values(key),
            }
            for key, field in SEGMENT_FIELDS.items()
        ],
        "trait_fields": [
            {
                "key": key,
                "label": label,
                "values": [{"value": v, "label": text} for v, text in values.items()],
            }
            for key, (label, values) in KNOWN_TRAITS.items()
        ],
        "trait_operators": list(TRAIT_OPERATORS),
        "manual_tag_operators": list(MANUAL_TAG_OPERATORS),
        "manual_tags": sorted(set(ManualTag.objects.values_list("tag", flat=True))),
        "events": [
            {"name": name, "label": label} for name, label in sorted(event_labels().items())
        ],
        "measures": EVENT_MEASURES,
        "event_operators": list(EVENT_OPERATORS),
        "channels": [{"value": value, "label": label} for value, label in CHANNELS.items()],
        "region_scopes": [{"value": key, "label": label} for key, label in REGION_SCOPES.items()],
        "region_operators": list(REGION_OPERATORS),
        "regions": region_choices(),
        "limits": {"max_depth": MAX_DEPTH, "max_conditions": MAX_CONDITIONS},
    }
