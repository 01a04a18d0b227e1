from django.apps import AppConfig


class IdentityConfig(AppConfig):
    name = "freshloop.identity"
    label = "identity"
    verbose_name = "用户身份(OneID)"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from freshloop.identity import tasks  # noqa: F401  (registers the huey jobs)
