from django.apps import AppConfig


class PromotionsConfig(AppConfig):
    name = "freshloop.promotions"
    label = "promotions"
    verbose_name = "促销"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.promotions import (
            subscribers,  # noqa: F401  (IdentityMerged, PIPL export)
            tasks,  # noqa: F401  (registers the huey jobs)
        )
