from typing import Any

from django.apps import AppConfig


class MembershipConfig(AppConfig):
    name = "freshloop.membership"
    label = "membership"
    verbose_name = "会员"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        from django.db.models.signals import post_migrate

        from freshloop.identity.services import register_export_section
        from freshloop.membership import subscribers  # noqa: F401  (IdentityMerged)
        from freshloop.membership.selectors import membership_export_section

        register_export_section("membership", membership_export_section)
        post_migrate.connect(
            _ensure_levels, sender=self, dispatch_uid="freshloop.membership.ensure_levels"
        )


def _ensure_levels(sender: AppConfig, using: str = "default", **kwargs: Any) -> None:
    """Default levels exist after every migrate (and after test flushes, which re-emit it)."""
    from django.db import connections

    from freshloop.membership.models import MemberLevel
    from freshloop.membership.services import membership_levels_ensure

    if MemberLevel._meta.db_table not in connections[using].introspection.table_names():
        return  # migrated backwards past the table
    membership_levels_ensure()
