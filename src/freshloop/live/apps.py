from django.apps import AppConfig


class LiveConfig(AppConfig):
    name = "freshloop.live"
    label = "live"
    verbose_name = "直播"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.live import (
            flash_sale,  # noqa: F401  (claims follow orders paid/cancelled and OneID merges)
            services,  # noqa: F401  (IdentityMerged: viewers follow the merge)
            subscribers,  # noqa: F401  (orders placed and paid in the room)
            tasks,  # noqa: F401  (registers the huey jobs)
        )
