"""The writes of the intelligence module (DH-7): retraining the customer models into the
registry, scoring everyone, rolling a model kind back one version.

One retrain of a kind = one `TrainingRun` row, and, when there was enough data, one new ACTIVE
`ModelVersion` (the old active becomes PREVIOUS, the old previous RETIRED) whose scores replace
that kind's columns in the event store's `person_predictions` — in one database transaction:
if the scores cannot be written, the registry does not change either. A kind without enough
data records why (TooLittleData) and leaves the previous version scoring; the other kinds still
train.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import json
import logging
import time
from collections.abc import Callable, Sequence
from typing import Any

import numpy as np
import pandas as pd
import pyarrow as pa
from django.db import transaction
from django.db.models import Max

from freshloop.core import clock
from freshloop.core.audit import Actor, audit_record
from freshloop.datahub.eventstore.selectors import EventStore, event_store
from freshloop.datahub.predictions.services import person_predictions_write
from freshloop.intelligence import clv
from freshloop.intelligence.clv_data import clv_evaluate, clv_fit_checked, paid_orders_before
from freshloop.intelligence.contact_hours import (
    LOOKBACK_DAYS,
    PRIOR_STRENGTH,
    HourProfiles,
    hour_evaluation,
    hour_profiles,
    hourly_counts,
)
from freshloop.intelligence.customer_models import (
    TrainedCustomerModel,
    booster_from_text,
    booster_to_text,
    customer_model_score,
    customer_model_train,
    training_moments,
)
from freshloop.intelligence.errors import ModelKindInvalid, NoPreviousVersion, TooLittleData
from freshloop.intelligence.features import FeatureFrame, features_at, labels_between
from freshloop.intelligence.locks import kind_versions_lock
from freshloop.intelligence.models import (
    ModelKind,
    ModelVersion,
    RunOutcome,
    TrainingRun,
    VersionStatus,
)

logger = logging.getLogger(__name__)

HORIZON_DAYS = 30
MIN_CONTACT_PEOPLE = 100
ALL_KINDS: tuple[str, ...] = tuple(ModelKind.values)


class TrainingData:
    """The data of one training moment, each piece read from the event store once and only
    when a model asks for it (every read holds the store's lock only for its own query)."""

    def __init__(self, *, store: EventStore, now: dt.datetime, horizon_days: int) -> None:
        self.store = store
        self.now = now
        self.horizon_days = horizon_days
        self.train_cutoff, self.eval_cutoff = training_moments(now, horizon_days)

    def _features(self, cutoff: dt.datetime) -> FeatureFrame:
        with self.store.connect() as connection:
            return features_at(connection, cutoff=cutoff)

    def _labels(self, cutoff: dt.datetime, until: dt.datetime) -> pd.DataFrame:
        with self.store.connect() as connection:
            return labels_between(connection, cutoff=cutoff, until=until)

    @functools.cached_property
    def train_features(self) -> FeatureFrame:
        return self._features(self.train_cutoff)

    @functools.cached_property
    def train_labels(self) -> pd.DataFrame:
        return self._labels(self.train_cutoff, self.eval_cutoff)

    @functools.cached_property
    def eval_features(self) -> FeatureFrame:
        return self._features(self.eval_cutoff)

    @functools.cached_property
    def eval_labels(self) -> pd.DataFrame:
        return self._labels(self.eval_cutoff, self.now)

    @functools.cached_property
    def current_features(self) -> FeatureFrame:
        return self._features(self.now)

    def hourly(self, *, until: dt.datetime, days: int = LOOKBACK_DAYS) -> Any:
        with self.store.connect() as connection:
            return hourly_counts(connection, since=until - dt.timedelta(days=days), until=until)

    def paid_orders(self, *, until: dt.datetime) -> pd.DataFrame:
        with self.store.connect() as connection:
            return paid_orders_before(connection, cutoff=until)


@dataclasses.dataclass
class TrainedVersion:
    """What a trainer hands to the registry: the version's record and everyone's scores
    (without the version column, which the registry adds once it has a number)."""

    features: list[str]
    params: dict[str, Any]
    metrics: dict[str, Any]
    curves: dict[str, Any]
    artifact: str
    scores: dict[str, Any]  # column → array, `person_id` first
    train_cutoff: dt.datetime | None = None
    eval_cutoff: dt.datetime | None = None


# --- trainers and re-scorers, per kind ------------------------------------------------------


def _customer_scores(kind: str, booster: Any, features: FeatureFrame) -> dict[str, Any]:
    scores = customer_model_score(booster, kind, features)
    value_column, reasons_column = (
        ("churn_risk", "churn_reasons")
        if kind == "churn"
        else ("purchase_propensity", "propensity_reasons")
    )
    return {
        "person_id": scores.person_ids,
        value_column: np.round(scores.probability, 4),
        reasons_column: scores.reasons,
    }


def _train_customer_model(kind: str, data: TrainingData) -> TrainedVersion:
    trained: TrainedCustomerModel = customer_model_train(
        kind,
        train_features=data.train_features,
        train_labels=data.train_labels,
        eval_features=data.eval_features,
        eval_labels=data.eval_labels,
    )
    curves = {key: trained.metrics.pop(key) for key in ("roc", "pr", "reliability")}
    curves["importance"] = [list(item) for item in trained.importance]
    return TrainedVersion(
        features=trained.features,
        params={**trained.params, "rounds": trained.rounds},
        metrics=trained.metrics,
        curves=curves,
        artifact=booster_to_text(trained.booster),
        scores=_customer_scores(kind, trained.booster, data.current_features),
        train_cutoff=data.train_cutoff,
        eval_cutoff=data.eval_cutoff,
    )


def _rescore_customer_model(version: ModelVersion, data: TrainingData) -> dict[str, Any]:
    return _customer_scores(
        version.kind, booster_from_text(version.artifact), data.current_features
    )


def _contact_scores(profiles: HourProfiles) -> dict[str, Any]:
    return {
        "person_id": profiles.person_ids,
        "best_contact_hour": profiles.best_hour.astype(np.int8),
        "contact_hours": [np.round(row, 4).tolist() for row in profiles.profiles],
        "contact_events": profiles.responses.astype(np.int32),
    }


def _train_contact_hour(kind: str, data: TrainingData) -> TrainedVersion:
    current = data.hourly(until=data.now)
    if len(current.person_ids) < MIN_CONTACT_PEOPLE:
        raise TooLittleData(
            detail={
                "model": kind,
                "window": "current",
                "people": len(current.person_ids),
                "need_people": MIN_CONTACT_PEOPLE,
            }
        )
    fitted = hour_profiles(data.hourly(until=data.eval_cutoff))
    evaluation = hour_evaluation(fitted, data.hourly(until=data.now, days=data.horizon_days))
    profiles = hour_profiles(current)
    return TrainedVersion(
        features=["responses_by_local_hour", "segment:preferred_channel"],
        params={"prior_strength": PRIOR_STRENGTH, "lookback_days": LOOKBACK_DAYS},
        metrics={**evaluation, "people_with_responses": len(current.person_ids)},
        curves={"segment_patterns": profiles.segment_patterns},
        artifact=json.dumps({"prior_strength": PRIOR_STRENGTH, "lookback_days": LOOKBACK_DAYS}),
        scores=_contact_scores(profiles),
        eval_cutoff=data.eval_cutoff,
    )


def _rescore_contact_hour(version: ModelVersion, data: TrainingData) -> dict[str, Any]:
    settings = json.loads(version.artifact)
    counts = data.hourly(until=data.now, days=int(settings["lookback_days"]))
    return _contact_scores(hour_profiles(counts, prior_strength=float(settings["prior_strength"])))


def _clv_scores(fit: clv.ClvFit, summary: pd.DataFrame) -> dict[str, Any]:
    predicted = clv.clv_predict(fit, summary)
    values = predicted["clv_fen"].to_numpy(dtype=np.int64)
    # Percentile rank 0–100 ("top 20 %" is ≥ 80); ties share the lower rank.
    ranks = (
        pd.Series(values).rank(method="min", pct=True).to_numpy() * 100 if len(values) else values
    )
    return {
        "person_id": predicted.index.to_numpy(dtype=np.int64),
        "clv_fen": values,
        "clv_percentile": np.round(ranks, 2),
        "expected_orders_365d": np.round(predicted["expected_purchases"].to_numpy(), 3),
        "probability_alive": np.round(predicted["probability_alive"].to_numpy(), 4),
    }


def _train_clv(kind: str, data: TrainingData) -> TrainedVersion:
    history = data.paid_orders(until=data.now)
    evaluation = clv_evaluate(history, cutoff=data.eval_cutoff, until=data.now)
    summary = clv.rfm_summary(history, cutoff=data.now)
    fit = clv_fit_checked(summary)
    return TrainedVersion(
        features=["frequency", "recency", "T", "monetary_value"],
        params={"method": "BG/NBD + Gamma-Gamma (MAP)", "horizon_days": 365},
        metrics=evaluation,
        curves={"parameters": clv.clv_fit_to_dict(fit)},
        artifact=json.dumps(clv.clv_fit_to_dict(fit)),
        scores=_clv_scores(fit, summary),
        eval_cutoff=data.eval_cutoff,
    )


def _rescore_clv(version: ModelVersion, data: TrainingData) -> dict[str, Any]:
    fit = clv.clv_fit_from_dict(json.loads(version.artifact))
    summary = clv.rfm_summary(data.paid_orders(until=data.now), cutoff=data.now)
    return _clv_scores(fit, summary)


TRAINERS: dict[str, Callable[[str, TrainingData], TrainedVersion]] = {
    ModelKind.CHURN: _train_customer_model,
    ModelKind.PROPENSITY: _train_customer_model,
    ModelKind.CLV: _train_clv,
    ModelKind.CONTACT_HOUR: _train_contact_hour,
}
RESCORERS: dict[str, Callable[[ModelVersion, TrainingData], dict[str, Any]]] = {
    ModelKind.CHURN: _rescore_customer_model,
    ModelKind.PROPENSITY: _rescore_customer_model,
    ModelKind.CLV: _rescore_clv,
    ModelKind.CONTACT_HOUR: _rescore_contact_hour,
}


# --- the registry ---------------------------------------------------------------------------


def _scores_write(
    kind: str, scores: dict[str, Any], version: int, *, store: EventStore, at: dt.datetime
) -> int:
    rows = len(scores["person_id"])
    table = pa.table(
        {
            **scores,
            f"{kind}_version": pa.array(np.full(rows, version, dtype=np.int32)),
        }
    )
    return person_predictions_write(kind=kind, scores=table, store=store, computed_at=at)


def _version_activate(
    kind: str,
    trained: TrainedVersion,
    *,
    actor: Actor,
    store: EventStore,
    now: dt.datetime,
    seconds: float,
) -> ModelVersion:
    with transaction.atomic():
        current = kind_versions_lock(kind)
        # Demote in an order the one-active / one-previous constraints accept at every step.
        for row in current:
            if row.status == VersionStatus.PREVIOUS:
                row.status = VersionStatus.RETIRED
                row.save(update_fields=["status"])
        for row in current:
            if row.status == VersionStatus.ACTIVE:
                row.status = VersionStatus.PREVIOUS
                row.save(update_fields=["status"])
        latest = ModelVersion.objects.filter(kind=kind).aggregate(top=Max("version"))["top"]
        version = ModelVersion.objects.create(
            kind=kind,
            version=(latest or 0) + 1,
            status=VersionStatus.ACTIVE,
            trained_at=now,
            trained_by=actor.label[:64],
            cutoff=now,
            train_cutoff=trained.train_cutoff,
            eval_cutoff=trained.eval_cutoff,
            horizon_days=HORIZON_DAYS,
            features=trained.features,
            params=trained.params,
            metrics=trained.metrics,
            curves=trained.curves,
            artifact=trained.artifact,
            seconds=round(seconds, 2),
        )
        version.people_scored = _scores_write(
            kind, trained.scores, version.version, store=store, at=now
        )
        version.save(update_fields=["people_scored"])
        audit_record(
            actor=actor,
            action="intelligence.model_activate",
            target=version,
            after={
                "kind": kind,
                "version": version.version,
                "people_scored": version.people_scored,
                "metrics": {k: v for k, v in trained.metrics.items() if not isinstance(v, list)},
            },
        )
    return version


@dataclasses.dataclass(frozen=True)
class KindOutcome:
    kind: str
    outcome: str  # RunOutcome
    message: str
    version: int | None
    people_scored: int
    seconds: float


def models_retrain(
    *,
    actor: Actor,
    kinds: Sequence[str] = ALL_KINDS,
    now: dt.datetime | None = None,
    store: EventStore | None = None,
) -> list[KindOutcome]:
    """Retrain each kind on the data up to `now`, register and activate it, re-score everyone.
    A kind that cannot train records why and keeps its previous version."""
    unknown = [kind for kind in kinds if kind not in TRAINERS]
    if unknown:
        raise ModelKindInvalid(detail={"kinds": unknown, "allowed": list(ALL_KINDS)})
    moment = now or clock.now()
    data = TrainingData(store=store or event_store(), now=moment, horizon_days=HORIZON_DAYS)
    outcomes = []
    for kind in kinds:
        started_at = clock.now()
        started = time.perf_counter()
        version: ModelVersion | None = None
        detail: dict[str, Any] = {}
        try:
            trained = TRAINERS[kind](kind, data)
            version = _version_activate(
                kind,
                trained,
                actor=actor,
                store=data.store,
                now=moment,
                seconds=time.perf_counter() - started,
            )
            outcome, message = RunOutcome.TRAINED, f"已训练 v{version.version}"
        except TooLittleData as error:
            outcome, message = RunOutcome.TOO_LITTLE_DATA, error.text
            detail = error.detail if isinstance(error.detail, dict) else {}
        except Exception as error:
            # One model failing must not keep the others from their nightly retrain. Not
            # swallowed: the run row shows 训练失败 with the error's type on the registry page,
            # the previous version keeps scoring, and the traceback goes to the error log.
            logger.exception("intelligence: training %s failed", kind)
            outcome, message = RunOutcome.FAILED, f"训练失败：{type(error).__name__}"
        seconds = time.perf_counter() - started
        TrainingRun.objects.create(
            kind=kind,
            started_at=started_at,
            finished_at=clock.now(),
            trigger=actor.label[:64],
            outcome=outcome,
            message=message[:500],
            detail=detail,
            version=version,
        )
        outcomes.append(
            KindOutcome(
                kind=kind,
                outcome=outcome,
                message=message,
                version=version.version if version else None,
                people_scored=version.people_scored if version else 0,
                seconds=round(seconds, 2),
            )
        )
    return outcomes


def model_rollback(
    *,
    kind: str,
    actor: Actor,
    now: dt.datetime | None = None,
    store: EventStore | None = None,
) -> ModelVersion:
    """Make the previous version of `kind` active again and re-score everyone with it; the
    version rolled back from is retired."""
    if kind not in RESCORERS:
        raise ModelKindInvalid(detail={"kind": kind, "allowed": list(ALL_KINDS)})
    moment = now or clock.now()
    data = TrainingData(store=store or event_store(), now=moment, horizon_days=HORIZON_DAYS)
    with transaction.atomic():
        current = {row.status: row for row in kind_versions_lock(kind)}
        previous = current.get(VersionStatus.PREVIOUS)
        if previous is None:
            raise NoPreviousVersion(detail={"kind": kind})
        active = current.get(VersionStatus.ACTIVE)
        if active is not None:
            active.status = VersionStatus.RETIRED
            active.save(update_fields=["status"])
        previous.status = VersionStatus.ACTIVE
        previous.people_scored = _scores_write(
            kind, RESCORERS[kind](previous, data), previous.version, store=data.store, at=moment
        )
        previous.save(update_fields=["status", "people_scored"])
        audit_record(
            actor=actor,
            action="intelligence.model_rollback",
            target=previous,
            before={"kind": kind, "version": active.version if active else None},
            after={"kind": kind, "version": previous.version},
        )
    return previous
