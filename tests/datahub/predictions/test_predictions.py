"""The intelligence module's scores in the event store: written one model kind at a time, read
per person (following OneID merges), tested in segments and shown on the profile."""

from __future__ import annotations

import datetime as dt
import json
from typing import Any

import pyarrow as pa
import pytest
from django.test import Client

from freshloop.core.audit import Actor
from freshloop.core.errors import InvalidInput
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EVENT_SCHEMA, EventStore
from freshloop.datahub.predictions.selectors import (
    hour_histogram,
    person_predictions_get,
    prediction_histogram,
)
from freshloop.datahub.predictions.services import person_predictions_write
from freshloop.datahub.segments.errors import SegmentInvalid
from freshloop.datahub.segments.grammar import segment_validate
from freshloop.datahub.segments.selectors import segment_evaluate
from freshloop.identity.privacy import person_erase
from tests.datahub.helpers import console_client
from tests.factories import make_person

pytestmark = pytest.mark.django_db

AT = dt.datetime(2026, 12, 1, 19, 30, tzinfo=dt.UTC)


def _propensity(rows: list[tuple[int, float]], version: int = 1) -> pa.Table:
    return pa.table(
        {
            "person_id": pa.array([person for person, _ in rows], pa.int64()),
            "purchase_propensity": pa.array([score for _, score in rows]),
            "propensity_reasons": pa.array(
                [
                    json.dumps(
                        [
                            {
                                "feature": "orders_30d",
                                "label": "近30天订单数",
                                "value": "2",
                                "effect": 0.4,
                            }
                        ]
                    )
                ]
                * len(rows)
            ),
            "propensity_version": pa.array([version] * len(rows), pa.int32()),
        }
    )


def _churn(rows: list[tuple[int, float]]) -> pa.Table:
    return pa.table(
        {
            "person_id": pa.array([person for person, _ in rows], pa.int64()),
            "churn_risk": pa.array([score for _, score in rows]),
            "churn_reasons": pa.array(
                [
                    json.dumps(
                        [
                            {
                                "feature": "days_since_event",
                                "label": "距上次互动(天)",
                                "value": "40",
                                "effect": 1.2,
                            }
                        ]
                    )
                ]
                * len(rows)
            ),
            "churn_version": pa.array([1] * len(rows), pa.int32()),
        }
    )


def _clv(rows: list[tuple[int, int, float]]) -> pa.Table:
    return pa.table(
        {
            "person_id": pa.array([row[0] for row in rows], pa.int64()),
            "clv_fen": pa.array([row[1] for row in rows], pa.int64()),
            "clv_percentile": pa.array([row[2] for row in rows]),
            "expected_orders_365d": pa.array([3.5] * len(rows)),
            "probability_alive": pa.array([0.8] * len(rows)),
            "clv_version": pa.array([1] * len(rows), pa.int32()),
        }
    )


def _hours(person_id: int, best: int) -> pa.Table:
    shares = [0.02] * 24
    shares[best] = 0.54
    return pa.table(
        {
            "person_id": pa.array([person_id], pa.int64()),
            "best_contact_hour": pa.array([best], pa.int8()),
            "contact_hours": pa.array([shares], pa.list_(pa.float64())),
            "contact_events": pa.array([12], pa.int32()),
            "contact_hour_version": pa.array([1], pa.int32()),
        }
    )


class TestPersonPredictionsWrite:
    def test_replaces_only_its_own_kind(self, store: EventStore) -> None:
        # given churn and propensity scores for two people
        person_predictions_write(kind="churn", scores=_churn([(1, 0.9), (2, 0.1)]), store=store)
        person_predictions_write(
            kind="propensity", scores=_propensity([(1, 0.2), (2, 0.6)]), store=store
        )
        # when a new propensity run scores only person 2 (person 1 left the population)
        written = person_predictions_write(
            kind="propensity",
            scores=_propensity([(2, 0.7)], version=2),
            store=store,
            computed_at=AT,
        )
        # then person 1 keeps the churn risk but loses the stale propensity
        assert written == 1
        first = person_predictions_get(person_id=1, store=store)
        second = person_predictions_get(person_id=2, store=store)
        assert first is not None
        assert second is not None
        assert first["churn_risk"] == 0.9
        assert first["purchase_propensity"] is None
        assert second["purchase_propensity"] == 0.7
        assert second["propensity_version"] == 2
        assert second["propensity_reasons"][0]["label"] == "近30天订单数"
        assert second["computed_at"] == AT

    def test_a_person_with_no_kind_left_disappears(self, store: EventStore) -> None:
        person_predictions_write(kind="propensity", scores=_propensity([(1, 0.2)]), store=store)
        person_predictions_write(kind="propensity", scores=_propensity([]), store=store)
        assert person_predictions_get(person_id=1, store=store) is None

    def test_wrong_columns_or_kind_are_refused(self, store: EventStore) -> None:
        with pytest.raises(InvalidInput):
            person_predictions_write(kind="propensity", scores=_churn([(1, 0.5)]), store=store)
        with pytest.raises(InvalidInput):
            person_predictions_write(kind="astrology", scores=_churn([(1, 0.5)]), store=store)
        assert person_predictions_get(person_id=1, store=store) is None


class TestPersonPredictionsGet:
    def test_a_merged_away_id_reads_the_survivor(self, store: EventStore) -> None:
        # given a survivor's scores, and the store's person map saying 41 merged into 40
        person_predictions_write(kind="propensity", scores=_propensity([(40, 0.4)]), store=store)
        store.append(EVENT_SCHEMA.empty_table(), merges=[(41, 40, AT)])
        # when the merged-away id is looked up, then the survivor's scores are found
        found = person_predictions_get(person_id=41, store=store)
        assert found is not None
        assert found["person_id"] == 40

    def test_nobody_scored_is_none(self, store: EventStore) -> None:
        assert person_predictions_get(person_id=5, store=store) is None


class TestHistograms:
    def test_counts_people_per_bin_and_hour(self, store: EventStore) -> None:
        person_predictions_write(
            kind="churn", scores=_churn([(1, 0.05), (2, 0.95), (3, 1.0)]), store=store
        )
        person_predictions_write(kind="contact_hour", scores=_hours(1, 20), store=store)
        bins = prediction_histogram(column="churn_risk", store=store)
        assert [count for _, _, count in bins] == [1, 0, 0, 0, 0, 0, 0, 0, 0, 2]
        assert hour_histogram(store=store)[20] == 1


class TestSegmentsOnPredictions:
    def test_churn_risk_and_clv_top_fifth(self, store: EventStore) -> None:
        # given four customers with scores
        people = [make_person() for _ in range(4)]
        ids = [person.pk for person in people]
        person_predictions_write(
            kind="churn",
            scores=_churn([(ids[0], 0.8), (ids[1], 0.75), (ids[2], 0.2), (ids[3], 0.9)]),
            store=store,
        )
        person_predictions_write(
            kind="clv",
            scores=_clv([(ids[0], 90_000, 95.0), (ids[1], 5_000, 40.0), (ids[2], 80_000, 85.0)]),
            store=store,
        )
        # when a segment asks for churn risk ≥ 0.7 and CLV in the top 20 %
        definition = segment_validate(
            {
                "op": "and",
                "rules": [
                    {"kind": "tag", "field": "churn_risk", "operator": "gte", "value": 0.7},
                    {"kind": "tag", "field": "clv_percentile", "operator": "gte", "value": 80},
                ],
            }
        )
        # then only the valuable customer at risk is selected
        assert segment_evaluate(definition=definition, store=store) == {ids[0]}

    def test_an_unknown_prediction_field_is_refused(self) -> None:
        with pytest.raises(SegmentInvalid):
            segment_validate(
                {
                    "op": "and",
                    "rules": [
                        {"kind": "tag", "field": "churn_risk; DROP", "operator": "gte", "value": 1}
                    ],
                }
            )


class TestProfilePredictions:
    def test_the_profile_shows_scores_reasons_and_hours(self, store: EventStore) -> None:
        person = make_person()
        person_predictions_write(kind="churn", scores=_churn([(person.pk, 0.82)]), store=store)
        person_predictions_write(kind="clv", scores=_clv([(person.pk, 123_400, 96.0)]), store=store)
        person_predictions_write(kind="contact_hour", scores=_hours(person.pk, 20), store=store)
        client: Client = console_client(Role.CUSTOMER_SERVICE)

        page = client.get(f"/console/data/people/{person.one_id}").content.decode()

        assert "82%（高）" in page
        assert "距上次互动(天)：40" in page
        assert "↑ 推高" in page
        assert "¥1,234.00（前 4%）" in page
        assert "20:00–21:00（依据 12 次互动）" in page
        assert page.count('<div class="hour"') + page.count('<div class="hour best"') == 24
        assert 'class="hour best"' in page


class TestErasure:
    def test_an_erased_persons_scores_go_and_are_never_written_again(
        self, store: EventStore, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given two scored customers
        erased, other = make_person(phone="13800138111"), make_person(phone="13800138112")
        person_predictions_write(
            kind="churn", scores=_churn([(erased.pk, 0.9), (other.pk, 0.3)]), store=store
        )
        # when one is erased (PIPL; the subscriber runs as the worker would)
        with django_capture_on_commit_callbacks(execute=True):
            person_erase(
                actor=Actor(type="user", id="9", label="客服小李"),
                one_id=erased.one_id,
                reason="用户申请注销",
            )
        # then their scores are gone, the other's stay
        assert person_predictions_get(person_id=erased.pk, store=store) is None
        assert person_predictions_get(person_id=other.pk, store=store) is not None
        # and a later retrain that scores their tombstone id again writes nothing for them
        written = person_predictions_write(
            kind="churn", scores=_churn([(erased.pk, 0.8), (other.pk, 0.2)]), store=store
        )
        assert written == 1
        assert person_predictions_get(person_id=erased.pk, store=store) is None
