from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "freshloop.messaging"
    label = "messaging"
    verbose_name = "消息"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.core.outbox import register_sender
        from freshloop.messaging.providers import AlertChannelSender, SmsChannelSender

        register_sender(SmsChannelSender.channel, SmsChannelSender())
        register_sender(AlertChannelSender.channel, AlertChannelSender())
