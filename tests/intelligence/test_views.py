"""The model registry pages: who may see them, what they show, retrain and rollback."""

from __future__ import annotations

import pytest
from django.test import Client

from freshloop.core.audit import Actor
from freshloop.core.permissions import Role
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.intelligence.models import ModelVersion, TrainingRun, VersionStatus
from freshloop.intelligence.services import models_retrain
from tests.datahub.helpers import console_client
from tests.intelligence.conftest import NOW
from tests.intelligence.helpers import load_brand

pytestmark = pytest.mark.django_db

ANALYST = Actor(type="user", id="1", label="analyst")


@pytest.fixture
def marketer() -> Client:
    return console_client(Role.MARKETER, username="marketer")


class TestModelsPage:
    def test_before_any_training_it_says_what_to_do(
        self, store: EventStore, marketer: Client
    ) -> None:
        page = marketer.get("/console/intelligence/").content.decode()
        assert "尚未训练" in page
        assert "还没有训练过" in page

    def test_shows_versions_metrics_and_the_reason_a_kind_did_not_train(
        self, store: EventStore, marketer: Client
    ) -> None:
        # given trained customer models, and a CLV attempt refused for too little data
        load_brand(store, people=500, now=NOW)
        models_retrain(actor=ANALYST, kinds=["churn", "propensity"], now=NOW, store=store)
        TrainingRun.objects.create(
            kind="clv",
            started_at=NOW,
            finished_at=NOW,
            trigger="tests",
            outcome="too_little_data",
            message="数据太少，暂时无法训练该模型",
            detail={"window": "current", "people": 12, "positives": 3, "need_people": 100},
        )
        # when the marketer opens the page
        response = marketer.get("/console/intelligence/")
        # then each kind's state is there, with numbers and charts
        page = response.content.decode()
        assert response.status_code == 200
        assert 'data-testid="model-link-churn"' in page
        assert "AUC" in page
        assert 'data-testid="last-run-clv"' in page
        assert "至少需要 100 人" in page
        assert 'data-chart="scores"' in page

    def test_other_roles_and_visitors_are_kept_out(self, store: EventStore) -> None:
        assert (
            console_client(Role.CUSTOMER_SERVICE).get("/console/intelligence/").status_code == 403
        )
        response = Client().get("/console/intelligence/")
        assert response.status_code == 302
        assert response["Location"].startswith("/console/login/")


class TestModelPage:
    def test_curves_and_metrics_of_a_version(self, store: EventStore, marketer: Client) -> None:
        load_brand(store, people=500, now=NOW)
        models_retrain(actor=ANALYST, kinds=["churn"], now=NOW, store=store)
        response = marketer.get("/console/intelligence/models/churn/1")
        page = response.content.decode()
        assert response.status_code == 200
        for chart in ("roc", "pr", "reliability", "importance"):
            assert f'data-chart="{chart}"' in page
        assert '"reliability"' in page  # the options block the charts are drawn from
        assert "评估窗口" in page

    def test_an_unknown_version_is_a_404(self, store: EventStore, marketer: Client) -> None:
        assert marketer.get("/console/intelligence/models/churn/9").status_code == 404
        assert marketer.get("/console/intelligence/models/horoscope/1").status_code == 404


class TestRetrainAndRollback:
    def test_retrain_runs_the_job_and_rollback_restores(
        self, store: EventStore, marketer: Client
    ) -> None:
        # given a brand, trained twice from the console (the job runs inline in tests)
        load_brand(store, people=500, now=NOW)
        for _ in range(2):
            response = marketer.post("/console/intelligence/retrain", {"kind": ["propensity"]})
            assert response.status_code == 302
        assert ModelVersion.objects.get(kind="propensity", status=VersionStatus.ACTIVE).version == 2
        assert TrainingRun.objects.filter(kind="propensity").first().trigger == "marketer"  # type: ignore[union-attr]
        # when the marketer rolls back
        response = marketer.post("/console/intelligence/models/propensity/rollback", follow=True)
        # then the job (inline in tests) made v1 score again, and the page says so
        assert "已提交回退到 30天购买概率 v1" in response.content.decode()
        assert ModelVersion.objects.get(kind="propensity", status=VersionStatus.ACTIVE).version == 1

    def test_rollback_without_a_previous_version_says_why(
        self, store: EventStore, marketer: Client
    ) -> None:
        response = marketer.post("/console/intelligence/models/churn/rollback", follow=True)
        assert response.status_code == 200
        assert "没有可回退的上一个版本" in response.content.decode()

    def test_unknown_kinds_are_refused(self, store: EventStore, marketer: Client) -> None:
        response = marketer.post(
            "/console/intelligence/retrain", {"kind": ["horoscope"]}, follow=True
        )
        assert "请选择要训练的模型" in response.content.decode()
        assert marketer.post("/console/intelligence/models/horoscope/rollback").status_code == 404
        assert marketer.get("/console/intelligence/retrain").status_code == 405
