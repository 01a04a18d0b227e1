from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES: tuple[str, ...] = ()
"""Modules imported for what they register (domain-event handlers, jobs). Each feature adds
its own line below, in its own block."""


class FoodConfig(AppConfig):
    name = "freshloop.food"
    label = "food"
    verbose_name = "食品特色"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in REGISTERING_MODULES:
            import_module(module)


# --- smart subscriptions (FD-1) ---
# tasks: the daily job; subscription_subscribers: OneID merge, erasure and PIPL export;
# subscription_charging: the durable charge effect of subscriptions paid by contract.
REGISTERING_MODULES += (
    "freshloop.food.tasks",
    "freshloop.food.subscription_subscribers",
    "freshloop.food.subscription_charging",
)

# --- pantry (FD-2): OrderDelivered fills the pantry; the daily reminder job ---
REGISTERING_MODULES += ("freshloop.food.pantry_subscribers",)


# --- regional pools and seasonal calendar (FD-5, FD-6) ---
# regions registers catalog's region hook (a hidden product is not available in that province).
REGISTERING_MODULES += ("freshloop.food.regions",)
