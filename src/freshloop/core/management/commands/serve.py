"""Serve the project with uvicorn, trusting forwarded headers exactly as the application does.

`scripts/run_demo.sh` (and so `make demo` / `make smoke`) starts the server through this command
so the server and `core.net.client_ip` read one setting, `FRESHLOOP_TRUSTED_PROXIES`.
"""

from __future__ import annotations

from typing import Any

from django.conf import settings
from django.core.management.base import BaseCommand, CommandParser

from freshloop.core.net import server_proxy_options


def serve_options(*, host: str, port: int, workers: int = 1) -> dict[str, Any]:
    """uvicorn.run keyword arguments for the project's ASGI application."""
    return {
        "host": host,
        "port": port,
        "workers": workers,
        "access_log": False,
        **server_proxy_options(settings.FRESHLOOP.trusted_proxies),
    }


class Command(BaseCommand):
    help = "Start the ASGI server (uvicorn) with the proxy trust of FRESHLOOP_TRUSTED_PROXIES."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("--host", default="127.0.0.1")
        parser.add_argument("--port", type=int, default=8000)
        parser.add_argument("--workers", type=int, default=1)

    def handle(self, *args: Any, host: str, port: int, workers: int, **options: Any) -> None:
        import uvicorn

        uvicorn.run(
            "config.asgi:application", **serve_options(host=host, port=port, workers=workers)
        )
