"""The WeCom message budget (SC-3) on real data: turn a period's planned mass messages into a
`budget.BudgetProblem`, plan it, compare it with "everyone at 10:00" and explain it per customer.

What comes from where
---------------------
- Audiences, values and day windows: the caller's `BudgetCampaign`s (scrm's smart-send
  broadcasts, or the console's simulation built from data hub segments).
- Who sends to whom (跟进人) and the staff members' daily limits: the caller, because they live
  in scrm, above this module.
- Response model: each customer's response to a message at hour h is
  `purchase_propensity × contact_hours[h]` from the event store's `person_predictions`. A
  person the propensity model has not scored counts as `PROPENSITY_FLOOR`; a person without
  an hourly profile gets the population's average profile (uniform when nobody has one). The
  two factors keep their meaning: the propensity ranks customers, the profile ranks hours.
- Caps and quiet hours: the marketing policy's configuration (`FRESHLOOP.marketing_policy`,
  read by messaging): a cap over one day is the optimiser's daily cap; any longer window
  (the 7-day cap, WeCom's weekly or monthly 企业群发 limit) bounds the whole period, which keeps
  every such window within its limit however the period straddles it. An hour is quiet when
  any minute of it is (asked of messaging's own `marketing_quiet_release`).

The plan covers whole Asia/Shanghai days: day 0 is `start`. Messages already sent before the
period, and other marketing sends during it, are not known here: the messaging policy still
decides every send when it goes out (and suppresses one over a cap, with its reason).
"""

from __future__ import annotations

import calendar
import dataclasses
import datetime as dt
import math
import re
from collections.abc import Iterator, Mapping, Sequence
from typing import Any

import numpy as np
from django.conf import settings

from freshloop.core.clock import SHANGHAI
from freshloop.datahub.eventstore.selectors import EventStore
from freshloop.datahub.predictions.selectors import contact_hours_mean, predictions_for_people
from freshloop.intelligence.budget import (
    BOUND_LAGRANGIAN,
    BOUND_STAFF_FREE,
    HOURS_PER_DAY,
    BoolArray,
    BudgetInvalid,
    BudgetPlan,
    BudgetProblem,
    FloatArray,
    IntArray,
    budget_baseline,
    budget_plan,
    plan_explain,
)
from freshloop.intelligence.budgeting.selectors import simulation_segments
from freshloop.intelligence.errors import BudgetPersonNotPlanned, BudgetProblemInvalid
from freshloop.messaging.selectors import marketing_quiet_release

# A customer the propensity model has not scored (too new, no history in the training window)
# is assumed a weak responder: low enough that scored customers come first when seats are
# scarce, not zero, so they still get a slot where there is room.
PROPENSITY_FLOOR = 0.02
DEFAULT_DAYS = 7
# The staff chart shows the busiest staff members one by one and the rest as one series.
STAFF_SHOWN = 6
WEEKDAYS = "一二三四五六日"

# Why a customer in a campaign's audience is not sent that campaign.
DROP_CUSTOMER_CAP = "customer_cap"
DROP_STAFF_LIMIT = "staff_limit"
DROP_NO_VALUE = "no_value"
DROP_LABELS = {
    DROP_CUSTOMER_CAP: "已达客户群发上限",
    DROP_STAFF_LIMIT: "跟进人当日额度已满",
    DROP_NO_VALUE: "预计价值为零",
}
BOUND_LABELS = {
    BOUND_LAGRANGIAN: "拉格朗日对偶上界",
    BOUND_STAFF_FREE: "不计导购额度时的上界",
}


@dataclasses.dataclass(frozen=True)
class BudgetCampaign:
    """One planned mass message: who may get it, what a response is worth and on which days
    of the period (0-based, inclusive; `last_day` None = the period's last day) it may go."""

    name: str
    person_ids: Sequence[int]
    value_per_response_fen: int
    first_day: int = 0
    last_day: int | None = None


@dataclasses.dataclass(frozen=True)
class MessageCaps:
    """The per-customer limits of the period, from the marketing policy's configuration."""

    daily: int
    period: int | None
    quiet_hours: tuple[int, ...]
    sources: tuple[str, ...]  # where each number comes from, in Chinese

    @property
    def quiet_label(self) -> str:
        return quiet_hours_label(self.quiet_hours)


def day_label(day: dt.date) -> str:
    return f"{day.month}月{day.day}日 周{WEEKDAYS[day.weekday()]}"


def quiet_hours_label(quiet_hours: Sequence[int]) -> str:
    """(22, 23, 0, …, 7) → "22:00–08:00"; several runs are listed; none → "无"."""
    quiet = set(quiet_hours)
    if not quiet:
        return "无"
    runs: list[str] = []
    for start in range(HOURS_PER_DAY):
        if start in quiet and (start - 1) % HOURS_PER_DAY not in quiet:
            end = start
            while (end + 1) % HOURS_PER_DAY in quiet and (end + 1) % HOURS_PER_DAY != start:
                end = (end + 1) % HOURS_PER_DAY
            runs.append(f"{start:02d}:00–{(end + 1) % HOURS_PER_DAY:02d}:00")
    return "、".join(runs) or "全天"


def _window_label(limit: int, days: int) -> str:
    if days == 1:
        return f"每天 {limit} 条"
    if days == 7:
        return f"每周 {limit} 条"
    return f"每 {days} 天 {limit} 条"


def _quiet_hours(day: dt.date) -> tuple[int, ...]:
    midnight = dt.datetime.combine(day, dt.time(0), tzinfo=SHANGHAI)
    quiet = []
    for hour in range(HOURS_PER_DAY):
        minutes = (midnight + dt.timedelta(hours=hour, minutes=m) for m in range(60))
        if any(marketing_quiet_release(at=moment) is not None for moment in minutes):
            quiet.append(hour)
    return tuple(quiet)


def message_caps(*, start: dt.date, days: int = DEFAULT_DAYS) -> MessageCaps:
    """The per-customer daily and period caps and the quiet hours for a period of `days`
    whole days from `start`, as the marketing policy is configured now."""
    config = settings.FRESHLOOP.marketing_policy
    daily: list[int] = []
    period: list[int] = []
    sources: list[str] = []
    for cap in config.caps:
        (daily if cap.days == 1 else period).append(cap.limit)
        sources.append(f"营销消息频次上限：{_window_label(cap.limit, cap.days)}")
    # WeCom's own 企业群发 limit; 0 configured means the platform's number for the window
    # (messaging's policy reads it the same way): 1 a day, 7 a week, the month's days a month.
    window, limit = config.wecom_mass_window, config.wecom_mass_limit
    if window == "day":
        daily.append(limit or 1)
        sources.append(f"企业微信群发上限：每天 {limit or 1} 条")
    elif window == "week":
        period.append(limit or 7)
        sources.append(f"企业微信群发上限：每周 {limit or 7} 条")
    else:
        months = {(start + dt.timedelta(days=d)).replace(day=1) for d in range(days)}
        shortest = min(calendar.monthrange(month.year, month.month)[1] for month in months)
        period.append(limit or shortest)
        sources.append(f"企业微信群发上限：每月 {limit or shortest} 条")
    quiet = _quiet_hours(start)
    if len(quiet) == HOURS_PER_DAY:
        raise BudgetProblemInvalid("免打扰时段覆盖全天，没有可以发送的时间")
    sendable = HOURS_PER_DAY - len(quiet)
    period_cap = min(period) if period else None
    daily_cap = min(daily) if daily else sendable
    if daily_cap <= 0:
        # A cap of 0 a day allows nothing; the optimiser wants a daily cap of at least 1.
        daily_cap, period_cap = 1, 0
    daily_cap = min(daily_cap, sendable)
    sources.append(f"免打扰时段：{quiet_hours_label(quiet)}")
    return MessageCaps(daily_cap, period_cap, quiet, tuple(sources))


# --------------------------------------------------------------------------------------------
# The response model from the event store


def _response_model(
    person_ids: IntArray, store: EventStore | None
) -> tuple[FloatArray, FloatArray, BoolArray, BoolArray]:
    """(propensity, hourly profile (people, 24), scored?, own profile?) for each person."""
    found = predictions_for_people(
        person_ids=person_ids.tolist(),
        columns=("purchase_propensity", "contact_hours"),
        store=store,
    )
    population = contact_hours_mean(store=store)
    fallback = np.full(HOURS_PER_DAY, 1.0 / HOURS_PER_DAY)
    if population is not None:
        mean = np.asarray(population, dtype=np.float64)
        if np.isfinite(mean).all() and (mean >= 0).all() and mean.sum() > 0:
            fallback = mean / mean.sum()
    count = person_ids.shape[0]
    propensity = np.full(count, PROPENSITY_FLOOR)
    profile = np.tile(fallback, (count, 1))
    scored = np.zeros(count, np.bool_)
    profiled = np.zeros(count, np.bool_)
    for index, person_id in enumerate(person_ids.tolist()):
        row = found.get(person_id)
        if row is None:
            continue
        score = row.get("purchase_propensity")
        if score is not None and math.isfinite(score) and 0.0 <= score <= 1.0:
            propensity[index] = score
            scored[index] = True
        hours = row.get("contact_hours")
        if hours is not None and len(hours) == HOURS_PER_DAY:
            shares = np.asarray(hours, dtype=np.float64)
            # A malformed profile (NaN, negative, all zero) is treated as missing.
            if np.isfinite(shares).all() and (shares >= 0).all() and shares.sum() > 0:
                profile[index] = shares / shares.sum()
                profiled[index] = True
    return propensity, profile, scored, profiled


# --------------------------------------------------------------------------------------------
# A planned period


@dataclasses.dataclass(frozen=True, eq=False)
class BudgetRun:
    """A period planned: the problem, the optimiser's plan, the baseline, and the numbering
    that ties the problem's customers, staff and days back to people, 跟进人 and dates."""

    problem: BudgetProblem
    plan: BudgetPlan
    baseline: BudgetPlan
    start: dt.date
    person_ids: IntArray  # customer index → person id, ascending
    staff_ids: tuple[str, ...]  # staff index → 跟进人
    campaigns: tuple[BudgetCampaign, ...]
    propensity: FloatArray
    scored: BoolArray
    profiled: BoolArray
    caps: MessageCaps
    staff_daily_limit: int
    unassigned: tuple[int, ...]  # audience members without a 跟进人: not planned

    @property
    def days(self) -> int:
        return self.problem.days

    def date_of(self, day: int) -> dt.date:
        return self.start + dt.timedelta(days=day)

    def send_at(self, day: int, hour: int) -> dt.datetime:
        """Day `day` of the period at `hour`:00 Asia/Shanghai, as aware UTC."""
        local = dt.datetime.combine(self.date_of(day), dt.time(hour), tzinfo=SHANGHAI)
        return local.astimezone(dt.UTC)

    def index_of(self, person_id: int) -> int | None:
        position = int(np.searchsorted(self.person_ids, person_id))
        if position < self.person_ids.shape[0] and int(self.person_ids[position]) == person_id:
            return position
        return None

    def _dated(self, line: str) -> str:
        """plan_explain counts days of the period ("第3天"); people read dates."""
        return re.sub(
            r"第(\d+)天", lambda match: day_label(self.date_of(int(match.group(1)) - 1)), line
        )

    def context(self, customer: int) -> list[str]:
        """What the explanation rests on for one customer: their scores, 跟进人 and the caps."""
        profile = self.problem.response[customer]
        allowed = [hour for hour in range(HOURS_PER_DAY) if hour not in self.caps.quiet_hours]
        best = max(allowed, key=lambda hour: (profile[hour], -hour))
        if self.scored[customer]:
            score = f"购买倾向 {self.propensity[customer]:.1%}（模型评分）"
        else:
            score = f"暂无购买倾向评分，按下限 {PROPENSITY_FLOOR:.0%} 估计"
        if self.profiled[customer]:
            hours = f"按本人的互动时段，非免打扰时段中 {best} 点最可能响应"
        else:
            hours = f"暂无本人的互动时段，按全体客户的平均时段（{best} 点最高）"
        staff = self.staff_ids[int(self.problem.staff[customer])]
        period = (
            f"本期最多 {self.caps.period} 条" if self.caps.period is not None else "本期不另设上限"
        )
        return [
            f"{score}；{hours}。",
            f"跟进人 {staff}（每天最多发送 {self.staff_daily_limit} 条）；"
            f"每位客户每天最多 {self.caps.daily} 条、{period}；"
            f"免打扰 {self.caps.quiet_label}。",
        ]

    def explain(self, person_id: int, *, baseline: bool = False) -> list[str]:
        """Why this person gets what they get (or would under the baseline), in Chinese."""
        customer = self.index_of(person_id)
        if customer is None:
            raise BudgetPersonNotPlanned(detail={"person_id": person_id})
        plan = self.baseline if baseline else self.plan
        return [self._dated(line) for line in plan_explain(self.problem, plan, customer)]

    def explanations(self) -> Iterator[tuple[int, dict[int, str], dict[int, str]]]:
        """For every customer: (index, the explanation line of each campaign in their audience,
        the drop reason of each such campaign the plan leaves out).

        `plan_explain` looks at the customer's staff member's whole plan, so it runs on each
        staff member's slice of the plan: the cost stays near a constant per customer instead
        of growing with the size of the whole plan."""
        problem, plan = self.problem, self.plan
        row_staff = problem.staff[plan.customer]
        for staff in range(problem.n_staff):
            members = np.flatnonzero(problem.staff == staff)
            if members.size == 0:
                continue
            rows = np.flatnonzero(row_staff == staff)
            local = np.searchsorted(members, plan.customer[rows])
            sub_problem = BudgetProblem(
                response_by_hour=problem.response[members],
                audience_affinity=problem.affinity[members],
                value_per_response_fen=problem.value_fen,
                staff_of_customer=np.zeros(members.size, np.int64),
                staff_daily_limit=problem.limit[staff : staff + 1],
                days=problem.days,
                campaign_first_day=problem.first_day,
                campaign_last_day=problem.last_day,
                day_factor=problem.day_weight,
                quiet_hours=self.caps.quiet_hours,
                customer_daily_cap=problem.customer_daily_cap,
                customer_period_cap=problem.customer_period_cap,
                campaign_names=problem.names,
            )
            sub_plan = dataclasses.replace(
                plan,
                customer=local,
                campaign=plan.campaign[rows],
                day=plan.day[rows],
                hour=plan.hour[rows],
                expected_value_fen=plan.expected_value_fen[rows],
                expected_responses=plan.expected_responses[rows],
            )
            staff_load = np.bincount(sub_plan.day, minlength=problem.days)
            starts = np.searchsorted(local, np.arange(members.size), side="left")
            ends = np.searchsorted(local, np.arange(members.size), side="right")
            for position, customer in enumerate(members.tolist()):
                mine = np.arange(starts[position], ends[position])
                lines = plan_explain(sub_problem, sub_plan, position)
                planned = sub_plan.campaign[mine].tolist()
                left_out = [k for k in range(problem.n_campaigns) if k not in planned]
                by_campaign = dict(zip(planned + left_out, lines, strict=True))
                daily = np.bincount(sub_plan.day[mine], minlength=problem.days)
                in_audience = {
                    k for k in range(problem.n_campaigns) if problem.affinity[customer, k] > 0
                }
                reasons = {
                    k: self._drop_reason(customer, k, mine.size, daily, staff_load, staff)
                    for k in left_out
                    if k in in_audience
                }
                yield (
                    customer,
                    {k: self._dated(line) for k, line in by_campaign.items() if k in in_audience},
                    reasons,
                )

    def _drop_reason(
        self,
        customer: int,
        campaign: int,
        planned: int,
        daily: IntArray,
        staff_load: IntArray,
        staff: int,
    ) -> str:
        """Mirrors `plan_explain`'s reasons for a campaign left out, as a code: the plan is
        maximal, so a campaign with value is left out only because a cap was full on every
        day of its window — the customer's own, or their 跟进人's on a day the customer had
        room (the staff limit is then what stopped it)."""
        problem = self.problem
        window = range(int(problem.first_day[campaign]), int(problem.last_day[campaign]) + 1)
        profile = problem.response[customer]
        allowed = ~problem.quiet
        if (
            problem.value_fen[campaign] <= 0
            or profile[allowed].max() <= 0
            or all(problem.day_weight[d] <= 0 for d in window)
        ):
            return DROP_NO_VALUE
        cap = problem.customer_period_cap
        if cap is not None and planned >= cap:
            return DROP_CUSTOMER_CAP
        customer_room = [d for d in window if daily[d] < problem.customer_daily_cap]
        if any(staff_load[d] >= problem.limit[staff, d] for d in customer_room):
            return DROP_STAFF_LIMIT
        if not customer_room:
            return DROP_CUSTOMER_CAP
        return DROP_NO_VALUE

    # ---- the numbers the console shows -------------------------------------------------

    def _totals(self, plan: BudgetPlan) -> dict[str, Any]:
        return {
            "messages": plan.messages,
            "customers": int(np.unique(plan.customer).shape[0]),
            "responses": round(plan.total_expected_responses, 4),
            "value_fen": round(plan.total_expected_value_fen, 2),
        }

    def _staff_days(self, plan: BudgetPlan) -> IntArray:
        cell = self.problem.staff[plan.customer] * self.days + plan.day
        counts = np.bincount(cell, minlength=self.problem.n_staff * self.days)
        return counts.reshape(self.problem.n_staff, self.days)

    def summary(self) -> dict[str, Any]:
        """Everything the plan-vs-baseline report shows, JSON-ready (stored with a plan)."""
        plan_load, base_load = self._staff_days(self.plan), self._staff_days(self.baseline)
        order = np.argsort(-plan_load.sum(axis=1), kind="stable")
        shown, rest = order[:STAFF_SHOWN], order[STAFF_SHOWN:]
        series = [
            {
                "name": self.staff_ids[int(s)],
                "plan": plan_load[s].tolist(),
                "baseline": base_load[s].tolist(),
            }
            for s in shown
        ]
        if rest.size:
            series.append(
                {
                    "name": f"其他 {rest.size} 位跟进人",
                    "plan": plan_load[rest].sum(axis=0).tolist(),
                    "baseline": base_load[rest].sum(axis=0).tolist(),
                }
            )
        plan_value = self.plan.total_expected_value_fen
        base_value = self.baseline.total_expected_value_fen
        bound = self.plan.upper_bound or 0.0
        labels = [day_label(self.date_of(day)) for day in range(self.days)]
        campaigns = []
        for k, campaign in enumerate(self.campaigns):
            first, last = int(self.problem.first_day[k]), int(self.problem.last_day[k])
            campaigns.append(
                {
                    "name": self.problem.names[k],
                    "value_per_response_fen": int(campaign.value_per_response_fen),
                    "audience": int((self.problem.affinity[:, k] > 0).sum()),
                    "window": f"{labels[first]} 至 {labels[last]}",
                    "planned": int((self.plan.campaign == k).sum()),
                    "baseline": int((self.baseline.campaign == k).sum()),
                }
            )
        return {
            "start": self.start.isoformat(),
            "days": self.days,
            "day_labels": labels,
            "customers": self.problem.n_customers,
            "staff": self.problem.n_staff,
            "unassigned": len(self.unassigned),
            "scored": int(self.scored.sum()),
            "profiled": int(self.profiled.sum()),
            "campaigns": campaigns,
            "caps": {
                "daily": self.caps.daily,
                "period": self.caps.period,
                "quiet": self.caps.quiet_label,
                "sources": list(self.caps.sources),
                "staff_daily_limit": self.staff_daily_limit,
                "propensity_floor": PROPENSITY_FLOOR,
            },
            "plan": self._totals(self.plan),
            "baseline": self._totals(self.baseline),
            "upper_bound_fen": round(bound, 2),
            "upper_bound_label": BOUND_LABELS.get(self.plan.upper_bound_kind or "", ""),
            "gap_pct": round(100 * (1 - plan_value / bound), 2) if bound > 0 else 0.0,
            "uplift_value_pct": round(100 * (plan_value / base_value - 1), 1)
            if base_value > 0
            else None,
            "uplift_responses_pct": round(
                100
                * (self.plan.total_expected_responses / self.baseline.total_expected_responses - 1),
                1,
            )
            if self.baseline.total_expected_responses > 0
            else None,
            "max_staff_day": {
                "plan": int(plan_load.max()) if plan_load.size else 0,
                "baseline": int(base_load.max()) if base_load.size else 0,
            },
            "staff_chart": {"days": labels, "series": series},
            "hour_chart": {
                "plan": np.bincount(self.plan.hour, minlength=HOURS_PER_DAY).tolist(),
                "baseline": np.bincount(self.baseline.hour, minlength=HOURS_PER_DAY).tolist(),
                "quiet": list(self.caps.quiet_hours),
            },
            "method": self.plan.method,
            "iterations": self.plan.iterations,
            "repair_rounds": self.plan.repair_rounds,
        }


def budget_run(
    *,
    campaigns: Sequence[BudgetCampaign],
    staff_of_person: Mapping[int, str],
    staff_daily_limit: int,
    start: dt.date,
    days: int = DEFAULT_DAYS,
    staff_day_used: Mapping[tuple[str, int], int] | None = None,
    store: EventStore | None = None,
) -> BudgetRun:
    """Plan `campaigns` over `days` whole days from `start` (Asia/Shanghai) and build the
    baseline beside it.

    `staff_of_person` maps each person to the 跟进人 who sends to them (audience members
    without one are left out and listed in `unassigned`); each 跟进人 sends at most
    `staff_daily_limit` a day, less what `staff_day_used[(staff, day)]` already takes (other
    plans' sends). Bad input (a window outside the period, a negative value, no campaign) is
    BudgetProblemInvalid with the reason in Chinese."""
    if not campaigns:
        raise BudgetProblemInvalid("没有要规划的群发")
    if days < 1:
        raise BudgetProblemInvalid("计划天数至少为 1 天")
    if staff_daily_limit < 0:
        raise BudgetProblemInvalid("跟进人每日额度不能为负数")
    audience = sorted({int(p) for campaign in campaigns for p in campaign.person_ids})
    assigned = np.asarray([p for p in audience if p in staff_of_person], dtype=np.int64)
    unassigned = tuple(p for p in audience if p not in staff_of_person)
    count = assigned.shape[0]

    affinity = np.zeros((count, len(campaigns)))
    for k, campaign in enumerate(campaigns):
        members = np.asarray(sorted({int(p) for p in campaign.person_ids}), dtype=np.int64)
        position = np.searchsorted(assigned, members)
        inside = position < count
        inside[inside] &= assigned[position[inside]] == members[inside]
        affinity[position[inside], k] = 1.0

    staff_ids = tuple(sorted({staff_of_person[int(p)] for p in assigned.tolist()})) or ("",)
    staff_index = {staff: index for index, staff in enumerate(staff_ids)}
    staff_of_customer = np.asarray(
        [staff_index[staff_of_person[int(p)]] for p in assigned.tolist()], dtype=np.int64
    )
    limit = np.full((len(staff_ids), days), staff_daily_limit, dtype=np.int64)
    for (staff, day), used in (staff_day_used or {}).items():
        if staff in staff_index and 0 <= day < days:
            limit[staff_index[staff], day] = max(0, limit[staff_index[staff], day] - used)

    propensity, profile, scored, profiled = _response_model(assigned, store)
    caps = message_caps(start=start, days=days)
    try:
        problem = BudgetProblem(
            response_by_hour=np.clip(propensity[:, None] * profile, 0.0, 1.0),
            audience_affinity=affinity,
            value_per_response_fen=[c.value_per_response_fen for c in campaigns],
            staff_of_customer=staff_of_customer,
            staff_daily_limit=limit,
            days=days,
            campaign_first_day=np.asarray([c.first_day for c in campaigns], dtype=np.int64),
            campaign_last_day=np.asarray(
                [days - 1 if c.last_day is None else c.last_day for c in campaigns],
                dtype=np.int64,
            ),
            quiet_hours=caps.quiet_hours,
            customer_daily_cap=caps.daily,
            customer_period_cap=caps.period,
            campaign_names=[c.name for c in campaigns],
        )
    except BudgetInvalid as error:
        raise BudgetProblemInvalid(str(error)) from error
    return BudgetRun(
        problem=problem,
        plan=budget_plan(problem),
        baseline=budget_baseline(problem),
        start=start,
        person_ids=assigned,
        staff_ids=staff_ids,
        campaigns=tuple(campaigns),
        propensity=propensity,
        scored=scored,
        profiled=profiled,
        caps=caps,
        staff_daily_limit=staff_daily_limit,
        unassigned=unassigned,
    )


def first_whole_day(moment: dt.datetime) -> dt.date:
    """The first Asia/Shanghai day whose sending hours are all still ahead of `moment` (its
    first non-quiet hour not over yet): a plan places messages by whole days, so a period
    starting at 15:00 starts tomorrow, and one planned at 08:20 keeps today's 08:00 slot
    (sent at once)."""
    local = moment.astimezone(SHANGHAI)
    quiet = _quiet_hours(local.date())
    sendable = [hour for hour in range(HOURS_PER_DAY) if hour not in quiet]
    if not sendable:
        raise BudgetProblemInvalid("免打扰时段覆盖全天，没有可以发送的时间")
    first_hour = sendable[0]
    first_hour_over = dt.datetime.combine(
        local.date(), dt.time(first_hour), tzinfo=SHANGHAI
    ) + dt.timedelta(hours=1)
    return local.date() if local < first_hour_over else local.date() + dt.timedelta(days=1)


# --------------------------------------------------------------------------------------------
# The console's simulation (模拟): the optimiser on today's predictions, without scrm

# Sample campaigns laid over the largest segments: (value per response in fen, first day,
# last day) — a week-long one, a three-day one at the start, a four-day one at the end, so
# windows overlap and customers in several audiences compete for their daily cap.
SIMULATION_CAMPAIGNS: tuple[tuple[int, int, int], ...] = ((3000, 0, 6), (5000, 0, 2), (8000, 3, 6))
# Intelligence cannot see who follows whom (scrm, above it), so the simulation deals its
# customers out to made-up 跟进人 of SIMULATED_PORTFOLIO customers each, with a daily limit
# that binds on the busy days — the situation the optimiser is for.
SIMULATED_PORTFOLIO = 400
SIMULATED_STAFF_DAILY_LIMIT = 150
# Keeps the page's planning near a second (the optimiser does ~20,000 customers in 0.6 s).
SIMULATION_MAX_CUSTOMERS = 20_000


@dataclasses.dataclass(frozen=True, eq=False)
class BudgetSimulation:
    run: BudgetRun
    segments: tuple[str, ...]
    left_out: int  # customers beyond SIMULATION_MAX_CUSTOMERS, not simulated


def budget_simulation(
    *, now: dt.datetime, store: EventStore | None = None
) -> BudgetSimulation | None:
    """A week planned from `now` for sample campaigns over the largest segments, with
    simulated 跟进人 (clearly not real ones); None when no segment has members."""
    segments = simulation_segments(limit=len(SIMULATION_CAMPAIGNS))
    if not segments:
        return None
    everyone = sorted({p for _, members in segments for p in members})
    kept = set(everyone[:SIMULATION_MAX_CUSTOMERS])
    campaigns = [
        BudgetCampaign(
            name=f"模拟{'①②③'[k]}·{segment.name}",
            person_ids=[p for p in members if p in kept],
            value_per_response_fen=value,
            first_day=first,
            last_day=last,
        )
        for k, ((segment, members), (value, first, last)) in enumerate(
            zip(segments, SIMULATION_CAMPAIGNS, strict=False)
        )
    ]
    ordered = sorted(kept)
    staff_count = max(1, math.ceil(len(ordered) / SIMULATED_PORTFOLIO))
    staff_of_person = {
        person_id: f"模拟跟进人{rank % staff_count + 1:02d}"
        for rank, person_id in enumerate(ordered)
    }
    run = budget_run(
        campaigns=campaigns,
        staff_of_person=staff_of_person,
        staff_daily_limit=SIMULATED_STAFF_DAILY_LIMIT,
        start=first_whole_day(now),
        store=store,
    )
    return BudgetSimulation(
        run=run,
        segments=tuple(segment.name for segment, _ in segments),
        left_out=len(everyone) - len(kept),
    )
