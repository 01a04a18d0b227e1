"""Metrics of a probability model, checked against small cases worked by hand."""

from __future__ import annotations

import numpy as np
import pytest

from freshloop.intelligence.metrics import classification_report, reliability_curve

TARGET = np.array([0, 0, 1, 1])
PREDICTED = np.array([0.1, 0.4, 0.35, 0.8])


class TestClassificationReport:
    def test_hand_computed_case(self) -> None:
        report = classification_report(TARGET, PREDICTED)
        # AUC: of the 4 (positive, negative) pairs, 3 are ranked right: (0.35 > 0.1),
        # (0.8 > 0.1), (0.8 > 0.4); (0.35 < 0.4) is wrong.
        assert report["auc"] == 0.75
        # Average precision: ranked 0.8 (hit, P=1, R=.5), 0.4 (miss), 0.35 (hit, P=2/3, R=1).
        assert report["pr_auc"] == pytest.approx(0.5 * 1 + 0.5 * 2 / 3, abs=1e-4)
        # Brier: mean of (0.1², 0.4², 0.65², 0.2²).
        assert report["brier"] == pytest.approx((0.01 + 0.16 + 0.4225 + 0.04) / 4, abs=1e-4)
        assert report["base_rate"] == 0.5
        assert (report["people"], report["positives"]) == (4, 2)
        # The top decile (one person, 0.8) is a positive: twice the base rate.
        assert report["lift_top_decile"] == 2.0
        assert report["roc"][0] == [0.0, 0.0]
        assert report["roc"][-1] == [1.0, 1.0]

    def test_a_perfect_ranking_scores_one(self) -> None:
        report = classification_report(np.array([0, 1, 0, 1]), np.array([0.2, 0.9, 0.1, 0.7]))
        assert report["auc"] == 1.0
        assert report["pr_auc"] == 1.0

    def test_curves_are_thinned_for_the_page(self) -> None:
        rng = np.random.default_rng(1)
        target = rng.integers(0, 2, size=5_000)
        report = classification_report(target, rng.random(5_000))
        assert len(report["roc"]) <= 50
        assert 0.45 < report["auc"] < 0.55  # a random score ranks at chance


class TestReliabilityCurve:
    def test_bins_hold_mean_prediction_and_observed_rate(self) -> None:
        rows = reliability_curve(
            np.array([0, 1, 1, 0, 1]), np.array([0.05, 0.15, 0.95, 1.0, 0.92]), bins=10
        )
        assert [(row.low, row.people) for row in rows] == [(0.0, 1), (0.1, 1), (0.9, 3)]
        last = rows[-1]
        assert last.mean_predicted == pytest.approx((0.95 + 1.0 + 0.92) / 3)
        assert last.observed_rate == pytest.approx(2 / 3)
