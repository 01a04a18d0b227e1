"""ASGI entry point: Django, with the live room's event streams dispatched before it (they must
not hold a thread each — see freshloop/live/asgi_events.py)."""

import os
from typing import Any

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from freshloop.live.asgi_events import live_events, match  # noqa: E402 (needs Django set up)


async def application(scope: dict[str, Any], receive: Any, send: Any) -> None:
    code = match(scope)
    if code is not None:
        await live_events(scope, receive, send, code=code)
        return
    await django_application(scope, receive, send)
