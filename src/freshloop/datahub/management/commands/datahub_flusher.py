"""Move accepted events from the write-ahead buffer into the event store, continuously, in a
process of its own.

By default each web process flushes in a background thread, which competes with the requests
it serves for the same interpreter. On a busy server run the web processes with
`FRESHLOOP_DATAHUB_AUTOFLUSH=0` and this command beside them: flushing then has a core of its
own (bench/ingest.py measures both layouts). Several flushers are safe — a file lock lets one
flush at a time — and the worker's `datahub.flush` job stays the safety net either way.
"""

from __future__ import annotations

import logging
import os
import signal
import threading
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand
from django.db import connections

from freshloop.datahub.eventstore.services import buffer_flush_all

logger = logging.getLogger(__name__)
DEFAULT_NICENESS = 10


class Command(BaseCommand):
    help = "持续把事件缓冲区写入事件库（独立进程；Web 进程可设 FRESHLOOP_DATAHUB_AUTOFLUSH=0）"

    def add_arguments(self, parser: Any) -> None:
        parser.add_argument("--once", action="store_true", help="只写入一次当前缓冲的事件后退出")
        parser.add_argument(
            "--nice",
            type=int,
            default=DEFAULT_NICENESS,
            help=f"降低本进程的调度优先级（默认 {DEFAULT_NICENESS}；0 表示不降）",
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=None,
            help="两次写入之间的秒数（默认 FRESHLOOP_DATAHUB_FLUSH_INTERVAL）",
        )

    def handle(self, *args: Any, **options: Any) -> None:
        if options["once"]:
            self.stdout.write(f"flushed {buffer_flush_all()} events")
            return
        interval = options["interval"] or float(settings.DATAHUB_FLUSH_INTERVAL_SECONDS)
        if interval <= 0:
            self.stderr.write("--interval 必须大于 0")
            raise SystemExit(2)
        if options["nice"] > 0:
            # Accepting is what a client waits for; flushing can fall behind for a few seconds
            # in a burst and catch up after. On a shared core the web process gets it first.
            os.nice(options["nice"])
        stop = threading.Event()
        for signum in (signal.SIGTERM, signal.SIGINT):
            signal.signal(signum, lambda *_: stop.set())
        self.stdout.write(f"datahub flusher: every {interval:g}s until stopped")
        while not stop.is_set():
            try:
                buffer_flush_all()
            except Exception:
                # The buffer keeps the events; the next round tries again.
                logger.exception("event flush failed")
            finally:
                connections.close_all()
            stop.wait(interval)
