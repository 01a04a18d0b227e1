"""SOP journeys at scale: 100,000 customers enter a 3-step journey at once.

The steps: a condition (still unpaid since entering), a 1:1 WeCom message from the customer's
跟进人 through the marketing policy (consent, caps, quiet hours, WeCom's limit — one outbox row
when allowed), and a staff task. The huey consumer runs them as in production: Redis, PostgreSQL,
`manage.py run_huey` with 2 worker processes, one shard of the enrolments each (periodic jobs
off: the outbox relay's delivery to WeCom is not a journey step and is measured elsewhere). The first run
is at a simulated 10:00 Asia/Shanghai, so quiet hours hold nothing; the second, on the next
day at 23:00, must hold every marketing send until 08:00.

A step execution is one condition evaluated or one action taken for one customer. Counted from
the database afterwards: `lost` customers whose message step has no decision, `duplicated`
decisions or outbox rows beyond one per customer, `over_cap` customers with more than one
message allowed that day, and at 23:00 `held` decisions and `night_outbox_rows` (must be 0).

Usage: python bench/journeys.py [--quick] [--customers N] [--workers 2]
"""

from __future__ import annotations

import argparse
import datetime as dt
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, bench_database_url, emit, setup_django

REDIS_DB = "redis://127.0.0.1:6379/15"
SHANGHAI = dt.timezone(dt.timedelta(hours=8))
MORNING = dt.datetime(2026, 12, 7, 10, 0, tzinfo=SHANGHAI)
NIGHT = dt.datetime(2026, 12, 8, 23, 0, tzinfo=SHANGHAI)


def _people(count: int) -> list[int]:
    from django.utils import timezone

    from freshloop.identity.models import Person
    from freshloop.scrm.models import WecomContact

    now = timezone.now()
    Person.objects.bulk_create(
        [
            Person(one_id=f"P_BENCH{i:09d}", created_at=now, updated_at=now, source="bench")
            for i in range(count)
        ],
        batch_size=5000,
    )
    ids = list(Person.objects.filter(source="bench").order_by("pk").values_list("pk", flat=True))
    WecomContact.objects.bulk_create(
        [
            WecomContact(
                external_userid=f"wm_bench_{pk}",
                person_id=pk,
                follow_userid="fl_staff_lin",
                added_at=now,
                updated_at=now,
            )
            for pk in ids
        ],
        batch_size=5000,
    )
    return ids


def _run(journey: object, ids: list[int], at: dt.datetime, label: str, workers: int) -> dict:
    from freshloop.scrm.journeys import journey_enroll_people
    from freshloop.scrm.models import EnrollmentStatus, JourneyEnrollment, JourneyStepRun
    from freshloop.scrm.tasks import journeys_run_shard

    key = f"bench:{label}"
    from freshloop.core import clock

    with clock.frozen(at.astimezone(dt.UTC)):
        journey_enroll_people(journey=journey, person_ids=ids, trigger_key=key, context={})  # type: ignore[arg-type]
    enrollments = JourneyEnrollment.objects.filter(trigger_key=key)
    started = time.perf_counter()
    for shard in range(workers):
        journeys_run_shard(shard, workers, at.astimezone(dt.UTC).isoformat())
    while enrollments.filter(status=EnrollmentStatus.ACTIVE).exists():
        time.sleep(0.2)
    seconds = time.perf_counter() - started
    steps = JourneyStepRun.objects.filter(enrollment__trigger_key=key).count()
    return {"seconds": seconds, "steps": steps, "key": key}


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="2,000 customers (CI smoke)")
    parser.add_argument("--customers", type=int, default=0)
    parser.add_argument("--workers", type=int, default=2)
    args = parser.parse_args()
    customers = args.customers or (2_000 if args.quick else 100_000)

    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-journeys-")
    env = {
        **os.environ,
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": bench_database_url("postgres", data_dir, "freshloop_bench_journeys"),
        "REDIS_URL": REDIS_DB,
        "FRESHLOOP_LOG_LEVEL": "ERROR",
        "FRESHLOOP_ENV": "development",
        "FRESHLOOP_HUEY_IMMEDIATE": "0",
    }
    os.environ.update(env)
    import redis

    redis.Redis.from_url(REDIS_DB).flushdb()
    setup_django()
    from django.core.management import call_command
    from django.db import connections

    from freshloop.core.audit import Actor
    from freshloop.core.models import OutboxMessage
    from freshloop.messaging.models import DispatchStatus, MarketingDispatch
    from freshloop.scrm.models import JourneyTrigger
    from freshloop.scrm.services import journey_create, journey_status_set

    call_command("migrate", verbosity=0)
    ids = _people(customers)
    actor = Actor.system("bench")
    journey = journey_create(
        name="bench",
        trigger=JourneyTrigger.ORDER_PAID,
        steps=[
            {"type": "condition", "check": "unpaid_since_entry"},
            {"type": "message", "text": "新鲜好奶到货啦，点开看看～"},
            {"type": "task", "title": "回访", "due_minutes": 60},
        ],
        actor=actor,
    )
    journey = journey_status_set(journey=journey, status="active", actor=actor)
    connections.close_all()

    worker = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
        [
            str(ROOT / ".venv" / "bin" / "python"),
            str(ROOT / "manage.py"),
            "run_huey",
            "--workers",
            str(args.workers),
            "--worker-type",
            "process",
            "--quiet",
            # No periodic jobs: the outbox relay would deliver the 100,000 WeCom messages in
            # the same processes, and delivery (WeCom's side, rate-limited) is not a step.
            "--no-periodic",
        ],
        env=env,
        cwd=ROOT,
    )
    try:
        time.sleep(2)
        day = _run(journey, ids, MORNING, "morning", args.workers)
        dispatches = MarketingDispatch.objects.filter(source__startswith=f"journey:{journey.pk}:")
        morning = dispatches.filter(created_at__date=MORNING.astimezone(dt.UTC).date())
        decided = morning.values("person_id").distinct().count()
        allowed = morning.filter(status=DispatchStatus.QUEUED)
        outbox_rows = OutboxMessage.objects.filter(channel="wecom").count()
        night = _run(journey, ids, NIGHT, "night", args.workers)
        held = dispatches.filter(status=DispatchStatus.HELD).count()
        night_outbox = OutboxMessage.objects.filter(channel="wecom").count() - outbox_rows
    finally:
        worker.terminate()
        worker.wait(timeout=30)
    emit(
        {
            "bench": "journeys",
            "customers": customers,
            "steps_executed": day["steps"],
            "seconds": round(day["seconds"], 2),
            "per_s": round(day["steps"] / day["seconds"], 1),
            "lost": customers - decided,
            "duplicated": (morning.count() - decided) + max(0, outbox_rows - allowed.count()),
            "over_cap": allowed.count() - allowed.values("person_id").distinct().count(),
            "workers": args.workers,
            "night_steps": night["steps"],
            "held": held,
            "night_outbox_rows": night_outbox,
        }
    )


if __name__ == "__main__":
    main()
