"""Group deals 拼团 through the HTTP API (#18, GB-3): 5,000 buyers join 1,000 groups of a tiered
deal concurrently, pay, and every group closes — full groups at once on their last payment,
the rest at their deadline, 10 % of them below the smallest tier (failed: every member
refunded in full), the others at a better tier than some members paid (difference refunds).

Served as `manage.py serve` serves it and driven by wrk with 64 requests in flight
(bench/_http.py). A join is what a buyer does, each step its own HTTP request with the
buyer's token: start or join a group (the order at the current tier price, the place, the
units), open a sandbox payment, and ask for its result once the sandbox platform has the money
(`/payments/{no}/sync`, which books it: the group counts the place). The platform's side (the
sandbox marking the payments paid) and the closing job run in this process, unmeasured apart
from `refund_seconds` (the worker's relay paying back every refund the closes owe).

Ratio base in the same run, served the same way with the same load generator: the bare
project's minimal order transaction (bench/_http.py). `joins_per_s` is buyers over the time of
the three HTTP phases; `p99_ms` is the worst of the phases' p99 (each request's own latency).

Checked from the database afterwards (the truth, not what clients saw): `oversold` adds units
held beyond the deal's quantity, stock levels with more reserved than on hand, groups with more
places than the largest tier, and members whose order does not match their place;
`refund_errors` counts refunds owed but not paid back (or paid twice) and refunds that failed;
`ledger_balanced` is the commission ledger's invariant (every journal entry sums to zero).

Usage: python bench/group_deal.py [--quick] [--db sqlite|postgres] [--connections 64]
       [--buyers N --groups M]
Keys: buyers, groups, joins_per_s, p99_ms, refunds, refund_errors, oversold, ledger_balanced,
min_order_rps, ratio_to_min, plus the phases' figures. Aims (#18): 0 oversold, 0 refund errors,
ledger balanced, ratio_to_min >= 0.15, p99 < 1 s.
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import random
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, emit, setup_django
from _http import BareProject, Request, bare_rps, serving, web_workers, wrk

POSTGRES_BENCH_DB = "freshloop_bench_group_deal"
LIST_PRICE_FEN = 4990
TIERS = [
    {"size": 2, "price_fen": 3990},
    {"size": 4, "price_fen": 3590},
    {"size": 6, "price_fen": 2990},
]
FAILING_SHARE = 0.1  # groups left with one member: below the smallest tier
LEADERS = 20
ADDRESS = {
    "name": "压测",
    "phone": "13800000000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}


def group_sizes(buyers: int, groups: int) -> list[int]:
    """Members per group: 10 % single (they fail); the rest share the other buyers, five or
    six each (closing at the 4-person or the 6-person tier)."""
    failing = int(groups * FAILING_SHARE)
    sizes = [1] * failing
    left, rest = buyers - failing, groups - failing
    six = left - 5 * rest  # so that sizes sum to `buyers`
    if not 0 <= six <= rest:
        raise SystemExit(f"{buyers} buyers do not fit {groups} groups of 5 or 6 (+10 % single)")
    sizes += [6] * six + [5] * (rest - six)
    return sizes


def _id_number(sequence: int) -> str:
    from freshloop.groupbuy.services import id_number_check_character

    body = f"31010119900501{sequence % 1000:03d}"
    return body + id_number_check_character(body)


def _seed(buyers: int) -> tuple[str, list[int], list[str]]:
    """One SKU with exactly `buyers` units, all of them on a tiered deal; leaders, and the
    buyers (people with consumer tokens), the starters attached to leaders. Not measured."""
    from freshloop.catalog.models import StorageCondition
    from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
    from freshloop.core import clock
    from freshloop.core.audit import Actor
    from freshloop.core.tasks import worker_heartbeat_touch
    from freshloop.groupbuy.commission.services import commission_rule_create
    from freshloop.groupbuy.deals.services import deal_create
    from freshloop.groupbuy.services import (
        leader_apply,
        leader_approve,
        leader_levels_ensure_defaults,
    )
    from freshloop.identity.models import IdentifierType
    from freshloop.identity.services import (
        consumer_token_issue,
        person_resolve_identifier,
        phone_normalise,
    )
    from freshloop.inventory.services import stock_receive, warehouse_upsert

    actor = Actor.system("bench")
    warehouse = warehouse_upsert(
        code="sh", name="上海仓", province="上海", city="上海", chilled=True, frozen=True
    )
    category = category_upsert(code="bench", name="压测")
    product = product_upsert(
        code="bench-crab",
        name="阳澄湖大闸蟹",
        category=category,
        storage=StorageCondition.CHILLED,
        shelf_life_days=7,
        channels=["groupbuy"],
    )
    sku = sku_upsert(product=product, code="bench-crab-1", spec="4 只装", price_fen=LIST_PRICE_FEN)
    stock_receive(sku=sku, warehouse=warehouse, quantity=buyers, actor=actor)
    deal = deal_create(
        title="大闸蟹阶梯拼团",
        sku_id=sku.pk,
        tiers=TIERS,
        quantity=buyers,
        group_minutes=120,
        starts_at=clock.now() - dt.timedelta(minutes=1),
        ends_at=clock.now() + dt.timedelta(days=1),
        actor=actor,
    )
    leader_levels_ensure_defaults()
    # Commission: 8 % to the order's leader, 2 % to their recruiter (the ledger is checked).
    past = clock.now() - dt.timedelta(days=1)
    commission_rule_create(actor=actor, depth=1, rate_bp=800, valid_from=past)
    commission_rule_create(actor=actor, depth=2, rate_bp=200, valid_from=past)
    people = []
    tokens = []
    for number in range(buyers + LEADERS):
        person = person_resolve_identifier(
            identifier_type=IdentifierType.PHONE,
            value=phone_normalise(str(13900000000 + number)),
            verified=True,
            source="bench",
        ).person
        people.append(person)
        tokens.append(consumer_token_issue(person=person, method="bench")[0])
    leaders = []
    for number, person in enumerate(people[buyers:]):
        applied = leader_apply(
            person=person,
            display_name=f"团长{number}",
            pickup_name=f"自提点{number}",
            pickup_address=dict(ADDRESS),
            pickup_hours="每天 09:00-20:00",
            real_name="压测团长",
            id_number=_id_number(number),
        )
        leaders.append(leader_approve(actor=actor, leader_no=applied.leader_no))
    worker_heartbeat_touch()
    return deal.deal_no, [p.pk for p in people[:buyers]], tokens[:buyers]


def _attach_starters(person_ids: list[int]) -> None:
    """Each group's starter follows a leader's invite link first: their group sells for that
    leader, and whoever joins it without a leader becomes the leader's customer."""
    from freshloop.groupbuy.models import GroupLeader
    from freshloop.groupbuy.services import customer_attach
    from freshloop.identity.models import Person

    codes = list(GroupLeader.objects.order_by("pk").values_list("invite_code", flat=True))
    for index, person in enumerate(Person.objects.filter(pk__in=person_ids).order_by("pk")):
        customer_attach(person=person, invite_code=codes[index % len(codes)], source="invite_link")


def _groups_by_starter() -> dict[int, str]:
    from freshloop.groupbuy.deals.models import DealGroup

    return dict(DealGroup.objects.values_list("starter_id", "group_no"))


def _orders_by_person() -> dict[int, str]:
    from freshloop.groupbuy.deals.models import GroupMember

    return dict(GroupMember.objects.values_list("person_id", "order_no"))


def _platform_pays() -> dict[str, str]:
    """The sandbox platform takes every open payment's money (the buyer paid on its page);
    returns order_no → payment_no."""
    from freshloop.payments.models import Payment, PaymentStatus
    from freshloop.payments.providers import payment_provider

    sandbox = payment_provider("sandbox")
    opened = {}
    for payment_no, amount, order_no in Payment.objects.filter(
        status=PaymentStatus.CREATED
    ).values_list("payment_no", "amount_fen", "order__order_no"):
        sandbox.record_paid(payment_no=payment_no, amount_fen=amount)  # type: ignore[attr-defined]
        opened[order_no] = payment_no
    return opened


def _close_and_refund() -> tuple[int, float]:
    """The closing job past every deadline, then the worker's relay until nothing is due."""
    from freshloop.core import clock
    from freshloop.core.outbox import outbox_relay
    from freshloop.groupbuy.deals.services import deal_groups_close_due

    later = clock.now() + dt.timedelta(hours=3)
    closed = 0
    while batch := deal_groups_close_due(now=later):
        closed += len(batch)
    started = time.perf_counter()
    for _ in range(200):
        result = outbox_relay(batch_size=500)
        if not (result.sent or result.retried):
            break
    return closed, time.perf_counter() - started


def _count(deal_no: str, buyers: int) -> dict[str, Any]:
    """What the database says after the run."""
    from django.db.models import Count, F, Sum

    from freshloop.core.models import OutboxMessage, OutboxStatus
    from freshloop.groupbuy.deals.models import (
        DealGroup,
        GroupDeal,
        GroupMember,
        GroupStatus,
        MemberStatus,
    )
    from freshloop.inventory.models import StockLevel
    from freshloop.orders.models import OrderLine, RefundRequest
    from freshloop.orders.models import RefundStatus as OrderRefundStatus
    from freshloop.payments.models import Refund, RefundStatus

    deal = GroupDeal.objects.get(deal_no=deal_no)
    holding = GroupMember.objects.filter(
        deal=deal, status__in=[MemberStatus.PENDING, MemberStatus.JOINED]
    )
    held = holding.aggregate(units=Sum("quantity"))["units"] or 0
    in_orders = (
        OrderLine.objects.filter(order__order_no__in=holding.values("order_no")).aggregate(
            units=Sum("quantity")
        )["units"]
        or 0
    )
    oversold = (
        max(0, deal.units_held - deal.quantity)
        + abs(deal.units_held - held)
        + abs(in_orders - held)
        + StockLevel.objects.filter(reserved__gt=F("on_hand")).count()
        + DealGroup.objects.filter(deal=deal, seats__gt=deal.max_size).count()
    )
    owed = GroupMember.objects.filter(deal=deal).exclude(refund_kind="")
    refunds_done = RefundRequest.objects.filter(status=OrderRefundStatus.REFUNDED).count()
    per_order = RefundRequest.objects.values("order_id").annotate(n=Count("pk")).filter(n__gt=1)
    refund_errors = (
        owed.filter(refund_no="").count()
        + abs(owed.exclude(refund_no="-").count() - refunds_done)
        + per_order.count()
        + Refund.objects.exclude(status=RefundStatus.SUCCEEDED).count()
        + OutboxMessage.objects.filter(status=OutboxStatus.FAILED).count()
    )
    groups = DealGroup.objects.filter(deal=deal)
    return {
        "oversold": oversold,
        "refunds": refunds_done,
        "refund_errors": refund_errors,
        "groups_succeeded": groups.filter(status=GroupStatus.SUCCEEDED).count(),
        "groups_failed": groups.filter(status=GroupStatus.FAILED).count(),
        "groups_open": groups.filter(status=GroupStatus.OPEN).count(),
        "members_paid": GroupMember.objects.filter(deal=deal, paid_at__isnull=False).count(),
    }


def _ledger_balanced() -> tuple[bool, int]:
    """Every journal entry of the commission ledger sums to zero (and there are entries: the
    groups sold for leaders); with the number of entries."""
    from django.db.models import Sum

    from freshloop.groupbuy.commission.models import LedgerLeg, LedgerTransaction

    unbalanced = (
        LedgerLeg.objects.values("transaction_id")
        .annotate(total=Sum("amount_fen"))
        .exclude(total=0)
        .count()
    )
    entries = LedgerTransaction.objects.count()
    return unbalanced == 0 and entries > 0, entries


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="300 buyers in 60 groups (CI smoke)")
    parser.add_argument("--db", choices=["sqlite", "postgres"], default="sqlite")
    parser.add_argument("--connections", type=int, default=64)
    parser.add_argument("--workers", type=int, default=web_workers())
    parser.add_argument("--buyers", type=int, default=0, help="another size (with --groups)")
    parser.add_argument("--groups", type=int, default=0)
    args = parser.parse_args()
    buyers, groups = (300, 60) if args.quick else (5000, 1000)
    if args.buyers and args.groups:
        buyers, groups = args.buyers, args.groups
    sizes = group_sizes(buyers, groups)
    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-group-deal-")
    env = {
        **os.environ,
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": bench_database_url(args.db, data_dir, POSTGRES_BENCH_DB),
        "FRESHLOOP_LOG_LEVEL": "ERROR",
        "FRESHLOOP_ENV": "development",
        "REDIS_URL": "",
    }
    os.environ.update(env)
    setup_django()
    from django.core.management import call_command
    from django.db import connections as db_connections

    call_command("migrate", verbosity=0)
    deal_no, person_ids, tokens = _seed(buyers)
    starters = list(range(groups))  # buyer index i < groups starts group i
    _attach_starters([person_ids[i] for i in starters])
    db_connections.close_all()

    # Joiners in round-robin over the groups, so concurrent joins meet in the same groups.
    joiner_slots = [[g] * (size - 1) for g, size in enumerate(sizes)]
    order_of_joins = [g for round_ in _round_robin(joiner_slots) for g in round_]
    joiners = list(range(groups, buyers))
    assert len(joiners) == len(order_of_joins)
    random.Random(20261207).shuffle(starters)

    phases: list[tuple[str, Any]] = []
    sent: dict[str, int] = {}

    def run_phase(name: str, requests: list[Request]) -> None:
        """Send every request once, `--connections` in flight."""
        sent[name] = len(requests)
        result = wrk(base, requests, connections=args.connections, seconds=900, once=True)
        phases.append((name, result))

    with serving(
        "config.asgi:application", env=env, cwd=ROOT, workers=args.workers, ready_path="/livez"
    ) as base:
        start = [
            Request(f"/api/v1/groupbuy/deals/{deal_no}/groups", tokens[i], {"address": ADDRESS})
            for i in starters
        ]
        run_phase("start", start)
        group_of_starter = _groups_by_starter()
        join = [
            Request(
                f"/api/v1/groupbuy/groups/{group_of_starter[person_ids[g]]}/join",
                tokens[i],
                {"address": ADDRESS},
            )
            for i, g in zip(joiners, order_of_joins, strict=True)
        ]
        run_phase("join", join)
        order_of = _orders_by_person()
        pay = [
            Request(
                "/api/v1/payments",
                tokens[i],
                {"order_no": order_of[person_ids[i]], "provider": "sandbox", "client_kind": "h5"},
            )
            for i in range(buyers)
            if person_ids[i] in order_of
        ]
        run_phase("pay", pay)
        payment_of = _platform_pays()
        index_of = {pid: i for i, pid in enumerate(person_ids)}
        sync = [
            Request(f"/api/v1/payments/{payment_of[order_no]}/sync", tokens[index_of[pid]], {})
            for pid, order_no in order_of.items()
            if order_no in payment_of
        ]
        run_phase("sync", sync)

    closed, refund_seconds = _close_and_refund()
    counted = _count(deal_no, buyers)
    ledger_balanced, ledger_entries = _ledger_balanced()

    bare = BareProject.write(env)
    plans = _minimal_orders(buyers)
    bare.create_tables(sorted({line["sku_id"] for items in plans for line in items}), 10**7)
    with bare.serving(args.workers) as base:
        minimal = [Request("/order", "", {"items": items}) for items in plans]
        wrk(base, minimal[:50], connections=args.connections, seconds=1)  # warm-up
        floor = wrk(base, minimal, connections=args.connections, seconds=10)
    base_rps = bare_rps(bare, workers=args.workers, connections=args.connections, seconds=5)

    # wrk sends a phase's last line again on connections left without a line of their own
    # (fewer lines than connections, the --quick size): the same key, answered 200 as the
    # same purchase. Idle connections the server closes at the end show as socket errors;
    # what counts is that every request was answered as expected — and, from the database,
    # that every buyer holds a paid place.
    expected = {"start": (201, 200), "join": (201, 200), "pay": (200,), "sync": (200,)}
    errors = {
        name: max(0, sent[name] - result.count(*expected[name]))
        + result.count(*(set(result.statuses) - set(expected[name])))
        for name, result in phases
    }
    http_seconds = sum(result.seconds for _, result in phases)
    joins_per_s = buyers / http_seconds
    min_order_rps = floor.count(201) / floor.seconds
    emit(
        {
            "buyers": buyers,
            "groups": groups,
            "joins_per_s": round(joins_per_s, 1),
            "p99_ms": max(result.p99_ms for _, result in phases),
            "refunds": counted["refunds"],
            "refund_errors": counted["refund_errors"],
            "oversold": counted["oversold"],
            "ledger_balanced": ledger_balanced,
            "ledger_entries": ledger_entries,
            "min_order_rps": round(min_order_rps, 1),
            "ratio_to_min": round(joins_per_s / min_order_rps, 3),
            "bare_rps": round(base_rps, 1),
            "phase_rps": {name: round(result.rps, 1) for name, result in phases},
            "phase_p99_ms": {name: result.p99_ms for name, result in phases},
            "http_errors": errors,
            "groups_succeeded": counted["groups_succeeded"],
            "groups_failed": counted["groups_failed"],
            "groups_open": counted["groups_open"],
            "groups_closed_by_job": closed,
            "members_paid": counted["members_paid"],
            "refund_seconds": round(refund_seconds, 1),
            "db": args.db,
            "connections": args.connections,
            "workers": args.workers,
        }
    )
    if (
        counted["oversold"]
        or counted["refund_errors"]
        or counted["members_paid"] != buyers
        or any(errors.values())
        or not ledger_balanced
    ):
        raise SystemExit(f"group deal bench failed: {counted}, errors {errors}")


def _round_robin(slots: list[list[int]]) -> list[list[int]]:
    """[[0, 0], [1], [2, 2]] → [[0, 1, 2], [0, 2]]: one join per group per round."""
    rounds: list[list[int]] = []
    for depth in range(max((len(s) for s in slots), default=0)):
        rounds.append([s[depth] for s in slots if len(s) > depth])
    return rounds


def _minimal_orders(count: int) -> list[list[dict[str, int]]]:
    """The ratio base's baskets: three SKUs each, as in bench/checkout.py."""
    rng = random.Random(20261207)
    return [
        [{"sku_id": sku, "quantity": 1} for sku in rng.sample(range(1, 51), 3)]
        for _ in range(count)
    ]


if __name__ == "__main__":
    main()
