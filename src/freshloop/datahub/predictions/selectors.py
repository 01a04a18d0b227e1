"""Reading the intelligence module's scores from the event store's `person_predictions`
(written by `predictions.services`)."""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Sequence
from typing import Any

import pyarrow as pa

from freshloop.datahub.eventstore.selectors import EventStore, event_store

# The columns each model kind writes; the last is always the model version that wrote them.
KIND_COLUMNS: dict[str, tuple[str, ...]] = {
    "churn": ("churn_risk", "churn_reasons", "churn_version"),
    "propensity": ("purchase_propensity", "propensity_reasons", "propensity_version"),
    "clv": (
        "clv_fen",
        "clv_percentile",
        "expected_orders_365d",
        "probability_alive",
        "clv_version",
    ),
    "contact_hour": (
        "best_contact_hour",
        "contact_hours",
        "contact_events",
        "contact_hour_version",
    ),
}
PREDICTION_COLUMNS: tuple[str, ...] = tuple(
    column for columns in KIND_COLUMNS.values() for column in columns
)
_REASON_COLUMNS = ("churn_reasons", "propensity_reasons")


def person_predictions_get(
    *, person_id: int, store: EventStore | None = None
) -> dict[str, Any] | None:
    """A person's scores (or those of the survivor a merged-away id now belongs to), with the
    explanations parsed; None when no model has scored them."""
    rows = (store or event_store()).fetch_dicts(
        "SELECT p.* FROM person_predictions p WHERE p.person_id = COALESCE("
        "(SELECT into_person_id FROM person_map WHERE from_person_id = $id), $id)",
        {"id": person_id},
    )
    if not rows:
        return None
    row = rows[0]
    for column in _REASON_COLUMNS:
        row[column] = json.loads(row[column]) if row.get(column) else []
    row["contact_hours"] = list(row.get("contact_hours") or [])
    row["computed_at"] = row["computed_at"].replace(tzinfo=dt.UTC)
    return row


def prediction_histogram(
    *, column: str, bins: int = 10, store: EventStore | None = None
) -> list[tuple[float, float, int]]:
    """People per equal-width bin of a 0–1 score column: (low, high, people)."""
    if column not in ("churn_risk", "purchase_propensity"):
        raise ValueError(column)
    rows = (store or event_store()).fetch(
        f"SELECT LEAST(FLOOR({column} * $bins), $bins - 1)::INTEGER AS bin, COUNT(*) "  # noqa: S608
        f"FROM person_predictions WHERE {column} IS NOT NULL GROUP BY bin ORDER BY bin",
        {"bins": bins},
    )
    counts = {int(number): int(count) for number, count in rows}
    return [(number / bins, (number + 1) / bins, counts.get(number, 0)) for number in range(bins)]


def hour_histogram(*, store: EventStore | None = None) -> list[int]:
    """People per best contact hour, 0–23."""
    rows = (store or event_store()).fetch(
        "SELECT best_contact_hour, COUNT(*) FROM person_predictions "
        "WHERE best_contact_hour IS NOT NULL GROUP BY 1",
        {},
    )
    counts = {int(hour): int(count) for hour, count in rows}
    return [counts.get(hour, 0) for hour in range(24)]


def predictions_for_people(
    *, person_ids: Sequence[int], columns: Sequence[str], store: EventStore | None = None
) -> dict[int, dict[str, Any]]:
    """The chosen `columns` of many people in one query, keyed by the id as asked (a
    merged-away id gets its survivor's scores, as in `person_predictions_get`); people no
    model has scored are absent. Lists (`contact_hours`) come back as Python lists."""
    unknown = [column for column in columns if column not in PREDICTION_COLUMNS]
    if unknown:
        raise ValueError(f"unknown prediction columns: {unknown}")
    asked = sorted({int(person_id) for person_id in person_ids})
    if not asked or not columns:
        return {}
    # Only names from PREDICTION_COLUMNS reach the SQL text; the ids are a registered table.
    select = ", ".join(f"p.{column}" for column in columns)
    with (store or event_store()).connect() as connection:
        connection.register("asked_people", pa.table({"person_id": pa.array(asked, pa.int64())}))
        try:
            rows = connection.execute(
                f"SELECT a.person_id, {select} FROM asked_people a "  # noqa: S608
                "LEFT JOIN person_map m ON m.from_person_id = a.person_id "
                "JOIN person_predictions p ON p.person_id = COALESCE(m.into_person_id, a.person_id)"
            ).fetchall()
        finally:
            connection.unregister("asked_people")
    return {int(row[0]): dict(zip(columns, row[1:], strict=True)) for row in rows}


def contact_hours_mean(*, store: EventStore | None = None) -> list[float] | None:
    """The population's average hourly response profile (24 shares, 0–23 Asia/Shanghai) over
    everyone with a contact-hour profile; None when nobody has one."""
    rows = (store or event_store()).fetch(
        "SELECT hour, AVG(share) FROM ("
        "  SELECT generate_subscripts(contact_hours, 1) - 1 AS hour, UNNEST(contact_hours) AS share"
        "  FROM person_predictions WHERE len(contact_hours) = 24"
        ") GROUP BY hour ORDER BY hour",
        {},
    )
    if len(rows) != 24:
        return None
    return [float(share) for _, share in rows]
