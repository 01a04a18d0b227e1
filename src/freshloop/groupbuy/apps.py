from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES: tuple[str, ...] = ()
"""Modules imported for what they register (domain-event handlers, export sections). Each
feature adds its own line below, in its own block."""


class GroupbuyConfig(AppConfig):
    name = "freshloop.groupbuy"
    label = "groupbuy"
    verbose_name = "社区团购"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in REGISTERING_MODULES:
            import_module(module)


# --- group leaders (GB-1): OneID merge, erasure and the PIPL export section ---
REGISTERING_MODULES += ("freshloop.groupbuy.subscribers",)
