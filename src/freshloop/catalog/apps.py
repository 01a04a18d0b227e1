from typing import Any

from django.apps import AppConfig
from django.db import transaction
from django.db.models.signals import post_delete, post_save


def _catalog_changed(sender: Any, **kwargs: Any) -> None:
    from freshloop.catalog.selectors import CATALOG_FRAGMENTS
    from freshloop.core.fragments import fragment_version_bump

    transaction.on_commit(lambda: fragment_version_bump(CATALOG_FRAGMENTS))


class CatalogConfig(AppConfig):
    name = "freshloop.catalog"
    label = "catalog"
    verbose_name = "商品"
    default_auto_field = "django.db.models.BigAutoField"

    def ready(self) -> None:
        # Signals rather than calls in the services: an operator's edit in the admin changes
        # the catalog too, and the shop must show it at once.
        for model in self.get_models():
            post_save.connect(_catalog_changed, sender=model, dispatch_uid=f"fragments-{model}")
            post_delete.connect(
                _catalog_changed, sender=model, dispatch_uid=f"fragments-del-{model}"
            )
