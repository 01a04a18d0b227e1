"""ASGI entry point: Django, with the registered event streams (the live room's) served before
it — they must not hold a thread each (see freshloop/core/realtime/sse.py)."""

import os

from django.core.asgi import get_asgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_asgi_application()

from freshloop.core.realtime.sse import with_event_streams  # noqa: E402 (needs Django set up)

application = with_event_streams(django_application)
