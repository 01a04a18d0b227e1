from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES = (
    "freshloop.live.room.subscribers",  # orders placed and paid in the room, OneID merges
    "freshloop.live.room.tasks",  # huey: live.reminders
    "freshloop.live.host.selectors",  # the object rule "a session's host" (core.permissions)
    "freshloop.live.flash_sale.subscribers",  # claims follow their orders, merges, PIPL export
    "freshloop.live.flash_sale.tasks",  # huey: live.flash_reconcile
)
"""Modules imported for what they register (domain-event handlers, jobs, rules)."""


class LiveConfig(AppConfig):
    """The live room, one Django app in sub-packages: `room` (sessions and viewers), `host` (the
    host console), `flash_sale`, and `streams` (where the video is pushed and played)."""

    name = "freshloop.live"
    label = "live"
    verbose_name = "直播"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.core.realtime.sse import event_stream_register
        from freshloop.live.room.views import ROOM_EVENTS

        for module in REGISTERING_MODULES:
            import_module(module)
        # The room's event stream is served ahead of Django under ASGI (config/asgi.py).
        event_stream_register(ROOM_EVENTS)
