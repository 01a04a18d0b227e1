"""What the segment builder offers, derived from the validator's own whitelists in
`datahub.segments` (so a menu never offers a rule the server would refuse), plus the values
worth suggesting: tag labels, channels, categories, manual tags and traits in use.

"""

from __future__ import annotations

from typing import Any

from freshloop.catalog.models import Category
from freshloop.datahub.dashboards import CHANNELS
from freshloop.datahub.models import ManualTag
from freshloop.datahub.profile import event_labels
from freshloop.datahub.segments import (
    EVENT_MEASURES,
    EVENT_OPERATORS,
    KIND_LABELS,
    MANUAL_TAG_OPERATORS,
    MAX_CONDITIONS,
    MAX_DEPTH,
    OPERATOR_LABELS,
    TAG_FIELDS,
    TAG_OPERATORS,
    TRAIT_OPERATORS,
)
from freshloop.datahub.tags import DISTRIBUTION_LABELS, Level
from freshloop.datahub.traits import KNOWN_TRAITS


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
            for key, field in TAG_FIELDS.items()
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
        "limits": {"max_depth": MAX_DEPTH, "max_conditions": MAX_CONDITIONS},
    }
