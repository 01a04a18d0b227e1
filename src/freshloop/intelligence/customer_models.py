"""DH-7 churn risk and purchase propensity: LightGBM on the features of `features`, evaluated on
held-out time, explained per person.

The time split (H = horizon, 30 days by default; `now` is the training moment):

    T_train = now − 2H        features as of T_train, labels over (T_train, T_train + H]
    T_eval  = now − H         features as of T_eval,  labels over (T_eval, now]   ← metrics
    now                       features as of now → the scores people get

The model is fitted on the T_train set and scored on the T_eval set: those are the metrics the
registry keeps (AUC, PR-AUC, Brier, reliability). The model that scores people is then refitted
on the T_eval set with the same settings, so it has seen the most recent month; its quality is
the held-out figure's (a standard "evaluate, then refit on the latest window" practice).

Explanations are LightGBM's own per-row feature contributions (`pred_contrib`, TreeSHAP values
in log-odds): the three largest by size, with their direction, are stored with each score.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, Literal

import numpy as np
import pandas as pd

from freshloop.intelligence.errors import TooLittleData
from freshloop.intelligence.features import (
    FEATURE_LABELS,
    FEATURE_NAMES,
    FeatureFrame,
    LabelledSet,
    churn_set,
    feature_value_text,
    propensity_set,
)
from freshloop.intelligence.metrics import classification_report

if TYPE_CHECKING:
    import lightgbm as lgb

# LightGBM (and scikit-learn under it) is imported where a model is fitted or read, not with
# the module: every Django process imports this module at start-up (the jobs, the console's
# URLs), and the two libraries cost ~2 s there.

CustomerModelKind = Literal["churn", "propensity"]
SET_BUILDERS: dict[str, Callable[[FeatureFrame, pd.DataFrame], LabelledSet]] = {
    "churn": churn_set,
    "propensity": propensity_set,
}
MIN_PEOPLE = 100
MIN_PER_CLASS = 10
TOP_REASONS = 3
ROUNDS = 100

# Small trees (15 leaves, depth ≤ 5): the per-person explanations (TreeSHAP) cost grows with
# leaves × depth², and at a million people 31-leaf trees made scoring take ~7 minutes for a
# held-out AUC only ~0.002 better on the benchmark's brand (docs/intelligence.md).
BASE_PARAMS: dict[str, Any] = {
    "objective": "binary",
    "learning_rate": 0.1,
    "num_leaves": 15,
    "max_depth": 5,
    "feature_fraction": 0.9,
    "bagging_fraction": 0.8,
    "bagging_freq": 1,
    "lambda_l2": 1.0,
    "max_cat_to_onehot": 8,
    "num_threads": 2,
    "seed": 17,
    "deterministic": True,
    "verbose": -1,
}


@dataclasses.dataclass(frozen=True)
class TrainedCustomerModel:
    kind: str
    booster: lgb.Booster
    features: list[str]
    params: dict[str, Any]
    rounds: int
    metrics: dict[str, Any]  # held-out report (metrics.classification_report) + train sizes
    importance: list[tuple[str, float]]  # (feature, share of total gain), largest first


def _params_for(rows: int) -> dict[str, Any]:
    # A leaf needs enough people to mean something; on a small brand's few hundred customers
    # the default 20 would let every tree memorise.
    return {**BASE_PARAMS, "min_data_in_leaf": int(max(5, min(100, rows // 200)))}


def _check_enough(kind: str, labelled: LabelledSet, which: str) -> None:
    people = len(labelled.target)
    positives = int(labelled.target.sum())
    negatives = people - positives
    if people < MIN_PEOPLE or positives < MIN_PER_CLASS or negatives < MIN_PER_CLASS:
        raise TooLittleData(
            detail={
                "model": kind,
                "window": which,
                "people": people,
                "positives": positives,
                "negatives": negatives,
                "need_people": MIN_PEOPLE,
                "need_each_class": MIN_PER_CLASS,
            }
        )


def _fit(labelled: LabelledSet, params: dict[str, Any], rounds: int) -> lgb.Booster:
    import lightgbm as lgb

    dataset = lgb.Dataset(labelled.features, label=labelled.target.to_numpy(), free_raw_data=True)
    return lgb.train(params, dataset, num_boost_round=rounds)


def customer_model_train(
    kind: str,
    *,
    train_features: FeatureFrame,
    train_labels: pd.DataFrame,
    eval_features: FeatureFrame,
    eval_labels: pd.DataFrame,
    rounds: int = ROUNDS,
) -> TrainedCustomerModel:
    """Fit on the earlier window, report on the later one, refit on the later one."""
    build = SET_BUILDERS[kind]
    train = build(train_features, train_labels)
    held_out = build(eval_features, eval_labels)
    _check_enough(kind, train, "train")
    _check_enough(kind, held_out, "eval")
    params = _params_for(len(train.target))
    evaluated = _fit(train, params, rounds)
    report = classification_report(
        held_out.target.to_numpy(), np.asarray(evaluated.predict(held_out.features))
    )
    report["train_people"] = len(train.target)
    report["train_positives"] = int(train.target.sum())
    final_params = _params_for(len(held_out.target))
    final = _fit(held_out, final_params, rounds)
    gains = final.feature_importance(importance_type="gain")
    total = float(gains.sum()) or 1.0
    importance = sorted(
        (
            (name, round(float(gain) / total, 4))
            for name, gain in zip(FEATURE_NAMES, gains, strict=True)
        ),
        key=lambda item: -item[1],
    )
    return TrainedCustomerModel(
        kind=kind,
        booster=final,
        features=list(FEATURE_NAMES),
        params=final_params,
        rounds=rounds,
        metrics=report,
        importance=importance,
    )


def scoring_population(kind: str, features: FeatureFrame) -> pd.DataFrame:
    """Who gets a score: churn risk only means something for someone who has bought."""
    frame = features.frame
    if kind == "churn":
        return frame[frame["days_since_order"].notna()]
    return frame


@dataclasses.dataclass(frozen=True)
class Scores:
    person_ids: np.ndarray
    probability: np.ndarray
    reasons: list[str]  # JSON per person: [{"feature", "label", "value", "effect"}], top first


def customer_model_score(booster: lgb.Booster, kind: str, features: FeatureFrame) -> Scores:
    """Probabilities and the top reasons of everyone in the kind's population."""
    frame = scoring_population(kind, features)
    if frame.empty:
        return Scores(person_ids=np.array([], dtype=np.int64), probability=np.array([]), reasons=[])
    columns = booster.feature_name()
    frame = frame[columns]
    probability = booster.predict(frame)
    contributions = np.asarray(booster.predict(frame, pred_contrib=True))[:, : len(columns)]
    top = np.argsort(-np.abs(contributions), axis=1)[:, :TOP_REASONS]
    values = frame.to_numpy(dtype=object)
    reasons = []
    for row in range(len(frame)):
        reasons.append(
            json.dumps(
                [
                    {
                        "feature": columns[column],
                        "label": FEATURE_LABELS.get(columns[column], columns[column]),
                        "value": feature_value_text(columns[column], values[row, column]),
                        "effect": round(float(contributions[row, column]), 3),
                    }
                    for column in top[row]
                    if contributions[row, column] != 0
                ],
                ensure_ascii=False,
            )
        )
    return Scores(
        person_ids=frame.index.to_numpy(dtype=np.int64),
        probability=np.asarray(probability, dtype=np.float64),
        reasons=reasons,
    )


def booster_to_text(booster: lgb.Booster) -> str:
    return str(booster.model_to_string())


def booster_from_text(text: str) -> lgb.Booster:
    import lightgbm as lgb

    return lgb.Booster(model_str=text)


def training_moments(now: dt.datetime, horizon_days: int) -> tuple[dt.datetime, dt.datetime]:
    """(T_train, T_eval) for a training run at `now`."""
    horizon = dt.timedelta(days=horizon_days)
    return now - 2 * horizon, now - horizon
