"""The WeCom message budget optimiser (SC-3): hand-computed and brute-forced optima, caps that
hold on random problems, the baseline, the checker and the explanations. Pure functions: no
database."""

from __future__ import annotations

import itertools
from typing import Any

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from freshloop.intelligence.budget import (
    BOUND_STAFF_FREE,
    METHOD_BASELINE,
    BudgetInvalid,
    BudgetPlan,
    BudgetProblem,
    budget_baseline,
    budget_plan,
    plan_caps_violations,
    plan_explain,
)

ONLY_9_AND_20 = tuple(hour for hour in range(24) if hour not in (9, 20))


def make_hand_problem() -> BudgetProblem:
    """3 customers, 2 staff members, 2 campaigns, 2 days; only 09:00 and 20:00 may be used.

    Customer 0 answers best at 20:00 (20 %), customer 1 at 09:00 (12 %), customer 2 at 20:00
    (30 %). 「秋季新品」 (¥10 a response) runs both days, 「周末直播预告」 (¥5) only on day 2, which
    responds 1.2× better. Customer 0 is not in the live-preview audience, customer 1 only half.
    Staff 0 (customers 0 and 1) sends one message a day; staff 1 (customer 2) none on day 1 and
    two on day 2. One message per customer per day.

    Staff 0: day 1 and day 2 hold one message each. Customer 0's new-product message is worth
    200 fen on day 1 and 240 on day 2, customer 1's 120 and 144; customer 1's live preview 36.
    Best: customer 1 on day 1 (120) and customer 0 on day 2 (240) = 360 (the other way round is
    344). Staff 1: only day 2, one message for customer 2: new product 360 beats preview 180.
    Optimum 720 fen."""
    response = np.zeros((3, 24))
    response[0, [9, 20]] = [0.05, 0.20]
    response[1, [9, 20]] = [0.12, 0.02]
    response[2, [9, 20]] = [0.10, 0.30]
    return BudgetProblem(
        response_by_hour=response,
        audience_affinity=np.array([[1.0, 0.0], [1.0, 0.5], [1.0, 1.0]]),
        value_per_response_fen=np.array([1000, 500]),
        staff_of_customer=np.array([0, 0, 1]),
        staff_daily_limit=np.array([[1, 1], [0, 2]]),
        days=2,
        campaign_first_day=np.array([0, 1]),
        campaign_last_day=np.array([1, 1]),
        day_factor=np.array([1.0, 1.2]),
        quiet_hours=ONLY_9_AND_20,
        customer_daily_cap=1,
        campaign_names=("秋季新品", "周末直播预告"),
    )


def make_random_problem(
    seed: int,
    *,
    customers: int,
    campaigns: int,
    days: int,
    staff: int,
    allowed_hours: int,
    daily_cap: int = 1,
    period_cap: int | None = None,
    quiet_hours: tuple[int, ...] | None = None,
) -> BudgetProblem:
    rng = np.random.default_rng(seed)
    if quiet_hours is None:
        allowed = set(rng.choice(24, size=allowed_hours, replace=False).tolist())
        quiet_hours = tuple(hour for hour in range(24) if hour not in allowed)
    first_day = rng.integers(0, days, campaigns)
    last_day = np.array([rng.integers(first, days) for first in first_day])
    return BudgetProblem(
        response_by_hour=rng.random((customers, 24)) * 0.3,
        audience_affinity=rng.random((customers, campaigns))
        * (rng.random((customers, campaigns)) < 0.75),
        value_per_response_fen=rng.integers(1, 1000, campaigns),
        staff_of_customer=rng.integers(0, staff, customers),
        staff_daily_limit=rng.integers(0, 3, (staff, days)),
        days=days,
        campaign_first_day=first_day,
        campaign_last_day=last_day,
        day_factor=rng.random(days) + 0.5,
        quiet_hours=quiet_hours,
        customer_daily_cap=daily_cap,
        customer_period_cap=period_cap,
    )


def brute_force_optimum(problem: BudgetProblem) -> float:
    """The best total expected value by enumeration: every customer's every way of placing each
    campaign (or not) on a (day, allowed hour) within the customer's caps, then for each staff
    member the best combination of their customers within the daily limits. Independent of
    the optimiser's slot model; tiny problems only."""
    hours = [hour for hour in range(24) if not problem.quiet[hour]]
    best_by_staff: list[dict[tuple[int, ...], float]] = [
        {(0,) * problem.days: 0.0} for _ in range(problem.n_staff)
    ]
    for customer in range(problem.n_customers):
        options_per_campaign = []
        for campaign in range(problem.n_campaigns):
            options: list[tuple[int, int] | None] = [None]
            if problem.affinity[customer, campaign] > 0:
                window = range(problem.first_day[campaign], problem.last_day[campaign] + 1)
                options += [(day, hour) for day in window for hour in hours]
            options_per_campaign.append(options)
        best_by_load: dict[tuple[int, ...], float] = {}
        for choice in itertools.product(*options_per_campaign):
            sent = [(k, slot) for k, slot in enumerate(choice) if slot is not None]
            if len({slot for _, slot in sent}) < len(sent):
                continue  # two messages in the same hour
            if problem.customer_period_cap is not None and len(sent) > problem.customer_period_cap:
                continue
            load = tuple(sum(1 for _, (d, _) in sent if d == day) for day in range(problem.days))
            if max(load) > problem.customer_daily_cap:
                continue
            value = sum(
                problem.value_fen[k]
                * problem.affinity[customer, k]
                * problem.response[customer, hour]
                * problem.day_weight[day]
                for k, (day, hour) in sent
            )
            best_by_load[load] = max(value, best_by_load.get(load, -1.0))
        staff = int(problem.staff[customer])
        combined: dict[tuple[int, ...], float] = {}
        for so_far, value_so_far in best_by_staff[staff].items():
            for load, value in best_by_load.items():
                total = tuple(a + b for a, b in zip(so_far, load, strict=True))
                if all(total[d] <= problem.limit[staff, d] for d in range(problem.days)):
                    combined[total] = max(value_so_far + value, combined.get(total, -1.0))
        best_by_staff[staff] = combined
    return sum(max(states.values()) for states in best_by_staff)


def rows(plan: BudgetPlan) -> set[tuple[int, int, int, int]]:
    return {
        (int(c), int(k), int(d), int(h))
        for c, k, d, h in zip(plan.customer, plan.campaign, plan.day, plan.hour, strict=True)
    }


class TestBudgetProblem:
    def base(self) -> dict[str, Any]:
        return {
            "response_by_hour": np.full((2, 24), 0.1),
            "audience_affinity": np.ones((2, 2)),
            "value_per_response_fen": np.array([100, 200]),
            "staff_of_customer": np.array([0, 0]),
            "staff_daily_limit": np.array([5]),
            "days": 3,
        }

    def test_a_valid_problem_is_normalised(self) -> None:
        # given a per-staff limit and no windows or day factors
        problem = BudgetProblem(**self.base())
        # then the limit covers every day and the windows the whole period
        assert problem.limit.tolist() == [[5, 5, 5]]
        assert problem.first_day.tolist() == [0, 0]
        assert problem.last_day.tolist() == [2, 2]
        assert problem.day_weight.tolist() == [1.0, 1.0, 1.0]
        assert problem.names == ("活动1", "活动2")

    @pytest.mark.parametrize(
        ("change", "message"),
        [
            ({"response_by_hour": np.full((2, 23), 0.1)}, "客户数 × 24"),
            ({"response_by_hour": np.full((2, 24), np.nan)}, "NaN"),
            ({"response_by_hour": np.full((2, 24), 1.5)}, "0 到 1"),
            ({"response_by_hour": np.full((2, 24), -0.1)}, "不能为负数"),
            ({"audience_affinity": np.ones((2, 3))}, "人群系数"),
            ({"audience_affinity": -np.ones((2, 2))}, "不能为负数"),
            ({"value_per_response_fen": np.array([100, -1])}, "不能为负数"),
            ({"value_per_response_fen": np.array([100, np.inf])}, "无穷大"),
            ({"staff_of_customer": np.array([0, 1])}, "导购名单范围"),
            ({"staff_of_customer": np.array([0.0, 0.0])}, "整数"),
            ({"staff_daily_limit": np.array([-1])}, "不能为负数"),
            ({"staff_daily_limit": np.ones((1, 2), np.int64)}, "导购数 × 天数"),
            ({"quiet_hours": tuple(range(24))}, "覆盖全天"),
            ({"quiet_hours": (25,)}, "0 到 23"),
            ({"campaign_first_day": np.array([0, 3])}, "超出计划周期"),
            ({"campaign_first_day": np.array([2, 0]), "campaign_last_day": [1, 2]}, "晚于"),
            ({"day_factor": np.array([1.0, 1.0])}, "日系数"),
            ({"days": 0}, "计划天数"),
            ({"customer_daily_cap": 0}, "每日上限"),
            ({"customer_daily_cap": 3, "quiet_hours": tuple(range(22))}, "可发送的小时数"),
            ({"customer_period_cap": -1}, "本期上限"),
            ({"campaign_names": ("只有一个",)}, "活动名称"),
        ],
    )
    def test_invalid_input_is_refused_in_chinese(
        self, change: dict[str, Any], message: str
    ) -> None:
        # given a problem with one wrong input
        arguments = self.base() | change
        # when it is built, then it is refused with a message naming the input
        with pytest.raises(BudgetInvalid, match=message):
            BudgetProblem(**arguments)

    def test_budget_invalid_is_a_value_error(self) -> None:
        assert issubclass(BudgetInvalid, ValueError)


class TestBudgetPlan:
    def test_hand_computed_optimum(self) -> None:
        # given the hand-made problem whose optimum is 720 fen (see make_hand_problem)
        problem = make_hand_problem()
        # when it is planned
        plan = budget_plan(problem)
        # then each customer gets the new-product campaign on the day and at the hour worked out
        assert rows(plan) == {(1, 0, 0, 9), (0, 0, 1, 20), (2, 0, 1, 20)}
        assert plan.total_expected_value_fen == pytest.approx(720.0)
        assert sorted(plan.expected_value_fen.round(6).tolist()) == [120.0, 240.0, 360.0]
        assert plan.total_expected_responses == pytest.approx(0.12 + 0.24 + 0.36)
        # and the enumerator agrees, and the bound is valid and tighter than ignoring staff
        assert brute_force_optimum(problem) == pytest.approx(720.0)
        assert plan.upper_bound is not None
        assert plan.staff_free_bound == pytest.approx(240 + 156 + 480)
        assert 720.0 - 1e-6 <= plan.upper_bound < plan.staff_free_bound
        assert plan_caps_violations(problem, plan) == []

    @pytest.mark.parametrize("seed", range(40))
    def test_tiny_random_problems_approach_the_brute_force_optimum(self, seed: int) -> None:
        # given a tiny random problem (1–3 customers, ≤ 3 campaigns, ≤ 3 days, ≤ 3 hours)
        rng = np.random.default_rng(1000 + seed)
        daily_cap = int(rng.integers(1, 3))
        problem = make_random_problem(
            seed,
            customers=int(rng.integers(1, 4)),
            campaigns=int(rng.integers(1, 4)),
            days=int(rng.integers(1, 4)) if daily_cap == 1 else 2,
            staff=int(rng.integers(1, 3)),
            allowed_hours=int(rng.integers(2, 4)),
            daily_cap=daily_cap,
            period_cap=None if seed % 2 else int(rng.integers(0, 4)),
        )
        # when it is planned and brute-forced
        plan = budget_plan(problem)
        optimum = brute_force_optimum(problem)
        # then the plan is feasible, never beats the optimum, reaches 95 % of it, and the
        # optimum never exceeds the reported upper bound
        assert plan_caps_violations(problem, plan) == []
        assert plan.upper_bound is not None
        assert plan.total_expected_value_fen <= optimum + 1e-6
        assert plan.total_expected_value_fen >= 0.95 * optimum
        assert optimum <= plan.upper_bound + 1e-6

    def test_without_binding_staff_limits_the_plan_is_the_staff_free_optimum(self) -> None:
        # given limits nobody can reach
        problem = make_random_problem(
            7, customers=40, campaigns=4, days=3, staff=2, allowed_hours=6
        )
        problem = BudgetProblem(
            **{
                name: getattr(problem, name)
                for name in (
                    "response_by_hour",
                    "audience_affinity",
                    "value_per_response_fen",
                    "staff_of_customer",
                    "days",
                    "campaign_first_day",
                    "campaign_last_day",
                    "day_factor",
                    "quiet_hours",
                )
            },
            staff_daily_limit=np.array([1000, 1000]),
        )
        # when it is planned
        plan = budget_plan(problem)
        # then it hits the staff-free bound exactly after one pricing pass
        assert plan.upper_bound_kind == BOUND_STAFF_FREE
        assert plan.iterations == 1
        assert plan.total_expected_value_fen == pytest.approx(plan.upper_bound)

    def test_two_messages_a_day_go_out_at_the_two_best_hours(self) -> None:
        # given one customer, two campaigns, one day, two a day allowed, peaks at 20:00 and 12:00
        response = np.full((1, 24), 0.01)
        response[0, [12, 20, 23]] = [0.10, 0.30, 0.50]  # 23:00 is the best but quiet
        problem = BudgetProblem(
            response_by_hour=response,
            audience_affinity=np.ones((1, 2)),
            value_per_response_fen=np.array([100, 300]),
            staff_of_customer=np.array([0]),
            staff_daily_limit=np.array([5]),
            days=1,
            customer_daily_cap=2,
        )
        # when it is planned
        plan = budget_plan(problem)
        # then the more valuable campaign takes 20:00 and the other 12:00
        assert rows(plan) == {(0, 1, 0, 20), (0, 0, 0, 12)}
        assert plan.total_expected_value_fen == pytest.approx(300 * 0.3 + 100 * 0.1)

    def test_the_period_cap_keeps_the_most_valuable_campaigns(self) -> None:
        # given one customer in four campaigns over four days and a period cap of two
        problem = BudgetProblem(
            response_by_hour=np.full((1, 24), 0.1),
            audience_affinity=np.ones((1, 4)),
            value_per_response_fen=np.array([100, 400, 200, 300]),
            staff_of_customer=np.array([0]),
            staff_daily_limit=np.array([5]),
            days=4,
            customer_period_cap=2,
        )
        # when it is planned
        plan = budget_plan(problem)
        # then the two most valuable campaigns are sent, on different days
        assert sorted(plan.campaign.tolist()) == [1, 3]
        assert len(set(plan.day.tolist())) == 2

    def test_nobody_in_any_audience_gives_an_empty_plan(self) -> None:
        problem = BudgetProblem(
            response_by_hour=np.full((3, 24), 0.1),
            audience_affinity=np.zeros((3, 2)),
            value_per_response_fen=np.array([100, 200]),
            staff_of_customer=np.array([0, 0, 0]),
            staff_daily_limit=np.array([5]),
            days=2,
        )
        plan = budget_plan(problem)
        assert plan.messages == 0
        assert plan.total_expected_value_fen == 0.0
        # the bound is 0 up to its float-tolerance margin (2·campaigns + 2)·1e-9 fen a customer
        assert plan.upper_bound == pytest.approx(0.0, abs=3 * 6 * 1e-9)

    @settings(max_examples=60, deadline=None)
    @given(
        seed=st.integers(0, 2**32 - 1),
        customers=st.integers(1, 40),
        campaigns=st.integers(1, 5),
        days=st.integers(1, 5),
        staff=st.integers(1, 4),
        daily_cap=st.integers(1, 3),
        period_cap=st.none() | st.integers(0, 6),
        quiet=st.sets(st.integers(0, 23), max_size=21),
    )
    def test_no_cap_is_ever_exceeded(
        self,
        seed: int,
        customers: int,
        campaigns: int,
        days: int,
        staff: int,
        daily_cap: int,
        period_cap: int | None,
        quiet: set[int],
    ) -> None:
        # given a random problem
        problem = make_random_problem(
            seed,
            customers=customers,
            campaigns=campaigns,
            days=days,
            staff=staff,
            allowed_hours=0,
            daily_cap=daily_cap,
            period_cap=period_cap,
            quiet_hours=tuple(sorted(quiet)),
        )
        # when it is planned and the baseline is built
        plan = budget_plan(problem)
        baseline = budget_baseline(problem)
        # then neither breaks a cap, a quiet hour or a window, and the plan stays below its bound
        assert plan_caps_violations(problem, plan) == []
        assert plan_caps_violations(problem, baseline) == []
        assert not set(plan.hour.tolist()) & quiet
        assert not set(baseline.hour.tolist()) & quiet
        assert plan.upper_bound is not None
        assert plan.total_expected_value_fen <= plan.upper_bound + 1e-6
        assert plan.upper_bound <= (plan.staff_free_bound or 0.0) + 1e-6


class TestBudgetBaseline:
    def test_campaign_order_at_ten_first_come_first_served(self) -> None:
        # given three customers of one staff member who may send two messages a day
        problem = BudgetProblem(
            response_by_hour=np.full((3, 24), 0.1),
            audience_affinity=np.ones((3, 2)),
            value_per_response_fen=np.array([100, 200]),
            staff_of_customer=np.array([0, 0, 0]),
            staff_daily_limit=np.array([2]),
            days=2,
        )
        # when the baseline is built
        baseline = budget_baseline(problem)
        # then customers 0 and 1 get campaign 1 then campaign 2 at 10:00; customer 2 waits twice
        assert rows(baseline) == {(0, 0, 0, 10), (1, 0, 0, 10), (0, 1, 1, 10), (1, 1, 1, 10)}
        assert baseline.method == METHOD_BASELINE
        assert baseline.upper_bound is None
        assert baseline.total_expected_value_fen == pytest.approx(2 * (10 + 20))

    def test_a_quiet_ten_oclock_moves_to_the_next_open_hour(self) -> None:
        # given the hand problem, where only 09:00 and 20:00 are open
        problem = make_hand_problem()
        # when the baseline is built
        baseline = budget_baseline(problem)
        # then messages go at 20:00: customer 0 first on day 1 (staff 0 sends one a day, staff 1
        # none), customers 1 and 2 on day 2
        assert rows(baseline) == {(0, 0, 0, 20), (1, 0, 1, 20), (2, 0, 1, 20)}
        assert baseline.total_expected_value_fen == pytest.approx(200 + 24 + 360)
        assert budget_plan(problem).total_expected_value_fen > baseline.total_expected_value_fen

    def test_the_period_cap_stops_the_baseline(self) -> None:
        problem = BudgetProblem(
            response_by_hour=np.full((1, 24), 0.1),
            audience_affinity=np.ones((1, 3)),
            value_per_response_fen=np.array([100, 200, 300]),
            staff_of_customer=np.array([0]),
            staff_daily_limit=np.array([5]),
            days=3,
            customer_period_cap=1,
        )
        assert rows(budget_baseline(problem)) == {(0, 0, 0, 10)}


def make_plan(problem: BudgetProblem, messages: list[tuple[int, int, int, int]]) -> BudgetPlan:
    """A plan written by hand (values from the response model), for the checker."""
    customer, campaign, day, hour = (
        np.array(column, np.int64) for column in zip(*messages, strict=True)
    )
    responses = (
        problem.affinity[customer, campaign]
        * problem.response[customer, hour]
        * problem.day_weight[day]
    )
    value = problem.value_fen[campaign] * responses
    return BudgetPlan(
        customer=customer,
        campaign=campaign,
        day=day,
        hour=hour,
        expected_value_fen=value,
        expected_responses=responses,
        total_expected_value_fen=float(value.sum()),
        total_expected_responses=float(responses.sum()),
        upper_bound=None,
        upper_bound_kind=None,
        staff_free_bound=None,
        method="hand",
        iterations=0,
        repair_rounds=0,
    )


class TestPlanCapsViolations:
    def test_a_valid_plan_has_none(self) -> None:
        problem = make_hand_problem()
        assert (
            plan_caps_violations(problem, make_plan(problem, [(1, 0, 0, 9), (0, 0, 1, 20)])) == []
        )

    @pytest.mark.parametrize(
        ("messages", "expected"),
        [
            ([(0, 0, 0, 3)], "免打扰"),
            ([(1, 1, 0, 9)], "不在活动投放期内"),
            ([(0, 1, 1, 20)], "不在「周末直播预告」的人群内"),
            ([(2, 0, 1, 9), (2, 0, 1, 20)], "同一活动只能发一次"),
            ([(2, 0, 1, 20), (2, 1, 1, 20)], "同一小时只能发一条"),
            ([(2, 0, 1, 9), (2, 1, 1, 20)], "超过每日上限 1 条"),
            ([(0, 0, 0, 20), (1, 0, 0, 9)], "导购 0 第1天发送 2 条，超过当日额度 1 条"),
            ([(2, 0, 0, 20)], "导购 1 第1天发送 1 条，超过当日额度 0 条"),
        ],
    )
    def test_each_broken_rule_is_reported(
        self, messages: list[tuple[int, int, int, int]], expected: str
    ) -> None:
        # given a hand-written plan breaking one rule
        problem = make_hand_problem()
        # when it is checked, then that rule is reported
        violations = plan_caps_violations(problem, make_plan(problem, messages))
        assert any(expected in line for line in violations), violations

    def test_rows_outside_the_problem_are_reported(self) -> None:
        problem = make_hand_problem()
        violations = plan_caps_violations(problem, make_plan_unchecked(problem, [(0, 0, 5, 20)]))
        assert violations == ["第 1 行的日期编号 5 超出范围"]

    def test_the_period_cap_is_checked(self) -> None:
        problem = BudgetProblem(
            response_by_hour=np.full((1, 24), 0.1),
            audience_affinity=np.ones((1, 2)),
            value_per_response_fen=np.array([100, 200]),
            staff_of_customer=np.array([0]),
            staff_daily_limit=np.array([5]),
            days=2,
            customer_period_cap=1,
        )
        violations = plan_caps_violations(
            problem, make_plan(problem, [(0, 0, 0, 10), (0, 1, 1, 10)])
        )
        assert violations == ["客户 0 本期收到 2 条，超过本期上限 1 条"]

    def test_a_value_that_does_not_follow_the_model_is_reported(self) -> None:
        problem = make_hand_problem()
        plan = make_plan(problem, [(1, 0, 0, 9)])
        plan.expected_value_fen[0] += 1.0
        assert any("与响应模型" in line for line in plan_caps_violations(problem, plan))


def make_plan_unchecked(
    problem: BudgetProblem, messages: list[tuple[int, int, int, int]]
) -> BudgetPlan:
    """A plan whose rows may point outside the problem (values left at 0)."""
    customer, campaign, day, hour = (
        np.array(column, np.int64) for column in zip(*messages, strict=True)
    )
    zeros = np.zeros(customer.shape[0])
    return BudgetPlan(
        customer=customer,
        campaign=campaign,
        day=day,
        hour=hour,
        expected_value_fen=zeros,
        expected_responses=zeros,
        total_expected_value_fen=0.0,
        total_expected_responses=0.0,
        upper_bound=None,
        upper_bound_kind=None,
        staff_free_bound=None,
        method="hand",
        iterations=0,
        repair_rounds=0,
    )


class TestPlanExplain:
    def test_each_message_names_its_hour_rate_and_value(self) -> None:
        # given the planned hand problem
        problem = make_hand_problem()
        plan = budget_plan(problem)
        # when customer 0's plan is explained
        lines = plan_explain(problem, plan, 0)
        # then it names the hour, why that hour, and the expected value; and the campaign left out
        assert lines == [
            "第2天 20:00 发送「秋季新品」：该客户 20 点响应率最高（20%），预计价值 ¥2.40",
            "「周末直播预告」未安排：不在人群内",
        ]

    def test_a_full_staff_day_is_given_as_the_reason(self) -> None:
        problem = make_hand_problem()
        lines = plan_explain(problem, budget_plan(problem), 1)
        assert lines == [
            "第1天 09:00 发送「秋季新品」：该客户 9 点响应率最高（12%），预计价值 ¥1.20",
            "「周末直播预告」未安排：导购当日额度已满（第2天）",
        ]

    def test_a_full_customer_day_is_given_as_the_reason(self) -> None:
        problem = make_hand_problem()
        lines = plan_explain(problem, budget_plan(problem), 2)
        assert lines == [
            "第2天 20:00 发送「秋季新品」：该客户 20 点响应率最高（30%），预计价值 ¥3.60",
            "「周末直播预告」未安排：已达每日上限（第2天）",
        ]

    def test_the_baseline_explains_its_fixed_hour(self) -> None:
        problem = make_hand_problem()
        lines = plan_explain(problem, budget_baseline(problem), 1)
        assert lines[0] == (
            "第2天 20:00 发送「秋季新品」：按固定时间 20 点发送（该时段响应率 2.0%，"
            "该客户 9 点最高，为 12%），预计价值 ¥0.24"
        )
        assert lines[1] == "「周末直播预告」未安排：已达每日上限（第2天）"

    def test_the_second_message_of_a_day_says_the_better_hour_is_taken(self) -> None:
        response = np.full((1, 24), 0.01)
        response[0, [12, 20]] = [0.10, 0.30]
        problem = BudgetProblem(
            response_by_hour=response,
            audience_affinity=np.ones((1, 2)),
            value_per_response_fen=np.array([100, 300]),
            staff_of_customer=np.array([0]),
            staff_daily_limit=np.array([5]),
            days=1,
            customer_daily_cap=2,
            campaign_names=("烘焙新品", "大闸蟹预售"),
        )
        lines = plan_explain(problem, budget_plan(problem), 0)
        assert lines == [
            "第1天 12:00 发送「烘焙新品」：该客户 12 点响应率 10%，当天更好的时段已安排「大闸蟹预售」，预计价值 ¥0.10",
            "第1天 20:00 发送「大闸蟹预售」：该客户 20 点响应率最高（30%），预计价值 ¥0.90",
        ]

    def test_the_period_cap_is_given_as_the_reason(self) -> None:
        problem = BudgetProblem(
            response_by_hour=np.full((1, 24), 0.1),
            audience_affinity=np.ones((1, 2)),
            value_per_response_fen=np.array([100, 200]),
            staff_of_customer=np.array([0]),
            staff_daily_limit=np.array([5]),
            days=2,
            customer_period_cap=1,
        )
        lines = plan_explain(problem, budget_plan(problem), 0)
        assert lines[-1] == "「活动1」未安排：已达本期上限（1 条）"

    def test_an_unknown_customer_is_refused(self) -> None:
        problem = make_hand_problem()
        with pytest.raises(BudgetInvalid, match="客户编号"):
            plan_explain(problem, budget_plan(problem), 3)
