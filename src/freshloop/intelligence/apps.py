from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES = ("freshloop.intelligence.tasks",)  # huey: the nightly retrain
"""Modules imported for what they register (jobs)."""


class IntelligenceConfig(AppConfig):
    name = "freshloop.intelligence"
    label = "intelligence"
    verbose_name = "智能分析"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in REGISTERING_MODULES:
            import_module(module)
