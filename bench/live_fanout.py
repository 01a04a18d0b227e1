"""Live-room fan-out over SSE: N subscribers on one uvicorn process, comments at 50/s.

One server process (uvicorn, 1 worker) serves the real application (`config.asgi`): N SSE
clients (raw asyncio streams, lighter than an HTTP library for thousands of sockets) connect to
a live session's real event stream `/api/v1/live/<code>/events`, and a bench-only endpoint
(`publish/<code>`, kept in this file) calls `realtime.publish` on the room's channel from
Django's sync worker
thread, as a service does after commit. The clients connect,
then comments are published at 50/s for a fixed time. Each comment carries the server's
publish timestamp; latency is receive time minus that (same host, same clock), measured on a
sample of subscribers (every subscriber counts what it receives). Memory per subscriber is the
server's VmRSS growth from before to after connecting all subscribers, divided by N.

Usage: python bench/live_fanout.py [--quick] [--modes memory,redis] [--sizes 1000,5000]
Keys: mode, subscribers, delivered, expected, p50_ms, p99_ms, mb_per_subscriber (one JSON line
per mode and size); plus published, dropped_clients, server_threads.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import resource
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parent))
from _common import ROOT, emit
from _http import free_port

RATE_PER_S = 50
REDIS_URL = os.environ.get("FRESHLOOP_BENCH_REDIS_URL", "redis://127.0.0.1:6379/14")
_SENT_AT = re.compile(rb'"sent_at":([0-9.]+)')


# --- the server side (imported as the URLconf inside the uvicorn process) --------------------


def _publish(request: Any, code: str) -> Any:
    from django.http import JsonResponse

    from freshloop.core import realtime
    from freshloop.live.room.selectors import room_channel

    body = json.loads(request.body)
    event = {**body, "sent_at": time.time()}
    event_id = realtime.publish(room_channel(code=code), "comment", event)
    return JsonResponse({"id": event_id})


def _count(request: Any, code: str) -> Any:
    from django.http import JsonResponse

    from freshloop.core import realtime
    from freshloop.live.room.selectors import room_channel

    return JsonResponse({"count": realtime.local_subscriber_count(room_channel(code=code))})


def _urlpatterns() -> list[Any]:
    from django.urls import path
    from django.views.decorators.csrf import csrf_exempt

    from config.urls import urlpatterns as project_urls

    return [
        path("publish/<str:code>", csrf_exempt(_publish)),
        path("count/<str:code>", _count),
        *project_urls,
    ]


def __getattr__(name: str) -> Any:
    # Built lazily so the client process never imports Django.
    if name == "urlpatterns":
        return _urlpatterns()
    raise AttributeError(name)


def _seed_session(data_dir: Path) -> None:
    """Migrate the bench database and open one live session; its code is left in a file."""
    import datetime as dt

    from django.contrib.auth.models import User
    from django.core.management import call_command

    from freshloop.core import clock
    from freshloop.core.audit import Actor
    from freshloop.live.room.services import live_session_create

    call_command("migrate", verbosity=0)
    host = User.objects.filter(username="bench-host").first() or User.objects.create_user(
        username="bench-host", is_staff=True
    )
    session = live_session_create(
        title="压测直播",
        host=host,
        scheduled_at=clock.now() + dt.timedelta(minutes=1),
        sku_ids=[],
        actor=Actor.system("bench"),
    )
    (data_dir / "session_code").write_text(session.code)


def serve(port: int) -> None:
    import django
    import uvicorn

    sys.path.insert(0, str(ROOT / "src"))
    sys.path.insert(0, str(ROOT))
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
    django.setup()
    from django.conf import settings

    _seed_session(Path(os.environ["FRESHLOOP_DATA_DIR"]))
    settings.ROOT_URLCONF = "live_fanout"
    from config.asgi import application

    uvicorn.run(
        application,
        host="127.0.0.1",
        port=port,
        log_level="warning",
        access_log=False,
        timeout_graceful_shutdown=1,
        backlog=8192,
    )


# --- the client side ---------------------------------------------------------------------------


def _raise_fd_limit() -> None:
    _soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    resource.setrlimit(resource.RLIMIT_NOFILE, (hard, hard))


def _proc_status(pid: int, field: str) -> int:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1])
    raise RuntimeError(f"{field} missing")


class _Subscriber:
    __slots__ = ("closed", "latencies", "received", "sampled")

    def __init__(self, sampled: bool) -> None:
        self.sampled = sampled
        self.received = 0
        self.closed = False
        self.latencies: list[float] = []


async def _subscribe(port: int, code: str, state: _Subscriber, ready: asyncio.Event) -> None:
    reader, writer = await asyncio.open_connection("127.0.0.1", port, limit=1 << 20)
    writer.write(
        f"GET /api/v1/live/{code}/events HTTP/1.1\r\nHost: 127.0.0.1\r\nAccept: text/event-stream\r\n\r\n".encode()
    )
    await writer.drain()
    pending = b""
    try:
        while b"retry:" not in pending:
            chunk = await reader.read(65536)
            if not chunk:
                raise ConnectionError("server closed before the stream started")
            pending += chunk
        pending = pending[pending.index(b"retry:") :]
        ready.set()
        while True:
            chunk = await reader.read(262144)
            if not chunk:
                break
            now = time.time()
            # Frames never straddle HTTP chunks (one frame batch per chunk), but a socket
            # read may end mid-chunk: count only complete frames.
            pending += chunk
            cut = pending.rfind(b"\n\n")
            if cut < 0:
                continue
            complete, pending = pending[: cut + 2], pending[cut + 2 :]
            state.received += complete.count(b"event: comment")
            if state.sampled:
                state.latencies.extend(now - float(m) for m in _SENT_AT.findall(complete))
    finally:
        state.closed = True
        writer.close()


def _publisher(base: str, code: str, seconds: float, published: list[int]) -> None:
    import httpx

    total = int(seconds * RATE_PER_S)
    started = time.perf_counter()
    with httpx.Client(base_url=base, timeout=10) as client:
        for n in range(total):
            due = started + n / RATE_PER_S
            pause = due - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            response = client.post(f"/publish/{code}", json={"text": f"第{n}条评论", "n": n})
            if response.status_code == 200:
                published[0] += 1


def _percentile(values: list[float], fraction: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(len(ordered) * fraction))]


async def _measure(
    port: int, server_pid: int, subscribers: int, seconds: float, code: str
) -> dict[str, Any]:
    import httpx

    base = f"http://127.0.0.1:{port}"
    rss_before = _proc_status(server_pid, "VmRSS")
    sample_every = max(1, subscribers // 200)
    states = [_Subscriber(sampled=index % sample_every == 0) for index in range(subscribers)]
    readies = [asyncio.Event() for _ in states]
    tasks = []
    # Connect in waves so the listen backlog never overflows.
    for start in range(0, subscribers, 250):
        wave = range(start, min(subscribers, start + 250))
        tasks += [asyncio.create_task(_subscribe(port, code, states[i], readies[i])) for i in wave]
        await asyncio.wait_for(asyncio.gather(*(readies[i].wait() for i in wave)), 60)
    async with httpx.AsyncClient(base_url=base) as client:
        connected = int((await client.get(f"/count/{code}")).json()["count"])
    await asyncio.sleep(1.0)
    rss_after = _proc_status(server_pid, "VmRSS")
    threads = _proc_status(server_pid, "Threads")

    published = [0]
    publisher = threading.Thread(target=_publisher, args=(base, code, seconds, published))
    publisher.start()
    while publisher.is_alive():
        await asyncio.sleep(0.1)
    # Let the tail of the fan-out drain.
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline:
        if sum(state.received for state in states) >= published[0] * subscribers:
            break
        await asyncio.sleep(0.1)
    closed_early = sum(state.closed for state in states)
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)

    latencies = [value for state in states for value in state.latencies]
    delivered = sum(state.received for state in states)
    return {
        "subscribers": subscribers,
        "connected": connected,
        "published": published[0],
        "delivered": delivered,
        "expected": published[0] * subscribers,
        "p50_ms": round(_percentile(latencies, 0.50) * 1000, 1),
        "p99_ms": round(_percentile(latencies, 0.99) * 1000, 1),
        "mb_per_subscriber": round((rss_after - rss_before) / 1024 / subscribers, 4),
        "server_threads": threads,
        "dropped_clients": closed_early,
    }


def _start_server(mode: str, data_dir: str) -> tuple[subprocess.Popen[bytes], int]:
    port = free_port()
    env = {
        **os.environ,
        "FRESHLOOP_ENV": "development",
        "FRESHLOOP_DATA_DIR": data_dir,
        "DATABASE_URL": f"sqlite:///{data_dir}/bench.sqlite3",
        "FRESHLOOP_LOG_LEVEL": "WARNING",
        "REDIS_URL": REDIS_URL if mode == "redis" else "",
        "PYTHONPATH": f"{Path(__file__).resolve().parent}:{ROOT / 'src'}:{ROOT}",
    }
    server = subprocess.Popen(  # noqa: S603 (our own interpreter and file)
        [sys.executable, __file__, "--serve", str(port)], cwd=ROOT, env=env
    )
    import httpx

    for _ in range(200):
        try:
            httpx.get(f"http://127.0.0.1:{port}/count/x", timeout=1)
            return server, port
        except httpx.HTTPError:
            time.sleep(0.1)
    server.kill()
    raise RuntimeError("server did not start")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--quick", action="store_true", help="200 and 500 subscribers, 3 s each")
    parser.add_argument("--modes", default="memory,redis")
    parser.add_argument("--sizes", default="")
    parser.add_argument("--seconds", type=float, default=0)
    parser.add_argument("--serve", type=int, default=0, help=argparse.SUPPRESS)
    args = parser.parse_args()
    _raise_fd_limit()
    if args.serve:
        serve(args.serve)
        return
    sizes = [200, 500] if args.quick else [1000, 2000, 5000]
    if args.sizes:
        sizes = [int(size) for size in args.sizes.split(",")]
    seconds = args.seconds or (3.0 if args.quick else 10.0)
    data_dir = tempfile.mkdtemp(prefix="freshloop-bench-fanout-")
    for mode in args.modes.split(","):
        for subscribers in sizes:
            server, port = _start_server(mode, data_dir)
            try:
                code = (Path(data_dir) / "session_code").read_text().strip()
                figures = asyncio.run(_measure(port, server.pid, subscribers, seconds, code))
            finally:
                server.terminate()
                try:
                    server.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    server.kill()
                    server.wait()
            emit({"mode": mode, **figures})


if __name__ == "__main__":
    main()
