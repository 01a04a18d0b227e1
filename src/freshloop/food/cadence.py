"""Subscription cadences and the cadence suggested from a household's own purchases (FD-1).

Pure functions: no database, no clock. A cadence is one of
- every N days (`every_days`, N in 1…90),
- weekly on a weekday (`weekly`, 0 = Monday … 6 = Sunday),
- monthly on a day of the month (`monthly`, 1…28 so every month has it).

The suggestion reads the household's past purchases of one product (any pack size): the content
of each purchase (packs × the pack's content: "250ml×12" is 3,000 ml, "24盒" is 24 units) was
used up by the next purchase, so content / days between purchases is a consumption rate. The
median rate (robust to one party week) predicts when the last purchase runs out, and how many
days one pack of the subscribed SKU lasts — "按您的饮用习惯，建议每 9 天一箱".
"""

from __future__ import annotations

import datetime as dt
import enum
import itertools
import re
import statistics
from collections.abc import Sequence
from dataclasses import dataclass

MAX_EVERY_DAYS = 90
MIN_PURCHASES = 2


class CadenceKind(enum.StrEnum):
    EVERY_DAYS = "every_days"
    WEEKLY = "weekly"
    MONTHLY = "monthly"


WEEKDAY_NAMES = ("一", "二", "三", "四", "五", "六", "日")


class CadenceInvalid(ValueError):
    """A cadence outside its range; the service turns it into a typed 422."""


@dataclass(frozen=True)
class Cadence:
    kind: CadenceKind
    value: int

    def __post_init__(self) -> None:
        limits = {
            CadenceKind.EVERY_DAYS: (1, MAX_EVERY_DAYS, f"间隔天数需在 1 到 {MAX_EVERY_DAYS} 之间"),
            CadenceKind.WEEKLY: (0, 6, "星期需在 0（周一）到 6（周日）之间"),
            CadenceKind.MONTHLY: (1, 28, "每月配送日需在 1 到 28 之间"),
        }
        low, high, message = limits[self.kind]
        if isinstance(self.value, bool) or not isinstance(self.value, int):
            raise CadenceInvalid(message)
        if not low <= self.value <= high:
            raise CadenceInvalid(message)

    @classmethod
    def parse(cls, kind: str, value: int) -> Cadence:
        try:
            parsed = CadenceKind(kind)
        except ValueError:
            raise CadenceInvalid("配送周期类型不正确") from None
        return cls(parsed, value)

    @property
    def label(self) -> str:
        if self.kind == CadenceKind.EVERY_DAYS:
            return "每天" if self.value == 1 else f"每 {self.value} 天"
        if self.kind == CadenceKind.WEEKLY:
            return f"每周{WEEKDAY_NAMES[self.value]}"
        return f"每月 {self.value} 日"

    def first_on_or_after(self, day: dt.date) -> dt.date:
        """The first delivery date on or after `day`."""
        if self.kind == CadenceKind.EVERY_DAYS:
            return day
        if self.kind == CadenceKind.WEEKLY:
            return day + dt.timedelta(days=(self.value - day.weekday()) % 7)
        if day.day <= self.value:
            return day.replace(day=self.value)
        return _next_month(day).replace(day=self.value)

    def after(self, delivered: dt.date) -> dt.date:
        """The delivery date that follows `delivered`."""
        if self.kind == CadenceKind.EVERY_DAYS:
            return delivered + dt.timedelta(days=self.value)
        return self.first_on_or_after(delivered + dt.timedelta(days=1))


def _next_month(day: dt.date) -> dt.date:
    return (day.replace(day=1) + dt.timedelta(days=32)).replace(day=1)


# --- pack content -------------------------------------------------------------------------------

_UNIT_FACTORS = {
    "ml": 1,
    "毫升": 1,
    "l": 1000,
    "升": 1000,
    "g": 1,
    "克": 1,
    "kg": 1000,
    "千克": 1000,
}
_AMOUNT = re.compile(r"(\d+(?:\.\d+)?)\s*(ml|毫升|l|升|kg|千克|g|克)", re.IGNORECASE)
_COUNT = re.compile(r"(?:[x×*]\s*(\d+))|(\d+)\s*(?:盒|瓶|袋|包|支|个|罐|杯|枚|只|听)")


@dataclass(frozen=True)
class PackContent:
    """What one pack holds in a base unit: millilitres, grams, or pieces."""

    amount: float
    unit: str  # "ml", "g" or "件"


def pack_content(spec: str) -> PackContent:
    """Read a SKU's spec: "250ml×12" → 3000 ml, "1L" → 1000 ml, "24盒" → 24 件, "950ml" → 950 ml.
    A spec with neither a volume/weight nor a count is one piece."""
    text = spec.strip().lower().replace("＊", "*").replace("x", "×")
    measure = _AMOUNT.search(text)
    count = 1
    for match in _COUNT.finditer(text):
        count *= int(match.group(1) or match.group(2))
    if measure is None:
        return PackContent(float(count), "件")
    unit = measure.group(2)
    base = "ml" if unit in ("ml", "毫升", "l", "升") else "g"
    return PackContent(float(measure.group(1)) * _UNIT_FACTORS[unit] * count, base)


# --- the suggestion -----------------------------------------------------------------------------


@dataclass(frozen=True)
class Purchase:
    """One past purchase of the product: the day (local), the SKU's spec and how many packs."""

    day: dt.date
    spec: str
    quantity: int


@dataclass(frozen=True)
class CadenceSuggestion:
    every_days: int
    runs_out_on: dt.date
    daily_amount: float
    unit: str
    purchases: int
    headline: str
    reason: str


def _amount_label(amount: float, unit: str) -> str:
    if unit == "ml" and amount >= 1000:
        return f"{amount / 1000:.1f} 升"
    if unit == "g" and amount >= 1000:
        return f"{amount / 1000:.1f} 千克"
    names = {"ml": "毫升", "g": "克", "件": "件"}
    return f"{amount:.0f} {names[unit]}"


def cadence_suggest(
    *, purchases: Sequence[Purchase], pack_spec: str, pack_word: str = "箱"
) -> CadenceSuggestion | None:
    """The cadence that delivers one pack of `pack_spec` as the household uses it up, or None
    when the history cannot say (fewer than two purchase days, or sizes in different units).

    Purchases on the same day are one purchase. The content bought on day i lasted until the
    next purchase day, so each gap gives a rate; the median of the rates is the household's.
    """
    target = pack_content(pack_spec)
    by_day: dict[dt.date, float] = {}
    for purchase in purchases:
        content = pack_content(purchase.spec)
        if content.unit != target.unit or purchase.quantity <= 0:
            continue
        by_day[purchase.day] = by_day.get(purchase.day, 0.0) + content.amount * purchase.quantity
    days = sorted(by_day)
    if len(days) < MIN_PURCHASES:
        return None
    rates = [
        by_day[earlier] / (later - earlier).days for earlier, later in itertools.pairwise(days)
    ]
    rate = statistics.median(rates)
    if rate <= 0:
        return None
    last = days[-1]
    runs_out_on = last + dt.timedelta(days=max(1, round(by_day[last] / rate)))
    every = max(1, min(MAX_EVERY_DAYS, round(target.amount / rate)))
    headline = (
        f"按您的{'饮用' if target.unit == 'ml' else '使用'}习惯，建议每 {every} 天一{pack_word}"
    )
    reason = (
        f"根据您最近 {len(days)} 次购买，家里平均每天用掉约 {_amount_label(rate, target.unit)}；"
        f"一{pack_word}（{pack_spec}）约可用 {every} 天，"
        f"上次购买的预计在 {runs_out_on.month} 月 {runs_out_on.day} 日用完。"
    )
    return CadenceSuggestion(
        every_days=every,
        runs_out_on=runs_out_on,
        daily_amount=rate,
        unit=target.unit,
        purchases=len(days),
        headline=headline,
        reason=reason,
    )
