"""Churn and purchase-propensity models (DH-7) at a million people: train, evaluate on held-out
time, score everyone with explanations — against a synthetic brand whose truth is planted.

A child process writes the synthetic brand (`intelligence.synthetic`: 1,000,000 people, about
20,000,000 events over 150 days) into a fresh event store, so this process's memory high-water
mark is the models', not the generator's. This process then rebuilds the same brand's hidden
traits (same seed) to know the planted probabilities, and times what the nightly retrain does:

- `train_seconds`: features as of T_train / T_eval and their 30-day labels, both models fitted
  on the first window, evaluated on the second, refitted on the second;
- `score_seconds`: features as of now, both models' probabilities and per-person top-3 reasons
  (LightGBM contributions) for everyone.

`auc_*` are the held-out AUCs; `oracle_auc_*` score the generator's own planted probabilities
against the same held-out people and outcomes (the best any model could expect). Aim: train +
score < 10 minutes on 2 cores, each AUC ≥ 90 % of its oracle's. `clv_seconds` and
`contact_hour_seconds` time the registry's other two kinds on the same brand (fit, held-out check
and scoring); `all_kinds_seconds` is a whole nightly retrain's model work.

Usage: python bench/models.py [--quick] [--people N]
Keys: people, events, train_seconds, score_seconds, auc_churn, auc_propensity,
oracle_auc_churn, oracle_auc_propensity, peak_mb (+ ratios, PR-AUCs, build time) — one JSON
line. --quick runs 20,000 people.
"""

from __future__ import annotations

import argparse
import datetime as dt
import multiprocessing
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import emit, peak_mb, setup_django

NOW = dt.datetime(2026, 11, 30, 16, 0)  # naive UTC, a Shanghai midnight
DAYS = 150
SEED = 11


def _build(path: str, people: int) -> int:
    setup_django()
    from freshloop.datahub.eventstore.selectors import EventStore
    from freshloop.intelligence.synthetic import synthetic_brand, synthetic_event_chunks

    store = EventStore(Path(path))
    brand = synthetic_brand(people=people, days=DAYS, now=NOW, seed=SEED)
    events = 0
    with store.connect() as connection:
        # A fresh store: plain inserts (the flusher's de-duplicating append is for replays).
        for chunk_events, chunk_items in synthetic_event_chunks(brand):
            connection.register("chunk_events", chunk_events)
            connection.register("chunk_items", chunk_items)
            connection.execute("INSERT INTO events BY NAME SELECT * FROM chunk_events")
            connection.execute("INSERT INTO order_items BY NAME SELECT * FROM chunk_items")
            connection.unregister("chunk_events")
            connection.unregister("chunk_items")
            events += chunk_events.num_rows
        connection.execute("CHECKPOINT")
    return events


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--people", type=int, default=None)
    args = parser.parse_args()
    people = args.people or (20_000 if args.quick else 1_000_000)

    with tempfile.TemporaryDirectory() as folder:
        path = str(Path(folder) / "events.duckdb")
        started = time.perf_counter()
        with multiprocessing.get_context("spawn").Pool(1) as pool:
            events = pool.apply(_build, (path, people))
        build_seconds = time.perf_counter() - started

        setup_django()
        from sklearn.metrics import roc_auc_score

        from freshloop.datahub.eventstore.selectors import EventStore
        from freshloop.intelligence.customer_models import (
            customer_model_score,
            customer_model_train,
            training_moments,
        )
        from freshloop.intelligence.features import (
            churn_set,
            features_at,
            labels_between,
            propensity_set,
        )
        from freshloop.intelligence.synthetic import synthetic_brand

        store = EventStore(Path(path))
        brand = synthetic_brand(people=people, days=DAYS, now=NOW, seed=SEED)
        train_cutoff, eval_cutoff = training_moments(NOW, 30)

        started = time.perf_counter()
        with store.connect() as connection:
            train_features = features_at(connection, cutoff=train_cutoff)
            train_labels = labels_between(connection, cutoff=train_cutoff, until=eval_cutoff)
            eval_features = features_at(connection, cutoff=eval_cutoff)
            eval_labels = labels_between(connection, cutoff=eval_cutoff, until=NOW)
        trained = {
            kind: customer_model_train(
                kind,
                train_features=train_features,
                train_labels=train_labels,
                eval_features=eval_features,
                eval_labels=eval_labels,
            )
            for kind in ("churn", "propensity")
        }
        train_seconds = time.perf_counter() - started

        started = time.perf_counter()
        with store.connect() as connection:
            current = features_at(connection, cutoff=NOW)
        scored = {
            kind: len(customer_model_score(model.booster, kind, current).person_ids)
            for kind, model in trained.items()
        }
        score_seconds = time.perf_counter() - started

        # The planted probabilities of the held-out window [T_eval, now), for the same people.
        window = (brand.day_index(eval_cutoff), DAYS)
        oracle = {}
        for kind, build_set, planted in (
            ("churn", churn_set, brand.planted_churn),
            ("propensity", propensity_set, brand.planted_propensity),
        ):
            held_out = build_set(eval_features, eval_labels)
            truth = planted(*window)[held_out.features.index.to_numpy() - 1]
            oracle[kind] = round(float(roc_auc_score(held_out.target.to_numpy(), truth)), 4)

        # The registry's other two kinds on the same brand: a whole nightly retrain is all four.
        from freshloop.intelligence.services import TRAINERS, TrainingData

        data = TrainingData(store=store, now=NOW.replace(tzinfo=dt.UTC), horizon_days=30)
        other_seconds = {}
        for kind in ("clv", "contact_hour"):
            started = time.perf_counter()
            other = TRAINERS[kind](kind, data)
            other_seconds[kind] = round(time.perf_counter() - started, 1)
            if kind == "clv":
                clv_spearman = other.metrics.get("spearman")
            else:
                hour_hits = (other.metrics["hit_rate"], other.metrics["population_hit_rate"])

        auc = {kind: model.metrics["auc"] for kind, model in trained.items()}
        emit(
            {
                "people": people,
                "events": events,
                "train_seconds": round(train_seconds, 1),
                "score_seconds": round(score_seconds, 1),
                "auc_churn": auc["churn"],
                "auc_propensity": auc["propensity"],
                "oracle_auc_churn": oracle["churn"],
                "oracle_auc_propensity": oracle["propensity"],
                "peak_mb": peak_mb(),
                "auc_ratio_churn": round(auc["churn"] / oracle["churn"], 3),
                "auc_ratio_propensity": round(auc["propensity"] / oracle["propensity"], 3),
                "pr_auc_churn": trained["churn"].metrics["pr_auc"],
                "pr_auc_propensity": trained["propensity"].metrics["pr_auc"],
                "held_out_people": {k: m.metrics["people"] for k, m in trained.items()},
                "scored": scored,
                "retrain_seconds": round(train_seconds + score_seconds, 1),
                "clv_seconds": other_seconds["clv"],
                "contact_hour_seconds": other_seconds["contact_hour"],
                "all_kinds_seconds": round(
                    train_seconds + score_seconds + sum(other_seconds.values()), 1
                ),
                "clv_spearman": clv_spearman,
                "contact_hit_rate": hour_hits[0],
                "contact_hit_rate_one_hour_for_all": hour_hits[1],
                "build_seconds": round(build_seconds, 1),
            }
        )


if __name__ == "__main__":
    main()
