"""DH-7 best contact hour: per person, the hour of the day (Asia/Shanghai) they respond most.

A "response" is a customer-initiated event of the kinds a message asks for — opening a page or
a product, entering the live room, adding to cart, paying, sharing, or writing back in WeCom
(RESPONSE_EVENTS). The event store does not see a WeCom message being read, so these stand in
for opens and clicks.

Few people have enough responses for their own 24 counts to mean much, so each person's hourly
profile is shrunk toward their segment's (people whose events mostly come through the same
channel — live-room people and WeCom people keep different hours):

    p[c, h] = (n[c, h] + K · q[s(c), h]) / (N[c] + K)

with n the person's responses at hour h over the last LOOKBACK_DAYS, N their total, q the
segment's share of responses at hour h and K = PRIOR_STRENGTH pseudo-responses. With no
responses p is the segment's pattern; with many it is their own. The best hour is argmax p.

Evaluation (kept in the registry): profiles built from events before T are checked against
each person's responses in (T, T + horizon]: the share of later responses that fall within one
hour of the predicted best hour, beside the same share for the population's best hour.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from typing import Any

import duckdb
import numpy as np

from freshloop.datahub.eventstore.selectors import to_naive_utc

HOURS = 24
LOOKBACK_DAYS = 90
PRIOR_STRENGTH = 8.0
RESPONSE_EVENTS: tuple[str, ...] = (
    "page_view",
    "product_view",
    "live_join",
    "live_click_product",
    "add_to_cart",
    "live_add_to_cart",
    "order_paid",
    "share",
    "wecom_message",
)
_RESPONSES_SQL = ", ".join(f"'{name}'" for name in RESPONSE_EVENTS)

# Asia/Shanghai is UTC+8 all year; hours are counted in the customer's local day.
HOURLY_SQL = f"""
SELECT pid,
       CAST(hour(occurred_at + INTERVAL 8 HOUR) AS INTEGER) AS local_hour,
       COUNT(*) AS responses,
       ANY_VALUE(channel) AS channel
FROM events_resolved
WHERE pid IS NOT NULL AND occurred_at >= $since AND occurred_at < $until
  AND name IN ({_RESPONSES_SQL})
  AND (name <> 'wecom_message'
       OR COALESCE(json_extract_string(properties, '$.direction'), 'in') = 'in')
GROUP BY pid, local_hour
"""  # noqa: S608 (module constants only)
SEGMENT_SQL = f"""
SELECT pid, MODE(channel) AS segment
FROM events_resolved
WHERE pid IS NOT NULL AND occurred_at >= $since AND occurred_at < $until
  AND name IN ({_RESPONSES_SQL})
GROUP BY pid
"""  # noqa: S608 (module constants only)


@dataclasses.dataclass(frozen=True)
class HourlyCounts:
    person_ids: np.ndarray  # sorted
    counts: np.ndarray  # (people, 24) responses per local hour
    segments: np.ndarray  # segment label per person (object array)


def hourly_counts(
    connection: duckdb.DuckDBPyConnection, *, since: dt.datetime, until: dt.datetime
) -> HourlyCounts:
    """Responses per person and local hour in [since, until)."""
    params = {"since": to_naive_utc(since), "until": to_naive_utc(until)}
    hourly = connection.execute(HOURLY_SQL, params).fetchnumpy()
    segment_rows = connection.execute(SEGMENT_SQL, params).fetchnumpy()
    person_ids = np.unique(np.asarray(hourly["pid"], dtype=np.int64))
    counts = np.zeros((len(person_ids), HOURS), dtype=np.float64)
    if len(person_ids):
        rows = np.searchsorted(person_ids, np.asarray(hourly["pid"], dtype=np.int64))
        np.add.at(
            counts,
            (rows, np.asarray(hourly["local_hour"], dtype=np.int64)),
            np.asarray(hourly["responses"], dtype=np.float64),
        )
    segments = np.full(len(person_ids), "", dtype=object)
    segment_ids = np.asarray(segment_rows["pid"], dtype=np.int64)
    found = np.searchsorted(person_ids, segment_ids)
    inside = (found < len(person_ids)) & (
        person_ids[np.minimum(found, max(len(person_ids) - 1, 0))] == segment_ids
    )
    segments[found[inside]] = np.asarray(segment_rows["segment"], dtype=object)[inside]
    return HourlyCounts(person_ids=person_ids, counts=counts, segments=segments)


@dataclasses.dataclass(frozen=True)
class HourProfiles:
    person_ids: np.ndarray
    profiles: np.ndarray  # (people, 24), each row sums to 1
    best_hour: np.ndarray  # (people,)
    responses: np.ndarray  # (people,) N, how much of the profile is the person's own
    segment_patterns: dict[str, list[float]]


def _normalised(row: np.ndarray) -> np.ndarray:
    # One pseudo-response per hour keeps a pattern defined (and never exactly 0) for a segment
    # with few events.
    smoothed = row + 1.0
    return smoothed / smoothed.sum()


def hour_profiles(counts: HourlyCounts, *, prior_strength: float = PRIOR_STRENGTH) -> HourProfiles:
    """Each person's shrunk hourly profile and best hour."""
    population = _normalised(counts.counts.sum(axis=0))
    patterns: dict[str, np.ndarray] = {"": population}
    for segment in {str(label) for label in counts.segments if label}:
        members = counts.segments == segment
        patterns[segment] = _normalised(counts.counts[members].sum(axis=0))
    prior = (
        np.vstack([patterns.get(str(label), population) for label in counts.segments])
        if len(counts.segments)
        else np.zeros((0, HOURS))
    )
    totals = counts.counts.sum(axis=1)
    profiles = (counts.counts + prior_strength * prior) / (totals + prior_strength)[:, None]
    return HourProfiles(
        person_ids=counts.person_ids,
        profiles=profiles,
        best_hour=profiles.argmax(axis=1) if len(profiles) else np.zeros(0, dtype=np.int64),
        responses=totals,
        segment_patterns={
            key: [round(float(v), 4) for v in value] for key, value in patterns.items()
        },
    )


def _within_an_hour(hours: np.ndarray) -> np.ndarray:
    """(people, 24) mask of the hours at most one away (on the clock) from each best hour."""
    clock = np.arange(HOURS)
    distance = np.abs(clock[None, :] - hours[:, None])
    return np.minimum(distance, HOURS - distance) <= 1


def hour_evaluation(fitted: HourProfiles, later: HourlyCounts) -> dict[str, Any]:
    """How well the best hours fitted before T catch the responses after T, beside the
    population's single best hour (the "send everyone at the same time" rule)."""
    common, fitted_rows, later_rows = np.intersect1d(
        fitted.person_ids, later.person_ids, return_indices=True
    )
    if not len(common):
        return {"people": 0, "hit_rate": None, "population_hit_rate": None}
    later_counts = later.counts[later_rows]
    total = float(later_counts.sum())
    personal = _within_an_hour(fitted.best_hour[fitted_rows])
    population_best = int(np.argmax(fitted.segment_patterns[""]))
    everyone = _within_an_hour(np.full(len(common), population_best))
    return {
        "people": len(common),
        "responses": int(total),
        "hit_rate": round(float((later_counts * personal).sum()) / total, 4),
        "population_hit_rate": round(float((later_counts * everyone).sum()) / total, 4),
        "population_best_hour": population_best,
    }
