"""ASGI entry point — the one server layout for `make demo` and production
(docs/decisions/0007-server-layout.md):

- the registered event streams (the live room's) are served on the event loop, ahead of Django:
  an open stream holds no thread (see freshloop/core/realtime/sse.py);
- every other request goes to Django's WSGI handler on a pool of threads (a2wsgi). Sync Django
  under Django's ASGI handler pays a thread hop and runs every sync view on one shared thread,
  so requests queue; as WSGI on threads it serves several times more (docs/operations.md).

`manage.py serve` starts several processes of this application on one port (uvicorn workers).
"""

import os

from a2wsgi import WSGIMiddleware
from django.conf import settings
from django.core.wsgi import get_wsgi_application

os.environ.setdefault("DJANGO_SETTINGS_MODULE", "config.settings")
django_application = get_wsgi_application()

from freshloop.core.realtime.sse import with_event_streams  # noqa: E402 (needs Django set up)

application = with_event_streams(
    WSGIMiddleware(django_application, workers=settings.FRESHLOOP.web_threads)  # type: ignore[arg-type]
)
