from importlib import import_module

from django.apps import AppConfig

REGISTERING_MODULES: tuple[str, ...] = ()
"""Modules imported for what they register (domain-event handlers, jobs). Each feature adds
its own line."""


class FulfillmentConfig(AppConfig):
    name = "freshloop.fulfillment"
    label = "fulfillment"
    verbose_name = "履约"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        for module in REGISTERING_MODULES:
            import_module(module)


# --- automated after-sales and integration: their subscribers and the webhook sender -------
REGISTERING_MODULES += (
    "freshloop.fulfillment.aftersales_subscribers",
    "freshloop.fulfillment.integration",
)

# --- allocation: OrderPaid opens a pending allocation; the batch job (tasks) solves them ------
# --- shipments & tracking: the sandbox carrier's tick, tracking subscriptions (tasks) --------
REGISTERING_MODULES += ("freshloop.fulfillment.subscribers", "freshloop.fulfillment.tasks")
