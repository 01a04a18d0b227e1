from django.apps import AppConfig


class CoreConfig(AppConfig):
    name = "freshloop.core"
    label = "core"
    verbose_name = "平台基础"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        # Registers the huey jobs with the worker.
        from freshloop.core import tasks  # noqa: F401

        post_migrate.connect(_sync_roles, dispatch_uid="freshloop.core.sync_roles")


def _sync_roles(sender: AppConfig, **kwargs: object) -> None:
    # Runs after every app's migrations so all permissions exist before roles get them.
    if sender.name != "freshloop.core":
        return
    from freshloop.core.permissions import roles_ensure

    roles_ensure()
