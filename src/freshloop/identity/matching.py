"""Probabilistic matching (splink on DuckDB): people who probably are one, for review.

Deterministic resolution only joins people who share an identifier. Customers also arrive
twice without one — a new phone, a gift order under their name. Each active person becomes a
record of name, address, masked phone and city (decrypted in memory only, never written out);
splink's Fellegi–Sunter model scores the pairs that share a blocking key, and pairs above the
threshold wait in the review queue. m probabilities are set from domain knowledge (a small
brand has too few true matches for EM to learn them); u probabilities are estimated from the
brand's own people by random sampling.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from django.db import IntegrityError, transaction

from freshloop.core import clock, crypto
from freshloop.core.audit import Actor, audit_record
from freshloop.core.errors import Conflict
from freshloop.identity.locks import match_candidate_lock
from freshloop.identity.models import (
    Identifier,
    IdentifierLink,
    IdentifierType,
    MatchCandidate,
    MatchStatus,
    Person,
    PersonStatus,
)
from freshloop.identity.partition import partition
from freshloop.identity.resolver import component_load_locked, partition_apply

logger = logging.getLogger(__name__)

DEFAULT_THRESHOLD = 0.9


def _record(person: Person, phone_by_person: dict[int, str]) -> dict[str, Any] | None:
    private = person.private_traits or {}
    name = str(private.get("name") or private.get("real_name") or "").strip()
    address = str(private.get("address") or "").strip()
    if not name and not address:
        return None  # nothing a human would compare either
    phone = phone_by_person.get(person.pk)
    return {
        "unique_id": person.pk,
        "name": name or None,
        "address": address or None,
        "masked_phone": crypto.mask_phone(phone) if phone else None,
        "city": str(person.traits.get("city") or "") or None,
    }


def _records() -> list[dict[str, Any]]:
    phones = {
        identifier.person_id: identifier.value
        for identifier in Identifier.objects.filter(
            type=IdentifierType.PHONE, person__status=PersonStatus.ACTIVE
        ).only("person_id", "value")
    }
    records = []
    # A stable order: splink samples pairs to estimate u probabilities, and the same people
    # must give the same scores whatever order the database returns rows in.
    for person in (
        Person.objects.filter(status=PersonStatus.ACTIVE)
        .only("pk", "private_traits", "traits")
        .order_by("pk")
    ):
        record = _record(person, phones)
        if record is not None:
            records.append(record)
    return records


def score_pairs(records: list[dict[str, Any]], *, threshold: float) -> list[dict[str, Any]]:
    """Score candidate pairs with splink; returns pairs at or above `threshold`."""
    if len(records) < 2:
        return []
    import splink.comparison_library as cl
    from splink import Linker, SettingsCreator, block_on
    from splink.backends.duckdb import DuckDBAPI

    settings = SettingsCreator(
        link_type="dedupe_only",
        comparisons=[
            # levels: exact, Jaro-Winkler >= 0.9, >= 0.8, else
            cl.JaroWinklerAtThresholds("name", [0.9, 0.8]).configure(
                m_probabilities=[0.8, 0.1, 0.05, 0.05]
            ),
            cl.JaroWinklerAtThresholds("address", [0.9, 0.8]).configure(
                m_probabilities=[0.5, 0.3, 0.1, 0.1]
            ),
            cl.ExactMatch("masked_phone").configure(m_probabilities=[0.9, 0.1]),
            cl.ExactMatch("city").configure(m_probabilities=[0.9, 0.1]),
        ],
        blocking_rules_to_generate_predictions=[
            block_on("masked_phone"),
            block_on("name"),
            block_on("city", "address"),
        ],
        probability_two_random_records_match=1 / max(len(records), 1000),
        retain_intermediate_calculation_columns=False,
    )
    # splink samples pairs by record id to estimate u probabilities: scoring positions (0..n-1
    # in the records' stable order) instead of person ids makes the same people score the
    # same whatever ids the database gave them (ids with gaps moved a pair from 0.90 to 0.915).
    person_ids = [record["unique_id"] for record in records]
    positioned = [{**record, "unique_id": index} for index, record in enumerate(records)]
    database = DuckDBAPI()
    linker = Linker(database.register(positioned), settings, log_level=logging.ERROR)
    linker.training.estimate_u_using_random_sampling(max_pairs=2e5, seed=20260112)
    predictions = linker.inference.predict(threshold_match_probability=threshold)
    pairs = list(predictions.as_record_list())
    for pair in pairs:
        pair["unique_id_l"] = person_ids[int(pair["unique_id_l"])]
        pair["unique_id_r"] = person_ids[int(pair["unique_id_r"])]
    return pairs


@dataclass(frozen=True)
class MatchRunReport:
    people_compared: int
    pairs_scored: int
    candidates_created: int


def match_candidates_generate(
    *, actor: Actor, threshold: float = DEFAULT_THRESHOLD
) -> MatchRunReport:
    """Find likely duplicates and queue them; decided pairs are never proposed again."""
    records = _records()
    pairs = score_pairs(records, threshold=threshold)
    now = clock.now()
    created = 0
    for pair in pairs:
        a, b = sorted((int(pair["unique_id_l"]), int(pair["unique_id_r"])))
        if MatchCandidate.objects.filter(person_a_id=a, person_b_id=b).exists():
            continue  # pending, accepted or rejected before: the decision stands
        evidence = {
            field: pair.get(f"gamma_{field}")
            for field in ("name", "address", "masked_phone", "city")
            if pair.get(f"gamma_{field}") is not None
        }
        try:
            with transaction.atomic():
                MatchCandidate.objects.create(
                    person_a_id=a,
                    person_b_id=b,
                    score=float(pair["match_probability"]),
                    match_weight=float(pair["match_weight"]),
                    evidence=evidence,
                    created_at=now,
                )
            created += 1
        except IntegrityError:
            continue  # a concurrent run queued it first
    report = MatchRunReport(
        people_compared=len(records), pairs_scored=len(pairs), candidates_created=created
    )
    audit_record(
        actor=actor,
        action="identity.match_run",
        target_type="identity.MatchCandidate",
        target_id="run",
        after=report.__dict__,
    )
    return report


def match_candidate_accept(*, actor: Actor, candidate_id: int) -> Person:
    """Merge the pair: the operator's decision becomes evidence (a link), so a rebuild keeps it,
    and the merge record names the decision and the candidate's score and compared fields."""
    with transaction.atomic():
        candidate = match_candidate_lock(candidate_id)
        if candidate.status != MatchStatus.PENDING:
            raise Conflict("该候选已处理", detail={"status": candidate.status})
        a, b = candidate.person_a, candidate.person_b
        if a.status != PersonStatus.ACTIVE or b.status != PersonStatus.ACTIVE:
            raise Conflict("其中一位用户已被合并或删除，请刷新后重试")
        left = Identifier.objects.filter(person=a).order_by("pk").first()
        right = Identifier.objects.filter(person=b).order_by("pk").first()
        if left is None or right is None:
            raise Conflict("用户没有可关联的身份标识")
        low, high = sorted((left.pk, right.pk))
        IdentifierLink.objects.get_or_create(
            left_id=low,
            right_id=high,
            defaults={"source": "operator", "first_seen_at": clock.now()},
        )
        component, people = component_load_locked([left.pk, right.pk])
        result = partition(component.nodes(), component.links, component.splits)
        outcome = partition_apply(
            component=component,
            result=result,
            people=people,
            reason="review",
            source="operator",
            actor=actor,
            decision=candidate,
        )
        survivor = outcome.group_person[left.pk]
        if outcome.group_person[right.pk].pk != survivor.pk:
            # The merge rules refuse it (two different phones, an earlier split); raising rolls
            # the operator link back.
            raise Conflict("两位用户持有不同的手机号等唯一标识，不能合并；请在冲突列表中处理")
        candidate.status = MatchStatus.ACCEPTED
        candidate.decided_at = clock.now()
        candidate.decided_by = actor.label
        candidate.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record(
            actor=actor,
            action="match.accept",
            target=candidate,
            after={"into_one_id": survivor.one_id},
        )
        return survivor


def match_candidate_reject(*, actor: Actor, candidate_id: int) -> None:
    with transaction.atomic():
        candidate = match_candidate_lock(candidate_id)
        if candidate.status != MatchStatus.PENDING:
            raise Conflict("该候选已处理", detail={"status": candidate.status})
        candidate.status = MatchStatus.REJECTED
        candidate.decided_at = clock.now()
        candidate.decided_by = actor.label
        candidate.save(update_fields=["status", "decided_at", "decided_by"])
        audit_record(actor=actor, action="match.reject", target=candidate)
