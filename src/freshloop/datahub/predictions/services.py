"""Writing the intelligence module's scores into the event store's `person_predictions`.

The data hub owns the table (it lies below intelligence, and segments and the profile read it);
intelligence computes the scores and hands them over here, one model kind at a time. Writing a
kind replaces that kind's columns for everyone — a person the new scores leave out loses their
old score of that kind, not their other kinds' — in one transaction, so a reader sees the old
scores or the new, never a mix.
"""

from __future__ import annotations

import datetime as dt

import pyarrow as pa
import pyarrow.compute as pc

from freshloop.core import clock
from freshloop.core.errors import InvalidInput
from freshloop.datahub.eventstore.selectors import EventStore, event_store, to_naive_utc
from freshloop.datahub.predictions.selectors import KIND_COLUMNS, PREDICTION_COLUMNS
from freshloop.identity.models import Person, PersonStatus


def person_predictions_write(
    *,
    kind: str,
    scores: pa.Table,
    store: EventStore | None = None,
    computed_at: dt.datetime | None = None,
) -> int:
    """Replace the `kind` columns of `person_predictions` with `scores` (a `person_id` column
    and that kind's columns, see KIND_COLUMNS); return how many people now have this kind."""
    columns = KIND_COLUMNS.get(kind)
    if columns is None:
        raise InvalidInput("未知的预测类型", detail={"kind": kind})
    expected = {"person_id", *columns}
    if set(scores.column_names) != expected:
        raise InvalidInput(
            "预测结果的列不对", detail={"expected": sorted(expected), "got": scores.column_names}
        )
    others = [column for column in PREDICTION_COLUMNS if column not in columns]
    other_versions = [versions[-1] for name, versions in KIND_COLUMNS.items() if name != kind]
    # Only names from KIND_COLUMNS reach the SQL text; the scores are a registered Arrow table.
    select = ", ".join(
        ["COALESCE(i.person_id, p.person_id) AS person_id"]
        + [f"i.{column}" for column in columns]
        + [f"p.{column}" for column in others]
        + ["$at AS computed_at"]
    )
    keep_other = " OR ".join(f"p.{column} IS NOT NULL" for column in other_versions)
    moment = to_naive_utc(computed_at or clock.now())
    store = store or event_store()
    # An erased person's events stay as anonymous facts under their id (PIPL tombstone), so a
    # retrain can score that id again; a score is about the person, so it is never written.
    erased = list(Person.objects.filter(status=PersonStatus.ERASED).values_list("pk", flat=True))
    if erased and scores.num_rows:
        keep = pc.invert(pc.is_in(scores["person_id"], value_set=pa.array(erased, pa.int64())))
        scores = scores.filter(keep)
    with store.connect() as connection:
        connection.register("incoming_scores", scores)
        connection.execute("BEGIN")
        try:
            connection.execute(
                f"CREATE TEMP TABLE merged_predictions AS SELECT {select} "  # noqa: S608
                "FROM person_predictions p FULL OUTER JOIN incoming_scores i "
                "ON i.person_id = p.person_id "
                f"WHERE i.person_id IS NOT NULL OR {keep_other}",
                {"at": moment},
            )
            connection.execute("DELETE FROM person_predictions")
            connection.execute(
                "INSERT INTO person_predictions BY NAME SELECT * FROM merged_predictions"
            )
            connection.execute("DROP TABLE merged_predictions")
            connection.execute("COMMIT")
        except Exception:
            connection.execute("ROLLBACK")
            raise
        finally:
            connection.unregister("incoming_scores")
        row = connection.execute(
            f"SELECT COUNT(*) FROM person_predictions WHERE {columns[-1]} IS NOT NULL"  # noqa: S608
        ).fetchone()
    return int(row[0]) if row else 0
