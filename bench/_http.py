"""What every HTTP benchmark shares: the server as `manage.py serve` runs it, the ratio bases
(a bare Django project written to a temporary folder, served the same way in the same run),
and the load generator (wrk, driven by bench/wrk/requests.lua).

Why wrk: a Python client on the same two cores cannot drive thousands of requests a second, so
a ratio measured with it says more about the client than the server. Latency is each request's
own, from its send to its answer, as wrk records it.

The bare project has no middleware, no sessions and no ORM models: `/ping` answers a JSON
object (the base for pages and no-database endpoints), `/order` is a **minimal order
transaction** (the floor any real checkout sits on): three conditional stock decrements in key
order, one price read, an order row, its lines in one insert, an audit row and an outbox row.
It talks to its database through `config.database.database_settings`, as FreshLoop does.
"""

from __future__ import annotations

import contextlib
import json
import os
import resource
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

from _common import ROOT

WRK_SCRIPT = ROOT / "bench" / "wrk" / "requests.lua"
WRK_THREADS = 2

BARE_PROJECT = '''
"""A bare Django project: the ratio base of FreshLoop's HTTP benchmarks (bench/_http.py)."""
import datetime
import json
import os
import sys
from pathlib import Path

from django.conf import settings

sys.path.insert(0, __ROOT__)
from config.database import database_settings  # noqa: E402

if not settings.configured:
    settings.configure(
        DEBUG=False,
        SECRET_KEY="bare",
        ROOT_URLCONF=__name__,
        ALLOWED_HOSTS=["*"],
        MIDDLEWARE=[],
        INSTALLED_APPS=[],
        USE_TZ=True,
        DATABASES={
            "default": database_settings(
                os.environ["DATABASE_URL"],
                data_dir=Path(os.environ["FRESHLOOP_DATA_DIR"]),
                pool_max=int(os.environ.get("FRESHLOOP_DB_POOL_MAX", "12")),
            )
        },
    )
import django  # noqa: E402

django.setup()

from a2wsgi import WSGIMiddleware  # noqa: E402
from django.core.wsgi import get_wsgi_application  # noqa: E402
from django.db import connection, transaction  # noqa: E402
from django.http import JsonResponse  # noqa: E402
from django.urls import path  # noqa: E402

TABLES = [
    "CREATE TABLE bare_stock (sku_id INTEGER PRIMARY KEY, available INTEGER NOT NULL)",
    "CREATE TABLE bare_price (sku_id INTEGER PRIMARY KEY, price_fen INTEGER NOT NULL)",
    "CREATE TABLE bare_order (id {serial} PRIMARY KEY, order_no VARCHAR(40) UNIQUE NOT NULL, "
    "buyer VARCHAR(64) NOT NULL, total_fen INTEGER NOT NULL, created_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE bare_order_line (id {serial} PRIMARY KEY, order_id INTEGER NOT NULL, "
    "sku_id INTEGER NOT NULL, quantity INTEGER NOT NULL, price_fen INTEGER NOT NULL)",
    "CREATE TABLE bare_audit (id {serial} PRIMARY KEY, action VARCHAR(40) NOT NULL, "
    "target VARCHAR(40) NOT NULL, created_at VARCHAR(40) NOT NULL)",
    "CREATE TABLE bare_outbox (id {serial} PRIMARY KEY, topic VARCHAR(40) NOT NULL, "
    "payload TEXT NOT NULL, created_at VARCHAR(40) NOT NULL)",
]


def create_tables(sku_ids, stock, price_fen):
    serial = "INTEGER" if connection.vendor == "sqlite" else "BIGSERIAL"
    with transaction.atomic(), connection.cursor() as cursor:
        for name in ("stock", "price", "order", "order_line", "audit", "outbox"):
            cursor.execute(f"DROP TABLE IF EXISTS bare_{name}")
        for statement in TABLES:
            cursor.execute(statement.format(serial=serial))
        cursor.executemany(
            "INSERT INTO bare_stock (sku_id, available) VALUES (%s, %s)",
            [(sku_id, stock) for sku_id in sku_ids],
        )
        cursor.executemany(
            "INSERT INTO bare_price (sku_id, price_fen) VALUES (%s, %s)",
            [(sku_id, price_fen) for sku_id in sku_ids],
        )


def ping(request):
    return JsonResponse({"status": "ok"})


def order(request):
    items = sorted(json.loads(request.body)["items"], key=lambda item: item["sku_id"])
    buyer = request.headers.get("Idempotency-Key", "")
    now = datetime.datetime.now(datetime.timezone.utc).isoformat()
    with transaction.atomic(), connection.cursor() as cursor:
        for item in items:
            cursor.execute(
                "UPDATE bare_stock SET available = available - %s "
                "WHERE sku_id = %s AND available >= %s",
                [item["quantity"], item["sku_id"], item["quantity"]],
            )
            if cursor.rowcount != 1:
                transaction.set_rollback(True)
                return JsonResponse({"code": "out_of_stock"}, status=409)
        marks = ", ".join(["%s"] * len(items))
        cursor.execute(
            f"SELECT sku_id, price_fen FROM bare_price WHERE sku_id IN ({marks})",
            [item["sku_id"] for item in items],
        )
        prices = dict(cursor.fetchall())
        total = sum(prices[item["sku_id"]] * item["quantity"] for item in items)
        cursor.execute(
            "INSERT INTO bare_order (order_no, buyer, total_fen, created_at) "
            "VALUES (%s, %s, %s, %s) RETURNING id",
            [buyer, buyer, total, now],
        )
        order_id = cursor.fetchone()[0]
        cursor.execute(
            "INSERT INTO bare_order_line (order_id, sku_id, quantity, price_fen) VALUES "
            + ", ".join(["(%s, %s, %s, %s)"] * len(items)),
            [
                value
                for item in items
                for value in (order_id, item["sku_id"], item["quantity"], prices[item["sku_id"]])
            ],
        )
        cursor.execute(
            "INSERT INTO bare_audit (action, target, created_at) VALUES (%s, %s, %s)",
            ["order.create", str(order_id), now],
        )
        cursor.execute(
            "INSERT INTO bare_outbox (topic, payload, created_at) VALUES (%s, %s, %s)",
            ["order.created", json.dumps({"order_id": order_id, "total_fen": total}), now],
        )
    return JsonResponse({"order_id": order_id, "total_fen": total}, status=201)


urlpatterns = [path("ping", ping), path("order", order)]
application = WSGIMiddleware(
    get_wsgi_application(), workers=int(os.environ.get("FRESHLOOP_WEB_THREADS", "3"))
)
'''


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def server_command(app: str, port: int, workers: int) -> list[str]:
    """The server as `manage.py serve` starts it (uvicorn, `workers` processes on one port, the
    same options); every HTTP bench serves FreshLoop and the bare project with this command."""
    return [
        sys.executable,
        "-m",
        "uvicorn",
        app,
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--workers",
        str(workers),
        "--no-access-log",
        "--log-level",
        "warning",
        "--timeout-keep-alive",
        "5",
        "--backlog",
        "4096",
    ]


@contextlib.contextmanager
def serving(
    app: str, *, env: dict[str, str], cwd: Path, workers: int, ready_path: str
) -> Iterator[str]:
    """Start the server, wait until `ready_path` answers, yield its base URL, stop it."""
    import httpx

    port = free_port()
    server = subprocess.Popen(server_command(app, port, workers), cwd=cwd, env=env)  # noqa: S603
    SERVER_PIDS.add(server.pid)
    base = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            if server.poll() is not None:
                raise SystemExit(f"the server for {app} exited with {server.returncode}")
            try:
                if httpx.get(base + ready_path, timeout=2).status_code < 500:
                    break
            except httpx.HTTPError:
                pass
            time.sleep(0.1)
        else:
            raise SystemExit(f"the server for {app} never answered {ready_path}")
        yield base
    finally:
        SERVER_PIDS.discard(server.pid)
        server.terminate()
        try:
            server.wait(timeout=15)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()


@dataclass(frozen=True)
class BareProject:
    folder: Path
    env: dict[str, str]

    @classmethod
    def write(cls, env: dict[str, str]) -> BareProject:
        """The bare project in a new temporary folder, for the database in `env`."""
        folder = Path(tempfile.mkdtemp(prefix="freshloop-bench-bare-"))
        (folder / "bare.py").write_text(
            BARE_PROJECT.replace("__ROOT__", repr(str(ROOT))), encoding="utf-8"
        )
        return cls(folder, {**env, "PYTHONPATH": str(folder)})

    def create_tables(self, sku_ids: Sequence[int], stock: int, price_fen: int = 990) -> None:
        code = (
            "import bare; bare.create_tables("
            f"{list(sku_ids)!r}, {stock}, {price_fen}); "
            "from django.db import connections; connections.close_all()"
        )
        subprocess.run(  # noqa: S603
            [sys.executable, "-c", code], cwd=self.folder, env=self.env, check=True
        )

    def serving(self, workers: int) -> contextlib.AbstractContextManager[str]:
        return serving(
            "bare:application", env=self.env, cwd=self.folder, workers=workers, ready_path="/ping"
        )


@dataclass(frozen=True)
class WrkResult:
    requests: int
    seconds: float
    p50_ms: float
    p99_ms: float
    max_ms: float
    socket_errors: int
    timeouts: int
    statuses: dict[int, int]
    # CPU seconds spent during the run, by kind of process (see `cpu_seconds_by_kind`).
    cpu_seconds: dict[str, float]

    @property
    def rps(self) -> float:
        return self.requests / self.seconds if self.seconds else 0.0

    def count(self, *statuses: int) -> int:
        return sum(self.statuses.get(status, 0) for status in statuses)

    def other_than(self, *statuses: int) -> int:
        """Answers with a status not in `statuses`, plus requests that never got one."""
        expected = self.count(*statuses)
        return sum(self.statuses.values()) - expected + self.socket_errors + self.timeouts

    def cpu_ms_per(self, answers: int) -> dict[str, float]:
        """CPU milliseconds per answer, by kind of process: where two cores' time went."""
        return {
            kind: round(seconds * 1000 / answers, 2) if answers else 0.0
            for kind, seconds in sorted(self.cpu_seconds.items())
        }


CLOCK_TICKS = os.sysconf("SC_CLK_TCK")


# The servers `serving` has running: their process trees are the `app` of `cpu_seconds_by_kind`.
SERVER_PIDS: set[int] = set()


def cpu_seconds_by_kind() -> dict[str, float]:
    """CPU seconds used so far by the processes a benchmark runs, by kind: `app` (the server
    `serving` started, with its workers), `postgres`, `redis`. PostgreSQL and Redis are counted
    whoever they work for, so this is only meaningful on a machine doing nothing else."""
    kinds = {"postgres": "postgres", "redis-server": "redis"}
    parents: dict[int, int] = {}
    used: dict[int, tuple[str, float]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue  # gone meanwhile
        command = stat[stat.index("(") + 1 : stat.rindex(")")]
        fields = stat.rsplit(")", 1)[1].split()
        # after the name: state, ppid, …; utime and stime are the 12th and 13th
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (command, (int(fields[11]) + int(fields[12])) / CLOCK_TICKS)

    def served(pid: int) -> bool:
        while pid > 1:
            if pid in SERVER_PIDS:
                return True
            pid = parents.get(pid, 0)
        return False

    totals: dict[str, float] = {"app": 0.0, "postgres": 0.0, "redis": 0.0}
    for pid, (command, seconds) in used.items():
        kind = "app" if served(pid) else kinds.get(command, "")
        if kind:
            totals[kind] += seconds
    return totals


@dataclass(frozen=True)
class Request:
    """One line of wrk's request file: GET when `body` is None."""

    path: str
    token: str = ""
    body: dict[str, object] | None = None

    def line(self) -> str:
        body = "" if self.body is None else json.dumps(self.body, ensure_ascii=False)
        return f"{self.path}\t{self.token}\t{body}"


def wrk(
    base: str,
    requests: Sequence[Request],
    *,
    connections: int,
    seconds: float,
    once: bool = False,
) -> WrkResult:
    """Run wrk against `base` with `connections` requests in flight: each request once (`once`,
    ending when all are answered, `seconds` is then only a limit) or round and round for
    `seconds`."""
    with tempfile.NamedTemporaryFile("w", suffix=".tsv", delete=False, encoding="utf-8") as file:
        file.write("\n".join(request.line() for request in requests) + "\n")
    command = [
        "wrk",
        f"-t{WRK_THREADS}",
        f"-c{max(connections, WRK_THREADS)}",
        f"-d{max(1, round(seconds))}s",
        "--timeout",
        "30s",
        "-s",
        str(WRK_SCRIPT),
        base,
        "--",
        file.name,
        "once" if once else "cycle",
        str(WRK_THREADS),
        uuid.uuid4().hex[:12],
    ]
    cpu_before = cpu_seconds_by_kind()
    children_before = resource.getrusage(resource.RUSAGE_CHILDREN)
    try:
        process = subprocess.Popen(  # noqa: S603
            command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
        )
        if once:
            # wrk's main thread sleeps out -d even when every thread has stopped: interrupt it
            # (SIGINT: it then reports as usual) once all threads have left their marker.
            markers = [Path(f"{file.name}.done.{thread}") for thread in range(1, WRK_THREADS + 1)]
            while process.poll() is None and not all(marker.exists() for marker in markers):
                time.sleep(0.02)
            if process.poll() is None:
                process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate()
    finally:
        for leftover in Path(file.name).parent.glob(Path(file.name).name + "*"):
            leftover.unlink()
    if os.getenv("FRESHLOOP_WRK_SHOW_ERRORS"):
        sys.stderr.write(stderr)  # the first answer of each error status (requests.lua)
    cpu_after = cpu_seconds_by_kind()
    children_after = resource.getrusage(resource.RUSAGE_CHILDREN)
    cpu = {kind: cpu_after[kind] - cpu_before.get(kind, 0.0) for kind in cpu_after}
    cpu["wrk"] = (children_after.ru_utime + children_after.ru_stime) - (
        children_before.ru_utime + children_before.ru_stime
    )
    if process.returncode != 0:
        raise SystemExit(f"wrk failed ({process.returncode}):\n{stdout}\n{stderr}")
    marked = [line for line in stdout.splitlines() if line.startswith("WRK ")]
    if not marked:
        raise SystemExit(f"wrk printed no result:\n{stdout}\n{stderr}")
    figures = json.loads(marked[-1][4:])
    return WrkResult(
        requests=figures["requests"],
        seconds=figures["duration_us"] / 1e6,
        p50_ms=round(figures["p50_us"] / 1000, 1),
        p99_ms=round(figures["p99_us"] / 1000, 1),
        max_ms=round(figures["max_us"] / 1000, 1),
        socket_errors=figures["socket_errors"],
        timeouts=figures["timeouts"],
        statuses={int(status): count for status, count in figures["statuses"].items()},
        cpu_seconds=cpu,
    )


def bare_rps(bare: BareProject, *, workers: int, connections: int, seconds: float) -> float:
    """Requests a second of the bare project's JSON view, served as FreshLoop is."""
    with bare.serving(workers) as base:
        wrk(base, [Request("/ping")], connections=connections, seconds=1)  # warm-up
        return wrk(base, [Request("/ping")], connections=connections, seconds=seconds).rps


def web_workers() -> int:
    """The processes `manage.py serve` starts by default (FRESHLOOP_WEB_WORKERS)."""
    return int(os.environ.get("FRESHLOOP_WEB_WORKERS", "") or os.cpu_count() or 1)
