from django.apps import AppConfig


class OrdersConfig(AppConfig):
    name = "freshloop.orders"
    label = "orders"
    verbose_name = "订单"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.orders import (
            subscribers,  # noqa: F401  (IdentityMerged, PersonErased, PIPL export)
            tasks,  # noqa: F401  (registers the huey jobs)
        )
