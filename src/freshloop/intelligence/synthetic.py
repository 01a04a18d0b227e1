"""A synthetic brand with a known truth, for the intelligence benchmarks, tests and demo.

Each person has hidden traits: a daily activity rate, a share of that activity that is buying,
a channel type (live-room people, WeCom people, H5 shoppers — each with its own hours), a
province and a favourite category. A planted share of people fade: from a random day their
rate decays exponentially. Events are drawn day by day as Poisson counts of that rate, so the
generator knows, for any window, each person's exact expected activity Λ and can state the
planted probabilities the models try to recover:

    P(no customer-initiated event in the window) = exp(−Λ)          (churn, for past buyers)
    P(a paid order in the window)                = 1 − exp(−b · Λ)   (purchase propensity)

The "oracle" AUC of the benchmark scores these planted probabilities against what then
happened; a model cannot know Λ, only infer it from history, so it can approach the oracle but
not beat it (beyond noise).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
from collections.abc import Iterator

import numpy as np
import pyarrow as pa

CHANNEL_TYPES = ("live", "wecom", "h5")
# Local (Asia/Shanghai) hour each channel type is most active, and the event mix of each type
# (the rest of an event that is not a purchase).
PEAK_HOURS = {"live": 20.0, "wecom": 12.0, "h5": 21.5}
BROWSE_EVENTS = ("page_view", "product_view", "live_join", "wecom_message", "share", "add_to_cart")
BROWSE_MIX = {
    "live": (0.15, 0.15, 0.5, 0.05, 0.1, 0.05),
    "wecom": (0.2, 0.15, 0.05, 0.45, 0.1, 0.05),
    "h5": (0.45, 0.3, 0.05, 0.05, 0.05, 0.1),
}
PROVINCES = ("广东省", "浙江省", "江苏省", "上海市", "北京市", "四川省", "湖北省", "山东省")
CATEGORIES = ("乳品", "烘焙", "水果", "肉禽", "零食", "速食")


@dataclasses.dataclass(frozen=True)
class SyntheticBrand:
    people: int
    days: int  # history length, ending at `now`
    now: dt.datetime  # naive UTC at a midnight in Asia/Shanghai (16:00 UTC)
    seed: int
    rate: np.ndarray  # base events per day
    buy_share: np.ndarray
    fade_start: np.ndarray  # day index from which the rate decays (may lie past the history)
    fade_days: np.ndarray  # e-folding time of the decay
    channel_type: np.ndarray  # index into CHANNEL_TYPES

    def intensity(self, day_from: int, day_to: int) -> np.ndarray:
        """Λ: each person's expected number of events over days [day_from, day_to) (day 0 is
        the first day of history; `days` is the day of `now`)."""
        days = np.arange(day_from, day_to, dtype=np.float64)
        over = np.clip(days[None, :] - self.fade_start[:, None], 0, None)
        return self.rate * np.exp(-over / self.fade_days[:, None]).sum(axis=1)

    def planted_churn(self, day_from: int, day_to: int) -> np.ndarray:
        return np.exp(-self.intensity(day_from, day_to))

    def planted_propensity(self, day_from: int, day_to: int) -> np.ndarray:
        return 1.0 - np.exp(-self.buy_share * self.intensity(day_from, day_to))

    def day_index(self, moment: dt.datetime) -> int:
        """The day number of a moment at a day boundary of the history."""
        return self.days - (self.now - moment).days


def synthetic_brand(
    *, people: int, days: int, now: dt.datetime, seed: int = 7, events_per_person: float = 20.0
) -> SyntheticBrand:
    rng = np.random.default_rng(seed)
    # Gamma-distributed rates: a few very active people, many occasional ones (as in every
    # customer base); scaled so the history holds about `events_per_person` on average.
    rate = rng.gamma(shape=0.9, scale=1.0, size=people)
    fading = rng.random(people) < 0.4
    fade_start = np.where(fading, rng.uniform(days * 0.3, days + 30, size=people), days * 10.0)
    fade_days = rng.uniform(5, 25, size=people)
    brand = SyntheticBrand(
        people=people,
        days=days,
        now=now,
        seed=seed,
        rate=rate,
        buy_share=rng.beta(2.0, 6.0, size=people),
        fade_start=fade_start,
        fade_days=fade_days,
        channel_type=rng.choice(len(CHANNEL_TYPES), size=people, p=(0.4, 0.3, 0.3)),
    )
    mean_events = float(brand.intensity(0, days).mean())
    scaled = dataclasses.replace(brand, rate=rate * events_per_person / mean_events)
    return scaled


def synthetic_events(
    brand: SyntheticBrand,
    *,
    until_day: int | None = None,
    person_ids: np.ndarray | None = None,
) -> tuple[pa.Table, pa.Table]:
    """The brand's events over days [0, until_day) (default: up to `now`) as event-store rows,
    and the lines of its paid orders. Person i is `person_ids[i]` (default i + 1)."""
    chunks = list(synthetic_event_chunks(brand, until_day=until_day, person_ids=person_ids))
    return (
        pa.concat_tables([events for events, _ in chunks]),
        pa.concat_tables([items for _, items in chunks]),
    )


def synthetic_event_chunks(
    brand: SyntheticBrand,
    *,
    until_day: int | None = None,
    person_ids: np.ndarray | None = None,
    chunk: int = 50_000,
) -> Iterator[tuple[pa.Table, pa.Table]]:
    """`synthetic_events` a block of people at a time, so a million people's events can be
    loaded without holding them all in memory."""
    ids = (
        np.arange(1, brand.people + 1, dtype=np.int64)
        if person_ids is None
        else np.asarray(person_ids, dtype=np.int64)
    )
    from freshloop.datahub.eventstore.selectors import EVENT_SCHEMA, ORDER_ITEM_SCHEMA

    rng = np.random.default_rng(brand.seed + 1)
    last_day = brand.days if until_day is None else until_day
    start = brand.now - dt.timedelta(days=brand.days)
    province = rng.integers(0, len(PROVINCES), size=brand.people)
    category = rng.integers(0, len(CATEGORIES), size=brand.people)
    hour_noise = rng.normal(0.0, 1.5, size=brand.people)
    for first in range(0, brand.people, chunk):
        rows = slice(first, min(first + chunk, brand.people))
        days = np.arange(0, last_day, dtype=np.float64)
        over = np.clip(days[None, :] - brand.fade_start[rows, None], 0, None)
        expected = brand.rate[rows, None] * np.exp(-over / brand.fade_days[rows, None])
        counts = rng.poisson(expected)
        person_index, day = np.nonzero(counts)
        repeats = counts[person_index, day]
        person_index = np.repeat(person_index, repeats) + first
        day = np.repeat(day, repeats)
        total = len(person_index)
        kind = brand.channel_type[person_index]
        peaks = np.array([PEAK_HOURS[name] for name in CHANNEL_TYPES])[kind]
        local_hour = np.mod(
            np.round(peaks + hour_noise[person_index] + rng.normal(0, 2.0, size=total)), 24
        )
        seconds = (
            day * 86_400
            + local_hour * 3_600  # `start` is a Shanghai midnight: hours count locally
            + rng.integers(0, 3_600, size=total)
        )
        occurred = np.datetime64(start, "us") + (seconds * 1_000_000).astype("timedelta64[us]")
        buying = rng.random(total) < brand.buy_share[person_index]
        browse = np.empty(total, dtype=object)
        for type_index, type_name in enumerate(CHANNEL_TYPES):
            members = np.nonzero((kind == type_index) & ~buying)[0]
            browse[members] = rng.choice(
                np.array(BROWSE_EVENTS, dtype=object), size=len(members), p=BROWSE_MIX[type_name]
            )
        names = np.where(buying, "order_paid", browse)
        channel = np.array(CHANNEL_TYPES, dtype=object)[kind]
        amount = np.where(buying, rng.gamma(4.0, 2_500, size=total).astype(np.int64), 0)
        event_ids = np.char.add(
            "syn-", np.arange(first * 10_000, first * 10_000 + total).astype(str)
        )
        order_numbers = np.char.add("SO", event_ids.astype(str))
        coupon = rng.random(total) < 0.3
        event_people = ids[person_index]
        properties = np.where(
            buying,
            np.char.add(
                np.char.add('{"coupon_used": ', np.where(coupon, "true", "false")),
                np.char.add(
                    np.char.add(', "province": "', np.array(PROVINCES)[province[person_index]]),
                    '"}',
                ),
            ),
            np.where(names == "wecom_message", '{"direction": "in"}', "{}"),
        )
        event_day = (occurred + np.timedelta64(8, "h")).astype("datetime64[D]")
        events = pa.table(
            {
                "event_id": pa.array(event_ids.astype(str)),
                "name": pa.array(names.astype(str)),
                "day": pa.array(event_day, type=pa.date32()),
                "occurred_at": pa.array(occurred, type=pa.timestamp("us")),
                "received_at": pa.array(occurred, type=pa.timestamp("us")),
                "source": pa.array(np.full(total, "server")),
                "channel": pa.array(channel.astype(str)),
                "person_id": pa.array(event_people),
                "session_id": pa.nulls(total, pa.string()),
                "live_session": pa.array(
                    np.char.add("L", day.astype(str)), mask=names != "live_join"
                ),
                "order_no": pa.array(order_numbers, mask=~buying),
                "sku_id": pa.nulls(total, pa.int64()),
                "amount_fen": pa.array(amount, mask=~buying),
                "custom": pa.array(np.zeros(total, dtype=bool)),
                "properties": pa.array(properties.astype(str)),
            },
            schema=EVENT_SCHEMA,
        )
        bought = np.nonzero(buying)[0]
        items = pa.table(
            {
                "event_id": pa.array(event_ids[bought].astype(str)),
                "order_no": pa.array(order_numbers[bought]),
                "day": pa.array(event_day[bought], type=pa.date32()),
                "occurred_at": pa.array(occurred[bought], type=pa.timestamp("us")),
                "channel": pa.array(channel[bought].astype(str)),
                "person_id": pa.array(event_people[bought]),
                "sku_id": pa.nulls(len(bought), pa.int64()),
                "product_id": pa.nulls(len(bought), pa.int64()),
                "product_name": pa.nulls(len(bought), pa.string()),
                "category": pa.array(np.array(CATEGORIES)[category[person_index[bought]]]),
                "quantity": pa.array(np.ones(len(bought), dtype=np.int64)),
                "amount_fen": pa.array(amount[bought].astype(np.int64)),
            },
            schema=ORDER_ITEM_SCHEMA,
        )
        yield events, items
