"""Features as of a cutoff read only events before it; labels only the window after it."""

from __future__ import annotations

import datetime as dt
import math

import pandas as pd
import pytest

from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.intelligence.features import (
    FEATURE_NAMES,
    churn_set,
    feature_value_text,
    features_at,
    labels_between,
    propensity_set,
)
from tests.intelligence.conftest import NOW
from tests.intelligence.helpers import append_events, event_row, load_brand

T = NOW - dt.timedelta(days=30)


def _features(store: EventStore, cutoff: dt.datetime) -> pd.DataFrame:
    with store.connect() as connection:
        return features_at(connection, cutoff=cutoff).frame


class TestFeaturesAt:
    def test_hand_computed_values_of_one_customer(self, store: EventStore) -> None:
        # given one customer's history before T
        append_events(
            store,
            [
                event_row("page_view", person_id=7, at=T - dt.timedelta(days=100), channel="h5"),
                event_row(
                    "order_paid",
                    person_id=7,
                    at=T - dt.timedelta(days=40),
                    channel="live",
                    amount_fen=3_000,
                    properties={"coupon_used": True, "province": "广东省"},
                ),
                event_row(
                    "order_paid",
                    person_id=7,
                    at=T - dt.timedelta(days=10),
                    channel="live",
                    amount_fen=5_000,
                    properties={"coupon_used": False, "province": "浙江省"},
                ),
                event_row(
                    "live_join",
                    person_id=7,
                    at=T - dt.timedelta(days=3),
                    channel="live",
                    live_session="L1",
                ),
                event_row(
                    "wecom_message",
                    person_id=7,
                    at=T - dt.timedelta(days=2),
                    channel="wecom",
                    properties={"direction": "in"},
                ),
            ],
        )
        # when features are computed as of T
        row = _features(store, T).loc[7]
        # then each is what the history says
        assert list(row.index) == list(FEATURE_NAMES)
        assert row["days_since_order"] == 10
        assert (row["orders_30d"], row["orders_90d"], row["orders_365d"]) == (1, 2, 2)
        assert row["spend_365d_fen"] == 8_000
        assert row["avg_order_fen"] == 4_000
        assert row["coupon_share"] == 0.5
        assert row["province"] == "浙江省"  # the latest order's
        assert row["tenure_days"] == 100
        assert row["days_since_event"] == 2
        assert (row["events_7d"], row["events_30d"], row["events_90d"]) == (2, 3, 4)
        assert (row["live_joins_30d"], row["live_sessions_90d"], row["days_since_live"]) == (
            1,
            1,
            3,
        )
        assert row["wecom_messages_30d"] == 1
        assert row["preferred_channel"] == "live"
        assert row["live_share"] == pytest.approx(3 / 5)

    def test_a_person_who_never_bought_has_no_order_figures(self, store: EventStore) -> None:
        append_events(store, [event_row("page_view", person_id=8, at=T - dt.timedelta(days=5))])
        row = _features(store, T).loc[8]
        assert math.isnan(row["days_since_order"])
        assert row["orders_365d"] == 0
        assert row["province"] == ""

    def test_nothing_after_the_cutoff_is_read(self, store: EventStore) -> None:
        # given a synthetic brand's whole history, features as of T
        load_brand(store, people=300, now=NOW)
        before = _features(store, T)
        # when many more events land at and after T (a purchase exactly at T, a live visit later)
        later = []
        for person_id in before.index[:100]:
            later.append(event_row("order_paid", person_id=int(person_id), at=T, amount_fen=99))
            later.append(
                event_row("live_join", person_id=int(person_id), at=T + dt.timedelta(days=3))
            )
        later.append(event_row("page_view", person_id=99_999, at=T + dt.timedelta(hours=1)))
        append_events(store, later)
        # then the features as of T are exactly the same, and nobody new appears
        after = _features(store, T)
        pd.testing.assert_frame_equal(before, after)


class TestLabelsBetween:
    def test_reads_only_the_window(self, store: EventStore) -> None:
        append_events(
            store,
            [
                event_row("order_paid", person_id=1, at=T - dt.timedelta(seconds=1), amount_fen=1),
                event_row("order_paid", person_id=2, at=T, amount_fen=1),
                event_row("page_view", person_id=3, at=T + dt.timedelta(days=29)),
                event_row("order_paid", person_id=4, at=T + dt.timedelta(days=30), amount_fen=1),
                # a fulfilment fact is not the customer doing something
                event_row("order_shipped", person_id=5, at=T + dt.timedelta(days=1)),
            ],
        )
        with store.connect() as connection:
            labels = labels_between(connection, cutoff=T, until=T + dt.timedelta(days=30))
        assert labels["purchased"].to_dict() == {2: True, 3: False}


class TestLabelledSets:
    def test_churn_is_for_past_buyers_and_means_silence(self, store: EventStore) -> None:
        append_events(
            store,
            [
                event_row("order_paid", person_id=1, at=T - dt.timedelta(days=5), amount_fen=1),
                event_row("order_paid", person_id=2, at=T - dt.timedelta(days=5), amount_fen=1),
                event_row("page_view", person_id=3, at=T - dt.timedelta(days=5)),
                event_row("page_view", person_id=2, at=T + dt.timedelta(days=2)),
                event_row("order_paid", person_id=3, at=T + dt.timedelta(days=2), amount_fen=1),
            ],
        )
        with store.connect() as connection:
            features = features_at(connection, cutoff=T)
            labels = labels_between(connection, cutoff=T, until=T + dt.timedelta(days=30))
        churn = churn_set(features, labels)
        propensity = propensity_set(features, labels)
        assert churn.target.to_dict() == {1: 1, 2: 0}
        assert propensity.target.to_dict() == {1: 0, 2: 0, 3: 1}


class TestFeatureValueText:
    @pytest.mark.parametrize(
        ("name", "value", "text"),
        [
            ("coupon_share", 0.25, "25%"),
            ("spend_365d_fen", 12_345.0, "¥123.45"),
            ("orders_30d", 3.0, "3"),
            ("joined_group", 1.0, "是"),
            ("days_since_order", float("nan"), "无"),
            ("province", "广东省", "广东省"),
        ],
    )
    def test_reads_like_the_profile(self, name: str, value: object, text: str) -> None:
        assert feature_value_text(name, value) == text
