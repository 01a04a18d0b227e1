"""DH-4 segments: evaluating a validated rule tree to the set of people it selects.

Evaluation turns each condition into a set of person ids (DuckDB for tags and events, the ORM
for traits and manual tags), resolves merged-away people to their survivor, and combines the
sets: AND is intersection, OR union, NOT the complement within the active people. The result
only ever holds ACTIVE people (never merged or erased ones). Columns and operators reach SQL
only from the whitelists below (keys validated by `segments.grammar`); every value is bound.

Semantics worth knowing: `ne` / `not_in` on a tag, and `ne` on a trait, only select people who
have a value (SQL's NULL rule); `"not": true` is the complement within all active people.
Trait `gte` / `lte` compare numbers, and text that spells a number ("25" from a form), never
booleans; `eq` / `in` treat a number and its decimal text as the same value.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Iterator
from typing import Any

import duckdb
from django.db.models import Q
from django.db.models.fields.json import KeyTransform

from freshloop.datahub.eventstore.selectors import EventStore, to_naive_utc
from freshloop.datahub.models import ManualTag
from freshloop.datahub.segments.grammar import is_number, numeric
from freshloop.datahub.tags.schemas import SEGMENT_FIELD_TABLES
from freshloop.food.selectors import person_ids_in_regions
from freshloop.identity.models import Person, PersonStatus

# SQL fragments per operator; `{column}` is always a SEGMENT_FIELDS key.
_TAG_SQL: dict[str, str] = {
    "eq": "{column} = $value",
    "ne": "{column} <> $value",
    "gte": "{column} >= $value",
    "lte": "{column} <= $value",
    "in": "list_contains($value, {column})",
    "not_in": "{column} IS NOT NULL AND NOT list_contains($value, {column})",
    "contains": "list_contains({column}, $value)",
}
_MEASURE_SQL: dict[str, str] = {
    "count": "count(*)",
    "distinct_live_sessions": "count(DISTINCT NULLIF(live_session, ''))",
    "sum_amount": "COALESCE(sum(amount_fen), 0)",
}
_COMPARE_SQL = {"gte": ">=", "lte": "<=", "eq": "="}


def id_chunks(items: list[int], size: int = 500) -> Iterator[list[int]]:
    """`items` in slices small enough for an `IN (...)` on any database."""
    for start in range(0, len(items), size):
        yield items[start : start + size]


class Evaluation:
    """One evaluation: the active people (loaded once), one store connection (opened on first
    use, so a definition of traits and manual tags never touches the event store)."""

    def __init__(self, *, now: dt.datetime, store: EventStore) -> None:
        self.now = now
        self.store = store
        self._active: set[int] | None = None
        self._connection: duckdb.DuckDBPyConnection | None = None
        self._store_context: Any = None

    @property
    def active(self) -> set[int]:
        if self._active is None:
            self._active = set(
                Person.objects.filter(
                    status=PersonStatus.ACTIVE, merged_into__isnull=True
                ).values_list("pk", flat=True)
            )
        return self._active

    def fetch_ids(self, sql: str, params: dict[str, Any]) -> set[int]:
        if self._connection is None:
            self._store_context = self.store.connect()
            self._connection = self._store_context.__enter__()
        return {row[0] for row in self._connection.execute(sql, params).fetchall()}

    def close(self) -> None:
        if self._store_context is not None:
            self._store_context.__exit__(None, None, None)
            self._store_context = None
            self._connection = None

    def survivors(self, person_ids: Iterable[int]) -> set[int]:
        """Ids as the active people they are now: merged-away people become their survivor
        (the store's person map and the ORM may lag each other by a flush), the rest drop."""
        active = self.active
        found = set()
        pending: set[int] = set()
        for person_id in person_ids:
            if person_id in active:
                found.add(person_id)
            elif person_id is not None:
                pending.add(person_id)
        for _ in range(3):  # merges are kept one hop deep; bounded in case of a stale chain
            if not pending:
                break
            next_pending: set[int] = set()
            for chunk in id_chunks(sorted(pending)):
                for into in Person.objects.filter(
                    pk__in=chunk, merged_into__isnull=False
                ).values_list("merged_into_id", flat=True):
                    if into in active:
                        found.add(into)
                    elif into is not None:
                        next_pending.add(into)
            pending = next_pending
        return found

    # -- the tree --

    def rule(self, rule: dict[str, Any]) -> set[int]:
        result = self.condition(rule) if "kind" in rule else self.group(rule)
        if rule.get("not"):
            return self.active - result
        return result

    def group(self, group: dict[str, Any]) -> set[int]:
        rules = group["rules"]
        if group["op"] == "and":
            result = set(self.rule(rules[0]))
            for rule in rules[1:]:
                if not result:
                    break
                result &= self.rule(rule)
            return result
        union: set[int] = set()
        for rule in rules:
            union |= self.rule(rule)
        return union

    def condition(self, rule: dict[str, Any]) -> set[int]:
        kind = rule["kind"]
        if kind == "tag":
            return self.survivors(self.tag(rule))
        if kind == "event":
            return self.event(rule)
        if kind == "manual_tag":
            tagged = self.survivors(
                ManualTag.objects.filter(tag=rule["value"]).values_list("person_id", flat=True)
            )
            return tagged if rule["operator"] == "has" else self.active - tagged
        if kind == "region":
            names = rule["value"] if rule["operator"] == "in" else [rule["value"]]
            return self.survivors(person_ids_in_regions(scope=rule["scope"], regions=names))
        return self.trait(rule)

    def tag(self, rule: dict[str, Any]) -> set[int]:
        column = rule["field"]
        # Validated: the column and its table are the only text that reaches SQL unbound.
        table = SEGMENT_FIELD_TABLES[column]
        predicate = _TAG_SQL[rule["operator"]].format(column=column)
        return self.fetch_ids(
            f"SELECT person_id FROM {table} WHERE {predicate}",  # noqa: S608
            {"value": rule["value"]},
        )

    def event(self, rule: dict[str, Any]) -> set[int]:
        filters = ["name = $name", "pid IS NOT NULL", "occurred_at <= $now"]
        params: dict[str, Any] = {
            "name": rule["name"],
            "now": to_naive_utc(self.now),
            "value": rule["value"],
        }
        if "within_days" in rule:
            filters.append("occurred_at >= $since")
            params["since"] = to_naive_utc(self.now - dt.timedelta(days=rule["within_days"]))
        if "channel" in rule:
            filters.append("channel = $channel")
            params["channel"] = rule["channel"]
        comparison = f"{_MEASURE_SQL[rule['measure']]} {_COMPARE_SQL[rule['operator']]} $value"
        holds_for_zero = {
            "eq": rule["value"] == 0,
            "lte": True,  # values are never negative
            "gte": rule["value"] == 0,
        }[rule["operator"]]
        # People without a single such event have measure 0; when 0 satisfies the comparison
        # they belong too, so the complement of "has events and fails" is what we want.
        having = f"NOT ({comparison})" if holds_for_zero else comparison
        sql = (
            f"SELECT pid FROM events_resolved WHERE {' AND '.join(filters)} "  # noqa: S608
            f"GROUP BY pid HAVING {having}"
        )
        # `pid` already follows the merges the store has applied; survivors() also catches a
        # merge committed in the ORM but not flushed yet (until then the two halves of that
        # person are measured apart).
        matched = self.survivors(self.fetch_ids(sql, params))
        return self.active - matched if holds_for_zero else matched

    def trait(self, rule: dict[str, Any]) -> set[int]:
        name, operator, value = rule["field"], rule["operator"], rule["value"]
        people = Person.objects.filter(status=PersonStatus.ACTIVE, merged_into__isnull=True)
        has_key = Q(traits__has_key=name)
        if operator == "exists":
            people = people.filter(has_key) if value else people.exclude(has_key)
            return set(people.values_list("pk", flat=True))
        people = people.filter(has_key)
        if operator in {"gte", "lte"}:
            # Compared here, not in SQL: JSON comparisons across types differ by database
            # (SQLite ranks any text above every number, PostgreSQL booleans above numbers),
            # and "25" typed into a form is as much a number as 25.
            return {
                pk
                for pk, traits in people.values_list("pk", "traits").iterator(chunk_size=2000)
                if _trait_compares(traits, name, operator, value)
            }
        people = people.annotate(trait_value=KeyTransform(name, "traits"))
        if operator == "in":
            matches = Q()
            for item in value:
                matches |= _trait_equals(item)
            people = people.filter(matches)
        elif operator == "eq":
            people = people.filter(_trait_equals(value))
        else:
            people = people.exclude(_trait_equals(value))
        return set(people.values_list("pk", flat=True))


def _trait_compares(traits: Any, name: str, operator: str, bound: float | int) -> bool:
    number = numeric(traits.get(name)) if isinstance(traits, dict) else None
    if number is None:
        return False
    return number >= bound if operator == "gte" else number <= bound


def _trait_equals(value: Any) -> Q:
    """A trait equals `value`; a number and its decimal text count as the same value (traits
    arrive from forms as text and from apps as numbers)."""
    variants: list[Any] = [value]
    if isinstance(value, str):
        number = numeric(value)
        if number is not None:
            variants.append(number)
    elif is_number(value):
        variants.append(str(value))
        if isinstance(value, float) and value.is_integer():
            variants.extend([int(value), str(int(value))])
    matches = Q()
    for variant in variants:
        matches |= Q(trait_value=variant)
    return matches
