"""The rules of the outbound message policy as plain functions of time and settings: quiet
hours, cap windows, WeCom's own 企业群发 limit and the Chinese reasons people read.

All windows are calendar windows in Asia/Shanghai, where the customers are: "1 a day" means
one per Shanghai calendar day, so a send released at 08:00 never competes with yesterday's
08:00 send over a few seconds, as a rolling 24-hour window would make it.
"""

from __future__ import annotations

import calendar
import datetime as dt
from dataclasses import dataclass
from typing import TYPE_CHECKING

from django.conf import settings

from freshloop.core.clock import SHANGHAI, to_shanghai
from freshloop.messaging.models import MarketingChannel

if TYPE_CHECKING:
    from config.env import FrequencyCap, MarketingPolicySettings


def policy_settings() -> MarketingPolicySettings:
    config: MarketingPolicySettings = settings.FRESHLOOP.marketing_policy
    return config


def channel_label(channel: str) -> str:
    try:
        return str(MarketingChannel(channel).label)
    except ValueError:
        return channel


def _clock(minute: int) -> str:
    return f"{minute // 60:02d}:{minute % 60:02d}"


def quiet_hours_end(moment: dt.datetime, config: MarketingPolicySettings) -> dt.datetime | None:
    """When the quiet window holding `moment` ends (aware UTC), or None outside quiet hours.

    The window is [start, end) in Shanghai time: 22:00 is quiet, 08:00 is not; a window whose
    start is after its end spans midnight. Equal start and end mean no quiet hours."""
    start, end = config.quiet_start_minute, config.quiet_end_minute
    if start == end:
        return None
    local = to_shanghai(moment)
    minute = local.hour * 60 + local.minute
    within = start <= minute < end if start < end else (minute >= start or minute < end)
    if not within:
        return None
    end_day = local.date()
    if start > end and minute >= start:
        end_day += dt.timedelta(days=1)
    ends = dt.datetime.combine(end_day, dt.time(end // 60, end % 60), tzinfo=SHANGHAI)
    return ends.astimezone(dt.UTC)


def held_reason(release_at: dt.datetime) -> str:
    return f"免打扰时段，{to_shanghai(release_at):%H:%M} 发送"


def calendar_days_start(moment: dt.datetime, days: int) -> dt.datetime:
    """Midnight (Shanghai) at the start of the `days` calendar days ending on `moment`'s day."""
    first = to_shanghai(moment).date() - dt.timedelta(days=days - 1)
    return dt.datetime.combine(first, dt.time(0), tzinfo=SHANGHAI).astimezone(dt.UTC)


def cap_label(cap: FrequencyCap) -> str:
    if cap.days == 1:
        return f"每天 {cap.limit} 条"
    if cap.days == 7:
        return f"每周 {cap.limit} 条"
    return f"每 {cap.days} 天 {cap.limit} 条"


@dataclass(frozen=True)
class WecomWindow:
    starts_at: dt.datetime
    limit: int
    label: str


def wecom_mass_window(moment: dt.datetime, config: MarketingPolicySettings) -> WecomWindow:
    """The WeCom 企业群发 window holding `moment` and how many a customer may receive in it.

    WeCom's rule (document/path/92135, updated 2025-11-17): per customer as many per month as
    the month has days, or 7 a week, or 1 a day, as the corp set in 群发助手. The week is
    counted over the 7 calendar days ending today (any calendar week is such a window, so
    this never lets more through than WeCom would)."""
    local = to_shanghai(moment)
    if config.wecom_mass_window == "day":
        limit = config.wecom_mass_limit or 1
        return WecomWindow(calendar_days_start(moment, 1), limit, f"每天 {limit} 条")
    if config.wecom_mass_window == "week":
        limit = config.wecom_mass_limit or 7
        return WecomWindow(calendar_days_start(moment, 7), limit, f"每周 {limit} 条")
    limit = config.wecom_mass_limit or calendar.monthrange(local.year, local.month)[1]
    first = dt.datetime.combine(local.date().replace(day=1), dt.time(0), tzinfo=SHANGHAI)
    return WecomWindow(first.astimezone(dt.UTC), limit, f"每月 {limit} 条")


def source_label(source: str) -> str:
    """ "journey:12:step:3" → "旅程 12 第 3 步", "mass:7" → "群发 7"; anything else as given.

    Names (a journey's title) live above messaging; the timeline's owner adds them."""
    parts = source.split(":")
    if len(parts) == 4 and parts[0] == "journey" and parts[2] == "step":
        return f"旅程 {parts[1]} 第 {parts[3]} 步"
    if len(parts) == 2 and parts[0] == "mass":
        return f"群发 {parts[1]}"
    return source
