"""WeCom message budget (SC-3): plan a week of mass messages for 1,000,000 customers and compare
with the hand-made baseline and with the optimiser's own upper bound. Pure computation: no
database, no Django.

Synthetic period, from a seeded numpy generator with a planted response model:

- 1,000,000 customers, 500 staff members. Customers are spread over staff by lognormal weights
  (σ = 0.5), so staff portfolios average 2,000 customers but are skewed (seed 3: median 1,750,
  10th–90th percentile 940–3,350, from 382 to 9,001).
- Hourly response profiles of four customer types — morning (peak ~08:30), noon (~12:30),
  evening (~20:00) and late (~22:30, i.e. inside the quiet hours, so their best allowed hour is
  21:00) — a per-customer peak jitter and width, and a per-customer responsiveness (Beta(2, 18),
  mean 10 % at the peak); off-peak hours keep 40 % of the peak.
- 8 campaigns over 7 days with their own audiences (40–80 % of customers, ~4.7 campaigns per
  customer), an affinity multiplier (lognormal, σ = 0.35) for members, values per response from
  ¥5 to ¥30, and day windows (a one-day member day, a weekend live preview, …); day factors
  favour the weekend (days 6 and 7).
- Caps: one mass message per customer per day, no period cap beyond that; quiet hours 22–08;
  each staff member may send 1,600 messages a day. A customer is in ~4.7 campaigns a week, i.e.
  wants ~0.7 messages a day, so the limit binds for the larger portfolios (above ~2,300
  customers: 31 % of staff at seed 3) and on the busy days of some others, and not for the
  rest — `staff_days_at_limit` counts the staff days the plan fills exactly.

The optimiser maximises expected value (fen). `uplift_pct` = 100 · (plan / baseline − 1) on
expected value; `responses_uplift_pct` is the same on expected responses (Σ a·p·day factor).
`gap_pct` = 100 · (1 − plan value / upper_bound), the bound being the smaller of the staff-free
bound and the best Lagrangian dual bound (`upper_bound_kind`). `seconds` is `budget_plan` alone;
`baseline_seconds` and `generate_seconds` are reported apart. To separate the two sources of
uplift, `baseline_at_best_hour_value_fen` is the baseline's own messages re-timed to each
customer's best non-quiet hour (what hour choice alone buys); the rest of the uplift is choosing
who gets the scarce staff days and which campaign on which day. `peak_mb` is the process's peak
resident memory (ru_maxrss), generator included. `violations` / `baseline_violations` count
`plan_caps_violations` lines (must be 0).

Usage: python bench/budget.py [--quick] [--customers N] [--staff N] [--seed N]
--quick runs 20,000 customers / 10 staff. Prints one JSON line.
"""

from __future__ import annotations

import argparse
import sys
import time

import numpy as np
from _common import ROOT, emit, peak_mb

sys.path.insert(0, str(ROOT / "src"))

from freshloop.intelligence.budget import (
    BudgetProblem,
    budget_baseline,
    budget_plan,
    plan_caps_violations,
)

DAYS = 7
STAFF_DAILY_LIMIT = 1_600
CAMPAIGN_NAMES = (
    "秋季新品",
    "周末直播预告",
    "会员日",
    "大闸蟹预售",
    "有机蔬菜订阅",
    "烘焙新品",
    "水果团购",
    "老客回馈",
)
VALUE_PER_RESPONSE_FEN = np.array([800, 500, 1_200, 3_000, 1_500, 600, 900, 2_000], np.float64)
AUDIENCE_SHARE = np.array([0.8, 0.5, 0.6, 0.4, 0.6, 0.7, 0.6, 0.5])
FIRST_DAY = np.array([0, 4, 2, 0, 1, 0, 3, 5])
LAST_DAY = np.array([6, 6, 2, 3, 6, 6, 5, 6])
DAY_FACTOR = np.array([1.0, 0.95, 0.95, 1.0, 1.05, 1.2, 1.15])
# Customer types: share, peak hour, and the spread of the peak (hours).
TYPE_SHARE = np.array([0.25, 0.25, 0.35, 0.15])
TYPE_PEAK = np.array([8.5, 12.5, 20.0, 22.5])
TYPE_WIDTH = np.array([2.5, 2.5, 3.0, 2.5])
# Share of the peak response rate a customer keeps at their worst hours.
OFF_PEAK = 0.4
_BLOCK = 100_000


def generate(customers: int, staff: int, seed: int) -> BudgetProblem:
    rng = np.random.default_rng(seed)
    portfolio = rng.lognormal(0.0, 0.5, staff)
    staff_of_customer = rng.choice(staff, size=customers, p=portfolio / portfolio.sum())

    response = np.empty((customers, 24))
    hours = np.arange(24, dtype=np.float64)
    for start in range(0, customers, _BLOCK):
        n = min(_BLOCK, customers - start)
        kind = rng.choice(4, size=n, p=TYPE_SHARE)
        peak = TYPE_PEAK[kind] + rng.normal(0.0, 0.75, n)
        width = TYPE_WIDTH[kind] * rng.uniform(0.8, 1.5, n)
        responsiveness = rng.beta(2.0, 18.0, n)
        distance = np.abs(hours[None, :] - peak[:, None])
        distance = np.minimum(distance, 24.0 - distance)  # hours wrap around midnight
        bump = np.exp(-0.5 * (distance / width[:, None]) ** 2)
        response[start : start + n] = responsiveness[:, None] * (OFF_PEAK + (1 - OFF_PEAK) * bump)

    member = rng.random((customers, len(CAMPAIGN_NAMES))) < AUDIENCE_SHARE[None, :]
    affinity = rng.lognormal(0.0, 0.35, member.shape) * member
    return BudgetProblem(
        response_by_hour=response,
        audience_affinity=affinity,
        value_per_response_fen=VALUE_PER_RESPONSE_FEN,
        staff_of_customer=staff_of_customer,
        staff_daily_limit=np.full(staff, STAFF_DAILY_LIMIT),
        days=DAYS,
        campaign_first_day=FIRST_DAY,
        campaign_last_day=LAST_DAY,
        day_factor=DAY_FACTOR,
        quiet_hours=(22, 23, 0, 1, 2, 3, 4, 5, 6, 7),
        customer_daily_cap=1,
        campaign_names=CAMPAIGN_NAMES,
    )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true")
    parser.add_argument("--customers", type=int, default=0)
    parser.add_argument("--staff", type=int, default=0)
    parser.add_argument("--seed", type=int, default=3)
    args = parser.parse_args()
    customers = args.customers or (20_000 if args.quick else 1_000_000)
    staff = args.staff or (10 if args.quick else 500)

    started = time.perf_counter()
    problem = generate(customers, staff, args.seed)
    generate_seconds = time.perf_counter() - started

    started = time.perf_counter()
    plan = budget_plan(problem)
    seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline = budget_baseline(problem)
    baseline_seconds = time.perf_counter() - started

    value = plan.total_expected_value_fen
    baseline_value = baseline.total_expected_value_fen
    assert plan.upper_bound is not None
    best_allowed_rate = problem.response[:, ~problem.quiet].max(axis=1)
    baseline_at_best_hour = float(
        (
            problem.value_fen[baseline.campaign]
            * problem.affinity[baseline.customer, baseline.campaign]
            * problem.day_weight[baseline.day]
            * best_allowed_rate[baseline.customer]
        ).sum()
    )
    load = np.bincount(
        problem.staff[plan.customer] * DAYS + plan.day, minlength=staff * DAYS
    ).reshape(staff, DAYS)
    emit(
        {
            "bench": "budget",
            "customers": customers,
            "staff": staff,
            "campaigns": len(CAMPAIGN_NAMES),
            "days": DAYS,
            "seed": args.seed,
            "seconds": round(seconds, 2),
            "baseline_seconds": round(baseline_seconds, 2),
            "generate_seconds": round(generate_seconds, 2),
            "messages": plan.messages,
            "baseline_messages": baseline.messages,
            "expected_responses": round(plan.total_expected_responses, 1),
            "baseline_expected_responses": round(baseline.total_expected_responses, 1),
            "expected_value_fen": round(value),
            "baseline_expected_value_fen": round(baseline_value),
            "baseline_at_best_hour_value_fen": round(baseline_at_best_hour),
            "upper_bound": round(plan.upper_bound),
            "upper_bound_kind": plan.upper_bound_kind,
            "staff_free_bound": round(plan.staff_free_bound or 0.0),
            "uplift_pct": round(100 * (value / baseline_value - 1), 2),
            "uplift_refers_to": "expected_value_fen",
            "responses_uplift_pct": round(
                100 * (plan.total_expected_responses / baseline.total_expected_responses - 1), 2
            ),
            "gap_pct": round(100 * (1 - value / plan.upper_bound), 3),
            "staff_days_at_limit": int((load >= problem.limit).sum()),
            "staff_days": staff * DAYS,
            "iterations": plan.iterations,
            "repair_rounds": plan.repair_rounds,
            "method": plan.method,
            "peak_mb": peak_mb(),
            "violations": len(plan_caps_violations(problem, plan)),
            "baseline_violations": len(plan_caps_violations(problem, baseline)),
        }
    )


if __name__ == "__main__":
    main()
