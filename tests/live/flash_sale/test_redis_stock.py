"""The Redis gate (REDIS_URL set) against the real Redis: reservation, settlement, release, and
reconciliation after a process dies between the Lua reservation and the database."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
import redis
from django.test import Client

from freshloop.core import clock
from freshloop.core.ids import new_id
from freshloop.identity.services import consumer_token_issue
from freshloop.live.flash_sale.claims import flash_sale_reconcile
from freshloop.live.flash_sale.errors import FlashSaleSoldOut
from freshloop.live.flash_sale.redis_stock import FlashRedis, flash_engine
from freshloop.live.models import FlashSale, FlashSaleClaim
from freshloop.orders.services import order_cancel
from tests.factories import ADDRESS, make_person
from tests.live.flash_sale.helpers import HOST, buy, make_flash_sale, use_redis


@pytest.fixture
def engine(settings: Any, redis_url: str) -> FlashRedis:
    use_redis(settings, redis_url)
    found = flash_engine()
    assert found is not None
    return found


def started(units: int, capture: Any, per_user_limit: int = 1) -> FlashSale:
    with capture(execute=True):  # the sale is loaded into Redis when its start commits
        return make_flash_sale(units=units, per_user_limit=per_user_limit)


def claimed(sale: FlashSale) -> int:
    return FlashSale.objects.get(pk=sale.pk).claimed


@pytest.mark.django_db
class TestRedisBuy:
    def test_settled_buy_counts_once_in_redis_and_the_database(
        self, engine: FlashRedis, django_capture_on_commit_callbacks: Any
    ) -> None:
        sale = started(3, django_capture_on_commit_callbacks)
        assert engine.left(flash_sale_id=sale.pk) == 3
        person = make_person()
        order = buy(sale, person)
        assert engine.left(flash_sale_id=sale.pk) == 2
        assert engine.held_by(flash_sale_id=sale.pk, person_id=person.pk) == 1
        assert engine.pending(flash_sale_id=sale.pk) == []
        assert claimed(sale) == 1
        assert FlashSaleClaim.objects.get().order_ref == order.order_no

    def test_cancel_gives_the_units_back_in_redis(
        self, engine: FlashRedis, django_capture_on_commit_callbacks: Any
    ) -> None:
        sale = started(1, django_capture_on_commit_callbacks)
        person = make_person()
        order = buy(sale, person)
        with pytest.raises(FlashSaleSoldOut):
            buy(sale, make_person())
        with django_capture_on_commit_callbacks(execute=True):
            order_cancel(order_no=order.order_no, reason="顾客取消", actor=HOST)
        assert engine.left(flash_sale_id=sale.pk) == 1
        assert engine.held_by(flash_sale_id=sale.pk, person_id=person.pk) == 0
        buy(sale, make_person())
        assert claimed(sale) == 1

    def test_failed_settlement_rolls_the_reservation_back(
        self, engine: FlashRedis, django_capture_on_commit_callbacks: Any
    ) -> None:
        from freshloop.live.flash_sale.services import flash_sale_buy

        sale = started(2, django_capture_on_commit_callbacks)
        with pytest.raises(Exception, match="请填写收货人姓名"):
            flash_sale_buy(flash_sale=sale, person=make_person(), quantity=1, address={})
        assert engine.left(flash_sale_id=sale.pk) == 2
        assert engine.pending(flash_sale_id=sale.pk) == []

    def test_a_flushed_redis_is_reloaded_from_the_database(
        self, engine: FlashRedis, django_capture_on_commit_callbacks: Any
    ) -> None:
        sale = started(2, django_capture_on_commit_callbacks)
        first = make_person()
        buy(sale, first)
        engine.client.flushdb()  # Redis restarted without persistence
        buy(sale, make_person())
        assert engine.left(flash_sale_id=sale.pk) == 0
        assert engine.held_by(flash_sale_id=sale.pk, person_id=first.pk) == 1
        with pytest.raises(FlashSaleSoldOut):
            buy(sale, make_person())


@pytest.mark.django_db
class TestFlashSaleReconcile:
    def test_crash_between_reservation_and_settlement_is_rolled_back(
        self, engine: FlashRedis, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a sale of 2 units and a buyer whose process ran the Lua reservation and died
        # before writing the order (the settlement never happens)
        sale = started(2, django_capture_on_commit_callbacks)
        ghost = make_person()
        ref = new_id("FC")
        assert (
            engine.reserve(
                flash_sale_id=sale.pk,
                person_id=ghost.pk,
                quantity=1,
                claim_ref=ref,
                now=clock.now(),
            )
            == 1
        )
        buy(sale, make_person())
        with pytest.raises(FlashSaleSoldOut):
            buy(sale, make_person())  # the ghost's unit is still held in Redis
        # when reconcile runs inside the grace period, nothing is touched
        assert flash_sale_reconcile().rolled_back == []
        assert engine.left(flash_sale_id=sale.pk) == 0
        # and after it
        with clock.frozen(clock.now() + dt.timedelta(seconds=31)):
            report = flash_sale_reconcile()
        # then the ghost's unit is sellable again, and nothing is counted twice
        assert report.rolled_back == [ref]
        assert report.rederived == []
        assert engine.left(flash_sale_id=sale.pk) == 1
        assert engine.held_by(flash_sale_id=sale.pk, person_id=ghost.pk) == 0
        buy(sale, ghost)
        with pytest.raises(FlashSaleSoldOut):
            buy(sale, make_person())
        assert claimed(sale) == 2
        assert engine.left(flash_sale_id=sale.pk) == 0
        # and a second run finds nothing to do
        with clock.frozen(clock.now() + dt.timedelta(seconds=31)):
            again = flash_sale_reconcile()
        assert (again.rolled_back, again.settled_cleared, again.rederived) == ([], [], [])

    def test_crash_after_settlement_before_clearing_the_pending_record(
        self,
        engine: FlashRedis,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # given a buyer whose order and claim were committed, then the process died before
        # removing the pending record in Redis
        sale = started(2, django_capture_on_commit_callbacks, per_user_limit=2)
        person = make_person()

        def die(self: FlashRedis, **_: Any) -> None:
            raise SystemExit("killed")

        with monkeypatch.context() as patched, pytest.raises(SystemExit):
            patched.setattr(FlashRedis, "settled", die)
            buy(sale, person)
        [pending] = engine.pending(flash_sale_id=sale.pk)
        assert FlashSaleClaim.objects.filter(claim_ref=pending.claim_ref).exists()
        # when reconcile runs after the grace period
        with clock.frozen(clock.now() + dt.timedelta(seconds=31)):
            report = flash_sale_reconcile()
        # then only the pending record goes: the unit stays sold, counted once
        assert report.settled_cleared == [pending.claim_ref]
        assert report.rolled_back == []
        assert report.rederived == []
        assert engine.pending(flash_sale_id=sale.pk) == []
        assert engine.left(flash_sale_id=sale.pk) == 1
        assert engine.held_by(flash_sale_id=sale.pk, person_id=person.pk) == 1
        assert claimed(sale) == 1
        buy(sale, person)
        assert engine.left(flash_sale_id=sale.pk) == 0
        assert engine.held_by(flash_sale_id=sale.pk, person_id=person.pk) == 2
        assert claimed(sale) == 2

    def test_counters_that_drifted_are_rederived_from_the_database(
        self, engine: FlashRedis, django_capture_on_commit_callbacks: Any
    ) -> None:
        # given a release whose Redis give-back never ran (the process died after the commit)
        sale = started(2, django_capture_on_commit_callbacks)
        person = make_person()
        order = buy(sale, person)
        order_cancel(order_no=order.order_no, reason="顾客取消", actor=HOST)
        from freshloop.live.flash_sale.claims import flash_sale_claims_release

        flash_sale_claims_release(order_no=order.order_no, actor=HOST)  # on-commit not run
        assert claimed(sale) == 0
        assert engine.left(flash_sale_id=sale.pk) == 1  # Redis still counts the unit
        # and a pending reservation in flight at the same time
        other = make_person()
        assert (
            engine.reserve(
                flash_sale_id=sale.pk,
                person_id=other.pk,
                quantity=1,
                claim_ref="FC_inflight",
                now=clock.now(),
            )
            == 0
        )
        # when reconcile runs (the in-flight reservation is inside its grace period)
        report = flash_sale_reconcile()
        # then Redis agrees with the database plus what is pending
        assert report.rederived == [sale.pk]
        assert engine.left(flash_sale_id=sale.pk) == 1
        assert engine.held_by(flash_sale_id=sale.pk, person_id=person.pk) == 0
        assert engine.held_by(flash_sale_id=sale.pk, person_id=other.pk) == 1
        assert [claim.claim_ref for claim in engine.pending(flash_sale_id=sale.pk)] == [
            "FC_inflight"
        ]


def _redis_gone(monkeypatch: pytest.MonkeyPatch) -> None:
    """From now on the gate's settle and counter reads meet a Redis that refuses connections
    (a real client on a closed port: the error is the one redis-py raises in production)."""
    dead = redis.Redis.from_url("redis://127.0.0.1:1/0", socket_connect_timeout=0.2)

    def settled(self: FlashRedis, *, flash_sale_id: int, claim_ref: str) -> None:
        dead.hdel(self.keys(flash_sale_id)["pending"], claim_ref)

    def left(self: FlashRedis, *, flash_sale_id: int) -> int | None:
        value = dead.get(self.keys(flash_sale_id)["left"])
        return None if value is None else int(value)

    monkeypatch.setattr(FlashRedis, "settled", settled)
    monkeypatch.setattr(FlashRedis, "left", left)


@pytest.mark.django_db
class TestRedisFailsAfterTheCommit:
    def test_committed_buy_is_answered_with_its_order_and_reconciled_later(
        self,
        engine: FlashRedis,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
    ) -> None:
        # given a sale of 2 units whose Redis fails right after a buyer's order commits
        from freshloop.live.flash_sale.services import flash_sale_buy

        sale = started(2, django_capture_on_commit_callbacks)
        person = make_person()
        with monkeypatch.context() as patched:
            _redis_gone(patched)
            # when the buyer buys
            order, created = flash_sale_buy(
                flash_sale=FlashSale.objects.select_related("session").get(pk=sale.pk),
                person=person,
                quantity=1,
                address=dict(ADDRESS),
                idempotency_key="tap-1",
            )
        # then they get their order (the purchase committed), not an error
        assert created is True
        assert FlashSaleClaim.objects.get().order_ref == order.order_no
        [pending] = engine.pending(flash_sale_id=sale.pk)  # Redis never heard of the commit
        # and reconcile, once the grace period is over, clears it with the unit counted once
        with clock.frozen(clock.now() + dt.timedelta(seconds=31)):
            report = flash_sale_reconcile()
        assert report.settled_cleared == [pending.claim_ref]
        assert engine.pending(flash_sale_id=sale.pk) == []
        assert engine.left(flash_sale_id=sale.pk) == 1
        assert claimed(sale) == 1

    def test_the_api_answers_201_not_500(
        self,
        engine: FlashRedis,
        django_capture_on_commit_callbacks: Any,
        monkeypatch: pytest.MonkeyPatch,
        client: Client,
    ) -> None:
        sale = started(2, django_capture_on_commit_callbacks)
        token, _ = consumer_token_issue(person=make_person(), method="test")
        _redis_gone(monkeypatch)
        response = client.post(
            f"/api/v1/live/flash-sales/{sale.pk}/buy",
            {"quantity": 1, "address": ADDRESS},
            content_type="application/json",
            HTTP_AUTHORIZATION=f"Bearer {token}",
            HTTP_IDEMPOTENCY_KEY="tap-1",
        )
        assert response.status_code == 201
        assert FlashSaleClaim.objects.get().order_ref == response.json()["order_no"]


def _post_buy(client: Client, sale: FlashSale, *, token: str = "", key: str = "") -> Any:
    headers = {"HTTP_AUTHORIZATION": f"Bearer {token}"} if token else {}
    if key:
        headers["HTTP_IDEMPOTENCY_KEY"] = key
    return client.post(
        f"/api/v1/live/flash-sales/{sale.pk}/buy",
        {"quantity": 1, "address": ADDRESS},
        content_type="application/json",
        **headers,
    )


@pytest.mark.django_db
class TestSoldOutFromRedis:
    def test_a_sold_out_buy_reads_nothing_from_the_database(
        self,
        engine: FlashRedis,
        django_capture_on_commit_callbacks: Any,
        django_assert_num_queries: Any,
    ) -> None:
        from freshloop.live.flash_sale.services import flash_sale_buy

        # given a sale whose one unit is gone
        sale = started(1, django_capture_on_commit_callbacks)
        buy(sale, make_person())
        late = make_person()
        fresh = FlashSale.objects.select_related("session").get(pk=sale.pk)
        # when another buyer taps, then then the refusal costs no SQL query at all
        with django_assert_num_queries(0), pytest.raises(FlashSaleSoldOut):
            flash_sale_buy(
                flash_sale=fresh,
                person=late,
                quantity=1,
                address=dict(ADDRESS),
                idempotency_key="late-1",
            )

    def test_the_api_answers_sold_out_before_any_sql(
        self,
        engine: FlashRedis,
        django_capture_on_commit_callbacks: Any,
        django_assert_num_queries: Any,
        client: Client,
    ) -> None:
        sale = started(1, django_capture_on_commit_callbacks)
        buy(sale, make_person())
        token, _ = consumer_token_issue(person=make_person(), method="test")
        with django_assert_num_queries(0):
            response = _post_buy(client, sale, token=token, key="late-1")
            anonymous = _post_buy(client, sale)
        assert (response.status_code, response.json()["code"]) == (409, "flash_sale_sold_out")
        assert (anonymous.status_code, anonymous.json()["code"]) == (409, "flash_sale_sold_out")
        assert response.json()["message"] == "手慢了，秒杀商品已抢光"

    def test_a_winner_retrying_after_sold_out_gets_the_order(
        self, engine: FlashRedis, django_capture_on_commit_callbacks: Any, client: Client
    ) -> None:
        # given the buyer who took the last unit, whose answer was lost
        sale = started(1, django_capture_on_commit_callbacks)
        token, _ = consumer_token_issue(person=make_person(), method="test")
        first = _post_buy(client, sale, token=token, key="tap-1")
        assert first.status_code == 201
        # when they retry under the same key — also after a Redis restart reloaded the sale
        retried = _post_buy(client, sale, token=token, key="tap-1")
        engine.client.flushdb()
        with django_capture_on_commit_callbacks(execute=True):
            from freshloop.live.flash_sale.redis_stock import gate_load

            gate_load(sale.pk)
        after_restart = _post_buy(client, sale, token=token, key="tap-1")
        # then each retry is answered with their order, never "sold out"
        assert (retried.status_code, retried.json()["order_no"]) == (200, first.json()["order_no"])
        assert after_restart.status_code == 200
        assert after_restart.json()["order_no"] == first.json()["order_no"]
        assert claimed(sale) == 1


# Statements one flash-sale settlement sends today, after-commit work included (written down
# in docs/live.md): order_create's (see tests/orders), the claim, the sale's conditional UPDATE
# and limit check, the audit row, the room's activity row, the data hub's rows. The stock
# level is not among them: the order is drawn from the sale's block.
SETTLEMENT_STATEMENTS_REDIS = 24
SETTLEMENT_STATEMENTS_EMBEDDED = 27


@pytest.mark.django_db
class TestSettlementQueryCount:
    @pytest.mark.parametrize("mode", ["embedded", "redis"])
    def test_a_settlement_costs_a_fixed_number_of_statements(
        self,
        mode: str,
        settings: Any,
        redis_url: str,
        django_capture_on_commit_callbacks: Any,
        django_assert_max_num_queries: Any,
    ) -> None:
        if mode == "redis":
            use_redis(settings, redis_url)
        sale = started(3, django_capture_on_commit_callbacks)
        from freshloop.live.flash_sale.services import flash_sale_buy

        buyer = make_person()
        fresh = FlashSale.objects.select_related("session").get(pk=sale.pk)
        limit = SETTLEMENT_STATEMENTS_REDIS if mode == "redis" else SETTLEMENT_STATEMENTS_EMBEDDED
        with (
            django_assert_max_num_queries(limit),
            django_capture_on_commit_callbacks(execute=True),
        ):
            flash_sale_buy(
                flash_sale=fresh,
                person=buyer,
                quantity=1,
                address=dict(ADDRESS),
                idempotency_key="tap-1",
            )
        assert claimed(sale) == 1
