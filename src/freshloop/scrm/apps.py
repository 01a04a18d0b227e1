from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES = (
    "freshloop.scrm.subscribers",  # journey triggers (carts, orders, segments), conversions, merges
    "freshloop.scrm.tasks",  # huey: the journey runner, coupon-expiry and birthday triggers
)
"""Modules imported for what they register (domain-event handlers, jobs)."""


class ScrmConfig(AppConfig):
    name = "freshloop.scrm"
    label = "scrm"
    verbose_name = "SCRM 与客户旅程"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in REGISTERING_MODULES:
            import_module(module)
