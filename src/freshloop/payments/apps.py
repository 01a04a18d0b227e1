from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "freshloop.payments"
    label = "payments"
    verbose_name = "支付"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.payments import (  # noqa: F401  (subscriptions, export section)
            privacy,
            subscribers,
        )
