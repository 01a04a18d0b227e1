from django.apps import AppConfig


class MessagingConfig(AppConfig):
    name = "freshloop.messaging"
    label = "messaging"
    verbose_name = "消息"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.core.outbox import register_sender
        from freshloop.messaging import (
            subscribers,  # noqa: F401  (IdentityMerged, PersonErased, PIPL export)
            tasks,  # noqa: F401  (registers the huey jobs)
        )
        from freshloop.messaging.alerts import AlertChannelSender
        from freshloop.messaging.inbox import InAppSender
        from freshloop.messaging.providers import SmsChannelSender
        from freshloop.messaging.services import PolicyRecordingSender
        from freshloop.messaging.wecom.sender import WECOM_CHANNEL, WecomChannelSender

        # Texts the marketing policy queued are marked sent once the provider takes them.
        register_sender(SmsChannelSender.channel, PolicyRecordingSender(SmsChannelSender()))
        register_sender(AlertChannelSender.channel, AlertChannelSender())
        register_sender(WECOM_CHANNEL, PolicyRecordingSender(WecomChannelSender()))
        register_sender(InAppSender.channel, PolicyRecordingSender(InAppSender()))
