"""Fault drill: effects that must follow a commit survive the committing process being killed
and the task queue's Redis being down (private PostgreSQL and Redis, child processes)."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.faults import PrivatePostgres, PrivateRedis, migrate, run_scenario, scenario_env

pytestmark = pytest.mark.drill


@pytest.fixture(scope="module")
def drill_database() -> Iterator[str]:
    server = PrivatePostgres()
    server.start()
    try:
        migrate(server.url)
        yield server.url
    finally:
        server.stop()


@pytest.fixture
def private_redis() -> Iterator[PrivateRedis]:
    server = PrivateRedis()
    server.start()
    yield server
    server.stop()


class TestKilledBetweenCommitAndEffect:
    def test_an_approved_refund_still_starts_after_the_process_dies(
        self, drill_database: str
    ) -> None:
        env = scenario_env(drill_database)
        # given an operator's approval that committed, and the process SIGKILLed right after
        started = run_scenario("approve_refund", "--die-after-commit", env=env, expect_killed=True)
        # then the approval is stored and nothing that follows it has happened yet
        before = run_scenario("refund_state", started["refund_no"], env=env)
        assert before["request_status"] == "approved"
        assert before["refund_status"] is None
        assert [status for _, status in before["effects"]] == ["pending"]
        # when the worker runs its relay after the restart
        run_scenario("relay_after_restart", env=env)
        # then the refund was started, submitted to the provider and completed
        after = run_scenario("refund_state", started["refund_no"], env=env)
        assert after["refund_status"] == "succeeded"
        assert {status for _, status in after["effects"]} == {"sent"}

    def test_a_paid_order_is_in_the_data_hub_though_the_process_died_after_commit(
        self, drill_database: str
    ) -> None:
        env = scenario_env(drill_database)
        # given a payment booked, and the process SIGKILLed right after its commit
        started = run_scenario("pay_order", "--die-after-commit", env=env, expect_killed=True)
        # then the payment fact committed with the payment itself: the hub has it, once
        state = run_scenario("hub_state", started["order_no"], env=env)
        assert state["order_status"] == "paid"
        assert state["recorded"].count(f"order_paid:{started['order_no']}") == 1

    def test_a_merged_persons_order_follows_them_though_the_process_died_after_commit(
        self, drill_database: str
    ) -> None:
        env = scenario_env(drill_database)
        # given a OneID merge that committed, and the process SIGKILLed right after
        started = run_scenario("merge_people", "--die-after-commit", env=env, expect_killed=True)
        # then the order still names the merged-away person: the re-pointing had not run
        before = run_scenario("order_owner", started["order_no"], env=env)
        assert before["owner_is_merged"] is True
        # when the worker's relay runs after the restart
        run_scenario("relay_after_restart", env=env)
        # then the order belongs to the survivor
        after = run_scenario("order_owner", started["order_no"], env=env)
        assert after["owner_is_merged"] is False
        assert after["person_id"] != started["merged_person_id"]


class TestTaskQueueDown:
    def test_a_refund_approved_while_redis_is_down_is_submitted_once_it_is_back(
        self, drill_database: str, private_redis: PrivateRedis
    ) -> None:
        env = scenario_env(
            drill_database, REDIS_URL=private_redis.url, FRESHLOOP_HUEY_IMMEDIATE="0"
        )
        # given the worker's queue (Redis) is down when the operator approves
        private_redis.stop()
        started = run_scenario("approve_refund", env=env)
        # then the approval answered normally and the refund waits, written down
        waiting = run_scenario("refund_state", started["refund_no"], env=env)
        assert waiting["request_status"] == "approved"
        assert waiting["refund_status"] == "pending"
        # when Redis is back and the worker's relay runs
        private_redis.start()
        run_scenario("relay_after_restart", env=env)
        # then the refund reached the provider and completed
        done = run_scenario("refund_state", started["refund_no"], env=env)
        assert done["refund_status"] == "succeeded"
