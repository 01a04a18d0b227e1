"""Serve the project: several uvicorn processes on one port, each streaming the live events on
its event loop and answering every other request as WSGI on a pool of threads (config/asgi.py,
docs/decisions/0007-server-layout.md).

`scripts/run_demo.sh` (and so `make demo` / `make smoke`) starts the server through this command,
so the demo runs the production layout. The server and `core.net.client_ip` read one setting for
forwarded headers, `FRESHLOOP_TRUSTED_PROXIES`.
"""

from __future__ import annotations

import logging
from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from freshloop.core.net import server_proxy_options

logger = logging.getLogger(__name__)


def serve_workers(requested: int | None) -> int:
    """How many processes to start: as asked (default `FRESHLOOP_WEB_WORKERS`), but one where no
    Redis is configured — live events published in one process reach the viewers of another
    only through Redis, so several processes without it would lose pushes."""
    workers = requested or settings.FRESHLOOP.web_workers
    if workers > 1 and not settings.FRESHLOOP.redis_url:
        logger.warning(
            "serve: REDIS_URL is not set, so one process instead of %s "
            "(real-time events cross processes through Redis)",
            workers,
        )
        return 1
    return workers


def serve_options(*, host: str, port: int, workers: int = 1) -> dict[str, Any]:
    """uvicorn.run keyword arguments for the project's ASGI application."""
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "access_log": False,
        # A viewer's event stream stays open; a keep-alive client between two requests should
        # not hold a slot long.
        "timeout_keep_alive": 5,
        **server_proxy_options(settings.FRESHLOOP.trusted_proxies),
    }


class Command(BaseCommand):
    help = (
        "Start the web server: FRESHLOOP_WEB_WORKERS processes on one port, plain requests on "
        "FRESHLOOP_WEB_THREADS threads each, event streams on the event loop."
    )

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument(
            "--workers", type=int, default=None, help="processes (default FRESHLOOP_WEB_WORKERS)"
        )

    def handle(self, *args: Any, host: str, port: int, workers: int | None, **options: Any) -> None:
        import uvicorn

        uvicorn.run(
            "config.asgi:application",
            **serve_options(host=host, port=port, workers=serve_workers(workers)),
        )
