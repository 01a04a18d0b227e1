"""Fault drill: mixed traffic against the real process layout while processes die and servers
restart, then a count of what was lost, doubled or left stuck.

The drill starts its own PostgreSQL (Debian's `initdb`/`pg_ctl`, a private port) and Redis
(`redis-server --save '' --appendonly no`, a private port), migrates, seeds a few SKUs, buyers
and a data-hub write key, then starts what `make demo` starts: the web server
(`manage.py serve --workers 2`), the huey worker (`manage.py run_huey`) and the data-hub flusher
(`manage.py datahub_flusher`, web processes with FRESHLOOP_DATAHUB_AUTOFLUSH=0).

Traffic is what real clients do: buyers place orders with an Idempotency-Key and send the same
request again (same key) after a dropped connection or a 5xx; pay in the sandbox (the
provider's signed callback, resent until acknowledged as a provider does); ask for refunds that
an operator approves; and send data-hub event batches, resent with the same event ids until
accepted. Each scenario injects one fault in the middle of its traffic:

    web_kill           SIGKILL the web server (supervisor and workers), start it again
    worker_kill        SIGKILL the huey worker, start it again
    flusher_kill       SIGKILL the data-hub flusher, start it again
    postgres_restart   stop PostgreSQL in immediate mode (every backend dies), start it again
    redis_restart      SIGKILL Redis (it forgets everything: no persistence), start it again

After the last scenario every process keeps running until all work is final or a deadline
passes; then each scenario's ledger is checked against the database and the event store:

    lost      an accepted order or event that does not exist afterwards
    doubled   an idempotency key with two orders (or two answers), an event stored twice,
              an order paid twice
    stuck     a paid callback whose order is not paid, an approved refund not refunded, an
              outbox row or buffered event of the scenario's window still pending
    http_5xx  5xx answers other than the documented 503s (database_unavailable,
              service_unavailable, rate_limiter_unavailable)

Usage: python bench/faults.py [--quick] [--scenario NAME ...] [--keep]
Prints one JSON line per scenario: scenario, requests, lost, doubled, stuck, http_5xx, and
what explains them (503s, connection errors, retries, tracebacks in the server logs, seconds
until the web answered again).
"""

from __future__ import annotations

import argparse
import contextlib
import dataclasses
import os
import random
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit

sys.path.insert(0, str(ROOT))
from tests.faults import PG_BIN, PrivatePostgres, PrivateRedis, _as_postgres_user, free_port

SCENARIOS = ["web_kill", "worker_kill", "flusher_kill", "postgres_restart", "redis_restart"]
DOCUMENTED_503 = {"database_unavailable", "service_unavailable", "rate_limiter_unavailable"}
ADDRESS = {
    "name": "演练",
    "phone": "13800000000",
    "province": "上海",
    "city": "上海",
    "district": "浦东新区",
    "detail": "张江路 1 号",
}


@dataclasses.dataclass(frozen=True)
class Size:
    buyers: int  # client threads, each a buyer walking order → pay → (refund) → events
    traffic_seconds: float  # per scenario
    fault_at: float  # seconds into the scenario's traffic
    down_seconds: float  # how long a restarted server stays down
    settle_seconds: float  # deadline for every piece of work to reach its final state
    give_up_seconds: float  # a client stops retrying one request after this long


QUICK = Size(
    buyers=4,
    traffic_seconds=8,
    fault_at=3,
    down_seconds=2,
    settle_seconds=150,
    give_up_seconds=30,
)
FULL = Size(
    buyers=8,
    traffic_seconds=25,
    fault_at=8,
    down_seconds=5,
    settle_seconds=240,
    give_up_seconds=60,
)


# --- the servers and processes ---------------------------------------------------------------


class Postgres(PrivatePostgres):
    def _pg_ctl(self, *args: str) -> None:
        subprocess.run(  # noqa: S603 (Debian's pg_ctl on our own data directory)
            _as_postgres_user([str(PG_BIN / "pg_ctl"), "-D", str(self.data), *args]),
            check=True,
            capture_output=True,
        )

    def restart(self, down_seconds: float) -> None:
        # Immediate: every backend is killed, as when the server crashes or is failed over.
        self._pg_ctl("-m", "immediate", "stop")
        time.sleep(down_seconds)
        self._pg_ctl(
            "-l",
            str(self.root / "log"),
            "-o",
            f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off",
            "-w",
            "start",
        )


class Redis(PrivateRedis):
    def restart(self, down_seconds: float) -> None:
        assert self._process is not None
        self._process.kill()
        self._process.wait(timeout=10)
        self._process = None
        time.sleep(down_seconds)
        self.start()


class Process:
    """One of the project's processes, in a process group of its own (uvicorn's workers die
    with their supervisor), its output appended to a log file."""

    def __init__(self, name: str, argv: list[str], env: dict[str, str], logs: Path) -> None:
        self.name = name
        self.argv = argv
        self.env = env
        self.log_path = logs / f"{name}.log"
        self.popen: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        with open(self.log_path, "ab") as log:
            self.popen = subprocess.Popen(  # noqa: S603 (our own interpreter and manage.py)
                self.argv,
                cwd=ROOT,
                env=self.env,
                stdout=log,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )

    def signal(self, signum: int) -> None:
        if self.popen is None:
            return
        with contextlib.suppress(ProcessLookupError):
            os.killpg(self.popen.pid, signum)

    def kill(self) -> None:
        self.signal(signal.SIGKILL)
        if self.popen is not None:
            self.popen.wait(timeout=10)

    def stop(self) -> None:
        self.signal(signal.SIGTERM)
        if self.popen is not None:
            try:
                self.popen.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.kill()

    def tracebacks(self) -> int:
        if not self.log_path.exists():
            return 0
        return self.log_path.read_text(errors="replace").count("Traceback (most recent call last)")


# --- what the clients did ----------------------------------------------------------------------


@dataclasses.dataclass
class Ledger:
    """Everything one scenario's clients sent and were told."""

    scenario: str
    started_at: Any = None  # aware datetimes (the database's clock is the same machine's)
    ended_at: Any = None
    lock: threading.Lock = dataclasses.field(default_factory=threading.Lock)
    requests: int = 0
    retries: int = 0
    answered_503: int = 0
    http_5xx: int = 0
    connection_errors: int = 0
    gave_up: int = 0
    samples: list[str] = dataclasses.field(default_factory=list)
    # idempotency key → order numbers the server answered with (one, unless doubled)
    order_answers: dict[str, set[str]] = dataclasses.field(default_factory=dict)
    order_keys_sent: set[str] = dataclasses.field(default_factory=set)
    paid_callbacks_acked: set[str] = dataclasses.field(default_factory=set)  # order numbers
    refunds_approved: set[str] = dataclasses.field(default_factory=set)  # refund numbers
    events_accepted: set[str] = dataclasses.field(default_factory=set)
    web_recovered_after_s: float | None = None
    settled_after_s: float | None = None  # from the end of all traffic until its work was final

    def note(self, text: str) -> None:
        with self.lock:
            if len(self.samples) < 5:
                self.samples.append(text[:300])


class Client:
    """A real client's manners: on a dropped connection or a 5xx, send the same request again
    (same idempotency key, same event ids), waiting as Retry-After says, until a definitive
    answer or `give_up_seconds`."""

    def __init__(self, base: str, ledger: Ledger, give_up_seconds: float) -> None:
        import httpx

        self.http = httpx.Client(base_url=base, timeout=10)
        self.ledger = ledger
        self.give_up_seconds = give_up_seconds

    def close(self) -> None:
        self.http.close()

    def send(self, method: str, path: str, **kwargs: Any) -> Any:
        """The definitive response (2xx or 4xx), or None after giving up."""
        import httpx

        deadline = time.monotonic() + self.give_up_seconds
        first = True
        while True:
            ledger = self.ledger
            with ledger.lock:
                ledger.requests += 1
                if not first:
                    ledger.retries += 1
            first = False
            wait = 0.3
            try:
                response = self.http.request(method, path, **kwargs)
            except httpx.TransportError as error:
                with ledger.lock:
                    ledger.connection_errors += 1
                response = None
                reason = type(error).__name__
            if response is not None:
                if response.status_code < 500:
                    return response
                code = ""
                with contextlib.suppress(ValueError):
                    code = response.json().get("code", "")
                if response.status_code == 503 and code in DOCUMENTED_503:
                    with ledger.lock:
                        ledger.answered_503 += 1
                    if "Retry-After" not in response.headers:
                        ledger.note(f"503 without Retry-After: {method} {path}")
                    wait = min(float(response.headers.get("Retry-After", "1")), 1.0)
                else:
                    with ledger.lock:
                        ledger.http_5xx += 1
                    ledger.note(f"{response.status_code} {method} {path}: {response.text[:200]}")
                reason = f"{response.status_code} {code}"
            if time.monotonic() > deadline:
                with ledger.lock:
                    ledger.gave_up += 1
                ledger.note(f"gave up on {method} {path} after {reason}")
                return None
            time.sleep(wait)


class Shop:
    """The bench process's own view of the project (set-up, the operator, the provider)."""

    def __init__(self) -> None:
        from freshloop.catalog.models import Sku

        self.sku_ids = list(Sku.objects.values_list("pk", flat=True))

    @staticmethod
    def paid_callback(payment_no: str, amount_fen: int) -> tuple[dict[str, str], bytes]:
        """The sandbox provider takes the money and signs its notification."""
        from freshloop.payments.providers import payment_provider
        from freshloop.payments.providers.sandbox import SandboxProvider

        sandbox = payment_provider("sandbox")
        assert isinstance(sandbox, SandboxProvider)
        sandbox.record_paid(payment_no=payment_no, amount_fen=amount_fen)
        return sandbox.build_payment_notification(
            payment_no=payment_no, amount_fen=amount_fen, succeed=True
        )

    @staticmethod
    def approve(refund_no: str, give_up_seconds: float) -> bool:
        """An operator approves in the back office; the back office retries as a person would."""
        from django.db import DatabaseError, close_old_connections, connection

        from freshloop.core.audit import Actor
        from freshloop.orders.errors import OrderStateInvalid
        from freshloop.orders.services import refund_request_approve

        deadline = time.monotonic() + give_up_seconds
        while time.monotonic() < deadline:
            try:
                refund_request_approve(refund_no=refund_no, actor=Actor.system("drill"))
                return True
            except OrderStateInvalid:
                return True  # approved by the try whose answer was lost
            except DatabaseError:
                connection.close()
                close_old_connections()
                time.sleep(0.5)
        return False


def journey(
    client: Client, shop: Shop, buyer: tuple[str, str], rng: random.Random, number: int
) -> None:
    token, phone = buyer
    ledger = client.ledger
    auth = {"Authorization": f"Bearer {token}"}
    # data-hub events: one batch, resent with the same ids until accepted
    ids = [f"drill-{ledger.scenario}-{uuid.uuid4().hex[:12]}" for _ in range(5)]
    from freshloop.core import clock

    batch = [
        {
            "event_id": event_id,
            "name": "page_view",
            "occurred_at": clock.now().isoformat(),
            "properties": {"path": "/m/"},
            "identifiers": [{"type": "phone", "value": phone}],
        }
        for event_id in ids
    ]
    answer = client.send(
        "POST", "/api/v1/track", json={"batch": batch}, headers={"X-Write-Key": shop_write_key}
    )
    if answer is not None and answer.status_code == 200:
        with ledger.lock:
            ledger.events_accepted.update(ids)
    elif answer is not None:
        ledger.note(f"track {answer.status_code}: {answer.text[:200]}")

    # an order, under one key for this purchase however often it is sent
    key = uuid.uuid4().hex
    items = [
        {"sku_id": sku_id, "quantity": rng.randint(1, 2)} for sku_id in rng.sample(shop.sku_ids, 2)
    ]
    with ledger.lock:
        ledger.order_keys_sent.add(key)
    answer = client.send(
        "POST",
        "/api/v1/shop/orders",
        json={"items": items, "address": ADDRESS},
        headers={**auth, "Idempotency-Key": key},
    )
    if answer is None or answer.status_code not in (200, 201):
        if answer is not None:
            ledger.note(f"order {answer.status_code}: {answer.text[:200]}")
        return
    order = answer.json()
    with ledger.lock:
        ledger.order_answers.setdefault(key, set()).add(order["order_no"])

    # pay in the sandbox: the buyer opens the payment, the provider calls back until acked
    answer = client.send(
        "POST",
        "/api/v1/payments",
        json={"order_no": order["order_no"], "provider": "sandbox", "client_kind": "h5"},
        headers=auth,
    )
    if answer is None or answer.status_code not in (200, 201):
        if answer is not None:
            ledger.note(f"payment {answer.status_code}: {answer.text[:200]}")
        return
    payment = answer.json()
    headers, body = shop.paid_callback(payment["payment_no"], payment["amount_fen"])
    answer = client.send("POST", "/api/v1/payments/notify/sandbox", content=body, headers=headers)
    if answer is None or not 200 <= answer.status_code < 300:
        if answer is not None:
            ledger.note(f"callback {answer.status_code}: {answer.text[:200]}")
        return
    with ledger.lock:
        ledger.paid_callbacks_acked.add(order["order_no"])

    # every third paid order comes back: the buyer asks, an operator approves
    if number % 3:
        return
    lines = [{"line_id": line["id"], "quantity": line["quantity"]} for line in order["lines"]]
    answer = client.send(
        "POST",
        f"/api/v1/shop/orders/{order['order_no']}/refunds",
        json={"lines": lines, "reason": "演练退款"},
        headers=auth,
    )
    if answer is None or answer.status_code != 201:
        # A retried request whose first try committed is refused (nothing left to refund):
        # the refund the first try made is found by its order at the check.
        if answer is not None and answer.status_code >= 500:
            ledger.note(f"refund {answer.status_code}: {answer.text[:200]}")
        refund_no = _refund_of(order["order_no"])
        if refund_no is None:
            return
    else:
        refund_no = answer.json()["refund_no"]
    if Shop.approve(refund_no, client.give_up_seconds):
        with ledger.lock:
            ledger.refunds_approved.add(refund_no)


def _refund_of(order_no: str) -> str | None:
    from django.db import DatabaseError

    from freshloop.orders.models import RefundRequest

    try:
        return (
            RefundRequest.objects.filter(order__order_no=order_no)
            .values_list("refund_no", flat=True)
            .first()
        )
    except DatabaseError:
        return None


shop_write_key = ""


# --- the drill -----------------------------------------------------------------------------------


class Drill:
    def __init__(self, size: Size, keep: bool) -> None:
        self.size = size
        self.keep = keep
        self.root = Path(tempfile.mkdtemp(prefix="freshloop-faults-"))
        self.logs = self.root / "logs"
        self.logs.mkdir()
        self.postgres = Postgres()
        self.redis = Redis()
        self.port = free_port()
        self.base = f"http://127.0.0.1:{self.port}"
        self.buyers: list[tuple[str, str]] = []  # (consumer token, phone)
        self.processes: dict[str, Process] = {}

    # set-up

    def env(self) -> dict[str, str]:
        env = {
            key: value
            for key, value in os.environ.items()
            if not key.startswith(("FRESHLOOP_", "DATABASE_URL", "REDIS_URL", "DJANGO_"))
        }
        env.update(
            FRESHLOOP_ENV="development",
            DJANGO_SETTINGS_MODULE="config.settings",
            DATABASE_URL=self.postgres.url,
            REDIS_URL=self.redis.url,
            FRESHLOOP_DATA_DIR=str(self.root / "data"),
            FRESHLOOP_HUEY_IMMEDIATE="0",
            FRESHLOOP_DATAHUB_AUTOFLUSH="0",
            FRESHLOOP_LOG_LEVEL="WARNING",
            PYTHONPATH=f"{ROOT / 'src'}{os.pathsep}{ROOT}",
        )
        return env

    def start(self) -> None:
        self.postgres.start()
        self.redis.start()
        env = self.env()
        os.environ.update(env)
        sys.path.insert(0, str(ROOT / "src"))
        import django

        django.setup()
        from django.core.management import call_command

        call_command("migrate", verbosity=0)
        self._seed()
        from django.db import connections

        connections.close_all()
        python = sys.executable
        manage = str(ROOT / "manage.py")
        self.processes = {
            "web": Process(
                "web",
                [
                    python,
                    manage,
                    "serve",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(self.port),
                    "--workers",
                    "2",
                ],
                env,
                self.logs,
            ),
            "worker": Process("worker", [python, manage, "run_huey"], env, self.logs),
            "flusher": Process(
                "flusher", [python, manage, "datahub_flusher", "--interval", "1"], env, self.logs
            ),
        }
        for process in self.processes.values():
            process.start()
        self.wait_for_web(60)

    def _seed(self) -> None:
        global shop_write_key
        from freshloop.catalog.models import StorageCondition
        from freshloop.catalog.services import category_upsert, product_upsert, sku_upsert
        from freshloop.core.audit import Actor
        from freshloop.datahub.ingestion.services import event_source_create
        from freshloop.identity.models import IdentifierType
        from freshloop.identity.services import (
            consumer_token_issue,
            person_resolve_identifier,
            phone_normalise,
        )
        from freshloop.inventory.services import stock_receive, warehouse_upsert

        actor = Actor.system("drill")
        warehouse = warehouse_upsert(
            code="sh", name="上海仓", province="上海", city="上海", chilled=True, frozen=True
        )
        category = category_upsert(code="drill", name="演练")
        for number in range(6):
            product = product_upsert(
                code=f"drill-{number}",
                name=f"演练商品{number}",
                category=category,
                storage=StorageCondition.AMBIENT,
                shelf_life_days=30,
            )
            sku = sku_upsert(
                product=product, code=f"drill-sku-{number}", spec="1件", price_fen=1990 + number
            )
            stock_receive(sku=sku, warehouse=warehouse, quantity=1_000_000, actor=actor)
        for number in range(self.size.buyers * 2):
            person = person_resolve_identifier(
                identifier_type=IdentifierType.PHONE,
                value=phone_normalise(str(13700000000 + number)),
                verified=True,
                source="drill",
            ).person
            token = consumer_token_issue(person=person, method="drill")[0]
            self.buyers.append((token, str(13700000000 + number)))
        shop_write_key, _ = event_source_create(actor=actor, name="drill", channel="shop")

    def wait_for_web(self, timeout: float) -> float:
        import httpx

        started = time.monotonic()
        while time.monotonic() - started < timeout:
            try:
                if httpx.get(f"{self.base}/livez", timeout=1).status_code == 200:
                    return time.monotonic() - started
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        raise TimeoutError(f"the web server did not answer within {timeout} s")

    def stop(self) -> None:
        for process in self.processes.values():
            process.stop()
        self.redis.stop()
        self.postgres.stop()
        if self.keep:
            print(f"kept: {self.root} (process logs)", file=sys.stderr)
            return
        shutil.rmtree(self.root, ignore_errors=True)

    # faults

    def fault(self, scenario: str, ledger: Ledger) -> None:
        down = self.size.down_seconds
        if scenario == "web_kill":
            web = self.processes["web"]
            web.kill()
            time.sleep(1)
            web.start()
            ledger.web_recovered_after_s = round(self.wait_for_web(60), 2)
        elif scenario in ("worker_kill", "flusher_kill"):
            process = self.processes[scenario.removesuffix("_kill")]
            process.kill()
            time.sleep(1)
            process.start()
        elif scenario == "postgres_restart":
            self.postgres.restart(down)
        elif scenario == "redis_restart":
            self.redis.restart(down)
        else:
            raise SystemExit(f"unknown scenario {scenario}")

    def run_scenario(self, scenario: str) -> Ledger:
        from django.db import connection

        from freshloop.core import clock

        # The previous scenario may have restarted PostgreSQL under this process's connection.
        connection.close()
        ledger = Ledger(scenario=scenario, started_at=clock.now())
        shop = Shop()
        stop = threading.Event()

        def buyer(index: int) -> None:
            rng = random.Random(f"{scenario}-{index}")
            client = Client(self.base, ledger, self.size.give_up_seconds)
            number = 0
            try:
                while not stop.is_set():
                    who = self.buyers[(index + number * self.size.buyers) % len(self.buyers)]
                    journey(client, shop, who, rng, number)
                    number += 1
            finally:
                client.close()
                from django.db import connection

                connection.close()

        threads = [threading.Thread(target=buyer, args=(i,)) for i in range(self.size.buyers)]
        for thread in threads:
            thread.start()
        time.sleep(self.size.fault_at)
        self.fault(scenario, ledger)
        time.sleep(max(0.0, self.size.traffic_seconds - self.size.fault_at))
        stop.set()
        for thread in threads:
            thread.join()
        ledger.ended_at = clock.now()
        return ledger

    # the checks

    def settle(self, ledgers: list[Ledger], deadline: float) -> float:
        """Wait until all work is final (or the deadline); returns the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < deadline:
            waiting = [ledger for ledger in ledgers if ledger.settled_after_s is None]
            for ledger in waiting:
                if not self.unfinished(ledger):
                    ledger.settled_after_s = round(time.monotonic() - started, 1)
            if all(ledger.settled_after_s is not None for ledger in ledgers):
                break
            time.sleep(2)
        return round(time.monotonic() - started, 1)

    def unfinished(self, ledger: Ledger) -> dict[str, int]:
        from django.db import DatabaseError, connection

        from freshloop.core.models import OutboxMessage, OutboxStatus
        from freshloop.datahub.models import BufferedEvent
        from freshloop.orders.models import Order, OrderStatus, RefundRequest, RefundStatus

        try:
            window = {"created_at__gte": ledger.started_at, "created_at__lte": ledger.ended_at}
            unpaid = (
                Order.objects.filter(order_no__in=ledger.paid_callbacks_acked, paid_at__isnull=True)
                .exclude(status=OrderStatus.CANCELLED)
                .count()
            )
            refunds = (
                RefundRequest.objects.filter(refund_no__in=ledger.refunds_approved)
                .exclude(status=RefundStatus.REFUNDED)
                .count()
            )
            outbox = OutboxMessage.objects.filter(status=OutboxStatus.PENDING, **window).count()
            buffered = BufferedEvent.objects.filter(
                flushed_at__isnull=True,
                received_at__gte=ledger.started_at,
                received_at__lte=ledger.ended_at,
            ).count()
        except DatabaseError:
            connection.close()
            return {"database": 1}
        counts = {"unpaid": unpaid, "refunds": refunds, "outbox": outbox, "buffered": buffered}
        return {name: count for name, count in counts.items() if count}

    def verdict(self, ledger: Ledger, settle_s: float) -> dict[str, Any]:
        from django.db.models import Count

        from freshloop.datahub.eventstore.store import event_store
        from freshloop.orders.models import Order
        from freshloop.payments.models import Payment, PaymentStatus

        answered = {key: nos for key, nos in ledger.order_answers.items()}
        orders_by_key: dict[str, list[str]] = {}
        for key, order_no in Order.objects.filter(
            idempotency_key__in=ledger.order_keys_sent
        ).values_list("idempotency_key", "order_no"):
            orders_by_key.setdefault(key, []).append(order_no)
        lost_orders = sum(
            1 for key, nos in answered.items() if not set(nos) <= set(orders_by_key.get(key, []))
        )
        doubled_orders = sum(1 for nos in orders_by_key.values() if len(nos) > 1) + sum(
            1 for nos in answered.values() if len(nos) > 1
        )
        paid_twice = (
            Payment.objects.filter(
                order__order_no__in=ledger.paid_callbacks_acked,
                status__in=[
                    PaymentStatus.SUCCEEDED,
                    PaymentStatus.REFUNDED,
                    PaymentStatus.PARTIALLY_REFUNDED,
                ],
            )
            .values("order_id")
            .annotate(n=Count("id"))
            .filter(n__gt=1)
            .count()
        )
        stored: dict[str, int] = {}
        if ledger.events_accepted:
            with event_store().connect() as connection:
                rows = connection.execute(
                    "SELECT event_id, count(*) FROM events WHERE event_id LIKE ? GROUP BY event_id",
                    [f"drill-{ledger.scenario}-%"],
                ).fetchall()
            stored = {event_id: count for event_id, count in rows}
        lost_events = sum(1 for event_id in ledger.events_accepted if event_id not in stored)
        doubled_events = sum(1 for count in stored.values() if count > 1)
        unfinished = self.unfinished(ledger)
        web_log_tracebacks = self.processes["web"].tracebacks()
        return {
            "scenario": ledger.scenario,
            "requests": ledger.requests,
            "lost": lost_orders + lost_events,
            "doubled": doubled_orders + doubled_events + paid_twice,
            "stuck": sum(unfinished.values()),
            "http_5xx": ledger.http_5xx,
            "answered_503": ledger.answered_503,
            "connection_errors": ledger.connection_errors,
            "retries": ledger.retries,
            "gave_up": ledger.gave_up,
            "orders": len(answered),
            "paid": len(ledger.paid_callbacks_acked),
            "refunds": len(ledger.refunds_approved),
            "events": len(ledger.events_accepted),
            "stuck_detail": unfinished,
            "web_recovered_after_s": ledger.web_recovered_after_s,
            "settled_after_s": ledger.settled_after_s,
            "settle_s": settle_s,
            "web_log_tracebacks_total": web_log_tracebacks,
            "samples": ledger.samples,
        }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="short traffic (make bench-quick)")
    parser.add_argument("--scenario", action="append", choices=SCENARIOS, help="run only these")
    parser.add_argument("--keep", action="store_true", help="keep the process logs")
    args = parser.parse_args()
    size = QUICK if args.quick else FULL
    drill = Drill(size, keep=args.keep)
    failed = False
    try:
        drill.start()
        ledgers: list[Ledger] = []
        for scenario in args.scenario or SCENARIOS:
            ledgers.append(drill.run_scenario(scenario))
            # the next scenario starts from a serving system
            drill.wait_for_web(60)
        settle_s = drill.settle(ledgers, size.settle_seconds)
        for name in ("web", "worker", "flusher"):
            drill.processes[name].stop()
        for ledger in ledgers:
            figures = drill.verdict(ledger, settle_s)
            emit(figures)
            # A 5xx is reported, not fatal: the one left is a load deadlock (operator guide).
            failed |= bool(figures["lost"] or figures["doubled"] or figures["stuck"])
    finally:
        drill.stop()
    if failed:
        sys.exit(1)


if __name__ == "__main__":
    main()
