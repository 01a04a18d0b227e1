"""The WeCom message budget on real data (SC-3): predictions read in bulk from the event store,
caps and quiet hours from the marketing policy's configuration, the plan and the 10:00 baseline
for real audiences, per-customer explanations, and the console's simulation over segments."""

from __future__ import annotations

import dataclasses
import datetime as dt
import json
from typing import Any

import numpy as np
import pyarrow as pa
import pytest

from freshloop.core.audit import Actor
from freshloop.core.clock import SHANGHAI
from freshloop.datahub.eventstore.selectors import EVENT_SCHEMA, EventStore
from freshloop.datahub.predictions.selectors import contact_hours_mean, predictions_for_people
from freshloop.datahub.predictions.services import person_predictions_write
from freshloop.datahub.segments.services import segment_save_and_materialise
from freshloop.datahub.tags.services import manual_tag_add
from freshloop.identity.models import Person
from freshloop.identity.services import IdentifierInput, identify
from freshloop.intelligence.budget import plan_caps_violations, plan_explain
from freshloop.intelligence.budgeting.selectors import budget_person_id
from freshloop.intelligence.budgeting.services import (
    DROP_CUSTOMER_CAP,
    DROP_STAFF_LIMIT,
    PROPENSITY_FLOOR,
    SIMULATION_CAMPAIGNS,
    BudgetCampaign,
    budget_run,
    budget_simulation,
    first_whole_day,
    message_caps,
)
from freshloop.intelligence.errors import (
    BudgetPersonNotPlanned,
    BudgetPersonUnknown,
    BudgetProblemInvalid,
)
from tests.factories import make_person

pytestmark = pytest.mark.django_db

OPERATOR = Actor(type="user", id="3", label="运营小周")
FRIDAY = dt.date(2026, 12, 4)
QUIET = (0, 1, 2, 3, 4, 5, 6, 7, 22, 23)


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2026, 12, day, hour, minute, tzinfo=SHANGHAI).astimezone(dt.UTC)


def peaking_at(best: int) -> list[float]:
    shares = [0.01] * 24
    shares[best] += 1.0 - sum(shares)
    return shares


def write_predictions(
    store: EventStore,
    propensity: dict[int, float],
    hours: dict[int, list[float]] | None = None,
) -> None:
    people = list(propensity)
    person_predictions_write(
        kind="propensity",
        scores=pa.table(
            {
                "person_id": pa.array(people, pa.int64()),
                "purchase_propensity": pa.array([propensity[p] for p in people]),
                "propensity_reasons": pa.array([json.dumps([])] * len(people)),
                "propensity_version": pa.array([1] * len(people), pa.int32()),
            }
        ),
        store=store,
    )
    profiled = list(hours or {})
    person_predictions_write(
        kind="contact_hour",
        scores=pa.table(
            {
                "person_id": pa.array(profiled, pa.int64()),
                "best_contact_hour": pa.array(
                    [int(np.argmax((hours or {})[p])) for p in profiled], pa.int8()
                ),
                "contact_hours": pa.array(
                    [(hours or {})[p] for p in profiled], pa.list_(pa.float64())
                ),
                "contact_events": pa.array([10] * len(profiled), pa.int32()),
                "contact_hour_version": pa.array([1] * len(profiled), pa.int32()),
            }
        ),
        store=store,
    )


def policy(settings: Any, **changes: Any) -> None:
    changed = dataclasses.replace(settings.FRESHLOOP.marketing_policy, **changes)
    settings.FRESHLOOP = dataclasses.replace(settings.FRESHLOOP, marketing_policy=changed)


def segment_of(people: list[Person], name: str) -> int:
    for person in people:
        manual_tag_add(person=person, tag=name, actor=OPERATOR)
    definition = {"op": "and", "rules": [{"kind": "manual_tag", "operator": "has", "value": name}]}
    return segment_save_and_materialise(name=name, definition=definition, actor=OPERATOR).pk


class TestPredictionsForPeople:
    def test_reads_the_asked_columns_and_follows_merges(self, store: EventStore) -> None:
        # given scores for people 1 and 2, and person 9 merged into 2
        write_predictions(store, {1: 0.2, 2: 0.6}, {2: peaking_at(20)})
        empty = pa.Table.from_pylist([], schema=EVENT_SCHEMA)
        store.append(empty, merges=[(9, 2, dt.datetime(2026, 11, 1))])
        # when 1, 3 (unscored) and 9 are asked for
        found = predictions_for_people(
            person_ids=[9, 1, 3, 1],
            columns=("purchase_propensity", "contact_hours"),
            store=store,
        )
        # then each scored id gets its (survivor's) scores, the unscored are absent
        assert set(found) == {1, 9}
        assert found[1] == {"purchase_propensity": 0.2, "contact_hours": None}
        assert found[9]["purchase_propensity"] == 0.6
        assert found[9]["contact_hours"] == pytest.approx(peaking_at(20))

    def test_refuses_a_column_that_is_not_a_prediction(self, store: EventStore) -> None:
        with pytest.raises(ValueError, match="unknown prediction columns"):
            predictions_for_people(person_ids=[1], columns=("1; DROP TABLE x",), store=store)

    def test_nobody_asked_reads_nothing(self, store: EventStore) -> None:
        assert predictions_for_people(person_ids=[], columns=("churn_risk",), store=store) == {}


class TestContactHoursMean:
    def test_averages_the_profiles_hour_by_hour(self, store: EventStore) -> None:
        write_predictions(store, {1: 0.1, 2: 0.1}, {1: peaking_at(9), 2: peaking_at(20)})
        mean = contact_hours_mean(store=store)
        assert mean is not None
        assert mean[9] == pytest.approx(mean[20])
        assert mean[9] == pytest.approx((0.77 + 0.01) / 2)
        assert sum(mean) == pytest.approx(1.0)

    def test_none_without_profiles(self, store: EventStore) -> None:
        write_predictions(store, {1: 0.1})
        assert contact_hours_mean(store=store) is None


class TestMessageCaps:
    def test_the_default_policy(self) -> None:
        # 1 a day, 4 in 7 days, WeCom's monthly limit, quiet 22:00–08:00
        caps = message_caps(start=FRIDAY, days=7)
        assert (caps.daily, caps.period, caps.quiet_hours) == (1, 4, QUIET)
        assert caps.quiet_label == "22:00–08:00"
        assert "营销消息频次上限：每周 4 条" in caps.sources
        assert "企业微信群发上限：每月 31 条" in caps.sources

    def test_follows_the_configuration(self, settings: Any) -> None:
        # given no caps of our own, WeCom's 3-a-week and quiet hours from 21:30 to 09:00
        policy(
            settings,
            caps=(),
            wecom_mass_window="week",
            wecom_mass_limit=3,
            quiet_start_minute=21 * 60 + 30,
            quiet_end_minute=9 * 60,
        )
        caps = message_caps(start=FRIDAY, days=7)
        # then the week's limit bounds the period, a day may hold as many as there are hours,
        # and 21:00 is quiet because half of it is
        assert caps.period == 3
        assert caps.quiet_hours == (0, 1, 2, 3, 4, 5, 6, 7, 8, 21, 22, 23)
        assert caps.daily == 12

    def test_no_quiet_hours_and_a_daily_wecom_limit(self, settings: Any) -> None:
        policy(
            settings,
            caps=(),
            wecom_mass_window="day",
            wecom_mass_limit=2,
            quiet_start_minute=0,
            quiet_end_minute=0,
        )
        caps = message_caps(start=FRIDAY, days=7)
        assert (caps.daily, caps.period, caps.quiet_hours) == (2, None, ())


class TestFirstWholeDay:
    @pytest.mark.parametrize(
        ("moment", "day"),
        [
            (local(4, 0), FRIDAY),
            (local(4, 8, 30), FRIDAY),  # 08:00's hour is not over: today still counts
            (local(4, 9), FRIDAY + dt.timedelta(days=1)),
            (local(4, 23), FRIDAY + dt.timedelta(days=1)),
        ],
    )
    def test_a_day_counts_until_its_first_sending_hour_is_over(
        self, moment: dt.datetime, day: dt.date
    ) -> None:
        assert first_whole_day(moment) == day


class TestBudgetRun:
    def test_the_plan_keeps_every_cap_on_real_predictions(self, store: EventStore) -> None:
        # given 30 customers with scores and hours, two 跟进人 who may send 4 a day, and three
        # campaigns over a week with overlapping windows
        rng = np.random.default_rng(7)
        people = list(range(101, 131))
        write_predictions(
            store,
            {p: float(rng.uniform(0.05, 0.6)) for p in people},
            {p: peaking_at(int(rng.integers(0, 24))) for p in people[:25]},
        )
        staff = {p: ("lin", "zhou")[p % 2] for p in people}
        campaigns = [
            BudgetCampaign("秋季新品", people, 3000),
            BudgetCampaign("会员日", people[:20], 5000, first_day=2, last_day=2),
            BudgetCampaign("直播预告", people[10:], 8000, first_day=4, last_day=6),
        ]
        # when planned
        run = budget_run(
            campaigns=campaigns,
            staff_of_person=staff,
            staff_daily_limit=4,
            start=FRIDAY,
            store=store,
        )
        # then neither the plan nor the baseline breaks a cap, a quiet hour or a staff limit
        assert plan_caps_violations(run.problem, run.plan) == []
        assert plan_caps_violations(run.problem, run.baseline) == []
        assert not set(run.plan.hour.tolist()) & set(QUIET)
        assert run.problem.customer_period_cap == 4
        # the plan is worth at least the baseline and at most its upper bound
        assert run.baseline.total_expected_value_fen <= run.plan.total_expected_value_fen
        assert run.plan.total_expected_value_fen <= (run.plan.upper_bound or 0) + 1e-6
        # each staff day is at most 4
        summary = run.summary()
        assert summary["max_staff_day"]["plan"] <= 4
        assert summary["plan"]["messages"] == run.plan.messages
        assert summary["scored"] == 30
        assert summary["profiled"] == 25
        assert summary["day_labels"][0] == "12月4日 周五"

    def test_a_customer_without_predictions_gets_the_floor_and_the_average_hours(
        self, store: EventStore
    ) -> None:
        # given two scored customers who answer at 19:00 and a newcomer
        write_predictions(store, {1: 0.3, 2: 0.5}, {1: peaking_at(19), 2: peaking_at(19)})
        run = budget_run(
            campaigns=[BudgetCampaign("周末鲜果", [1, 2, 3], 2000, last_day=1)],
            staff_of_person={1: "lin", 2: "lin", 3: "lin"},
            staff_daily_limit=10,
            start=FRIDAY,
            days=2,
            store=store,
        )
        newcomer = run.index_of(3)
        assert newcomer is not None
        assert run.propensity[newcomer] == PROPENSITY_FLOOR
        assert not run.scored[newcomer]
        assert not run.profiled[newcomer]
        rows = np.flatnonzero(run.plan.customer == newcomer)
        assert run.plan.hour[rows].tolist() == [19]
        assert "暂无购买倾向评分" in run.context(newcomer)[0]

    def test_people_without_a_staff_member_are_left_out_and_listed(self, store: EventStore) -> None:
        run = budget_run(
            campaigns=[BudgetCampaign("周末鲜果", [1, 2], 2000)],
            staff_of_person={1: "lin"},
            staff_daily_limit=10,
            start=FRIDAY,
            store=store,
        )
        assert run.person_ids.tolist() == [1]
        assert run.unassigned == (2,)

    def test_sends_already_planned_elsewhere_use_up_the_staff_day(self, store: EventStore) -> None:
        # given a 跟进人 with 2 a day, one of Friday's already taken by another plan
        run = budget_run(
            campaigns=[BudgetCampaign("周五", [1, 2], 2000, first_day=0, last_day=0)],
            staff_of_person={1: "lin", 2: "lin"},
            staff_daily_limit=2,
            start=FRIDAY,
            staff_day_used={("lin", 0): 1, ("someone", 0): 5},
            store=store,
        )
        assert run.problem.limit.tolist()[0][0] == 1
        assert run.plan.messages == 1

    @pytest.mark.parametrize(
        ("campaigns", "text"),
        [
            ([], "没有要规划的群发"),
            ([BudgetCampaign("越界", [1], 100, first_day=3, last_day=9)], "超出计划周期"),
            ([BudgetCampaign("负值", [1], -5)], "不能为负数"),
        ],
    )
    def test_bad_input_is_a_typed_error(
        self, store: EventStore, campaigns: list[BudgetCampaign], text: str
    ) -> None:
        with pytest.raises(BudgetProblemInvalid, match=text):
            budget_run(
                campaigns=campaigns,
                staff_of_person={1: "lin"},
                staff_daily_limit=1,
                start=FRIDAY,
                store=store,
            )


class TestBudgetRunExplain:
    def test_explains_with_dates_and_refuses_someone_not_planned(self, store: EventStore) -> None:
        write_predictions(store, {1: 0.4}, {1: peaking_at(20)})
        run = budget_run(
            campaigns=[BudgetCampaign("周末鲜果", [1], 2000)],
            staff_of_person={1: "lin"},
            staff_daily_limit=10,
            start=FRIDAY,
            store=store,
        )
        lines = run.explain(1)
        assert lines[0].startswith("12月4日 周五 20:00 发送「周末鲜果」：该客户 20 点响应率最高")
        baseline = run.explain(1, baseline=True)
        assert baseline[0].startswith("12月4日 周五 10:00 发送「周末鲜果」：按固定时间 10 点发送")
        with pytest.raises(BudgetPersonNotPlanned):
            run.explain(2)


class TestBudgetRunExplanations:
    def test_every_audience_member_is_explained_as_plan_explain_does(
        self, store: EventStore
    ) -> None:
        # given a plan where the staff limits and the customers' caps both bind (people in
        # 一, 二 and 四 want three messages over two days)
        rng = np.random.default_rng(3)
        people = list(range(1, 41))
        write_predictions(
            store,
            {p: float(rng.uniform(0.05, 0.6)) for p in people},
            {p: peaking_at(int(rng.integers(8, 22))) for p in people},
        )
        run = budget_run(
            campaigns=[
                BudgetCampaign("一", people, 3000, first_day=0, last_day=1),
                BudgetCampaign("二", people[::2], 5000, first_day=1, last_day=1),
                BudgetCampaign("三", people[5:], 4000, first_day=2, last_day=2),
                BudgetCampaign("四", people[::3], 1000, first_day=1, last_day=1),
            ],
            staff_of_person={p: f"s{p % 3}" for p in people},
            staff_daily_limit=5,
            start=FRIDAY,
            days=3,
            store=store,
        )
        # when every customer is explained staff member by staff member
        explained = {customer: (lines, reasons) for customer, lines, reasons in run.explanations()}
        # then everyone has a line per campaign of theirs, the same as on the whole plan
        assert sorted(explained) == list(range(run.problem.n_customers))
        reasons_seen = set()
        for customer, (lines, reasons) in explained.items():
            whole = [run._dated(line) for line in plan_explain(run.problem, run.plan, customer)]
            assert sorted(lines.values()) == sorted(
                line for line in whole if "不在人群内" not in line
            )
            planned = set(run.plan.campaign[run.plan.customer == customer].tolist())
            audience = set(np.flatnonzero(run.problem.affinity[customer] > 0).tolist())
            assert set(reasons) == audience - planned
            reasons_seen |= set(reasons.values())
        assert reasons_seen == {DROP_STAFF_LIMIT, DROP_CUSTOMER_CAP}


class TestBudgetSimulation:
    def test_nothing_to_simulate_without_segments(self, store: EventStore) -> None:
        assert budget_simulation(now=local(3, 10), store=store) is None

    def test_sample_campaigns_over_the_largest_segments(self, store: EventStore) -> None:
        # given three segments of real people, some scored
        people = [make_person() for _ in range(12)]
        write_predictions(store, {p.pk: 0.2 + 0.05 * i for i, p in enumerate(people[:8])})
        segment_of(people, "全部会员")
        segment_of(people[:6], "高价值")
        segment_of(people[6:9], "新客")
        segment_of(people[:1], "最小的不入选")
        # when simulated on Thursday at 10:00
        simulation = budget_simulation(now=local(3, 10), store=store)
        # then the three largest segments carry the sample campaigns from Friday, with made-up
        # 跟进人, and the plan keeps every cap
        assert simulation is not None
        assert simulation.segments == ("全部会员", "高价值", "新客")
        run = simulation.run
        assert run.start == FRIDAY
        assert [c.value_per_response_fen for c in run.campaigns] == [
            value for value, _, _ in SIMULATION_CAMPAIGNS
        ]
        assert run.problem.names[0] == "模拟①·全部会员"
        assert set(run.staff_ids) == {"模拟跟进人01"}
        assert plan_caps_violations(run.problem, run.plan) == []
        assert run.plan.messages > 0
        assert simulation.left_out == 0


class TestBudgetPersonId:
    def test_a_merged_away_one_id_leads_to_its_survivor(self) -> None:
        phone = IdentifierInput(type="phone", value="13800138111", verified=True)
        union = IdentifierInput(type="wechat_unionid", value="u-budget", verified=True)
        shopper = identify(identifiers=[phone], source="shop").person
        visitor = identify(identifiers=[union], source="wechat_oauth").person
        identify(identifiers=[phone, union], source="h5_otp")
        assert budget_person_id(one_id=visitor.one_id) == shopper.pk
        assert budget_person_id(one_id=f"  {shopper.one_id} ") == shopper.pk

    @pytest.mark.parametrize("one_id", ["", "P-nobody", "x" * 500])
    def test_an_unknown_one_id_is_a_clear_error(self, one_id: str) -> None:
        with pytest.raises(BudgetPersonUnknown, match="找不到这个 OneID"):
            budget_person_id(one_id=one_id)
