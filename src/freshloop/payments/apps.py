from django.apps import AppConfig


class PaymentsConfig(AppConfig):
    name = "freshloop.payments"
    label = "payments"
    verbose_name = "支付"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.core.outbox import register_sender
        from freshloop.core.outbox_alerts import ALERT_CHANNEL, AlertChannelSender
        from freshloop.payments import (  # noqa: F401  (subscriptions, export section, jobs)
            handlers,
            privacy,
            tasks,
        )

        # Payments is the module that raises alerts today; the sender is core's, so another
        # module that starts alerting can move this registration to core's app config.
        register_sender(ALERT_CHANNEL, AlertChannelSender())
