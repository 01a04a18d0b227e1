"""Retraining into the registry, scoring everyone, rolling back one version."""

from __future__ import annotations

import pytest

from freshloop.core.audit import Actor
from freshloop.core.models import AuditLog
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.predictions.selectors import person_predictions_get
from freshloop.intelligence.errors import ModelKindInvalid, NoPreviousVersion
from freshloop.intelligence.models import ModelVersion, RunOutcome, TrainingRun, VersionStatus
from freshloop.intelligence.services import model_rollback, models_retrain
from tests.intelligence.conftest import NOW
from tests.intelligence.helpers import load_brand

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="数据分析师小李")
FAST_KINDS = ("churn", "propensity", "contact_hour")


def _statuses(kind: str) -> dict[int, str]:
    return dict(ModelVersion.objects.filter(kind=kind).values_list("version", "status"))


class TestModelsRetrain:
    def test_registers_activates_and_scores_every_kind(self, store: EventStore) -> None:
        # given a brand with five months of history
        load_brand(store, people=1_500, now=NOW)
        # when every model is trained
        outcomes = models_retrain(actor=OPERATOR, now=NOW, store=store)
        # then each kind has an active v1 with held-out metrics, and everyone has scores
        assert {o.kind: (o.outcome, o.version) for o in outcomes} == {
            "churn": (RunOutcome.TRAINED, 1),
            "propensity": (RunOutcome.TRAINED, 1),
            "clv": (RunOutcome.TRAINED, 1),
            "contact_hour": (RunOutcome.TRAINED, 1),
        }
        churn = ModelVersion.objects.get(kind="churn")
        assert churn.status == VersionStatus.ACTIVE
        assert churn.trained_by == "数据分析师小李"
        assert churn.metrics["auc"] > 0.7
        assert {"roc", "pr", "reliability", "importance"} <= set(churn.curves)
        assert churn.train_cutoff < churn.eval_cutoff < churn.cutoff
        assert churn.people_scored > 500
        clv = ModelVersion.objects.get(kind="clv")
        assert {"r", "alpha", "a", "b"} <= set(clv.curves["parameters"])
        assert clv.metrics["actual_orders"] > 0
        hours = ModelVersion.objects.get(kind="contact_hour")
        assert hours.metrics["hit_rate"] >= hours.metrics["population_hit_rate"]
        scores = person_predictions_get(person_id=1, store=store)
        assert scores is not None
        assert 0 <= scores["purchase_propensity"] <= 1
        assert scores["propensity_version"] == 1
        assert len(scores["contact_hours"]) == 24
        assert 0 <= scores["best_contact_hour"] <= 23
        assert TrainingRun.objects.filter(outcome=RunOutcome.TRAINED).count() == 4
        assert AuditLog.objects.filter(action="intelligence.model_activate").count() == 4

    def test_a_second_run_keeps_the_first_as_previous(self, store: EventStore) -> None:
        load_brand(store, people=600, now=NOW)
        models_retrain(actor=OPERATOR, kinds=FAST_KINDS, now=NOW, store=store)
        models_retrain(actor=OPERATOR, kinds=FAST_KINDS, now=NOW, store=store)
        models_retrain(actor=OPERATOR, kinds=["churn"], now=NOW, store=store)
        assert _statuses("churn") == {1: "retired", 2: "previous", 3: "active"}
        assert _statuses("propensity") == {1: "previous", 2: "active"}

    def test_too_little_data_is_recorded_and_nothing_changes(self, store: EventStore) -> None:
        # given a brand far too small to learn from
        load_brand(store, people=40, now=NOW)
        # when the models are trained
        outcomes = models_retrain(actor=OPERATOR, now=NOW, store=store)
        # then no version is made; each run says why, in Chinese, with the numbers
        assert ModelVersion.objects.count() == 0
        assert {o.outcome for o in outcomes} == {RunOutcome.TOO_LITTLE_DATA}
        run = TrainingRun.objects.get(kind="churn")
        assert "数据太少" in run.message
        assert run.detail["need_people"] == 100
        assert person_predictions_get(person_id=1, store=store) is None

    def test_unknown_kind_is_refused(self, store: EventStore) -> None:
        with pytest.raises(ModelKindInvalid):
            models_retrain(actor=OPERATOR, kinds=["horoscope"], now=NOW, store=store)
        assert TrainingRun.objects.count() == 0


class TestModelRollback:
    def test_previous_version_scores_again(self, store: EventStore) -> None:
        # given two versions of the propensity model
        load_brand(store, people=600, now=NOW)
        models_retrain(actor=OPERATOR, kinds=["propensity"], now=NOW, store=store)
        first = person_predictions_get(person_id=1, store=store)
        models_retrain(actor=OPERATOR, kinds=["propensity"], now=NOW, store=store)
        # when an operator rolls back
        restored = model_rollback(kind="propensity", actor=OPERATOR, now=NOW, store=store)
        # then v1 is active, v2 retired, and everyone's score is v1's again
        assert restored.version == 1
        assert _statuses("propensity") == {1: "active", 2: "retired"}
        again = person_predictions_get(person_id=1, store=store)
        assert first is not None
        assert again is not None
        assert again["propensity_version"] == 1
        assert again["purchase_propensity"] == first["purchase_propensity"]
        assert AuditLog.objects.filter(action="intelligence.model_rollback").count() == 1
        # and there is nothing further to roll back to
        with pytest.raises(NoPreviousVersion):
            model_rollback(kind="propensity", actor=OPERATOR, now=NOW, store=store)
