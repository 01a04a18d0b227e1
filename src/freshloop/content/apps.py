from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES: tuple[str, ...] = ()
"""Modules imported for what they register (domain-event handlers, jobs). Each feature adds
its own line below, in its own block."""


class ContentConfig(AppConfig):
    name = "freshloop.content"
    label = "content"
    verbose_name = "内容素材库"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in REGISTERING_MODULES:
            import_module(module)
