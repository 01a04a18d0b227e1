"""Churn and propensity models: trained on one window, scored on the next, explained."""

from __future__ import annotations

import json

import numpy as np
import pytest
from sklearn.metrics import roc_auc_score

from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.intelligence.customer_models import (
    booster_from_text,
    booster_to_text,
    customer_model_score,
    customer_model_train,
    training_moments,
)
from freshloop.intelligence.errors import TooLittleData
from freshloop.intelligence.features import FEATURE_LABELS, churn_set, features_at, labels_between
from freshloop.intelligence.synthetic import SyntheticBrand
from tests.intelligence.conftest import NOW
from tests.intelligence.helpers import load_brand


def _windows(store: EventStore) -> dict[str, object]:
    train_cutoff, eval_cutoff = training_moments(NOW, 30)
    with store.connect() as connection:
        return {
            "train_features": features_at(connection, cutoff=train_cutoff),
            "train_labels": labels_between(connection, cutoff=train_cutoff, until=eval_cutoff),
            "eval_features": features_at(connection, cutoff=eval_cutoff),
            "eval_labels": labels_between(connection, cutoff=eval_cutoff, until=NOW),
        }


@pytest.fixture
def brand(store: EventStore) -> SyntheticBrand:
    return load_brand(store, people=3_000, now=NOW)


class TestCustomerModelTrain:
    @pytest.mark.parametrize("kind", ["churn", "propensity"])
    def test_learns_the_planted_truth_on_held_out_time(
        self, store: EventStore, brand: SyntheticBrand, kind: str
    ) -> None:
        # given a brand whose activity is planted, and windows split at NOW − 60 / NOW − 30 days
        windows = _windows(store)
        # when the model is trained
        trained = customer_model_train(kind, **windows, rounds=60)  # type: ignore[arg-type]
        # then its held-out AUC is far above chance and near what the planted truth scores
        eval_features = windows["eval_features"]
        assert trained.metrics["auc"] > 0.7
        assert trained.metrics["people"] > 1_000
        assert 0 < trained.metrics["base_rate"] < 1
        assert trained.importance[0][1] > 0
        if kind == "churn":
            held_out = churn_set(eval_features, windows["eval_labels"])  # type: ignore[arg-type]
            start = brand.day_index(NOW.replace(tzinfo=None)) - 30
            planted = brand.planted_churn(start, brand.days)[held_out.features.index - 1]
            oracle = roc_auc_score(held_out.target, planted)
            assert trained.metrics["auc"] > 0.8 * oracle

    def test_too_little_data_says_which_window_fell_short(self, store: EventStore) -> None:
        load_brand(store, people=60, now=NOW)
        with pytest.raises(TooLittleData) as raised:
            customer_model_train("propensity", **_windows(store))  # type: ignore[arg-type]
        assert raised.value.status == 409
        assert raised.value.detail["model"] == "propensity"
        assert raised.value.detail["need_people"] == 100
        assert "数据太少" in raised.value.text


class TestCustomerModelScore:
    def test_scores_with_reasons_and_survives_a_round_trip(
        self, store: EventStore, brand: SyntheticBrand
    ) -> None:
        windows = _windows(store)
        trained = customer_model_train("churn", **windows, rounds=30)  # type: ignore[arg-type]
        with store.connect() as connection:
            current = features_at(connection, cutoff=NOW)
        scores = customer_model_score(trained.booster, "churn", current)
        # only past buyers get a churn risk
        buyers = current.frame["days_since_order"].notna()
        assert len(scores.person_ids) == int(buyers.sum())
        assert ((scores.probability >= 0) & (scores.probability <= 1)).all()
        reasons = json.loads(scores.reasons[0])
        assert 1 <= len(reasons) <= 3
        assert reasons[0]["label"] == FEATURE_LABELS[reasons[0]["feature"]]
        effects = [abs(reason["effect"]) for reason in reasons]
        assert effects == sorted(effects, reverse=True)
        # a stored model scores exactly as the one in memory
        again = customer_model_score(
            booster_from_text(booster_to_text(trained.booster)), "churn", current
        )
        np.testing.assert_allclose(again.probability, scores.probability)
