"""DH-4 tags, the reads: a person's computed tags, how people spread over one tag (for
charts), the biggest spenders, and a person's manual tags."""

from __future__ import annotations

import datetime as dt
from typing import Any

from freshloop.core.errors import InvalidInput
from freshloop.datahub.eventstore.selectors import EventStore, event_store
from freshloop.datahub.models import ManualTag
from freshloop.datahub.tags.schemas import DISTRIBUTION_LABELS, UNKNOWN_LABEL


def person_tags_get(*, person_id: int, store: EventStore | None = None) -> dict[str, Any] | None:
    """The computed tags of a person (or of the survivor a merged-away id now belongs to)."""
    store = store or event_store()
    rows = store.fetch_dicts(
        "SELECT t.* FROM person_tags t WHERE t.person_id = COALESCE("
        "(SELECT into_person_id FROM person_map WHERE from_person_id = $id), $id)",
        {"id": person_id},
    )
    if not rows:
        return None
    row = rows[0]
    row["top_categories"] = list(row["top_categories"] or [])
    row["computed_at"] = row["computed_at"].replace(tzinfo=dt.UTC)
    return row


def tag_distribution(*, column: str, store: EventStore | None = None) -> dict[str, int]:
    """People per label of one computed tag column, for charts.

    Labelled columns come in their natural order (segments, stages, 高中低); the others by
    count. People without a value (no paid order, no region) count under 未知;
    `top_categories` counts each person once per category in their top 3.
    """
    if column not in DISTRIBUTION_LABELS:
        raise InvalidInput(
            "不支持按该字段统计标签分布",
            detail={"column": column, "allowed": list(DISTRIBUTION_LABELS)},
        )
    store = store or event_store()
    if column == "top_categories":
        sql = (
            "SELECT label, COUNT(*) FROM (SELECT UNNEST(top_categories) AS label FROM person_tags) "
            "GROUP BY label"
        )
    else:
        # `column` is one of the whitelisted names above.
        sql = f"SELECT {column}::VARCHAR AS label, COUNT(*) FROM person_tags GROUP BY label"  # noqa: S608
    counts = {
        label if label is not None else UNKNOWN_LABEL: int(n) for label, n in store.fetch(sql)
    }
    order = DISTRIBUTION_LABELS[column]
    if order is None:
        labels = sorted(counts, key=lambda label: (label == UNKNOWN_LABEL, -counts[label], label))
    else:
        labels = [label for label in order if label in counts] + sorted(
            (label for label in counts if label not in order),
            key=lambda label: (label == UNKNOWN_LABEL, label),
        )
    return {label: counts[label] for label in labels}


def manual_tags_list(*, person_id: int) -> list[str]:
    return list(
        ManualTag.objects.filter(person_id=person_id)
        .order_by("created_at", "pk")
        .values_list("tag", flat=True)
    )


def person_ids_by_spend(*, limit: int, store: EventStore | None = None) -> list[int]:
    """The people with the highest spend in the RFM window (computed `monetary_fen`), best
    first; ties by person id."""
    return [
        int(row[0])
        for row in (store or event_store()).fetch(
            "SELECT person_id FROM person_tags WHERE monetary_fen IS NOT NULL "
            "ORDER BY monetary_fen DESC, person_id LIMIT $n",
            {"n": limit},
        )
    ]


def tag_values_for_people(
    *, column: str, person_ids: list[int], store: EventStore | None = None
) -> dict[int, str]:
    """One text-valued computed tag (e.g. `rfm_segment`) of these people, for those who have
    a value: what scrm pushes to WeCom as tags. Ids are the surviving people's."""
    from freshloop.datahub.tags.schemas import TAG_FIELDS

    field = TAG_FIELDS.get(column)
    if field is None or field.type != "string":
        raise InvalidInput("该字段不能按人读取", detail={"column": column})
    if not person_ids:
        return {}
    # `column` is a whitelisted name of TAG_FIELDS.
    sql = (
        f"SELECT person_id, {column}::VARCHAR FROM person_tags "  # noqa: S608
        f"WHERE person_id IN (SELECT UNNEST($ids::BIGINT[])) AND {column} IS NOT NULL"
    )
    return {
        int(person_id): str(value)
        for person_id, value in (store or event_store()).fetch(sql, {"ids": sorted(person_ids)})
    }
