from django.apps import AppConfig


class CatalogConfig(AppConfig):
    name = "freshloop.catalog"
    label = "catalog"
    verbose_name = "商品"
    default_auto_field = "django.db.models.BigAutoField"
