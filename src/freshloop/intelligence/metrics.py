"""How good a probability model is on held-out people: ranking (ROC AUC, PR-AUC) and
calibration (reliability curve, Brier score), plus the curves the model page draws.

Thin wrappers over scikit-learn's metrics so the registry stores plain numbers and lists; the
tests check them against small cases worked by hand."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

RELIABILITY_BINS = 10
CURVE_POINTS = 50  # the page draws at most this many points per curve


@dataclasses.dataclass(frozen=True)
class ReliabilityBin:
    """People whose predicted probability fell in [low, high): their mean prediction and the
    share of them for whom the event happened."""

    low: float
    high: float
    people: int
    mean_predicted: float
    observed_rate: float


def reliability_curve(
    target: np.ndarray, predicted: np.ndarray, *, bins: int = RELIABILITY_BINS
) -> list[ReliabilityBin]:
    """Equal-width bins over [0, 1]; empty bins are left out (nothing to compare)."""
    edges = np.linspace(0.0, 1.0, bins + 1)
    # The last bin is closed on the right so a prediction of exactly 1.0 is counted.
    index = np.clip(np.searchsorted(edges, predicted, side="right") - 1, 0, bins - 1)
    result = []
    for number in range(bins):
        members = index == number
        count = int(members.sum())
        if count == 0:
            continue
        result.append(
            ReliabilityBin(
                low=float(edges[number]),
                high=float(edges[number + 1]),
                people=count,
                mean_predicted=float(predicted[members].mean()),
                observed_rate=float(target[members].mean()),
            )
        )
    return result


def _thin(xs: np.ndarray, ys: np.ndarray) -> list[list[float]]:
    """At most CURVE_POINTS points of a curve, always keeping both ends."""
    if len(xs) > CURVE_POINTS:
        keep = np.unique(np.linspace(0, len(xs) - 1, CURVE_POINTS).round().astype(int))
        xs, ys = xs[keep], ys[keep]
    return [[round(float(x), 4), round(float(y), 4)] for x, y in zip(xs, ys, strict=True)]


def classification_report(target: np.ndarray, predicted: np.ndarray) -> dict[str, Any]:
    """Metrics and curves of `predicted` probabilities against 0/1 `target`. Needs both
    classes present (the caller checks that before training)."""
    # Imported here, not with the module: scikit-learn costs ~1 s at every process start.
    from sklearn.metrics import (
        average_precision_score,
        brier_score_loss,
        precision_recall_curve,
        roc_auc_score,
        roc_curve,
    )

    target = np.asarray(target, dtype=np.int8)
    predicted = np.asarray(predicted, dtype=np.float64)
    fpr, tpr, _ = roc_curve(target, predicted)
    precision, recall, _ = precision_recall_curve(target, predicted)
    order = np.argsort(-predicted, kind="stable")
    top_decile = order[: max(1, len(order) // 10)]
    base_rate = float(target.mean())
    return {
        "auc": round(float(roc_auc_score(target, predicted)), 4),
        "pr_auc": round(float(average_precision_score(target, predicted)), 4),
        "brier": round(float(brier_score_loss(target, predicted)), 4),
        "base_rate": round(base_rate, 4),
        "lift_top_decile": round(float(target[top_decile].mean()) / base_rate, 2)
        if base_rate
        else None,
        "people": len(target),
        "positives": int(target.sum()),
        "roc": _thin(fpr, tpr),
        "pr": _thin(recall[::-1], precision[::-1]),
        "reliability": [dataclasses.asdict(row) for row in reliability_curve(target, predicted)],
    }
