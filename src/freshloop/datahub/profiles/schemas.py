"""What the 360° profile page shows, section by section (built by `profiles.selectors`; times
in Asia/Shanghai, money already formatted, PII already masked)."""

from __future__ import annotations

import dataclasses
import datetime as dt

from freshloop.identity.selectors import MaskedIdentifier
from freshloop.messaging.selectors import DispatchEntry


@dataclasses.dataclass(frozen=True)
class ProfilePerson:
    """What the page shows of the person (times in Asia/Shanghai)."""

    pk: int
    one_id: str
    display_name: str
    status: str
    status_label: str
    source: str
    created_at: dt.datetime


@dataclasses.dataclass(frozen=True)
class OrderRow:
    order_no: str
    created_at: dt.datetime
    channel: str
    status: str
    items: str
    total: str
    paid: str


@dataclasses.dataclass(frozen=True)
class OrderSummary:
    rows: list[OrderRow]
    count: int
    paid_count: int
    paid_total: str


@dataclasses.dataclass(frozen=True)
class CouponRow:
    code: str
    name: str
    value: str
    status: str
    usable: bool
    valid_until: dt.datetime
    source: str


@dataclasses.dataclass(frozen=True)
class LiveSessionRow:
    code: str
    title: str
    first_join: dt.datetime | None
    dwell_seconds: int
    dwell: str
    comments: int
    bought: bool


@dataclasses.dataclass(frozen=True)
class LiveSummary:
    sessions: list[LiveSessionRow]
    total_dwell_seconds: int
    total_dwell: str
    total_comments: int


@dataclasses.dataclass(frozen=True)
class TimelineEntry:
    occurred_at: dt.datetime
    name: str
    label: str
    channel: str
    channel_label: str
    live_session: str
    details: list[tuple[str, str]]


@dataclasses.dataclass(frozen=True)
class TimelinePage:
    entries: list[TimelineEntry]
    page: int
    pages: int
    total: int

    @property
    def has_previous(self) -> bool:
        return self.page > 1

    @property
    def has_next(self) -> bool:
        return self.page < self.pages


@dataclasses.dataclass(frozen=True)
class TagRow:
    field: str
    label: str
    value: str


@dataclasses.dataclass(frozen=True)
class PredictionReason:
    """One of a score's top reasons: a feature, its value for this person, and which way it
    pushed the score (LightGBM's contribution, in log-odds)."""

    label: str
    value: str
    raises: bool
    effect: float


@dataclasses.dataclass(frozen=True)
class HourBar:
    hour: int
    share: float  # of the person's responses at this local hour
    height: int  # percent of the tallest bar, for drawing
    best: bool


@dataclasses.dataclass(frozen=True)
class PredictionsSection:
    """Scores from the intelligence module (`person_predictions`). `available` is False when
    no model has scored this person yet; the page then shows `note` instead."""

    available: bool
    note: str
    rows: list[tuple[str, str]]
    churn_reasons: list[PredictionReason] = dataclasses.field(default_factory=list)
    propensity_reasons: list[PredictionReason] = dataclasses.field(default_factory=list)
    hours: list[HourBar] = dataclasses.field(default_factory=list)
    computed_at: dt.datetime | None = None

    @property
    def reason_groups(self) -> list[tuple[str, list[PredictionReason]]]:
        return [
            ("流失风险的主要原因", self.churn_reasons),
            ("购买概率的主要原因", self.propensity_reasons),
        ]


@dataclasses.dataclass(frozen=True)
class PersonProfile:
    person: ProfilePerson
    status_label: str
    identifiers: list[MaskedIdentifier]
    traits: list[tuple[str, str]]
    merged_from: list[str]
    orders: OrderSummary
    coupons: list[CouponRow]
    live: LiveSummary
    computed_tags: list[TagRow]
    tags_computed_at: dt.datetime | None
    manual_tags: list[str]
    predictions: PredictionsSection
    timeline: TimelinePage
    # Outbound messages with the policy's decision and reason (SC-1: "sent by journey 12
    # step 3" / "suppressed: quiet hours"), and the channels the person opted out of.
    messages: list[DispatchEntry] = dataclasses.field(default_factory=list)
    opted_out_channels: list[str] = dataclasses.field(default_factory=list)
