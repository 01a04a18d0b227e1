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

# --- group deals 拼团 (GB-3): members follow their orders; the refund effect's consumer ---
REGISTERING_MODULES += ("freshloop.groupbuy.deals.subscribers",)

# --- presale (GB-4): deposit / balance orders paid or cancelled; the deposit refund effect ---
REGISTERING_MODULES += ("freshloop.groupbuy.presale.subscribers",)

# --- commission (GB-2): paid orders attributed to leaders, refunds reverse commission ---
REGISTERING_MODULES += ("freshloop.groupbuy.commission.subscribers",)
